/* store: the LMDB environment, transactions with automatic map growth,
 * key/value operations, team-prefixed keys, sequence counters and the
 * protobuf-c record helpers of store_int.h. The only file set that includes
 * lmdb.h; every MDB_* code is converted to an sw_err here. */
#include "store/store.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "store/store_int.h"

#define STORE_DEFAULT_MAP ((size_t)64 << 20)
#define STORE_DEFAULT_MAX_MAP ((size_t)1 << 40)
#define STORE_DEFAULT_READERS 512u
/* MDB_MAP_RESIZED can repeat if another process keeps growing the map while
 * we adopt its size; give up after this many rounds. */
#define STORE_RESIZED_TRIES 16

/* LMDB reports a short write, which is how a full filesystem usually shows
 * (some bytes fit, not all), as EIO. An EIO while the data dir's
 * filesystem has less than this free is taken for a full disk. */
#define STORE_DISK_FULL_SLACK ((uint64_t)1 << 20)

/* Why the latest SW_ENOSPACE happened (store_nospace_why). */
enum store_nospace {
    STORE_NOSPACE_NONE = 0,
    STORE_NOSPACE_MAP = 1,  /* MDB_MAP_FULL at max_map */
    STORE_NOSPACE_DISK = 2, /* ENOSPC or EDQUOT from a write */
};

struct store_db_row {
    const char *name;
    int prefixed;
};

static const struct store_db_row store_db_rows[STORE_DB_COUNT] = {
#define STORE_DB_ROW(name, lmdb_name, prefixed) [name] = {lmdb_name, prefixed},
    STORE_DB_LIST(STORE_DB_ROW)
#undef STORE_DB_ROW
};

/* The gate stands in for a process-wide reader/writer lock around every
 * transaction: mdb_env_set_mapsize remaps the file and so requires that no
 * transaction of this process is active. Transactions enter it shared and a
 * resize enters it exclusive. It is a mutex and a condition variable rather
 * than a pthread_rwlock because, with MDB_NOTLS, a read transaction may end
 * on a different thread from the one that began it, and unlocking a
 * pthread_rwlock from another thread is undefined. The gate prefers readers:
 * a resize waits until no transaction is open, and new transactions are held
 * back only while the remap itself runs. That can delay a resize under a
 * steady stream of overlapping transactions, but it never deadlocks a thread
 * that opens a second read transaction while holding one. */
struct store {
    MDB_env *env;
    MDB_dbi dbi[STORE_DB_COUNT];
    char *dir;          /* for messages */
    atomic_int nospace; /* enum store_nospace of the latest SW_ENOSPACE */
    size_t max_map;
    size_t max_key;
    size_t purge_slice; /* store_opts.purge_slice, defaulted */
    pthread_mutex_t gate_mu;
    pthread_cond_t gate_cv;
    int gate_ready;
    unsigned gate_active; /* transactions open in this process */
    int gate_resizing;    /* a remap is running */
};

struct store_txn {
    store *s;
    MDB_txn *txn;
    int write;
    int in_update; /* run by store_update: a full map is retried, not logged */
    int map_full;  /* some operation hit MDB_MAP_FULL */
    size_t map_at_begin;
};

const char *store_db_name(enum store_db db)
{
    if ((int)db < 0 || db >= STORE_DB_COUNT)
        return "?";
    return store_db_rows[db].name;
}

/* store_err converts an LMDB result at the module edge and logs the original
 * message once. Not-found and key-exists are ordinary results, not logged. */
static SW_MUST_CHECK sw_err store_err(int mrc, const char *op)
{
    sw_err e;

    switch (mrc) {
    case MDB_SUCCESS:
        return SW_OK;
    case MDB_NOTFOUND:
        return SW_ENOTFOUND;
    case MDB_KEYEXIST:
        return SW_EEXIST;
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT:
        e = SW_ENOSPACE;
        break;
    case MDB_TXN_FULL:
        e = SW_ETOOBIG;
        break;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
        e = SW_ECORRUPT;
        break;
    case ENOMEM:
        e = SW_ENOMEM;
        break;
    default:
        e = SW_ESTORE;
        break;
    }
    sw_log_error("store.lmdb_error", "op=%s code=%d msg=\"%s\"", op, mrc,
                 mdb_strerror(mrc));
    return e;
}

/* store_txn_err is store_err for operations inside a transaction: it notes a
 * full map so that store_update can grow it and try again, and remembers
 * the cause of a full map or disk for store_nospace_why. A write that fails
 * for lack of room on the filesystem (mdb_put spilling pages, or the pages
 * written by mdb_txn_commit; LMDB says EIO for a short write, so an EIO on
 * a nearly full filesystem counts too) leaves the environment usable: LMDB
 * aborts the transaction and the meta page still names the last good commit. */
static SW_MUST_CHECK sw_err store_txn_err(store_txn *t, int mrc, const char *op)
{
    struct statvfs fs;

    if (mrc == EIO && statvfs(t->s->dir, &fs) == 0 &&
        (uint64_t)fs.f_bavail * fs.f_frsize < STORE_DISK_FULL_SLACK) {
        sw_log_warn("store.short_write", "op=%s dir=\"%s\" free_bytes=%llu", op,
                    t->s->dir, (unsigned long long)fs.f_bavail * fs.f_frsize);
        mrc = ENOSPC;
    }
    if (mrc == MDB_MAP_FULL) {
        t->map_full = 1;
        if (t->in_update)
            return SW_ENOSPACE;
        atomic_store(&t->s->nospace, STORE_NOSPACE_MAP);
    } else if (mrc == ENOSPC || mrc == EDQUOT) {
        atomic_store(&t->s->nospace, STORE_NOSPACE_DISK);
        sw_log_error("store.disk_full", "op=%s dir=\"%s\" code=%d msg=\"%s\"",
                     op, t->s->dir, mrc, mdb_strerror(mrc));
        return SW_ENOSPACE;
    }
    return store_err(mrc, op);
}

static void store_gate_enter(store *s)
{
    pthread_mutex_lock(&s->gate_mu);
    while (s->gate_resizing)
        pthread_cond_wait(&s->gate_cv, &s->gate_mu);
    s->gate_active++;
    pthread_mutex_unlock(&s->gate_mu);
}

static void store_gate_leave(store *s)
{
    pthread_mutex_lock(&s->gate_mu);
    s->gate_active--;
    if (s->gate_active == 0)
        pthread_cond_broadcast(&s->gate_cv);
    pthread_mutex_unlock(&s->gate_mu);
}

/* store_resize remaps the environment with no transaction of this process
 * open. seen == 0 adopts the size another process recorded
 * (MDB_MAP_RESIZED); otherwise seen is the map size under which a write
 * transaction filled the map, and the map doubles unless another thread or
 * process has grown it since. */
static SW_MUST_CHECK sw_err store_resize(store *s, size_t seen)
{
    MDB_envinfo info;
    size_t want = 0;
    sw_err rc = SW_OK;
    int mrc;

    pthread_mutex_lock(&s->gate_mu);
    while (s->gate_resizing || s->gate_active > 0)
        pthread_cond_wait(&s->gate_cv, &s->gate_mu);
    s->gate_resizing = 1;
    pthread_mutex_unlock(&s->gate_mu);

    mrc = mdb_env_info(s->env, &info);
    if (mrc) {
        rc = store_err(mrc, "env_info");
        goto out;
    }
    if (seen != 0) {
        if (info.me_mapsize > seen)
            goto out;
        if (seen >= s->max_map) {
            sw_log_error("store.map_full", "map_bytes=%zu max_map_bytes=%zu",
                         seen, s->max_map);
            atomic_store(&s->nospace, STORE_NOSPACE_MAP);
            rc = SW_ENOSPACE;
            goto out;
        }
        want = seen > s->max_map / 2 ? s->max_map : seen * 2;
    }
    mrc = mdb_env_set_mapsize(s->env, want);
    if (mrc) {
        rc = store_err(mrc, "env_set_mapsize");
        goto out;
    }
    mrc = mdb_env_info(s->env, &info);
    if (mrc) {
        rc = store_err(mrc, "env_info");
        goto out;
    }
    sw_log_info("store.map_grow", "from=%zu to=%zu reason=%s", seen,
                info.me_mapsize, seen ? "full" : "resized_elsewhere");
out:
    pthread_mutex_lock(&s->gate_mu);
    s->gate_resizing = 0;
    pthread_cond_broadcast(&s->gate_cv);
    pthread_mutex_unlock(&s->gate_mu);
    return rc;
}

/* store_strerror returns errno e's message (GNU strerror_r, which we get
 * with _GNU_SOURCE, returns it, and may or may not use eb). */
static const char *store_strerror(int e, char *eb, size_t n)
{
    return strerror_r(e, eb, n);
}

/* store_prepare_dir checks o->dir before LMDB sees it (see store_open for
 * the contract): with must_exist, that it holds a non-empty data.mdb;
 * otherwise it creates the directory's last component if it is missing.
 * Nothing is created when it fails. */
static SW_MUST_CHECK sw_err store_prepare_dir(const struct store_opts *o)
{
    struct stat st;
    struct sw_buf file;
    char eb[128];
    sw_err rc = SW_OK;
    int e;

    sw_buf_init(&file, 8192);
    if (stat(o->dir, &st) != 0) {
        e = errno;
        if (e == ENOENT && o->must_exist) {
            sw_log_warn("store.not_a_store",
                        "dir=\"%s\" why=\"no such directory\"", o->dir);
            rc = SW_ENOTFOUND;
            goto out;
        }
        if (e != ENOENT) {
            sw_log_error("store.stat_failed", "dir=\"%s\" errno=%d msg=\"%s\"",
                         o->dir, e, store_strerror(e, eb, sizeof(eb)));
            rc = SW_EIO;
            goto out;
        }
        /* Only the last component: mkdir(2) fails with ENOENT when the
         * parent is missing, and we never create parents. */
        if (mkdir(o->dir, 0700) != 0 && errno != EEXIST) {
            e = errno;
            sw_log_error("store.mkdir_failed", "dir=\"%s\" errno=%d msg=\"%s\"",
                         o->dir, e, store_strerror(e, eb, sizeof(eb)));
            rc = e == ENOENT   ? SW_ENOTFOUND
                 : e == ENOSPC ? SW_ENOSPACE
                               : SW_EIO;
            goto out;
        }
        if (stat(o->dir, &st) != 0) {
            rc = SW_EIO;
            goto out;
        }
    }
    if (!S_ISDIR(st.st_mode)) {
        sw_log_error("store.not_a_dir", "dir=\"%s\"", o->dir);
        rc = SW_EIO;
        goto out;
    }
    if (!o->must_exist)
        goto out;
    rc = sw_buf_printf(&file, "%s/data.mdb", o->dir);
    if (rc)
        goto out;
    if (stat(sw_buf_str(&file), &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_size == 0) {
        sw_log_warn("store.not_a_store", "dir=\"%s\" why=\"no data.mdb\"",
                    o->dir);
        rc = SW_ENOTFOUND;
    }
out:
    sw_buf_free(&file);
    return rc;
}

/* store_check_schema writes the schema version into a new store (unless
 * must_exist: then a missing record means "not a Snipwise store") and
 * rejects one written by a newer Snipwise. Older versions would be migrated
 * here. *created is set when the record was written. */
static SW_MUST_CHECK sw_err store_check_schema(store *s, MDB_txn *txn,
                                               int must_exist, int *created)
{
    static const char key[] = STORE_META_SCHEMA_KEY;
    unsigned char buf[8];
    MDB_val k = {sizeof(key) - 1, (void *)key}, v;
    uint64_t ver;
    int mrc;

    *created = 0;
    mrc = mdb_get(txn, s->dbi[STORE_DB_META], &k, &v);
    if (mrc == MDB_NOTFOUND && must_exist) {
        sw_log_warn("store.not_a_store", "dir=\"%s\" why=\"no schema record\"",
                    s->dir);
        return SW_ENOTFOUND;
    }
    if (mrc == MDB_NOTFOUND) {
        *created = 1;
        store_u64_put(buf, STORE_SCHEMA_VERSION);
        v.mv_size = sizeof(buf);
        v.mv_data = buf;
        mrc = mdb_put(txn, s->dbi[STORE_DB_META], &k, &v, 0);
        return store_err(mrc, "put_schema");
    }
    if (mrc)
        return store_err(mrc, "get_schema");
    if (v.mv_size != 8) {
        sw_log_error("store.schema_corrupt", "len=%zu", v.mv_size);
        return SW_ECORRUPT;
    }
    ver = store_u64_get(v.mv_data);
    if (ver > STORE_SCHEMA_VERSION) {
        sw_log_error("store.schema_newer", "found=%llu supported=%d",
                     (unsigned long long)ver, STORE_SCHEMA_VERSION);
        return SW_ESCHEMA;
    }
    if (ver < 1) {
        sw_log_error("store.schema_corrupt", "found=%llu",
                     (unsigned long long)ver);
        return SW_ECORRUPT;
    }
    return SW_OK;
}

sw_err store_open(const struct store_opts *o, store **out)
{
    store *s = NULL;
    MDB_txn *txn = NULL;
    MDB_envinfo info;
    size_t map, max_map;
    sw_err rc = SW_OK;
    int mrc, i, created = 0;

    if (o == NULL || o->dir == NULL || o->dir[0] == '\0' || out == NULL) {
        rc = SW_EINVAL;
        goto out;
    }
    max_map = o->max_map_bytes ? o->max_map_bytes : STORE_DEFAULT_MAX_MAP;
    map = o->map_bytes                  ? o->map_bytes
          : max_map < STORE_DEFAULT_MAP ? max_map
                                        : STORE_DEFAULT_MAP;
    if (map > max_map) {
        rc = SW_EINVAL;
        goto out;
    }
    rc = store_prepare_dir(o);
    if (rc)
        goto out;
    s = sw_calloc(1, sizeof(*s));
    if (s == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    s->dir = sw_strdup(o->dir);
    if (s->dir == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    s->max_map = max_map;
    s->purge_slice = o->purge_slice ? o->purge_slice : STORE_PURGE_SLICE;
    if (pthread_mutex_init(&s->gate_mu, NULL) != 0) {
        rc = SW_ENOMEM;
        goto out;
    }
    if (pthread_cond_init(&s->gate_cv, NULL) != 0) {
        pthread_mutex_destroy(&s->gate_mu);
        rc = SW_ENOMEM;
        goto out;
    }
    s->gate_ready = 1;

    mrc = mdb_env_create(&s->env);
    if (mrc == 0)
        mrc = mdb_env_set_maxdbs(s->env, STORE_DB_COUNT);
    if (mrc == 0)
        mrc = mdb_env_set_mapsize(s->env, map);
    if (mrc == 0)
        mrc = mdb_env_set_maxreaders(
            s->env, o->max_readers ? o->max_readers : STORE_DEFAULT_READERS);
    if (mrc == 0)
        mrc = mdb_env_open(s->env, o->dir, MDB_NOTLS, 0600);
    if (mrc) {
        rc = store_err(mrc, "env_open");
        goto out;
    }
    /* Adopt the map size recorded in the file when it is larger than ours,
     * so that a store that has grown does not regrow step by step after
     * every restart. */
    mrc = mdb_env_set_mapsize(s->env, 0);
    if (mrc == 0)
        mrc = mdb_env_info(s->env, &info);
    if (mrc == 0 && info.me_mapsize < map)
        mrc = mdb_env_set_mapsize(s->env, map);
    if (mrc) {
        rc = store_err(mrc, "env_set_mapsize");
        goto out;
    }
    s->max_key = (size_t)mdb_env_get_maxkeysize(s->env);

    mrc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (mrc) {
        rc = store_err(mrc, "txn_begin");
        goto out;
    }
    /* META is row 0: with must_exist it is opened without MDB_CREATE, so
     * that another program's LMDB file is refused before anything is
     * written (the transaction is then aborted). */
    for (i = 0; i < STORE_DB_COUNT; i++) {
        unsigned flags = o->must_exist && i == STORE_DB_META ? 0 : MDB_CREATE;
        mrc = mdb_dbi_open(txn, store_db_rows[i].name, flags, &s->dbi[i]);
        if (mrc == MDB_NOTFOUND) {
            sw_log_warn("store.not_a_store",
                        "dir=\"%s\" why=\"no %s database\"", o->dir,
                        store_db_rows[i].name);
            rc = SW_ENOTFOUND;
            goto out;
        }
        if (mrc) {
            rc = store_err(mrc, "dbi_open");
            goto out;
        }
        if (i == STORE_DB_META) {
            rc = store_check_schema(s, txn, o->must_exist, &created);
            if (rc)
                goto out;
        }
    }
    mrc = mdb_txn_commit(txn);
    txn = NULL;
    if (mrc) {
        rc = store_err(mrc, "txn_commit");
        goto out;
    }
    if (created)
        sw_log_info("store.created", "dir=\"%s\" max_map_bytes=%zu", o->dir,
                    max_map);
    *out = s;
    s = NULL;
out:
    if (txn)
        mdb_txn_abort(txn);
    store_close(&s);
    return rc;
}

void store_close(store **sp)
{
    store *s;

    if (sp == NULL || *sp == NULL)
        return;
    s = *sp;
    *sp = NULL;
    if (s->env)
        mdb_env_close(s->env);
    if (s->gate_ready) {
        pthread_cond_destroy(&s->gate_cv);
        pthread_mutex_destroy(&s->gate_mu);
    }
    sw_free(s->dir);
    sw_free(s);
}

sw_err store_txn_begin(store *s, int write, store_txn **out)
{
    store_txn *t = NULL;
    MDB_envinfo info;
    sw_err rc = SW_OK;
    int mrc, tries;

    if (s == NULL || out == NULL) {
        rc = SW_EINVAL;
        goto out;
    }
    t = sw_calloc(1, sizeof(*t));
    if (t == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    t->s = s;
    t->write = write ? 1 : 0;
    for (tries = 0;; tries++) {
        store_gate_enter(s);
        mrc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
        if (mrc == 0)
            break;
        store_gate_leave(s);
        if (mrc != MDB_MAP_RESIZED || tries >= STORE_RESIZED_TRIES) {
            rc = store_err(mrc, "txn_begin");
            goto out;
        }
        rc = store_resize(s, 0);
        if (rc)
            goto out;
    }
    if (t->write) {
        /* Remember the map size so that store_update knows which size
         * proved too small. No remap can run while we are inside the gate. */
        mrc = mdb_env_info(s->env, &info);
        t->map_at_begin = mrc == 0 ? info.me_mapsize : 0;
    }
    *out = t;
    t = NULL;
out:
    sw_free(t);
    return rc;
}

/* store_txn_release leaves the gate, frees t and clears *tp. *full, if not
 * NULL, receives whether the transaction ever hit a full map. */
static void store_txn_release(store_txn **tp, int *full)
{
    store_txn *t = *tp;

    *tp = NULL;
    if (full)
        *full = t->map_full;
    store_gate_leave(t->s);
    sw_free(t);
}

/* store_txn_finish commits (commit != 0) or aborts *tp, then releases it.
 * An abort always gives SW_OK. */
static SW_MUST_CHECK sw_err store_txn_finish(store_txn **tp, int commit,
                                             int *full)
{
    store_txn *t = *tp;
    sw_err rc = SW_OK;
    int mrc;

    if (commit) {
        mrc = mdb_txn_commit(t->txn);
        if (mrc)
            rc = store_txn_err(t, mrc, "txn_commit");
    } else {
        mdb_txn_abort(t->txn);
    }
    store_txn_release(tp, full);
    return rc;
}

sw_err store_txn_commit(store_txn **tp)
{
    if (tp == NULL || *tp == NULL)
        return SW_EINVAL;
    return store_txn_finish(tp, 1, NULL);
}

void store_txn_abort(store_txn **tp)
{
    if (tp == NULL || *tp == NULL)
        return;
    mdb_txn_abort((*tp)->txn);
    store_txn_release(tp, NULL);
}

int store_txn_is_write(const store_txn *t)
{
    return t->write;
}

sw_err store_update(store *s, store_txn_fn fn, void *arg)
{
    store_txn *t = NULL;
    size_t seen;
    int full = 0;
    sw_err rc;

    for (;;) {
        rc = store_txn_begin(s, 1, &t);
        if (rc)
            goto out;
        t->in_update = 1;
        seen = t->map_at_begin;
        rc = fn(t, arg);
        if (rc == SW_OK && !t->map_full) {
            rc = store_txn_finish(&t, 1, &full);
        } else {
            mdb_txn_abort(t->txn);
            store_txn_release(&t, &full);
        }
        if (!full || seen == 0)
            goto out;
        rc = store_resize(s, seen);
        if (rc)
            goto out;
    }
out:
    store_txn_abort(&t);
    return rc;
}

sw_err store_view(store *s, store_txn_fn fn, void *arg)
{
    store_txn *t = NULL;
    sw_err rc;

    rc = store_txn_begin(s, 0, &t);
    if (rc)
        goto out;
    rc = fn(t, arg);
out:
    store_txn_abort(&t);
    return rc;
}

/* store_check validates the arguments shared by the key/value calls. */
static SW_MUST_CHECK sw_err store_check(const store_txn *t, enum store_db db,
                                        size_t klen, int write)
{
    if (t == NULL || (int)db < 0 || db >= STORE_DB_COUNT)
        return SW_EINVAL;
    if (klen == 0 || klen > t->s->max_key)
        return SW_EINVAL;
    if (write && !t->write)
        return SW_EINVAL;
    return SW_OK;
}

sw_err store_get(store_txn *t, enum store_db db, const void *key, size_t klen,
                 const void **val, size_t *vlen)
{
    MDB_val k = {klen, (void *)key}, v;
    sw_err rc;
    int mrc;

    rc = store_check(t, db, klen, 0);
    if (rc)
        return rc;
    mrc = mdb_get(t->txn, t->s->dbi[db], &k, &v);
    if (mrc)
        return store_txn_err(t, mrc, "get");
    *val = v.mv_data;
    *vlen = v.mv_size;
    return SW_OK;
}

sw_err store_put(store_txn *t, enum store_db db, const void *key, size_t klen,
                 const void *val, size_t vlen, unsigned flags)
{
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    sw_err rc;
    int mrc;

    rc = store_check(t, db, klen, 1);
    if (rc)
        return rc;
    mrc = mdb_put(t->txn, t->s->dbi[db], &k, &v,
                  (flags & STORE_NOOVERWRITE) ? MDB_NOOVERWRITE : 0);
    if (mrc)
        return store_txn_err(t, mrc, "put");
    return SW_OK;
}

sw_err store_del(store_txn *t, enum store_db db, const void *key, size_t klen)
{
    MDB_val k = {klen, (void *)key};
    sw_err rc;
    int mrc;

    rc = store_check(t, db, klen, 1);
    if (rc)
        return rc;
    mrc = mdb_del(t->txn, t->s->dbi[db], &k, NULL);
    if (mrc)
        return store_txn_err(t, mrc, "del");
    return SW_OK;
}

/* store_keycmp orders keys as LMDB's default comparator does: bytewise,
 * a shorter key first when one is a prefix of the other. */
static int store_keycmp(const void *a, size_t alen, const void *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;

    if (c)
        return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static int store_has_prefix(const MDB_val *k, const void *prefix, size_t plen)
{
    return k->mv_size >= plen &&
           (plen == 0 || memcmp(k->mv_data, prefix, plen) == 0);
}

sw_err store_scan(store_txn *t, enum store_db db, const void *prefix,
                  size_t plen, const void *start_after, size_t slen,
                  store_scan_fn cb, void *arg)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    MDB_cursor_op op;
    int mrc, skip_equal = 0;
    sw_err rc;

    rc = store_check(t, db, 1, 0);
    if (rc)
        goto out;
    if (cb == NULL || plen > t->s->max_key ||
        (start_after && slen > t->s->max_key)) {
        rc = SW_EINVAL;
        goto out;
    }
    mrc = mdb_cursor_open(t->txn, t->s->dbi[db], &cur);
    if (mrc) {
        rc = store_txn_err(t, mrc, "cursor_open");
        goto out;
    }
    if (start_after && slen > 0 &&
        store_keycmp(start_after, slen, prefix, plen) >= 0) {
        k.mv_data = (void *)start_after;
        k.mv_size = slen;
        skip_equal = 1;
    } else {
        k.mv_data = (void *)prefix;
        k.mv_size = plen;
    }
    op = k.mv_size ? MDB_SET_RANGE : MDB_FIRST;
    for (mrc = mdb_cursor_get(cur, &k, &v, op); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (!store_has_prefix(&k, prefix, plen))
            break;
        if (skip_equal) {
            skip_equal = 0;
            if (store_keycmp(k.mv_data, k.mv_size, start_after, slen) == 0)
                continue;
        }
        rc = cb(k.mv_data, k.mv_size, v.mv_data, v.mv_size, arg);
        if (rc > 0) {
            rc = SW_OK;
            goto out;
        }
        if (rc)
            goto out;
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND)
        rc = store_txn_err(t, mrc, "cursor_get");
out:
    if (cur)
        mdb_cursor_close(cur);
    return rc;
}

sw_err store_del_prefix(store_txn *t, enum store_db db, const void *prefix,
                        size_t plen, size_t *ndeleted)
{
    return store_del_prefix_max(t, db, prefix, plen, SIZE_MAX, ndeleted);
}

sw_err store_del_prefix_max(store_txn *t, enum store_db db, const void *prefix,
                            size_t plen, size_t max, size_t *ndeleted)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    size_t n = 0;
    int mrc;
    sw_err rc;

    rc = store_check(t, db, plen, 1);
    if (rc)
        goto out;
    mrc = mdb_cursor_open(t->txn, t->s->dbi[db], &cur);
    if (mrc) {
        rc = store_txn_err(t, mrc, "cursor_open");
        goto out;
    }
    /* Seek afresh after each delete rather than trusting the cursor's
     * position after mdb_cursor_del; each seek is O(log n). */
    while (n < max) {
        k.mv_data = (void *)prefix;
        k.mv_size = plen;
        mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (mrc == MDB_NOTFOUND ||
            (mrc == 0 && !store_has_prefix(&k, prefix, plen)))
            break;
        if (mrc == 0)
            mrc = mdb_cursor_del(cur, 0);
        if (mrc) {
            rc = store_txn_err(t, mrc, "del_prefix");
            goto out;
        }
        n++;
    }
    if (ndeleted)
        *ndeleted = n;
out:
    if (cur)
        mdb_cursor_close(cur);
    return rc;
}

sw_err store_key(struct sw_buf *b, const char *team_id, const void *rest,
                 size_t rlen)
{
    sw_err rc;

    sw_buf_reset(b);
    rc = sw_buf_add(b, team_id, strlen(team_id) + 1);
    if (rc == SW_OK && rlen)
        rc = sw_buf_add(b, rest, rlen);
    return rc;
}

sw_err store_del_team(store_txn *t, const char *team_id, size_t *ndeleted)
{
    int done;

    return store_del_team_some(t, team_id, SIZE_MAX, ndeleted, &done);
}

sw_err store_del_team_some(store_txn *t, const char *team_id, size_t max,
                           size_t *ndeleted, int *done)
{
    struct sw_buf b;
    size_t total = 0, n;
    sw_err rc;
    int i;

    sw_buf_init(&b, 1024);
    *done = 0;
    if (t == NULL || team_id == NULL || max == 0) {
        rc = SW_EINVAL;
        goto out;
    }
    rc = store_key(&b, team_id, NULL, 0);
    if (rc)
        goto out;
    for (i = 0; i < STORE_DB_COUNT && total < max; i++) {
        if (!store_db_rows[i].prefixed)
            continue;
        n = 0;
        rc = store_del_prefix_max(t, (enum store_db)i, sw_buf_str(&b),
                                  sw_buf_len(&b), max - total, &n);
        if (rc)
            goto out;
        total += n;
    }
    /* Under max, every database was emptied of the team; at max, the next
     * call finds out (and may delete nothing). */
    *done = total < max;
    if (ndeleted)
        *ndeleted += total;
out:
    sw_buf_free(&b);
    return rc;
}

void store_u64_put(void *p, uint64_t v)
{
    unsigned char *b = p;
    int i;

    for (i = 7; i >= 0; i--) {
        b[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

uint64_t store_u64_get(const void *p)
{
    const unsigned char *b = p;
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return v;
}

sw_err store_key_add_u64(struct sw_buf *b, uint64_t v)
{
    unsigned char buf[8];

    store_u64_put(buf, v);
    return sw_buf_add(b, buf, sizeof(buf));
}

/* store_seq_read reads counter (team_id, name) into *val (0 when absent) and
 * leaves its key in b. */
static SW_MUST_CHECK sw_err store_seq_read(store_txn *t, const char *team_id,
                                           const char *name, struct sw_buf *b,
                                           uint64_t *val)
{
    const void *v;
    size_t vlen;
    sw_err rc;

    if (team_id == NULL || name == NULL || name[0] == '\0')
        return SW_EINVAL;
    rc = store_key(b, team_id, name, strlen(name));
    if (rc)
        return rc;
    rc = store_get(t, STORE_DB_SEQ, sw_buf_str(b), sw_buf_len(b), &v, &vlen);
    if (rc == SW_ENOTFOUND) {
        *val = 0;
        return SW_OK;
    }
    if (rc)
        return rc;
    if (vlen != 8) {
        sw_log_error("store.seq_corrupt", "team=%s name=%s len=%zu", team_id,
                     name, vlen);
        return SW_ECORRUPT;
    }
    *val = store_u64_get(v);
    return SW_OK;
}

sw_err store_seq_next(store_txn *t, const char *team_id, const char *name,
                      uint64_t *out)
{
    struct sw_buf b;
    unsigned char buf[8];
    uint64_t v;
    sw_err rc;

    sw_buf_init(&b, 1024);
    rc = store_seq_read(t, team_id, name, &b, &v);
    if (rc)
        goto out;
    if (v == UINT64_MAX) {
        rc = SW_ERANGE;
        goto out;
    }
    store_u64_put(buf, v + 1);
    rc = store_put(t, STORE_DB_SEQ, sw_buf_str(&b), sw_buf_len(&b), buf,
                   sizeof(buf), 0);
    if (rc)
        goto out;
    *out = v + 1;
out:
    sw_buf_free(&b);
    return rc;
}

sw_err store_seq_peek(store_txn *t, const char *team_id, const char *name,
                      uint64_t *out)
{
    struct sw_buf b;
    uint64_t v;
    sw_err rc;

    sw_buf_init(&b, 1024);
    rc = store_seq_read(t, team_id, name, &b, &v);
    if (rc == SW_OK)
        *out = v;
    sw_buf_free(&b);
    return rc;
}

struct store_secret_arg {
    struct sw_buf *key;
    unsigned char *out;
    int create;
};

static SW_MUST_CHECK sw_err store_secret_txn(store_txn *t, void *arg)
{
    struct store_secret_arg *a = arg;
    unsigned char fresh[STORE_SECRET_BYTES];
    const void *v;
    size_t vl;
    sw_err rc;

    rc = store_get(t, STORE_DB_META, sw_buf_str(a->key), sw_buf_len(a->key), &v,
                   &vl);
    if (rc == SW_OK) {
        if (vl != STORE_SECRET_BYTES)
            return SW_ECORRUPT;
        memcpy(a->out, v, STORE_SECRET_BYTES);
        return SW_OK;
    }
    if (rc != SW_ENOTFOUND || !a->create)
        return rc;
    rc = sw_random(fresh, sizeof(fresh));
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_META, sw_buf_str(a->key), sw_buf_len(a->key),
                       fresh, sizeof(fresh), 0);
    if (rc == SW_OK)
        memcpy(a->out, fresh, STORE_SECRET_BYTES);
    return rc;
}

sw_err store_secret(store *s, const char *name,
                    unsigned char out[STORE_SECRET_BYTES])
{
    struct store_secret_arg a;
    struct sw_buf k;
    sw_err rc;

    if (s == NULL || name == NULL || name[0] == '\0' || strlen(name) > 64)
        return SW_EINVAL;
    sw_buf_init(&k, 128);
    rc = sw_buf_printf(&k, "secret/%s", name);
    a.key = &k;
    a.out = out;
    a.create = 0;
    if (rc == SW_OK)
        rc = store_view(s, store_secret_txn, &a);
    if (rc == SW_ENOTFOUND) { /* the first use: create it (once) */
        a.create = 1;
        rc = store_update(s, store_secret_txn, &a);
    }
    sw_buf_free(&k);
    return rc;
}

sw_err store_stat(store *s, struct store_stats *st)
{
    store_txn *t = NULL;
    struct store_stats r;
    MDB_envinfo info;
    MDB_stat ms;
    sw_err rc;
    int mrc, i;

    memset(&r, 0, sizeof(r));
    rc = store_txn_begin(s, 0, &t);
    if (rc)
        goto out;
    mrc = mdb_env_info(s->env, &info);
    if (mrc == 0)
        mrc = mdb_env_stat(s->env, &ms);
    if (mrc) {
        rc = store_err(mrc, "env_stat");
        goto out;
    }
    r.map_bytes = info.me_mapsize;
    r.page_bytes = ms.ms_psize;
    r.used_pages = (uint64_t)info.me_last_pgno + 1;
    r.last_txn_id = info.me_last_txnid;
    r.max_readers = info.me_maxreaders;
    r.readers_used = info.me_numreaders;
    for (i = 0; i < STORE_DB_COUNT; i++) {
        mrc = mdb_stat(t->txn, s->dbi[i], &ms);
        if (mrc) {
            rc = store_err(mrc, "stat");
            goto out;
        }
        r.entries[i] = ms.ms_entries;
    }
    *st = r;
out:
    store_txn_abort(&t);
    return rc;
}

sw_err store_nospace_why(store *s, struct sw_buf *why)
{
    sw_buf_reset(why);
    switch (atomic_load(&s->nospace)) {
    case STORE_NOSPACE_MAP:
        return sw_buf_printf(why,
                             "the store's map is at its maximum size (%zu "
                             "bytes; snipd --max-map-bytes)",
                             s->max_map);
    case STORE_NOSPACE_DISK:
        return sw_buf_printf(why, "no space left on device in %s", s->dir);
    default:
        return sw_buf_addstr(why, sw_err_str(SW_ENOSPACE));
    }
}

sw_err store_backup(store *s, int fd)
{
    struct stat st;
    sw_err rc = SW_OK;
    int mrc, tries;

    if (s == NULL || fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return SW_EINVAL;
    for (tries = 0;; tries++) {
        /* Inside the gate: the copy's read transaction must not see this
         * process remap the environment under it. */
        store_gate_enter(s);
        mrc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);
        store_gate_leave(s);
        if (mrc != MDB_MAP_RESIZED || tries >= STORE_RESIZED_TRIES)
            break;
        rc = store_resize(s, 0);
        if (rc)
            return rc;
        if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
            return SW_EIO;
    }
    if (mrc == ENOSPC || mrc == EDQUOT) {
        /* The backup's disk, not the store's: no store_nospace cause. */
        sw_log_error("store.backup_disk_full", "code=%d msg=\"%s\"", mrc,
                     mdb_strerror(mrc));
        return SW_ENOSPACE;
    }
    if (mrc == EIO || mrc == EBADF || mrc == EFBIG) {
        sw_log_error("store.backup_failed", "code=%d msg=\"%s\"", mrc,
                     mdb_strerror(mrc));
        return SW_EIO;
    }
    return store_err(mrc, "env_copy");
}

/* Record encoding. protobuf-c allocates through sw_malloc so that fault
 * injection reaches it; the allocator notes a failed allocation so that a
 * NULL unpack can be told apart as SW_ENOMEM rather than SW_ECORRUPT. */
struct store_pb_state {
    int failed;
};

static void *store_pb_alloc(void *data, size_t n)
{
    void *p = sw_malloc(n);

    if (p == NULL && data != NULL)
        ((struct store_pb_state *)data)->failed = 1;
    return p;
}

static void store_pb_free(void *data, void *p)
{
    (void)data;
    sw_free(p);
}

sw_err store__put_msg(store_txn *t, enum store_db db, const void *key,
                      size_t klen, const ProtobufCMessage *m, unsigned flags)
{
    MDB_val k = {klen, (void *)key}, v;
    size_t packed;
    sw_err rc;
    int mrc;

    rc = store_check(t, db, klen, 1);
    if (rc)
        return rc;
    v.mv_size = protobuf_c_message_get_packed_size(m);
    v.mv_data = NULL;
    mrc = mdb_put(t->txn, t->s->dbi[db], &k, &v,
                  MDB_RESERVE |
                      ((flags & STORE_NOOVERWRITE) ? MDB_NOOVERWRITE : 0));
    if (mrc)
        return store_txn_err(t, mrc, "put_msg");
    packed = protobuf_c_message_pack(m, v.mv_data);
    if (packed != v.mv_size) {
        sw_log_error("store.pack_mismatch", "want=%zu got=%zu", v.mv_size,
                     packed);
        return SW_EINTERNAL;
    }
    return SW_OK;
}

sw_err store__unpack(const ProtobufCMessageDescriptor *d, const void *p,
                     size_t n, ProtobufCMessage **out)
{
    struct store_pb_state st = {0};
    ProtobufCAllocator a = {store_pb_alloc, store_pb_free, &st};
    ProtobufCMessage *m;

    m = protobuf_c_message_unpack(d, &a, n, p);
    if (m == NULL) {
        if (st.failed)
            return SW_ENOMEM;
        sw_log_error("store.record_corrupt", "type=%s len=%zu", d->name, n);
        return SW_ECORRUPT;
    }
    *out = m;
    return SW_OK;
}

sw_err store__get_msg(store_txn *t, enum store_db db, const void *key,
                      size_t klen, const ProtobufCMessageDescriptor *d,
                      ProtobufCMessage **out)
{
    /* Initialised for gcc -O2 (--config=opt, make install), which cannot
     * see that store_get writes both on SW_OK. */
    const void *v = NULL;
    size_t vlen = 0;
    sw_err rc;

    rc = store_get(t, db, key, klen, &v, &vlen);
    if (rc)
        return rc;
    return store__unpack(d, v, vlen, out);
}

void store__msg_free(ProtobufCMessage *m)
{
    ProtobufCAllocator a = {store_pb_alloc, store_pb_free, NULL};

    if (m)
        protobuf_c_message_free_unpacked(m, &a);
}

size_t store__purge_slice(const store *s)
{
    return s->purge_slice;
}
