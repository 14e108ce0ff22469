#!/usr/bin/env bash
# Runs MameyNode's whole test suite: formatting, lints, and every test (unit, property, ZIP-215
# conformance, codec properties, and end-to-end tests that start real node processes on 127.0.0.1).
#
#   scripts/test.sh            # everything
#   SKIP_LINT=1 scripts/test.sh  # tests only (for quick local iterations)
#
# Nothing needs installing beyond a Rust toolchain (LMDB is built from source by lmdb-rkv-sys; a C
# compiler is required); what the tests need beyond that is installed below with apt-get or pip when
# missing: promtool, the Python test clients, and Mesa's software Vulkan driver (Mesa >= 25) for the
# GPU tests. Dependencies are compiled with optimisations even in test builds (see
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

if ! command -v promtool >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  # tests/metrics.rs checks the metrics endpoint with `promtool check metrics`; without promtool it
  # skips that check with a loud notice, and fails when CI is set. Debian ships promtool in the
  # `prometheus` package.
  step "installing promtool (Debian package prometheus)"
  sudo=""
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi
  if ! { $sudo apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus; }; then
    echo "warning: could not install promtool (package prometheus)" >&2
  fi
fi

if ! python3 -c "import grpc, grpc_tools, websockets, requests, jwt, cryptography, schemathesis" >/dev/null 2>&1; then
  # tests/independent_clients.rs drives the node with clients nobody on this project wrote: Python
  # grpcio (code generated from proto/ by grpcio-tools), the Python websockets package, and requests
  # with PyJWT for DID resolution and verifiable credentials; tests/rest.rs fuzzes the REST API
  # against its OpenAPI document with Schemathesis. Without
  # them they skip with a loud notice, and fail when CI is set.
  step "installing the Python test clients (grpcio, grpcio-tools, websockets, requests, pyjwt, cryptography, schemathesis)"
  if ! python3 -m pip --version >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi
    $sudo apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3 python3-pip ||
      echo "warning: could not install python3 and pip" >&2
  fi
  pip_packages="grpcio grpcio-tools websockets requests pyjwt cryptography schemathesis"
  # Debian's system Python refuses plain `pip install` (PEP 668): try without, then with
  # --break-system-packages.
  # shellcheck disable=SC2086
  if ! python3 -m pip install --quiet $pip_packages 2>/dev/null &&
    ! python3 -m pip install --quiet --break-system-packages $pip_packages; then
    echo "warning: could not install the Python test clients ($pip_packages)" >&2
  fi
fi

# The GPU verifier's WGSL shaders really run in the tests (tests/gpu.rs, tests/zip215.rs and a node
# with backend = "gpu" in tests/metrics.rs). CI has no GPU, so they run on Mesa's software Vulkan
# driver, lavapipe, which must be Mesa 25 or newer: Mesa 22.3's lavapipe (Debian 12's own) miscompiles
# the verifier and rejects valid signatures (the verifier's start-up self-test then refuses it). On
# Debian 12 a new enough Mesa comes from bookworm-backports. Without an adapter the GPU tests skip
# loudly, and fail when CI is set.
# The URI of the configured apt source that serves suite $1 (deb822 .sources files, then the
# one-line sources.list format); empty if none does.
debian_uri() {
  local suite=$1 f uri=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    uri="$(awk -v s="$suite" 'BEGIN { RS = "" }
      { ok = 0; u = ""
        n = split($0, lines, "\n")
        for (i = 1; i <= n; i++) {
          if (lines[i] ~ /^Suites:/ && (" " lines[i] " ") ~ (" " s " ")) ok = 1
          if (lines[i] ~ /^URIs:/) { split(lines[i], w, " "); u = w[2] }
        }
        if (ok && u != "") { print u; exit } }' "$f")"
    [ -n "$uri" ] && break
  done
  if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
    uri="$(awk -v s="$suite" '$1 == "deb" {
        i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
        if ($(i + 1) == s) { print $i; exit } }' /etc/apt/sources.list)"
  fi
  printf '%s' "$uri"
}
mesa_version() { dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true; }
lavapipe_ok() {
  ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || return 1
  # Not a Debian system: nothing to compare; the self-test still guards.
  command -v dpkg >/dev/null 2>&1 || return 0
  local v
  v="$(mesa_version)"
  [ -z "$v" ] || dpkg --compare-versions "$v" ge 25
}
if ! lavapipe_ok && command -v apt-get >/dev/null 2>&1; then
  step "installing Mesa's software Vulkan driver, Mesa >= 25 (mesa-vulkan-drivers, libvulkan1)"
  sudo=""
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi
  target=()
  codename="$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")"
  if [ "$codename" = bookworm ]; then
    # Backports from the archive this machine is already configured to use (never a host of our
    # choosing): the URI of the source that serves `bookworm`, in deb822 or one-line form.
    if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
      uri="$(debian_uri bookworm)"
      if [ -n "$uri" ]; then
        echo "deb $uri bookworm-backports main" |
          $sudo tee /etc/apt/sources.list.d/mameynode-bookworm-backports.list >/dev/null
      else
        echo "warning: no configured apt source serves bookworm; cannot add bookworm-backports" >&2
      fi
    fi
    grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/ &&
      target=(-t bookworm-backports)
  fi
  if ! { $sudo apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${target[@]}" mesa-vulkan-drivers libvulkan1; }; then
    echo "warning: could not install lavapipe (mesa-vulkan-drivers, libvulkan1)" >&2
  fi
  if ! lavapipe_ok; then
    echo "warning: lavapipe is missing or older than Mesa 25 ($(mesa_version)); the GPU tests will fail" >&2
  fi
fi
# Mesa warns about XDG_RUNTIME_DIR on every adapter enumeration when it is unset; give it one.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  XDG_RUNTIME_DIR="$(mktemp -d)"
  export XDG_RUNTIME_DIR
fi

step "cargo test"
cargo test --workspace --locked
