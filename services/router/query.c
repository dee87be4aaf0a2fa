/* services/router -- Query and Scan. The router turns the key condition (or the scan segment)
 * into ranges of encoded storage keys, reads them from the partitions in key order through the
 * storage Range RPC (asynchronously, one partition after another), and applies the filter and
 * the projection to what comes back. Limit counts items evaluated and a page holds at most 1 MB
 * of items read, both before the filter, as in DynamoDB. With IndexName naming an LSI the ranges
 * are over the index's keys (the table's partition key, the index's sort key) and the storage
 * node reads the index, fetching base items when the request needs attributes the index does
 * not project. With IndexName naming a GSI the reads go to the index's own partitions (routed by
 * the hash of the index's partition key, entry keys shaped like an LSI's), eventually consistent
 * only, answering what the index projects (a GSI never fetches base items). */
#include <string.h>

#include "libs/keycodec/keycodec.h"
#include "libs/req/req.h"
#include "proto/dyne/internal/storage.pb-c.h"
#include "proto/dyne/v1/dynamodb.pb-c.h"
#include "services/router/router.h"
#include "services/router/validate.h"

#define PAGE_BYTES (1024 * 1024)

static const char *const select_enum[] = { "ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES",
                                           "SPECIFIC_ATTRIBUTES", "COUNT", NULL };
static const char *const consumed_enum[] = { "INDEXES", "TOTAL", "NONE", NULL };
static const char *const cond_op_enum[] = { "AND", "OR", NULL };

typedef struct read_op {
    dyn_rpc_call *call;
    router *r;
    router_table t;
    bool query, count_only, reverse;
    const dyn_expr *filter, *proj;
    int64_t limit;                 /* items to evaluate; 0: none */
    size_t *order;                 /* partition indexes in hash order */
    size_t next;                   /* next index into order (Scan) */
    uint64_t seg_lo, seg_hi;       /* Scan: hash range of the segment, inclusive */
    const unsigned char *esk;      /* encoded ExclusiveStartKey; NULL: none */
    size_t esk_len;
    /* the range of the current read (Query: the whole key range) */
    const unsigned char *start, *end;
    size_t slen, elen;
    bool start_excl, end_incl;
    /* the page */
    Dyne__V1__AttributeValueMap **items;
    size_t n_items, cap;
    int64_t scanned, bytes;
    const Dyne__V1__AttributeValueMap *last;   /* last item evaluated */
    bool more;                     /* the page ended before the range did */
    const char *rcc;               /* ReturnConsumedCapacity */
    bool consistent;
    const router_lsi *idx;         /* the LSI read; NULL: the table */
    const router_gsi *gsi;         /* the GSI read (t.parts are its partitions); NULL: none */
    bool fetch;                    /* LSI: fetch base items (unprojected attributes needed) */
    bool narrow;                   /* LSI, fetching for the filter only: answer the projection */
    int64_t fetch_bytes;           /* LSI: sizes of the base items fetched */
} read_op;

/* The smallest byte string above every string that starts with p; NULL (unbounded) if none. */
static unsigned char *
prefix_successor(dyn_arena *a, const unsigned char *p, size_t n, size_t *out_len)
{
    while (n > 0 && p[n - 1] == 0xff)
        n--;
    if (n == 0)
        return NULL;
    unsigned char *s = dyn_arena_memdup(a, p, n);
    if (s != NULL)
        s[n - 1]++;
    *out_len = n;
    return s;
}

/* prefix || enc(v) (complete, or without terminator for begins_with) */
static dyn_err
key_with(dyn_arena *a, const unsigned char *prefix, size_t plen, const Dyne__V1__AttributeValue *v,
         bool as_prefix, unsigned char **out, size_t *len)
{
    size_t cap = plen + 64, n = plen;
    unsigned char *buf = dyn_arena_alloc(a, cap);
    dyn_err rc;

    if (buf == NULL)
        return DYN_ENOMEM;
    memcpy(buf, prefix, plen);
    rc = as_prefix ? dyn_keycodec_append_prefix(a, &buf, &n, &cap, v)
                   : dyn_keycodec_append(a, &buf, &n, &cap, v);
    *out = buf;
    *len = n;
    return rc;
}

static void
be64(unsigned char *out, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (unsigned char)v;
}

static void read_next(read_op *o);

static void
read_finish(read_op *o, dyn_err rc, const char *errmsg)
{
    dyn_arena *a = dyn_rpc_call_arena(o->call);
    ProtobufCMessage *out = NULL;
    Dyne__V1__AttributeValueMap *lek = NULL;

    if (rc == DYN_OK && o->more && o->last != NULL &&
        (lek = dyn_item_key_map(&o->t.ks, o->last, a)) == NULL)
        rc = DYN_ENOMEM;
    /* an index's LastEvaluatedKey holds the table's keys and the index's */
    const char *ikeys[2] = { o->idx ? o->idx->sk_name : o->gsi ? o->gsi->ks.pk_name : NULL,
                             o->gsi ? o->gsi->ks.sk_name : NULL };
    for (size_t i = 0; i < 2 && rc == DYN_OK && lek != NULL; i++) {
        const Dyne__V1__AttributeValue *v = ikeys[i] ? dyn_item_get(o->last, ikeys[i]) : NULL;
        Dyne__V1__AttributeValue *c = v ? dyn_item_value_dup(v, a) : NULL;
        if (v != NULL && dyn_item_get(lek, ikeys[i]) == NULL &&
            (c == NULL || dyn_item_put(lek, ikeys[i], c, a) != DYN_OK))
            rc = DYN_ENOMEM;
    }
    /* reads of an LSI are charged on its entries, base items fetched on the table; reads of a
     * GSI on the index alone (always eventually consistent) */
    router_cap cap = { 0 };
    if (o->gsi != NULL) {
        router_cap_add_gsi(&cap, o->gsi->name, router_read_units(o->bytes, false));
    } else if (o->idx == NULL) {
        cap.table = router_read_units(o->bytes, o->consistent);
    } else {
        cap.table = o->fetch_bytes > 0 ? router_read_units(o->fetch_bytes, o->consistent) : 0;
        router_cap_add_lsi(&cap, o->idx->name, router_read_units(o->bytes, o->consistent));
    }
    if (rc == DYN_OK && o->query) {
        Dyne__V1__QueryOutput *q = dyn_arena_alloc(a, sizeof *q);
        if (q == NULL) {
            rc = DYN_ENOMEM;
        } else {
            dyne__v1__query_output__init(q);
            q->n_items = o->n_items;
            q->items = o->items;
            q->has_count = q->has_scannedcount = true;
            q->count = (int32_t)(o->count_only ? o->n_items : o->n_items);
            q->scannedcount = (int32_t)o->scanned;
            q->lastevaluatedkey = lek;
            q->consumedcapacity = router_consumed_cap(a, o->rcc, o->t.name, &cap, true);
            if (o->count_only)
                q->n_items = 0;
            out = &q->base;
        }
    } else if (rc == DYN_OK) {
        Dyne__V1__ScanOutput *s = dyn_arena_alloc(a, sizeof *s);
        if (s == NULL) {
            rc = DYN_ENOMEM;
        } else {
            dyne__v1__scan_output__init(s);
            s->n_items = o->count_only ? 0 : o->n_items;
            s->items = o->items;
            s->has_count = s->has_scannedcount = true;
            s->count = (int32_t)o->n_items;
            s->scannedcount = (int32_t)o->scanned;
            s->lastevaluatedkey = lek;
            s->consumedcapacity = router_consumed_cap(a, o->rcc, o->t.name, &cap, true);
            out = &s->base;
        }
    }
    dyn_rpc_call_finish(o->call, rc, out, errmsg);
}

/* The entry an LSI holds for item: the table's keys, the index's sort key and INCLUDE's
 * attributes (values borrowed from item). */
static dyn_err
index_entry(const read_op *o, const Dyne__V1__AttributeValueMap *item, dyn_arena *a,
            Dyne__V1__AttributeValueMap **out)
{
    const router_lsi *l = o->idx;
    const char *fixed[3] = { o->t.ks.pk_name, o->t.ks.sk_name, l->sk_name };
    Dyne__V1__AttributeValueMap *e = dyn_item_new(a);
    dyn_err rc;

    if (e == NULL)
        return DYN_ENOMEM;
    for (size_t i = 0; i < 3 + (l->proj == 'I' ? l->n_non_key : 0); i++) {
        const char *name = i < 3 ? fixed[i] : l->non_key[i - 3];
        const Dyne__V1__AttributeValue *v = dyn_item_get(item, name);
        if (v != NULL && (rc = dyn_item_put(e, name, (Dyne__V1__AttributeValue *)v, a)) != DYN_OK)
            return rc;
    }
    *out = e;
    return DYN_OK;
}

/* One storage page came back: filter, project, and either finish or read on. */
static void
range_done(void *arg, dyn_err rc, ProtobufCMessage *resp, const char *errmsg)
{
    read_op *o = arg;
    dyn_arena *a = dyn_rpc_call_arena(o->call);
    Dyne__Internal__RangeResponse *rr = (void *)resp;

    if (rc != DYN_OK) {
        read_finish(o, rc, errmsg);
        return;
    }
    for (size_t i = 0; i < rr->n_items; i++) {
        Dyne__V1__AttributeValueMap *item = rr->items[i];
        bool keep = true;
        o->scanned++;
        o->last = item;
        if (o->filter != NULL && (rc = dyn_expr_eval_condition(o->filter, item, &keep)) != DYN_OK) {
            read_finish(o, rc, "cannot evaluate the filter");
            return;
        }
        if (!keep)
            continue;
        if (!o->count_only && o->proj != NULL &&
            (rc = dyn_expr_project(o->proj, item, a, &item)) != DYN_OK) {
            read_finish(o, rc, NULL);
            return;
        }
        if (!o->count_only && o->narrow && (rc = index_entry(o, item, a, &item)) != DYN_OK) {
            read_finish(o, rc, NULL);
            return;
        }
        if (o->n_items == o->cap) {
            size_t cap = o->cap ? o->cap * 2 : 64;
            Dyne__V1__AttributeValueMap **bigger = dyn_arena_alloc(a, sizeof *bigger * cap);
            if (bigger == NULL) {
                read_finish(o, DYN_ENOMEM, NULL);
                return;
            }
            if (o->n_items > 0)
                memcpy(bigger, o->items, sizeof *bigger * o->n_items);
            o->items = bigger;
            o->cap = cap;
        }
        o->items[o->n_items++] = item;
    }
    o->bytes += rr->has_bytes ? rr->bytes : 0;
    o->fetch_bytes += rr->has_fetch_bytes ? rr->fetch_bytes : 0;
    if (rr->has_last_key) {   /* the storage page ended inside the range */
        o->more = true;
        read_finish(o, DYN_OK, NULL);
        return;
    }
    bool full = (o->limit > 0 && o->scanned >= o->limit) || o->bytes >= PAGE_BYTES;
    if (o->query || o->next >= o->t.nparts) {
        read_finish(o, DYN_OK, NULL);
        return;
    }
    if (full) {   /* partitions remain, so the scan goes on from here */
        o->more = o->last != NULL;
        read_finish(o, DYN_OK, NULL);
        return;
    }
    read_next(o);
}

static void
range_send(read_op *o, const router_part *p)
{
    dyn_arena *a = dyn_rpc_call_arena(o->call);
    Dyne__Internal__RangeRequest *q = dyn_arena_alloc(a, sizeof *q);

    if (q == NULL) {
        read_finish(o, DYN_ENOMEM, NULL);
        return;
    }
    dyne__internal__range_request__init(q);
    q->partition_id = (char *)p->id;
    if (o->start != NULL) {
        q->has_start = true;
        q->start.data = (uint8_t *)o->start;
        q->start.len = o->slen;
        q->has_start_exclusive = true;
        q->start_exclusive = o->start_excl;
    }
    if (o->end != NULL) {
        q->has_end = true;
        q->end.data = (uint8_t *)o->end;
        q->end.len = o->elen;
        q->has_end_inclusive = true;
        q->end_inclusive = o->end_incl;
    }
    q->has_reverse = true;
    q->reverse = o->reverse;
    q->has_limit = q->has_max_bytes = true;
    q->limit = o->limit > 0 ? (int32_t)(o->limit - o->scanned) : 0;
    q->max_bytes = PAGE_BYTES - o->bytes;
    if (o->idx != NULL) {
        q->index_name = (char *)o->idx->name;
        q->has_fetch_base = true;
        q->fetch_base = o->fetch;
    }
    router_storage_call(o->r, o->call, p->addr, "Range", &q->base,
                        &dyne__internal__range_response__descriptor, NULL, a, range_done, o);
}

/* Scan: the next partition overlapping the segment, from the ExclusiveStartKey on. */
static void
read_next(read_op *o)
{
    dyn_arena *a = dyn_rpc_call_arena(o->call);

    while (o->next < o->t.nparts) {
        const router_part *p = &o->t.parts[o->order[o->next++]];
        uint64_t lo = p->hash_start > o->seg_lo ? p->hash_start : o->seg_lo;
        uint64_t hi = p->hash_end < o->seg_hi ? p->hash_end : o->seg_hi;
        if (lo > hi)
            continue;
        unsigned char *s = dyn_arena_alloc(a, 8), *e = NULL;
        if (s == NULL) {
            read_finish(o, DYN_ENOMEM, NULL);
            return;
        }
        be64(s, lo);
        o->start = s;
        o->slen = 8;
        o->start_excl = false;
        if (hi != UINT64_MAX) {
            if ((e = dyn_arena_alloc(a, 8)) == NULL) {
                read_finish(o, DYN_ENOMEM, NULL);
                return;
            }
            be64(e, hi + 1);
        }
        o->end = e;
        o->elen = e ? 8 : 0;
        o->end_incl = false;
        if (o->esk != NULL) {
            /* resume inside the partition holding the start key; earlier ones are done */
            uint64_t h = 0;
            for (int i = 0; i < 8; i++)
                h = h << 8 | o->esk[i];
            if (h > hi)
                continue;
            if (h >= lo) {
                o->start = o->esk;
                o->slen = o->esk_len;
                o->start_excl = true;
            }
            o->esk = NULL;
        }
        range_send(o, p);
        return;
    }
    read_finish(o, DYN_OK, NULL);
}

/* ---- request checks shared by Query and Scan ---- */

static dyn_err
check_select(dyn_rpc_call *call, bool query, const char *select, bool has_index, bool has_proj)
{
    if (select == NULL)
        return DYN_OK;
    if (strcmp(select, "SPECIFIC_ATTRIBUTES") == 0 && !has_proj)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                 "%sMust specify the AttributesToGet or ProjectionExpression when "
                                 "choosing to get SPECIFIC_ATTRIBUTES",
                                 query ? "1 validation error detected: " : "");
    if (strcmp(select, "ALL_PROJECTED_ATTRIBUTES") == 0 && !has_index)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                 query ? "ALL_PROJECTED_ATTRIBUTES can be used only when Querying "
                                         "using an IndexName"
                                       : "ALL_PROJECTED_ATTRIBUTES can be used only when scanning "
                                         "an index");
    if (strcmp(select, "COUNT") == 0 && has_proj)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                 "Cannot specify the AttributesToGet when choosing to get only the "
                                 "Count");
    if (strcmp(select, "ALL_ATTRIBUTES") == 0 && has_proj)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                 "Cannot specify the AttributesToGet when choosing to get "
                                 "ALL_ATTRIBUTES");
    return DYN_OK;
}

/* An ExclusiveStartKey on an LSI: the table's keys and the index's sort key, nothing else
 * (dynalite's AWS-verified checks), encoded as the index key hash || enc(pk) || enc(index sk) ||
 * enc(table sk). */
static dyn_err
index_start_key(read_op *o, const Dyne__V1__AttributeValueMap *esk, unsigned char **key,
                size_t *klen)
{
    dyn_rpc_call *call = o->call;
    dyn_arena *a = dyn_rpc_call_arena(call);
    const router_lsi *l = o->idx;
    const Dyne__V1__AttributeValue *pk, *sk, *isk = dyn_item_get(esk, l->sk_name);
    Dyne__V1__AttributeValueMap *tk;
    const char *msg = NULL;
    size_t len, cap;
    unsigned char *k;
    dyn_err rc;

    if (esk->n_values != 3 || isk == NULL || dyn_item_get(esk, o->t.ks.pk_name) == NULL ||
        dyn_item_get(esk, o->t.ks.sk_name) == NULL)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "The provided starting key is invalid");
    if ((isk->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_S && l->sk_type != 'S') ||
        (isk->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_N && l->sk_type != 'N') ||
        (isk->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_B && l->sk_type != 'B') ||
        (isk->value_case != DYNE__V1__ATTRIBUTE_VALUE__VALUE_S &&
         isk->value_case != DYNE__V1__ATTRIBUTE_VALUE__VALUE_N &&
         isk->value_case != DYNE__V1__ATTRIBUTE_VALUE__VALUE_B))
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "%s", DYN_ITEM_MSG_KEY_SCHEMA);
    if ((tk = dyn_item_key_map(&o->t.ks, esk, a)) == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    rc = dyn_item_key_from_key(&o->t.ks, tk, a, &msg, &pk, &sk);
    if (rc != DYN_OK)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "The provided starting key is invalid: %s",
                                 msg ? msg : DYN_ITEM_MSG_KEY_SCHEMA);
    if ((rc = dyn_keycodec_item_key(a, pk, NULL, &k, &len)) != DYN_OK)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "The provided starting key is invalid: %s",
                                 DYN_ITEM_MSG_KEY_SCHEMA);
    cap = len;
    if ((rc = dyn_keycodec_append(a, &k, &len, &cap, isk)) != DYN_OK ||
        (rc = dyn_keycodec_append(a, &k, &len, &cap, sk)) != DYN_OK)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "The provided starting key is invalid: %s",
                                 DYN_ITEM_MSG_KEY_SCHEMA);
    *key = k;
    *klen = len;
    return DYN_OK;
}

/* The value of key attribute `name` of type t in esk, checked as DynamoDB checks a key piece. */
static dyn_err
start_piece(read_op *o, const Dyne__V1__AttributeValueMap *esk, const char *name, char t,
            const Dyne__V1__AttributeValue **out)
{
    const Dyne__V1__AttributeValue *v = dyn_item_get(esk, name);
    int want = t == 'N'   ? DYNE__V1__ATTRIBUTE_VALUE__VALUE_N
               : t == 'B' ? DYNE__V1__ATTRIBUTE_VALUE__VALUE_B
                          : DYNE__V1__ATTRIBUTE_VALUE__VALUE_S;

    if (v == NULL)
        return dyn_rpc_call_fail(o->call, DYN_EVALIDATION, "The provided starting key is invalid");
    if ((int)v->value_case != want)
        return dyn_rpc_call_fail(o->call, DYN_EVALIDATION, "%s", DYN_ITEM_MSG_KEY_SCHEMA);
    *out = v;
    return DYN_OK;
}

/* An ExclusiveStartKey on a GSI: the index's keys and the table's (a LastEvaluatedKey's
 * attributes, nothing else), encoded as the entry key dyn_keycodec_gsi_key makes. */
static dyn_err
gsi_start_key(read_op *o, const Dyne__V1__AttributeValueMap *esk, unsigned char **key,
              size_t *klen)
{
    dyn_rpc_call *call = o->call;
    dyn_arena *a = dyn_rpc_call_arena(call);
    const router_gsi *g = o->gsi;
    const char *names[4] = { g->ks.pk_name, g->ks.sk_name, o->t.ks.pk_name, o->t.ks.sk_name };
    const Dyne__V1__AttributeValue *ipk, *isk = NULL, *pk, *sk;
    Dyne__V1__AttributeValueMap *tk;
    const char *msg = NULL;
    size_t distinct = 0;
    dyn_err rc;

    for (size_t i = 0; i < 4; i++) {
        bool seen = names[i] == NULL;
        for (size_t j = 0; j < i && !seen; j++)
            seen = names[j] != NULL && strcmp(names[j], names[i]) == 0;
        distinct += !seen;
    }
    if (esk->n_values != distinct)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "The provided starting key is invalid");
    if ((rc = start_piece(o, esk, g->ks.pk_name, g->ks.pk_type, &ipk)) != DYN_OK ||
        (g->ks.sk_name != NULL &&
         (rc = start_piece(o, esk, g->ks.sk_name, g->ks.sk_type, &isk)) != DYN_OK))
        return rc;
    if ((tk = dyn_item_key_map(&o->t.ks, esk, a)) == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    rc = dyn_item_key_from_key(&o->t.ks, tk, a, &msg, &pk, &sk);
    if (rc != DYN_OK)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "The provided starting key is invalid: %s",
                                 msg ? msg : DYN_ITEM_MSG_KEY_SCHEMA);
    if ((rc = dyn_keycodec_gsi_key(a, ipk, isk, pk, sk, key, klen)) != DYN_OK)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "The provided starting key is invalid: %s",
                                 DYN_ITEM_MSG_KEY_SCHEMA);
    return DYN_OK;
}

/* IndexName naming a GSI: DynamoDB's checks of the read against the index, then its partitions
 * stand in for the table's. */
static dyn_err
open_gsi(read_op *o, const char *index, bool consistent, const char *select)
{
    dyn_rpc_call *call = o->call;
    dyn_arena *a = dyn_rpc_call_arena(call);
    router_gsi *g = dyn_arena_alloc(a, sizeof *g);

    if (g == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    if (router_table_gsi(o->r, o->t.name, index, a, g) != DYN_OK)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                 "The table does not have the specified index: %s", index);
    if (consistent)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                 "Consistent reads are not supported on global secondary indexes");
    if (select != NULL && strcmp(select, "ALL_ATTRIBUTES") == 0 && g->proj != 'A')
        return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                 "One or more parameter values were invalid: Select type "
                                 "ALL_ATTRIBUTES is not supported for global secondary index %s "
                                 "because its projection type is not ALL",
                                 index);
    /* CREATING (partitions being made, or the indexer's backfill running) */
    if (strcmp(g->status, "ACTIVE") != 0)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                 "Cannot read from backfilling global secondary index");
    o->gsi = g;
    o->t.parts = g->parts;
    o->t.nparts = g->nparts;
    return DYN_OK;
}

/* Table, index, ExclusiveStartKey: the checks that need the table. */
static dyn_err
open_table(read_op *o, const char *table, const char *index, bool consistent, const char *select,
           const Dyne__V1__AttributeValueMap *esk)
{
    dyn_rpc_call *call = o->call;
    dyn_arena *a = dyn_rpc_call_arena(call);
    const Dyne__V1__AttributeValue *pk, *sk;
    const char *msg = NULL;
    unsigned char *k;
    size_t klen;
    dyn_err rc;

    if (router_table_get(o->r, table, true, a, &o->t) != DYN_OK)
        return dyn_rpc_call_fail(call, DYN_ENOTABLE, "Requested resource not found");
    if (index != NULL) {
        if ((o->idx = router_table_lsi(&o->t, index)) == NULL &&
            (rc = open_gsi(o, index, consistent, select)) != DYN_OK)
            return rc;
    }
    if (o->t.nparts == 0)
        return dyn_rpc_call_fail(call, DYN_EUNAVAIL, "the table has no partitions");
    if ((o->order = dyn_arena_alloc(a, sizeof *o->order * o->t.nparts)) == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    for (size_t i = 0; i < o->t.nparts; i++) {   /* insertion sort by hash: few partitions */
        size_t j = i;
        for (; j > 0 && o->t.parts[o->order[j - 1]].hash_start > o->t.parts[i].hash_start; j--)
            o->order[j] = o->order[j - 1];
        o->order[j] = i;
    }
    if (esk != NULL && o->gsi != NULL) {
        if ((rc = gsi_start_key(o, esk, &k, &klen)) != DYN_OK)
            return rc;
        o->esk = k;
        o->esk_len = klen;
    } else if (esk != NULL && o->idx != NULL) {
        if ((rc = index_start_key(o, esk, &k, &klen)) != DYN_OK)
            return rc;
        o->esk = k;
        o->esk_len = klen;
    } else if (esk != NULL) {
        rc = dyn_item_key_from_key(&o->t.ks, esk, a, &msg, &pk, &sk);
        if (rc == DYN_OK)
            rc = dyn_keycodec_item_key(a, pk, sk, &k, &klen);
        if (rc != DYN_OK)
            return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                     "The provided starting key is invalid: %s",
                                     msg ? msg : "The provided key element does not match the "
                                                 "schema");
        o->esk = k;
        o->esk_len = klen;
    }
    return DYN_OK;
}

static dyn_err
check_values(dyn_rpc_call *call, const Dyne__V1__AttributeValueMap *m, const char *prefix)
{
    const char *msg = NULL;
    dyn_err rc;

    if (m != NULL && (rc = dyn_item_validate(m, dyn_rpc_call_arena(call), &msg)) != DYN_OK)
        return dyn_rpc_call_fail(call, rc, "%s%s", prefix, msg ? msg : "invalid attribute value");
    return DYN_OK;
}

/* True when every attribute of names is in the LSI's projection. */
static bool
projected(const read_op *o, const char *const *names, size_t n)
{
    const router_lsi *l = o->idx;

    if (l->proj == 'A')
        return true;
    for (size_t i = 0; i < n; i++) {
        bool in = strcmp(names[i], o->t.ks.pk_name) == 0 ||
                  strcmp(names[i], o->t.ks.sk_name) == 0 || strcmp(names[i], l->sk_name) == 0;
        for (size_t j = 0; !in && l->proj == 'I' && j < l->n_non_key; j++)
            in = strcmp(names[i], l->non_key[j]) == 0;
        if (!in)
            return false;
    }
    return true;
}

/* On an LSI, whether the base items must be fetched: Select ALL_ATTRIBUTES, or a projection or
 * filter that reads attributes the index does not project (DynamoDB fetches those from the
 * table for an LSI, and charges the whole item). */
static dyn_err
decide_fetch(read_op *o, const char *select, const dyn_expr *filter, const dyn_expr *proj)
{
    dyn_arena *a = dyn_rpc_call_arena(o->call);
    const char **names;
    size_t n;
    dyn_err rc;

    o->fetch = false;
    if (o->idx == NULL || o->idx->proj == 'A')
        return DYN_OK;
    if (select != NULL && strcmp(select, "ALL_ATTRIBUTES") == 0) {
        o->fetch = true;
        return DYN_OK;
    }
    if (!o->count_only) {
        if ((rc = dyn_expr_top_names(proj, a, &names, &n)) != DYN_OK)
            return rc;
        if (!projected(o, names, n)) {
            o->fetch = true;
            return DYN_OK;
        }
    }
    if ((rc = dyn_expr_top_names(filter, a, &names, &n)) != DYN_OK)
        return rc;
    o->fetch = !projected(o, names, n);
    /* fetched only to filter: the answer is still what the index projects */
    o->narrow = o->fetch && proj == NULL;
    return DYN_OK;
}

/* ---- Query ---- */

/* The key range of a key condition: [start, end] with the bounds' inclusiveness. */
static dyn_err
query_range(read_op *o, const dyn_expr_key_cond *kc)
{
    dyn_arena *a = dyn_rpc_call_arena(o->call);
    unsigned char *p, *k, *k2;
    size_t plen, klen, k2len, sl = 0;
    dyn_err rc;

    if ((rc = dyn_keycodec_item_key(a, kc->pk, NULL, &p, &plen)) != DYN_OK)
        return rc;
    o->start = p;
    o->slen = plen;
    o->end = prefix_successor(a, p, plen, &sl);
    o->elen = sl;
    o->start_excl = o->end_incl = false;
    switch (kc->sk_op) {
    case DYN_EXPR_KEY_NONE:
        break;
    case DYN_EXPR_KEY_EQ:
    case DYN_EXPR_KEY_LT:
    case DYN_EXPR_KEY_LE:
    case DYN_EXPR_KEY_GT:
    case DYN_EXPR_KEY_GE:
        if ((rc = key_with(a, p, plen, kc->sk_lo, false, &k, &klen)) != DYN_OK)
            return rc;
        if (kc->sk_op == DYN_EXPR_KEY_EQ || kc->sk_op == DYN_EXPR_KEY_GT ||
            kc->sk_op == DYN_EXPR_KEY_GE) {
            o->start = k;
            o->slen = klen;
            o->start_excl = kc->sk_op == DYN_EXPR_KEY_GT;
        }
        if (kc->sk_op == DYN_EXPR_KEY_EQ || kc->sk_op == DYN_EXPR_KEY_LT ||
            kc->sk_op == DYN_EXPR_KEY_LE) {
            o->end = k;
            o->elen = klen;
            o->end_incl = kc->sk_op != DYN_EXPR_KEY_LT;
        }
        break;
    case DYN_EXPR_KEY_BETWEEN:
        if ((rc = key_with(a, p, plen, kc->sk_lo, false, &k, &klen)) != DYN_OK ||
            (rc = key_with(a, p, plen, kc->sk_hi, false, &k2, &k2len)) != DYN_OK)
            return rc;
        o->start = k;
        o->slen = klen;
        o->end = k2;
        o->elen = k2len;
        o->end_incl = true;
        break;
    case DYN_EXPR_KEY_BEGINS_WITH:
        if ((rc = key_with(a, p, plen, kc->sk_lo, true, &k, &klen)) != DYN_OK)
            return rc;
        o->start = k;
        o->slen = klen;
        o->end = prefix_successor(a, k, klen, &sl);
        o->elen = sl;
        break;
    }
    /* An index key continues past its sort key (the table's sort key follows), so a bound that
     * includes a sort-key value must cover every key it prefixes, and one that excludes it must
     * skip them all: enc() is prefix-free, so those keys are exactly the ones below the
     * bound's successor. */
    if ((o->idx != NULL || o->gsi != NULL) && o->end_incl) {
        o->end = prefix_successor(a, o->end, o->elen, &sl);
        o->elen = o->end ? sl : 0;
        o->end_incl = false;
    }
    if ((o->idx != NULL || o->gsi != NULL) && o->start_excl) {
        unsigned char *s = prefix_successor(a, o->start, o->slen, &sl);
        if (s == NULL)
            return DYN_EVALIDATION;   /* nothing sorts above: cannot happen for a valid enc() */
        o->start = s;
        o->slen = sl;
        o->start_excl = false;
    }
    /* resume after the ExclusiveStartKey: above it going forward, below it in reverse */
    if (o->esk != NULL) {
        if (o->reverse) {
            o->end = o->esk;
            o->elen = o->esk_len;
            o->end_incl = false;
        } else {
            o->start = o->esk;
            o->slen = o->esk_len;
            o->start_excl = true;
        }
    }
    return DYN_OK;
}

dyn_err
router_query(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp, void *ctx)
{
    const Dyne__V1__QueryInput *in = (const void *)m;
    dyn_arena *a = dyn_rpc_call_arena(call);
    read_op *o = dyn_arena_zalloc(a, sizeof *o);
    dyn_expr *filter = NULL, *proj = NULL;
    dyn_expr_key_cond kc;
    const char *msg = NULL;
    vc v;
    dyn_err rc;

    (void)resp;
    if (o == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    o->call = call;
    o->r = ctx;
    o->query = true;
    vc_init(&v, a);
    vc_enum(&v, "returnConsumedCapacity", in->returnconsumedcapacity, consumed_enum);
    vc_not_null(&v, "tableName", in->tablename != NULL);
    vc_table_name(&v, "tableName", in->tablename);
    vc_table_name(&v, "indexName", in->indexname);
    vc_enum(&v, "select", in->select, select_enum);
    if (in->has_limit)
        vc_int_range(&v, "limit", in->limit, 1, INT32_MAX);
    vc_enum(&v, "conditionalOperator", in->conditionaloperator, cond_op_enum);
    if ((msg = vc_message(&v)) != NULL)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "%s", msg);
    if ((rc = check_select(call, true, in->select, in->indexname != NULL,
                           in->projectionexpression != NULL || in->n_attributestoget > 0)) !=
        DYN_OK)
        return rc;
    if ((rc = check_values(call, in->expressionattributevalues, "")) != DYN_OK ||
        (rc = check_values(call, in->exclusivestartkey, "The provided starting key is invalid: ")) !=
            DYN_OK)
        return rc;
    if ((rc = open_table(o, in->tablename, in->indexname,
                         in->has_consistentread && in->consistentread, in->select,
                         in->exclusivestartkey)) != DYN_OK)
        return rc;
    dyn_req_read rq = {
        .key_condition_expression = in->keyconditionexpression,
        .filter_expression = in->filterexpression,
        .projection_expression = in->projectionexpression,
        .names = (dyn_req_str_entry *const *)in->expressionattributenames,
        .n_names = in->n_expressionattributenames,
        .values = in->expressionattributevalues,
        .key_conditions = (const ProtobufCMessage *const *)in->keyconditions,
        .n_key_conditions = in->n_keyconditions,
        .filter = (const ProtobufCMessage *const *)in->queryfilter,
        .n_filter = in->n_queryfilter,
        .conditional_operator = in->conditionaloperator,
        .attributes_to_get = (const char *const *)in->attributestoget,
        .n_attributes_to_get = in->n_attributestoget,
    };
    /* the key condition is checked against the queried key schema: an LSI's sort key, a GSI's
     * keys */
    const dyn_key_schema *qks = o->gsi ? &o->gsi->ks : &o->t.ks;
    if ((rc = dyn_req_read_parse(DYN_EXPR_OP_QUERY, &rq, qks->pk_name, qks->pk_type,
                                 o->idx ? o->idx->sk_name : qks->sk_name,
                                 o->idx ? o->idx->sk_type : qks->sk_type, a, &kc, &filter,
                                 &proj, &msg)) != DYN_OK)
        return dyn_rpc_call_fail(call, rc, "%s", msg ? msg : "invalid query");
    o->filter = filter;
    o->proj = proj;
    o->count_only = in->select != NULL && strcmp(in->select, "COUNT") == 0;
    if ((rc = decide_fetch(o, in->select, filter, proj)) != DYN_OK)
        return dyn_rpc_call_fail(call, rc, "out of memory");
    o->limit = in->has_limit ? in->limit : 0;
    o->reverse = in->has_scanindexforward && !in->scanindexforward;
    o->rcc = in->returnconsumedcapacity;
    o->consistent = in->has_consistentread && in->consistentread;
    if ((rc = query_range(o, &kc)) != DYN_OK)
        return dyn_rpc_call_fail(call, rc, "cannot encode the key condition");
    const router_part *p = router_table_route(&o->t, dyn_keycodec_hash(kc.pk));
    if (p == NULL)
        return dyn_rpc_call_fail(call, DYN_EUNAVAIL, "no partition owns the key");
    dyn_rpc_call_defer(call);
    range_send(o, p);
    return DYN_OK;
}

/* ---- Scan ---- */

dyn_err
router_scan(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp, void *ctx)
{
    const Dyne__V1__ScanInput *in = (const void *)m;
    dyn_arena *a = dyn_rpc_call_arena(call);
    read_op *o = dyn_arena_zalloc(a, sizeof *o);
    dyn_expr *filter = NULL, *proj = NULL;
    const char *msg = NULL;
    vc v;
    dyn_err rc;

    (void)resp;
    if (o == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    o->call = call;
    o->r = ctx;
    vc_init(&v, a);
    vc_enum(&v, "returnConsumedCapacity", in->returnconsumedcapacity, consumed_enum);
    vc_not_null(&v, "tableName", in->tablename != NULL);
    vc_table_name(&v, "tableName", in->tablename);
    vc_table_name(&v, "indexName", in->indexname);
    vc_enum(&v, "select", in->select, select_enum);
    if (in->has_limit)
        vc_int_range(&v, "limit", in->limit, 1, INT32_MAX);
    vc_enum(&v, "conditionalOperator", in->conditionaloperator, cond_op_enum);
    if (in->has_totalsegments)
        vc_int_range(&v, "totalSegments", in->totalsegments, 1, 1000000);
    if (in->has_segment)
        vc_int_range(&v, "segment", in->segment, 0, 999999);
    if ((msg = vc_message(&v)) != NULL)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "%s", msg);
    if (in->has_segment && !in->has_totalsegments)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                 "The TotalSegments parameter is required but was not present in "
                                 "the request when Segment parameter is present");
    if (in->has_totalsegments && !in->has_segment)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                 "The Segment parameter is required but was not present in the "
                                 "request when parameter TotalSegments is present");
    if (in->has_segment && in->segment >= in->totalsegments)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                 "The Segment parameter is zero-based and must be less than "
                                 "parameter TotalSegments: Segment: %d is not less than "
                                 "TotalSegments: %d",
                                 in->segment, in->totalsegments);
    if ((rc = check_select(call, false, in->select, in->indexname != NULL,
                           in->projectionexpression != NULL || in->n_attributestoget > 0)) !=
        DYN_OK)
        return rc;
    if ((rc = check_values(call, in->expressionattributevalues, "")) != DYN_OK ||
        (rc = check_values(call, in->exclusivestartkey, "The provided starting key is invalid: ")) !=
            DYN_OK)
        return rc;
    dyn_req_read rq = {
        .filter_expression = in->filterexpression,
        .projection_expression = in->projectionexpression,
        .names = (dyn_req_str_entry *const *)in->expressionattributenames,
        .n_names = in->n_expressionattributenames,
        .values = in->expressionattributevalues,
        .filter = (const ProtobufCMessage *const *)in->scanfilter,
        .n_filter = in->n_scanfilter,
        .conditional_operator = in->conditionaloperator,
        .attributes_to_get = (const char *const *)in->attributestoget,
        .n_attributes_to_get = in->n_attributestoget,
    };
    if ((rc = dyn_req_read_parse(DYN_EXPR_OP_SCAN, &rq, NULL, 0, NULL, 0, a, NULL, &filter, &proj,
                                 &msg)) != DYN_OK)
        return dyn_rpc_call_fail(call, rc, "%s", msg ? msg : "invalid scan");
    if ((rc = open_table(o, in->tablename, in->indexname,
                         in->has_consistentread && in->consistentread, in->select,
                         in->exclusivestartkey)) != DYN_OK)
        return rc;
    o->filter = filter;
    o->proj = proj;
    o->count_only = in->select != NULL && strcmp(in->select, "COUNT") == 0;
    if ((rc = decide_fetch(o, in->select, filter, proj)) != DYN_OK)
        return dyn_rpc_call_fail(call, rc, "out of memory");
    o->limit = in->has_limit ? in->limit : 0;
    o->rcc = in->returnconsumedcapacity;
    o->consistent = in->has_consistentread && in->consistentread;
    o->seg_lo = 0;
    o->seg_hi = UINT64_MAX;
    if (in->has_totalsegments && in->totalsegments > 1) {
        /* segment i of n owns hashes [i*2^64/n, (i+1)*2^64/n) */
        unsigned __int128 span = (unsigned __int128)1 << 64;
        o->seg_lo = (uint64_t)(span * (unsigned)in->segment / (unsigned)in->totalsegments);
        o->seg_hi = (uint64_t)(span * ((unsigned)in->segment + 1) / (unsigned)in->totalsegments - 1);
    }
    dyn_rpc_call_defer(call);
    read_next(o);
    return DYN_OK;
}
