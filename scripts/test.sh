#!/usr/bin/env bash
# Runs MameyNode's whole test suite: formatting, lints, and every test (unit, property, ZIP-215
# conformance, codec properties, and end-to-end tests that start real node processes on 127.0.0.1).
#
#   scripts/test.sh            # everything
#   SKIP_LINT=1 scripts/test.sh  # tests only (for quick local iterations)
#
# Nothing needs installing beyond a Rust toolchain (LMDB is built from source by lmdb-rkv-sys; a C
# compiler is required). Dependencies are compiled with optimisations even in test builds (see
# Cargo.toml), so the cryptographic tests run at close to release speed.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

if ! command -v cc >/dev/null 2>&1; then
  step "installing a C compiler (needed to build LMDB)"
  if command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq build-essential
  else
    echo "error: no C compiler (cc) found; install gcc or clang" >&2
    exit 1
  fi
fi

if [ -z "${SKIP_LINT:-}" ]; then
  step "cargo fmt --check"
  cargo fmt --all -- --check
  step "cargo clippy --all-targets -D warnings"
  cargo clippy --workspace --all-targets --locked -- -D warnings
fi

step "cargo test"
cargo test --workspace --locked
