#!/bin/sh
# Index build against python3-hnswlib (issue 13): N clustered vectors of
# dimension 384 (bench_ann's generator), inserted by our C API as the
# ranker's catch-up does (rank_ann_add_many, THREADS threads) and by
# Debian's python3-hnswlib (add_items, the same M = 16, ef_construction =
# 200, inner product and thread count), in alternating rounds on the same
# vectors; prints each build's seconds and the median per-round ratio.
# Usage: [ROUNDS=3] tests/bench/run_ann_build.sh [N [THREADS]]
#        (default 100000 2)
set -eu
cd "$(dirname "$0")/../.."
N=${1:-100000}
T=${2:-2}
OB="--output_base=/root/.cache/bazel-ob-${BAZEL_OB:-bench}"
bazel $OB build --config=opt --symlink_prefix=/ //tests/bench:bench_ann >&2
BIN=$(bazel $OB info --config=opt bazel-bin 2>/dev/null)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "# machine: $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); load $(cut -d' ' -f1-3 /proc/loadavg)"
ROUNDS=${ROUNDS:-3}
round=1
while [ "$round" -le "$ROUNDS" ]; do
    echo "# round $round"
    if [ $((round % 2)) -eq 1 ]; then
        "$BIN/tests/bench/bench_ann" --build "$N" 384 1000 "$T" "$tmp" 16 200
        /usr/bin/python3 tests/bench/bench_ann_build.py "$tmp" 384 "$T" "$N" 16 200
    else
        /usr/bin/python3 tests/bench/bench_ann_build.py "$tmp" 384 "$T" "$N" 16 200
        "$BIN/tests/bench/bench_ann" --build "$N" 384 1000 "$T" "$tmp" 16 200
    fi
    round=$((round + 1))
done >"$tmp/out"
cat "$tmp/out"
/usr/bin/python3 - "$tmp/out" <<'PY'
import json, statistics, sys
rounds, cur = [], None
for line in open(sys.argv[1]):
    if line.startswith("# round"):
        cur = {}
        rounds.append(cur)
    elif line.startswith("{") and cur is not None:
        r = json.loads(line)
        cur["c" if r["impl"].startswith("snipwise") else "py"] = r["build_s"]
rs = [r["c"] / r["py"] for r in rounds if "c" in r and "py" in r]
print(json.dumps({"rounds": len(rs),
                  "c_over_python_build_time_median": round(statistics.median(rs), 3),
                  "min": round(min(rs), 3), "max": round(max(rs), 3)}))
PY
