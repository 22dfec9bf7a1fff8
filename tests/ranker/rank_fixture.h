/* rank_fixture: a store of one team's history for the ranker's tests:
 * a temporary store with TEAM's record (fx_setup/fx_teardown, cmocka
 * setup and teardown), threads with framings and outcomes (fx_thread),
 * and fx_fill's history: LUCKY (2 threads, both positive), SOLID (200,
 * 160 positive), WEAK (200, 40 positive), an email with two framings
 * and a meeting (SPLIT_A, SPLIT_B), a bare introduction beside a framing
 * (BARE, ALONE) and a cold thread the prospect answers (COLD_REPLY);
 * and a build hook that holds a started engine's full builds (hold_*). */
#ifndef TESTS_RANK_FIXTURE_H
#define TESTS_RANK_FIXTURE_H

#include <pthread.h>
#include <stdint.h>

#include "base/sw_err.h"
#include "ranker/engine.h"
#include "ranker/hist.h"
#include "store/store.h"
#include "tests/testutil.h"

#define TEAM "team_0000000000000001"
#define DAYMS (86400LL * 1000)

struct fixture {
    char dir[TEST_PATH_MAX];
    store *s;
};

/* put_team writes a team's record (team: its id). */
sw_err put_team(store_txn *t, void *team);
int fx_setup(void **state);
int fx_teardown(void **state);

/* One thread: an outbound email by rep with the given framings (family
 * texts), sent at day, and outcomes (kind, days after the mail). */
struct tspec {
    int n;
    const char *rep;
    const char *frames[2];
    int64_t day;
    int kinds[3];
    int64_t after[3];
    const char *ctx; /* the email's text; NULL: a manufacturing company */
    const char *to;  /* its one recipient; NULL: none */
};

/* One email of thread tid, sent at ms; to (may be NULL) its one
 * recipient, subject (NULL: empty) its subject. */
struct fx_mail {
    const char *eid, *tid, *mid;
    int direction; /* STORE_DIR_* */
    const char *from, *rep, *to, *subject, *text;
    int64_t ms;
};

/* fx_email_full writes m's email with its Message-ID key. */
sw_err fx_email_full(store_txn *t, const struct fx_mail *m);
/* fx_email writes one email of thread tid, with its Message-ID key,
 * sent on day, to no one and without a subject. */
sw_err fx_email(store_txn *t, const char *eid, const char *tid, const char *mid,
                int direction, const char *from, const char *rep,
                const char *text, int64_t day);
/* fx_thread writes thread sp->n: its email, framing snippets
 * ("snip_<n 8 hex><i 8 hex>") and outcomes. */
sw_err fx_thread(store_txn *t, const struct tspec *sp);
/* fx_reply writes an inbound reply in thread n of fx_thread, on day. */
sw_err fx_reply(store_txn *t, int n, const char *text, int64_t day);
/* fx_fill writes the history described above (a store_update callback). */
sw_err fx_fill(store_txn *t, void *arg);

extern const char *const LUCKY,
    *const SOLID, *const WEAK, *const SPLIT_A, *const BARE,
                                                   *const ALONE,
                                                       *const COLD_REPLY,
                                                           *const SPLIT_B;

struct hist_arg {
    struct rank_hist *h;
};

/* fx_build (a store_view callback) builds TEAM's history into a
 * struct hist_arg, freeing the one it held. */
sw_err fx_build(store_txn *t, void *arg);
/* fx_item finds the framing family titled text; fails the test if
 * none. */
const struct rank_hitem *fx_item(const struct rank_hist *h, const char *text);

/* fx_hist_same fails the test unless a and b hold the same statistics:
 * every count equal, every value equal to rounding. */
void fx_hist_same(const struct rank_hist *a, const struct rank_hist *b);

/* fx_outcome records an outcome of kind on day (and at that time) in the
 * thread of id "th_" + n in 16 hex digits, with idempotency key key. */
sw_err fx_outcome(store_txn *t, int n, int kind, int64_t day, const char *key);

/* fx_thread_outcomes reads how many outcomes e's statistics (what
 * Suggest reads) give thread n of fx_thread; -1 when they do not know
 * it. */
int64_t fx_thread_outcomes(rank_engine *e, int n);

/* The build hook (rank_engine_set_build_hook) that holds a started
 * engine's full builds while armed: hold_hook is the hook, with a struct
 * hold (mu and cond initialised by the test) as its argument. */
struct hold {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int armed, entered, released;
};

void hold_hook(void *arg, const char *team);
/* hold_wait waits (bounded: 30 s, a failure, not a timing) until *flag
 * (h->entered: a build is held); returns *flag. */
int hold_wait(struct hold *h, const int *flag);
/* hold_release lets the held build (and any later one) go. */
void hold_release(struct hold *h);
/* hold_arm makes the publisher's next build wait in the hook. */
void hold_arm(struct hold *h);

#endif
