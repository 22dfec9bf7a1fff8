/* seed_mail: one email written straight into a store with store_email_put,
 * for the store tests that need mail without the ingest pipeline
 * (store_erase_fault_test, store_move_test). The email belongs to thread
 * th_0000000000000001, its subject is "Deck", its rep is rep (a member of
 * team in the caller's store), and it carries content c when not NULL. */
#ifndef TESTS_STORE_SEED_MAIL_H
#define TESTS_STORE_SEED_MAIL_H

#include <string.h>

#include "base/sw_buf.h"
#include "store/store_mail.h"

static inline SW_MUST_CHECK sw_err seed_email(store_txn *t, const char *team,
                                              const char *rep, const char *eid,
                                              const char *msgid,
                                              const char *from, const char *to,
                                              int dir,
                                              struct store_email_content *c)
{
    struct store_addr rcpt = {"", (char *)to};
    struct store_email e;
    struct sw_buf k;
    sw_err rc;

    memset(&e, 0, sizeof(e));
    sw_buf_init(&k, 1024);
    e.email_id = (char *)eid;
    e.team_id = (char *)team;
    e.thread_id = "th_0000000000000001";
    e.message_id = (char *)msgid;
    e.direction = dir;
    e.from_email = (char *)from;
    e.rep_email = (char *)rep;
    e.subject = "Deck";
    e.to = &rcpt;
    e.n_to = 1;
    e.sent_ms = dir == STORE_DIR_OUTBOUND ? 1000 : 2000;
    e.body_text = e.new_text = "words of the mail";
    e.contents = c;
    e.n_contents = c ? 1 : 0;
    rc = store_mail_msgid_key(&k, msgid);
    if (rc == SW_OK)
        rc = store_email_put(t, &e, sw_buf_str(&k), sw_buf_len(&k));
    sw_buf_free(&k);
    return rc;
}

#endif
