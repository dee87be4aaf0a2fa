/* libs/kv -- the WiredTiger connection: open/close, tables, the session pool with its cursor
 * caches, and kv_err(), the one mapping from WiredTiger codes to dyn_err. */
#include "libs/kv/kv.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "libs/kv/kv_int.h"
#include "libs/log/log.h"

#define KV_DEFAULT_CACHE ((size_t)256 << 20)
#define KV_MIN_CACHE ((size_t)1 << 20)
#define KV_DEFAULT_GROUP 128
#define KV_SESSION_MAX 1024
#define KV_DROP_WAIT_MS 30000
#define KV_EXT_PATH_MAX 512   /* path of one WiredTiger extension library */

dyn_err
kv_err(int wtrc)
{
    switch (wtrc) {
    case 0:
        return DYN_OK;
    case WT_NOTFOUND:
        return DYN_ENOTFOUND;
    case WT_DUPLICATE_KEY:
    case EEXIST:
        return DYN_EEXISTS;
    case WT_ROLLBACK:   /* the committer retries these itself; a reader retries the call */
    case WT_CACHE_FULL:
        return DYN_EUNAVAIL;
    case WT_PREPARE_CONFLICT:
        return DYN_ETXCONFLICT;
    case ENOENT:   /* open_cursor/drop on a table that does not exist */
        return DYN_ENOTABLE;
    case EBUSY:
        return DYN_EINUSE;
    case ENOMEM:
        return DYN_ENOMEM;
    default:
        dyn_log(DYN_LOG_ERROR, "KV-WT-ERROR", "rc=%d msg=\"%s\"", wtrc, wiredtiger_strerror(wtrc));
        return DYN_EINTERNAL;
    }
}

void
kv_test_inject(dyn_kv *kv, int after, int wtrc)
{
    atomic_store(&kv->inject_rc, wtrc);
    atomic_store(&kv->inject_after, after);
}

/* WiredTiger's own messages go to our log, not raw stderr. EBUSY is expected while a drop waits
 * out open cursors, so it stays at debug. */
static int
kv_on_error(WT_EVENT_HANDLER *h, WT_SESSION *s, int error, const char *msg)
{
    (void)h;
    (void)s;
    dyn_log(error == EBUSY ? DYN_LOG_DEBUG : DYN_LOG_WARN, "KV-WT-MSG", "rc=%d msg=\"%s\"", error,
            msg);
    return 0;
}

static int
kv_on_message(WT_EVENT_HANDLER *h, WT_SESSION *s, const char *msg)
{
    (void)h;
    (void)s;
    dyn_log(DYN_LOG_INFO, "KV-WT-INFO", "msg=\"%s\"", msg);
    return 0;
}

static WT_EVENT_HANDLER kv_events = { .handle_error = kv_on_error, .handle_message = kv_on_message };

bool
kv_name_ok(const char *name)
{
    size_t n = 0;

    if (name == NULL)
        return false;
    for (const char *p = name; *p != '\0'; p++, n++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return n > 0 && n <= KV_TABLE_NAME_MAX;
}

/* mkdir -p: WiredTiger only creates the files inside home. */
static dyn_err
kv_mkdirs(const char *home)
{
    char path[4096];
    size_t n = strlen(home);

    if (n == 0 || n >= sizeof path)
        return DYN_EVALIDATION;
    memcpy(path, home, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char save = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return dyn_err_from_errno(errno);
        path[i] = save;
    }
    return DYN_OK;
}

void
dyn_kv_opts_init(dyn_kv_opts *opts)
{
    opts->cache_bytes = KV_DEFAULT_CACHE;
    opts->sync = true;
    opts->group_max = KV_DEFAULT_GROUP;
}

/* The compressor extension libwiredtiger_<name>.so, which Debian's libwiredtiger0 installs beside
 * libwiredtiger.so.0: found next to the library this process actually loaded. Tables created
 * with a compressor can only be opened with it loaded, so a missing one fails the open. */
static dyn_err
kv_extension_path(const char *name, char out[KV_EXT_PATH_MAX])
{
    Dl_info info;
    const char *slash;

    if (dladdr((void *)wiredtiger_open, &info) == 0 || info.dli_fname == NULL ||
        (slash = strrchr(info.dli_fname, '/')) == NULL) {
        dyn_log(DYN_LOG_ERROR, "KV-EXT", "cannot locate libwiredtiger to find its extensions");
        return DYN_EINTERNAL;
    }
    int n = snprintf(out, KV_EXT_PATH_MAX, "%.*s/libwiredtiger_%s.so",
                     (int)(slash - info.dli_fname), info.dli_fname, name);
    if (n < 0 || n >= KV_EXT_PATH_MAX || access(out, R_OK) != 0) {
        dyn_log(DYN_LOG_ERROR, "KV-EXT", "WiredTiger extension %s missing (libwiredtiger0)", out);
        return DYN_EINTERNAL;
    }
    return DYN_OK;
}

dyn_err
dyn_kv_open(const char *home, const dyn_kv_opts *opts, dyn_kv **out)
{
    dyn_kv_opts o;
    dyn_kv *kv = NULL;
    char cfg[512 + 2 * KV_EXT_PATH_MAX];
    dyn_err rc;
    int wr;

    *out = NULL;
    dyn_kv_opts_init(&o);
    if (opts != NULL) {
        o = *opts;
        if (o.cache_bytes == 0)
            o.cache_bytes = KV_DEFAULT_CACHE;
        if (o.cache_bytes < KV_MIN_CACHE)
            o.cache_bytes = KV_MIN_CACHE;
        if (o.group_max <= 0)
            o.group_max = KV_DEFAULT_GROUP;
    }
    if ((rc = kv_mkdirs(home)) != DYN_OK)
        return rc;

    kv = dyn_xcalloc(1, sizeof *kv);
    kv->sync = o.sync;
    kv->group_max = o.group_max;
    pthread_mutex_init(&kv->pool_mu, NULL);
    pthread_mutex_init(&kv->schema_mu, NULL);
    pthread_mutex_init(&kv->q_mu, NULL);
    pthread_cond_init(&kv->q_cond, NULL);
    kv->group = dyn_xcalloc((size_t)o.group_max, sizeof *kv->group);

    /* The committer commits with sync=on itself; transaction_sync here makes any other commit
     * (there are none today) durable by default too. Recovery runs inside wiredtiger_open. */
    char ext[2][KV_EXT_PATH_MAX];
    if ((rc = kv_extension_path("snappy", ext[0])) != DYN_OK ||
        (rc = kv_extension_path("zlib", ext[1])) != DYN_OK)
        goto out;
    snprintf(cfg, sizeof cfg,
             "create,cache_size=%zu,session_max=%d,log=(enabled=true,archive=true),"
             "transaction_sync=(enabled=%s,method=fsync),checkpoint=(wait=60),"
             "extensions=[\"%s\",\"%s\"=(config=(compression_level=1))]",
             o.cache_bytes, KV_SESSION_MAX, o.sync ? "true" : "false", ext[0], ext[1]);
    if ((wr = wiredtiger_open(home, &kv_events, cfg, &kv->conn)) != 0) {
        rc = kv_err(wr);
        kv->conn = NULL;
        goto out;
    }
    if ((rc = kv_commit_start(kv)) != DYN_OK)
        goto out;
    *out = kv;
    kv = NULL;
out:
    if (kv != NULL) {
        if (kv->conn != NULL)
            (void)kv->conn->close(kv->conn, NULL);
        free(kv->group);
        pthread_cond_destroy(&kv->q_cond);
        pthread_mutex_destroy(&kv->q_mu);
        pthread_mutex_destroy(&kv->schema_mu);
        pthread_mutex_destroy(&kv->pool_mu);
        free(kv);
    }
    return rc;
}

static void
kv_sess_free(kv_sess *ks)
{
    for (size_t i = 0; i < ks->ncurs; i++) {
        free(ks->curs[i]->table);
        free(ks->curs[i]);
    }
    free(ks->curs);
    free(ks);
}

void
dyn_kv_close(dyn_kv *kv)
{
    if (kv == NULL)
        return;
    kv_commit_stop(kv);
    /* Closing the connection closes every session and cursor (and checkpoints). */
    (void)kv->conn->close(kv->conn, NULL);
    while (kv->all != NULL) {
        kv_sess *ks = kv->all;
        kv->all = ks->all_next;
        kv_sess_free(ks);
    }
    kv_sess_free(kv->wsess);
    while (kv->free_batches != NULL) {
        kv_batch *b = kv->free_batches;
        kv->free_batches = b->next;
        free(b);
    }
    free(kv->group);
    pthread_cond_destroy(&kv->q_cond);
    pthread_mutex_destroy(&kv->q_mu);
    pthread_mutex_destroy(&kv->schema_mu);
    pthread_mutex_destroy(&kv->pool_mu);
    free(kv);
}

void
kv_sess_purge(kv_sess *ks)
{
    for (size_t i = 0; i < ks->ncurs; i++) {
        kv_curs *kc = ks->curs[i];
        (void)kc->point->close(kc->point);
        if (kc->scan != NULL)
            (void)kc->scan->close(kc->scan);
        free(kc->table);
        free(kc);
    }
    ks->ncurs = 0;
}

dyn_err
kv_sess_get(dyn_kv *kv, kv_sess **out)
{
    kv_sess *ks;
    WT_SESSION *s;
    uint64_t gen = atomic_load(&kv->schema_gen);
    int wr;

    pthread_mutex_lock(&kv->pool_mu);
    if ((ks = kv->pool) != NULL)
        kv->pool = ks->next;
    pthread_mutex_unlock(&kv->pool_mu);
    if (ks == NULL) {
        if ((wr = kv->conn->open_session(kv->conn, NULL, "isolation=snapshot", &s)) != 0)
            return kv_err(wr);
        ks = dyn_xcalloc(1, sizeof *ks);
        ks->s = s;
        ks->gen = gen;
        ks->txn.kv = kv;
        ks->txn.sess = ks;
        pthread_mutex_lock(&kv->pool_mu);
        ks->all_next = kv->all;
        kv->all = ks;
        pthread_mutex_unlock(&kv->pool_mu);
    } else if (ks->gen != gen) {
        kv_sess_purge(ks);
        ks->gen = gen;
    }
    ks->next = NULL;
    *out = ks;
    return DYN_OK;
}

void
kv_sess_put(dyn_kv *kv, kv_sess *ks)
{
    uint64_t gen = atomic_load(&kv->schema_gen);

    /* A drop is waiting for cursors to close: let go of ours now rather than on next use. */
    if (ks->gen != gen) {
        kv_sess_purge(ks);
        ks->gen = gen;
    }
    pthread_mutex_lock(&kv->pool_mu);
    ks->next = kv->pool;
    kv->pool = ks;
    pthread_mutex_unlock(&kv->pool_mu);
}

dyn_err
dyn_kv_table_create(dyn_kv *kv, const char *name)
{
    return dyn_kv_table_create_class(kv, name, DYN_KV_CLASS_STANDARD);
}

/* WiredTiger's creation settings per class (measured with bench/tableclass; docs/decisions.md).
 * Pages are compressed when written to disk, so the codec costs CPU on eviction/checkpoint and
 * on reads that miss the cache, not on cached reads. zlib runs at level 1 (the extension's
 * config at open): level 6, its default, made loads 5x slower for a few % more saving.
 * os_cache_max: after that many bytes of the file pass through the OS page cache, WiredTiger
 * asks the kernel to drop them (posix_fadvise), leaving the page cache to STANDARD tables --
 * WiredTiger 3.2 has no per-table cache priority. */
static const char *const kv_class_config[] = {
    [DYN_KV_CLASS_STANDARD] = "key_format=u,value_format=u,block_compressor=snappy",
    [DYN_KV_CLASS_INFREQUENT] = "key_format=u,value_format=u,block_compressor=zlib,"
                                "os_cache_max=64MB",
    [DYN_KV_CLASS_TRANSIENT] = "key_format=u,value_format=u",
};

dyn_err
dyn_kv_table_create_class(dyn_kv *kv, const char *name, dyn_kv_class cls)
{
    char uri[KV_TABLE_NAME_MAX + 16];
    kv_sess *ks = NULL;
    dyn_err rc;

    if (!kv_name_ok(name) || (unsigned)cls >= sizeof kv_class_config / sizeof *kv_class_config)
        return DYN_EVALIDATION;
    snprintf(uri, sizeof uri, "table:%s", name);
    if ((rc = kv_sess_get(kv, &ks)) != DYN_OK)
        return rc;
    pthread_mutex_lock(&kv->schema_mu);
    rc = kv_err(ks->s->create(ks->s, uri, kv_class_config[cls]));
    pthread_mutex_unlock(&kv->schema_mu);
    kv_sess_put(kv, ks);
    return rc;
}

/* Looks 'uri' up in WiredTiger's metadata (cheap; opens no data handle). */
static bool
kv_meta_has(kv_sess *ks, const char *uri)
{
    WT_CURSOR *c;
    bool found;

    if (ks->s->open_cursor(ks->s, "metadata:", NULL, NULL, &c) != 0)
        return false;
    c->set_key(c, uri);
    found = c->search(c) == 0;
    (void)c->close(c);
    return found;
}

bool
dyn_kv_table_exists(dyn_kv *kv, const char *name)
{
    char uri[KV_TABLE_NAME_MAX + 16];
    kv_sess *ks = NULL;
    bool found;

    if (!kv_name_ok(name))
        return false;
    snprintf(uri, sizeof uri, "table:%s", name);
    if (kv_sess_get(kv, &ks) != DYN_OK)
        return false;
    found = kv_meta_has(ks, uri);
    kv_sess_put(kv, ks);
    return found;
}

/* Every session caches cursors, and WiredTiger refuses to drop a table with open cursors
 * (EBUSY). Bumping schema_gen makes sessions close their caches when next borrowed or returned;
 * the idle ones we close here, the committer closes its own when woken. Then retry. */
static void
kv_drop_release_cursors(dyn_kv *kv)
{
    uint64_t gen = atomic_fetch_add(&kv->schema_gen, 1) + 1;

    pthread_mutex_lock(&kv->q_mu);
    pthread_cond_broadcast(&kv->q_cond);
    pthread_mutex_unlock(&kv->q_mu);
    pthread_mutex_lock(&kv->pool_mu);
    for (kv_sess *ks = kv->pool; ks != NULL; ks = ks->next) {
        kv_sess_purge(ks);
        ks->gen = gen;
    }
    pthread_mutex_unlock(&kv->pool_mu);
}

dyn_err
dyn_kv_table_drop(dyn_kv *kv, const char *name)
{
    char uri[KV_TABLE_NAME_MAX + 16];
    struct timespec pause = { 0, 1000000 };   /* 1 ms, doubling to 64 ms */
    kv_sess *ks = NULL;
    dyn_err rc;
    int waited_ms = 0, wr;

    if (!kv_name_ok(name))
        return DYN_ENOTFOUND;
    snprintf(uri, sizeof uri, "table:%s", name);
    if ((rc = kv_sess_get(kv, &ks)) != DYN_OK)
        return rc;
    pthread_mutex_lock(&kv->schema_mu);
    if (!kv_meta_has(ks, uri)) {
        rc = DYN_ENOTFOUND;
        goto out;
    }
    for (;;) {
        kv_drop_release_cursors(kv);
        kv_sess_purge(ks);
        if ((wr = ks->s->drop(ks->s, uri, NULL)) != EBUSY)
            break;
        if (waited_ms >= KV_DROP_WAIT_MS) {
            dyn_log(DYN_LOG_WARN, "KV-DROP-BUSY", "table=%s waited_ms=%d", name, waited_ms);
            break;
        }
        nanosleep(&pause, NULL);
        waited_ms += (int)(pause.tv_nsec / 1000000);
        if (pause.tv_nsec < 64000000)
            pause.tv_nsec *= 2;
    }
    rc = kv_err(wr);
    if (rc == DYN_ENOTABLE)
        rc = DYN_ENOTFOUND;
out:
    pthread_mutex_unlock(&kv->schema_mu);
    kv_sess_put(kv, ks);
    return rc;
}

dyn_err
dyn_kv_read_begin(dyn_kv *kv, dyn_kv_txn **txn)
{
    kv_sess *ks = NULL;
    dyn_err rc;

    *txn = NULL;
    if ((rc = kv_sess_get(kv, &ks)) != DYN_OK)
        return rc;
    /* NULL: the session's own isolation (snapshot, set when it was opened). A config string
     * here is parsed on every call -- ~8k instructions, a tenth of a whole Get (callgrind). */
    if ((rc = kv_err(ks->s->begin_transaction(ks->s, NULL))) != DYN_OK) {
        kv_sess_put(kv, ks);
        return rc;
    }
    ks->txn.write = false;
    ks->txn.writes = 0;
    ks->txn.wt_rc = 0;
    *txn = &ks->txn;
    return DYN_OK;
}

void
dyn_kv_read_end(dyn_kv_txn *txn)
{
    if (txn == NULL)
        return;
    (void)txn->sess->s->rollback_transaction(txn->sess->s, NULL);
    kv_sess_put(txn->kv, txn->sess);
}

void
dyn_kv_stats_get(dyn_kv *kv, dyn_kv_stats *st)
{
    st->commits = atomic_load(&kv->commits);
    st->batches = atomic_load(&kv->batches);
    st->syncs = atomic_load(&kv->syncs);
    st->reruns = atomic_load(&kv->reruns);
}
