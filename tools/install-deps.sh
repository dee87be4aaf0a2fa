#!/usr/bin/env bash
# Installs every Debian package Dyne needs to build, run and test. Idempotent and non-interactive:
# packages already present are skipped, so a second run costs one dpkg query.
set -euo pipefail

PKGS=(
  bazel-bootstrap build-essential gcc g++ clang libclang-rt-14-dev valgrind
  protobuf-compiler libprotobuf-dev libprotoc-dev protobuf-c-compiler libprotobuf-c-dev
  libgrpc-dev protobuf-compiler-grpc
  libnng-dev libwiredtiger-dev wiredtiger
  etcd-server etcd-client
  libcjson-dev libmicrohttpd-dev libssl-dev libxxhash-dev zlib1g-dev
  python3 python3-grpcio python3-protobuf python3-boto3 awscli
  curl ca-certificates procps
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
