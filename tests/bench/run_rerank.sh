#!/bin/sh
# Nightly job growth (issue 6): for each E, one team with E outcome events
# (catalogue shape, see bench_rerank.c) filled straight into LMDB, then the
# nightly job (rank_rerank_team, as `snipd rerank` runs it) timed phase by
# phase, with peak RSS of the fill and of the job and the LMDB size. One
# JSON line per step. Usage: tests/bench/run_rerank.sh [E...]
# (default 100000 1000000 10000000). Set BENCH_TIMEOUT (seconds) to stop a
# job that runs longer; its phases so far are on stderr. BENCH_RUNS=2 runs
# the job twice: the second run has a serving model to evaluate against,
# as every nightly run after the first.
set -eu
cd "$(dirname "$0")/../.."
OB="--output_base=/root/.cache/bazel-ob-${BAZEL_OB:-bench}"
bazel $OB build --config=opt --jobs=2 --symlink_prefix=/ \
    //tests/bench:bench_rerank >&2
BIN=$(bazel $OB info --config=opt bazel-bin 2>/dev/null)/tests/bench/bench_rerank
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[ $# -gt 0 ] || set -- 100000 1000000 10000000
echo "# machine: $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); load $(cut -d' ' -f1-3 /proc/loadavg)"
for E in "$@"; do
    rm -rf "$tmp/data"
    /usr/bin/time -o "$tmp/time" -f '{"step":"fill","events_target":'"$E"',"peak_rss_kb":%M,"wall_s":%e}' \
        "$BIN" fill "$tmp/data" --events "$E"
    grep "^{" "$tmp/time" || true
    du -sk "$tmp/data" | awk -v e="$E" '{print "{\"events_target\":" e ",\"lmdb_kb\":" $1 "}"}'
    run=0
    while [ $run -lt "${BENCH_RUNS:-1}" ]; do
    run=$((run + 1))
    rc=0
    if [ -n "${BENCH_TIMEOUT:-}" ]; then
        /usr/bin/time -o "$tmp/time" -f '{"step":"rerank","events_target":'"$E"',"peak_rss_kb":%M,"wall_s":%e}' \
            timeout "$BENCH_TIMEOUT" "$BIN" rerank "$tmp/data" || rc=$?
    else
        /usr/bin/time -o "$tmp/time" -f '{"step":"rerank","events_target":'"$E"',"peak_rss_kb":%M,"wall_s":%e}' \
            "$BIN" rerank "$tmp/data" || rc=$?
    fi
    grep "^{" "$tmp/time" || true
    [ $rc -eq 0 ] || echo "{\"step\":\"rerank\",\"events_target\":$E,\"run\":$run,\"exit\":$rc}"
    done
done
