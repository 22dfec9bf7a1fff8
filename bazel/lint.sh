#!/bin/sh
# The style check (STYLE.md): banned libc calls, files past 1,500 lines, and
# clang-format drift. Runs as `bazel test //bazel:lint` over //:all_sources.
set -u
status=0
# Lint the real source tree: follow this script's runfile link back to it.
# (Bazel globs stop at package boundaries, so a filegroup cannot list every
# source; the test is tagged "external" so it is never cached.)
root=$(dirname "$(dirname "$(readlink -f "$0")")")
cd "$root" || exit 1
files=$(find base store service clients ingest llm ranker proto tests \
    \( -name '*.c' -o -name '*.h' -o -name '*.cc' \) 2>/dev/null |
    grep -v '\.pb-c\.' | sort)
[ -n "$files" ] || { echo "lint: no sources found" >&2; exit 1; }

banned='\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|atof|sscanf)[[:space:]]*\('
for f in $files; do
    case "$f" in tests/fuzz/*) continue ;; esac
    if grep -nE "$banned" "$f" >/tmp/lint.$$ 2>/dev/null; then
        sed "s|^|$f:|" /tmp/lint.$$ >&2
        echo "lint: $f uses a banned call (STYLE.md: use sw_buf and sw_parse_*)" >&2
        status=1
    fi
    n=$(wc -l <"$f")
    if [ "$n" -gt 1500 ]; then
        echo "lint: $f has $n lines; split it by concept (limit 1500)" >&2
        status=1
    fi
done
rm -f /tmp/lint.$$

fmt=$(command -v clang-format || command -v clang-format-14 || true)
if [ -z "$fmt" ]; then
    echo "lint: clang-format is not installed (bazel/install_deps.sh installs it)" >&2
    exit 1
fi
for f in $files; do
    if ! "$fmt" --style=file --dry-run -Werror "$f" >/dev/null 2>/tmp/lint.$$; then
        head -20 /tmp/lint.$$ >&2
        echo "lint: $f is not clang-formatted (run: clang-format -i $f)" >&2
        status=1
    fi
done
rm -f /tmp/lint.$$
exit $status
