#!/usr/bin/env bash
# Global secondary indexes: propagation lag (base write acknowledged -> visible in a GSI Query)
# under a background write load at half the cluster's maximum write rate, and the write cost of
# 0, 1 and 5 GSIs (interleaved rounds). Human lines on stderr, a markdown section on stdout
# (docs/benchmarks.md, "Global secondary indexes").
#   bench/gsi/run.sh                                        3 rounds of 8 s, 300 lag samples
#   bench/gsi/run.sh --rounds 2 --seconds 5 --samples 200
#   bench/gsi/run.sh --quick                                a smoke run (about a minute)
# Builds with -c opt in its own output base (DYNE_BENCH_OUTPUT_BASE).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ob=${DYNE_BENCH_OUTPUT_BASE:-/tmp/bzl-bench-gsi}
(cd "$root" && bazel --output_base="$ob" build -c opt --color=no --curses=no --symlink_prefix=/ \
  //services/router //services/storage //services/controller //services/indexer //bench/loadgen >&2)
bin=$(cd "$root" && bazel --output_base="$ob" info -c opt bazel-bin 2>/dev/null)
exec /usr/bin/python3 "$here/bench.py" --bin-dir "$bin" "$@"
