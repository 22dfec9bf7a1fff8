#!/bin/sh
# Bazel entry of the simulator's tests. `unit` runs the pytest unit tests
# (world model, mail, metrics, driver against a fake server, the demo
# sample's generator); `tiny` runs
# tests/sim/scenarios/tiny.json twice for all arms against real snipd
# processes and checks the reports (check_reports.py); `margin` runs
# tests/sim/scenarios/margin.json for the outcome arm and the two baselines
# and checks that outcome-aware ranking wins by a wide margin
# (check_margin.py).
set -eu
R="${TEST_SRCDIR:?run me with bazel test}/snipwise"
DIR="$R/tests/sim"
export SNIPD="$R/service/snipd"
export PYTHONPATH="$R/proto:$DIR"
export PYTHONDONTWRITEBYTECODE=1
cd "$TEST_TMPDIR"
case "${1:-}" in
unit)
    exec /usr/bin/python3 -B -m pytest -q -p no:cacheprovider \
        -c "$DIR/pytest.ini" --rootdir "$DIR" \
        --basetemp "$TEST_TMPDIR/pytest" \
        ${XML_OUTPUT_FILE:+--junitxml="$XML_OUTPUT_FILE"} \
        -o junit_family=xunit1 -rxXfEs \
        "$DIR/test_metrics.py" "$DIR/test_world.py" "$DIR/test_mailgen.py" \
        "$DIR/test_driver.py" "$DIR/test_make_demo.py"
    ;;
tiny)
    for i in 1 2; do
        /usr/bin/python3 -B "$DIR/run.py" "$DIR/scenarios/tiny.json" \
            --out "$TEST_TMPDIR/run$i" --snipd "$SNIPD" \
            --workdir "$TEST_TMPDIR/work$i"
    done
    exec /usr/bin/python3 -B "$DIR/check_reports.py" \
        "$TEST_TMPDIR/run1" "$TEST_TMPDIR/run2"
    ;;
margin)
    /usr/bin/python3 -B "$DIR/run.py" "$DIR/scenarios/margin.json" \
        --arms outcome,popularity,similarity \
        --out "$TEST_TMPDIR/margin" --snipd "$SNIPD" \
        --workdir "$TEST_TMPDIR/margin-work"
    exec /usr/bin/python3 -B "$DIR/check_margin.py" "$TEST_TMPDIR/margin"
    ;;
*)
    echo "usage: run_tests.sh unit|tiny|margin" >&2
    exit 2
    ;;
esac
