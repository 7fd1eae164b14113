#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz / libFuzzer, nightly, AddressSanitizer)
# of the request-parsing, decode, pipeline and memory entry points (fuzz/),
# natively, for a bounded time: FUZZ_SECONDS in all (default 600), split
# evenly over the targets given (default: all four). Niced, as it is long and
# CPU-bound. The memory target fails on a photo that allocates more than
# codec::photo_need said it would (fuzz/checks.rs, `memory`).
#
#   scripts/fuzz.sh                 # 10 minutes over request, decode, pipeline, memory
#   FUZZ_SECONDS=600 scripts/fuzz.sh memory
#   FUZZ_SECONDS=120 scripts/fuzz.sh decode
#
# Seeds: fuzz/seeds/<target> (committed, made by scripts/make_fixtures.py).
# What the fuzzer learns goes to fuzz/corpus/<target> (not committed). A
# crashing input is copied to fuzz/regressions/<target>/, where
# tests/core/fuzz_regressions.rs replays it on every `make test`; commit it with
# the fix. Exits non-zero if any target found a crash.
set -uo pipefail
cd "$(dirname "$0")/.."

TOOLS="${EDGECAT_TOOLS:-$HOME/.cache/edgecat/tools}"
export PATH="$TOOLS/bin:$PATH"
total="${FUZZ_SECONDS:-600}"
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(request decode pipeline memory)
per=$(( total / ${#targets[@]} ))

say() { printf 'fuzz: %s\n' "$*" >&2; }

if ! rustup toolchain list | grep -q '^nightly'; then
  say "installing the nightly toolchain (cargo-fuzz needs it)"
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  say "building cargo-fuzz (once)"
  cargo install --quiet --locked --root "$TOOLS" cargo-fuzz
fi

say "building the targets"
(cd fuzz && nice -n 10 cargo +nightly fuzz build) || exit 1

mkdir -p fuzz/target/logs
crashed=()
summary=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  log="fuzz/target/logs/$t.log"
  say "$t: ${per}s"
  start=$(date +%s)
  # -timeout: an input taking a minute is a hang; -rss_limit_mb: a 40 MP
  # photo is legitimately ~120 MB decoded, ASan doubles that.
  # The memory target's bound is for uploads of up to 2 MB; libFuzzer's
  # default -max_len (the largest seed, capped at 1 MiB) would not reach it.
  extra=()
  [ "$t" = memory ] && extra=(-max_len=2000000)
  (cd fuzz && nice -n 10 cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$per" -timeout=60 -rss_limit_mb=3072 -print_final_stats=1 "${extra[@]}") >"$log" 2>&1
  status=$?
  secs=$(( $(date +%s) - start ))
  execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log" | tail -1)
  corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
  found=$(find "fuzz/artifacts/$t" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | wc -l)
  if [ "$found" -gt 0 ] || [ "$status" -ne 0 ]; then
    mkdir -p "fuzz/regressions/$t"
    find "fuzz/artifacts/$t" -type f -exec cp {} "fuzz/regressions/$t/" \;
    crashed+=("$t")
    tail -40 "$log" >&2
  fi
  summary+=("$t: ${execs:-?} executions in ${secs}s, corpus ${corpus} inputs, ${found} crashing inputs (exit $status)")
done

printf '%s\n' "${summary[@]}"
if [ ${#crashed[@]} -gt 0 ]; then
  say "crashes in: ${crashed[*]} — inputs copied to fuzz/regressions/ (replayed by tests/core/fuzz_regressions.rs); logs in fuzz/target/logs/"
  exit 1
fi
