#!/usr/bin/env bash
# The storage node's own gRPC API vs raw WiredTiger, same keys, values and durability, interleaved
# rounds; prints per-round lines on stderr and a markdown table (docs/benchmarks.md, "Storage node
# vs raw WiredTiger").
#   bench/storage/run.sh                                  1 KB items; put, get, query; 3 rounds x 10 s
#   bench/storage/run.sh --sizes 1024,100 --rounds 5 --seconds 20 --items 100000 --concurrency 64
#   bench/storage/run.sh --workloads put --verbose        (every loadgen / wt_bench report too)
# Builds with Bazel in its own output base (DYNE_BENCH_OUTPUT_BASE; default the .bazelrc flags,
# -O2 -g, for both sides). Data on disk under data/bench-storage (removed after; --keep keeps it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ob=${DYNE_BENCH_OUTPUT_BASE:-/tmp/bzl-bench-storage}

log=$(mktemp)
if ! (cd "$root" && bazel --output_base="$ob" build --color=no --curses=no --symlink_prefix=/ \
  //services/storage //bench/loadgen //bench/storage:wt_bench >"$log" 2>&1); then
  cat "$log" >&2
  exit 1
fi
rm -f "$log"
bin=$(cd "$root" && bazel --output_base="$ob" info --symlink_prefix=/ bazel-bin 2>/dev/null)

# python3-grpcio (needed by tests/harness/dyne_harness.py, which starts etcd) is Debian's
exec /usr/bin/python3 "$here/bench.py" --bin-dir "$bin" "$@"
