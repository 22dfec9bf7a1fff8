#!/bin/sh
# Runs the Chromium extension's browser tests with Debian's python3 and
# pytest, reusing the harnesses of tests/e2e and tests/nm.
set -eu
R="${TEST_SRCDIR:?run me with bazel test}/snipwise"
DIR="$R/tests/chromium"
export SNIPD="$R/service/snipd"
export SNIPCTL="$R/clients/snipctl/snipctl"
export SNIPWISE_NM="$R/clients/nm/snipwise-nm"
export PYTHONPATH="$R/proto:$DIR:$R/tests/nm:$R/tests/e2e"
export PYTHONDONTWRITEBYTECODE=1
cd "$DIR"
exec /usr/bin/python3 -B -m pytest -q -p no:cacheprovider \
    -c "$R/tests/e2e/pytest.ini" --rootdir "$DIR" \
    --basetemp "$TEST_TMPDIR/pytest" \
    ${XML_OUTPUT_FILE:+--junitxml="$XML_OUTPUT_FILE"} \
    -o junit_family=xunit1 -rxXfE \
    "$@"
