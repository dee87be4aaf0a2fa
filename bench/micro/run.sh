#!/usr/bin/env bash
# Runs //bench/micro:expr_bench and prints a markdown table: ns/op (median of 5 runs of N
# iterations) and instructions/op from callgrind (total Ir of a run with M iterations minus a
# baseline run with 0 iterations, divided by the operations executed; repeatable on a noisy
# machine), with each operation's share of ~27 us of CPU for one gRPC round trip.
#   bench/micro/run.sh [N=200000] [M=2000]
# Env: DYN_BENCH_OUTPUT_BASE (Bazel --output_base; default: Bazel's own).
set -euo pipefail
cd "$(dirname "$0")/../.."

n=${1:-200000}
m=${2:-2000}
rtt_ns=27000
startup=()
[[ -n ${DYN_BENCH_OUTPUT_BASE:-} ]] && startup=(--output_base="$DYN_BENCH_OUTPUT_BASE")
command -v valgrind >/dev/null || { echo "valgrind missing: apt-get install -y valgrind" >&2; exit 1; }

bazel "${startup[@]}" build --color=no --curses=no --symlink_prefix=/ //bench/micro:expr_bench \
  >/dev/null 2>&1 || { echo "build of //bench/micro:expr_bench failed" >&2; exit 1; }
bin=$(bazel "${startup[@]}" info bazel-bin 2>/dev/null)/bench/micro/expr_bench
work=$(mktemp -d "${TMPDIR:-/tmp}/dyne-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# ns/op: 5 runs, median per benchmark
for r in 1 2 3 4 5; do "$bin" "$n" >"$work/run$r"; done
item=$(sed -n 's/^# item: //p' "$work/run1")
names=$(grep -v '^#' "$work/run1" | awk '{print $1}')

ir() {   # iterations [--only=name] -> total instructions of one run
  local out=$work/cg.$RANDOM
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$@" >/dev/null 2>&1
  awk '/^(summary|totals):/ {print $2; exit}' "$out"
}

echo "expr_bench, item of $item; ns/op: median of 5 runs x $n iterations;" \
  "instructions/op: callgrind, $m iterations minus a 0-iteration baseline"
echo
echo "| benchmark | ns/op | instructions/op | ns/op vs 27 us gRPC RTT | what |"
echo "|---|---:|---:|---:|---|"
for b in $names; do
  med=$(for r in 1 2 3 4 5; do awk -v b="$b" '$1 == b {print $4}' "$work/run$r"; done | sort -g |
    sed -n 3p)
  what=$(awk -v b="$b" '$1 == b {for (i = 6; i <= NF; i++) printf "%s%s", $i, (i < NF ? " " : "")}' \
    "$work/run1")
  base=$(ir 0 --only="$b")
  total=$(ir "$m" --only="$b")
  # expr_bench runs one untimed warm-up operation before the M timed ones
  per=$(awk -v t="$total" -v b0="$base" -v m="$m" 'BEGIN {printf "%.0f", (t - b0) / (m + 1)}')
  pct=$(awk -v x="$med" -v r="$rtt_ns" 'BEGIN {printf "%.2f%%", 100 * x / r}')
  echo "| $b | $med | $per | $pct | $what |"
done
