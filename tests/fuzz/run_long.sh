#!/bin/sh
# Long fuzzing runs, outside the suite (issue 20): builds the libFuzzer
# targets as fuzz_test.sh does and runs the chosen ones for SECONDS each,
# one after another, printing each one's executions and any crash (its
# input is kept in the work directory).
# Usage: tests/fuzz/run_long.sh SECONDS [mail reply pdf docx pptx xlsx html txt
#        label query outbound]
# RUNS=N also stops each target after N executions (e.g. 10000000).
# WORK=DIR keeps the work directory (default: a new temporary one).
set -eu
cd "$(dirname "$0")/../.."
SECS=${1:?usage: run_long.sh SECONDS [targets...]}
shift
root=$(pwd)
work=${WORK:-$(mktemp -d)}
mkdir -p "$work/src" "$work/tmp"
ln -sfn "$root" "$work/src/snipwise"
ln -sfn "$root/tests/corpus" "$work/src/corpus"
echo "# machine: $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); work in $work"
TEST_SRCDIR="$work/src" TEST_TMPDIR="$work/tmp" FUZZ_SECS="$SECS" FUZZ_RUNS="${RUNS:-}" \
    FUZZ_TARGETS="${*:-mail reply pdf docx pptx xlsx html txt label query outbound}" \
    sh tests/fuzz/fuzz_test.sh
