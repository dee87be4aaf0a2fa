/* services/storage -- the per-partition change log: records written by the write path in the
 * item's own transaction while the partition has a consumer, read by LSN range (ReadChanges),
 * consumer positions (RegisterConsumer), and a background thread that trims what every consumer
 * has passed and the retention floor allows, and rebuilds TTL expiry indexes. */
#include "services/storage/changelog.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libs/log/log.h"
#include "libs/rpc/rpc.h"
#include "proto/dyne/internal/storage.pb-c.h"

#define LOG_READ_MAX_RECORDS 10000
#define LOG_READ_MAX_BYTES (1 << 20)
#define LOG_TRIM_BATCH 1000    /* records deleted per transaction */
#define LOG_PASS_MS 2000       /* background pass interval */
#define LOG_CONSUMER_MAX 255   /* bytes of a consumer name */

/* ---- hybrid logical clock ---- */

static pthread_mutex_t hlc_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t hlc_last;   /* the last value handed out (or seen in a log) */

static uint64_t
wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t
storage_hlc_now(void)
{
    uint64_t phys = wall_ms() << 16, v;

    pthread_mutex_lock(&hlc_mu);
    /* a clock that stepped back (or a burst within one ms) advances the logical counter */
    v = phys > hlc_last ? phys : hlc_last + 1;
    hlc_last = v;
    pthread_mutex_unlock(&hlc_mu);
    return v;
}

static void
hlc_observe(uint64_t seen)
{
    pthread_mutex_lock(&hlc_mu);
    if (seen > hlc_last)
        hlc_last = seen;
    pthread_mutex_unlock(&hlc_mu);
}

/* ---- keys ---- */

static void
be64_put(unsigned char *b, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        b[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t
be64_get(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

/* ---- whether a partition logs (docs/decisions.md, "Change log: only while consumed") ----
 *
 * The consumer table holds one reserved row besides the consumers (a consumer name is a
 * non-empty C string, so a lone NUL byte is never one): be64(floor) || be64(consumers).
 * consumers counts the consumer rows; a write logs only while it is above 0. floor is the LSN the
 * log was last switched on at: records below it predate writes that were never logged, so no
 * reader is ever given them and the trimmer drops them. Both change only inside the committer's
 * transactions, so every write sees the state as of its own place in the commit order. */

static const unsigned char LOG_STATE_KEY[1] = { 0 };

typedef struct log_state {
    uint64_t floor, consumers;
} log_state;

static bool
is_state_key(const void *k, size_t kl)
{
    return kl == sizeof LOG_STATE_KEY && ((const unsigned char *)k)[0] == 0;
}

/* One pass over a consumer table: how many consumers, their lowest position (UINT64_MAX if
 * none) and the floor the reserved row holds (0 without one). */
static dyn_err
consumers_walk(dyn_kv_txn *txn, const char *table, uint64_t *n, uint64_t *min, uint64_t *floor)
{
    dyn_kv_iter *it = NULL;
    const void *k, *v;
    size_t kl, vl;
    dyn_err rc;

    *n = *floor = 0;
    *min = UINT64_MAX;
    if ((rc = dyn_kv_iter_open(txn, table, NULL, 0, NULL, 0, false, &it)) != DYN_OK)
        return rc;
    while ((rc = dyn_kv_iter_next(it, &k, &kl, &v, &vl)) == DYN_OK) {
        if (is_state_key(k, kl)) {
            if (vl == 16)
                *floor = be64_get(v);
        } else if (vl == 8) {
            uint64_t pos = be64_get(v);
            if (pos < *min)
                *min = pos;
            (*n)++;
        }
    }
    dyn_kv_iter_close(it);
    return rc == DYN_ENOTFOUND ? DYN_OK : rc;
}

static dyn_err
log_state_read(dyn_kv_txn *txn, const char *table, dyn_arena *a, log_state *s)
{
    void *v = NULL;
    size_t vl = 0;
    dyn_err rc = dyn_kv_get(txn, table, LOG_STATE_KEY, sizeof LOG_STATE_KEY, a, &v, &vl);

    s->floor = s->consumers = 0;
    if (rc == DYN_ENOTFOUND) {   /* a consumer table older than the reserved row */
        uint64_t min, floor;
        return consumers_walk(txn, table, &s->consumers, &min, &floor);
    }
    if (rc != DYN_OK)
        return rc;
    if (vl != 16)
        return DYN_EINTERNAL;
    s->floor = be64_get(v);
    s->consumers = be64_get((const unsigned char *)v + 8);
    return DYN_OK;
}

static dyn_err
log_state_write(dyn_kv_txn *txn, const char *table, const log_state *s)
{
    unsigned char v[16];

    be64_put(v, s->floor);
    be64_put(v + 8, s->consumers);
    return dyn_kv_put(txn, table, LOG_STATE_KEY, sizeof LOG_STATE_KEY, v, sizeof v);
}

dyn_err
storage_log_wanted(dyn_kv_txn *txn, const storage_part *p, dyn_arena *a, bool *on)
{
    log_state s;
    dyn_err rc = log_state_read(txn, p->consumers, a, &s);

    *on = rc == DYN_OK && s.consumers > 0;
    return rc;
}

/* ---- tables ---- */

/* Change logs are uncompressed unless asked (--log-compression): every record goes to disk once
 * and is trimmed soon after; snappy on those pages was a fifth of a Put's instructions. Only
 * logs created from now on follow a change. */
static _Atomic int log_class = DYN_KV_CLASS_TRANSIENT;

void
storage_set_log_compression(bool on)
{
    atomic_store(&log_class, on ? DYN_KV_CLASS_STANDARD : DYN_KV_CLASS_TRANSIENT);
}

dyn_err
storage_log_tables_create(dyn_kv *kv, const char *id)
{
    storage_part p;
    dyn_err rc;

    storage_part_tables(id, &p);
    if ((rc = dyn_kv_table_create_class(kv, p.log, (dyn_kv_class)atomic_load(&log_class))) !=
        DYN_OK)
        return rc;
    if ((rc = dyn_kv_table_create(kv, p.expiry)) != DYN_OK)
        return rc;
    return dyn_kv_table_create(kv, p.consumers);
}

dyn_err
storage_log_tables_drop(dyn_kv *kv, const char *id)
{
    storage_part p;
    const char *tables[3] = { p.log, p.expiry, p.consumers };
    dyn_err rc = DYN_OK;

    storage_part_tables(id, &p);
    for (size_t i = 0; i < 3; i++) {
        dyn_err r = dyn_kv_table_drop(kv, tables[i]);
        if (r != DYN_OK && r != DYN_ENOTFOUND && rc == DYN_OK)
            rc = r;
    }
    return rc;
}

/* ---- the write path ---- */

dyn_err
storage_log_last(dyn_kv_txn *txn, const char *log, uint64_t *lsn)
{
    dyn_kv_iter *it = NULL;
    const void *k, *v;
    size_t kl, vl;
    dyn_err rc;

    *lsn = 0;
    if ((rc = dyn_kv_iter_open(txn, log, NULL, 0, NULL, 0, true, &it)) != DYN_OK)
        return rc;
    rc = dyn_kv_iter_next(it, &k, &kl, &v, &vl);
    if (rc == DYN_OK && kl == 8)
        *lsn = be64_get(k);
    else if (rc == DYN_OK)
        rc = DYN_EINTERNAL;   /* only be64 keys are ever written */
    else if (rc == DYN_ENOTFOUND)
        rc = DYN_OK;
    dyn_kv_iter_close(it);
    return rc;
}

dyn_err
storage_log_append(dyn_kv_txn *txn, const storage_part *p, dyn_arena *a, const void *key,
                   size_t klen, const Dyne__V1__AttributeValueMap *old_item,
                   const Dyne__V1__AttributeValueMap *new_item, const char *principal,
                   uint64_t *lsn)
{
    Dyne__Internal__ChangeRecord rec = DYNE__INTERNAL__CHANGE_RECORD__INIT;
    unsigned char k[8], *buf;
    uint64_t last;
    dyn_err rc;

    /* The LSN comes from what this transaction sees, not from a counter: the records of the
     * group's earlier writes are visible here, and a rolled-back group re-run batch by batch
     * recomputes the same numbers. Trimming always keeps the newest record, so the sequence
     * also survives restarts and trims. */
    if ((rc = storage_log_last(txn, p->log, &last)) != DYN_OK)
        return rc;
    rec.has_lsn = rec.has_hlc = rec.has_key = true;
    rec.lsn = last + 1;
    rec.hlc = storage_hlc_now();
    rec.key.data = (uint8_t *)key;
    rec.key.len = klen;
    rec.old_image = (Dyne__V1__AttributeValueMap *)old_item;
    rec.new_image = (Dyne__V1__AttributeValueMap *)new_item;
    rec.event = old_item == NULL ? "INSERT" : new_item == NULL ? "REMOVE" : "MODIFY";
    rec.principal = (char *)(principal ? principal : "");
    rec.keys = dyn_item_key_map(&p->ks, new_item ? new_item : old_item, a);
    if (rec.keys == NULL)
        return DYN_ENOMEM;
    size_t n;
    if ((rc = dyn_rpc_pb_pack(&rec.base, a, &buf, &n)) != DYN_OK)   /* one pass (pbpack.c) */
        return rc;
    be64_put(k, rec.lsn);
    if ((rc = dyn_kv_put(txn, p->log, k, sizeof k, buf, n)) != DYN_OK)
        return rc;
    *lsn = rec.lsn;
    return DYN_OK;
}

/* ---- ReadChanges ---- */

static dyn_err
log_first(dyn_kv_txn *txn, const char *log, uint64_t *lsn)
{
    dyn_kv_iter *it = NULL;
    const void *k, *v;
    size_t kl, vl;
    dyn_err rc;

    *lsn = 0;
    if ((rc = dyn_kv_iter_open(txn, log, NULL, 0, NULL, 0, false, &it)) != DYN_OK)
        return rc;
    rc = dyn_kv_iter_next(it, &k, &kl, &v, &vl);
    if (rc == DYN_OK && kl == 8)
        *lsn = be64_get(k);
    else if (rc == DYN_ENOTFOUND)
        rc = DYN_OK;
    dyn_kv_iter_close(it);
    return rc;
}

dyn_err
storage_h_read_changes(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp,
                       void *ctx)
{
    const Dyne__Internal__ReadChangesRequest *req = (const void *)m;
    storage *st = ctx;
    dyn_arena *a = dyn_rpc_call_arena(call);
    ProtobufCAllocator al = dyn_arena_pb_allocator(a);
    Dyne__Internal__ReadChangesResponse *out;
    dyn_kv_txn *txn = NULL;
    dyn_kv_iter *it = NULL;
    storage_part p;
    unsigned char start[8];
    size_t cap = 64, max_records = LOG_READ_MAX_RECORDS;
    int64_t bytes = 0, max_bytes = LOG_READ_MAX_BYTES;
    const void *k, *v;
    size_t kl, vl;
    dyn_err rc;

    if (!storage_partition_get(st, req->partition_id, a, &p))
        return dyn_rpc_call_fail(call, DYN_ENOTABLE, "Requested resource not found");
    if (p.gsi)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "a GSI partition has no change log");
    if (req->has_max_records && req->max_records > 0 &&
        (size_t)req->max_records < LOG_READ_MAX_RECORDS)
        max_records = (size_t)req->max_records;
    if (req->has_max_bytes && req->max_bytes > 0 && req->max_bytes < LOG_READ_MAX_BYTES)
        max_bytes = req->max_bytes;
    if ((out = dyn_arena_alloc(a, sizeof *out)) == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    dyne__internal__read_changes_response__init(out);
    out->records = dyn_arena_alloc(a, sizeof *out->records * cap);
    if (out->records == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    if (req->after_lsn == UINT64_MAX)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "after_lsn out of range");

    if ((rc = dyn_kv_read_begin(storage_kv(st), &txn)) != DYN_OK)
        goto out;
    out->has_last_lsn = out->has_first_lsn = true;
    if ((rc = storage_log_last(txn, p.log, &out->last_lsn)) != DYN_OK)
        goto out;
    if ((rc = log_first(txn, p.log, &out->first_lsn)) != DYN_OK)
        goto out;
    log_state ls;
    if ((rc = log_state_read(txn, p.consumers, a, &ls)) != DYN_OK)
        goto out;
    /* below the floor the log has holes (writes made while nothing consumed it): those records
     * read as trimmed */
    if (ls.floor > 0 && out->first_lsn < ls.floor)
        out->first_lsn = ls.floor;
    be64_put(start, req->after_lsn + 1 > ls.floor ? req->after_lsn + 1 : ls.floor);
    if ((rc = dyn_kv_iter_open(txn, p.log, start, sizeof start, NULL, 0, false, &it)) != DYN_OK)
        goto out;
    while (out->n_records < max_records && (out->n_records == 0 || bytes < max_bytes)) {
        if ((rc = dyn_kv_iter_next(it, &k, &kl, &v, &vl)) != DYN_OK)
            break;
        /* the page is full if this record would overflow it (the first one always fits) */
        if (out->n_records > 0 && bytes + (int64_t)vl > max_bytes)
            break;
        Dyne__Internal__ChangeRecord *r = dyne__internal__change_record__unpack(&al, vl, v);
        if (r == NULL) {
            rc = DYN_EINTERNAL;
            goto out;
        }
        if (out->n_records == cap) {
            Dyne__Internal__ChangeRecord **bigger = dyn_arena_alloc(a, sizeof *bigger * cap * 2);
            if (bigger == NULL) {
                rc = DYN_ENOMEM;
                goto out;
            }
            memcpy(bigger, out->records, sizeof *bigger * cap);
            out->records = bigger;
            cap *= 2;
        }
        out->records[out->n_records++] = r;
        bytes += (int64_t)vl;
    }
    if (rc == DYN_ENOTFOUND)
        rc = DYN_OK;
out:
    if (it != NULL)
        dyn_kv_iter_close(it);
    if (txn != NULL)
        dyn_kv_read_end(txn);
    if (rc != DYN_OK)
        return dyn_rpc_call_fail(call, rc, "change log read failed");
    *resp = &out->base;
    return DYN_OK;
}

/* ---- RegisterConsumer ---- */

typedef struct consumer_op {
    dyn_rpc_call *call;
    storage_part part;
    const char *consumer;
    unsigned char pos[8];
    dyn_arena *a;
} consumer_op;

/* A position of UINT64_MAX forgets the consumer (an index that was deleted): nothing else
 * could ever release what its last position holds in the log. The first consumer switches the
 * log on at the next LSN (the floor); the last one to go switches it off. */
static dyn_err
consumer_apply(dyn_kv_txn *txn, void *arg)
{
    consumer_op *op = arg;
    const char *t = op->part.consumers;
    size_t kl = strlen(op->consumer);
    log_state ls;
    void *old = NULL;
    size_t ol = 0;
    dyn_err rc;

    if ((rc = log_state_read(txn, t, op->a, &ls)) != DYN_OK)
        return rc;
    rc = dyn_kv_get(txn, t, op->consumer, kl, op->a, &old, &ol);
    if (rc != DYN_OK && rc != DYN_ENOTFOUND)
        return rc;
    bool existed = rc == DYN_OK;
    if (be64_get(op->pos) == UINT64_MAX) {
        if (!existed)
            return DYN_OK;   /* nothing written: the committer's contract for a no-op */
        if ((rc = dyn_kv_del(txn, t, op->consumer, kl)) != DYN_OK)
            return rc;
        ls.consumers = ls.consumers > 0 ? ls.consumers - 1 : 0;
        return log_state_write(txn, t, &ls);
    }
    if ((rc = dyn_kv_put(txn, t, op->consumer, kl, op->pos, sizeof op->pos)) != DYN_OK)
        return rc;
    if (existed)
        return DYN_OK;
    if (ls.consumers == 0) {
        uint64_t last;
        if ((rc = storage_log_last(txn, op->part.log, &last)) != DYN_OK)
            return rc;
        ls.floor = last + 1;
    }
    ls.consumers++;
    return log_state_write(txn, t, &ls);
}

static void
consumer_done(void *arg, dyn_err rc)
{
    consumer_op *op = arg;
    Dyne__Internal__RegisterConsumerResponse *out = NULL;

    if (rc == DYN_OK) {
        if ((out = dyn_arena_alloc(dyn_rpc_call_arena(op->call), sizeof *out)) == NULL)
            rc = DYN_ENOMEM;
        else
            dyne__internal__register_consumer_response__init(out);
        dyn_log(DYN_LOG_INFO, "STORAGE-LOG-CONSUMER", "partition=%s consumer=%s lsn=%llu",
                op->part.id, op->consumer, (unsigned long long)be64_get(op->pos));
        storage_log_kick();   /* the log may be trimmed further now */
    }
    dyn_rpc_call_finish(op->call, rc, out ? &out->base : NULL,
                        rc == DYN_OK ? NULL : "cannot record the consumer");
}

dyn_err
storage_h_register_consumer(dyn_rpc_call *call, const ProtobufCMessage *m,
                            ProtobufCMessage **resp, void *ctx)
{
    const Dyne__Internal__RegisterConsumerRequest *req = (const void *)m;
    storage *st = ctx;
    dyn_arena *a = dyn_rpc_call_arena(call);
    consumer_op *op;

    (void)resp;
    if (req->consumer == NULL || req->consumer[0] == '\0' ||
        strlen(req->consumer) > LOG_CONSUMER_MAX)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "bad consumer name");
    if ((op = dyn_arena_zalloc(a, sizeof *op)) == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    if (!storage_partition_get(st, req->partition_id, a, &op->part))
        return dyn_rpc_call_fail(call, DYN_ENOTABLE, "Requested resource not found");
    if (op->part.gsi)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "a GSI partition has no change log");
    op->call = call;
    op->a = a;
    op->consumer = req->consumer;
    be64_put(op->pos, req->lsn);
    dyn_rpc_call_defer(call);
    dyn_kv_submit(storage_kv(st), consumer_apply, consumer_done, op);
    return DYN_OK;
}

/* ---- trimming ---- */

typedef struct trim_op {
    const char *log;
    uint64_t upto;      /* delete records with lsn <= upto ... */
    uint64_t cutoff;    /* ... and hlc < cutoff */
    dyn_arena *a;
    size_t deleted;
    bool more;          /* the batch was full */
} trim_op;

/* One batch of trimming in one transaction. The newest record is never deleted (the next LSN
 * is computed from it). */
static dyn_err
trim_apply(dyn_kv_txn *txn, void *arg)
{
    trim_op *t = arg;
    ProtobufCAllocator al = dyn_arena_pb_allocator(t->a);
    unsigned char keys[LOG_TRIM_BATCH][8];
    size_t n = 0;
    dyn_kv_iter *it = NULL;
    const void *k, *v;
    size_t kl, vl;
    uint64_t last;
    dyn_err rc;

    t->deleted = 0;
    t->more = false;
    if ((rc = storage_log_last(txn, t->log, &last)) != DYN_OK)
        return rc;
    if ((rc = dyn_kv_iter_open(txn, t->log, NULL, 0, NULL, 0, false, &it)) != DYN_OK)
        return rc;
    while (n < LOG_TRIM_BATCH) {
        if ((rc = dyn_kv_iter_next(it, &k, &kl, &v, &vl)) != DYN_OK)
            break;
        if (kl != 8)
            continue;
        uint64_t lsn = be64_get(k);
        if (lsn >= last || lsn > t->upto)
            break;
        /* records are in clock order: the first young one ends the trim */
        if (t->cutoff != UINT64_MAX) {
            Dyne__Internal__ChangeRecord *r = dyne__internal__change_record__unpack(&al, vl, v);
            if (r != NULL && r->hlc >= t->cutoff)
                break;
        }
        memcpy(keys[n++], k, 8);
    }
    dyn_kv_iter_close(it);
    if (rc != DYN_OK && rc != DYN_ENOTFOUND)
        return rc;
    for (size_t i = 0; i < n; i++)
        if ((rc = dyn_kv_del(txn, t->log, keys[i], 8)) != DYN_OK && rc != DYN_ENOTFOUND)
            return rc;
    t->deleted = n;
    t->more = n == LOG_TRIM_BATCH;
    return DYN_OK;
}

/* consumers_walk, and the newest LSN, in one read transaction of its own. */
static dyn_err
consumers_read(dyn_kv *kv, const storage_part *p, uint64_t *n, uint64_t *min, uint64_t *floor,
               uint64_t *last)
{
    dyn_kv_txn *txn = NULL;
    dyn_err rc;

    if ((rc = dyn_kv_read_begin(kv, &txn)) != DYN_OK)
        return rc;
    if ((rc = consumers_walk(txn, p->consumers, n, min, floor)) == DYN_OK)
        rc = storage_log_last(txn, p->log, last);
    dyn_kv_read_end(txn);
    return rc;
}

/* Deletes, in batches, the records up to t->upto older than t->cutoff; false on an error. */
static bool
trim_run(dyn_kv *kv, const char *id, trim_op *t, dyn_arena *a, size_t *total)
{
    dyn_err rc;

    do {
        dyn_arena_reset(a);
        if ((rc = dyn_kv_write(kv, trim_apply, t)) != DYN_OK) {
            if (rc != DYN_ENOTABLE)
                dyn_log(DYN_LOG_WARN, "STORAGE-LOG-TRIM", "partition=%s err=%s", id,
                        dyn_err_name(rc));
            return false;
        }
        *total += t->deleted;
    } while (t->more);
    return true;
}

/* Without a consumer nothing reads the log: everything but the newest record goes (the next
 * LSN is computed from it). With consumers: what they have all passed, once it is older than
 * the retention, and whatever lies below the floor at once. */
static void
log_trim(dyn_kv *kv, const char *id, int64_t retention_s)
{
    storage_part p;
    dyn_arena a;
    uint64_t now = wall_ms(), floor, consumers, last;
    uint64_t keep_ms = (uint64_t)(retention_s > 0 ? retention_s : 0) * 1000u;
    trim_op t = { 0 };
    size_t total = 0;
    bool ok = true;

    storage_part_tables(id, &p);
    if (consumers_read(kv, &p, &consumers, &t.upto, &floor, &last) != DYN_OK)
        return;   /* not knowing who reads the log, keep it all */
    dyn_arena_init(&a, 64u << 20);
    t.log = p.log;
    t.a = &a;
    if (consumers == 0) {
        /* up to the newest record seen with no consumer: a consumer registering meanwhile
         * switches the log on above it */
        t.upto = last;
        t.cutoff = UINT64_MAX;
        ok = trim_run(kv, id, &t, &a, &total);
    } else {
        uint64_t passed = t.upto;
        if (floor > 1) {
            t.upto = floor - 1;
            t.cutoff = UINT64_MAX;
            ok = trim_run(kv, id, &t, &a, &total);
        }
        t.upto = passed;
        t.cutoff = (now > keep_ms ? now - keep_ms : 0) << 16;
        ok = ok && trim_run(kv, id, &t, &a, &total);
    }
    if (ok && total > 0)
        dyn_log(DYN_LOG_INFO, "STORAGE-LOG-TRIM", "partition=%s deleted=%zu", id, total);
    dyn_arena_fini(&a);
}

/* ---- the background thread ---- */

typedef struct log_maint {
    storage *st;
    int64_t retention_s;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool running, stop, kick;
} log_maint;

static log_maint maint = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static bool
maint_stopping(void)
{
    pthread_mutex_lock(&maint.mu);
    bool stop = maint.stop;
    pthread_mutex_unlock(&maint.mu);
    return stop;
}

static void
maint_pass(void)
{
    size_t n = 0;
    char **ids = storage_partition_ids(maint.st, &n);

    for (size_t i = 0; i < n; i++) {
        if (!storage_partition_gsi(maint.st, ids[i]))   /* an index's partition has no log */
            log_trim(storage_kv(maint.st), ids[i], maint.retention_s);
        /* a rebuild goes in steps so writes keep flowing between them */
        while (!maint_stopping() && storage_ttl_rebuild_step(maint.st, ids[i]))
            ;
        free(ids[i]);
    }
    free(ids);
}

static void *
maint_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&maint.mu);
    while (!maint.stop) {
        if (!maint.kick) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += LOG_PASS_MS / 1000;
            pthread_cond_timedwait(&maint.cv, &maint.mu, &until);
        }
        if (maint.stop)
            break;
        maint.kick = false;
        pthread_mutex_unlock(&maint.mu);
        maint_pass();
        pthread_mutex_lock(&maint.mu);
    }
    pthread_mutex_unlock(&maint.mu);
    return NULL;
}

void
storage_log_kick(void)
{
    pthread_mutex_lock(&maint.mu);
    maint.kick = true;
    pthread_cond_signal(&maint.cv);
    pthread_mutex_unlock(&maint.mu);
}

dyn_err
storage_log_start(storage *st, int64_t retention_s)
{
    ProtobufCAllocator al;
    dyn_kv *kv = storage_kv(st);
    size_t n = 0;
    char **ids = storage_partition_ids(st, &n);
    dyn_arena a;
    dyn_err rc = DYN_OK;

    dyn_arena_init(&a, 16u << 20);
    al = dyn_arena_pb_allocator(&a);
    for (size_t i = 0; i < n; i++) {
        storage_part p;
        dyn_kv_txn *txn = NULL;
        dyn_kv_iter *it = NULL;
        const void *k, *v;
        size_t kl, vl;

        if (storage_partition_gsi(st, ids[i])) {   /* no log to create or read */
            free(ids[i]);
            continue;
        }
        /* partitions created before the log existed get their tables now */
        if (rc == DYN_OK)
            rc = storage_log_tables_create(kv, ids[i]);
        storage_part_tables(ids[i], &p);
        if (rc == DYN_OK && (rc = dyn_kv_read_begin(kv, &txn)) == DYN_OK) {
            if (dyn_kv_iter_open(txn, p.log, NULL, 0, NULL, 0, true, &it) == DYN_OK) {
                if (dyn_kv_iter_next(it, &k, &kl, &v, &vl) == DYN_OK) {
                    Dyne__Internal__ChangeRecord *r =
                        dyne__internal__change_record__unpack(&al, vl, v);
                    if (r != NULL)
                        hlc_observe(r->hlc);   /* the clock never runs below the log */
                }
                dyn_kv_iter_close(it);
            }
            dyn_kv_read_end(txn);
        }
        dyn_arena_reset(&a);
        free(ids[i]);
    }
    free(ids);
    dyn_arena_fini(&a);
    if (rc != DYN_OK)
        return rc;
    maint.st = st;
    maint.retention_s = retention_s;
    maint.stop = maint.kick = false;
    if (pthread_create(&maint.thread, NULL, maint_main, NULL) != 0)
        return DYN_EINTERNAL;
    maint.running = true;
    dyn_log(DYN_LOG_INFO, "STORAGE-LOG-START", "partitions=%zu retention_s=%lld", n,
            (long long)retention_s);
    return DYN_OK;
}

void
storage_log_stop(void)
{
    if (!maint.running)
        return;
    pthread_mutex_lock(&maint.mu);
    maint.stop = true;
    pthread_cond_signal(&maint.cv);
    pthread_mutex_unlock(&maint.mu);
    pthread_join(maint.thread, NULL);
    maint.running = false;
}
