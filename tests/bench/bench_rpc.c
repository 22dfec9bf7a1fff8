/* bench_rpc: unary-call throughput and latency through our C client
 * (clients/snipc) against a running snipd. It measures several methods in
 * interleaved rounds on the same server and connection, so their ratio is
 * meaningful on a noisy shared machine.
 *
 * usage: bench_rpc ADDR KEY THREADS CALLS_PER_ROUND ROUNDS */
#include <grpc/grpc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sw_arena.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "clients/snipc.h"
#include "grpc/health/v1/health.pb-c.h"
#include "snipwise/v1/suggest.pb-c.h"
#include "snipwise/v1/team.pb-c.h"

struct bench_method {
    const char *label;
    const char *path;
    const ProtobufCMessage *req;
    const ProtobufCMessageDescriptor *resp;
};

struct bench_job {
    snipc *cl;
    const struct bench_method *m;
    int calls;
    int64_t *lat_us; /* calls entries */
    int errors;
};

static int64_t bench_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *bench_thread(void *arg)
{
    struct bench_job *j = arg;
    int i;

    for (i = 0; i < j->calls; i++) {
        struct sw_arena a;
        struct snipc_status st;
        ProtobufCMessage *resp = NULL;
        int64_t t0 = bench_now_us();
        sw_arena_init(&a, 0);
        if (snipc_unary(j->cl, j->m->path, j->m->req, j->m->resp, &a, &resp,
                        &st) != SW_OK ||
            st.code != 0)
            j->errors++;
        j->lat_us[i] = bench_now_us() - t0;
        sw_arena_free(&a);
    }
    return NULL;
}

static int bench_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    Grpc__Health__V1__HealthCheckRequest hreq =
        GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    Snipwise__V1__GetMyTeamRequest treq =
        SNIPWISE__V1__GET_MY_TEAM_REQUEST__INIT;
    Snipwise__V1__SuggestRequest sreq = SNIPWISE__V1__SUGGEST_REQUEST__INIT;
    Snipwise__V1__ThreadText tt = SNIPWISE__V1__THREAD_TEXT__INIT;
    Snipwise__V1__ThreadTextMessage tm =
        SNIPWISE__V1__THREAD_TEXT_MESSAGE__INIT;
    Snipwise__V1__ThreadTextMessage *tms[1] = {&tm};
    struct bench_method methods[3] = {
        {"health_check", "/grpc.health.v1.Health/Check", &hreq.base,
         &grpc__health__v1__health_check_response__descriptor},
        {"get_my_team", "/snipwise.v1.TeamService/GetMyTeam", &treq.base,
         &snipwise__v1__team__descriptor},
        {"suggest", "/snipwise.v1.SuggestService/Suggest", &sreq.base,
         &snipwise__v1__suggest_response__descriptor},
    };
    /* BENCH_SUGGEST=1 adds Suggest (a prospect asking about pricing and a
     * case study, a draft) to the interleaved rounds. */
    int nm = getenv("BENCH_SUGGEST") ? 3 : 2;
    int threads, calls, rounds, r, t, k, code = 1;
    int64_t total_us[3] = {0, 0, 0}, ncalls[3] = {0, 0, 0};
    int64_t *all[3] = {NULL, NULL, NULL};
    int errors[3] = {0, 0, 0};

    tm.from_address = "prospect@example.com";
    tm.text = "Hi, could you send me your pricing and a case study from a "
              "company like ours? We are evaluating tools this quarter.";
    tt.subject = "Pricing and case studies";
    tt.n_messages = 1;
    tt.messages = tms;
    sreq.thread_case = SNIPWISE__V1__SUGGEST_REQUEST__THREAD_THREAD_TEXT;
    sreq.thread_text = &tt;
    sreq.draft_text = "Thanks for asking. Here is";
    sreq.max_contents = 5;
    sreq.max_framings = 5;
    struct snipc_opts o;
    snipc *cl = NULL;

    if (argc != 6 || sw_parse_int(argv[3], 1, 256, &threads) != SW_OK ||
        sw_parse_int(argv[4], 1, 10000000, &calls) != SW_OK ||
        sw_parse_int(argv[5], 1, 1000, &rounds) != SW_OK) {
        fprintf(stderr,
                "usage: bench_rpc ADDR KEY THREADS CALLS_PER_ROUND ROUNDS\n");
        return 2;
    }
    grpc_init();
    memset(&o, 0, sizeof(o));
    o.addr = argv[1];
    o.key = argv[2];
    if (snipc_open(&o, &cl) != SW_OK)
        goto out;
    for (k = 0; k < nm; k++) {
        all[k] = sw_calloc((size_t)threads * (size_t)calls * (size_t)rounds,
                           sizeof(int64_t));
        if (all[k] == NULL)
            goto out;
    }
    for (r = 0; r < rounds; r++) {
        for (k = 0; k < nm; k++) {
            pthread_t tid[256];
            struct bench_job jobs[256];
            int64_t t0 = bench_now_us();
            for (t = 0; t < threads; t++) {
                jobs[t].cl = cl;
                jobs[t].m = &methods[k];
                jobs[t].calls = calls;
                jobs[t].errors = 0;
                jobs[t].lat_us = all[k] + ncalls[k] + (int64_t)t * calls;
                pthread_create(&tid[t], NULL, bench_thread, &jobs[t]);
            }
            for (t = 0; t < threads; t++) {
                pthread_join(tid[t], NULL);
                errors[k] += jobs[t].errors;
            }
            total_us[k] += bench_now_us() - t0;
            ncalls[k] += (int64_t)threads * calls;
        }
    }
    for (k = 0; k < nm; k++) {
        qsort(all[k], (size_t)ncalls[k], sizeof(int64_t), bench_cmp);
        printf("{\"method\":\"%s\",\"calls\":%lld,\"errors\":%d,"
               "\"calls_per_s\":%.0f,\"p50_us\":%lld,\"p99_us\":%lld}\n",
               methods[k].label, (long long)ncalls[k], errors[k],
               (double)ncalls[k] * 1e6 / (double)total_us[k],
               (long long)all[k][ncalls[k] / 2],
               (long long)all[k][ncalls[k] * 99 / 100]);
    }
    printf("{\"ratio_get_my_team_vs_health_p50\":%.2f}\n",
           (double)all[1][ncalls[1] / 2] / (double)all[0][ncalls[0] / 2]);
    if (nm == 3)
        printf("{\"ratio_suggest_vs_health_p50\":%.2f,"
               "\"ratio_suggest_vs_health_calls_per_s\":%.2f}\n",
               (double)all[2][ncalls[2] / 2] / (double)all[0][ncalls[0] / 2],
               ((double)ncalls[2] / (double)total_us[2]) /
                   ((double)ncalls[0] / (double)total_us[0]));
    code = errors[0] || errors[1] || errors[2] ? 1 : 0;
out:
    sw_free(all[0]);
    sw_free(all[1]);
    sw_free(all[2]);
    snipc_close(&cl);
    grpc_shutdown();
    return code;
}
