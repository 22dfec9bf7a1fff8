#!/bin/sh
# The writer shared fairly (issue 14): another team's IngestEmail latency
# while a team of N emails is deleted (bench_delete_team.py), with the
# default --purge-slice and then with a slice large enough to delete the
# team in one write transaction (as before slices), each on a new snipd.
# Usage: tests/bench/run_delete_team.sh [N] [SNIPD_FLAGS...]
# BENCH_OPT=0 uses the fastbuild binary (no separate opt build).
set -eu
cd "$(dirname "$0")/../.."
N=${1:-50000}
[ $# -gt 0 ] && shift
. tests/bench/bench_snipd.sh
for slice in 20000 1000000000; do
    (
        bench_snipd_start --purge-slice "$slice" "$@"
        PYTHONPATH="$BIN/proto" /usr/bin/python3 tests/bench/bench_delete_team.py \
            "127.0.0.1:$port" "$(cat "$top/data/admin.key")" "$N"
    )
done
