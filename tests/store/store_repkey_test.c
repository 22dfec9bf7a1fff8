/* store_repkey_test: rep keys in the store (issue 17): made only for a
 * member of an existing team, listed by role with full pages, revoked only
 * as their role, revoked with their member; and the routing prefix of team
 * and rep keys (issue 22). Each case in its own store directory. The
 * service's side is tests/e2e/test_rep_keys.py and test_cluster.py. */
#include "tests/testutil.h"

#include <stdbool.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "store/store.h"
#include "store/store_tenant.h"

struct fixture {
    char dir[TEST_PATH_MAX];
    store *s;
    int64_t live;
    struct store_team t, u; /* two teams; t has members ann and bob */
};

static int setup(void **state)
{
    struct fixture *f = sw_calloc(1, sizeof(*f));
    struct store_opts o;

    if (f == NULL)
        return -1;
    f->live = sw_mem_live();
    test_mkdtemp(f->dir);
    memset(&o, 0, sizeof(o));
    o.dir = f->dir;
    if (store_open(&o, &f->s) != SW_OK ||
        store_team_create(f->s, "one", &f->t, NULL, NULL) != SW_OK ||
        store_team_create(f->s, "two", &f->u, NULL, NULL) != SW_OK ||
        store_member_add(f->s, f->t.team_id, "ann@t.example", "", NULL, NULL) !=
            SW_OK ||
        store_member_add(f->s, f->t.team_id, "bob@t.example", "", NULL, NULL) !=
            SW_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int64_t live, before = f->live;

    store_team_clear(&f->t);
    store_team_clear(&f->u);
    store_close(&f->s);
    test_rmtree(f->dir);
    live = sw_mem_live(); /* f itself was counted before it */
    sw_free(f);
    if (live != before) {
        print_error("leak: %lld blocks live\n", (long long)(live - before));
        return -1;
    }
    return 0;
}

/* rep_key makes a rep key of f->t for email and returns its secret. */
static char *rep_key(struct fixture *f, const char *email,
                     struct store_apikey *out)
{
    char *secret = NULL;

    ASSERT_OK(store_key_create_rep(f->s, f->t.team_id, email, "rep", out,
                                   &secret, NULL));
    return secret;
}

static void test_create_needs_a_member(void **state)
{
    struct fixture *f = *state;
    struct store_apikey k = {0}, a = {0}, *items = NULL;
    char *secret, *none = NULL, *next = NULL;
    struct sw_buf why;
    size_t n;

    sw_buf_init(&why, 1024);
    secret = rep_key(f, "Ann@T.Example", &k);
    assert_int_equal(k.role, STORE_ROLE_REP);
    assert_string_equal(k.rep_email, "ann@t.example");
    assert_string_equal(k.team_id, f->t.team_id);
    ASSERT_OK(store_key_authenticate(f->s, secret, strlen(secret), &a));
    assert_int_equal(a.role, STORE_ROLE_REP);
    assert_string_equal(a.rep_email, "ann@t.example");
    store_apikey_clear(&a);

    /* Not a member (of this team), a bad email, no team; store_key_create
     * makes no rep keys. Nothing is written by any of them. */
    ASSERT_ERR(store_key_create_rep(f->s, f->t.team_id, "eve@t.example", "x",
                                    NULL, &none, &why),
               SW_ESTATE);
    assert_non_null(strstr(sw_buf_str(&why), "not a member"));
    ASSERT_OK(
        store_member_add(f->s, f->u.team_id, "eve@t.example", "", NULL, NULL));
    ASSERT_ERR(store_key_create_rep(f->s, f->t.team_id, "eve@t.example", "x",
                                    NULL, &none, NULL),
               SW_ESTATE);
    ASSERT_ERR(store_key_create_rep(f->s, f->t.team_id, "no email", "x", NULL,
                                    &none, &why),
               SW_EINVAL);
    ASSERT_ERR(store_key_create_rep(f->s, "team_0000000000000000",
                                    "ann@t.example", "x", NULL, &none, NULL),
               SW_ENOTFOUND);
    ASSERT_ERR(store_key_create(f->s, f->t.team_id, "x", STORE_ROLE_REP, NULL,
                                &none, NULL),
               SW_EINVAL);
    assert_null(none);
    ASSERT_OK(
        store_key_list(f->s, f->t.team_id, 0, NULL, &items, &n, &next, NULL));
    assert_int_equal(n, 2); /* the team's first key and ann's */
    store_apikeys_free(items, n);

    /* Team keys carry no rep. */
    ASSERT_OK(
        store_key_list(f->s, f->u.team_id, 0, NULL, &items, &n, &next, NULL));
    assert_int_equal(n, 1);
    assert_int_equal(items[0].role, STORE_ROLE_TEAM);
    assert_string_equal(items[0].rep_email, "");
    store_apikeys_free(items, n);

    store_apikey_clear(&k);
    sw_free(secret);
    sw_buf_free(&why);
}

static void test_list_by_role(void **state)
{
    struct fixture *f = *state;
    struct store_apikey *items = NULL;
    char *secrets[5], *tok = NULL, *next = NULL;
    size_t n, total = 0;
    int i, pages = 0;

    for (i = 0; i < 5; i++)
        secrets[i] =
            rep_key(f, i % 2 ? "ann@t.example" : "bob@t.example", NULL);
    /* Pages of 2 rep keys among the team key: 2, 2, 1, and every page but
     * the last has a token. */
    do {
        ASSERT_OK(store_key_list_role(f->s, f->t.team_id, STORE_ROLE_REP, 2,
                                      tok, &items, &n, &next, NULL));
        pages++;
        assert_int_equal(n, pages < 3 ? 2 : 1);
        for (i = 0; i < (int)n; i++)
            assert_int_equal(items[i].role, STORE_ROLE_REP);
        total += n;
        store_apikeys_free(items, n);
        sw_free(tok);
        tok = next;
    } while (tok);
    assert_int_equal(pages, 3);
    assert_int_equal(total, 5);
    ASSERT_OK(store_key_list_role(f->s, f->t.team_id, STORE_ROLE_TEAM, 5, NULL,
                                  &items, &n, &next, NULL));
    assert_int_equal(n, 1);
    assert_null(next);
    store_apikeys_free(items, n);
    ASSERT_OK(store_key_list_role(f->s, f->u.team_id, STORE_ROLE_REP, 0, NULL,
                                  &items, &n, &next, NULL));
    assert_int_equal(n, 0);
    assert_null(next);
    store_apikeys_free(items, n);
    for (i = 0; i < 5; i++)
        sw_free(secrets[i]);
}

static void test_revoke_by_role(void **state)
{
    struct fixture *f = *state;
    struct store_apikey k = {0}, r = {0}, a = {0}, *items = NULL;
    char *secret, *next = NULL, *team_key_id;
    struct sw_buf why;
    size_t n;

    sw_buf_init(&why, 1024);
    secret = rep_key(f, "ann@t.example", &k);
    ASSERT_OK(store_key_list_role(f->s, f->t.team_id, STORE_ROLE_TEAM, 0, NULL,
                                  &items, &n, &next, NULL));
    assert_int_equal(n, 1);
    team_key_id = sw_strdup(items[0].key_id);
    store_apikeys_free(items, n);
    /* A team key is not revoked as a rep key; another team's is missing. */
    ASSERT_ERR(store_key_revoke_role(f->s, f->t.team_id, STORE_ROLE_REP,
                                     team_key_id, &r, &why),
               SW_ESTATE);
    assert_true(sw_buf_len(&why) > 0);
    ASSERT_ERR(store_key_revoke_role(f->s, f->u.team_id, STORE_ROLE_REP,
                                     k.key_id, &r, NULL),
               SW_ENOTFOUND);
    ASSERT_OK(store_key_list_role(f->s, f->t.team_id, 0, 0, NULL, &items, &n,
                                  &next, NULL));
    assert_int_equal(n, 2);
    assert_int_equal(items[0].revoke_ms + items[1].revoke_ms, 0);
    store_apikeys_free(items, n);
    ASSERT_OK(store_key_revoke_role(f->s, f->t.team_id, STORE_ROLE_REP,
                                    k.key_id, &r, NULL));
    assert_true(r.revoke_ms > 0);
    ASSERT_ERR(store_key_authenticate(f->s, secret, strlen(secret), &a),
               SW_EUNAUTH);
    store_apikey_clear(&k);
    store_apikey_clear(&r);
    sw_free(team_key_id);
    sw_free(secret);
    sw_buf_free(&why);
}

static void test_member_removal_revokes_its_keys(void **state)
{
    struct fixture *f = *state;
    struct store_apikey a = {0}, b = {0}, got = {0}, *items = NULL;
    char *sa, *sa2, *sb, *next = NULL;
    size_t n, i;
    int revoked = 0;

    sa = rep_key(f, "ann@t.example", &a);
    sa2 = rep_key(f, "ann@t.example", NULL);
    sb = rep_key(f, "bob@t.example", &b);
    ASSERT_OK(store_member_remove(f->s, f->t.team_id, "ANN@t.example", NULL));
    ASSERT_ERR(store_key_authenticate(f->s, sa, strlen(sa), &got), SW_EUNAUTH);
    ASSERT_ERR(store_key_authenticate(f->s, sa2, strlen(sa2), &got),
               SW_EUNAUTH);
    ASSERT_OK(store_key_authenticate(f->s, sb, strlen(sb), &got));
    assert_string_equal(got.rep_email, "bob@t.example");
    store_apikey_clear(&got);
    ASSERT_OK(
        store_key_list(f->s, f->t.team_id, 0, NULL, &items, &n, &next, NULL));
    assert_int_equal(n, 4);
    for (i = 0; i < n; i++)
        revoked += items[i].revoke_ms > 0;
    assert_int_equal(revoked, 2); /* ann's two; bob's and the team key live */
    store_apikeys_free(items, n);
    /* Re-adding the member revives nothing; removing a non-member fails
     * and revokes nothing. */
    ASSERT_OK(
        store_member_add(f->s, f->t.team_id, "ann@t.example", "", NULL, NULL));
    ASSERT_ERR(store_key_authenticate(f->s, sa, strlen(sa), &got), SW_EUNAUTH);
    ASSERT_ERR(store_member_remove(f->s, f->t.team_id, "zed@t.example", NULL),
               SW_ENOTFOUND);
    ASSERT_OK(store_key_authenticate(f->s, sb, strlen(sb), &got));
    store_apikey_clear(&got);
    store_apikey_clear(&a);
    store_apikey_clear(&b);
    sw_free(sa);
    sw_free(sa2);
    sw_free(sb);
}

/* A team or rep key carries its team's id in front (STORE_ROUTE_SEP); an
 * admin key none. The prefix must name the key's own team. */
static void test_routing_prefix(void **state)
{
    struct fixture *f = *state;
    char route[STORE_ROUTE_LEN + 1], other[STORE_KEY_MAX_LEN + 1];
    struct store_apikey a, k;
    char *s1 = NULL, *sa = NULL, *sr;
    const char *bare;

    memset(&a, 0, sizeof(a));
    ASSERT_OK(store_key_create(f->s, f->t.team_id, "ci", STORE_ROLE_TEAM, &k,
                               &s1, NULL));
    ASSERT_OK(
        store_key_create(f->s, NULL, "ops", STORE_ROLE_ADMIN, NULL, &sa, NULL));
    bare = s1 + STORE_ROUTE_LEN + 1;
    assert_int_equal(strlen(s1), STORE_KEY_MAX_LEN);
    ASSERT_OK(store_key_route(s1, strlen(s1), route));
    assert_string_equal(route, f->t.team_id);
    ASSERT_ERR(store_key_route(sa, strlen(sa), route), SW_ENOTFOUND);
    assert_int_equal(strlen(sa), STORE_SECRET_LEN);
    ASSERT_ERR(store_key_route(s1, STORE_ROUTE_LEN, route), SW_ENOTFOUND);
    ASSERT_ERR(store_key_route("team_ABCDEF0123456789.sk_", 25, route),
               SW_ENOTFOUND);
    /* The same secret behind another team's prefix is refused. */
    snprintf(other, sizeof(other), "%s.%s", f->u.team_id, bare);
    ASSERT_ERR(store_key_authenticate(f->s, other, strlen(other), &a),
               SW_EUNAUTH);
    /* The bare secret (a key made before routing) authenticates. */
    ASSERT_OK(store_key_authenticate(f->s, bare, strlen(bare), &a));
    assert_string_equal(a.team_id, f->t.team_id);
    store_apikey_clear(&a);
    /* A routed key with a bad separator is malformed. */
    snprintf(other, sizeof(other), "%s", s1);
    other[STORE_ROUTE_LEN] = '_';
    ASSERT_ERR(store_key_authenticate(f->s, other, strlen(other), &a),
               SW_EUNAUTH);
    /* A rep key is routed like its team's. */
    sr = rep_key(f, "ann@t.example", NULL);
    ASSERT_OK(store_key_route(sr, strlen(sr), route));
    assert_string_equal(route, f->t.team_id);
    ASSERT_OK(store_key_authenticate(f->s, sr, strlen(sr), &a));
    assert_int_equal(a.role, STORE_ROLE_REP);
    store_apikey_clear(&a);
    store_apikey_clear(&k);
    sw_free(s1);
    sw_free(sa);
    sw_free(sr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_needs_a_member, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_list_by_role, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoke_by_role, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routing_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_member_removal_revokes_its_keys,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
