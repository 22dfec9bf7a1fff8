#!/bin/sh
# Runs the real-Thunderbird test with Debian's python3 and pytest, reusing
# the end-to-end harness of tests/e2e (e2e_lib.py).
set -eu
R="${TEST_SRCDIR:?run me with bazel test}/snipwise"
DIR="$R/tests/thunderbird_real"
export SNIPD="$R/service/snipd"
export SNIPWISE_NM="$R/clients/nm/snipwise-nm"
export PYTHONPATH="$R/proto:$DIR:$R/tests/e2e"
export PYTHONDONTWRITEBYTECODE=1
cd "$DIR"
exec /usr/bin/python3 -B -m pytest -q -p no:cacheprovider \
    -c "$R/tests/e2e/pytest.ini" --rootdir "$DIR" \
    --basetemp "$TEST_TMPDIR/pytest" \
    ${XML_OUTPUT_FILE:+--junitxml="$XML_OUTPUT_FILE"} \
    -o junit_family=xunit1 -rxXfE \
    "$@"
