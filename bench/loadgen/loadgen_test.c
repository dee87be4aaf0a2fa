/* bench/loadgen -- unit tests of the parts that decide the numbers: histogram quantiles, mixes,
 * key distributions, item sizes and the reply checker. */
#include "bench/loadgen/loadgen.h"

#include "libs/item/item.h"
#include "libs/testing/dyn_test.h"

static void
test_hist_quantiles_within_bucket_error(void)
{
    lg_hist h;

    lg_hist_init(&h);
    for (uint64_t v = 1; v <= 100000; v++)
        lg_hist_add(&h, v * 1000);   /* 1 us .. 100 ms, uniform */
    DT_EQ_INT(h.n, 100000);
    double qs[] = { 0.5, 0.95, 0.99, 0.999 };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        double want = qs[i] * 1e8, got = (double)lg_hist_quantile(&h, qs[i]);
        DT_TRUE(got > want * 0.984 && got < want * 1.016);
    }
    DT_EQ_INT(lg_hist_quantile(&h, 0), 1000);
    DT_EQ_INT(lg_hist_quantile(&h, 1), 100000000);

    lg_hist_init(&h);
    for (uint64_t v = 0; v < 128; v++)
        lg_hist_add(&h, v);   /* exact below 128 */
    DT_EQ_INT(lg_hist_quantile(&h, 0.5), 63);
    DT_EQ_INT(lg_hist_quantile(&h, 0.25), 31);
}

static void
test_hist_merge_and_huge_values(void)
{
    lg_hist a, b;

    lg_hist_init(&a);
    lg_hist_init(&b);
    lg_hist_add(&a, 10);
    lg_hist_add(&b, (uint64_t)1 << 60);   /* past the last bucket: clamped, not lost */
    lg_hist_merge(&a, &b);
    DT_EQ_INT(a.n, 2);
    DT_EQ_INT(a.min_ns, 10);
    DT_TRUE(lg_hist_quantile(&a, 1) == (uint64_t)1 << 60);
    DT_TRUE(lg_hist_quantile(&a, 0.99) <= (uint64_t)1 << 60);
}

static void
test_mix_parse(void)
{
    lg_mix m;

    DT_TRUE(lg_mix_parse("A", &m));
    DT_EQ_INT(m.pct[LG_OP_GET], 50);
    DT_EQ_INT(m.pct[LG_OP_PUT], 50);
    DT_TRUE(lg_mix_parse("get:90,put:5,query:5", &m));
    DT_EQ_INT(m.pct[LG_OP_QUERY], 5);
    DT_TRUE(!lg_mix_parse("get:90", &m));     /* must sum to 100 */
    DT_TRUE(!lg_mix_parse("scan:100", &m));   /* unknown op */
    DT_TRUE(lg_mix_parse("get", &m));

    lg_rng r;
    int n[LG_OP__COUNT] = { 0 };
    lg_rng_seed(&r, 7);
    DT_TRUE(lg_mix_parse("get:80,put:20", &m));
    for (int i = 0; i < 100000; i++)
        n[lg_mix_pick(&m, &r)]++;
    DT_TRUE(n[LG_OP_GET] > 79000 && n[LG_OP_GET] < 81000);
    DT_EQ_INT(n[LG_OP_QUERY] + n[LG_OP_INSERT], 0);
}

static void
test_keys_in_range_and_zipf_skewed(void)
{
    static uint32_t seen_u[1000], seen_z[1000];
    lg_keys u, z;
    lg_rng r;
    uint32_t top_u = 0, top_z = 0;

    lg_keys_init(&u, 1000, 10, false);
    lg_keys_init(&z, 1000, 10, true);
    lg_rng_seed(&r, 1);
    for (int i = 0; i < 100000; i++) {
        uint64_t a = lg_keys_pick(&u, &r), b = lg_keys_pick(&z, &r);
        DT_TRUE(a < 1000 && b < 1000);
        if (a < 1000 && b < 1000) {
            seen_u[a]++;
            seen_z[b]++;
        }
    }
    for (int i = 0; i < 1000; i++) {
        top_u = seen_u[i] > top_u ? seen_u[i] : top_u;
        top_z = seen_z[i] > top_z ? seen_z[i] : top_z;
    }
    /* uniform: ~100 picks a key; YCSB's zipf(0.99) over 1000 keys: the hottest ~13% */
    DT_TRUE(top_u < 200);
    DT_TRUE(top_z > 8000 && top_z < 20000);
}

static void
test_item_size_and_layout(void)
{
    lg_keys k;
    dyn_arena a;
    char pk[32];

    dyn_arena_init(&a, 1 << 20);
    lg_keys_init(&k, 100, 10, false);
    Dyne__V1__AttributeValueMap *m = lg_item(42, 7, &k, 1024, &a);
    DT_TRUE(m != NULL);
    DT_EQ_INT(dyn_item_size(m), 1024);
    DT_EQ_STR(m->values[0]->value->s, "k0000000004");
    DT_EQ_STR(m->values[1]->value->n, "2");
    DT_EQ_STR(m->values[2]->value->n, "7");
    lg_pk_text(42, &k, pk, sizeof pk);
    DT_EQ_STR(pk, "k0000000004");
    dyn_arena_fini(&a);
}

static void
test_pb_count(void)
{
    /* field 1 (len 2), field 2 varint, field 1 (len 0) */
    const uint8_t msg[] = { 0x0a, 0x02, 'h', 'i', 0x10, 0x96, 0x01, 0x0a, 0x00 };
    const uint8_t bad[] = { 0x0a, 0x05, 'h' };

    DT_EQ_INT(lg_pb_count(msg, sizeof msg, 1), 2);
    DT_EQ_INT(lg_pb_count(msg, sizeof msg, 2), 1);
    DT_EQ_INT(lg_pb_count(msg, sizeof msg, 3), 0);
    DT_EQ_INT(lg_pb_count(msg, 0, 1), 0);
    DT_EQ_INT(lg_pb_count(bad, sizeof bad, 1), -1);
}

DT_MAIN({ "hist quantiles within bucket error", test_hist_quantiles_within_bucket_error },
        { "hist merge and huge values", test_hist_merge_and_huge_values },
        { "mix parse", test_mix_parse },
        { "keys in range, zipf skewed", test_keys_in_range_and_zipf_skewed },
        { "item size and layout", test_item_size_and_layout },
        { "pb count", test_pb_count })
