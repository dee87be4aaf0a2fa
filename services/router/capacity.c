/* services/router -- capacity units by DynamoDB's rules (reference §2.2): reads in 4 KB units
 * (half for eventually consistent reads), writes in 1 KB units, at least one unit each, the
 * ConsumedCapacity shapes of ReturnConsumedCapacity TOTAL and INDEXES (with the LSIs' and the
 * GSIs' shares), and ItemCollectionMetrics. */
#include <string.h>

#include "proto/dyne/internal/storage.pb-c.h"
#include "proto/dyne/v1/types.pb-c.h"
#include "services/router/router.h"

double
router_read_units(int64_t bytes, bool consistent)
{
    int64_t units = bytes <= 0 ? 1 : (bytes + 4095) / 4096;
    return consistent ? (double)units : (double)units / 2.0;
}

double
router_write_units(int64_t bytes)
{
    return bytes <= 0 ? 1.0 : (double)((bytes + 1023) / 1024);
}

static Dyne__V1__Capacity *
capacity(dyn_arena *a, double units, bool read)
{
    Dyne__V1__Capacity *t = dyn_arena_alloc(a, sizeof *t);

    if (t == NULL)
        return NULL;
    dyne__v1__capacity__init(t);
    t->has_capacityunits = true;
    t->capacityunits = units;
    if (read) {
        t->has_readcapacityunits = true;
        t->readcapacityunits = units;
    } else {
        t->has_writecapacityunits = true;
        t->writecapacityunits = units;
    }
    return t;
}

void
router_cap_add_lsi(router_cap *c, const char *name, double units)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->lsi[i], name) == 0) {
            c->lsi_units[i] += units;
            return;
        }
    if (c->n < ROUTER_LSI_MAX) {
        c->lsi[c->n] = name;
        c->lsi_units[c->n++] = units;
    }
}

void
router_cap_add_gsi(router_cap *c, const char *name, double units)
{
    for (size_t i = 0; i < c->n_gsi; i++)
        if (strcmp(c->gsi[i], name) == 0) {
            c->gsi_units[i] += units;
            return;
        }
    if (c->n_gsi < ROUTER_GSI_MAX) {
        c->gsi[c->n_gsi] = name;
        c->gsi_units[c->n_gsi++] = units;
    }
}

void
router_cap_add_gsi_writes(router_cap *c, Dyne__Internal__LsiWrite *const *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (w[i]->index_name != NULL && w[i]->has_units)
            router_cap_add_gsi(c, w[i]->index_name, w[i]->units);
}

void
router_cap_add_lsi_writes(router_cap *c, Dyne__Internal__LsiWrite *const *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (w[i]->index_name != NULL && w[i]->has_units)
            router_cap_add_lsi(c, w[i]->index_name, w[i]->units);
}

Dyne__V1__ConsumedCapacity *
router_consumed_cap(dyn_arena *a, const char *mode, const char *table, const router_cap *cap,
                    bool read)
{
    Dyne__V1__ConsumedCapacity *c;
    double total = cap->table;

    if (mode == NULL || strcmp(mode, "NONE") == 0)
        return NULL;
    for (size_t i = 0; i < cap->n; i++)
        total += cap->lsi_units[i];
    for (size_t i = 0; i < cap->n_gsi; i++)
        total += cap->gsi_units[i];
    if ((c = dyn_arena_alloc(a, sizeof *c)) == NULL)
        return NULL;
    dyne__v1__consumed_capacity__init(c);
    c->tablename = (char *)table;
    c->has_capacityunits = true;
    c->capacityunits = total;
    if (read) {
        c->has_readcapacityunits = true;
        c->readcapacityunits = total;
    } else {
        c->has_writecapacityunits = true;
        c->writecapacityunits = total;
    }
    if (strcmp(mode, "INDEXES") == 0) {
        /* the table's own share, and each LSI's (LSIs consume the table's capacity, but
         * DynamoDB reports them apart) */
        c->table = capacity(a, cap->table, read);
        if (cap->n > 0) {
            c->localsecondaryindexes =
                dyn_arena_alloc(a, sizeof *c->localsecondaryindexes * cap->n);
            if (c->localsecondaryindexes == NULL)
                return c;
            for (size_t i = 0; i < cap->n; i++) {
                Dyne__V1__ConsumedCapacity__LocalSecondaryIndexesEntry *e =
                    dyn_arena_alloc(a, sizeof *e);
                if (e == NULL)
                    return c;
                dyne__v1__consumed_capacity__local_secondary_indexes_entry__init(e);
                e->key = (char *)cap->lsi[i];
                e->value = capacity(a, cap->lsi_units[i], read);
                if (e->value == NULL)
                    return c;
                c->localsecondaryindexes[c->n_localsecondaryindexes++] = e;
            }
        }
        if (cap->n_gsi > 0) {   /* each GSI has capacity of its own */
            c->globalsecondaryindexes =
                dyn_arena_alloc(a, sizeof *c->globalsecondaryindexes * cap->n_gsi);
            if (c->globalsecondaryindexes == NULL)
                return c;
            for (size_t i = 0; i < cap->n_gsi; i++) {
                Dyne__V1__ConsumedCapacity__GlobalSecondaryIndexesEntry *e =
                    dyn_arena_alloc(a, sizeof *e);
                if (e == NULL)
                    return c;
                dyne__v1__consumed_capacity__global_secondary_indexes_entry__init(e);
                e->key = (char *)cap->gsi[i];
                if ((e->value = capacity(a, cap->gsi_units[i], read)) == NULL)
                    return c;
                c->globalsecondaryindexes[c->n_globalsecondaryindexes++] = e;
            }
        }
    }
    return c;
}

Dyne__V1__ConsumedCapacity *
router_consumed(dyn_arena *a, const char *mode, const char *table, double units, bool read)
{
    router_cap cap = { .table = units };
    return router_consumed_cap(a, mode, table, &cap, read);
}

Dyne__V1__ItemCollectionMetrics *
router_collection_metrics(dyn_arena *a, const router_table *t,
                          const Dyne__V1__AttributeValueMap *item_or_key, int64_t bytes)
{
    Dyne__V1__ItemCollectionMetrics *m = dyn_arena_alloc(a, sizeof *m);
    const Dyne__V1__AttributeValue *pk = dyn_item_get(item_or_key, t->ks.pk_name);
    double *range = dyn_arena_alloc(a, sizeof *range * 2);

    if (m == NULL || range == NULL)
        return NULL;
    dyne__v1__item_collection_metrics__init(m);
    if ((m->itemcollectionkey = dyn_item_new(a)) == NULL)
        return NULL;
    if (pk != NULL && dyn_item_put(m->itemcollectionkey, t->ks.pk_name,
                                   (Dyne__V1__AttributeValue *)pk, a) != DYN_OK)
        return NULL;
    /* DynamoDB answers an estimate in whole gigabytes: the GB the collection is in, and the
     * next one */
    range[0] = (double)((bytes > 0 ? bytes : 0) >> 30);
    range[1] = range[0] + 1.0;
    m->n_sizeestimaterangegb = 2;
    m->sizeestimaterangegb = range;
    return m;
}
