#!/usr/bin/env bash
# Throughput benchmark, one command: builds release, measures the raw CPU signature-verification
# rate, starts a fresh dev node, runs loadgen against it, and prints committed TPS, latency
# percentiles, the ratio committed TPS / raw verification rate (same machine, same run), where the
# node's time went per stage, and the node's memory over the run.
#
#   scripts/bench.sh                        # 60 s at 30,000 tx/s offered, open loop
#   RATE=60000 DURATION=60 scripts/bench.sh # overload: offer about twice the capacity
#   MODE=closed WINDOW=20000 scripts/bench.sh
#   NODE_CONFIG=tuned.toml scripts/bench.sh   # the dev node with settings from a config file
#   RATE=100000 RECOVERY_RATE=25000 scripts/bench.sh  # overload, then 20 s at a normal load on the
#                                                     # same node, to show it recovers at once
#   WORKLOAD=asset scripts/bench.sh         # transfers of an issued asset (or mixed) instead of native
#   WORKLOAD=ruled scripts/bench.sh         # an asset with two KYC rules, every holder credentialed
#   WORKLOAD=payments [REFERENCES=all|uetr|none] scripts/bench.sh  # payments with ISO 20022 references
#   WORKLOAD=batch [BATCH_OUTPUTS=16] scripts/bench.sh             # batch payments (outputs/s)
#   WORKLOAD=orders [REQUOTE=same-side|alternate] scripts/bench.sh  # DEX order flow (orders/s)
#   BIN=/path/to/old/release SKIP_BUILD=1 scripts/bench.sh  # another build's binaries (A/B)
#
# Everything runs on this machine, loadgen included (its CPU use is reported). Results go to
# $OUT_DIR (default: a temporary directory, printed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${RATE:-30000}
DURATION=${DURATION:-60}
ACCOUNTS=${ACCOUNTS:-2000}
MODE=${MODE:-open}
WINDOW=${WINDOW:-20000}
SIG_COUNT=${SIG_COUNT:-131072}
RECOVERY_RATE=${RECOVERY_RATE:-}
WORKLOAD=${WORKLOAD:-native}
NODE_CONFIG=${NODE_CONFIG:-}
RECOVERY_DURATION=${RECOVERY_DURATION:-20}
OUT_DIR=${OUT_DIR:-$(mktemp -d -t mamey-bench-XXXXXX)}
mkdir -p "$OUT_DIR"

say() { printf '==> %s\n' "$*" >&2; }

if [ -z "${SKIP_BUILD:-}" ]; then
  say "building release binaries"
  cargo build --release --locked -p mameynode -p loadgen >&2
fi
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release}

say "raw CPU signature verification ($SIG_COUNT signatures, batches of 1024)"
"$BIN/mameynode" bench sigverify --backend cpu --count "$SIG_COUNT" | tee "$OUT_DIR/sigverify.json" >&2

DATA="$OUT_DIR/node"
rm -rf "$DATA"
say "starting a fresh dev node in $DATA"
"$BIN/mameynode" run --dev --data-dir "$DATA" --rpc-listen 127.0.0.1:0 --quic-listen 127.0.0.1:0 \
  ${NODE_CONFIG:+--config "$NODE_CONFIG"} 2>"$OUT_DIR/node.log" &
NODE=$!
SAMPLER=""
cleanup() {
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null || true
  kill -TERM "$NODE" 2>/dev/null || true
  wait "$NODE" 2>/dev/null || true
}
trap cleanup EXIT
# (A GPU backend compiles its shaders and runs its self-test first: up to minutes on a software
# adapter.)
for _ in $(seq "${START_WAIT_TENTHS:-1200}"); do
  [ -s "$DATA/endpoints.json" ] && break
  kill -0 "$NODE" 2>/dev/null || { say "the node exited:"; tail -5 "$OUT_DIR/node.log" >&2; exit 1; }
  sleep 0.1
done
RPC="http://$(sed -E 's/.*"rpc":"([^"]+)".*/\1/' "$DATA/endpoints.json")"
# The pipeline statistics need the admin role: an admin key for this node, which it picks up
# within a second (builds from before access control have no `access` command and need none).
if "$BIN/mameynode" access --help >/dev/null 2>&1; then
  MAMEY_API_KEY=$("$BIN/mameynode" access key new --data-dir "$DATA" --role admin --name bench 2>/dev/null)
  export MAMEY_API_KEY
  sleep 1.2
fi

# Node memory every 2 s: anonymous (heap: what must stay flat under overload) and file-backed
# (LMDB's mapped pages, which grow with the database) resident sizes, in KiB.
( while kill -0 "$NODE" 2>/dev/null; do
    awk -v t="$(date +%s)" '/RssAnon/ {a=$2} /RssFile/ {f=$2} END {print t, a, f}' \
      "/proc/$NODE/status" 2>/dev/null || true
    sleep 2
  done ) >"$OUT_DIR/rss.txt" &
SAMPLER=$!

"$BIN/mameynode" stats --rpc "$RPC" >"$OUT_DIR/stats-before.json"
say "loadgen: $WORKLOAD workload, $MODE loop, $RATE tx/s offered for $DURATION s, $ACCOUNTS accounts"
# (--workload only when not native, so that builds from before it can be measured too.)
"$BIN/loadgen" --rpc "$RPC" --faucet-key "$DATA/dev/faucet.key" --accounts "$ACCOUNTS" \
  --rate "$RATE" --duration "$DURATION" --mode "$MODE" --window "$WINDOW" \
  ${WORKLOAD:+$([ "$WORKLOAD" = native ] || echo --workload "$WORKLOAD")} \
  ${REFERENCES:+--references "$REFERENCES"} ${BATCH_OUTPUTS:+--batch-outputs "$BATCH_OUTPUTS"} \
  ${REQUOTE:+--requote "$REQUOTE"} \
  --out "$OUT_DIR/loadgen.json" >/dev/null
"$BIN/mameynode" stats --rpc "$RPC" >"$OUT_DIR/stats-after.json"
if [ -n "$RECOVERY_RATE" ]; then
  say "recovery: $RECOVERY_RATE tx/s for $RECOVERY_DURATION s on the same node"
  "$BIN/loadgen" --rpc "$RPC" --faucet-key "$DATA/dev/faucet.key" --accounts "$ACCOUNTS" \
    --rate "$RECOVERY_RATE" --duration "$RECOVERY_DURATION" --out "$OUT_DIR/recovery.json" >/dev/null
fi

python3 - "$OUT_DIR" "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" <<'PY'
import json, sys, os
out, cores, cpu = sys.argv[1], sys.argv[2], sys.argv[3]
sv = json.load(open(os.path.join(out, "sigverify.json")))
lg = json.load(open(os.path.join(out, "loadgen.json")))
a = json.load(open(os.path.join(out, "stats-after.json")))
b = json.load(open(os.path.join(out, "stats-before.json")))
raw = sv["sigs_per_sec"]
print()
print(f"machine: {cpu}, {cores} cores (loadgen on the same machine)")
print(f"raw CPU verification : {raw:,.0f} signatures/s ({sv['adapter']})")
print(f"offered              : {lg['offered_tps']:,.0f} tx/s ({lg['mode']} loop, target {lg['target_tps']:,})")
print(f"committed            : {lg['committed_tps']:,.0f} tx/s sustained over {lg['duration_s']:.0f} s")
print(f"committed / raw      : {lg['committed_tps'] / raw:.2f}")
print(f"sent {lg['sent']:,}  committed {lg['committed']:,}  rejected {lg['rejected']:,}  dropped {lg['dropped']:,}"
      f"  ({100.0 * (lg['rejected'] + lg['dropped']) / max(lg['sent'], 1):.3f}% not committed)")
print(f"busy answers (retried): {lg['busy_answers']:,}; failed streams resent: {lg['stream_failures']:,}")
if lg["rejected_by_code"]:
    print(f"rejected by code     : {lg['rejected_by_code']}")
l = lg["latency_ms"]
print(f"latency ms (submit→commit): p50 {l['p50']:.0f}  p90 {l['p90']:.0f}  p99 {l['p99']:.0f}  p99.9 {l['p999']:.0f}  max {l['max']:.0f}")
print(f"loadgen CPU          : {lg['loadgen_cpu_percent']:.0f}% of one core")
wall = lg["duration_s"]
print("\nnode time per stage during the run (busy time; share of one core over the whole run):")
print(f"  {'stage':<10} {'items':>10} {'refused':>8} {'busy s':>8} {'µs/item':>8} {'core %':>7}")
for st in ["ingest", "sigverify", "mempool", "select", "execute", "commit", "notify"]:
    items = a[st]["items"] - b[st]["items"]
    busy = (a[st]["busy_us"] - b[st]["busy_us"]) / 1e6
    refused = a[st]["refused"] - b[st]["refused"]
    per = busy * 1e6 / items if items else 0.0
    print(f"  {st:<10} {items:>10,} {refused:>8,} {busy:>8.2f} {per:>8.1f} {100 * busy / wall:>6.0f}%")
print(f"  busy refusals: {a['busy_refusals'] - b['busy_refusals']:,}")
rows = [l.split() for l in open(os.path.join(out, "rss.txt")) if len(l.split()) == 3]
if rows:
    anon = [int(r[1]) / 1024 for r in rows]
    mapped = [int(r[2]) / 1024 for r in rows]
    print(f"\nnode memory, anonymous (heap): min {min(anon):.0f} MiB, max {max(anon):.0f} MiB, "
          f"last {anon[-1]:.0f} MiB; file-backed (LMDB map): last {mapped[-1]:.0f} MiB ({len(rows)} samples)")
rec = os.path.join(out, "recovery.json")
if os.path.exists(rec):
    r = json.load(open(rec))
    rl = r["latency_ms"]
    print(f"\nrecovery run: offered {r['offered_tps']:,.0f} tx/s, committed {r['committed_tps']:,.0f} tx/s, "
          f"rejected {r['rejected']:,}, dropped {r['dropped']:,}, busy answers {r['busy_answers']:,}; "
          f"latency ms p50 {rl['p50']:.0f} p99 {rl['p99']:.0f} max {rl['max']:.0f}")
print(f"\nraw results in {out}")
PY
