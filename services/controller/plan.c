/* services/controller -- the pure placement rules: a table's initial partition count from its
 * capacity, the hash range of each partition, and which live node takes each new partition. */
#include "services/controller/controller.h"

#include <stdbool.h>
#include <string.h>

#include "proto/dyne/v1/types.pb-c.h"

/* The capacity a table or index asks for: the on-demand baseline or its provisioned units, raised
 * by its warm throughput (DynamoDB's way to ask for more partitions than the mode starts with: it
 * only ever raises the count). */
static void
capacity(const Dyne__V1__TableDescription *d, const Dyne__V1__ProvisionedThroughputDescription *pt,
         bool has_warm_r, int64_t warm_r, bool has_warm_w, int64_t warm_w,
         controller_capacity *out)
{
    out->on_demand = d->billingmodesummary != NULL && d->billingmodesummary->billingmode != NULL &&
                     strcmp(d->billingmodesummary->billingmode, "PAY_PER_REQUEST") == 0;
    if (out->on_demand) {
        out->read_units = CONTROLLER_ON_DEMAND_READ_UNITS;
        out->write_units = CONTROLLER_ON_DEMAND_WRITE_UNITS;
    } else if (pt != NULL) {
        out->read_units = pt->readcapacityunits;
        out->write_units = pt->writecapacityunits;
    }
    if (has_warm_r && warm_r > out->read_units)
        out->read_units = warm_r;
    if (has_warm_w && warm_w > out->write_units)
        out->write_units = warm_w;
}

void
controller_capacity_of(const Dyne__V1__TableDescription *d, controller_capacity *out)
{
    const Dyne__V1__TableWarmThroughputDescription *w;

    memset(out, 0, sizeof *out);
    if (d == NULL)
        return;
    w = d->warmthroughput;
    capacity(d, d->provisionedthroughput, w != NULL && w->has_readunitspersecond,
             w != NULL ? w->readunitspersecond : 0, w != NULL && w->has_writeunitspersecond,
             w != NULL ? w->writeunitspersecond : 0, out);
}

void
controller_gsi_capacity_of(const Dyne__V1__TableDescription *d, const char *index,
                           controller_capacity *out)
{
    const Dyne__V1__GlobalSecondaryIndexDescription *g = NULL;
    const Dyne__V1__GlobalSecondaryIndexWarmThroughputDescription *w;

    memset(out, 0, sizeof *out);
    for (size_t i = 0; d != NULL && index != NULL && i < d->n_globalsecondaryindexes; i++)
        if (d->globalsecondaryindexes[i]->indexname != NULL &&
            strcmp(d->globalsecondaryindexes[i]->indexname, index) == 0)
            g = d->globalsecondaryindexes[i];
    if (g == NULL)
        return;
    w = g->warmthroughput;
    capacity(d, g->provisionedthroughput, w != NULL && w->has_readunitspersecond,
             w != NULL ? w->readunitspersecond : 0, w != NULL && w->has_writeunitspersecond,
             w != NULL ? w->writeunitspersecond : 0, out);
}

static uint64_t
ceil_div(int64_t v, int64_t per)
{
    return v <= 0 ? 0 : (uint64_t)(v / per) + (v % per != 0);
}

uint32_t
controller_partition_count(const controller_capacity *c, uint32_t max_parts)
{
    uint64_t n = 1, k;

    /* A partition serves its read and its write share at once (one partition gives 3,000 RCU
     * and 1,000 WCU), so the largest need wins rather than the sum: 12,000 RRU and 4,000 WRU
     * of a new on-demand table are four partitions. */
    if ((k = ceil_div(c->read_units, CONTROLLER_PART_READ_UNITS)) > n)
        n = k;
    if ((k = ceil_div(c->write_units, CONTROLLER_PART_WRITE_UNITS)) > n)
        n = k;
    if ((k = ceil_div(c->size_bytes, CONTROLLER_PART_BYTES)) > n)
        n = k;
    if (max_parts < 1)
        max_parts = 1;
    return n > max_parts ? max_parts : (uint32_t)n;
}

void
controller_hash_range(uint32_t n, uint32_t i, uint64_t *start, uint64_t *end)
{
    /* 2^64 = q*n + r with r < n, without 128-bit arithmetic: the first r ranges get q + 1. */
    uint64_t q, r;

    if (n <= 1) {   /* q would be 2^64 */
        *start = 0;
        *end = UINT64_MAX;
        return;
    }
    q = UINT64_MAX / n;
    r = UINT64_MAX % n + 1;
    if (r == n) {
        q++;
        r = 0;
    }
    *start = (uint64_t)i * q + (i < r ? i : r);
    *end = i + 1 == n ? UINT64_MAX : *start + q - (i < r ? 0 : 1);
}

/* true if node a should take the next partition before node b */
static bool
place_before(const controller_node *a, const controller_node *b)
{
    if (a->partitions != b->partitions)
        return a->partitions < b->partitions;
    if (a->bytes != b->bytes)
        return a->bytes < b->bytes;
    return strcmp(a->id, b->id) < 0;
}

void
controller_place(controller_node *nodes, size_t nn, size_t n, size_t *out)
{
    for (size_t k = 0; k < n; k++) {
        size_t best = 0;
        for (size_t j = 1; j < nn; j++)
            if (place_before(&nodes[j], &nodes[best]))
                best = j;
        nodes[best].partitions++;
        out[k] = best;
    }
}
