#!/bin/sh
# Mailbox sync against Python's imaplib on one local Dovecot (issue 16):
# N messages backfilled by snipd and fetched by imaplib in the same run,
# messages/s each, and while snipd waits in IDLE the delays p50/p99 from
# APPEND to ingested (GetEmail) and to the mail's snippet searchable
# (SearchSnippets) (bench_mailbox.py). JSON on stdout.
# Usage: tests/bench/run_mailbox.sh [N] [K]   (default 10000 messages, 50)
# BENCH_OPT=0 uses the fastbuild binary (no separate opt build).
set -eu
cd "$(dirname "$0")/../.."
N=${1:-10000}
K=${2:-50}
if [ "${BENCH_OPT:-1}" = 1 ]; then
    OB="--output_base=/root/.cache/bazel-ob-${BAZEL_OB:-bench}"
    bazel $OB build --config=opt --jobs=2 --symlink_prefix=/ //service:snipd \
        //proto:python_stubs >&2
    BIN=$(bazel $OB info --config=opt bazel-bin 2>/dev/null)
else
    bazel build //service:snipd //proto:python_stubs >&2
    BIN=$(bazel info bazel-bin 2>/dev/null)
fi
echo "# machine: $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)"
PYTHONPATH="$BIN/proto" /usr/bin/python3 tests/bench/bench_mailbox.py \
    "$BIN/service/snipd" "$N" "$K"
