#!/usr/bin/env bash
# Dyne with 1 vs N storage nodes behind one router (bench/loadgen over gRPC, interleaved rounds);
# prints per-round lines and a markdown table (docs/benchmarks.md, "Scale-out: 1 vs 3 storage
# nodes").
#   bench/scaleout/run.sh                                  3 nodes, get/put/query, 3 rounds
#   bench/scaleout/run.sh --nodes 4 --rounds 5 --seconds 10 --workloads get,put --size 100
# Builds with -c opt in its own output base (DYNE_BENCH_OUTPUT_BASE).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ob=${DYNE_BENCH_OUTPUT_BASE:-/tmp/bzl-bench-scaleout}
(cd "$root" && bazel --output_base="$ob" build -c opt --color=no --curses=no --symlink_prefix=/ \
  //services/router //services/storage //services/controller //services/indexer //bench/loadgen >&2)
bin=$(cd "$root" && bazel --output_base="$ob" info -c opt bazel-bin 2>/dev/null)
exec /usr/bin/python3 "$here/bench.py" --bin-dir "$bin" "$@"
