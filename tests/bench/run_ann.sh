#!/bin/sh
# ANN benchmark: recall@10 against exact brute force and queries/s of our C
# API versus Debian's python3-hnswlib on the same graph, vectors, k, ef and
# thread count, in one run. Figures go to docs/PERFORMANCE.md.
# Usage: tests/bench/run_ann.sh [N [QUERIES [THREADS]]]   (default 100000 1000 2)
set -eu
cd "$(dirname "$0")/../.."
N=${1:-100000}
Q=${2:-1000}
T=${3:-2}
OB="--output_base=/root/.cache/bazel-ob-${BAZEL_OB:-bench}"
bazel $OB build --config=opt --symlink_prefix=/ //tests/bench:bench_ann >&2
BIN=$(bazel $OB info --config=opt bazel-bin 2>/dev/null)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "# machine: $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)"
"$BIN/tests/bench/bench_ann" "$N" 384 1000 "$Q" "$T" "$tmp"
# Alternate the two implementations on the same saved graph, so that load
# from other processes on the machine hits both alike.
for round in 1 2; do
    echo "# round $round"
    /usr/bin/python3 tests/bench/bench_ann.py "$tmp" 384 "$T" "$N"
    "$BIN/tests/bench/bench_ann" --query "$N" 384 "$Q" "$T" "$tmp"
done
