#!/bin/sh
# Mixed load (issue 14): GetMyTeam's latency idle and while 50 clients of
# five teams ingest (20 IngestEmails streams), Suggest (20 loops) and read
# (10 loops) on one snipd, in one run (bench_mixed.py). JSON on stdout.
# Usage: tests/bench/run_mixed.sh [SECONDS] [SNIPD_FLAGS...]
# MIXED_CLIENT=c runs the same load from the C generator (bench_mixed.c),
# which leaves the server the CPUs the Python client's threads take;
# MIXED_LOAD_NICE=N runs the load's client threads at nice N (default 10).
# BENCH_OPT=0 uses the fastbuild binary (no separate opt build).
set -eu
cd "$(dirname "$0")/../.."
SECS=${1:-20}
[ $# -gt 0 ] && shift
. tests/bench/bench_snipd.sh
bench_snipd_start "$@"
if [ "${MIXED_CLIENT:-python}" = c ]; then
    if [ "${BENCH_OPT:-1}" = 1 ]; then
        bazel $OB build --config=opt --jobs=2 --symlink_prefix=/ //tests/bench:bench_mixed >&2
    else
        bazel build --jobs=2 //tests/bench:bench_mixed >&2
    fi
    SNIPD_PID=$pid "$BIN/tests/bench/bench_mixed" \
        "127.0.0.1:$port" "$(cat "$top/data/admin.key")" "$SECS"
else
    SNIPD_PID=$pid PYTHONPATH="$BIN/proto" /usr/bin/python3 tests/bench/bench_mixed.py \
        "127.0.0.1:$port" "$(cat "$top/data/admin.key")" "$SECS"
fi
