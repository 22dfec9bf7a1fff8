#!/bin/sh
# Soak (issue 20): MINUTES of mixed load on one snipd (bench_soak.py):
# ingest of new mail, Suggest at half the rate one caller reaches,
# RecordOutcome and RecordFeedback, a rerank every 5 minutes and a
# `snipd backup` every 10; one JSON line a minute (Suggest p50/p99, calls,
# errors, RSS) and a summary with the RSS slope after the warm-up.
# Usage: tests/bench/run_soak.sh [MINUTES]   (default 30)
# BENCH_OPT=0 uses the fastbuild binary (no separate opt build).
set -eu
cd "$(dirname "$0")/../.."
MIN=${1:-30}
if [ "${BENCH_OPT:-1}" = 1 ]; then
    OB="--output_base=/root/.cache/bazel-ob-${BAZEL_OB:-bench}"
    bazel $OB build --config=opt --jobs=2 --symlink_prefix=/ //service:snipd \
        //proto:python_stubs >&2
    BIN=$(bazel $OB info --config=opt bazel-bin 2>/dev/null)
else
    bazel build //service:snipd //proto:python_stubs >&2
    BIN=$(bazel info bazel-bin 2>/dev/null)
fi
top=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$top"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "# machine: $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); $MIN minutes"
"$BIN/service/snipd" serve --listen "127.0.0.1:$port" --data-dir "$top/data" \
    --demo 0 --log-level warn --access-log 0 >"$top/out" 2>"$top/err" &
pid=$!
echo $pid >"$top/snipd.pid"
i=0
while [ ! -f "$top/data/admin.key" ] || ! python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 600 ] || { cat "$top/err" >&2; exit 1; }
    kill -0 $pid 2>/dev/null || { cat "$top/err" >&2; exit 1; }
    sleep 0.1
done
PYTHONPATH="$BIN/proto" /usr/bin/python3 tests/bench/bench_soak.py \
    "127.0.0.1:$port" "$(cat "$top/data/admin.key")" "$BIN/service/snipd" \
    "$top/data" "$MIN"
