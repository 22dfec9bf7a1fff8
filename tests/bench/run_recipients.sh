#!/bin/sh
# Inputs with linear cost (issue 14): the time of a parsed IngestEmail
# against its number of recipients, and of the emails of one growing thread
# of large mailings, on one snipd (bench_recipients.py). JSON on stdout.
# Usage: tests/bench/run_recipients.sh [SNIPD_FLAGS...]
# BENCH_OPT=0 uses the fastbuild binary (no separate opt build).
set -eu
cd "$(dirname "$0")/../.."
. tests/bench/bench_snipd.sh
bench_snipd_start "$@"
PYTHONPATH="$BIN/proto" /usr/bin/python3 tests/bench/bench_recipients.py \
    "127.0.0.1:$port" "$(cat "$top/data/admin.key")"
