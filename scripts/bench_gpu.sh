#!/usr/bin/env bash
# GPU verifier figures, one command (run it on a machine with a GPU and a Vulkan driver):
#   1. the raw rate of each backend: the CPU batch verifier on every core, then the GPU verifier by
#      batch size, each with its three figures: end to end (host SHA-512 packing + device round
#      trip, what the node sees), the device round trip alone (upload, kernel, readback) and the
#      kernel alone (timestamp queries on the device's clock, one dispatch);
#   2. the dispatch size at the largest batch;
#   3. the whole node (scripts/bench.sh, closed loop) with each backend.
#
#   scripts/bench_gpu.sh                          # builds release first
#   BIN=/path/to/release SKIP_BUILD=1 scripts/bench_gpu.sh
#   BATCHES="4096 65536" DISPATCHES="" NODE_DURATION=0 scripts/bench_gpu.sh   # raw rates only
set -euo pipefail
cd "$(dirname "$0")/.."

BATCHES=${BATCHES-"1024 4096 16384 65536 262144"}
DISPATCHES=${DISPATCHES-"16384 131072 262144"}
COUNT_MIN=${COUNT_MIN:-262144}
KEYS=${KEYS:-4096}
NODE_DURATION=${NODE_DURATION:-20}
NODE_WINDOW=${NODE_WINDOW:-40000}
# Closed loop: the most pre-signed per second (a cap above what the node commits).
NODE_RATE=${NODE_RATE:-250000}
NODE_ACCOUNTS=${NODE_ACCOUNTS:-8000}
OUT_DIR=${OUT_DIR:-$(mktemp -d -t mamey-gpu-bench-XXXXXX)}
mkdir -p "$OUT_DIR"
say() { printf '==> %s\n' "$*" >&2; }

if [ -z "${SKIP_BUILD:-}" ]; then
  say "building release binaries"
  cargo build --release --locked -p mameynode -p loadgen >&2
fi
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release}

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total \
  --format=csv,noheader | sed 's/^/gpu: /' >&2 || true
say "CPU: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"

sweep() { # backend batch dispatch
  local count=$(( $2 * 4 > COUNT_MIN ? $2 * 4 : COUNT_MIN ))
  "$BIN/mameynode" bench sigverify --backend "$1" --count "$count" --batch "$2" --keys "$KEYS" \
    --dispatch "$3" | tee -a "$OUT_DIR/sigverify.jsonl"
}
say "raw rates (one JSON line per run, also in $OUT_DIR/sigverify.jsonl)"
sweep cpu 4096 65536
for b in $BATCHES; do sweep gpu "$b" 65536; done
if [ -n "$BATCHES" ]; then
  last=${BATCHES##* }
  for d in $DISPATCHES; do sweep gpu "$last" "$d"; done
fi

if [ "$NODE_DURATION" != 0 ]; then
  for backend in cpu gpu; do
    printf '[sigverify]\nbackend = "%s"\n' "$backend" >"$OUT_DIR/$backend.toml"
    say "whole node, sigverify backend $backend, closed loop for $NODE_DURATION s"
    RATE="$NODE_RATE" MODE=closed WINDOW="$NODE_WINDOW" DURATION="$NODE_DURATION" ACCOUNTS="$NODE_ACCOUNTS" \
      SKIP_BUILD=1 BIN="$BIN" NODE_CONFIG="$OUT_DIR/$backend.toml" OUT_DIR="$OUT_DIR/node-$backend" \
      scripts/bench.sh 2>"$OUT_DIR/node-$backend.log" || { tail -20 "$OUT_DIR/node-$backend.log"; exit 1; }
    rm -rf "$OUT_DIR/node-$backend/node"
  done
fi
say "results in $OUT_DIR"
