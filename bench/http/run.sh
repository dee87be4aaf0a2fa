#!/usr/bin/env bash
# Dyne's DynamoDB-compatible HTTP endpoint vs dynalite, driven by the same load generator (wrk +
# ddb.lua: raw unsigned DynamoDB JSON requests, 32 connections), interleaved rounds; prints
# per-round lines and a markdown table (docs/benchmarks.md, "HTTP endpoint vs dynalite").
#   bench/http/run.sh                          in memory, 4 workloads, 3 rounds x 10 s
#   bench/http/run.sh --modes mem,disk         also on disk (both without fsync)
#   bench/http/run.sh --modes disksync         Dyne --sync=true vs dynalite --path
#   bench/http/run.sh --rounds 5 --seconds 20 --items 100000 --workloads GetItem:100,PutItem:1024
# Installs what is missing: wrk (apt-get), dynalite (npm ci into bench/http/node_modules).
# Builds the services with -c opt in its own output base (DYNE_BENCH_OUTPUT_BASE).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

if ! command -v wrk >/dev/null; then
  echo "installing wrk" >&2
  if [[ $(id -u) -eq 0 ]]; then apt-get install -y -q wrk >/dev/null; else sudo apt-get install -y -q wrk >/dev/null; fi
fi
if [[ ! -d $here/node_modules/dynalite || $here/package-lock.json -nt $here/node_modules ]]; then
  (cd "$here" && npm ci --no-audit --no-fund --silent && touch node_modules)
fi

ob=${DYNE_BENCH_OUTPUT_BASE:-/tmp/bzl-bench-http}
(cd "$root" && bazel --output_base="$ob" build -c opt --color=no --curses=no --symlink_prefix=/ \
  //services/router //services/storage //services/controller //services/indexer >&2)
bin=$(cd "$root" && bazel --output_base="$ob" info -c opt bazel-bin 2>/dev/null)

# python3-grpcio (needed by tests/harness/dyne_harness.py) is Debian's
exec /usr/bin/python3 "$here/bench.py" --bin-dir "$bin" "$@"
