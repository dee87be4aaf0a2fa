/* services/storage -- Range: the ordered read under Query and Scan, of a partition's items or of
 * one of its LSIs. Runs on the worker thread against a snapshot; stops at the item limit or once
 * the page's item (index entry) sizes reach max_bytes (DynamoDB counts the item that crosses 1 MB
 * into the page), and says where to resume. An LSI read may fetch each entry's base item on the
 * same snapshot. */
#include <stdio.h>
#include <string.h>

#include "libs/item/item.h"
#include "proto/dyne/internal/storage.pb-c.h"
#include "services/storage/changelog.h"
#include "services/storage/storage.h"

#define RANGE_MAX_ITEMS 100000   /* a page never holds more, whatever the limit says */

dyn_err
storage_h_range(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp, void *ctx)
{
    const Dyne__Internal__RangeRequest *req = (const void *)m;
    storage *st = ctx;
    dyn_arena *a = dyn_rpc_call_arena(call);
    Dyne__Internal__RangeResponse *out;
    dyn_kv_txn *txn = NULL;
    dyn_kv_iter *it = NULL;
    char table[96];
    storage_part part;
    const storage_lsi *lsi = NULL;
    bool fetch = req->has_fetch_base && req->fetch_base;
    int64_t fetch_bytes = 0;
    size_t cap = 64, limit = req->has_limit && req->limit > 0 ? (size_t)req->limit : RANGE_MAX_ITEMS;
    int64_t bytes = 0, max_bytes = req->has_max_bytes ? req->max_bytes : 0;
    const void *k, *v;
    size_t kl, vl;
    dyn_err rc;

    if (limit > RANGE_MAX_ITEMS)
        limit = RANGE_MAX_ITEMS;
    if (!storage_partition_get(st, req->partition_id, a, &part))
        return dyn_rpc_call_fail(call, DYN_ENOTABLE, "Requested resource not found");
    storage_call_table(st, call, req->partition_id);
    snprintf(table, sizeof table, "%s", part.items);
    if (req->index_name != NULL && req->index_name[0] != '\0') {
        for (size_t i = 0; i < part.n_lsis && lsi == NULL; i++)
            if (strcmp(part.lsis[i].name, req->index_name) == 0)
                lsi = &part.lsis[i];
        if (lsi == NULL)
            return dyn_rpc_call_fail(call, DYN_ENOTABLE, "Requested resource not found");
        snprintf(table, sizeof table, "%s", lsi->table);
    }
    fetch = fetch && lsi != NULL && lsi->proj != 'A';
    if ((out = dyn_arena_alloc(a, sizeof *out)) == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    dyne__internal__range_response__init(out);
    if ((out->items = dyn_arena_alloc(a, sizeof *out->items * cap)) == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");

    /* kv iterates [start, end); an inclusive end is the smallest key above it (key + "\0") */
    const unsigned char *start = req->has_start && req->start.len ? req->start.data : NULL;
    size_t slen = start ? req->start.len : 0;
    unsigned char *end = NULL;
    size_t elen = 0;
    if (req->has_end && req->end.len > 0) {
        elen = req->end.len + (req->has_end_inclusive && req->end_inclusive ? 1 : 0);
        if ((end = dyn_arena_zalloc(a, elen)) == NULL)
            return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
        memcpy(end, req->end.data, req->end.len);
    }
    bool skip_start = start != NULL && req->has_start_exclusive && req->start_exclusive;

    if ((rc = dyn_kv_read_begin(storage_kv(st), &txn)) != DYN_OK)
        goto out;
    if ((rc = dyn_kv_iter_open(txn, table, start, slen, end, elen, req->has_reverse && req->reverse,
                               &it)) != DYN_OK)
        goto out;
    for (;;) {
        if ((rc = dyn_kv_iter_next(it, &k, &kl, &v, &vl)) != DYN_OK)
            break;
        if (skip_start && kl == slen && memcmp(k, start, slen) == 0)
            continue;   /* ExclusiveStartKey itself */
        if (out->n_items == limit || (max_bytes > 0 && bytes >= max_bytes)) {
            /* more remain: resume after the last item returned */
            rc = DYN_OK;
            out->has_last_key = true;
            goto out;
        }
        Dyne__V1__AttributeValueMap *item;
        if ((rc = dyn_item_decode(v, vl, a, &item)) != DYN_OK)
            goto out;
        bytes += (int64_t)dyn_item_size(item);
        if (fetch) {
            /* the base item, from the same snapshot: it exists whenever its entry does */
            unsigned char *bk;
            size_t bkl;
            void *bv;
            size_t bvl;
            Dyne__V1__AttributeValueMap *base;
            if ((rc = storage_lsi_base_key(&part, lsi, k, kl, a, &bk, &bkl)) != DYN_OK)
                goto out;
            rc = dyn_kv_get(txn, part.items, bk, bkl, a, &bv, &bvl);
            if (rc == DYN_OK && (rc = dyn_item_decode(bv, bvl, a, &base)) == DYN_OK) {
                item = base;
                fetch_bytes += (int64_t)dyn_item_size(base);
            } else if (rc != DYN_ENOTFOUND) {
                goto out;
            }
            rc = DYN_OK;
        }
        if (out->n_items == cap) {
            Dyne__V1__AttributeValueMap **bigger = dyn_arena_alloc(a, sizeof *bigger * cap * 2);
            if (bigger == NULL) {
                rc = DYN_ENOMEM;
                goto out;
            }
            memcpy(bigger, out->items, sizeof *bigger * cap);
            out->items = bigger;
            cap *= 2;
        }
        out->items[out->n_items++] = item;
        /* remember this key: it is LastEvaluatedKey if the page ends here */
        if ((out->last_key.data = dyn_arena_memdup(a, k, kl)) == NULL) {
            rc = DYN_ENOMEM;
            goto out;
        }
        out->last_key.len = kl;
    }
    if (rc == DYN_ENOTFOUND)
        rc = DYN_OK;
out:
    if (it != NULL)
        dyn_kv_iter_close(it);
    if (txn != NULL)
        dyn_kv_read_end(txn);
    if (rc != DYN_OK)
        return dyn_rpc_call_fail(call, rc, "storage range read failed");
    out->has_bytes = true;
    out->bytes = bytes;
    out->has_fetch_bytes = fetch;
    out->fetch_bytes = fetch_bytes;
    if (!out->has_last_key)
        out->last_key.len = 0;
    *resp = &out->base;
    return DYN_OK;
}
