#!/bin/sh
# Ingest throughput, two ways, on the test mail corpus:
#  1. bench_ingest: the pipeline in process with 1, 4 and 8 caller threads,
#     time per stage (MIME, attachment text, preparation, commit) and
#     emails per commit (group commit).
#  2. snipctl ingest over gRPC (IngestEmails) against an opt snipd: one
#     stream, then 4 streams at once (4 teams), first pass (new) and
#     second pass (duplicates).
# Figures go to docs/PERFORMANCE.md. Usage: tests/bench/bench_ingest.sh
set -eu
cd "$(dirname "$0")/../.."
CORPUS=${CORPUS:-$(cd tests/corpus/emails && pwd)}
OB=${BAZEL_OUTPUT_BASE:+--output_base=$BAZEL_OUTPUT_BASE}
bazel $OB build --config=opt --symlink_prefix=/ //service:snipd \
    //clients/snipctl //tests/bench:bench_ingest >&2
BIN=$(bazel $OB info --config=opt bazel-bin 2>/dev/null)
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
echo "# machine: $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); corpus $CORPUS"
"$BIN/tests/bench/bench_ingest" "$CORPUS" "$tmp" 1 4 8

"$BIN/service/snipd" serve --listen 127.0.0.1:0 --data-dir "$tmp/data" \
    --demo-sample 0 --log-level warn >"$tmp/out" 2>"$tmp/err" &
pid=$!
i=0
while ! grep -q 'demo.key' "$tmp/out" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 300 ] || { cat "$tmp/err" >&2; exit 1; }
    sleep 0.1
done
addr=127.0.0.1:$(grep -o '127.0.0.1:[0-9]*' "$tmp/out" | head -1 | cut -d: -f2)
admin=$(cat "$tmp/data/admin.key")
ctl="$BIN/clients/snipctl/snipctl --addr $addr"
newkey() {
    $ctl --key "$admin" --json admin create-team "bench-$1" |
        sed 's/.*"api_key":"\([^"]*\)".*/\1/'
}
now() { date +%s.%N; }
msgs=$(find "$CORPUS" -type f | wc -l)
for streams in 1 4; do
    keys=
    for s in $(seq "$streams"); do keys="$keys $(newkey "$streams-$s")"; done
    for pass in new duplicate; do
        t0=$(now)
        kids=
        for k in $keys; do
            $ctl --key "$k" --json ingest "$CORPUS" >"$tmp/res.$k" &
            kids="$kids $!"
        done
        for c in $kids; do wait "$c"; done
        t1=$(now)
        echo "{\"bench\":\"grpc IngestEmails via snipctl\",\"streams\":$streams,\"pass\":\"$pass\",\"files_per_stream\":$msgs,\"seconds\":$(echo "$t1 - $t0" | bc),\"result_of_one\":$(cat "$tmp/res.$k")}"
    done
done
