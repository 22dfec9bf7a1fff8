#!/bin/sh
# Several snipd nodes behind HAProxy (issue 22): the proxy's cost per call
# and Suggest calls/s through HAProxy over 1, 2 and 3 nodes against direct
# calls to one node, in one run; then how long a team move takes at 10k
# and 100k snippets (bench_cluster.py). Opt build in an output base of its
# own. Usage: tests/bench/run_cluster.sh [proxy|move|all] [ARGS...]
#   proxy [DURATION_S THREADS SEED_EMAILS]   (default 10 4 300)
#   move [N ...]                              (default 10000 100000)
set -eu
cd "$(dirname "$0")/../.."
what=${1:-all}
[ $# -gt 0 ] && shift
OB="--output_base=/root/.cache/bazel-ob-${BAZEL_OB:-bench}"
bazel $OB build --config=opt --jobs=2 --symlink_prefix=/ //service:snipd \
    //clients/snipctl:snipctl //tests/bench:bench_rerank //proto:python_stubs >&2
BIN=$(bazel $OB info --config=opt bazel-bin 2>/dev/null)
echo "# machine: $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); load $(cut -d' ' -f1-3 /proc/loadavg); $(/usr/sbin/haproxy -v | head -1)"
export PYTHONPATH="$BIN/proto"
if [ "$what" = proxy ] || [ "$what" = all ]; then
    /usr/bin/python3 tests/bench/bench_cluster.py "$BIN" proxy "$@"
fi
if [ "$what" = move ] || [ "$what" = all ]; then
    /usr/bin/python3 tests/bench/bench_cluster.py "$BIN" move "$@"
fi
