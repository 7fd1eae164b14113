#!/usr/bin/env bash
# Installs what building and testing edgecat needs, idempotently and from the
# package registries only: the wasm32 target, wasm-bindgen-cli (at exactly the
# version in Cargo.lock), worker-build, and the npm tools (wrangler, binaryen,
# playwright-core). `--browser` also installs Debian's chromium for the page
# tests; `--bench` a Python venv with onnxruntime for the baselines of
# `make bench`. Quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS="${EDGECAT_TOOLS:-$HOME/.cache/edgecat/tools}"
WORKER_BUILD_VERSION=0.8.7
mkdir -p "$TOOLS/bin"

say() { printf 'setup: %s\n' "$*" >&2; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen-cli must match the wasm-bindgen crate the worker links.
if [ ! -f Cargo.lock ]; then cargo generate-lockfile --offline 2>/dev/null || cargo generate-lockfile; fi
wb_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ "$("$TOOLS/bin/wasm-bindgen" --version 2>/dev/null | awk '{print $2}')" != "$wb_version" ]; then
  say "building wasm-bindgen-cli $wb_version (a few minutes, once)"
  cargo install --quiet --force --root "$TOOLS" wasm-bindgen-cli --version "$wb_version"
fi
if [ "$("$TOOLS/bin/worker-build" --version 2>/dev/null | awk '{print $NF}')" != "$WORKER_BUILD_VERSION" ]; then
  say "building worker-build $WORKER_BUILD_VERSION (once)"
  cargo install --quiet --force --root "$TOOLS" worker-build --version "$WORKER_BUILD_VERSION"
fi

# npm tools, pinned by package-lock.json; reinstalled only when the lock changes.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules/.package-lock.json
fi

if [ "${1:-}" = "--browser" ] && ! command -v chromium >/dev/null 2>&1; then
  say "installing Debian's chromium for the browser tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

# The Python baseline of `make bench`: a small venv, rebuilt when its pins change.
if [ "${1:-}" = "--bench" ]; then
  VENV="${EDGECAT_BENCH_VENV:-$HOME/.cache/edgecat/venv-bench}"
  if [ ! -f "$VENV/.stamp" ] || [ benches/requirements.txt -nt "$VENV/.stamp" ]; then
    say "creating the bench venv in $VENV (onnxruntime, Pillow, numpy)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r benches/requirements.txt
    touch "$VENV/.stamp"
  fi
fi
