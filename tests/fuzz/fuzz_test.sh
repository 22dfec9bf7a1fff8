#!/bin/sh
# Builds the libFuzzer targets (ingest's parsers, the builtin LLM extractor)
# with clang (-fsanitize=fuzzer,address,undefined) into $TEST_TMPDIR, seeds
# each from the shared corpus, tests/fuzz/seeds/ and tests/fuzz/regress/,
# and runs each for a bounded time. Any crash, leak, sanitizer report or
# broken contract (the llm targets trap on one) fails.
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
for f in base/sw_arena.c base/sw_buf.c base/sw_err.c base/sw_log.c base/sw_mem.c base/sw_utf8.c base/sw_util.c \
         ingest/doctext.c ingest/html.c ingest/mail.c ingest/ooxml.c ingest/reply.c ingest/utf8.c; do
    o="$OUT/obj/$(echo "$f" | tr / _).o"
    $CC $FLAGS -c "$ROOT/$f" -o "$o" &
    objs="$objs $o"
done
# The builtin extractor. llm/text.c is built without comparison tracing:
# the labeller runs llm_text_icontains for each lexicon phrase over each
# sentence, and tracing its byte compares made the target five times
# slower; the phrases reach the fuzzer through the dictionary instead.
llm_objs=""
for f in llm/builtin.c llm/lexicon.c llm/provider.c llm/schema.c llm/schemas.c llm/text.c; do
    o="$OUT/obj/$(echo "$f" | tr / _).o"
    extra=""
    [ "$f" = llm/text.c ] && extra="-fno-sanitize-coverage=trace-cmp"
    $CC $FLAGS $extra -c "$ROOT/$f" -o "$o" &
    llm_objs="$llm_objs $o"
done
wait
build() { # name source extra-flags
    $CC $FLAGS -fsanitize=fuzzer $3 "$ROOT/tests/fuzz/$2" $objs $LIBS -o "$OUT/$1"
}
build_llm() { # name source
    $CC $FLAGS -fsanitize=fuzzer "$ROOT/tests/fuzz/$2" $llm_objs $objs \
        $(pkg-config --libs jansson) $LIBS -lm -o "$OUT/$1"
}
build fuzz_mail fuzz_mail.c "" &
build fuzz_reply fuzz_reply.c "" &
wait
build_llm fuzz_label fuzz_label.c &
build_llm fuzz_query fuzz_query.c &
wait
build_llm fuzz_outbound fuzz_outbound.c
# A dictionary for the llm targets: the lexicon's phrases (llm/lexicon.c's
# string literals, a trailing '*' dropped, bytes past ASCII as \xNN), and
# what the sentence splitter and the labeller treat specially: U+00A0,
# U+2019, the bullet U+2022, signature lines, blank lines.
{
    perl -ne 'while (/"([^"]*)"/g) { my $w = $1; $w =~ s/\*$//; next if $w eq "";
        $w =~ s/([^\x20-\x7e])/sprintf("\\x%02X", ord $1)/ge; print "\"$w\"\n" }' \
        "$ROOT/llm/lexicon.c"
    printf '%s\n' '"\xC2\xA0"' '"\xE2\x80\x99"' '"\xE2\x80\xA2 "' '"\x0A--"' \
        '"\x0A-- \x0A"' '"\x0A---\x0A"' '"\x0A\x0A"' '"\x0A- "'
} | sort -u >"$OUT/llm.dict"
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
seed label "$CORPUS/reply_bodies"
seed label "$ROOT/tests/fuzz/seeds/label"
seed label "$ROOT/tests/fuzz/regress/label"
seed query "$CORPUS/reply_bodies"
seed query "$ROOT/tests/fuzz/seeds/label"
seed query "$ROOT/tests/fuzz/regress/query"
seed outbound "$ROOT/tests/fuzz/seeds/outbound"
seed outbound "$ROOT/tests/fuzz/regress/outbound"

status=0
run() { # target seed-dir [libFuzzer options]
    t=$1 s=$2
    shift 2
    mkdir -p "$OUT/work_$t"
    if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        "$OUT/$t" -max_total_time="$SECS" ${FUZZ_RUNS:+-runs=$FUZZ_RUNS} -timeout=10 -rss_limit_mb=2048 \
        -max_len=262144 -print_final_stats=1 -artifact_prefix="$OUT/$t-" "$@" \
        "$OUT/work_$t" "$OUT/seed_$s" >"$OUT/$t.log" 2>&1; then
        execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$OUT/$t.log" | grep -o '[0-9]*$' || true)
        [ -n "$execs" ] || execs=$(grep -o 'Done [0-9]* runs' "$OUT/$t.log" | grep -o '[0-9]*')
        echo "fuzz $t: ok, ${execs:-?} runs in ${SECS}s"
    else
        echo "fuzz $t: FAILED"; tail -60 "$OUT/$t.log"
        ls "$OUT" | grep -- "$t-" || true
        status=1
    fi
}
# FUZZ_TARGETS (run_long.sh): a space-separated subset of mail reply pdf
# docx pptx xlsx html txt label query outbound; all by default. The llm
# targets read text the size of a mail (16 KiB holds a 1,000-byte sentence
# and the labeller's 2,000-sentence cap): the labeller's cost grows with
# the text, and at 256 KiB most of the hour went to a few long inputs.
for target in ${FUZZ_TARGETS:-mail reply pdf docx pptx xlsx html txt label query outbound}; do
    case $target in
    mail | reply) run "fuzz_$target" "$target" ;;
    label | query | outbound)
        run "fuzz_$target" "$target" -dict="$OUT/llm.dict" -max_len=16384 ;;
    *) run "fuzz_doc_$target" "$target" ;;
    esac
done
exit $status
