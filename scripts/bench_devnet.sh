#!/usr/bin/env bash
# One validator down on a loaded devnet: a fresh 4-validator devnet on loopback, loadgen at 6,000
# tx/s for 30 s against node 0 with all four up, then node 3 killed (-9) and, once the proposer
# schedule has skipped it twice, the same load again. Prints committed TPS, latency percentiles
# and finalized heights per second for both runs (docs/BENCHMARKS.md, "One validator down").
#
#   scripts/bench_devnet.sh                              # builds release, ports + 700
#   BIN=/path/to/other/release SKIP_BUILD=1 PORT_OFFSET=740 scripts/bench_devnet.sh   # A/B
#   CATCHUP_HEIGHT=400 scripts/bench_devnet.sh catchup   # instead: a follower started once the
#                                                        # chain passed that height; how fast it
#                                                        # catches up (heights/s)
set -uo pipefail
cd "$(dirname "$0")/.."

RATE=${RATE:-6000}
DURATION=${DURATION:-30}
PORT_OFFSET=${PORT_OFFSET:-700}
if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release --locked -p mameynode -p loadgen >&2 || exit 1
fi
B=${BIN:-${CARGO_TARGET_DIR:-target}/release}
D=$(mktemp -d -t mamey-devnet-bench-XXXXXX)/net
trap 'for f in "$D"/pid-*; do kill -9 "$(cat "$f")" 2>/dev/null; done' EXIT

MODE=${1:-down}
FOLLOWERS=0
[ "$MODE" = catchup ] && FOLLOWERS=1
"$B/mameynode" devnet init --validators 4 --followers "$FOLLOWERS" --out "$D" \
  --port-offset "$PORT_OFFSET" >/dev/null || exit 1
for i in 0 1 2 3; do
  "$B/mameynode" run --config "$D/node-$i/config.toml" >"$D/node-$i.log" 2>&1 &
  echo $! >"$D/pid-$i"
done
RPC="http://127.0.0.1:$((8545 + PORT_OFFSET))"
call() {
  curl -s -m 2 -X POST -H 'content-type: application/json' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":[]}" "$RPC"
}
height() { call mamey_status | sed -n 's/.*"height":\([0-9]*\).*/\1/p'; }
height_of() {
  curl -s -m 2 -X POST -H 'content-type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"mamey_status","params":[]}' \
    "http://127.0.0.1:$((8545 + PORT_OFFSET + $1))" | sed -n 's/.*"height":\([0-9]*\).*/\1/p'
}
for _ in $(seq 600); do
  h=$(height)
  [ -n "$h" ] && [ "$h" -ge 3 ] && break
  sleep 0.1
done

run() {
  local h0 t0 h1 t1
  h0=$(height)
  t0=$(date +%s.%N)
  "$B/loadgen" --rpc "$RPC" --faucet-key "$D/faucet.key" --accounts 2000 --rate "$RATE" \
    --duration "$DURATION" 2>&1 | grep -E "sustained|latency ms|committed .* over"
  h1=$(height)
  t1=$(date +%s.%N)
  python3 -c "print(f'finalized: {$h1 - $h0} heights in {$t1 - $t0:.1f} s = {($h1 - $h0) / ($t1 - $t0):.2f} blocks/s')"
}

if [ "$MODE" = catchup ]; then
  until h=$(height) && [ -n "$h" ] && [ "$h" -ge "${CATCHUP_HEIGHT:-400}" ]; do sleep 0.5; done
  "$B/mameynode" run --config "$D/node-4/config.toml" >"$D/node-4.log" 2>&1 &
  echo $! >"$D/pid-4"
  t0=$(date +%s.%N)
  target=$(height)
  until h=$(height_of 4) && [ -n "$h" ] && [ "$h" -ge "$target" ]; do sleep 0.1; done
  t1=$(date +%s.%N)
  python3 -c "print(f'follower caught up {$target} heights in {$t1 - $t0:.1f} s = {$target / ($t1 - $t0):.0f} heights/s')"
  exit 0
fi

echo "== 4 validators up"
run
kill -9 "$(cat "$D/pid-3")"
for _ in $(seq 600); do
  missed=$(call mamey_getValidators | python3 -c \
    "import json,sys; print(max(v.get('missed_proposals', 0) for v in json.load(sys.stdin)['result']['validators']))")
  [ "${missed:-0}" -ge 2 ] && break
  sleep 0.5
done
echo "== 3 of 4 (node 3 killed; after its second missed turn)"
run
