#!/bin/sh
# Builds the ingest libFuzzer targets with clang (-fsanitize=fuzzer,address,
# undefined) into $TEST_TMPDIR, seeds each from the shared corpus, and runs
# each for a bounded time. Any crash, leak or sanitizer report fails.
set -eu
SECS=${FUZZ_SECS:-8}
ROOT="$TEST_SRCDIR/snipwise"
CORPUS="$TEST_SRCDIR/corpus"
[ -d "$CORPUS" ] || CORPUS="$ROOT/external/corpus"
OUT="$TEST_TMPDIR/fuzz"
mkdir -p "$OUT/obj"
CC=$(command -v clang || command -v clang-14)
FLAGS="-g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -I$ROOT $(pkg-config --cflags gmime-3.0 poppler-glib libzip libxml-2.0)"
LIBS="$(pkg-config --libs gmime-3.0 poppler-glib libzip libxml-2.0) -lcrypto -lpthread"
objs=""
for f in base/sw_arena.c base/sw_buf.c base/sw_err.c base/sw_log.c base/sw_mem.c base/sw_util.c \
         ingest/doctext.c ingest/html.c ingest/mail.c ingest/ooxml.c ingest/reply.c ingest/utf8.c; do
    o="$OUT/obj/$(echo "$f" | tr / _).o"
    $CC $FLAGS -c "$ROOT/$f" -o "$o" &
    objs="$objs $o"
done
wait
build() { # name source extra-flags
    $CC $FLAGS -fsanitize=fuzzer $3 "$ROOT/tests/fuzz/$2" $objs $LIBS -o "$OUT/$1"
}
build fuzz_mail fuzz_mail.c "" &
build fuzz_reply fuzz_reply.c "" &
wait
for t in pdf docx pptx xlsx html txt; do
    build "fuzz_doc_$t" fuzz_doc.c "-DFUZZ_NAME=\"x.$t\"" &
done
wait

seed() { # dir, then find(1) arguments; copies files under 256 KiB
    d="$OUT/seed_$1"; shift
    mkdir -p "$d"
    find -L "$@" -type f -size -256k -exec cp {} "$d"/ \; 2>/dev/null || true
}
seed mail "$CORPUS/emails" -name '*.eml'
seed mail "$ROOT/tests/fuzz/regress/mail"
seed reply "$CORPUS/reply_bodies"
seed pdf "$CORPUS/attachments/pdf"
seed docx "$CORPUS/attachments/docx"
seed pptx "$CORPUS/attachments/pptx"
seed xlsx "$CORPUS/attachments/xlsx" -name '*.xlsx'
seed html "$CORPUS/attachments/html"
seed txt "$CORPUS/attachments/text"

status=0
run() { # target seed-dir
    mkdir -p "$OUT/work_$1"
    if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        "$OUT/$1" -max_total_time="$SECS" ${FUZZ_RUNS:+-runs=$FUZZ_RUNS} -timeout=10 -rss_limit_mb=2048 \
        -max_len=262144 -print_final_stats=1 -artifact_prefix="$OUT/$1-" \
        "$OUT/work_$1" "$OUT/seed_$2" >"$OUT/$1.log" 2>&1; then
        execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$OUT/$1.log" | grep -o '[0-9]*$' || true)
        [ -n "$execs" ] || execs=$(grep -o 'Done [0-9]* runs' "$OUT/$1.log" | grep -o '[0-9]*')
        echo "fuzz $1: ok, ${execs:-?} runs in ${SECS}s"
    else
        echo "fuzz $1: FAILED"; tail -60 "$OUT/$1.log"
        ls "$OUT" | grep -- "$1-" || true
        status=1
    fi
}
# FUZZ_TARGETS (run_long.sh): a space-separated subset of mail reply pdf
# docx pptx xlsx html txt; all by default.
for t in ${FUZZ_TARGETS:-mail reply pdf docx pptx xlsx html txt}; do
    case $t in
    mail | reply) run "fuzz_$t" "$t" ;;
    *) run "fuzz_doc_$t" "$t" ;;
    esac
done
exit $status
