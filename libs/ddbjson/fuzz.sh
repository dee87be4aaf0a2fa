#!/bin/sh
# Builds libs/ddbjson's libFuzzer target with clang (ASan + UBSan) outside Bazel and runs it for
# N seconds (default 60) over the seed corpus tests/fuzz/ddbjson/. New inputs go to a scratch
# corpus, never into the seeds; crashes land in $DYN_FUZZ_OUT (default /tmp/ddbjson-fuzz).
# Needs clang and libFuzzer (Debian: libclang-rt-14-dev), protoc-c and libprotobuf-c-dev.
# Usage: libs/ddbjson/fuzz.sh [seconds] [extra libFuzzer flags...]
set -eu
secs=${1:-60}
[ $# -gt 0 ] && shift
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${DYN_FUZZ_OUT:-/tmp/ddbjson-fuzz}
mkdir -p "$out/gen" "$out/corpus" "$out/crashes"
cd "$root"
protoc-c --proto_path=. --c_out="$out/gen" proto/dyne/v1/*.proto
clang -std=c11 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -I. -I"$out/gen" \
    libs/ddbjson/ddbjson_fuzz.c libs/ddbjson/ddbjson.c libs/ddbjson/ddbjson_dec.c \
    libs/ddbjson/ddbjson_enc.c libs/arena/arena.c "$out"/gen/proto/dyne/v1/*.pb-c.c \
    -lprotobuf-c -lm -o "$out/ddbjson_fuzz"
jobs=$(nproc 2>/dev/null || echo 1)
exec "$out/ddbjson_fuzz" -max_total_time="$secs" -max_len=65536 -timeout=10 \
    -artifact_prefix="$out/crashes/" -print_final_stats=1 "$@" \
    "$out/corpus" tests/fuzz/ddbjson
