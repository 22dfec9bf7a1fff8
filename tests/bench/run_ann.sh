#!/bin/sh
# ANN benchmark: recall@10 against exact brute force and queries/s of our C
# API versus Debian's python3-hnswlib on the same graph, vectors, k, ef and
# thread count, in one run. Figures go to docs/PERFORMANCE.md.
# Usage: [ROUNDS=5] tests/bench/run_ann.sh [N [QUERIES [THREADS]]]
#        (default 100000 1000 2)
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
# from other processes on the machine hits both alike; which one goes first
# alternates too. The summary is the median over rounds of each round's
# C/Python ratio (a ratio of two passes seconds apart, not of two runs
# minutes apart).
ROUNDS=${ROUNDS:-5}
round=1
while [ "$round" -le "$ROUNDS" ]; do
    echo "# round $round"
    if [ $((round % 2)) -eq 1 ]; then
        /usr/bin/python3 tests/bench/bench_ann.py "$tmp" 384 "$T" "$N"
        "$BIN/tests/bench/bench_ann" --query "$N" 384 "$Q" "$T" "$tmp"
    else
        "$BIN/tests/bench/bench_ann" --query "$N" 384 "$Q" "$T" "$tmp"
        /usr/bin/python3 tests/bench/bench_ann.py "$tmp" 384 "$T" "$N"
    fi
    round=$((round + 1))
done | tee "$tmp/rounds.jsonl"
/usr/bin/python3 - "$tmp/rounds.jsonl" <<'PY'
import json, statistics, sys
rounds, cur = [], None
for line in open(sys.argv[1]):
    if line.startswith("# round"):
        cur = {}
        rounds.append(cur)
    elif line.startswith("{") and cur is not None:
        r = json.loads(line)
        side = "c" if r["impl"].startswith("snipwise") else "py"
        cur[(side, r["ef"])] = r["qps"]
for ef in sorted({k[1] for r in rounds for k in r}):
    rs = [r[("c", ef)] / r[("py", ef)] for r in rounds
          if ("c", ef) in r and ("py", ef) in r]
    print(json.dumps({"ef": ef, "rounds": len(rs),
                      "c_over_python_median": round(statistics.median(rs), 3),
                      "min": round(min(rs), 3), "max": round(max(rs), 3)}))
PY
