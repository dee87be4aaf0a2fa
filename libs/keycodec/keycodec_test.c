/* libs/keycodec unit and property tests: golden bytes, byte order == DynamoDB order for S, N and
 * B (alone and as pk || sk), exact round trips, one encoding per number, malformed keys. */
#include "libs/keycodec/keycodec.h"

#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "libs/num/num.h"
#include "libs/testing/dyn_test.h"

#define SEED 0x5eed2024c0dec0deULL

static uint64_t rng_state;

static uint64_t
rnd(void)   /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static unsigned
rnd_below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

static Dyne__V1__AttributeValue
val_s(const char *s)
{
    Dyne__V1__AttributeValue v = DYNE__V1__ATTRIBUTE_VALUE__INIT;
    v.value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_S;
    v.s = (char *)s;
    return v;
}

static Dyne__V1__AttributeValue
val_n(const char *n)
{
    Dyne__V1__AttributeValue v = DYNE__V1__ATTRIBUTE_VALUE__INIT;
    v.value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_N;
    v.n = (char *)n;
    return v;
}

static Dyne__V1__AttributeValue
val_b(const void *p, size_t len)
{
    Dyne__V1__AttributeValue v = DYNE__V1__ATTRIBUTE_VALUE__INIT;
    v.value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_B;
    v.b.data = (uint8_t *)p;
    v.b.len = len;
    return v;
}

/* enc(v) into the arena; *len set. */
static unsigned char *
enc(dyn_arena *a, const Dyne__V1__AttributeValue *v, size_t *len)
{
    unsigned char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    DT_OK(dyn_keycodec_append(a, &buf, len, &cap, v));
    return buf;
}

static int
bytes_cmp(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0)
        return c < 0 ? -1 : 1;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static int
sgn(int c)
{
    return c < 0 ? -1 : c > 0 ? 1 : 0;
}

/* DynamoDB order of two values of one key type. */
static int
value_cmp(const Dyne__V1__AttributeValue *x, const Dyne__V1__AttributeValue *y)
{
    switch (x->value_case) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_S:
        return bytes_cmp((const unsigned char *)x->s, strlen(x->s), (const unsigned char *)y->s,
                         strlen(y->s));
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_B:
        return bytes_cmp(x->b.data, x->b.len, y->b.data, y->b.len);
    default: {
        dyn_num a, b;
        DT_OK(dyn_num_parse(x->n, strlen(x->n), &a, NULL));
        DT_OK(dyn_num_parse(y->n, strlen(y->n), &b, NULL));
        return dyn_num_cmp(&a, &b);
    }
    }
}

static const char *
canon(const char *n)
{
    static char bufs[4][DYN_NUM_TEXT_MAX];
    static int next;
    char *b = bufs[next++ % 4];
    dyn_num x;
    DT_OK(dyn_num_parse(n, strlen(n), &x, NULL));
    dyn_num_format(&x, b, DYN_NUM_TEXT_MAX);
    return b;
}

static bool
value_eq(const Dyne__V1__AttributeValue *x, const Dyne__V1__AttributeValue *y)
{
    if (x->value_case != y->value_case)
        return false;
    switch (x->value_case) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_S:
        return strcmp(x->s, y->s) == 0;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_B:
        return x->b.len == y->b.len &&
               (x->b.len == 0 || memcmp(x->b.data, y->b.data, x->b.len) == 0);
    default:
        return strcmp(x->n, canon(y->n)) == 0;   /* x came back canonical */
    }
}

/* --- random values (the text lives in the arena) --- */

static Dyne__V1__AttributeValue
rand_num(dyn_arena *a)
{
    char digits[DYN_NUM_DIGITS_MAX + 1], *text;
    unsigned nd, style = rnd_below(4);
    int adj;

    if (rnd_below(25) == 0)
        return val_n(rnd_below(2) ? "0" : "-0.00");
    switch (rnd_below(4)) {   /* short digit strings collide more: more ties, more prefixes */
    case 0: nd = 1 + rnd_below(3); break;
    case 1: nd = DYN_NUM_DIGITS_MAX - rnd_below(2); break;
    default: nd = 1 + rnd_below(DYN_NUM_DIGITS_MAX); break;
    }
    for (unsigned i = 0; i < nd; i++)
        digits[i] = (char)('0' + rnd_below(i == 0 ? 9 : 10) + (i == 0));
    digits[nd] = '\0';
    switch (rnd_below(3)) {
    case 0: adj = DYN_NUM_ADJ_EXP_MIN + (int)rnd_below(256); break;
    case 1: adj = (int)rnd_below(7) - 3; break;
    default: adj = rnd_below(2) ? DYN_NUM_ADJ_EXP_MAX - (int)rnd_below(3)
                                : DYN_NUM_ADJ_EXP_MIN + (int)rnd_below(3); break;
    }
    /* Several spellings of (sign) d.ddd x 10^adj. */
    if (style == 0)
        text = dyn_arena_printf(a, "%s%c.%sE%d", rnd_below(2) ? "-" : "", digits[0], digits + 1,
                                adj);
    else if (style == 1)
        text = dyn_arena_printf(a, "%s%s000e%+d", rnd_below(2) ? "-" : "+", digits,
                                adj - (int)nd + 1 - 3);
    else if (style == 2)
        text = dyn_arena_printf(a, "%s00%s.00e%d", rnd_below(2) ? "-" : "", digits,
                                adj - (int)nd + 1);
    else
        text = dyn_arena_printf(a, "%s0.%se%d", rnd_below(2) ? "-" : "", digits, adj + 1);
    return val_n(text);
}

/* Random bytes over a small alphabet rich in the escape bytes. */
static size_t
rand_bytes(unsigned char *out, size_t max, bool for_s)
{
    static const unsigned char alpha[] = { 0x00, 0x01, 0xFF, 0xFE, 'a', 'b', 0x80, 0x02 };
    size_t n = rnd_below((unsigned)max + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = alpha[rnd_below(sizeof alpha)];
        out[i] = for_s && c == 0x00 ? 'z' : c;   /* an S has no NUL */
    }
    return n;
}

static Dyne__V1__AttributeValue
rand_value(dyn_arena *a, dyn_key_type t)
{
    unsigned char tmp[12];
    size_t n;

    if (t == DYN_KEY_N)
        return rand_num(a);
    n = rand_bytes(tmp, sizeof tmp - 1, t == DYN_KEY_S);
    if (t == DYN_KEY_S) {
        if (n == 0)   /* key S values are never empty */
            tmp[n++] = 'a';
        tmp[n] = '\0';
        return val_s(dyn_arena_strndup(a, (const char *)tmp, n));
    }
    if (n == 0)
        tmp[n++] = 0x00;
    return val_b(dyn_arena_memdup(a, tmp, n), n);
}

/* --- tests --- */

static void
test_golden_bytes(void)
{
    dyn_arena a;
    size_t len;
    unsigned char *e;
    Dyne__V1__AttributeValue v;

    dyn_arena_init(&a, 1 << 20);
    v = val_n("0");
    e = enc(&a, &v, &len);
    DT_TRUE(len == 1 && e[0] == 0x02);
    v = val_n("1");   /* tag, 0 + 130, nibbles 2 (digit 1) and 0 (end) */
    e = enc(&a, &v, &len);
    DT_TRUE(len == 3 && e[0] == 0x03 && e[1] == 130 && e[2] == 0x20);
    v = val_n("-1");
    e = enc(&a, &v, &len);
    DT_TRUE(len == 3 && e[0] == 0x01 && e[1] == (unsigned char)~130 && e[2] == 0xDF);
    v = val_n("123.4");   /* adj 2; nibbles 2 3 4 5 0 */
    e = enc(&a, &v, &len);
    DT_TRUE(len == 5 && e[0] == 0x03 && e[1] == 132 && e[2] == 0x23 && e[3] == 0x45 &&
            e[4] == 0x00);
    v = val_n("1E-130");
    e = enc(&a, &v, &len);
    DT_TRUE(len == 3 && e[1] == 0);
    v = val_n("9.9999999999999999999999999999999999999E+125");
    e = enc(&a, &v, &len);
    DT_TRUE(len == DYN_KEYCODEC_N_MAX && e[1] == 255 && e[2] == 0xAA && e[21] == 0x00);
    v = val_b("\x00\x01\xff", 3);
    e = enc(&a, &v, &len);
    DT_TRUE(len == 6 && memcmp(e, "\x00\xff\x01\xff\x00\x01", 6) == 0);
    v = val_s("ab");
    e = enc(&a, &v, &len);
    DT_TRUE(len == 4 && memcmp(e, "ab\x00\x01", 4) == 0);
    v = val_s("");
    e = enc(&a, &v, &len);
    DT_TRUE(len == 2 && memcmp(e, "\x00\x01", 2) == 0);
    dyn_arena_fini(&a);
}

static void
test_equal_numbers_encode_alike(void)
{
    static const char *const groups[][7] = {
        { "1000", "1E3", "1.000E3", "+1000.0", "10e2", "001000", "1000000e-3" },
        { "0", "-0", "0.000", "+0e5", "-0e-99999999", ".0", "0." },
        { "-0.05", "-5e-2", "-.050", "-0.5E-1", "-00.0500", "-500e-4", "-5.000e-2" },
        { "9.9999999999999999999999999999999999999E+125",
          "99999999999999999999999999999999999999E88",
          "0.99999999999999999999999999999999999999e126",
          "9.99999999999999999999999999999999999990E125",
          "+9.9999999999999999999999999999999999999e+125",
          "9999999999999999999999999999999999999.9e89",
          "09.9999999999999999999999999999999999999e125" },
    };
    dyn_arena a;

    dyn_arena_init(&a, 1 << 20);
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        Dyne__V1__AttributeValue v0 = val_n(groups[g][0]);
        size_t len0, len;
        unsigned char *e0 = enc(&a, &v0, &len0), *k0, *k;
        size_t klen0, klen;
        DT_OK(dyn_keycodec_item_key(&a, &v0, &v0, &k0, &klen0));
        for (size_t i = 1; i < 7; i++) {
            Dyne__V1__AttributeValue v = val_n(groups[g][i]);
            unsigned char *e = enc(&a, &v, &len);
            DT_TRUE(len == len0 && memcmp(e, e0, len) == 0);
            DT_TRUE(dyn_keycodec_hash(&v) == dyn_keycodec_hash(&v0));
            DT_OK(dyn_keycodec_item_key(&a, &v, &v, &k, &klen));
            DT_TRUE(klen == klen0 && memcmp(k, k0, klen) == 0);
        }
    }
    dyn_arena_fini(&a);
}

static void
test_hash_of_canonical_bytes(void)
{
    Dyne__V1__AttributeValue s = val_s("abc"), n = val_n("1E3"), z = val_n("-0.0"),
                             b = val_b("\x00\x01", 2), f = val_n("-1.50e-3");
    DT_TRUE(dyn_keycodec_hash(&s) == XXH3_64bits("abc", 3));
    DT_TRUE(dyn_keycodec_hash(&n) == XXH3_64bits("1000", 4));
    DT_TRUE(dyn_keycodec_hash(&z) == XXH3_64bits("0", 1));
    DT_TRUE(dyn_keycodec_hash(&b) == XXH3_64bits("\x00\x01", 2));
    DT_TRUE(dyn_keycodec_hash(&f) == XXH3_64bits("-0.0015", 7));
    /* The item key starts with the hash, big-endian. */
    {
        dyn_arena a;
        unsigned char *k;
        size_t klen;
        uint64_t h = XXH3_64bits("abc", 3), got = 0;
        dyn_arena_init(&a, 1 << 16);
        DT_OK(dyn_keycodec_item_key(&a, &s, NULL, &k, &klen));
        for (int i = 0; i < 8; i++)
            got = got << 8 | k[i];
        DT_TRUE(got == h);
        DT_TRUE(klen == 8 + 5 && memcmp(k + 8, "abc\x00\x01", 5) == 0);
        dyn_arena_fini(&a);
    }
}

/* A hand-made list in DynamoDB's ascending order encodes strictly ascending. */
static void
test_sorted_numbers(void)
{
    static const char *const asc[] = {
        "-9.9999999999999999999999999999999999999e125", "-1e125", "-9.9e124", "-1e38",
        "-123456789", "-1000", "-999.99", "-10", "-9.9999999999999999999999999999999999999",
        "-2", "-1.5", "-1.49", "-1.0000000000000000000000000000000000001", "-1", "-0.5",
        "-1e-129", "-1.0000000000000000000000000000000000001e-130", "-1e-130", "0", "1e-130",
        "1.0000000000000000000000000000000000001e-130", "1e-129", "0.000123", "0.1", "0.12",
        "0.2", "1", "1.0000000000000000000000000000000000001", "1.1", "2", "9.99", "10", "10.5",
        "11", "99", "100", "101", "1e38", "1e125", "9.9999999999999999999999999999999999999e125",
    };
    size_t n = sizeof asc / sizeof asc[0], plen = 0, len;
    unsigned char *prev = NULL, *e;
    dyn_arena a;

    dyn_arena_init(&a, 1 << 20);
    for (size_t i = 0; i < n; i++) {
        Dyne__V1__AttributeValue v = val_n(asc[i]);
        e = enc(&a, &v, &len);
        if (prev != NULL && bytes_cmp(prev, plen, e, len) >= 0)
            DT_FAIL_("enc(%s) !< enc(%s)", asc[i - 1], asc[i]);
        prev = e, plen = len;
    }
    dyn_arena_fini(&a);
}

#define PROP_VALUES 600   /* per type; all pairs compared: 3 x 360,000 */

/* For each key type: random values, all pairs: sign(memcmp order of encodings) == DynamoDB order,
 * equal encodings exactly for equal values, and each encoding decodes back to its value. */
static void
test_property_order_and_round_trip(void)
{
    static const dyn_key_type types[] = { DYN_KEY_N, DYN_KEY_S, DYN_KEY_B };
    dyn_arena a;
    long pairs = 0, ties = 0;

    rng_state = SEED;
    dyn_arena_init(&a, 256u << 20);
    for (size_t t = 0; t < 3; t++) {
        static Dyne__V1__AttributeValue vals[PROP_VALUES];
        static unsigned char *encs[PROP_VALUES];
        static size_t lens[PROP_VALUES];
        int failures = 0;

        for (size_t i = 0; i < PROP_VALUES; i++) {
            Dyne__V1__AttributeValue *back;
            size_t off = 0;
            vals[i] = rand_value(&a, types[t]);
            encs[i] = enc(&a, &vals[i], &lens[i]);
            DT_OK(dyn_keycodec_decode_value(&a, encs[i], lens[i], &off, types[t], &back));
            DT_EQ_INT(off, lens[i]);
            if (!value_eq(back, &vals[i]) && failures++ < 5)
                DT_FAIL_("round trip of %c value %zu", (char)types[t], i);
        }
        for (size_t i = 0; i < PROP_VALUES; i++) {
            for (size_t j = 0; j < PROP_VALUES; j++) {
                int want = value_cmp(&vals[i], &vals[j]);
                int got = bytes_cmp(encs[i], lens[i], encs[j], lens[j]);
                if (got != want && failures++ < 5)
                    DT_FAIL_("%c order: value cmp %d, encoding cmp %d (%zu vs %zu)",
                             (char)types[t], want, got, i, j);
                pairs++;
                ties += i != j && want == 0;
            }
        }
    }
    fprintf(stderr, "  %ld pairs compared (%ld ties between distinct draws)\n", pairs, ties);
    DT_TRUE(ties > 0);
    dyn_arena_fini(&a);
}

#define KEY_ROWS 3000

/* Full item keys for every pk/sk type combination: without the hash, byte order == (pk, sk)
 * order; the whole key decodes back exactly. */
static void
test_property_item_keys(void)
{
    static const dyn_key_type types[] = { DYN_KEY_S, DYN_KEY_N, DYN_KEY_B };
    dyn_arena a;
    long checked = 0;

    rng_state = SEED ^ 0x1234;
    dyn_arena_init(&a, 256u << 20);
    for (size_t pt = 0; pt < 3; pt++) {
        for (size_t st = 0; st < 4; st++) {   /* st == 3: hash-only table */
            bool has_sk = st < 3;
            int failures = 0;
            static Dyne__V1__AttributeValue pks[KEY_ROWS], sks[KEY_ROWS];
            static unsigned char *keys[KEY_ROWS];
            static size_t lens[KEY_ROWS];

            for (size_t i = 0; i < KEY_ROWS; i++) {
                Dyne__V1__AttributeValue *pk, *sk = (void *)&a;
                /* Reuse earlier pks often so that many rows share a partition. */
                pks[i] = i > 0 && rnd_below(3) == 0 ? pks[rnd_below((unsigned)i)]
                                                     : rand_value(&a, types[pt]);
                if (has_sk)
                    sks[i] = rand_value(&a, types[st]);
                DT_OK(dyn_keycodec_item_key(&a, &pks[i], has_sk ? &sks[i] : NULL, &keys[i],
                                            &lens[i]));
                DT_OK(dyn_keycodec_item_key_decode(&a, keys[i], lens[i], types[pt], has_sk,
                                                   has_sk ? types[st] : DYN_KEY_S, &pk, &sk));
                if ((!value_eq(pk, &pks[i]) || (has_sk ? !value_eq(sk, &sks[i]) : sk != NULL)) &&
                    failures++ < 5)
                    DT_FAIL_("item key round trip %c/%c row %zu", (char)types[pt],
                             has_sk ? (char)types[st] : '-', i);
            }
            for (size_t k = 0; k < KEY_ROWS; k++) {
                size_t i = rnd_below(KEY_ROWS), j = rnd_below(KEY_ROWS);
                int want = value_cmp(&pks[i], &pks[j]);
                int got = bytes_cmp(keys[i] + 8, lens[i] - 8, keys[j] + 8, lens[j] - 8);
                bool same_hash = memcmp(keys[i], keys[j], 8) == 0;
                if (want == 0 && has_sk)
                    want = value_cmp(&sks[i], &sks[j]);
                if (sgn(got) != sgn(want) && failures++ < 5)
                    DT_FAIL_("item key order %c/%c: %d vs %d", (char)types[pt],
                             has_sk ? (char)types[st] : '-', want, got);
                /* Same pk -> same hash prefix, so a partition's items are contiguous. */
                if (value_cmp(&pks[i], &pks[j]) == 0 && !same_hash && failures++ < 5)
                    DT_FAIL_("equal pks with different hashes");
                checked++;
            }
        }
    }
    fprintf(stderr, "  %ld item-key pairs compared\n", checked);
    dyn_arena_fini(&a);
}

/* begins_with: enc(x) starts with prefix(p) exactly when x starts with p. */
static void
test_prefix(void)
{
    dyn_arena a;
    long hits = 0;

    rng_state = SEED ^ 0x77;
    dyn_arena_init(&a, 64u << 20);
    for (int i = 0; i < 20000; i++) {
        unsigned char xs[12], ps[6], *pre = NULL, *e;
        size_t xn = rand_bytes(xs, 8, false), pn = rand_bytes(ps, 3, false), plen = 0, pcap = 0;
        size_t elen;
        Dyne__V1__AttributeValue x = val_b(xs, xn), p = val_b(ps, pn);
        bool starts = pn <= xn && memcmp(xs, ps, pn) == 0;

        DT_OK(dyn_keycodec_append_prefix(&a, &pre, &plen, &pcap, &p));
        e = enc(&a, &x, &elen);
        if ((plen <= elen && memcmp(e, pre, plen) == 0) != starts)
            DT_FAIL_("prefix property, case %d", i);
        hits += starts;
    }
    DT_TRUE(hits > 100);
    {
        Dyne__V1__AttributeValue n = val_n("1");
        unsigned char *buf = NULL;
        size_t len = 0, cap = 0;
        DT_ERR(dyn_keycodec_append_prefix(&a, &buf, &len, &cap, &n), DYN_EVALIDATION);
    }
    dyn_arena_fini(&a);
}

static void
test_append_grows_and_concatenates(void)
{
    dyn_arena a;
    unsigned char *buf = NULL, big[1000];
    size_t len = 0, cap = 0;
    Dyne__V1__AttributeValue b, n = val_n("-12.5");

    dyn_arena_init(&a, 1 << 20);
    memset(big, 0, sizeof big);   /* all escapes: 2000 bytes + terminator */
    b = val_b(big, sizeof big);
    DT_OK(dyn_keycodec_append(&a, &buf, &len, &cap, &n));
    DT_EQ_INT(len, 4);   /* tag, exponent, nibbles 2 3 6 0 */
    DT_OK(dyn_keycodec_append(&a, &buf, &len, &cap, &b));
    DT_EQ_INT(len, 4 + 2002);
    DT_TRUE(cap >= len);
    DT_TRUE(buf[4] == 0x00 && buf[5] == 0xFF && buf[len - 2] == 0x00 && buf[len - 1] == 0x01);
    {
        size_t off = 0;
        Dyne__V1__AttributeValue *v1, *v2;
        DT_OK(dyn_keycodec_decode_value(&a, buf, len, &off, DYN_KEY_N, &v1));
        DT_OK(dyn_keycodec_decode_value(&a, buf, len, &off, DYN_KEY_B, &v2));
        DT_EQ_INT(off, len);
        DT_EQ_STR(v1->n, "-12.5");
        DT_TRUE(v2->b.len == sizeof big && memcmp(v2->b.data, big, sizeof big) == 0);
    }
    dyn_arena_fini(&a);
}

static void
test_invalid_values(void)
{
    dyn_arena a;
    unsigned char *buf = NULL, *key = NULL;
    size_t len = 0, cap = 0, klen = 0;
    const char *msg = NULL;
    Dyne__V1__AttributeValue bad = val_n("1e126"), dog = val_n("dog"), ok = val_s("x");
    Dyne__V1__AttributeValue boolean = DYNE__V1__ATTRIBUTE_VALUE__INIT;

    dyn_arena_init(&a, 1 << 20);
    DT_OK(dyn_keycodec_append(&a, &buf, &len, &cap, &ok));
    DT_ERR(dyn_keycodec_append_msg(&a, &buf, &len, &cap, &bad, &msg), DYN_EVALIDATION);
    DT_EQ_STR(msg, DYN_NUM_MSG_OVERFLOW);
    DT_ERR(dyn_keycodec_append_msg(&a, &buf, &len, &cap, &dog, &msg), DYN_EVALIDATION);
    DT_EQ_STR(msg, DYN_NUM_MSG_NOT_NUMERIC);
    DT_ERR(dyn_keycodec_append(&a, &buf, &len, &cap, &dog), DYN_EVALIDATION);
    DT_EQ_INT(len, 3);   /* unchanged by the failures */
    boolean.value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_BOOL;
    DT_ERR(dyn_keycodec_append(&a, &buf, &len, &cap, &boolean), DYN_EVALIDATION);
    DT_ERR(dyn_keycodec_item_key(&a, &dog, NULL, &key, &klen), DYN_EVALIDATION);
    DT_ERR(dyn_keycodec_item_key(&a, &ok, &bad, &key, &klen), DYN_EVALIDATION);
    DT_TRUE(key == NULL);
    dyn_arena_fini(&a);
}

static void
test_malformed_keys(void)
{
    dyn_arena a;
    unsigned char *key, tmp[64];
    size_t klen;
    Dyne__V1__AttributeValue pk = val_s("pk"), sk = val_n("-1.5"), *p, *s;

    dyn_arena_init(&a, 1 << 20);
    DT_OK(dyn_keycodec_item_key(&a, &pk, &sk, &key, &klen));
    DT_OK(dyn_keycodec_item_key_decode(&a, key, klen, DYN_KEY_S, true, DYN_KEY_N, &p, &s));
    DT_EQ_STR(p->s, "pk");
    DT_EQ_STR(s->n, "-1.5");
    /* Every truncation fails. */
    for (size_t n = 0; n < klen; n++)
        DT_ERR(dyn_keycodec_item_key_decode(&a, key, n, DYN_KEY_S, true, DYN_KEY_N, &p, &s),
               DYN_EINTERNAL);
    /* Trailing bytes, a flipped hash bit, a wrong sk type, no sk expected. */
    memcpy(tmp, key, klen);
    tmp[klen] = 0x00;
    DT_ERR(dyn_keycodec_item_key_decode(&a, tmp, klen + 1, DYN_KEY_S, true, DYN_KEY_N, &p, &s),
           DYN_EINTERNAL);
    tmp[0] ^= 1;
    DT_ERR(dyn_keycodec_item_key_decode(&a, tmp, klen, DYN_KEY_S, true, DYN_KEY_N, &p, &s),
           DYN_EINTERNAL);
    tmp[0] ^= 1;
    DT_ERR(dyn_keycodec_item_key_decode(&a, tmp, klen, DYN_KEY_S, true, DYN_KEY_S, &p, &s),
           DYN_EINTERNAL);
    DT_ERR(dyn_keycodec_item_key_decode(&a, tmp, klen, DYN_KEY_S, false, DYN_KEY_S, &p, &s),
           DYN_EINTERNAL);
    {
        /* Non-canonical or broken N bodies. */
        static const unsigned char bad[][5] = {
            { 0x04 },                          /* unknown tag */
            { 0x03, 130, 0x10, 0x00 },         /* leading digit 0 */
            { 0x03, 130, 0x21, 0x00 },         /* trailing digit 0 */
            { 0x03, 130, 0xB0 },               /* nibble 11 */
            { 0x03, 130, 0x02 },               /* padding after the end nibble */
            { 0x03, 130, 0x00 },               /* no digits */
            { 0x03, 130, 0x22 },               /* no end */
        };
        static const size_t bad_len[] = { 1, 4, 4, 3, 3, 3, 3 };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            size_t off = 0;
            Dyne__V1__AttributeValue *v;
            DT_ERR(dyn_keycodec_decode_value(&a, bad[i], bad_len[i], &off, DYN_KEY_N, &v),
                   DYN_EINTERNAL);
        }
        /* S/B: a bad escape and an S holding NUL. */
        size_t off = 0;
        Dyne__V1__AttributeValue *v;
        DT_ERR(dyn_keycodec_decode_value(&a, (const unsigned char *)"a\x00\x02\x00\x01", 5, &off,
                                         DYN_KEY_B, &v),
               DYN_EINTERNAL);
        DT_ERR(dyn_keycodec_decode_value(&a, (const unsigned char *)"a\x00\xff\x00\x01", 5, &off,
                                         DYN_KEY_S, &v),
               DYN_EINTERNAL);
        DT_OK(dyn_keycodec_decode_value(&a, (const unsigned char *)"a\x00\xff\x00\x01", 5, &off,
                                        DYN_KEY_B, &v));
        DT_TRUE(v->b.len == 2 && v->b.data[0] == 'a' && v->b.data[1] == 0x00 && off == 5);
    }
    dyn_arena_fini(&a);
}

static void
test_arena_cap(void)
{
    dyn_arena a;
    unsigned char *key = NULL, big[4096];
    size_t klen = 0;
    Dyne__V1__AttributeValue pk;

    memset(big, 'x', sizeof big);
    pk = val_b(big, sizeof big);
    dyn_arena_init(&a, 1024);
    DT_ERR(dyn_keycodec_item_key(&a, &pk, NULL, &key, &klen), DYN_ENOMEM);
    DT_TRUE(key == NULL);
    dyn_arena_fini(&a);
}

/* GSI entry keys: item_key(ipk, isk) then enc(tpk) [enc(tsk)]; round trips for every shape,
 * ordered by the index key then the table key; malformed keys refused. */
static void
test_gsi_keys(void)
{
    static const dyn_key_type types[] = { DYN_KEY_S, DYN_KEY_N, DYN_KEY_B };
    dyn_arena a;
    int failures = 0;

    rng_state = SEED ^ 0x9510;
    dyn_arena_init(&a, 64u << 20);
    for (int shape = 0; shape < 4; shape++) {
        bool has_isk = shape & 1, has_tsk = shape & 2;
        for (int i = 0; i < 400; i++) {
            dyn_key_type t[4] = { types[rnd_below(3)], types[rnd_below(3)], types[rnd_below(3)],
                                  types[rnd_below(3)] };
            Dyne__V1__AttributeValue v[4], *ip, *is = (void *)&a, *tp, *ts = (void *)&a;
            unsigned char *key, *ikey, *tenc, *tsenc;
            size_t klen, ilen, tlen, tslen = 0;

            for (int k = 0; k < 4; k++)
                v[k] = rand_value(&a, t[k]);
            DT_OK(dyn_keycodec_gsi_key(&a, &v[0], has_isk ? &v[1] : NULL, &v[2],
                                       has_tsk ? &v[3] : NULL, &key, &klen));
            /* the documented layout */
            DT_OK(dyn_keycodec_item_key(&a, &v[0], has_isk ? &v[1] : NULL, &ikey, &ilen));
            tenc = enc(&a, &v[2], &tlen);
            tsenc = has_tsk ? enc(&a, &v[3], &tslen) : NULL;
            if ((klen != ilen + tlen + tslen || memcmp(key, ikey, ilen) != 0 ||
                 memcmp(key + ilen, tenc, tlen) != 0 ||
                 (has_tsk && memcmp(key + ilen + tlen, tsenc, tslen) != 0)) &&
                failures++ < 5)
                DT_FAIL_("gsi key layout, shape %d row %d", shape, i);
            DT_OK(dyn_keycodec_gsi_key_decode(&a, key, klen, t[0], has_isk, t[1], t[2], has_tsk,
                                              t[3], &ip, &is, &tp, &ts));
            if ((!value_eq(ip, &v[0]) || (has_isk ? !value_eq(is, &v[1]) : is != NULL) ||
                 !value_eq(tp, &v[2]) || (has_tsk ? !value_eq(ts, &v[3]) : ts != NULL)) &&
                failures++ < 5)
                DT_FAIL_("gsi key round trip, shape %d row %d", shape, i);
            /* every truncation and one trailing byte fail */
            for (size_t n = 0; n < klen; n++)
                DT_ERR(dyn_keycodec_gsi_key_decode(&a, key, n, t[0], has_isk, t[1], t[2], has_tsk,
                                                   t[3], &ip, &is, &tp, &ts),
                       DYN_EINTERNAL);
            {
                unsigned char *longer = dyn_arena_alloc(&a, klen + 1);
                memcpy(longer, key, klen);
                longer[klen] = 0x01;
                DT_ERR(dyn_keycodec_gsi_key_decode(&a, longer, klen + 1, t[0], has_isk, t[1],
                                                   t[2], has_tsk, t[3], &ip, &is, &tp, &ts),
                       DYN_EINTERNAL);
                longer[3] ^= 0x40;   /* the hash prefix no longer matches */
                DT_ERR(dyn_keycodec_gsi_key_decode(&a, longer, klen, t[0], has_isk, t[1], t[2],
                                                   has_tsk, t[3], &ip, &is, &tp, &ts),
                       DYN_EINTERNAL);
            }
        }
    }
    {
        /* Equal index keys group together, ordered by the table key. */
        Dyne__V1__AttributeValue ipk = val_s("g"), isk = val_n("5"), t1 = val_s("a"),
                                 t2 = val_s("b"), isk2 = val_n("6"), bad = val_n("x");
        unsigned char *k1, *k2, *k3, *kb = NULL;
        size_t l1, l2, l3, lb = 0;
        DT_OK(dyn_keycodec_gsi_key(&a, &ipk, &isk, &t2, NULL, &k1, &l1));
        DT_OK(dyn_keycodec_gsi_key(&a, &ipk, &isk, &t1, NULL, &k2, &l2));
        DT_OK(dyn_keycodec_gsi_key(&a, &ipk, &isk2, &t1, NULL, &k3, &l3));
        DT_TRUE(bytes_cmp(k2, l2, k1, l1) < 0);
        DT_TRUE(bytes_cmp(k1, l1, k3, l3) < 0);
        DT_ERR(dyn_keycodec_gsi_key(&a, &ipk, NULL, &bad, NULL, &kb, &lb), DYN_EVALIDATION);
        DT_ERR(dyn_keycodec_gsi_key(&a, &bad, NULL, &t1, NULL, &kb, &lb), DYN_EVALIDATION);
        DT_TRUE(kb == NULL);
    }
    dyn_arena_fini(&a);
}

DT_MAIN({ "golden bytes", test_golden_bytes },
        { "equal numbers in any syntax encode and hash alike", test_equal_numbers_encode_alike },
        { "hash of canonical bytes", test_hash_of_canonical_bytes },
        { "sorted numbers encode ascending", test_sorted_numbers },
        { "property: order and round trip of S, N, B", test_property_order_and_round_trip },
        { "property: item keys pk || sk", test_property_item_keys },
        { "begins_with prefix", test_prefix },
        { "append grows the buffer and concatenates", test_append_grows_and_concatenates },
        { "invalid values", test_invalid_values }, { "malformed keys", test_malformed_keys },
        { "arena cap", test_arena_cap }, { "gsi keys", test_gsi_keys })
