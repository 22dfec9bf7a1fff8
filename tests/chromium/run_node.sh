#!/bin/sh
# Runs the extension's logic tests with Node's built-in test runner
# (Debian's nodejs; no npm packages) on the files in this test's runfiles.
set -eu
R="${TEST_SRCDIR:?run me with bazel test}/snipwise"
cd "$R"
exec /usr/bin/node --test --test-reporter=tap "$@"
