#!/usr/bin/env bash
# Runs one Python service test with Debian's python3 (python3-grpcio lives there), from Bazel.
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
exec /usr/bin/python3 "$@"
