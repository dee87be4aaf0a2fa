#!/bin/sh
# Runs the randomised decimal-oracle test: $1 = num_oracle_main, $2 = num_oracle_test.py.
set -eu
exec /usr/bin/python3 "$2" "$1"
