#!/usr/bin/env bash
# Writes valid seed inputs for every fuzz target into fuzz/corpus/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
cargo run --quiet --example seed_corpus -- corpus
