/* services/controller -- unit tests of the pure rules: the initial partition count, the hash
 * ranges, and placement over nodes. */
#include "services/controller/controller.h"

#include <stdint.h>
#include <string.h>

#include "libs/testing/dyn_test.h"
#include "proto/dyne/v1/types.pb-c.h"

/* ---- helpers ---- */

static uint32_t
ct_count(bool on_demand, int64_t rcu, int64_t wcu, int64_t bytes, uint32_t max)
{
    controller_capacity c = { .on_demand = on_demand, .read_units = rcu, .write_units = wcu,
                              .size_bytes = bytes };
    return controller_partition_count(&c, max);
}

/* A description as the router stores it: provisioned (rcu, wcu) or PAY_PER_REQUEST. */
typedef struct ct_desc {
    Dyne__V1__TableDescription d;
    Dyne__V1__ProvisionedThroughputDescription pt;
    Dyne__V1__BillingModeSummary bm;
    Dyne__V1__TableWarmThroughputDescription warm;
} ct_desc;

static void
ct_desc_init(ct_desc *t, bool on_demand, int64_t rcu, int64_t wcu)
{
    dyne__v1__table_description__init(&t->d);
    dyne__v1__provisioned_throughput_description__init(&t->pt);
    dyne__v1__billing_mode_summary__init(&t->bm);
    dyne__v1__table_warm_throughput_description__init(&t->warm);
    t->pt.has_readcapacityunits = t->pt.has_writecapacityunits = true;
    t->pt.readcapacityunits = rcu;
    t->pt.writecapacityunits = wcu;
    t->d.provisionedthroughput = &t->pt;
    if (on_demand) {
        t->bm.billingmode = "PAY_PER_REQUEST";
        t->d.billingmodesummary = &t->bm;
    }
}

static uint32_t
ct_desc_count(const ct_desc *t)
{
    controller_capacity c;
    controller_capacity_of(&t->d, &c);
    return controller_partition_count(&c, 256);
}

/* n ranges tile [0, 2^64) in order, with sizes that differ by at most one. */
static void
ct_check_ranges(uint32_t n)
{
    uint64_t prev_end = 0, min_size = UINT64_MAX, max_size = 0;

    for (uint32_t i = 0; i < n; i++) {
        uint64_t s, e;
        controller_hash_range(n, i, &s, &e);
        if (i == 0)
            DT_TRUE(s == 0);
        else
            DT_TRUE(s == prev_end + 1);
        DT_TRUE(e >= s);
        uint64_t size = e - s;   /* one less than the size: 2^64 does not fit */
        if (size < min_size)
            min_size = size;
        if (size > max_size)
            max_size = size;
        prev_end = e;
    }
    DT_TRUE(prev_end == UINT64_MAX);
    DT_TRUE(max_size - min_size <= 1);
}

/* ---- the partition-count rule ---- */

static void
test_count_provisioned(void)
{
    DT_EQ_INT(ct_count(false, 5, 5, 0, 256), 1);
    DT_EQ_INT(ct_count(false, 3000, 1000, 0, 256), 1);   /* one partition's worth of both */
    DT_EQ_INT(ct_count(false, 3001, 1, 0, 256), 2);
    DT_EQ_INT(ct_count(false, 9000, 10, 0, 256), 3);
    DT_EQ_INT(ct_count(false, 10, 2500, 0, 256), 3);
    DT_EQ_INT(ct_count(false, 6000, 3000, 0, 256), 3);   /* the larger need, not the sum */
    DT_EQ_INT(ct_count(false, 40000, 40000, 0, 256), 40);
}

static void
test_count_on_demand_baseline(void)
{
    ct_desc t;

    ct_desc_init(&t, true, 0, 0);
    DT_EQ_INT(ct_desc_count(&t), 4);   /* 12,000 RRU / 3,000 = 4,000 WRU / 1,000 = 4 */
    /* provisioned figures left in a PAY_PER_REQUEST description do not count */
    ct_desc_init(&t, true, 100000, 100000);
    DT_EQ_INT(ct_desc_count(&t), 4);
    ct_desc_init(&t, false, 9000, 10);
    DT_EQ_INT(ct_desc_count(&t), 3);
    ct_desc_init(&t, false, 5, 5);
    DT_EQ_INT(ct_desc_count(&t), 1);
}

static void
test_count_warm_throughput_raises_only(void)
{
    ct_desc t;

    ct_desc_init(&t, true, 0, 0);
    t.warm.has_readunitspersecond = true;
    t.warm.readunitspersecond = 30000;
    t.d.warmthroughput = &t.warm;
    DT_EQ_INT(ct_desc_count(&t), 10);
    t.warm.readunitspersecond = 10;   /* below the baseline: the baseline stays */
    t.warm.has_writeunitspersecond = true;
    t.warm.writeunitspersecond = 7500;
    DT_EQ_INT(ct_desc_count(&t), 8);
}

static void
test_count_size_and_cap(void)
{
    DT_EQ_INT(ct_count(false, 1, 1, CONTROLLER_PART_BYTES, 256), 1);
    DT_EQ_INT(ct_count(false, 1, 1, CONTROLLER_PART_BYTES + 1, 256), 2);
    DT_EQ_INT(ct_count(false, 1, 1, 25 * CONTROLLER_PART_BYTES / 10, 256), 3);
    DT_EQ_INT(ct_count(false, 1000000, 1, 0, 256), 256);
    DT_EQ_INT(ct_count(true, 12000, 4000, 0, 2), 2);
    DT_EQ_INT(ct_count(false, 1000000, 1, 0, 0), 1);   /* a cap below 1 means 1 */
}

static void
test_count_without_capacity(void)
{
    controller_capacity c;
    ct_desc t;

    controller_capacity_of(NULL, &c);   /* no description: the smallest table */
    DT_EQ_INT(controller_partition_count(&c, 256), 1);
    ct_desc_init(&t, false, 0, 0);
    t.d.provisionedthroughput = NULL;
    DT_EQ_INT(ct_desc_count(&t), 1);
    DT_EQ_INT(ct_count(false, -5, -5, -1, 256), 1);
}

static void
test_count_gsi(void)
{
    Dyne__V1__GlobalSecondaryIndexDescription g, *gs[1] = { &g };
    Dyne__V1__ProvisionedThroughputDescription gpt;
    Dyne__V1__GlobalSecondaryIndexWarmThroughputDescription gw;
    controller_capacity c;
    ct_desc t;

    /* the index's own throughput counts, not the table's */
    ct_desc_init(&t, false, 40000, 40000);
    dyne__v1__global_secondary_index_description__init(&g);
    dyne__v1__provisioned_throughput_description__init(&gpt);
    dyne__v1__global_secondary_index_warm_throughput_description__init(&gw);
    g.indexname = "ix";
    gpt.has_readcapacityunits = gpt.has_writecapacityunits = true;
    gpt.readcapacityunits = 6000;
    gpt.writecapacityunits = 5;
    g.provisionedthroughput = &gpt;
    t.d.n_globalsecondaryindexes = 1;
    t.d.globalsecondaryindexes = gs;
    controller_gsi_capacity_of(&t.d, "ix", &c);
    DT_EQ_INT(controller_partition_count(&c, 256), 2);
    /* its warm throughput raises it */
    gw.has_writeunitspersecond = true;
    gw.writeunitspersecond = 3000;
    g.warmthroughput = &gw;
    controller_gsi_capacity_of(&t.d, "ix", &c);
    DT_EQ_INT(controller_partition_count(&c, 256), 3);
    /* on demand: the baseline, whatever provisioned figures are left */
    ct_desc_init(&t, true, 0, 0);
    t.d.n_globalsecondaryindexes = 1;
    t.d.globalsecondaryindexes = gs;
    g.warmthroughput = NULL;
    controller_gsi_capacity_of(&t.d, "ix", &c);
    DT_EQ_INT(controller_partition_count(&c, 256), 4);
    /* an unknown index: one partition */
    controller_gsi_capacity_of(&t.d, "other", &c);
    DT_EQ_INT(controller_partition_count(&c, 256), 1);
    controller_gsi_capacity_of(NULL, "ix", &c);
    DT_EQ_INT(controller_partition_count(&c, 256), 1);
}

/* ---- hash ranges ---- */

static void
test_ranges_exact(void)
{
    uint64_t s, e;

    controller_hash_range(1, 0, &s, &e);
    DT_TRUE(s == 0 && e == UINT64_MAX);
    controller_hash_range(2, 0, &s, &e);
    DT_TRUE(s == 0 && e == (UINT64_C(1) << 63) - 1);
    controller_hash_range(2, 1, &s, &e);
    DT_TRUE(s == UINT64_C(1) << 63 && e == UINT64_MAX);
    for (uint32_t i = 0; i < 4; i++) {
        controller_hash_range(4, i, &s, &e);
        DT_TRUE(s == (uint64_t)i << 62);
        DT_TRUE(e == s + (UINT64_C(1) << 62) - 1);
    }
}

static void
test_ranges_tile(void)
{
    static const uint32_t ns[] = { 1, 2, 3, 5, 7, 10, 64, 255, 256, 1000, 4096 };

    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
        ct_check_ranges(ns[k]);
}

/* ---- placement ---- */

static void
test_place_spreads_over_empty_nodes(void)
{
    controller_node nodes[3] = { { .id = "b" }, { .id = "a" }, { .id = "c" } };
    size_t out[4];

    controller_place(nodes, 3, 3, out);
    DT_EQ_INT(out[0], 1);   /* ties by count and size: the lowest id first */
    DT_EQ_INT(out[1], 0);
    DT_EQ_INT(out[2], 2);
    DT_EQ_INT(nodes[0].partitions, 1);
    DT_EQ_INT(nodes[1].partitions, 1);
    DT_EQ_INT(nodes[2].partitions, 1);
    controller_place(nodes, 3, 4, out);   /* counts carry over: a, b, c, then a again */
    DT_EQ_INT(out[0], 1);
    DT_EQ_INT(out[1], 0);
    DT_EQ_INT(out[2], 2);
    DT_EQ_INT(out[3], 1);
}

static void
test_place_fewest_partitions_first(void)
{
    controller_node nodes[3] = { { .id = "a", .partitions = 5 }, { .id = "b" },
                                 { .id = "c", .partitions = 2 } };
    size_t out[4];

    controller_place(nodes, 3, 4, out);
    DT_EQ_INT(out[0], 1);
    DT_EQ_INT(out[1], 1);
    DT_EQ_INT(out[2], 1);   /* b and c both at 2: equal sizes, so the lower id */
    DT_EQ_INT(out[3], 2);
    DT_EQ_INT(nodes[0].partitions, 5);
    DT_EQ_INT(nodes[1].partitions, 3);
    DT_EQ_INT(nodes[2].partitions, 3);
}

static void
test_place_ties_by_size_then_id(void)
{
    controller_node nodes[3] = { { .id = "a", .partitions = 1, .bytes = 100 },
                                 { .id = "b", .partitions = 1, .bytes = 50 },
                                 { .id = "c", .partitions = 1, .bytes = 50 } };
    size_t out[3];

    controller_place(nodes, 3, 3, out);
    DT_EQ_INT(out[0], 1);   /* smaller than a, same size as c, lower id */
    DT_EQ_INT(out[1], 2);   /* b now has 2 */
    DT_EQ_INT(out[2], 0);
}

static void
test_place_new_node_takes_new_partitions(void)
{
    controller_node nodes[4] = { { .id = "n1", .partitions = 10, .bytes = 1 << 20 },
                                 { .id = "n2", .partitions = 10, .bytes = 1 << 20 },
                                 { .id = "n3", .partitions = 10, .bytes = 1 << 20 },
                                 { .id = "n9" } };
    size_t out[12];

    controller_place(nodes, 4, 12, out);
    for (int k = 0; k < 10; k++)
        DT_EQ_INT(out[k], 3);   /* until it has caught up */
    DT_EQ_INT(out[10], 3);      /* then all at 10: it holds the fewest bytes */
    DT_EQ_INT(out[11], 0);
}

DT_MAIN({ "count: provisioned", test_count_provisioned },
        { "count: on-demand baseline", test_count_on_demand_baseline },
        { "count: warm throughput raises only", test_count_warm_throughput_raises_only },
        { "count: size and cap", test_count_size_and_cap },
        { "count: no capacity given", test_count_without_capacity },
        { "count: a GSI's own capacity", test_count_gsi },
        { "ranges: exact cuts", test_ranges_exact },
        { "ranges: tile 2^64 evenly", test_ranges_tile },
        { "place: spreads over empty nodes", test_place_spreads_over_empty_nodes },
        { "place: fewest partitions first", test_place_fewest_partitions_first },
        { "place: ties by size, then id", test_place_ties_by_size_then_id },
        { "place: a new node takes new partitions", test_place_new_node_takes_new_partitions })
