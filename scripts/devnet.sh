#!/usr/bin/env bash
# A local network of N validators on this machine (see docs/ARCHITECTURE.md, "Consensus").
#
#   scripts/devnet.sh up 4 ./devnet      # create ./devnet (mameynode devnet init) if missing, start 4 nodes
#                                        # (FOLLOWERS=1 adds a follower: a full node that does not vote)
#   scripts/devnet.sh status ./devnet    # height and head hash of every node
#   scripts/devnet.sh down ./devnet      # stop every node (SIGTERM; the data stays)
#   scripts/devnet.sh kill 2 ./devnet    # kill -9 node 2 (to watch finality go on without it)
#   scripts/devnet.sh start 2 ./devnet   # start node 2 again (it catches up)
#
# Node i serves JSON-RPC on 127.0.0.1:8545+i, gRPC 50051+i, QUIC ingest 9000+2i, peers 9001+2i and
# metrics 9100+i (PORT_OFFSET, default 0, is added to all). The faucet key is DIR/faucet.key, e.g.
#   target/release/mameynode transfer --key ./devnet/faucet.key --to mamey1… --amount 5 --wait
# Logs: DIR/node-i/node.log. BUILD=debug uses a debug build instead of release.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

BUILD=${BUILD:-release}
PORT_OFFSET=${PORT_OFFSET:-0}
BIN="target/$BUILD/mameynode"

build() {
  if [ "$BUILD" = release ]; then
    cargo build --release --locked -p mameynode >&2
  else
    cargo build --locked -p mameynode >&2
  fi
}

nodes_in() { find "$1" -maxdepth 1 -type d -name 'node-*' | sort -V; }

start_node() {
  local dir=$1 i=$2 node="$1/node-$2"
  if [ -f "$node/pid" ] && kill -0 "$(cat "$node/pid")" 2>/dev/null; then
    echo "node-$i is already running (pid $(cat "$node/pid"))" >&2
    return
  fi
  nohup "$BIN" run --config "$node/config.toml" >>"$node/node.log" 2>&1 &
  echo $! >"$node/pid"
  echo "node-$i started (pid $!), log $node/node.log" >&2
}

rpc() {
  curl -s -m 2 -X POST -H 'content-type: application/json' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$2\",\"params\":[]}" "http://127.0.0.1:$1" || true
}

status() {
  local dir=$1
  for node in $(nodes_in "$dir"); do
    local i=${node##*-}
    local port=$((8545 + i + PORT_OFFSET))
    local s
    s=$(rpc "$port" mamey_status)
    if [ -z "$s" ]; then
      echo "node-$i  127.0.0.1:$port  down"
    else
      local h hash
      h=$(echo "$s" | sed -n 's/.*"height":\([0-9]*\).*/\1/p')
      hash=$(echo "$s" | sed -n 's/.*"head_hash":"\([0-9a-f]*\)".*/\1/p')
      echo "node-$i  127.0.0.1:$port  height $h  head ${hash:0:16}"
    fi
  done
}

cmd=${1:-}
case "$cmd" in
  up)
    [ $# -eq 3 ] || usage
    n=$2 dir=$3
    build
    if [ ! -d "$dir" ]; then
      "$BIN" devnet init --validators "$n" --followers "${FOLLOWERS:-0}" --out "$dir" \
        --port-offset "$PORT_OFFSET" >/dev/null
      echo "created $dir ($n validators, ${FOLLOWERS:-0} followers; faucet key $dir/faucet.key)" >&2
    fi
    for node in $(nodes_in "$dir"); do start_node "$dir" "${node##*-}"; done
    sleep 3
    status "$dir"
    ;;
  down)
    [ $# -eq 2 ] || usage
    dir=$2
    pids=()
    for node in $(nodes_in "$dir"); do
      if [ -f "$node/pid" ]; then
        pid=$(cat "$node/pid")
        kill "$pid" 2>/dev/null && pids+=("$pid")
        rm -f "$node/pid"
      fi
    done
    # Wait until they are gone (their ports are free again), at most 15 s.
    for _ in $(seq 150); do
      alive=0
      for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      [ "$alive" = 0 ] && break
      sleep 0.1
    done
    echo "stopped" >&2
    ;;
  kill)
    [ $# -eq 3 ] || usage
    node="$3/node-$2"
    kill -9 "$(cat "$node/pid")" && rm -f "$node/pid"
    ;;
  start)
    [ $# -eq 3 ] || usage
    start_node "$3" "$2"
    ;;
  status)
    [ $# -eq 2 ] || usage
    status "$2"
    ;;
  *) usage ;;
esac
