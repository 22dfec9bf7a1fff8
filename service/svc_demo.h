/* svc_demo: the demo team's bundled sample. On the first start of a data
 * directory (snipd serve --demo 1 --demo-sample 1, the defaults) snipd
 * creates the demo team, marks it as waiting for the sample
 * (DATA_DIR/demo.pending), and, once the server listens and the extraction
 * worker runs, loads the sample into it on a background thread: the team
 * domain and reps, every mail through the ingest pipeline (raw MIME, in
 * time order), every CRM outcome through svc_outcome_store (RecordOutcome's
 * rules), a bounded wait for the team's extraction jobs, and one run of
 * the nightly job (rank_rerank_team) so that a model serves. Then it logs
 * event=snipd.demo_loaded and removes the mark. Every step is idempotent
 * (mail deduplicates by Message-ID, outcomes by idempotency key), so a
 * start that finds the mark (the first start was stopped midway) finishes
 * the load; a start without it does nothing.
 *
 * The sample itself is data (service/demo/: sample.mbox, outcomes.jsonl,
 * team.json, made by tests/sim/make_demo.py) compiled into snipd by
 * service/demo/embed.py as svc_demo_sample. */
#ifndef SVC_DEMO_H
#define SVC_DEMO_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_err.h"
#include "ingest/pipeline.h"
#include "ranker/engine.h"
#include "store/store.h"

/* One mail of the sample: raw MIME at bytes[off, off + len). */
struct svc_demo_mail {
    size_t off;
    size_t len;
};

/* One outcome a CRM recorded: the rep's mail it is about, an OutcomeKind,
 * when it happened, its idempotency key and note. */
struct svc_demo_outcome {
    const char *message_id;
    int kind;
    int64_t occur_ms;
    const char *idempotency_key;
    const char *note;
};

/* A rep of the team. */
struct svc_demo_member {
    const char *email;
    const char *name;
};

/* A sample: the team's mail domain and reps, its mails in time order and
 * its outcomes. Static data; never freed. */
struct svc_demo_data {
    const char *domain;
    const struct svc_demo_member *members;
    size_t n_members;
    const unsigned char *bytes;
    size_t n_bytes;
    const struct svc_demo_mail *mails;
    size_t n_mails;
    const struct svc_demo_outcome *outcomes;
    size_t n_outcomes;
};

/* The bundled sample, generated at build time (only snipd links it). */
extern const struct svc_demo_data svc_demo_sample;

/* The mark file in the data directory: the id of the team still waiting
 * for the sample, one line. snipd's first start writes it (like the key
 * files: to a temporary name, fsynced, renamed) right after it creates the
 * demo team. */
#define SVC_DEMO_PENDING "demo.pending"

struct svc_demo_opts {
    const char *data_dir;
    const struct svc_demo_data *sample;
    store *st;               /* borrowed, as the rest */
    ingest_pipeline *ingest; /* the server's pipeline */
    rank_engine *engine;     /* its store and ranker; marks the rerank run */
    int64_t extract_wait_ms; /* longest wait for extraction; 0 = 600000 */
};

typedef struct svc_demo svc_demo;

/* svc_demo_start looks for DATA_DIR/demo.pending: without it (every start
 * but the first, or --demo-sample 0) *out is NULL and nothing runs. With
 * it, a thread (nice 10) loads o->sample into the team it names, as
 * described above; o and everything it points to must outlive
 * svc_demo_stop. The thread logs snipd.demo_loaded (counts and ms) or
 * snipd.demo_failed; a team that no longer exists drops the mark.
 * Errors: SW_EIO (the mark cannot be read), SW_ENOMEM, SW_EINTERNAL (no
 * thread); the server serves on without the sample. */
SW_MUST_CHECK sw_err svc_demo_start(const struct svc_demo_opts *o,
                                    svc_demo **out);

/* svc_demo_stop cancels a load still running (between two mails or
 * outcomes, in the wait for extraction, or at the nightly job's next
 * phase), joins the thread, frees *d and sets it to NULL; an unfinished
 * load keeps its mark, so the next start finishes it. Call it before the
 * pipeline, the engine or the store close. NULL is accepted. */
void svc_demo_stop(svc_demo **d);

#endif
