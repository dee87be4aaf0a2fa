/* services/indexer -- the pure rules of a global secondary index: which entry an item has (key,
 * projection, sparseness), which partition holds it, and the net index writes of a run of
 * change records. No I/O. */
#include <stdlib.h>
#include <string.h>

#include "libs/gsi/gsi.h"
#include "libs/keycodec/keycodec.h"
#include "services/indexer/indexer.h"

static bool
type_ok(const char *t)
{
    return t != NULL && (strcmp(t, "S") == 0 || strcmp(t, "N") == 0 || strcmp(t, "B") == 0);
}

static bool
schema_ok(const Dyne__Internal__KeySchema *ks)
{
    return ks != NULL && ks->pk_name != NULL && ks->pk_name[0] != '\0' && type_ok(ks->pk_type) &&
           (ks->sk_name == NULL || (ks->sk_name[0] != '\0' && type_ok(ks->sk_type)));
}

static void
schema_of(const Dyne__Internal__KeySchema *ks, dyn_key_schema *out)
{
    out->pk_name = ks->pk_name;
    out->pk_type = ks->pk_type[0];
    out->sk_name = ks->sk_name;
    out->sk_type = ks->sk_name != NULL ? ks->sk_type[0] : 0;
}

static int
ipart_cmp(const void *x, const void *y)
{
    const indexer_ipart *a = x, *b = y;
    return (a->start > b->start) - (a->start < b->start);
}

/* A heap copy of any message (pack, unpack). */
static ProtobufCMessage *
msg_copy(const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = dyn_xmalloc(n ? n : 1);
    ProtobufCMessage *c;

    protobuf_c_message_pack(m, buf);
    c = protobuf_c_message_unpack(m->descriptor, NULL, n, buf);
    free(buf);
    return c;
}

void
indexer_gsi_free(indexer_gsi *g)
{
    if (g == NULL)
        return;
    if (g->meta != NULL)
        dyne__internal__gsi_meta__free_unpacked(g->meta, NULL);
    if (g->tks != NULL)
        dyne__internal__key_schema__free_unpacked(g->tks, NULL);
    free(g->parts);
    free(g);
}

dyn_err
indexer_gsi_new(const Dyne__Internal__KeySchema *tks, const Dyne__Internal__GsiMeta *gm,
                indexer_gsi **out)
{
    indexer_gsi *g = dyn_xcalloc(1, sizeof *g);
    dyn_err rc = DYN_EVALIDATION;

    *out = NULL;
    if (!schema_ok(tks) || gm == NULL || !schema_ok(gm->key_schema) || gm->index_id == NULL ||
        gm->index_id[0] == '\0' || gm->n_partitions == 0)
        goto out;
    g->meta = (Dyne__Internal__GsiMeta *)msg_copy(&gm->base);
    g->tks = (Dyne__Internal__KeySchema *)msg_copy(&tks->base);
    if (g->meta == NULL || g->tks == NULL) {
        rc = DYN_ENOMEM;
        goto out;
    }
    g->index_id = g->meta->index_id;
    g->index_name = g->meta->index_name != NULL ? g->meta->index_name : g->meta->index_id;
    schema_of(g->tks, &g->table_ks);
    schema_of(g->meta->key_schema, &g->index_ks);
    if ((g->proj = dyn_gsi_proj(g->meta->projection_type)) == 0)
        goto out;
    for (size_t i = 0; i < g->meta->n_non_key_attributes; i++)
        if (g->meta->non_key_attributes[i] == NULL)
            goto out;
    g->nparts = g->meta->n_partitions;
    g->parts = dyn_xcalloc(g->nparts, sizeof *g->parts);
    for (size_t i = 0; i < g->nparts; i++) {
        const Dyne__Internal__PartitionMeta *pm = g->meta->partitions[i];
        if (pm->partition_id == NULL || pm->node_addr == NULL || pm->node_addr[0] == '\0')
            goto out;
        g->parts[i] = (indexer_ipart){ .id = pm->partition_id, .addr = pm->node_addr,
                                       .start = pm->hash_start, .end = pm->hash_end };
    }
    qsort(g->parts, g->nparts, sizeof *g->parts, ipart_cmp);
    /* the ranges must cut the whole hash space, or some entry would have nowhere to go */
    if (g->parts[0].start != 0 || g->parts[g->nparts - 1].end != UINT64_MAX)
        goto out;
    for (size_t i = 0; i < g->nparts; i++) {
        if (g->parts[i].end < g->parts[i].start)
            goto out;
        if (i > 0 && g->parts[i].start != g->parts[i - 1].end + 1)
            goto out;
    }
    rc = DYN_OK;
out:
    if (rc != DYN_OK) {
        indexer_gsi_free(g);
        return rc;
    }
    *out = g;
    return DYN_OK;
}

dyn_err
indexer_entry(const indexer_gsi *g, const Dyne__V1__AttributeValueMap *item, dyn_arena *a,
              unsigned char **key, size_t *klen, const Dyne__V1__AttributeValueMap **val)
{
    dyn_gsi_shape sh = { .table_ks = g->table_ks, .index_ks = g->index_ks, .proj = g->proj,
                         .non_key = g->meta->non_key_attributes,
                         .n_non_key = g->meta->n_non_key_attributes };

    return dyn_gsi_entry(&sh, item, a, key, klen, val);
}

const indexer_ipart *
indexer_route(const indexer_gsi *g, const unsigned char *key, size_t klen)
{
    uint64_t h = 0;
    size_t lo = 0, hi = g->nparts;

    if (klen < DYN_KEYCODEC_HASH_LEN)
        return NULL;
    for (int i = 0; i < DYN_KEYCODEC_HASH_LEN; i++)
        h = h << 8 | key[i];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h < g->parts[mid].start)
            hi = mid;
        else if (h > g->parts[mid].end)
            lo = mid + 1;
        else
            return &g->parts[mid];
    }
    return NULL;
}

/* ---- plans ---- */

void
indexer_plan_init(indexer_plan *p, const indexer_gsi *g, dyn_arena *a)
{
    memset(p, 0, sizeof *p);
    p->g = g;
    p->a = a;
}

static dyn_err
plan_add(indexer_plan *p, const unsigned char *key, size_t klen,
         const Dyne__V1__AttributeValueMap *val)
{
    const indexer_ipart *part = indexer_route(p->g, key, klen);

    if (part == NULL)
        return DYN_EINTERNAL;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        indexer_op *ops = dyn_arena_alloc(p->a, cap * sizeof *ops);
        if (ops == NULL)
            return DYN_ENOMEM;
        if (p->n > 0)
            memcpy(ops, p->ops, p->n * sizeof *ops);
        p->ops = ops;
        p->cap = cap;
    }
    p->ops[p->n] = (indexer_op){ .part = part, .key = key, .klen = klen, .val = val, .seq = p->n };
    p->n++;
    return DYN_OK;
}

static bool
same_bytes(const unsigned char *x, size_t xl, const unsigned char *y, size_t yl)
{
    return xl == yl && memcmp(x, y, xl) == 0;
}

/* Whether two entries are the same item (canonical encodings compare equal). */
static dyn_err
same_entry(const Dyne__V1__AttributeValueMap *x, const Dyne__V1__AttributeValueMap *y,
           dyn_arena *a, bool *same)
{
    unsigned char *xb, *yb;
    size_t xl, yl;
    dyn_err rc;

    *same = false;
    if ((rc = dyn_item_encode(x, a, &xb, &xl)) != DYN_OK)
        return rc;
    if ((rc = dyn_item_encode(y, a, &yb, &yl)) != DYN_OK)
        return rc;
    *same = same_bytes(xb, xl, yb, yl);
    return DYN_OK;
}

dyn_err
indexer_plan_change(indexer_plan *p, const Dyne__V1__AttributeValueMap *old,
                    const Dyne__V1__AttributeValueMap *new_)
{
    const Dyne__V1__AttributeValueMap *ov, *nv;
    unsigned char *ok, *nk;
    size_t okl, nkl;
    bool same_key, same = false;
    dyn_err rc;

    if ((rc = indexer_entry(p->g, old, p->a, &ok, &okl, &ov)) != DYN_OK)
        return rc;
    if ((rc = indexer_entry(p->g, new_, p->a, &nk, &nkl, &nv)) != DYN_OK)
        return rc;
    same_key = ok != NULL && nk != NULL && same_bytes(ok, okl, nk, nkl);
    /* An attribute the index does not project changed: the entry is already right (replays
     * from any earlier position still converge: the last change that moved the entry wrote it,
     * and the first later change of its key deletes it). */
    if (same_key && (rc = same_entry(ov, nv, p->a, &same)) != DYN_OK)
        return rc;
    if (same) {
        p->skipped++;
        return DYN_OK;
    }
    if (ok != NULL && !same_key && (rc = plan_add(p, ok, okl, NULL)) != DYN_OK)
        return rc;
    if (nk != NULL && (rc = plan_add(p, nk, nkl, nv)) != DYN_OK)
        return rc;
    return DYN_OK;
}

/* By key, the latest write of a key first. */
static int
op_cmp(const void *x, const void *y)
{
    const indexer_op *a = x, *b = y;
    size_t n = a->klen < b->klen ? a->klen : b->klen;
    int c = memcmp(a->key, b->key, n);

    if (c != 0)
        return c;
    if (a->klen != b->klen)
        return a->klen < b->klen ? -1 : 1;
    return (a->seq < b->seq) - (a->seq > b->seq);
}

void
indexer_plan_finish(indexer_plan *p)
{
    size_t w = 0;

    if (p->n == 0)
        return;
    /* keys begin with the be64 hash the partitions are cut by: key order is partition order */
    qsort(p->ops, p->n, sizeof *p->ops, op_cmp);
    for (size_t i = 0; i < p->n; i++) {
        if (w > 0 && same_bytes(p->ops[w - 1].key, p->ops[w - 1].klen, p->ops[i].key,
                                p->ops[i].klen))
            continue;   /* an earlier write of a key the run writes again */
        p->ops[w++] = p->ops[i];
    }
    p->n = w;
}
