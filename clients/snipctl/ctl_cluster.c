/* ctl_cluster: the cluster commands of snipctl (ctl_cluster.h): the
 * cluster file in, HAProxy's configuration, its runtime API and its map
 * file, and every node's AdminService. */
#include "clients/snipctl/ctl_cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <grpc/grpc.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/sw_arena.h"
#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "clients/snipc.h"
#include "clients/snipctl/ctl_exit.h"
#include "clients/snipctl/ctl_tls.h"
#include "proto/msg.h"
#include "snipwise/v1/admin.pb-c.h"
#include "snipwise/v1/move.pb-c.h"

#define CTL_CL_ADMIN "/snipwise.v1.AdminService/"
#define CTL_CL_MOVE "/snipwise.v1.TeamMoveService/"
#define CTL_CL_MOVE_TIMEOUT_MS (3600 * 1000) /* one export or import */
#define CTL_CL_NODES_MAX 64
#define CTL_CL_NAME_MAX 32
#define CTL_CL_KEY_MAX 256
#define CTL_CL_MAP_MAX ((size_t)64 << 20)
#define CTL_CL_PAGES_MAX 100000
#define CTL_CL_HP_REPLY_MAX (64 * 1024)
#define CTL_CL_TEAM_LEN 21 /* "team_" and 16 hex digits */

struct ctl_cl_node {
    const char *name, *addr; /* in the JSON document */
    char key[CTL_CL_KEY_MAX];
    size_t nteams; /* counted by ctl_cl_census */
};

struct ctl_cl {
    json_t *doc;
    const char *file, *listen, *hp_socket, *hp_map;
    struct ctl_cl_node nodes[CTL_CL_NODES_MAX];
    size_t nnodes;
    /* The command line. */
    const char *pos[4]; /* "cluster", the verb, its arguments */
    int npos, json;
    const char *node, *timeout, *to, *batch;
    struct ctl_cl_maprow *map; /* ctl_cl_map_load; in a */
    size_t nmap;
    struct sw_arena a;
};

int ctl_cluster_wanted(int argc, char **argv)
{
    return ctl_command_is(argc, argv, "cluster");
}

static int ctl_cl_usage(void)
{
    fprintf(stderr,
            "usage: snipctl cluster [--cluster FILE] haproxy-config\n"
            "       snipctl cluster [--cluster FILE] create-team NAME "
            "[--node NODE] [--json]\n"
            "       snipctl cluster [--cluster FILE] list-teams [--json]\n"
            "       snipctl cluster [--cluster FILE] route TEAM_ID NODE\n"
            "       snipctl cluster [--cluster FILE] move-team TEAM_ID --to "
            "NODE [--batch-bytes N] [--json]\n"
            "  FILE (else $SNIPWISE_CLUSTER) names the nodes, their admin "
            "key files and\n"
            "  HAProxy's address, runtime socket and map file "
            "(docs/SCALING.md).\n");
    return EXIT_USAGE;
}

static int ctl_cl_parse(int argc, char **argv, struct ctl_cl *c)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--json") == 0) {
            c->json = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (c->npos == 4)
                return -1;
            c->pos[c->npos++] = a;
            continue;
        }
        if (v == NULL)
            return -1;
        if (strcmp(a, "--cluster") == 0)
            c->file = v;
        else if (strcmp(a, "--node") == 0)
            c->node = v;
        else if (strcmp(a, "--timeout-ms") == 0)
            c->timeout = v;
        else if (strcmp(a, "--to") == 0)
            c->to = v;
        else if (strcmp(a, "--batch-bytes") == 0)
            c->batch = v;
        else
            return -1;
        i++;
    }
    return c->npos >= 2 ? 0 : -1;
}

/* --- The cluster file ------------------------------------------------- */

/* ctl_cl_name_ok: a node name is also an HAProxy backend name. */
static int ctl_cl_name_ok(const char *s)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > CTL_CL_NAME_MAX)
        return 0;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '-' || s[i] == '_'))
            return 0;
    return 1;
}

/* ctl_cl_read_key reads the first line of path into out. */
static int ctl_cl_read_key(const char *path, char *out, size_t n)
{
    FILE *f = fopen(path, "r");
    size_t len;

    if (f == NULL) {
        fprintf(stderr, "snipctl: cannot read the admin key file %s: %s\n",
                path, strerror(errno));
        return -1;
    }
    if (fgets(out, (int)n, f) == NULL)
        out[0] = '\0';
    fclose(f);
    len = strcspn(out, "\r\n");
    out[len] = '\0';
    if (len == 0) {
        fprintf(stderr, "snipctl: the admin key file %s is empty\n", path);
        return -1;
    }
    return 0;
}

static const char *ctl_cl_str(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int ctl_cl_load_nodes(struct ctl_cl *c, json_t *nodes)
{
    size_t i, j;

    if (!json_is_array(nodes) || json_array_size(nodes) == 0 ||
        json_array_size(nodes) > CTL_CL_NODES_MAX) {
        fprintf(stderr,
                "snipctl: %s: \"nodes\" must be a list of 1 to %d "
                "nodes\n",
                c->file, CTL_CL_NODES_MAX);
        return -1;
    }
    for (i = 0; i < json_array_size(nodes); i++) {
        json_t *n = json_array_get(nodes, i);
        struct ctl_cl_node *d = &c->nodes[c->nnodes];
        const char *kf = ctl_cl_str(n, "admin_key_file");
        d->name = ctl_cl_str(n, "name");
        d->addr = ctl_cl_str(n, "addr");
        if (d->name == NULL || !ctl_cl_name_ok(d->name) || d->addr == NULL ||
            d->addr[0] == '\0' || kf == NULL) {
            fprintf(stderr,
                    "snipctl: %s: node %zu needs a \"name\" (1 to %d of "
                    "a-z 0-9 - _), an \"addr\" and an \"admin_key_file\"\n",
                    c->file, i + 1, CTL_CL_NAME_MAX);
            return -1;
        }
        for (j = 0; j < c->nnodes; j++)
            if (strcmp(c->nodes[j].name, d->name) == 0) {
                fprintf(stderr, "snipctl: %s: node %s is named twice\n",
                        c->file, d->name);
                return -1;
            }
        if (ctl_cl_read_key(kf, d->key, sizeof(d->key)) != 0)
            return -1;
        c->nnodes++;
    }
    return 0;
}

static int ctl_cl_load(struct ctl_cl *c)
{
    json_error_t err;
    json_t *hp;

    if (c->file == NULL)
        c->file = getenv("SNIPWISE_CLUSTER");
    if (c->file == NULL) {
        fprintf(stderr, "snipctl: no cluster file: pass --cluster FILE or "
                        "set SNIPWISE_CLUSTER\n");
        return -1;
    }
    c->doc = json_load_file(c->file, 0, &err);
    if (c->doc == NULL) {
        fprintf(stderr, "snipctl: cluster file %s: line %d: %s\n", c->file,
                err.line, err.text);
        return -1;
    }
    hp = json_object_get(c->doc, "haproxy");
    c->listen = ctl_cl_str(c->doc, "listen");
    c->hp_socket = ctl_cl_str(hp, "socket");
    c->hp_map = ctl_cl_str(hp, "map");
    if (c->listen == NULL || c->hp_socket == NULL || c->hp_map == NULL ||
        c->hp_map[0] != '/') {
        fprintf(stderr,
                "snipctl: cluster file %s needs \"listen\" and \"haproxy\": "
                "{\"socket\": PATH, \"map\": ABSOLUTE_PATH}\n",
                c->file);
        return -1;
    }
    return ctl_cl_load_nodes(c, json_object_get(c->doc, "nodes"));
}

static struct ctl_cl_node *ctl_cl_node(struct ctl_cl *c, const char *name)
{
    size_t i;

    for (i = 0; i < c->nnodes; i++)
        if (strcmp(c->nodes[i].name, name) == 0)
            return &c->nodes[i];
    fprintf(stderr, "snipctl: no node named '%s' in %s\n", name, c->file);
    return NULL;
}

/* --- HAProxy's configuration ----------------------------------------- */

/* ctl_cl_frame appends an HTTP/2 frame header (RFC 9113, 4.1). */
static sw_err ctl_cl_frame(struct sw_buf *b, size_t len, int type, int flags,
                           unsigned stream)
{
    unsigned char h[9] = {(unsigned char)(len >> 16),
                          (unsigned char)(len >> 8),
                          (unsigned char)len,
                          (unsigned char)type,
                          (unsigned char)flags,
                          (unsigned char)(stream >> 24),
                          (unsigned char)(stream >> 16),
                          (unsigned char)(stream >> 8),
                          (unsigned char)stream};
    return sw_buf_add(b, h, sizeof(h));
}

/* ctl_cl_hpack_lit appends a header as an HPACK literal without indexing
 * (RFC 7541, 6.2.2): the name by its static-table index when idx > 0,
 * else spelled out; no Huffman coding. Values are under 127 bytes. */
static sw_err ctl_cl_hpack_lit(struct sw_buf *b, int idx, const char *name,
                               const char *value)
{
    sw_err rc = SW_OK;

    if (idx > 0 && idx < 15)
        rc = sw_buf_addc(b, (char)idx);
    else if (idx >= 15) {
        rc = sw_buf_addc(b, 0x0f);
        if (rc == SW_OK)
            rc = sw_buf_addc(b, (char)(idx - 15));
    } else {
        rc = sw_buf_addc(b, 0);
        if (rc == SW_OK)
            rc = sw_buf_addc(b, (char)strlen(name));
        if (rc == SW_OK)
            rc = sw_buf_addstr(b, name);
    }
    if (rc == SW_OK)
        rc = sw_buf_addc(b, (char)strlen(value));
    return rc ? rc : sw_buf_addstr(b, value);
}

/* ctl_cl_health_probe writes, in hex, one whole grpc.health.v1.Health/Check
 * call as HTTP/2 with prior knowledge: the preface, empty SETTINGS, the
 * request's HEADERS and a DATA frame holding the empty HealthCheckRequest.
 * HAProxy sends it with tcp-check on a new connection and expects the
 * reply's message to be status SERVING (field 1 = 1: bytes 08 01 behind a
 * 5-byte gRPC frame header of length 2). HAProxy's http-check cannot be
 * used: its request body cannot hold the NUL bytes of a gRPC frame. */
static sw_err ctl_cl_health_probe(struct sw_buf *hex)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    static const char empty_msg[5] = {0, 0, 0, 0, 0};
    struct sw_buf h, req;
    char *out = NULL;
    sw_err rc;

    sw_buf_init(&h, 1024);
    sw_buf_init(&req, 4096);
    rc = sw_buf_addc(&h, (char)0x83); /* :method POST (static 3) */
    if (rc == SW_OK)
        rc = sw_buf_addc(&h, (char)0x86); /* :scheme http (static 6) */
    if (rc == SW_OK)
        rc = ctl_cl_hpack_lit(&h, 1, NULL, "snipd"); /* :authority */
    if (rc == SW_OK)
        rc = ctl_cl_hpack_lit(&h, 4, NULL, "/grpc.health.v1.Health/Check");
    if (rc == SW_OK)
        rc = ctl_cl_hpack_lit(&h, 31, NULL, "application/grpc");
    if (rc == SW_OK)
        rc = ctl_cl_hpack_lit(&h, 0, "te", "trailers");
    if (rc == SW_OK)
        rc = sw_buf_add(&req, preface, sizeof(preface) - 1);
    if (rc == SW_OK)
        rc = ctl_cl_frame(&req, 0, 4, 0, 0); /* SETTINGS */
    if (rc == SW_OK) /* HEADERS, END_HEADERS, stream 1 */
        rc = ctl_cl_frame(&req, sw_buf_len(&h), 1, 4, 1);
    if (rc == SW_OK)
        rc = sw_buf_add(&req, sw_buf_str(&h), sw_buf_len(&h));
    if (rc == SW_OK) /* DATA, END_STREAM, stream 1 */
        rc = ctl_cl_frame(&req, sizeof(empty_msg), 0, 1, 1);
    if (rc == SW_OK)
        rc = sw_buf_add(&req, empty_msg, sizeof(empty_msg));
    if (rc == SW_OK) {
        out = sw_malloc(2 * sw_buf_len(&req) + 1);
        rc = out ? SW_OK : SW_ENOMEM;
    }
    if (rc == SW_OK) {
        sw_hex(sw_buf_str(&req), sw_buf_len(&req), out);
        rc = sw_buf_addstr(hex, out);
    }
    sw_free(out);
    sw_buf_free(&h);
    sw_buf_free(&req);
    return rc;
}

static int ctl_cl_haproxy_config(struct ctl_cl *c)
{
    struct sw_buf probe;
    size_t i;

    sw_buf_init(&probe, 4096);
    if (ctl_cl_health_probe(&probe) != SW_OK) {
        sw_buf_free(&probe);
        fprintf(stderr, "snipctl: out of memory\n");
        return EXIT_RPC;
    }
    printf("# HAProxy in front of the Snipwise nodes of %s; made by\n"
           "# `snipctl cluster haproxy-config` (docs/SCALING.md).\n"
           "global\n"
           "    stats socket %s mode 600 level admin\n"
           "defaults\n"
           "    mode http\n"
           "    timeout connect 5s\n"
           "    # Streams (IngestEmails, WatchRerankJob) stay open; snipd\n"
           "    # ends idle ones itself.\n"
           "    timeout client 1h\n"
           "    timeout server 1h\n"
           "frontend snipwise\n"
           "    bind %s proto h2\n"
           "    # \"Bearer team_<16 hex>.sk_...\": the team id routes;\n"
           "    # keys without it (admin keys) take the first node.\n"
           "    http-request set-var(txn.route) "
           "req.hdr(authorization),word(2,' '),field(1,'.')\n"
           "    use_backend %%[var(txn.route),map(%s,%s)]\n"
           "    default_backend %s\n",
           c->file, c->hp_socket, c->listen, c->hp_map, c->nodes[0].name,
           c->nodes[0].name);
    for (i = 0; i < c->nnodes; i++)
        printf("backend %s\n"
               "    # A grpc.health.v1.Health/Check call; SERVING is 08 01.\n"
               "    option tcp-check\n"
               "    tcp-check connect\n"
               "    tcp-check send-binary %s\n"
               "    tcp-check expect binary 00000000020801\n"
               "    server %s %s proto h2 check inter 1s fall 2 rise 1\n",
               c->nodes[i].name, sw_buf_str(&probe), c->nodes[i].name,
               c->nodes[i].addr);
    sw_buf_free(&probe);
    return 0;
}

/* --- HAProxy's runtime API and the map file -------------------------- */

/* ctl_cl_hp_cmd sends one command line to HAProxy's runtime API and reads
 * the reply into out. */
static int ctl_cl_hp_cmd(struct ctl_cl *c, const char *cmd, struct sw_buf *out)
{
    struct sockaddr_un sa;
    char buf[4096];
    ssize_t got;
    int fd, rc = -1;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(c->hp_socket) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "snipctl: HAProxy socket path too long: %s\n",
                c->hp_socket);
        return -1;
    }
    memcpy(sa.sun_path, c->hp_socket, strlen(c->hp_socket));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr,
                "snipctl: cannot reach HAProxy's runtime API at %s: "
                "%s\n",
                c->hp_socket, strerror(errno));
        goto out;
    }
    if (write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd) ||
        write(fd, "\n", 1) != 1) {
        fprintf(stderr, "snipctl: HAProxy's runtime API: %s\n",
                strerror(errno));
        goto out;
    }
    while ((got = read(fd, buf, sizeof(buf))) > 0)
        if (sw_buf_add(out, buf, (size_t)got) != SW_OK)
            goto out;
    rc = got == 0 ? 0 : -1;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

/* ctl_cl_hp_route points team at node in HAProxy's loaded map: `set map`,
 * or `add map` for a team it does not know yet. */
static int ctl_cl_hp_route(struct ctl_cl *c, const char *team, const char *node)
{
    struct sw_buf cmd, reply;
    int rc = -1, pass;

    sw_buf_init(&cmd, 4096);
    sw_buf_init(&reply, CTL_CL_HP_REPLY_MAX);
    for (pass = 0; pass < 2; pass++) {
        sw_buf_reset(&cmd);
        sw_buf_reset(&reply);
        if (sw_buf_printf(&cmd, "%s map %s %s %s", pass ? "add" : "set",
                          c->hp_map, team, node) != SW_OK ||
            ctl_cl_hp_cmd(c, sw_buf_str(&cmd), &reply) != 0)
            break;
        /* Success is an empty reply; `set` on a missing entry says so. */
        if (strspn(sw_buf_str(&reply), "\r\n ") == sw_buf_len(&reply)) {
            rc = 0;
            break;
        }
        if (pass == 0 && strstr(sw_buf_str(&reply), "not found"))
            continue;
        fprintf(stderr, "snipctl: HAProxy refused '%s': %s\n", sw_buf_str(&cmd),
                sw_buf_str(&reply));
        break;
    }
    sw_buf_free(&cmd);
    sw_buf_free(&reply);
    return rc;
}

/* ctl_cl_map_edit rewrites the map file with team's line set to node,
 * under an exclusive lock of the file, through a temporary file renamed
 * into place. */
static int ctl_cl_map_edit(struct ctl_cl *c, const char *team, const char *node)
{
    struct sw_buf out, tmp;
    char line[512];
    FILE *in;
    int lock, fd = -1, rc = -1, found = 0;

    sw_buf_init(&out, CTL_CL_MAP_MAX);
    sw_buf_init(&tmp, 4096);
    lock = open(c->hp_map, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock < 0 || flock(lock, LOCK_EX) != 0) {
        fprintf(stderr, "snipctl: cannot lock the map file %s: %s\n", c->hp_map,
                strerror(errno));
        goto out;
    }
    in = fdopen(dup(lock), "r");
    while (in && fgets(line, sizeof(line), in)) {
        size_t n = strcspn(line, " \t\r\n");
        sw_err e;
        if (n == strlen(team) && memcmp(line, team, n) == 0) {
            found = 1;
            e = sw_buf_printf(&out, "%s %s\n", team, node);
        } else
            e = sw_buf_addstr(&out, line);
        if (e != SW_OK) {
            fclose(in);
            goto out;
        }
    }
    if (in)
        fclose(in);
    if (!found && sw_buf_printf(&out, "%s %s\n", team, node) != SW_OK)
        goto out;
    if (sw_buf_printf(&tmp, "%s.tmp", c->hp_map) != SW_OK)
        goto out;
    fd = open(sw_buf_str(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 ||
        write(fd, sw_buf_str(&out), sw_buf_len(&out)) !=
            (ssize_t)sw_buf_len(&out) ||
        fsync(fd) != 0 || rename(sw_buf_str(&tmp), c->hp_map) != 0) {
        fprintf(stderr, "snipctl: cannot write the map file %s: %s\n",
                c->hp_map, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (lock >= 0)
        close(lock); /* drops the lock */
    sw_buf_free(&out);
    sw_buf_free(&tmp);
    return rc;
}

/* ctl_cl_route: the file first, so that a restarted HAProxy agrees. */
static int ctl_cl_route(struct ctl_cl *c, const char *team, const char *node)
{
    if (ctl_cl_map_edit(c, team, node) != 0)
        return -1;
    return ctl_cl_hp_route(c, team, node);
}

/* A line of the map file: a team and the node it is routed to. */
struct ctl_cl_maprow {
    const char *team, *node;
    size_t line; /* HAProxy takes a key's first line */
};

static int ctl_cl_maprow_cmp(const void *x, const void *y)
{
    const struct ctl_cl_maprow *a = x, *b = y;
    int d = strcmp(a->team, b->team);

    return d ? d : (a->line > b->line) - (a->line < b->line);
}

/* ctl_cl_map_load reads the map file once into c->map, sorted by team,
 * for ctl_cl_map_lookup (list-teams looks up every team: reading the file
 * per team would be quadratic). A missing file is an empty map. Returns 0
 * or EXIT_RPC. */
static int ctl_cl_map_load(struct ctl_cl *c)
{
    char line[512];
    size_t cap = 0;
    int code = 0;
    FILE *in = fopen(c->hp_map, "r");

    while (in && fgets(line, sizeof(line), in)) {
        size_t n = strcspn(line, " \t\r\n");
        const char *v = line + n + strspn(line + n, " \t");
        struct ctl_cl_maprow *r;
        if (n == 0)
            continue;
        if (c->nmap == cap) {
            void *p = sw_arena_alloc(&c->a, (cap ? 2 * cap : 256) * sizeof(*r));
            if (p == NULL) {
                code = EXIT_RPC;
                break;
            }
            if (cap)
                memcpy(p, c->map, cap * sizeof(*r));
            c->map = p;
            cap = cap ? 2 * cap : 256;
        }
        r = &c->map[c->nmap];
        r->team = sw_arena_strndup(&c->a, line, n);
        r->node = sw_arena_strndup(&c->a, v, strcspn(v, " \t\r\n"));
        r->line = c->nmap;
        if (r->team == NULL || r->node == NULL) {
            code = EXIT_RPC;
            break;
        }
        c->nmap++;
    }
    if (in)
        fclose(in);
    if (c->nmap)
        qsort(c->map, c->nmap, sizeof(*c->map), ctl_cl_maprow_cmp);
    if (code)
        fprintf(stderr, "snipctl: out of memory reading %s\n", c->hp_map);
    return code;
}

/* ctl_cl_map_lookup finds team's node in the loaded map; "" when absent. */
static const char *ctl_cl_map_lookup(struct ctl_cl *c, const char *team)
{
    size_t lo = 0, hi = c->nmap;

    /* The first row whose team is not below team. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(c->map[mid].team, team) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->nmap && strcmp(c->map[lo].team, team) == 0 ? c->map[lo].node
                                                              : "";
}

/* --- Nodes ------------------------------------------------------------ */

static int ctl_cl_open_for(struct ctl_cl *c, struct ctl_cl_node *n,
                           int64_t timeout_ms, snipc **cl)
{
    struct snipc_opts o;
    sw_err rc;

    memset(&o, 0, sizeof(o));
    o.addr = n->addr;
    o.key = n->key;
    ctl_tls_opts(&o);
    o.timeout_ms = c->timeout ? strtoll(c->timeout, NULL, 10) : timeout_ms;
    rc = snipc_open(&o, cl);
    if (rc)
        fprintf(stderr, "snipctl: cannot set up a channel to %s (%s): %s\n",
                n->name, n->addr, sw_err_str(rc));
    return rc ? -1 : 0;
}

static int ctl_cl_open(struct ctl_cl *c, struct ctl_cl_node *n, snipc **cl)
{
    return ctl_cl_open_for(c, n, 0, cl);
}

/* ctl_cl_failed prints a failed call and returns its exit code. */
static int ctl_cl_failed(struct ctl_cl_node *n, const char *what, sw_err rc,
                         const struct snipc_status *st)
{
    char lb[128];

    if (rc) {
        fprintf(stderr, "snipctl: %s on %s: %s\n", what, n->name,
                sw_err_str(rc));
        return EXIT_RPC;
    }
    fprintf(stderr, "snipctl: %s on %s (%s): %s: %s\n", what, n->name, n->addr,
            snipc_status_label(st, lb, sizeof(lb)), st->message);
    return ctl_exit_code(st->code);
}

/* A team as ListTeams gives it, and the node it was found on. */
struct ctl_cl_team {
    const char *team_id, *name;
    struct ctl_cl_node *node;
};

/* ctl_cl_list_node appends every team of node n to *teams. */
static int ctl_cl_list_node(struct ctl_cl *c, struct ctl_cl_node *n,
                            struct ctl_cl_team **teams, size_t *nt, size_t *cap)
{
    Snipwise__V1__ListTeamsRequest req = SNIPWISE__V1__LIST_TEAMS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    struct snipc_status st;
    snipc *cl = NULL;
    int pages, code = 0;
    size_t i;
    sw_err rc;

    if (ctl_cl_open(c, n, &cl) != 0)
        return EXIT_RPC;
    req.page_size = 1000;
    for (pages = 0; pages < CTL_CL_PAGES_MAX; pages++) {
        Snipwise__V1__ListTeamsResponse *r;
        rc = snipc_unary(cl, CTL_CL_ADMIN "ListTeams", &req.base,
                         &snipwise__v1__list_teams_response__descriptor, &c->a,
                         &resp, &st);
        if (rc || st.code) {
            code = ctl_cl_failed(n, "ListTeams", rc, &st);
            break;
        }
        r = (Snipwise__V1__ListTeamsResponse *)resp;
        for (i = 0; i < r->n_teams; i++) {
            if (*nt == *cap) {
                size_t nc = *cap ? 2 * *cap : 64;
                void *p = sw_realloc(*teams, nc * sizeof(**teams));
                if (p == NULL) {
                    code = EXIT_RPC;
                    goto out;
                }
                *teams = p;
                *cap = nc;
            }
            (*teams)[*nt].team_id = r->teams[i]->team_id;
            (*teams)[*nt].name = r->teams[i]->display_name;
            (*teams)[(*nt)++].node = n;
        }
        n->nteams += r->n_teams;
        if (r->next_page_token == NULL || r->next_page_token[0] == '\0')
            break;
        req.page_token = r->next_page_token;
    }
out:
    snipc_close(&cl);
    return code;
}

/* ctl_cl_census lists every node's teams (fanned out: there is no
 * directory node). */
static int ctl_cl_census(struct ctl_cl *c, struct ctl_cl_team **teams,
                         size_t *nt)
{
    size_t i, cap = 0;
    int code;

    *teams = NULL;
    *nt = 0;
    for (i = 0; i < c->nnodes; i++) {
        c->nodes[i].nteams = 0;
        code = ctl_cl_list_node(c, &c->nodes[i], teams, nt, &cap);
        if (code)
            return code;
    }
    return 0;
}

static int ctl_cl_list_teams(struct ctl_cl *c)
{
    struct ctl_cl_team *t = NULL;
    struct sw_buf b;
    size_t i, nt = 0, stray = 0;
    int code = ctl_cl_census(c, &t, &nt);

    sw_buf_init(&b, CTL_CL_MAP_MAX);
    if (code == 0)
        code = ctl_cl_map_load(c);
    if (code)
        goto out;
    if (c->json && sw_buf_addstr(&b, "{\"teams\":[") != SW_OK)
        code = EXIT_RPC;
    for (i = 0; i < nt && code == 0; i++) {
        const char *route = ctl_cl_map_lookup(c, t[i].team_id);
        /* A team with no map line takes the default route. */
        const char *eff = route[0] ? route : c->nodes[0].name;
        int ok = strcmp(eff, t[i].node->name) == 0;
        stray += !ok;
        if (!c->json) {
            printf("%s  %-12s routed=%-12s %s%s\n", t[i].team_id,
                   t[i].node->name, eff, t[i].name,
                   ok ? "" : "  (ROUTED ELSEWHERE)");
            continue;
        }
        if (sw_buf_printf(&b,
                          "%s{\"team_id\":\"%s\",\"node\":\"%s\","
                          "\"routed_to\":\"%s\",\"display_name\":",
                          i ? "," : "", t[i].team_id, t[i].node->name,
                          eff) != SW_OK ||
            sw_buf_add_json_str(&b, t[i].name, strlen(t[i].name)) != SW_OK ||
            sw_buf_addc(&b, '}') != SW_OK)
            code = EXIT_RPC;
    }
    if (c->json && code == 0 &&
        sw_buf_printf(&b, "],\"misrouted\":%zu}", stray) == SW_OK)
        printf("%s\n", sw_buf_str(&b));
    if (stray)
        fprintf(stderr,
                "snipctl: %zu team(s) live on a node their route "
                "does not name\n",
                stray);
out:
    sw_buf_free(&b);
    sw_free(t);
    return code;
}

/* ctl_cl_emptiest is the node with the fewest teams. */
static struct ctl_cl_node *ctl_cl_emptiest(struct ctl_cl *c)
{
    struct ctl_cl_team *t = NULL;
    struct ctl_cl_node *best = NULL;
    size_t i, nt;

    if (ctl_cl_census(c, &t, &nt) == 0)
        for (i = 0; i < c->nnodes; i++)
            if (best == NULL || c->nodes[i].nteams < best->nteams)
                best = &c->nodes[i];
    sw_free(t);
    return best;
}

static int ctl_cl_create_team(struct ctl_cl *c)
{
    Snipwise__V1__CreateTeamRequest req =
        SNIPWISE__V1__CREATE_TEAM_REQUEST__INIT;
    Snipwise__V1__CreateTeamResponse *r;
    ProtobufCMessage *resp = NULL;
    struct ctl_cl_node *n;
    struct snipc_status st;
    snipc *cl = NULL;
    int code = EXIT_RPC;
    sw_err rc;

    n = c->node ? ctl_cl_node(c, c->node) : ctl_cl_emptiest(c);
    if (n == NULL)
        return c->node ? EXIT_USAGE : EXIT_RPC;
    if (ctl_cl_open(c, n, &cl) != 0)
        return EXIT_RPC;
    req.display_name = (char *)c->pos[2];
    rc = snipc_unary(cl, CTL_CL_ADMIN "CreateTeam", &req.base,
                     &snipwise__v1__create_team_response__descriptor, &c->a,
                     &resp, &st);
    snipc_close(&cl);
    if (rc || st.code)
        return ctl_cl_failed(n, "CreateTeam", rc, &st);
    r = (Snipwise__V1__CreateTeamResponse *)resp;
    if (ctl_cl_route(c, r->team->team_id, n->name) != 0) {
        fprintf(stderr,
                "snipctl: team %s was made on %s but is not routed; run "
                "`snipctl cluster route %s %s`\n",
                r->team->team_id, n->name, r->team->team_id, n->name);
        code = EXIT_RPC;
    } else
        code = 0;
    if (c->json)
        printf("{\"team_id\":\"%s\",\"node\":\"%s\",\"api_key\":\"%s\"}\n",
               r->team->team_id, n->name, r->api_key);
    else
        printf("team_id: %s\nnode: %s\napi_key: %s\n", r->team->team_id,
               n->name, r->api_key);
    return code;
}

static int ctl_cl_route_cmd(struct ctl_cl *c)
{
    const char *team = c->pos[2];
    size_t i;

    if (c->npos != 4 || strlen(team) != CTL_CL_TEAM_LEN ||
        strncmp(team, "team_", 5) != 0)
        return ctl_cl_usage();
    for (i = 5; i < CTL_CL_TEAM_LEN; i++)
        if (!((team[i] >= '0' && team[i] <= '9') ||
              (team[i] >= 'a' && team[i] <= 'f')))
            return ctl_cl_usage();
    if (ctl_cl_node(c, c->pos[3]) == NULL)
        return EXIT_USAGE;
    return ctl_cl_route(c, team, c->pos[3]) == 0 ? 0 : EXIT_RPC;
}

/* --- Moving a team ---------------------------------------------------- */

/* ctl_cl_move_rpc calls a unary TeamMoveService method on node n; *out
 * (optional) receives the TeamMove. Returns 0 or the exit code. */
static int ctl_cl_move_rpc(struct ctl_cl *c, struct ctl_cl_node *n,
                           const char *method, const ProtobufCMessage *req,
                           Snipwise__V1__TeamMove **out)
{
    ProtobufCMessage *resp = NULL;
    struct snipc_status st;
    struct sw_buf path;
    snipc *cl = NULL;
    int code = 0;
    sw_err rc;

    if (ctl_cl_open(c, n, &cl) != 0)
        return EXIT_RPC;
    sw_buf_init(&path, 256);
    rc = sw_buf_printf(&path, CTL_CL_MOVE "%s", method);
    if (rc == SW_OK)
        rc = snipc_unary(cl, sw_buf_str(&path), req,
                         &snipwise__v1__team_move__descriptor, &c->a, &resp,
                         &st);
    if (rc || st.code)
        code = ctl_cl_failed(n, method, rc, &st);
    else if (out)
        *out = (Snipwise__V1__TeamMove *)resp;
    sw_buf_free(&path);
    snipc_close(&cl);
    return code;
}

static int ctl_cl_move_get(struct ctl_cl *c, struct ctl_cl_node *n,
                           const char *team, Snipwise__V1__TeamMove **out)
{
    Snipwise__V1__GetTeamMoveRequest req =
        SNIPWISE__V1__GET_TEAM_MOVE_REQUEST__INIT;

    req.team_id = (char *)team;
    return ctl_cl_move_rpc(c, n, "GetTeamMove", &req.base, out);
}

/* The relay of one team's records: the source's ExportTeam stream in, the
 * target's ImportTeam stream out. */
struct ctl_cl_relay {
    snipc_stream *out;
    const char *team;
    int64_t records, bytes;
    int last, failed;
};

static int ctl_cl_relay_batch(const ProtobufCMessage *m, void *arg)
{
    const Snipwise__V1__TeamRecordBatch *b = (const void *)m;
    Snipwise__V1__ImportTeamRequest req =
        SNIPWISE__V1__IMPORT_TEAM_REQUEST__INIT;
    struct ctl_cl_relay *r = arg;
    size_t i;

    req.team_id = (char *)r->team;
    req.n_records = b->n_records;
    req.records = b->records;
    req.commit = b->last;
    /* A large value comes in pieces: its key counts once, and the record
     * when its last piece passes. */
    for (i = 0; i < b->n_records; i++) {
        const Snipwise__V1__TeamRecord *t = b->records[i];
        r->bytes += (int64_t)t->value.len;
        if (t->value_size == 0 || t->value_offset == 0)
            r->bytes += (int64_t)t->key.len;
        if (t->value_size == 0 ||
            t->value_offset + (int64_t)t->value.len == t->value_size)
            r->records++;
    }
    if (snipc_stream_send(r->out, &req.base) != SW_OK) {
        r->failed = 1;
        return 1; /* the target ended the import: finish says why */
    }
    if (b->last) {
        r->last = 1;
        if (b->total_records != r->records || b->total_bytes != r->bytes) {
            fprintf(stderr,
                    "snipctl: the export of %s counted %lld records, %lld "
                    "bytes; %lld and %lld arrived\n",
                    r->team, (long long)b->total_records,
                    (long long)b->total_bytes, (long long)r->records,
                    (long long)r->bytes);
            r->failed = 1;
            return 1;
        }
    }
    return 0;
}

/* ctl_cl_copy relays src's export of team into dst's import. */
static int ctl_cl_copy(struct ctl_cl *c, struct ctl_cl_node *src,
                       struct ctl_cl_node *dst, const char *team,
                       struct ctl_cl_relay *r)
{
    Snipwise__V1__ExportTeamRequest req =
        SNIPWISE__V1__EXPORT_TEAM_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    struct snipc_status st, ist;
    snipc *in = NULL, *out = NULL;
    int code = EXIT_RPC;
    sw_err rc, irc;

    memset(r, 0, sizeof(*r));
    r->team = team;
    if (ctl_cl_open_for(c, src, CTL_CL_MOVE_TIMEOUT_MS, &in) != 0 ||
        ctl_cl_open_for(c, dst, CTL_CL_MOVE_TIMEOUT_MS, &out) != 0)
        goto out;
    if (snipc_stream_open(out, CTL_CL_MOVE "ImportTeam", &r->out) != SW_OK) {
        fprintf(stderr, "snipctl: cannot open ImportTeam on %s\n", dst->name);
        goto out;
    }
    req.team_id = (char *)team;
    req.batch_bytes = c->batch ? (int32_t)strtol(c->batch, NULL, 10) : 0;
    rc = snipc_server_stream(in, CTL_CL_MOVE "ExportTeam", &req.base,
                             &snipwise__v1__team_record_batch__descriptor,
                             ctl_cl_relay_batch, r, &c->a, &st);
    /* Finishing the import without its commit message discards it. */
    irc = snipc_stream_finish(&r->out,
                              &snipwise__v1__import_team_response__descriptor,
                              &c->a, &resp, &ist);
    if ((rc || st.code) && !r->failed) {
        code = ctl_cl_failed(src, "ExportTeam", rc, &st);
        goto out;
    }
    if (irc || ist.code) {
        code = ctl_cl_failed(dst, "ImportTeam", irc, &ist);
        goto out;
    }
    if (!r->last || r->failed) {
        fprintf(stderr, "snipctl: the export of %s from %s ended early\n", team,
                src->name);
        goto out;
    }
    code = 0;
out:
    snipc_close(&in);
    snipc_close(&out);
    return code;
}

/* ctl_cl_find_source finds the node other than dst that serves team (or
 * holds it frozen); NULL when none does. */
static int ctl_cl_find_source(struct ctl_cl *c, struct ctl_cl_node *dst,
                              const char *team, struct ctl_cl_node **src)
{
    Snipwise__V1__TeamMove *m = NULL;
    size_t i;
    int code;

    *src = NULL;
    for (i = 0; i < c->nnodes; i++) {
        if (&c->nodes[i] == dst)
            continue;
        code = ctl_cl_move_get(c, &c->nodes[i], team, &m);
        if (code)
            return code;
        if (m->state !=
                SNIPWISE__V1__TEAM_MOVE_STATE__TEAM_MOVE_STATE_SERVING &&
            m->state != SNIPWISE__V1__TEAM_MOVE_STATE__TEAM_MOVE_STATE_FROZEN)
            continue;
        if (*src) {
            fprintf(stderr, "snipctl: team %s is on both %s and %s\n", team,
                    (*src)->name, c->nodes[i].name);
            return EXIT_RPC;
        }
        *src = &c->nodes[i];
    }
    return 0;
}

/* ctl_cl_move_team moves a team to c->to. Every step is safe to repeat:
 * run the command again after any failure or crash and it goes on from
 * where the nodes say the move stands. The team's writes pause from the
 * freeze to the route's change (the cut-over); reads go on throughout. */
static int ctl_cl_move_team(struct ctl_cl *c)
{
    Snipwise__V1__FreezeTeamRequest fr =
        SNIPWISE__V1__FREEZE_TEAM_REQUEST__INIT;
    Snipwise__V1__FinishTeamMoveRequest fin =
        SNIPWISE__V1__FINISH_TEAM_MOVE_REQUEST__INIT;
    const char *team = c->pos[2];
    struct ctl_cl_node *dst = ctl_cl_node(c, c->to), *src = NULL;
    Snipwise__V1__TeamMove *at = NULL;
    struct ctl_cl_relay r;
    int64_t t0 = sw_mono_ms(), cut = 0;
    int code;

    memset(&r, 0, sizeof(r));
    if (dst == NULL)
        return EXIT_USAGE;
    code = ctl_cl_find_source(c, dst, team, &src);
    if (code == 0)
        code = ctl_cl_move_get(c, dst, team, &at);
    if (code)
        return code;
    if (src == NULL) {
        if (at->state !=
            SNIPWISE__V1__TEAM_MOVE_STATE__TEAM_MOVE_STATE_SERVING) {
            fprintf(stderr, "snipctl: no node serves team %s\n", team);
            return EXIT_NOTFOUND;
        }
        /* Already there (an earlier run got this far): the route only. */
        fprintf(stderr, "move: %s is on %s\n", team, dst->name);
        return ctl_cl_route(c, team, dst->name) == 0 ? 0 : EXIT_RPC;
    }
    fr.team_id = (char *)team;
    fr.target_node = (char *)dst->name;
    code = ctl_cl_move_rpc(c, src, "FreezeTeam", &fr.base, NULL);
    if (code)
        return code;
    fprintf(stderr, "move: %s frozen on %s\n", team, src->name);
    if (at->state != SNIPWISE__V1__TEAM_MOVE_STATE__TEAM_MOVE_STATE_SERVING) {
        code = ctl_cl_copy(c, src, dst, team, &r);
        if (code)
            return code;
        fprintf(stderr, "move: %s copied to %s: %lld records, %lld bytes\n",
                team, dst->name, (long long)r.records, (long long)r.bytes);
    }
    if (ctl_cl_route(c, team, dst->name) != 0)
        return EXIT_RPC;
    cut = sw_mono_ms() - t0;
    fprintf(stderr, "move: %s routed to %s\n", team, dst->name);
    fin.team_id = (char *)team;
    fin.records = r.records;
    fin.bytes = r.bytes;
    code = ctl_cl_move_rpc(c, src, "FinishTeamMove", &fin.base, NULL);
    if (code)
        return code;
    fprintf(stderr, "move: %s finished on %s\n", team, src->name);
    if (c->json)
        printf("{\"team_id\":\"%s\",\"from\":\"%s\",\"to\":\"%s\","
               "\"records\":%lld,\"bytes\":%lld,\"cutover_ms\":%lld,"
               "\"total_ms\":%lld}\n",
               team, src->name, dst->name, (long long)r.records,
               (long long)r.bytes, (long long)cut,
               (long long)(sw_mono_ms() - t0));
    else
        printf("team %s moved from %s to %s: %lld records, %lld bytes; "
               "writes paused %lld ms\n",
               team, src->name, dst->name, (long long)r.records,
               (long long)r.bytes, (long long)cut);
    return 0;
}

int ctl_cluster_main(int argc, char **argv)
{
    struct ctl_cl c;
    const char *verb;
    int code;

    memset(&c, 0, sizeof(c));
    if (ctl_cl_parse(argc, argv, &c) != 0)
        return ctl_cl_usage();
    verb = c.pos[1];
    if (ctl_cl_load(&c) != 0) {
        json_decref(c.doc);
        return EXIT_USAGE;
    }
    sw_arena_init(&c.a, 0);
    grpc_init();
    if (strcmp(verb, "haproxy-config") == 0 && c.npos == 2)
        code = ctl_cl_haproxy_config(&c);
    else if (strcmp(verb, "create-team") == 0 && c.npos == 3)
        code = ctl_cl_create_team(&c);
    else if (strcmp(verb, "list-teams") == 0 && c.npos == 2)
        code = ctl_cl_list_teams(&c);
    else if (strcmp(verb, "route") == 0)
        code = ctl_cl_route_cmd(&c);
    else if (strcmp(verb, "move-team") == 0 && c.npos == 3 && c.to)
        code = ctl_cl_move_team(&c);
    else
        code = ctl_cl_usage();
    grpc_shutdown();
    sw_arena_free(&c.a);
    explicit_bzero(c.nodes, sizeof(c.nodes));
    json_decref(c.doc);
    return code;
}
