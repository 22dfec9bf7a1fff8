#!/bin/sh
# The public API's contract checks, as `bazel test //proto:api_lint`:
#   buf lint       the naming and shape rules of proto/buf.yaml (buf's
#                  STANDARD set, minus what the AIPs we follow contradict);
#   buf breaking   no wire- or source-breaking change (buf's FILE rules)
#                  since the previous commit and since the commit in
#                  proto/API_BASELINE. A deliberate break
#                  means a new major version (snipwise.v2), not an edit here;
#                  move the baseline only when a release is cut.
# buf comes from the npm registry, pinned by tools/npm/package-lock.json and
# installed by bazel/install_deps.sh.
set -u
# Check the real source tree and its git history: follow this script's
# runfile link back to it (as bazel/lint.sh does).
root=$(dirname "$(dirname "$(readlink -f "$0")")")
cd "$root/proto" || exit 1
buf="$root/tools/npm/node_modules/.bin/buf"
if [ ! -x "$buf" ]; then
    echo "api_lint: $buf is missing; run bazel/install_deps.sh" >&2
    exit 1
fi
export BUF_CACHE_DIR="${TEST_TMPDIR:-${TMPDIR:-/tmp}}/buf-cache"
status=0
if ! "$buf" lint; then
    echo "api_lint: buf lint failed (rules: proto/buf.yaml)" >&2
    status=1
fi
base=$(cat API_BASELINE)
if ! git -C "$root" cat-file -e "$base^{commit}" 2>/dev/null; then
    echo "api_lint: the baseline commit $base (proto/API_BASELINE) is not in" \
        "this clone's history" >&2
    exit 1
fi
# The vendored upstream files are excluded as in buf.yaml (the baseline
# commit may predate that file, so the exclusions are given here too).
if ! "$buf" breaking --against "$root/.git#ref=$base,subdir=proto" \
    --exclude-path google --exclude-path grpc; then
    echo "api_lint: a breaking change since $base (proto/API_BASELINE)" >&2
    status=1
fi
# And against the previous commit's protos (issue 18): the working tree
# against HEAD while proto/ has changes not yet committed, else HEAD
# against its parent. A root commit has no parent to compare with.
if [ -n "$(git -C "$root" status --porcelain -- proto)" ]; then
    prev=HEAD
else
    prev=HEAD~1
fi
if git -C "$root" rev-parse -q --verify "$prev^{commit}" >/dev/null; then
    if ! "$buf" breaking --against "$root/.git#ref=$(git -C "$root" rev-parse "$prev"),subdir=proto" \
        --exclude-path google --exclude-path grpc; then
        echo "api_lint: a breaking change since $prev" >&2
        status=1
    fi
fi
[ "$status" -eq 0 ] && echo "api_lint: PASS (lint; no breaking change since $base nor $prev)"
exit "$status"
