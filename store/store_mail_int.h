/* store_mail_int.h: helpers shared by store_mail.c and store_mail_check.c:
 * record decoding into the public structs and the index key builders.
 * Private to the store module. */
#ifndef STORE_MAIL_INT_H
#define STORE_MAIL_INT_H

#include "store/mail_records.pb-c.h"
#include "store/store_mail.h"

/* Decoders: fill *out (zeroed first) from a stored value; team_id is
 * copied into out->team_id. Errors: SW_ECORRUPT, SW_ENOMEM. */
SW_MUST_CHECK sw_err store_mail__email_dec(const char *team_id, const void *v,
                                           size_t vl, struct store_email *out);
SW_MUST_CHECK sw_err store_mail__thread_dec(const char *team_id, const void *v,
                                            size_t vl,
                                            struct store_thread *out);
SW_MUST_CHECK sw_err store_mail__content_dec(const char *team_id, const void *v,
                                             size_t vl, int with_text,
                                             struct store_content *out);

/* Key builders: reset b and write the full key. */
SW_MUST_CHECK sw_err store_mail__id_key(struct sw_buf *b, const char *team_id,
                                        const char *id);
SW_MUST_CHECK sw_err store_mail__seq_key(struct sw_buf *b, const char *team_id,
                                         uint64_t seq);
SW_MUST_CHECK sw_err store_mail__recent_key(struct sw_buf *b,
                                            const char *team_id, int64_t ms,
                                            const char *id);
SW_MUST_CHECK sw_err store_mail__subj_key(struct sw_buf *b, const char *team_id,
                                          const char *subject_key,
                                          const char *thread_id);
SW_MUST_CHECK sw_err store_mail__hash_key(struct sw_buf *b, const char *team_id,
                                          char which,
                                          const unsigned char sha[32]);
SW_MUST_CHECK sw_err store_mail__use_key(struct sw_buf *b, const char *team_id,
                                         const char *content_id,
                                         const char *email_id);

/* store_mail__thread_del deletes thread th's record and its recency and
 * subject index entries (th as read, team_id set), in write transaction
 * t: a merged-away thread, or one whose last email was erased.
 * Errors: SW_EINVAL, SW_ENOMEM, SW_ENOTFOUND, SW_ETOOBIG, SW_ESTORE. */
SW_MUST_CHECK sw_err store_mail__thread_del(store_txn *t,
                                            const struct store_thread *th);

#endif
