/* The mailbox tables (store_mailbox.h, proto/msg_table.h): checked against
 * the records and the API, a bad row refused, and a struct that goes to
 * its record, through the wire and back comes back whole. */
#include "tests/testutil.h"

#include <string.h>

#include "base/sw_mem.h"
#include "proto/msg_table.h"
#include "snipwise/v1/mailbox.pb-c.h"
#include "store/mailbox_records.pb-c.h"
#include "store/store_mailbox.h"

static void test_tables_fit_both_sides(void **state)
{
    (void)state;
    ASSERT_OK(
        store_mailbox_tables_check(&snipwise__v1__mailbox__descriptor,
                                   &snipwise__v1__mailbox_folder__descriptor));
    ASSERT_OK(store_mailbox_tables_check(NULL, NULL));
}

static void test_bad_rows_refused(void **state)
{
    /* A kind the field cannot hold, a field that does not exist, and a
     * repeated field read as one string. */
    const struct msg_tfield wrong_kind[] = {
        MSG_TF(struct store_mailbox, port, MSG_T_I64, "port", NULL)};
    const struct msg_tfield no_field[] = {
        MSG_TF(struct store_mailbox, host, MSG_T_STR, "hostname", NULL)};
    const struct msg_tfield not_repeated[] = {
        MSG_TF(struct store_mailbox, host, MSG_T_STR, "folders", NULL)};
    const ProtobufCMessageDescriptor *d =
        &snipwise__store__mailbox_record__descriptor;

    (void)state;
    ASSERT_ERR(msg_table_check(wrong_kind, 1, d, MSG_TABLE_REC), SW_EINTERNAL);
    ASSERT_ERR(msg_table_check(no_field, 1, d, MSG_TABLE_REC), SW_EINTERNAL);
    ASSERT_ERR(msg_table_check(not_repeated, 1, d, MSG_TABLE_REC),
               SW_EINTERNAL);
    /* A row without a name on a side is not looked for there. */
    ASSERT_OK(msg_table_check(no_field, 1, d, MSG_TABLE_API));
}

static void test_round_trip_through_the_wire(void **state)
{
    char *folders[] = {"INBOX", "Sent Items"};
    unsigned char secret[] = {1, 2, 0, 3};
    struct store_mailbox in, out;
    Snipwise__Store__MailboxRecord r;
    ProtobufCMessage *back;
    uint8_t buf[4096];
    size_t n;

    (void)state;
    memset(&in, 0, sizeof(in));
    in.mailbox_id = "mbx_1";
    in.rep_email = "rep@a.example";
    in.host = "imap.a.example";
    in.port = 993;
    in.tls_mode = 1;
    in.username = "rep";
    in.auth_kind = 2;
    in.secret_box = secret;
    in.secret_len = sizeof(secret);
    in.folders = folders;
    in.n_folders = 2;
    in.paused = 1;
    in.create_ms = 1700000000123;
    in.cred_gen = 7;
    in.sync_req = 9;
    in.state = 5;
    in.last_sync_ms = -1;
    in.last_error = "LOGIN rejected";
    in.auth_failed_gen = 7;
    in.backfill_days = -1;
    in.tls_ca_pem = "PEM";
    snipwise__store__mailbox_record__init(&r);
    ASSERT_OK(msg_table_to(store_mailbox_table, store_mailbox_table_n,
                           MSG_TABLE_REC, &in, &r.base, NULL));
    n = protobuf_c_message_get_packed_size(&r.base);
    assert_true(n <= sizeof(buf));
    protobuf_c_message_pack(&r.base, buf);
    back = protobuf_c_message_unpack(
        &snipwise__store__mailbox_record__descriptor, NULL, n, buf);
    assert_non_null(back);
    memset(&out, 0, sizeof(out));
    ASSERT_OK(msg_table_from(store_mailbox_table, store_mailbox_table_n,
                             MSG_TABLE_REC, back, &out));
    protobuf_c_message_free_unpacked(back, NULL);
    assert_string_equal(out.mailbox_id, "mbx_1");
    assert_string_equal(out.host, "imap.a.example");
    assert_string_equal(out.folders[1], "Sent Items");
    ASSERT_EQ(out.n_folders, 2);
    ASSERT_EQ(out.secret_len, sizeof(secret));
    assert_memory_equal(out.secret_box, secret, sizeof(secret));
    ASSERT_EQ(out.port, 993);
    ASSERT_EQ(out.paused, 1);
    ASSERT_EQ(out.create_ms, 1700000000123);
    ASSERT_EQ(out.cred_gen, 7);
    ASSERT_EQ(out.sync_req, 9);
    ASSERT_EQ(out.state, 5);
    ASSERT_EQ(out.last_sync_ms, -1);
    ASSERT_EQ(out.backfill_days, -1);
    assert_string_equal(out.tls_ca_pem, "PEM");
    assert_null(out.team_id);  /* not a row: the caller's */
    store_mailbox_clear(&out); /* frees every row (ASan checks) */
    assert_null(out.host);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables_fit_both_sides),
        cmocka_unit_test(test_bad_rows_refused),
        cmocka_unit_test(test_round_trip_through_the_wire),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
