#!/usr/bin/env bash
# Dyne HTTP vs Dyne gRPC vs dynalite, all driven by bench/loadgen (see paths.py).
#   bench/http/paths.sh [--rounds 3 --seconds 8 --size 100 --workloads get,put]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [[ ! -d $here/node_modules/dynalite || $here/package-lock.json -nt $here/node_modules ]]; then
  (cd "$here" && npm ci --no-audit --no-fund --silent && touch node_modules)
fi
ob=${DYNE_BENCH_OUTPUT_BASE:-/tmp/bzl-bench-http}
(cd "$root" && bazel --output_base="$ob" build -c opt --color=no --curses=no --symlink_prefix=/ \
  //services/router //services/storage //services/controller //services/indexer //bench/loadgen >&2)
bin=$(cd "$root" && bazel --output_base="$ob" info -c opt bazel-bin 2>/dev/null)
exec /usr/bin/python3 "$here/paths.py" --bin-dir "$bin" "$@"
