/* bench_mixed: the mixed load of issue 14 from a C client. GetMyTeam's
 * latency idle and then while 50 clients of five teams load one snipd, in
 * one run: 20 IngestEmails streams sending a mail every 20 ms, 20 Suggest
 * loops and 10 readers (ListThreads), as bench_mixed.py does. A prober in
 * a process of its own (this binary with --probe; its own channel and
 * connection) calls GetMyTeam of a sixth team every 10 ms.
 *
 * Why a C generator beside the Python one: on a 2-core machine the load
 * generator shares the server's CPUs. Python's client spends about as much
 * CPU per call as snipd does, so its 50 threads hold back both the server
 * (which then never saturates) and the prober. gRPC core's C client costs
 * a fraction of that, so the server's CPUs go to the server.
 *
 * The load's threads run at nice MIXED_LOAD_NICE (default 10), the prober
 * at the caller's priority. With SNIPD_PID, the server's CPU use over the
 * measured part of the loaded phase is reported (cores used).
 *
 * usage: bench_mixed ADDR ADMIN_KEY [SECONDS]
 *        bench_mixed --probe ADDR KEY MS DELAY_MS   (internal)
 * One JSON line on stdout; exit status 1 on any error of the load or a
 * failed probe. */
#include <grpc/grpc.h>
#include <grpc/status.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/sw_arena.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "clients/snipc.h"
#include "snipwise/v1/admin.pb-c.h"
#include "snipwise/v1/ingest.pb-c.h"
#include "snipwise/v1/suggest.pb-c.h"
#include "snipwise/v1/team.pb-c.h"

extern char **environ;

#define MIX_TEAMS 6 /* five loaded, the sixth probed */
#define MIX_STREAMS 20
#define MIX_SUGGESTERS 20
#define MIX_READERS 10
#define MIX_PROBE_PERIOD_US 10000
#define MIX_SEND_PERIOD_US 20000
#define MIX_SETTLE_MS 3000
#define MIX_MAX_PROBES 1000000

static int64_t mix_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void mix_sleep_us(int64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* mix_open: a channel; calls on it have 600 s (an ingest stream lasts the
 * whole loaded phase). */
static snipc *mix_open(const char *addr, const char *key)
{
    struct snipc_opts o;
    snipc *c = NULL;

    memset(&o, 0, sizeof(o));
    o.addr = addr;
    o.key = key;
    o.timeout_ms = 600000;
    return snipc_open(&o, &c) == SW_OK ? c : NULL;
}

/* --- The prober (a process of its own) ---------------------------------- */

/* mix_probe_main: after delay_ms, GetMyTeam every 10 ms for ms; one
 * line per call on stdout: the latency in µs, or -1 for a failure. */
static int mix_probe_main(const char *addr, const char *key, int ms,
                          int delay_ms)
{
    Snipwise__V1__GetMyTeamRequest req =
        SNIPWISE__V1__GET_MY_TEAM_REQUEST__INIT;
    snipc *c;
    int64_t end;
    int fails = 0;

    mix_sleep_us((int64_t)delay_ms * 1000);
    if (getenv("MIXED_PROBE_RT")) {
        struct sched_param sp = {.sched_priority = 1};
        if (sched_setscheduler(0, SCHED_RR, &sp) != 0)
            fprintf(stderr, "bench_mixed: the prober stays at its priority\n");
    }
    grpc_init();
    c = mix_open(addr, key);
    if (c == NULL)
        return 1;
    end = mix_now_us() + (int64_t)ms * 1000;
    for (int i = -1; mix_now_us() < end && i < MIX_MAX_PROBES; i++) {
        struct sw_arena a;
        struct snipc_status st;
        ProtobufCMessage *resp = NULL;
        int64_t t0 = mix_now_us();
        sw_arena_init(&a, 0);
        int ok = snipc_unary(c, "/snipwise.v1.TeamService/GetMyTeam", &req.base,
                             &snipwise__v1__team__descriptor, &a, &resp,
                             &st) == SW_OK &&
                 st.code == GRPC_STATUS_OK;
        int64_t dt = mix_now_us() - t0;
        sw_arena_free(&a);
        if (i >= 0) /* the first call connects: not measured */
            printf("%lld\n", ok ? (long long)dt : -1LL);
        fails += !ok;
        mix_sleep_us(MIX_PROBE_PERIOD_US);
    }
    snipc_close(&c);
    grpc_shutdown();
    return fails ? 1 : 0;
}

struct mix_probe {
    pid_t pid;
    FILE *out;
};

/* mix_probe_start runs this binary as a prober, its stdout on a pipe. */
static int mix_probe_start(const char *addr, const char *key, int ms,
                           int delay_ms, struct mix_probe *p)
{
    char secs[32], delay[32];
    char *argv[] = {"bench_mixed", "--probe", (char *)addr, (char *)key,
                    secs,          delay,     NULL};
    posix_spawn_file_actions_t fa;
    int fd[2];

    snprintf(secs, sizeof(secs), "%d", ms);
    snprintf(delay, sizeof(delay), "%d", delay_ms);
    if (pipe(fd) != 0)
        return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    posix_spawn_file_actions_addclose(&fa, fd[1]);
    int rc = posix_spawn(&p->pid, "/proc/self/exe", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    if (rc != 0) {
        close(fd[0]);
        return -1;
    }
    p->out = fdopen(fd[0], "r");
    return p->out ? 0 : -1;
}

struct mix_lat {
    int64_t *us; /* successful calls */
    size_t n, cap;
    int failed;
};

static int mix_i64_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* mix_probe_wait reads the prober's latencies (sorted) and reaps it. */
static int mix_probe_wait(struct mix_probe *p, struct mix_lat *l)
{
    long long v;
    int st = 0;

    memset(l, 0, sizeof(*l));
    while (fscanf(p->out, "%lld", &v) == 1) {
        if (v < 0) {
            l->failed++;
            continue;
        }
        if (l->n == l->cap) {
            size_t cap = l->cap ? 2 * l->cap : 1024;
            int64_t *us = sw_realloc(l->us, cap * sizeof(*us));
            if (us == NULL)
                return -1;
            l->us = us;
            l->cap = cap;
        }
        l->us[l->n++] = v;
    }
    fclose(p->out);
    waitpid(p->pid, &st, 0);
    qsort(l->us, l->n, sizeof(*l->us), mix_i64_cmp);
    return l->n > 0 ? 0 : -1;
}

static double mix_pct_ms(const struct mix_lat *l, double pct)
{
    size_t i = (size_t)(pct / 100.0 * (double)l->n);

    return (double)l->us[i < l->n ? i : l->n - 1] / 1000.0;
}

/* --- The load ------------------------------------------------------------ */

struct mix_load {
    snipc *team[MIX_TEAMS - 1];
    atomic_int stop;
    int nice;
    atomic_llong ingested, suggested, read, errors, refused;
};

struct mix_worker {
    struct mix_load *m;
    int n;
    pthread_t tid;
};

static void mix_error(struct mix_load *m, const char *what,
                      const struct snipc_status *st)
{
    atomic_fetch_add(&m->errors, 1);
    fprintf(stderr, "%s error: %s %s\n", what,
            st ? snipc_status_name(st->code) : "transport",
            st && st->message ? st->message : "");
}

static void *mix_streamer(void *arg)
{
    struct mix_worker *w = arg;
    struct mix_load *m = w->m;
    snipc_stream *s = NULL;
    struct sw_arena a;
    struct snipc_status st;
    ProtobufCMessage *resp = NULL;
    char raw[512];

    (void)sw_thread_nice(m->nice);
    if (snipc_stream_open(m->team[w->n % (MIX_TEAMS - 1)],
                          "/snipwise.v1.IngestService/IngestEmails",
                          &s) != SW_OK) {
        mix_error(m, "stream", NULL);
        return NULL;
    }
    for (int i = 0; !atomic_load(&m->stop); i++) {
        Snipwise__V1__IngestEmailRequest req =
            SNIPWISE__V1__INGEST_EMAIL_REQUEST__INIT;
        int len = snprintf(
            raw, sizeof(raw),
            "Message-ID: <c%d-%d@p.example>\r\nFrom: pat%d@p.example\r\n"
            "To: rep@seller.example\r\nSubject: Pricing question %d\r\n"
            "Date: Tue, 3 Mar 2026 10:00:00 +0000\r\n\r\nCould you send the "
            "pricing guide and the security brief? (c%d %d)\r\n",
            w->n, i, i % 7, i % 13, w->n, i);
        req.source_case = SNIPWISE__V1__INGEST_EMAIL_REQUEST__SOURCE_RAW_MIME;
        req.raw_mime.data = (uint8_t *)raw;
        req.raw_mime.len = (size_t)len;
        if (snipc_stream_send(s, &req.base) != SW_OK)
            break; /* the server ended the call: finish says why */
        mix_sleep_us(MIX_SEND_PERIOD_US);
    }
    sw_arena_init(&a, 0);
    if (snipc_stream_finish(&s,
                            &snipwise__v1__ingest_emails_response__descriptor,
                            &a, &resp, &st) != SW_OK ||
        st.code != GRPC_STATUS_OK)
        mix_error(m, "stream", &st);
    else {
        const Snipwise__V1__IngestEmailsResponse *r = (const void *)resp;
        atomic_fetch_add(&m->ingested, r->new_count + r->duplicate_count);
    }
    sw_arena_free(&a);
    return NULL;
}

/* mix_unary_loop calls one unary method of the worker's team until stop;
 * a RESOURCE_EXHAUSTED (the team's share is full) is no error: the loop
 * waits 10 ms, as a client honouring the retry hint would. */
static void mix_unary_loop(struct mix_worker *w, const char *method,
                           const ProtobufCMessage *req,
                           const ProtobufCMessageDescriptor *resp_d,
                           atomic_llong *done, const char *what)
{
    struct mix_load *m = w->m;

    (void)sw_thread_nice(m->nice);
    while (!atomic_load(&m->stop)) {
        struct sw_arena a;
        struct snipc_status st;
        ProtobufCMessage *resp = NULL;
        sw_arena_init(&a, 0);
        sw_err e = snipc_unary(m->team[w->n % (MIX_TEAMS - 1)], method, req,
                               resp_d, &a, &resp, &st);
        if (e == SW_OK && st.code == GRPC_STATUS_OK)
            atomic_fetch_add(done, 1);
        else if (e == SW_OK && st.code == GRPC_STATUS_RESOURCE_EXHAUSTED) {
            atomic_fetch_add(&m->refused, 1);
            mix_sleep_us(10000);
        } else
            mix_error(m, what, e == SW_OK ? &st : NULL);
        sw_arena_free(&a);
    }
}

static void *mix_suggester(void *arg)
{
    struct mix_worker *w = arg;
    Snipwise__V1__SuggestRequest req = SNIPWISE__V1__SUGGEST_REQUEST__INIT;
    char draft[128];

    snprintf(draft, sizeof(draft),
             "Here is the pricing guide and security brief you asked for %d",
             w->n);
    req.draft_text = draft;
    mix_unary_loop(w, "/snipwise.v1.SuggestService/Suggest", &req.base,
                   &snipwise__v1__suggest_response__descriptor,
                   &w->m->suggested, "suggest");
    return NULL;
}

static void *mix_reader(void *arg)
{
    struct mix_worker *w = arg;
    Snipwise__V1__ListThreadsRequest req =
        SNIPWISE__V1__LIST_THREADS_REQUEST__INIT;

    req.page_size = 20;
    mix_unary_loop(w, "/snipwise.v1.IngestService/ListThreads", &req.base,
                   &snipwise__v1__list_threads_response__descriptor,
                   &w->m->read, "read");
    return NULL;
}

/* --- Set-up and the run -------------------------------------------------- */

/* mix_teams creates the six teams (each with seller.example as its domain)
 * and writes their keys, in a, to keys. */
static int mix_teams(const char *addr, const char *admin_key,
                     struct sw_arena *a, char *keys[MIX_TEAMS])
{
    snipc *admin = mix_open(addr, admin_key);
    int rc = 0;

    if (admin == NULL)
        return -1;
    for (int i = 0; i < MIX_TEAMS && rc == 0; i++) {
        Snipwise__V1__CreateTeamRequest creq =
            SNIPWISE__V1__CREATE_TEAM_REQUEST__INIT;
        Snipwise__V1__AddTeamDomainRequest dreq =
            SNIPWISE__V1__ADD_TEAM_DOMAIN_REQUEST__INIT;
        struct snipc_status st;
        ProtobufCMessage *resp = NULL;
        char name[32];
        snprintf(name, sizeof(name), "Mixed C %d", i);
        creq.display_name = name;
        if (snipc_unary(admin, "/snipwise.v1.AdminService/CreateTeam",
                        &creq.base,
                        &snipwise__v1__create_team_response__descriptor, a,
                        &resp, &st) != SW_OK ||
            st.code != GRPC_STATUS_OK) {
            rc = -1;
            break;
        }
        keys[i] = ((Snipwise__V1__CreateTeamResponse *)resp)->api_key;
        snipc *t = mix_open(addr, keys[i]);
        dreq.domain = "seller.example";
        if (t == NULL ||
            snipc_unary(t, "/snipwise.v1.TeamService/AddTeamDomain", &dreq.base,
                        &snipwise__v1__team_domain__descriptor, a, &resp,
                        &st) != SW_OK ||
            st.code != GRPC_STATUS_OK)
            rc = -1;
        snipc_close(&t);
    }
    snipc_close(&admin);
    return rc;
}

/* mix_cpu_s: user plus system CPU seconds of process pid so far, or -1. */
static double mix_cpu_s(const char *pid)
{
    char path[64], buf[1024];
    int64_t v[2];
    FILE *f;

    if (pid == NULL || *pid == '\0')
        return -1;
    snprintf(path, sizeof(path), "/proc/%s/stat", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* After the command's closing parenthesis: the state (field 3), then
     * fields 4 to 13; utime and stime are fields 14 and 15. */
    char *p = strrchr(buf, ')');
    for (int field = 2; p != NULL && field < 15; field++) {
        p = strchr(p + 1, ' ');
        if (p != NULL && field >= 13) {
            size_t len = strcspn(p + 1, " ");
            if (sw_parse_i64(p + 1, len, 0, INT64_MAX, &v[field - 13]) != SW_OK)
                return -1;
        }
    }
    if (p == NULL)
        return -1;
    return (double)(v[0] + v[1]) / (double)sysconf(_SC_CLK_TCK);
}

static int mix_run(const char *addr, const char *admin_key, int seconds)
{
    static struct mix_load m; /* zeroed; its atomics start at 0 */
    struct mix_worker w[MIX_STREAMS + MIX_SUGGESTERS + MIX_READERS];
    struct mix_lat idle, loaded;
    struct mix_probe pr;
    struct sw_arena a;
    char *keys[MIX_TEAMS];
    const char *pid = getenv("SNIPD_PID");
    const char *nice = getenv("MIXED_LOAD_NICE");
    int nw = 0, rc = 1;

    sw_arena_init(&a, 0);
    m.nice = 10;
    if (nice != NULL && sw_parse_int(nice, 0, 19, &m.nice) != SW_OK) {
        fprintf(stderr, "bench_mixed: MIXED_LOAD_NICE must be 0 to 19\n");
        goto out;
    }
    if (mix_teams(addr, admin_key, &a, keys) != 0) {
        fprintf(stderr, "bench_mixed: cannot create the teams\n");
        goto out;
    }
    /* Idle. */
    if (mix_probe_start(addr, keys[MIX_TEAMS - 1], seconds * 500, 0, &pr) ||
        mix_probe_wait(&pr, &idle))
        goto out;
    /* Loaded: the prober measures once the load has settled. */
    if (mix_probe_start(addr, keys[MIX_TEAMS - 1], seconds * 1000,
                        MIX_SETTLE_MS, &pr))
        goto out;
    for (int i = 0; i < MIX_TEAMS - 1; i++)
        if ((m.team[i] = mix_open(addr, keys[i])) == NULL)
            goto out;
    for (int i = 0; i < MIX_STREAMS + MIX_SUGGESTERS + MIX_READERS; i++) {
        void *(*fn)(void *) = i < MIX_STREAMS                    ? mix_streamer
                              : i < MIX_STREAMS + MIX_SUGGESTERS ? mix_suggester
                                                                 : mix_reader;
        w[i].m = &m;
        w[i].n = i;
        if (pthread_create(&w[i].tid, NULL, fn, &w[i]) != 0)
            break;
        nw++;
    }
    mix_sleep_us((int64_t)MIX_SETTLE_MS * 1000);
    double cpu0 = mix_cpu_s(pid);
    int64_t wall0 = mix_now_us();
    int probed = mix_probe_wait(&pr, &loaded);
    double cpu1 = mix_cpu_s(pid);
    int64_t wall1 = mix_now_us();
    atomic_store(&m.stop, 1);
    for (int i = 0; i < nw; i++)
        pthread_join(w[i].tid, NULL);
    if (probed != 0)
        goto out;
    printf("{\"client\": \"c\", \"load_nice\": %d, "
           "\"idle\": {\"calls\": %zu, \"failed\": %d, \"p50_ms\": %.3f, "
           "\"p99_ms\": %.3f}, "
           "\"loaded\": {\"calls\": %zu, \"failed\": %d, \"p50_ms\": %.3f, "
           "\"p99_ms\": %.3f, \"load\": {\"ingest\": %lld, \"suggest\": %lld, "
           "\"read\": %lld, \"refused\": %lld, \"errors\": %lld}",
           m.nice, idle.n, idle.failed, mix_pct_ms(&idle, 50),
           mix_pct_ms(&idle, 99), loaded.n, loaded.failed,
           mix_pct_ms(&loaded, 50), mix_pct_ms(&loaded, 99),
           (long long)m.ingested, (long long)m.suggested, (long long)m.read,
           (long long)m.refused, (long long)m.errors);
    if (cpu0 >= 0 && cpu1 >= 0)
        printf(", \"snipd_cores\": %.2f",
               (cpu1 - cpu0) / ((double)(wall1 - wall0) / 1e6));
    printf("}, \"p99_ratio\": %.2f}\n",
           mix_pct_ms(&loaded, 99) / mix_pct_ms(&idle, 99));
    rc = m.errors || idle.failed || loaded.failed ||
                 nw != MIX_STREAMS + MIX_SUGGESTERS + MIX_READERS
             ? 1
             : 0;
    sw_free(idle.us);
    sw_free(loaded.us);
out:
    for (int i = 0; i < MIX_TEAMS - 1; i++)
        snipc_close(&m.team[i]);
    sw_arena_free(&a);
    return rc;
}

int main(int argc, char **argv)
{
    int seconds = 20, ms, delay_ms, rc;

    signal(SIGPIPE, SIG_IGN);
    if (argc == 6 && strcmp(argv[1], "--probe") == 0) {
        if (sw_parse_int(argv[4], 1, 86400000, &ms) != SW_OK ||
            sw_parse_int(argv[5], 0, 86400000, &delay_ms) != SW_OK)
            return 2;
        return mix_probe_main(argv[2], argv[3], ms, delay_ms);
    }
    if (argc < 3 || argc > 4 ||
        (argc == 4 && sw_parse_int(argv[3], 2, 86400, &seconds) != SW_OK)) {
        fprintf(stderr, "usage: bench_mixed ADDR ADMIN_KEY [SECONDS]\n");
        return 2;
    }
    grpc_init();
    rc = mix_run(argv[1], argv[2], seconds);
    grpc_shutdown();
    return rc;
}
