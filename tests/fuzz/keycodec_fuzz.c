/* tests/fuzz -- libs/keycodec. The first input byte picks the key types; the rest is used three
 * ways: (1) as a whole storage key for dyn_keycodec_item_key_decode and as a GSI entry key for
 * dyn_keycodec_gsi_key_decode, (2) as a run of enc(v) values for dyn_keycodec_decode_value, (3)
 * split in two halves that become S/N/B values to encode. Decoders must never crash and accept
 * only canonical bytes (re-encoding what they accept gives the same bytes); encodings must
 * round-trip and sort as DynamoDB orders values. */
#include <stdbool.h>
#include <string.h>

#include "libs/keycodec/keycodec.h"
#include "libs/num/num.h"
#include "tests/fuzz/fuzz.h"

static dyn_arena arena;
static bool arena_ready;

static const dyn_key_type types[] = { DYN_KEY_S, DYN_KEY_N, DYN_KEY_B };

static int
sign(int x)
{
    return (x > 0) - (x < 0);
}

/* Unsigned bytewise with a prefix first: DynamoDB's order of S (UTF-8) and B. */
static int
bytes_cmp(const unsigned char *a, size_t an, const unsigned char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c != 0 ? sign(c) : (an > bn) - (an < bn);
}

static bool
value_equal(const Dyne__V1__AttributeValue *a, const Dyne__V1__AttributeValue *b)
{
    if (a->value_case != b->value_case)
        return false;
    switch (a->value_case) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_S:
        return strcmp(a->s, b->s) == 0;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_N:
        return strcmp(a->n, b->n) == 0;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_B:
        return a->b.len == b->b.len && (a->b.len == 0 || memcmp(a->b.data, b->b.data, a->b.len) == 0);
    default:
        return false;
    }
}

static void
encode_one(const Dyne__V1__AttributeValue *v, unsigned char **buf, size_t *len)
{
    size_t cap = 0;

    *buf = NULL;
    *len = 0;
    FZ_CHECK(dyn_keycodec_append(&arena, buf, len, &cap, v) == DYN_OK);
    FZ_CHECK(*len <= cap);
}

/* (1) a whole key */
static void
fuzz_key_decode(const uint8_t *p, size_t n, uint8_t sel)
{
    dyn_key_type pt = types[sel % 3], st = types[(sel / 3) % 3];
    bool has_sk = (sel & 0x80) != 0;
    Dyne__V1__AttributeValue *pk = NULL, *sk = NULL;
    unsigned char *key = NULL;
    size_t len = 0;
    dyn_err rc = dyn_keycodec_item_key_decode(&arena, p, n, pt, has_sk, st, &pk, &sk);

    FZ_CHECK(rc == DYN_OK || rc == DYN_EINTERNAL || rc == DYN_ENOMEM);
    if (rc != DYN_OK)
        return;
    FZ_CHECK(pk != NULL && (sk != NULL) == has_sk);
    FZ_CHECK(dyn_keycodec_item_key(&arena, pk, sk, &key, &len) == DYN_OK);
    FZ_CHECK(len == n && memcmp(key, p, n) == 0);
}

/* (1b) a whole GSI entry key: decodes only what dyn_keycodec_gsi_key makes, byte for byte */
static void
fuzz_gsi_key_decode(const uint8_t *p, size_t n, uint8_t sel)
{
    dyn_key_type it = types[sel % 3], st = types[(sel / 3) % 3], tt = types[(sel / 9) % 3];
    bool has_isk = (sel & 0x80) != 0, has_tsk = (sel & 0x40) != 0;
    Dyne__V1__AttributeValue *ipk = NULL, *isk = NULL, *tpk = NULL, *tsk = NULL;
    unsigned char *key = NULL;
    size_t len = 0;
    dyn_err rc = dyn_keycodec_gsi_key_decode(&arena, p, n, it, has_isk, st, tt, has_tsk, st, &ipk,
                                             &isk, &tpk, &tsk);

    FZ_CHECK(rc == DYN_OK || rc == DYN_EINTERNAL || rc == DYN_ENOMEM);
    if (rc != DYN_OK)
        return;
    FZ_CHECK(ipk != NULL && tpk != NULL && (isk != NULL) == has_isk && (tsk != NULL) == has_tsk);
    FZ_CHECK(dyn_keycodec_gsi_key(&arena, ipk, isk, tpk, tsk, &key, &len) == DYN_OK);
    FZ_CHECK(len == n && memcmp(key, p, n) == 0);
}

/* (2) values back to back, without the hash prefix; then the same values as a full key, whose
 * hash we compute, must decode to equal values. */
static void
fuzz_value_decode(const uint8_t *p, size_t n, uint8_t sel)
{
    Dyne__V1__AttributeValue *got[2] = { NULL, NULL };
    dyn_key_type t[2] = { types[sel % 3], types[(sel / 3) % 3] };
    size_t off = 0;
    int k;

    for (k = 0; k < 2; k++) {
        size_t start = off, elen;
        unsigned char *enc;
        dyn_err rc = dyn_keycodec_decode_value(&arena, p, n, &off, t[k], &got[k]);

        FZ_CHECK(rc == DYN_OK || rc == DYN_EINTERNAL || rc == DYN_ENOMEM);
        if (rc != DYN_OK) {
            FZ_CHECK(off == start);
            break;
        }
        FZ_CHECK(off > start && off <= n);
        encode_one(got[k], &enc, &elen);
        FZ_CHECK(elen == off - start && memcmp(enc, p + start, elen) == 0);
        if (t[k] == DYN_KEY_N)
            FZ_CHECK(elen <= DYN_KEYCODEC_N_MAX);
    }
    if (k >= 1) {
        unsigned char *key = NULL;
        size_t len = 0;
        Dyne__V1__AttributeValue *pk = NULL, *sk = NULL;
        bool has_sk = k == 2;

        FZ_CHECK(dyn_keycodec_item_key(&arena, got[0], has_sk ? got[1] : NULL, &key, &len) ==
                 DYN_OK);
        FZ_CHECK(dyn_keycodec_item_key_decode(&arena, key, len, t[0], has_sk, t[1], &pk, &sk) ==
                 DYN_OK);
        FZ_CHECK(value_equal(pk, got[0]));
        if (has_sk)
            FZ_CHECK(sk != NULL && value_equal(sk, got[1]));
        /* the same values as a GSI key (index pk, table pk [, table sk]) round-trip too */
        FZ_CHECK(dyn_keycodec_gsi_key(&arena, got[0], NULL, got[0], has_sk ? got[1] : NULL, &key,
                                      &len) == DYN_OK);
        {
            Dyne__V1__AttributeValue *ip = NULL, *tp = NULL, *ts = NULL;
            FZ_CHECK(dyn_keycodec_gsi_key_decode(&arena, key, len, t[0], false, t[0], t[0], has_sk,
                                                 t[1], &ip, NULL, &tp, &ts) == DYN_OK);
            FZ_CHECK(value_equal(ip, got[0]) && value_equal(tp, got[0]));
            FZ_CHECK(has_sk ? ts != NULL && value_equal(ts, got[1]) : ts == NULL);
            FZ_CHECK(dyn_keycodec_gsi_key_decode(&arena, key, len - 1, t[0], false, t[0], t[0],
                                                 has_sk, t[1], &ip, NULL, &tp, &ts) != DYN_OK);
        }
        FZ_CHECK(dyn_keycodec_item_key(&arena, got[0], has_sk ? got[1] : NULL, &key, &len) ==
                 DYN_OK);
        /* one byte short is not a key */
        FZ_CHECK(dyn_keycodec_item_key_decode(&arena, key, len - 1, t[0], has_sk, t[1], &pk,
                                              &sk) != DYN_OK);
    }
}

/* Makes a value of type t from raw bytes; false if they do not form one (an N that does not
 * parse). S stops at the first NUL: an S is a C string. */
static bool
make_value(dyn_key_type t, const uint8_t *p, size_t n, Dyne__V1__AttributeValue *v, dyn_num *num)
{
    char *s;

    dyne__v1__attribute_value__init(v);
    switch (t) {
    case DYN_KEY_S:
    case DYN_KEY_N:
        if ((s = dyn_arena_strndup(&arena, (const char *)p, n)) == NULL)
            return false;
        if (t == DYN_KEY_S) {
            v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_S;
            v->s = s;
            return true;
        }
        if (memchr(p, 0, n) != NULL || dyn_num_parse(s, n, num, NULL) != DYN_OK)
            return false;
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_N;
        v->n = s;
        return true;
    case DYN_KEY_B:
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_B;
        v->b.data = (uint8_t *)p;
        v->b.len = n;
        return true;
    }
    return false;
}

/* (3) encode two values of one type: round trip, order, prefixes */
static void
fuzz_encode(const uint8_t *p, size_t n, uint8_t sel)
{
    dyn_key_type t = types[(sel >> 5) % 3];
    size_t half = n / 2;
    Dyne__V1__AttributeValue va, vb, *back = NULL;
    dyn_num na, nb;
    unsigned char *ea, *eb, *pre = NULL;
    size_t la, lb, lpre = 0, cap = 0, off = 0;
    int want;

    if (!make_value(t, p, half, &va, &na) || !make_value(t, p + half, n - half, &vb, &nb))
        return;
    encode_one(&va, &ea, &la);
    encode_one(&vb, &eb, &lb);
    FZ_CHECK(dyn_keycodec_decode_value(&arena, ea, la, &off, t, &back) == DYN_OK);
    FZ_CHECK(off == la);
    if (t == DYN_KEY_N) {
        dyn_num nback;
        FZ_CHECK(dyn_num_parse(back->n, strlen(back->n), &nback, NULL) == DYN_OK);
        FZ_CHECK(dyn_num_cmp(&nback, &na) == 0);
        want = dyn_num_cmp(&na, &nb);
    } else if (t == DYN_KEY_S) {
        FZ_CHECK(strcmp(back->s, va.s) == 0);
        want = sign(strcmp(va.s, vb.s));
    } else {
        FZ_CHECK(value_equal(back, &va));
        want = bytes_cmp(va.b.data, va.b.len, vb.b.data, vb.b.len);
    }
    FZ_CHECK(bytes_cmp(ea, la, eb, lb) == want);
    if (t == DYN_KEY_N)
        return;
    /* enc-prefix(a) is a prefix of enc(b) exactly when b starts with a */
    FZ_CHECK(dyn_keycodec_append_prefix(&arena, &pre, &lpre, &cap, &va) == DYN_OK);
    {
        const unsigned char *ab = t == DYN_KEY_S ? (const unsigned char *)va.s : va.b.data;
        const unsigned char *bb = t == DYN_KEY_S ? (const unsigned char *)vb.s : vb.b.data;
        size_t al = t == DYN_KEY_S ? strlen(va.s) : va.b.len;
        size_t bl = t == DYN_KEY_S ? strlen(vb.s) : vb.b.len;
        bool starts = al <= bl && memcmp(ab, bb, al) == 0;
        FZ_CHECK(starts == (lpre <= lb && memcmp(pre, eb, lpre) == 0));
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!arena_ready) {
        dyn_arena_init(&arena, 64u << 20);
        arena_ready = true;
    }
    if (size < 1)
        return 0;
    fuzz_key_decode(data + 1, size - 1, data[0]);
    dyn_arena_reset(&arena);
    fuzz_gsi_key_decode(data + 1, size - 1, data[0]);
    dyn_arena_reset(&arena);
    fuzz_value_decode(data + 1, size - 1, data[0]);
    dyn_arena_reset(&arena);
    fuzz_encode(data + 1, size - 1, data[0]);
    dyn_arena_reset(&arena);
    return 0;
}
