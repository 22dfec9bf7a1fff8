/* FeedbackCounts (suggest.proto) against FeedbackKind (outcome.proto) and
 * the ranker's table of kinds (ranker/feedback.h): svc_suggest.c fills
 * the counts by field number, so each kind's field must carry the kind's
 * number, be an int64 and be named after it ("thumbs_up_count" for
 * FEEDBACK_KIND_THUMBS_UP), with no field for anything else; and the
 * ranker must know the same kinds by the same numbers. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ranker/feedback.h"
#include "snipwise/v1/outcome.pb-c.h"
#include "snipwise/v1/suggest.pb-c.h"

#define PREFIX "FEEDBACK_KIND_"

static void test_counts_follow_the_kinds(void **state)
{
    const ProtobufCEnumDescriptor *kinds =
        &snipwise__v1__feedback_kind__descriptor;
    const ProtobufCMessageDescriptor *counts =
        &snipwise__v1__feedback_counts__descriptor;
    unsigned i, seen = 0;
    int max = 0;

    (void)state;
    for (i = 0; i < kinds->n_values; i++) {
        const ProtobufCEnumValue *v = &kinds->values[i];
        const ProtobufCFieldDescriptor *f;
        char want[64], said[64];
        size_t j, n;

        if (v->value == 0)
            continue; /* UNSPECIFIED */
        assert_int_equal(strncmp(v->name, PREFIX, strlen(PREFIX)), 0);
        n = strlen(v->name) - strlen(PREFIX);
        assert_true(n + sizeof("_count") < sizeof(want));
        for (j = 0; j < n; j++) {
            char c = v->name[strlen(PREFIX) + j];
            want[j] = (char)tolower((unsigned char)c);
            said[j] = c == '_' ? ' ' : want[j];
        }
        said[n] = '\0';
        snprintf(want + n, sizeof(want) - n, "_count");
        f = protobuf_c_message_descriptor_get_field(counts, (unsigned)v->value);
        assert_non_null(f);
        assert_string_equal(f->name, want);
        assert_int_equal(f->type, PROTOBUF_C_TYPE_INT64);
        assert_int_equal(f->label, PROTOBUF_C_LABEL_NONE);
        /* The ranker's table: the same number, the same name. */
        assert_string_equal(rank_fb_kind_name(v->value), said);
        if (v->value > max)
            max = v->value;
        seen++;
    }
    assert_int_equal(counts->n_fields, seen);
    assert_int_equal(RANK_FB_KINDS, max + 1);
    assert_string_equal(rank_fb_kind_name(0), "");
    assert_string_equal(rank_fb_kind_name(RANK_FB_KINDS), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_follow_the_kinds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
