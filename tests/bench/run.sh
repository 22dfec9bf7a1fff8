#!/bin/sh
# The empty-RPC floor of snipd, measured two ways on one server in one run:
#  1. h2load (nghttp2-client) as the load generator: Health/Check (no auth,
#     no store) against TeamService/GetMyTeam (API-key check + LMDB read).
#  2. bench_rpc, our C client on gRPC core: the same two methods in
#     interleaved rounds, latency with one call in flight per thread.
# Figures go to docs/PERFORMANCE.md. Usage: tests/bench/run.sh [N]
set -eu
cd "$(dirname "$0")/../.."
N=${1:-100000}
bazel build --config=opt //service:snipd //tests/bench:bench_rpc >&2
BIN=$(bazel info --config=opt bazel-bin 2>/dev/null)
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
"$BIN/service/snipd" serve --listen 127.0.0.1:0 --data-dir "$tmp/data" \
    --demo-sample 0 --log-level warn >"$tmp/out" 2>"$tmp/err" &
pid=$!
i=0
while ! grep -q 'demo.key' "$tmp/out" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 300 ] || { cat "$tmp/err" >&2; exit 1; }
    sleep 0.1
done
port=$(grep -o '127.0.0.1:[0-9]*' "$tmp/out" | head -1 | cut -d: -f2)
key=$(cat "$tmp/data/demo.key")
printf '\000\000\000\000\000' >"$tmp/empty.bin"

echo "# machine: $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)"
for m in grpc.health.v1.Health/Check snipwise.v1.TeamService/GetMyTeam; do
    rps=$(h2load -n "$N" -c 8 -m 32 -t 1 -d "$tmp/empty.bin" \
        -H 'content-type: application/grpc' -H 'te: trailers' \
        -H "authorization: Bearer $key" "http://127.0.0.1:$port/$m" |
        awk '/^finished in/ {print $4}')
    echo "{\"tool\":\"h2load -c 8 -m 32\",\"method\":\"$m\",\"req_per_s\":$rps}"
done
"$BIN/tests/bench/bench_rpc" "127.0.0.1:$port" "$key" 1 2000 5
"$BIN/tests/bench/bench_rpc" "127.0.0.1:$port" "$key" 8 1000 3
