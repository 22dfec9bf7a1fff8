#!/bin/sh
# Runs the end-to-end tests with Debian's python3 and pytest against the
# snipd, snipctl and Python stubs in this test's runfiles. Arguments are
# test files of this directory (default: all of them). pytest writes
# nothing into the source tree: no cache, no bytecode, temp under
# $TEST_TMPDIR, and a JUnit report where Bazel wants one.
set -eu
R="${TEST_SRCDIR:?run me with bazel test}/snipwise"
DIR="$R/tests/e2e"
export SNIPD="$R/service/snipd"
export SNIPCTL="$R/clients/snipctl/snipctl"
export PYTHONPATH="$R/proto:$DIR"
export PYTHONDONTWRITEBYTECODE=1
# snipd inherits this environment, ASAN_OPTIONS and UBSAN_OPTIONS included.
# From the test directory, pytest names tests "test_x.py::test_y".
cd "$DIR"
exec /usr/bin/python3 -B -m pytest -q -p no:cacheprovider \
    -c "$DIR/pytest.ini" --rootdir "$DIR" \
    --basetemp "$TEST_TMPDIR/pytest" \
    ${XML_OUTPUT_FILE:+--junitxml="$XML_OUTPUT_FILE"} \
    -o junit_family=xunit1 -rsxXfE \
    "$@"
