#!/bin/sh
# Mixed load (issue 14): GetMyTeam's latency idle and while 50 clients of
# five teams ingest (20 IngestEmails streams), Suggest (20 loops) and read
# (10 loops) on one snipd, in one run (bench_mixed.py). JSON on stdout.
# Usage: tests/bench/run_mixed.sh [SECONDS] [SNIPD_FLAGS...]
# BENCH_OPT=0 uses the fastbuild binary (no separate opt build).
set -eu
cd "$(dirname "$0")/../.."
SECS=${1:-20}
[ $# -gt 0 ] && shift
. tests/bench/bench_snipd.sh
bench_snipd_start "$@"
PYTHONPATH="$BIN/proto" /usr/bin/python3 tests/bench/bench_mixed.py \
    "127.0.0.1:$port" "$(cat "$top/data/admin.key")" "$SECS"
