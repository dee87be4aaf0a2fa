/* bench/loadgen -- what to send: key distributions (uniform, YCSB's scrambled Zipfian, hot keys),
 * operation mixes (YCSB A-F by name), the items, and the small helpers the driver and targets
 * share. */
#include "bench/loadgen/loadgen.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libs/item/item.h"

#define ZIPF_THETA 0.99         /* YCSB's default skew */
#define FILLER_BYTES (1u << 20) /* item filler text; an item takes a window of it */

int64_t
lg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
lg_sleep_until(int64_t t)
{
    int64_t d;

    while ((d = t - lg_now_ns()) > 0)
        nanosleep(&(struct timespec){ d / 1000000000, d % 1000000000 }, NULL);
}

const char *
lg_op_name(lg_op op)
{
    static const char *const names[LG_OP__COUNT] = { "put", "get", "query", "insert", "rmw" };
    return (unsigned)op < LG_OP__COUNT ? names[op] : "?";
}

/* ---- random numbers: xoroshiro128+ seeded by splitmix64 ---- */

static uint64_t
splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void
lg_rng_seed(lg_rng *r, uint64_t seed)
{
    r->s[0] = splitmix64(&seed);
    r->s[1] = splitmix64(&seed);
}

uint64_t
lg_rng_next(lg_rng *r)
{
    uint64_t s0 = r->s[0], s1 = r->s[1], v = s0 + s1;

    s1 ^= s0;
    r->s[0] = ((s0 << 24) | (s0 >> 40)) ^ s1 ^ (s1 << 16);
    r->s[1] = (s1 << 37) | (s1 >> 27);
    return v;
}

double
lg_rng_unit(lg_rng *r)
{
    return (double)(lg_rng_next(r) >> 11) * 0x1.0p-53;
}

/* ---- keys ---- */

void
lg_keys_init(lg_keys *k, uint64_t items, uint32_t group, lg_dist dist)
{
    memset(k, 0, sizeof *k);
    k->items = items ? items : 1;
    k->group = group ? group : 1;
    k->dist = dist;
    k->hot = 1;
    if (dist != LG_DIST_ZIPF)
        return;
    /* Gray et al., "Quickly generating billion-record synthetic databases", as YCSB does it */
    k->zipf_theta = ZIPF_THETA;
    for (uint64_t i = 1; i <= k->items; i++)
        k->zipf_zetan += 1.0 / pow((double)i, ZIPF_THETA);
    k->zipf_zeta2 = 1.0 + 1.0 / pow(2.0, ZIPF_THETA);
    k->zipf_alpha = 1.0 / (1.0 - ZIPF_THETA);
    k->zipf_eta = (1.0 - pow(2.0 / (double)k->items, 1.0 - ZIPF_THETA)) /
                  (1.0 - k->zipf_zeta2 / k->zipf_zetan);
}

/* FNV-1a over the 8 bytes of v: YCSB scatters Zipfian ranks over the key space with it, so the
 * hot keys are not neighbours. */
static uint64_t
fnv64(uint64_t v)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < 8; i++) {
        h ^= v & 0xff;
        h *= 0x100000001b3ull;
        v >>= 8;
    }
    return h;
}

void
lg_keys_set_hot(lg_keys *k, uint64_t n)
{
    k->hot = n < 1 ? 1 : n > k->items ? k->items : n;
}

bool
lg_dist_parse(const char *s, lg_dist *d)
{
    static const char *const names[] = { "uniform", "zipf", "hot" };

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(s, names[i]) == 0) {
            *d = (lg_dist)i;
            return true;
        }
    }
    return false;
}

uint64_t
lg_keys_pick(const lg_keys *k, lg_rng *r)
{
    if (k->dist == LG_DIST_HOT)   /* one key: no random number needed */
        return k->hot > 1 ? lg_rng_next(r) % k->hot : 0;
    if (k->dist != LG_DIST_ZIPF)
        return lg_rng_next(r) % k->items;
    double u = lg_rng_unit(r), uz = u * k->zipf_zetan;
    uint64_t rank;
    if (uz < 1.0)
        rank = 0;
    else if (uz < 1.0 + pow(0.5, k->zipf_theta))
        rank = 1;
    else
        rank = (uint64_t)((double)k->items * pow(k->zipf_eta * u - k->zipf_eta + 1.0,
                                                  k->zipf_alpha));
    if (rank >= k->items)
        rank = k->items - 1;
    return fnv64(rank) % k->items;
}

void
lg_pk_text(uint64_t k, const lg_keys *keys, char *buf, size_t cap)
{
    snprintf(buf, cap, "k%010llu", (unsigned long long)(k / keys->group));
}

/* ---- mixes ---- */

static bool
mix_set(lg_mix *m, int put, int get, int query, int insert, int rmw)
{
    m->pct[LG_OP_PUT] = put;
    m->pct[LG_OP_GET] = get;
    m->pct[LG_OP_QUERY] = query;
    m->pct[LG_OP_INSERT] = insert;
    m->pct[LG_OP_RMW] = rmw;
    return true;
}

bool
lg_mix_parse(const char *s, lg_mix *m)
{
    memset(m, 0, sizeof *m);
    if (strcmp(s, "put") == 0)
        return mix_set(m, 100, 0, 0, 0, 0);
    if (strcmp(s, "get") == 0)
        return mix_set(m, 0, 100, 0, 0, 0);
    if (strcmp(s, "query") == 0)
        return mix_set(m, 0, 0, 100, 0, 0);
    if (strcmp(s, "insert") == 0)
        return mix_set(m, 0, 0, 0, 100, 0);
    if (strcmp(s, "rmw") == 0)
        return mix_set(m, 0, 0, 0, 0, 100);
    if (strcmp(s, "A") == 0)
        return mix_set(m, 50, 50, 0, 0, 0);
    if (strcmp(s, "B") == 0)
        return mix_set(m, 5, 95, 0, 0, 0);
    if (strcmp(s, "C") == 0)
        return mix_set(m, 0, 100, 0, 0, 0);
    if (strcmp(s, "D") == 0)
        return mix_set(m, 0, 95, 0, 5, 0);
    if (strcmp(s, "E") == 0)
        return mix_set(m, 0, 0, 95, 5, 0);
    if (strcmp(s, "F") == 0)
        return mix_set(m, 0, 50, 0, 0, 50);
    /* "get:90,put:10" */
    char *copy = strdup(s), *save = NULL;
    int total = 0;
    bool ok = copy != NULL;
    for (char *tok = ok ? strtok_r(copy, ",", &save) : NULL; tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(tok, ':');
        int op = -1;
        if (colon == NULL) {
            ok = false;
            break;
        }
        *colon = '\0';
        for (int i = 0; i < LG_OP__COUNT; i++)
            if (strcmp(tok, lg_op_name((lg_op)i)) == 0)
                op = i;
        int pct = atoi(colon + 1);
        if (op < 0 || pct < 0 || pct > 100) {
            ok = false;
            break;
        }
        m->pct[op] += pct;
        total += pct;
    }
    free(copy);
    return ok && total == 100;
}

lg_op
lg_mix_pick(const lg_mix *m, lg_rng *r)
{
    int x = (int)(lg_rng_next(r) % 100), acc = 0;

    for (int i = 0; i < LG_OP__COUNT; i++) {
        acc += m->pct[i];
        if (x < acc)
            return (lg_op)i;
    }
    return LG_OP_GET;
}

void
lg_target_free(lg_target *t)
{
    free(t != NULL ? t->state : NULL);   /* each target's state embeds the lg_target */
}

/* ---- items ---- */

static char *filler;
static pthread_once_t filler_once = PTHREAD_ONCE_INIT;

/* Text-like filler (lowercase words and spaces), so block compression does on these items what
 * it would on real ones rather than collapsing a run of one letter. */
static void
filler_init(void)
{
    lg_rng r;

    lg_rng_seed(&r, 42);
    filler = dyn_xmalloc(FILLER_BYTES + 1);
    for (size_t i = 0; i < FILLER_BYTES; i++) {
        uint64_t x = lg_rng_next(&r) % 32;
        filler[i] = x < 26 ? (char)('a' + x) : ' ';
    }
    filler[FILLER_BYTES] = '\0';
}

const char *
lg_filler(uint64_t k, size_t len)
{
    pthread_once(&filler_once, filler_init);
    if (len > FILLER_BYTES / 2)
        len = FILLER_BYTES / 2;
    return filler + (k * 7919u) % (FILLER_BYTES - len);
}

static Dyne__V1__AttributeValueMap__ValuesEntry *
attr(dyn_arena *a, const char *name, bool number, char *text)
{
    Dyne__V1__AttributeValueMap__ValuesEntry *e = dyn_arena_alloc(a, sizeof *e);
    Dyne__V1__AttributeValue *v = dyn_arena_alloc(a, sizeof *v);

    if (e == NULL || v == NULL || text == NULL)
        return NULL;
    dyne__v1__attribute_value__init(v);
    if (number) {
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_N;
        v->n = text;
    } else {
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_S;
        v->s = text;
    }
    dyne__v1__attribute_value_map__values_entry__init(e);
    e->key = (char *)name;
    e->value = v;
    return e;
}

Dyne__V1__AttributeValueMap *
lg_item(uint64_t k, uint64_t seq, const lg_keys *keys, size_t item_size, dyn_arena *a)
{
    Dyne__V1__AttributeValueMap *m = dyn_arena_alloc(a, sizeof *m);
    Dyne__V1__AttributeValueMap__ValuesEntry **v = dyn_arena_alloc(a, 4 * sizeof *v);
    char pk[32];

    if (m == NULL || v == NULL)
        return NULL;
    lg_pk_text(k, keys, pk, sizeof pk);
    dyne__v1__attribute_value_map__init(m);
    m->values = v;
    m->n_values = 3;
    v[0] = attr(a, "pk", false, dyn_arena_strdup(a, pk));
    v[1] = attr(a, "sk", true, dyn_arena_printf(a, "%llu", (unsigned long long)(k % keys->group)));
    v[2] = attr(a, "n", true, dyn_arena_printf(a, "%llu", (unsigned long long)seq));
    if (v[0] == NULL || v[1] == NULL || v[2] == NULL)
        return NULL;
    /* "v" makes up the rest of item_size by DynamoDB's count (names + values) */
    size_t have = dyn_item_size(m) + 1, len = item_size > have ? item_size - have : 0;
    char *text = dyn_arena_alloc(a, len + 1);
    if (text == NULL)
        return NULL;
    memcpy(text, lg_filler(k, len), len);
    text[len] = '\0';
    if ((v[3] = attr(a, "v", false, text)) == NULL)
        return NULL;
    m->n_values = 4;
    return m;
}

Dyne__V1__AttributeValueMap *
lg_rmw_values(const Dyne__V1__AttributeValueMap *item, dyn_arena *a)
{
    Dyne__V1__AttributeValueMap *m = dyn_arena_alloc(a, sizeof *m);
    Dyne__V1__AttributeValueMap__ValuesEntry **v = dyn_arena_alloc(a, 3 * sizeof *v);

    if (m == NULL || v == NULL || item->n_values != 4)
        return NULL;
    dyne__v1__attribute_value_map__init(m);
    v[0] = attr(a, ":zero", true, "0");
    v[1] = attr(a, ":one", true, "1");
    v[2] = attr(a, ":v", false, item->values[3]->value->s);
    if (v[0] == NULL || v[1] == NULL || v[2] == NULL)
        return NULL;
    m->values = v;
    m->n_values = 3;
    return m;
}

/* ---- buffers and /proc ---- */

uint8_t *
lg_buf_reserve(lg_buf *b, size_t n)
{
    if (n > b->cap) {
        b->cap = n < 4096 ? 4096 : n * 2;
        b->p = dyn_xrealloc(b->p, b->cap);
    }
    b->len = 0;
    return b->p;
}

void
lg_buf_fini(lg_buf *b)
{
    DYN_FREE(b->p);
    b->len = b->cap = 0;
}

double
lg_proc_cpu_s(int pid)
{
    char path[64], buf[1024];
    FILE *f;
    size_t n;

    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* the command name may hold spaces and parentheses: fields count from the last ')' */
    char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                            &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- protobuf replies ---- */

static bool
pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

long
lg_pb_count(const uint8_t *p, size_t n, uint32_t field)
{
    const uint8_t *end = p + n;
    long count = 0;
    uint64_t tag, v;

    while (p < end) {
        if (!pb_varint(&p, end, &tag))
            return -1;
        if ((tag >> 3) == field)
            count++;
        switch (tag & 7) {
        case 0:   /* varint */
            if (!pb_varint(&p, end, &v))
                return -1;
            break;
        case 1:   /* 64-bit */
            if (end - p < 8)
                return -1;
            p += 8;
            break;
        case 2:   /* length-delimited */
            if (!pb_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return -1;
            p += v;
            break;
        case 5:   /* 32-bit */
            if (end - p < 4)
                return -1;
            p += 4;
            break;
        default:
            return -1;
        }
    }
    return count;
}

bool
lg_pb_next(const uint8_t **p, const uint8_t *end, uint32_t *field, const uint8_t **data,
           size_t *len, bool *bad)
{
    uint64_t tag, v;

    *bad = false;
    while (*p < end) {
        if (!pb_varint(p, end, &tag))
            break;
        switch (tag & 7) {
        case 0:
            if (!pb_varint(p, end, &v))
                goto bad;
            continue;
        case 1:
            if (end - *p < 8)
                goto bad;
            *p += 8;
            continue;
        case 5:
            if (end - *p < 4)
                goto bad;
            *p += 4;
            continue;
        case 2:
            if (!pb_varint(p, end, &v) || v > (uint64_t)(end - *p))
                goto bad;
            *field = (uint32_t)(tag >> 3);
            *data = *p;
            *len = (size_t)v;
            *p += v;
            return true;
        default:
            goto bad;
        }
    }
    if (*p >= end)
        return false;
bad:
    *bad = true;
    return false;
}
