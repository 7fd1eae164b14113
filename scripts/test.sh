#!/usr/bin/env bash
# `make test` (everything) and `make check` (the quick inner loop), with the
# wall time of every phase printed as it ends and again in a summary, so a
# slow phase shows in every CI log.
#
#   scripts/test.sh          three chains at the same time:
#                              [native]  native test build → native tests (starts at once)
#                              [worker]  (after the tools) Wasm build → bundle size guard
#                                        (64 MiB) → start-up guard (1 s) →
#                                        browser Wasm build (www/pkg) →
#                                        HTTP and page suites (one wrangler dev)
#                              [browser] (after the tools) Chromium (apt; only the first time)
#   scripts/test.sh --quick  [native] native tests | [worker] HTTP suite, against
#                            the worker already in worker/build (no tools, no Wasm build)
#
# A chain's lines are prefixed [name]. On 2 cores the chains fill the time
# one of them spends on a single-threaded step (the Wasm's LTO link,
# wrangler dev starting, a test waiting on the network), and the native
# tests do not wait for the Wasm.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[ "${1:-}" = "--quick" ] && quick=1

T0=$SECONDS
LOG=target/test-logs
rm -rf "$LOG"
mkdir -p "$LOG"

# phase NAME CMD...: runs CMD, prints and records its wall time and status.
phase() {
  local name=$1 started=$SECONDS rc=0
  shift
  "$@" || rc=$?
  local secs=$((SECONDS - started)) status=ok
  [ $rc = 0 ] || status="FAILED, exit $rc"
  printf '%-28s %5d s   %s\n' "$name" "$secs" "$status" >>"$LOG/phases"
  printf '== time: %s: %d s (%s)\n' "$name" "$secs" "$status"
  : >"$LOG/$name.done"
  return $rc
}

# chain NAME FUNCTION: runs FUNCTION in the background, lines prefixed [NAME].
chain() {
  local name=$1 fn=$2
  (
    set -o pipefail
    "$fn" 2>&1 | sed -u "s/^/[$name] /"
    : >"$LOG/$name.done"
  ) &
}

finish() {
  printf '\n== summary (wall time of each phase; chains overlap)\n'
  sed 's/^/   /' "$LOG/phases"
  printf '   %-28s %5d s\n' total $((SECONDS - T0))
  local failed
  failed=$(grep -c FAILED "$LOG/phases" || true)
  if [ "$failed" != 0 ]; then
    printf '\n%s phase(s) failed: see the lines above the summary\n' "$failed"
    exit 1
  fi
}

# (Chains are run where `set -e` does not apply: each step is chained with &&.)
# The [native] chain runs at a lower priority: the Wasm build is the longer
# chain and mostly one thread (tract-core, then the LTO link), so it gets a
# core whenever it wants one and the native build takes what is left.
native_full() {
  phase native-build nice -n 10 cargo test --locked --no-run &&
    phase native-tests nice -n 10 cargo test --locked
}
native_tests() { phase native-tests cargo test --locked; }
browser_tools() { phase browser-tools bash scripts/setup.sh browser; }
worker_full() {
  phase wasm-build make --no-print-directory worker-build || return
  phase bundle-size node scripts/bundle.mjs || return
  # The start-up work (the start event's model load) against the 1 s limit.
  phase startup-guard node scripts/startup.mjs || return
  # The browser build (www/pkg/, on-device mode), which tests/browser loads
  # from the same wrangler dev; mostly the worker's dependencies, built.
  phase web-build make --no-print-directory web-build || return
  # The page tests need Chromium, which [browser] installs. The CLI tests
  # (tests/http/cli.test.mjs, run last) wait for the [native] build's end.
  while [ ! -e "$LOG/browser.done" ]; do sleep 1; done
  export EDGECAT_CLI_READY=$LOG/native-build.done
  phase worker-suites node tests/run-http.mjs tests/http tests/browser
}
http_suite() { phase http-suite node tests/run-http.mjs tests/http; }

if [ $quick = 1 ]; then
  if [ ! -f worker/build/index.js ]; then
    echo "make check runs against the worker already built in worker/build; run 'make build' (or 'make test') once first" >&2
    exit 2
  fi
  if [ -n "$(find src worker/src models Cargo.toml Cargo.lock build.rs -newer worker/build/index.js -type f -print -quit)" ]; then
    echo "note: worker/build is older than the sources; the HTTP suite runs against that older build ('make build' refreshes it)" >&2
  fi
  # The HTTP suite runs the native CLI, so it is built first (seconds, when
  # only the core changed).
  phase native-build cargo test --locked --no-run || finish
  chain native native_tests
  chain worker http_suite
  wait
  finish
  exit 0
fi

# The native chain needs none of the tools (wasm-bindgen, worker-build,
# npm), so it starts with them: on a fresh machine it builds while they do.
chain native native_full
phase tools bash scripts/setup.sh rust npm || { wait; finish; }
chain browser browser_tools
chain worker worker_full
wait
finish
