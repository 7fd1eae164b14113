#!/usr/bin/env bash
# `make load`: installs wrk (Debian's package) if missing, then runs the
# bounded load test (scripts/load.mjs) against the built worker.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null 2>&1; then
  printf 'load: installing Debian'"'"'s wrk\n' >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
exec node scripts/load.mjs
