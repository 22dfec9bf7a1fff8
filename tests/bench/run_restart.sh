#!/bin/sh
# Restart benchmark: one team with N snippets; full rebuild from the feed
# versus loading the LMDB snapshot; memory per snippet. Peak RSS from
# /usr/bin/time. Usage: tests/bench/run_restart.sh [N]   (default 100000)
set -eu
cd "$(dirname "$0")/../.."
N=${1:-100000}
OB="--output_base=/root/.cache/bazel-ob-${BAZEL_OB:-bench}"
bazel $OB build --config=opt --symlink_prefix=/ //tests/bench:bench_restart >&2
BIN=$(bazel $OB info --config=opt bazel-bin 2>/dev/null)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "# machine: $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)"
/usr/bin/time -f '{"peak_rss_kb":%M}' "$BIN/tests/bench/bench_restart" "$N" "$tmp/data"
du -sk "$tmp/data" | awk '{print "{\"store_kb\":" $1 "}"}'
