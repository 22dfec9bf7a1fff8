#!/bin/sh
# Soak (issue 20): MINUTES of mixed load on one snipd (bench_soak.py):
# ingest of new mail, Suggest at half the rate one caller reaches,
# RecordOutcome and RecordFeedback, a rerank every 5 minutes and a
# `snipd backup` every 10; one JSON line a minute (Suggest p50/p99, calls,
# errors, RSS, and the C heap in use and held free from snipd's metrics)
# and a summary with the RSS slope after the warm-up.
# Usage: tests/bench/run_soak.sh [MINUTES]   (default 30)
# SOAK_CONSTANT=K: constant data after the warm-up (bench_soak.py).
# BENCH_OPT=0 uses the fastbuild binary (no separate opt build).
set -eu
cd "$(dirname "$0")/../.."
MIN=${1:-30}
. tests/bench/bench_snipd.sh
echo "# $MIN minutes"
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
bench_snipd_start --metrics-listen "127.0.0.1:$mport"
echo $pid >"$top/snipd.pid"
SOAK_METRICS="127.0.0.1:$mport" PYTHONPATH="$BIN/proto" \
    /usr/bin/python3 tests/bench/bench_soak.py \
    "127.0.0.1:$port" "$(cat "$top/data/admin.key")" "$BIN/service/snipd" \
    "$top/data" "$MIN"
