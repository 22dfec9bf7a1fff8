#!/bin/sh
# Suggest under churn (issue 13): one opt snipd on one team holding N
# snippets (the store of run_suggest_scale.sh: bench_rerank fill --snippets
# N, then the nightly job once), and bench_churn.py: Suggest with 1 and
# then 4 callers, CHURN_PHASE_S seconds each (default 30), in three phases
# of one run: idle; churn (IngestEmail at 5 emails/s of the team's sales
# mail and RecordOutcome at 5/s, in background threads, on the same
# team); idle again. JSON lines on stdout: per phase and caller count
# Suggest p50/p99/count/errors, the churn/idle ratios, the freshness of
# the statistics Suggest answered from (when the response says), a
# summary line. Exit status 1 if any Suggest failed.
# Usage: tests/bench/run_churn.sh [N]   (default 100000)
# CHURN_CALLERS=1,4 the caller counts, in order (default 1,4).
# BENCH_LOG_LEVEL=debug: snipd logs each publisher pass (rank.published,
# with its ms) to DIR/snipd.err (default warn).
# snipd runs with --team-max-calls 8: at its default (4, half of
# --workers) four Suggest callers fill the team's share and the churn's
# IngestEmail calls get RESOURCE_EXHAUSTED.
# BENCH_DIR=DIR keeps the data dir there; a DIR already holding a filled
# store (DIR/data/bench_team.key) is reused without filling again.
# CHURN_PRISTINE=DIR: a churn run adds mail and outcomes to the store, so
# keep a copy of it as filled: if DIR holds one, DIR is copied over the
# data dir first; if DIR does not exist, the store just filled is copied
# there before snipd first serves it.
set -eu
cd "$(dirname "$0")/../.."
N=${1:-100000}
PHASE_S=${CHURN_PHASE_S:-30}
OB="--output_base=/root/.cache/bazel-ob-${BAZEL_OB:-bench}"
bazel $OB build --config=opt --jobs=2 --symlink_prefix=/ //service:snipd \
    //tests/bench:bench_rerank //proto:python_stubs >&2
BIN=$(bazel $OB info --config=opt bazel-bin 2>/dev/null)
if [ -n "${BENCH_DIR:-}" ]; then
    top=$BENCH_DIR
    mkdir -p "$top"
    trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
else
    top=$(mktemp -d)
    trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$top"' EXIT
fi
pid=
data=$top/data
pristine=${CHURN_PRISTINE:-}
echo "# machine: $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); load $(cut -d' ' -f1-3 /proc/loadavg); $N snippets; $PHASE_S s a phase; callers ${CHURN_CALLERS:-1,4}"
if [ -n "$pristine" ] && [ -f "$pristine/bench_team.key" ]; then
    rm -rf "$data"
    cp -a "$pristine" "$data"
    echo "{\"store\":\"restored\",\"from\":\"$pristine\"}"
fi
if [ ! -f "$data/bench_team.key" ]; then
    rm -rf "$data"
    /usr/bin/time -o "$top/time" -f '{"step":"fill+index","peak_rss_kb":%M,"wall_s":%e}' \
        "$BIN/tests/bench/bench_rerank" fill "$data" --snippets "$N"
    grep "^{" "$top/time" || true
    /usr/bin/time -o "$top/time" -f '{"step":"rerank","peak_rss_kb":%M,"wall_s":%e}' \
        "$BIN/tests/bench/bench_rerank" rerank "$data" 2>"$top/rerank.err"
    grep "^{" "$top/time" || true
    rm -f "$top/churned"
fi
if [ -n "$pristine" ] && [ ! -e "$pristine" ]; then
    # Only a store no churn run has served yet is pristine.
    if [ -e "$top/churned" ]; then
        echo "run_churn: $data was served by an earlier churn run; remove it (or set another BENCH_DIR) to fill again" >&2
        exit 1
    fi
    cp -a "$data" "$pristine"
    echo "{\"store\":\"pristine copy made\",\"to\":\"$pristine\"}"
fi
du -sk "$data" | awk '{print "{\"lmdb_kb\":" $1 "}"}'
key=$(cat "$data/bench_team.key")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
touch "$top/churned"
"$BIN/service/snipd" serve --listen "127.0.0.1:$port" --data-dir "$data" \
    --demo 0 --log-level "${BENCH_LOG_LEVEL:-warn}" --team-max-calls 8 \
    >"$top/snipd.out" 2>"$top/snipd.err" &
pid=$!
i=0
while ! python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 600 ] || { cat "$top/snipd.err" >&2; exit 1; }
    kill -0 $pid 2>/dev/null || { cat "$top/snipd.err" >&2; exit 1; }
    sleep 0.1
done
rc=0
PYTHONPATH="$BIN/proto" /usr/bin/python3 tests/bench/bench_churn.py \
    "127.0.0.1:$port" "$key" "$PHASE_S" "$pid" || rc=$?
if [ "$(ps -o stat= -p $pid 2>/dev/null | cut -c1)" = Z ] || ! kill -0 $pid 2>/dev/null; then
    st=0
    wait $pid || st=$?
    pid=
    tail -c 2000 "$top/snipd.err" | python3 -c 'import json,sys; print(json.dumps({"snipd_exit_status": int(sys.argv[1]), "snipd_stderr_tail": sys.stdin.read()}))' "$st"
    [ $rc -ne 0 ] || rc=1
else
    ps -o rss= -p $pid | awk '{print "{\"snipd_rss_kb\":" $1 "}"}'
fi
exit $rc
