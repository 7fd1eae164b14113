#!/usr/bin/env bash
# Installs what building and testing edgecat needs, idempotently and from the
# package registries only. Quick (well under a second) when all is there.
#
#   scripts/setup.sh [PART...]     PART: rust npm browser bench (default: rust npm)
#
#   rust     the wasm32 target; wasm-bindgen-cli (exactly the version in
#            Cargo.lock) and worker-build, built from crates.io into
#            $EDGECAT_TOOLS/bin (~/.cache/edgecat/tools): a few minutes, once
#   npm      wrangler, esbuild, binaryen, playwright-core, pinned by
#            package-lock.json; reinstalled only when the lock changes
#   browser  Debian's chromium, for the page tests (apt, about a minute, once)
#   bench    a Python venv with onnxruntime for the baselines of `make bench`
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS="${EDGECAT_TOOLS:-$HOME/.cache/edgecat/tools}"
WORKER_BUILD_VERSION=0.8.7

say() { printf 'setup: %s\n' "$*" >&2; }

setup_rust() {
  mkdir -p "$TOOLS/bin"
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target (rustup)"
    rustup target add wasm32-unknown-unknown
  fi

  # wasm-bindgen-cli must match the wasm-bindgen crate the worker links.
  if [ ! -f Cargo.lock ]; then cargo generate-lockfile; fi
  local wb_version missing=()
  wb_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
  if [ "$("$TOOLS/bin/wasm-bindgen" --version 2>/dev/null | awk '{print $2}')" != "$wb_version" ]; then
    missing+=("wasm-bindgen-cli@$wb_version")
  fi
  if [ "$("$TOOLS/bin/worker-build" --version 2>/dev/null | awk '{print $NF}')" != "$WORKER_BUILD_VERSION" ]; then
    missing+=("worker-build@$WORKER_BUILD_VERSION")
  fi
  [ ${#missing[@]} -eq 0 ] && return

  # Both are build tools that run for seconds per build, so they are built
  # for build time: no LTO, parallel codegen, opt-level 1 (their crates ask
  # for a full release build, which takes twice as long). One target dir, so
  # the dependencies they share are compiled once; it is removed afterwards.
  # Not --locked: wasm-bindgen-cli's published lock names a webpki-roots
  # release the registry does not serve; the tools' own versions are pinned.
  say "building ${missing[*]} from crates.io into $TOOLS/bin"
  say "  (compiled from source: ~400 crates, 3-4 minutes on 2 cores; once per machine)"
  local started=$SECONDS
  CARGO_TARGET_DIR="$TOOLS/target" \
    CARGO_PROFILE_RELEASE_LTO=false \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
    CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_RELEASE_STRIP=true \
    CARGO_PROFILE_RELEASE_INCREMENTAL=false \
    cargo install --quiet --force --root "$TOOLS" "${missing[@]}"
  rm -rf "$TOOLS/target"
  say "built ${missing[*]} in $((SECONDS - started)) s"
}

setup_npm() {
  # Pinned by package-lock.json; reinstalled only when the lock changes.
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing the npm packages of package-lock.json (wrangler, esbuild, playwright-core, ...)"
    npm ci --no-audit --no-fund --loglevel=error
    touch node_modules/.package-lock.json
  fi
}

setup_browser() {
  if ! command -v chromium >/dev/null 2>&1; then
    say "installing Debian's chromium for the browser tests (apt, about a minute, once)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
  fi
}

setup_bench() {
  # The Python baseline of `make bench`: a small venv, rebuilt when its pins change.
  local venv="${EDGECAT_BENCH_VENV:-$HOME/.cache/edgecat/venv-bench}"
  if [ ! -f "$venv/.stamp" ] || [ benches/requirements.txt -nt "$venv/.stamp" ]; then
    say "creating the bench venv in $venv (onnxruntime, Pillow, numpy)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r benches/requirements.txt
    touch "$venv/.stamp"
  fi
}

parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(rust npm)
for part in "${parts[@]}"; do
  case "$part" in
    rust | npm | browser | bench) "setup_$part" ;;
    *) say "unknown part '$part' (rust, npm, browser, bench)"; exit 2 ;;
  esac
done
