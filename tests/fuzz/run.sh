#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (separate Bazel output base, so gcc builds stay cached)
# and runs each for N seconds (default 30) on a scratch copy of its seed corpus. Crashing inputs
# are kept in tests/fuzz/crashes/<target>/. One summary line per target, then "N passed, M failed";
# exit status 0 only if every target ran clean.
#   tests/fuzz/run.sh [seconds-per-target] [target...]     targets: num item expr keycodec ddbjson feed
# Env: DYN_FUZZ_JOBS (targets run at once, default 1), DYN_FUZZ_OUTPUT_BASE.
set -uo pipefail
cd "$(dirname "$0")/../.."

secs=${1:-30}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(num item expr keycodec ddbjson feed)
jobs=${DYN_FUZZ_JOBS:-1}
obase=${DYN_FUZZ_OUTPUT_BASE:-$HOME/.cache/dyne-fuzz}

labels=()
for t in "${targets[@]}"; do labels+=("//tests/fuzz:${t}_fuzz"); done
work=$(mktemp -d "${TMPDIR:-/tmp}/dyne-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The workspace .bazelrc is still read; --bazelrc only replaces the user rc with ours.
if ! bazel --output_base="$obase" --bazelrc=.bazelrc.fuzz build --config=fuzz --color=no \
    --curses=no --show_progress_rate_limit=30 "${labels[@]}" >"$work/build.log" 2>&1; then
  grep -avE 'linux-sandbox|Cannot export local symbol' "$work/build.log" | tail -40
  echo "fuzz build failed"
  echo "0 passed, ${#targets[@]} failed"
  exit 1
fi
bin=$(bazel --output_base="$obase" --bazelrc=.bazelrc.fuzz info --config=fuzz bazel-bin 2>/dev/null)

run_one() {   # target -> writes $work/<t>.status ("ok ..." or "FAIL ...")
  local t=$1 corpus=$work/$1/corpus crashes=tests/fuzz/crashes/$1 log=$work/$1/log
  mkdir -p "$corpus" "$work/$1/artifacts"
  cp tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null
  local start=$SECONDS
  "$bin/tests/fuzz/${t}_fuzz" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -max_len=4096 -print_final_stats=1 -artifact_prefix="$work/$1/artifacts/" \
    "$corpus" >"$log" 2>&1
  local rc=$? took=$((SECONDS - start))
  local execs cov
  execs=$(grep -aoE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  cov=$(grep -aoE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  local found
  found=$(ls "$work/$1/artifacts" 2>/dev/null | wc -l)
  if [[ $rc -eq 0 && $found -eq 0 ]]; then
    echo "ok   $t: ${took}s, ${execs:-?} execs, cov ${cov:-?}, corpus $(ls "$corpus" | wc -l)" \
      >"$work/$t.status"
  else
    mkdir -p "$crashes"
    cp "$work/$1/artifacts"/* "$crashes"/ 2>/dev/null
    cp "$log" "$crashes/last-run.log"
    echo "FAIL $t: exit $rc after ${took}s, $found artifact(s) in $crashes/ (log: $crashes/last-run.log)" \
      >"$work/$t.status"
    grep -aE 'ERROR: |SUMMARY: |property violated|==[0-9]+==' "$log" | head -5 | sed 's/^/     /' \
      >>"$work/$t.status"
  fi
}

running=0
for t in "${targets[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [[ $running -ge $jobs ]]; then
    wait -n
    running=$((running - 1))
  fi
done
wait

passed=0 failed=0
for t in "${targets[@]}"; do
  cat "$work/$t.status"
  if grep -q '^ok' "$work/$t.status"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
