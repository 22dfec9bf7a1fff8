#!/bin/sh
# `bazel coverage` is not supported offline; use `--config=gcov` instead.
echo "coverage reports need --config=gcov (see docs/OPERATIONS.md)" >&2
exit 1
