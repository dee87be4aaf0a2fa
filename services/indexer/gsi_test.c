/* services/indexer -- the pure rules of gsi.c: entry keys and projections, sparse items,
 * routing by hash range, and the net writes of a run of changes (a key change moves the entry,
 * a change of an unprojected attribute writes nothing, the last write of a key wins). */
#include <string.h>

#include "libs/keycodec/keycodec.h"
#include "libs/testing/dyn_test.h"
#include "services/indexer/indexer.h"

static Dyne__V1__AttributeValue *
val(dyn_arena *a, char type, const char *s)
{
    Dyne__V1__AttributeValue *v = dyn_arena_zalloc(a, sizeof *v);
    dyne__v1__attribute_value__init(v);
    switch (type) {
    case 'S':
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_S;
        v->s = dyn_arena_strdup(a, s);
        break;
    case 'N':
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_N;
        v->n = dyn_arena_strdup(a, s);
        break;
    case 'B':
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_B;
        v->b.data = (uint8_t *)dyn_arena_strdup(a, s);
        v->b.len = strlen(s);
        break;
    default:
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_BOOL;
        v->bool_ = true;
    }
    return v;
}

/* item("pk", 'S', "a", "g", 'N', "5", NULL): name, type, value triples */
static Dyne__V1__AttributeValueMap *
item(dyn_arena *a, const char *name, ...)
{
    Dyne__V1__AttributeValueMap *m = dyn_item_new(a);
    va_list ap;

    va_start(ap, name);
    while (name != NULL) {
        char type = (char)va_arg(ap, int);
        const char *s = va_arg(ap, const char *);
        DT_OK(dyn_item_put(m, name, val(a, type, s), a));
        name = va_arg(ap, const char *);
    }
    va_end(ap);
    return m;
}

static Dyne__Internal__KeySchema tks = DYNE__INTERNAL__KEY_SCHEMA__INIT;
static Dyne__Internal__KeySchema iks = DYNE__INTERNAL__KEY_SCHEMA__INIT;
static Dyne__Internal__PartitionMeta pm[3];
static Dyne__Internal__PartitionMeta *pms[3] = { &pm[2], &pm[0], &pm[1] };   /* unsorted */
static char *include[] = { "inc" };

/* table (pk S, sk N), index (g S, r N) over three partitions */
static void
gsi_meta(Dyne__Internal__GsiMeta *g, const char *proj, bool hash_only_index)
{
    dyne__internal__key_schema__init(&tks);
    tks.pk_name = "pk";
    tks.pk_type = "S";
    tks.sk_name = "sk";
    tks.sk_type = "N";
    dyne__internal__key_schema__init(&iks);
    iks.pk_name = "g";
    iks.pk_type = "S";
    if (!hash_only_index) {
        iks.sk_name = "r";
        iks.sk_type = "N";
    }
    static const char *ids[3] = { "ix.0", "ix.1", "ix.2" };
    static const char *addrs[3] = { "n0:1", "n1:1", "n2:1" };
    uint64_t third = UINT64_MAX / 3;
    for (int i = 0; i < 3; i++) {
        dyne__internal__partition_meta__init(&pm[i]);
        pm[i].partition_id = (char *)ids[i];
        pm[i].node_addr = (char *)addrs[i];
        pm[i].has_hash_start = pm[i].has_hash_end = true;
        pm[i].hash_start = i == 0 ? 0 : third * (uint64_t)i + 1;
        pm[i].hash_end = i == 2 ? UINT64_MAX : third * (uint64_t)(i + 1);
    }
    dyne__internal__gsi_meta__init(g);
    g->index_id = "t1-byg-1";
    g->index_name = "byg";
    g->key_schema = &iks;
    g->projection_type = (char *)proj;
    g->n_non_key_attributes = 1;
    g->non_key_attributes = include;
    g->n_partitions = 3;
    g->partitions = pms;
}

static indexer_gsi *
make(const char *proj, bool hash_only_index)
{
    Dyne__Internal__GsiMeta g;
    indexer_gsi *out = NULL;

    gsi_meta(&g, proj, hash_only_index);
    DT_OK(indexer_gsi_new(&tks, &g, &out));
    return out;
}

static void
test_definitions(void)
{
    Dyne__Internal__GsiMeta g;
    indexer_gsi *out = NULL;

    gsi_meta(&g, "ALL", false);
    DT_OK(indexer_gsi_new(&tks, &g, &out));
    DT_TRUE(out->nparts == 3 && out->parts[0].start == 0 && out->parts[2].end == UINT64_MAX);
    DT_EQ_STR(out->parts[1].id, "ix.1");
    indexer_gsi_free(out);
    g.projection_type = "SOME";
    DT_ERR(indexer_gsi_new(&tks, &g, &out), DYN_EVALIDATION);
    g.projection_type = "ALL";
    pm[1].hash_start++;   /* a gap */
    DT_ERR(indexer_gsi_new(&tks, &g, &out), DYN_EVALIDATION);
    pm[1].hash_start--;
    g.n_partitions = 0;
    DT_ERR(indexer_gsi_new(&tks, &g, &out), DYN_EVALIDATION);
    g.n_partitions = 3;
    iks.pk_type = "BOOL";
    DT_ERR(indexer_gsi_new(&tks, &g, &out), DYN_EVALIDATION);
    DT_TRUE(out == NULL);
}

static void
test_entries_and_projections(void)
{
    dyn_arena a;
    unsigned char *key;
    size_t klen;
    const Dyne__V1__AttributeValueMap *v;
    indexer_gsi *all = make("ALL", false), *keys = make("KEYS_ONLY", false),
                *inc = make("INCLUDE", false), *hash = make("KEYS_ONLY", true);

    dyn_arena_init(&a, 1 << 20);
    Dyne__V1__AttributeValueMap *it = item(&a, "pk", 'S', "a", "sk", 'N', "1", "g", 'S', "x",
                                           "r", 'N', "10.0", "inc", 'S', "i", "other", 'S', "o",
                                           NULL);
    DT_OK(indexer_entry(all, it, &a, &key, &klen, &v));
    DT_TRUE(key != NULL && v == it);
    {
        /* the key is dyn_keycodec_gsi_key's, numbers canonical */
        unsigned char *want;
        size_t wlen;
        DT_OK(dyn_keycodec_gsi_key(&a, val(&a, 'S', "x"), val(&a, 'N', "1E1"), val(&a, 'S', "a"),
                                   val(&a, 'N', "1"), &want, &wlen));
        DT_TRUE(wlen == klen && memcmp(want, key, klen) == 0);
    }
    DT_OK(indexer_entry(keys, it, &a, &key, &klen, &v));
    DT_TRUE(key != NULL && v->n_values == 4);
    DT_TRUE(dyn_item_get(v, "pk") && dyn_item_get(v, "sk") && dyn_item_get(v, "g") &&
            dyn_item_get(v, "r") && !dyn_item_get(v, "inc"));
    DT_OK(indexer_entry(inc, it, &a, &key, &klen, &v));
    DT_TRUE(v->n_values == 5 && dyn_item_get(v, "inc") && !dyn_item_get(v, "other"));
    DT_OK(indexer_entry(hash, it, &a, &key, &klen, &v));
    DT_TRUE(key != NULL && v->n_values == 3 && !dyn_item_get(v, "r"));

    /* sparse: no index sort key, the wrong type, an empty S, no item */
    Dyne__V1__AttributeValueMap *no_r = item(&a, "pk", 'S', "a", "sk", 'N', "1", "g", 'S', "x",
                                             NULL);
    DT_OK(indexer_entry(all, no_r, &a, &key, &klen, &v));
    DT_TRUE(key == NULL && v == NULL);
    DT_OK(indexer_entry(hash, no_r, &a, &key, &klen, &v));   /* hash-only: present */
    DT_TRUE(key != NULL);
    Dyne__V1__AttributeValueMap *wrong = item(&a, "pk", 'S', "a", "sk", 'N', "1", "g", 'N', "3",
                                              "r", 'N', "1", NULL);
    DT_OK(indexer_entry(all, wrong, &a, &key, &klen, &v));
    DT_TRUE(key == NULL);
    Dyne__V1__AttributeValueMap *empty = item(&a, "pk", 'S', "a", "sk", 'N', "1", "g", 'S', "",
                                              "r", 'N', "1", NULL);
    DT_OK(indexer_entry(all, empty, &a, &key, &klen, &v));
    DT_TRUE(key == NULL);
    DT_OK(indexer_entry(all, NULL, &a, &key, &klen, &v));
    DT_TRUE(key == NULL);
    indexer_gsi_free(all);
    indexer_gsi_free(keys);
    indexer_gsi_free(inc);
    indexer_gsi_free(hash);
    dyn_arena_fini(&a);
}

static void
test_routing(void)
{
    indexer_gsi *g = make("ALL", false);
    unsigned char key[9] = { 0 };

    DT_EQ_STR(indexer_route(g, key, sizeof key)->id, "ix.0");
    memset(key, 0xff, 8);
    DT_EQ_STR(indexer_route(g, key, sizeof key)->id, "ix.2");
    uint64_t h = UINT64_MAX / 3 + 1;   /* first hash of ix.1 */
    for (int i = 0; i < 8; i++)
        key[i] = (unsigned char)(h >> (56 - 8 * i));
    DT_EQ_STR(indexer_route(g, key, sizeof key)->id, "ix.1");
    DT_TRUE(indexer_route(g, key, 7) == NULL);
    indexer_gsi_free(g);
}

static void
test_plans(void)
{
    dyn_arena a;
    indexer_plan p;
    indexer_gsi *g = make("KEYS_ONLY", false);

    dyn_arena_init(&a, 1 << 20);
    Dyne__V1__AttributeValueMap *v1 = item(&a, "pk", 'S', "a", "sk", 'N', "1", "g", 'S', "x",
                                           "r", 'N', "1", NULL);
    Dyne__V1__AttributeValueMap *v2 = item(&a, "pk", 'S', "a", "sk", 'N', "1", "g", 'S', "y",
                                           "r", 'N', "1", NULL);
    Dyne__V1__AttributeValueMap *v2b = item(&a, "pk", 'S', "a", "sk", 'N', "1", "g", 'S', "y",
                                            "r", 'N', "1", "other", 'S', "o", NULL);
    Dyne__V1__AttributeValueMap *sparse = item(&a, "pk", 'S', "a", "sk", 'N', "1", NULL);

    /* insert: one put */
    indexer_plan_init(&p, g, &a);
    DT_OK(indexer_plan_change(&p, NULL, v1));
    indexer_plan_finish(&p);
    DT_TRUE(p.n == 1 && p.ops[0].val != NULL);
    /* key change: delete the old entry, put the new one */
    indexer_plan_init(&p, g, &a);
    DT_OK(indexer_plan_change(&p, v1, v2));
    indexer_plan_finish(&p);
    DT_TRUE(p.n == 2);
    DT_TRUE((p.ops[0].val == NULL) != (p.ops[1].val == NULL));
    /* an unprojected attribute: nothing */
    indexer_plan_init(&p, g, &a);
    DT_OK(indexer_plan_change(&p, v2, v2b));
    indexer_plan_finish(&p);
    DT_TRUE(p.n == 0 && p.skipped == 1);
    /* out of the index, and remove */
    indexer_plan_init(&p, g, &a);
    DT_OK(indexer_plan_change(&p, v2b, sparse));
    DT_OK(indexer_plan_change(&p, sparse, NULL));
    indexer_plan_finish(&p);
    DT_TRUE(p.n == 1 && p.ops[0].val == NULL);
    /* a run: x -> y -> x -> removed nets to deletes of x and y only */
    indexer_plan_init(&p, g, &a);
    DT_OK(indexer_plan_change(&p, NULL, v1));
    DT_OK(indexer_plan_change(&p, v1, v2));
    DT_OK(indexer_plan_change(&p, v2, v1));
    DT_OK(indexer_plan_change(&p, v1, NULL));
    indexer_plan_finish(&p);
    DT_TRUE(p.n == 2 && p.ops[0].val == NULL && p.ops[1].val == NULL);
    DT_TRUE(memcmp(p.ops[0].key, p.ops[1].key, 8) <= 0);
    /* ... and x -> y -> x nets to a put of x and a delete of y */
    indexer_plan_init(&p, g, &a);
    DT_OK(indexer_plan_change(&p, NULL, v1));
    DT_OK(indexer_plan_change(&p, v1, v2));
    DT_OK(indexer_plan_change(&p, v2, v1));
    indexer_plan_finish(&p);
    DT_TRUE(p.n == 2);
    for (size_t i = 0; i < p.n; i++) {
        unsigned char *k;
        size_t kl;
        const Dyne__V1__AttributeValueMap *e;
        DT_OK(indexer_entry(g, v1, &a, &k, &kl, &e));
        bool is_x = kl == p.ops[i].klen && memcmp(k, p.ops[i].key, kl) == 0;
        DT_TRUE(is_x == (p.ops[i].val != NULL));
        DT_TRUE(indexer_route(g, p.ops[i].key, p.ops[i].klen) == p.ops[i].part);
    }
    indexer_gsi_free(g);
    dyn_arena_fini(&a);
}

DT_MAIN({ "definitions", test_definitions },
        { "entries and projections", test_entries_and_projections },
        { "routing", test_routing }, { "plans", test_plans })
