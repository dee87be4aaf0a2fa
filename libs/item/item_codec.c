/* libs/item -- the canonical storage encoding of items (see item.h). Layout:
 *
 *   item  = 0x01 map
 *   map   = varint(n) (str(name) value)*         names strictly increasing, bytewise
 *   str   = varint(len) bytes
 *   value = 0x01 str (S) | 0x02 num (N) | 0x03 str (B) | 0x04 (false) | 0x05 (true) | 0x06 (NULL)
 *         | 0x07 varint(n) value* (L) | 0x08 map (M)
 *         | 0x09 varint(n) str* (SS) | 0x0a varint(n) num* (NS) | 0x0b varint(n) str* (BS)
 *                                                 set members strictly increasing
 *   num   = 0x00 (zero) | (0x01 positive | 0x02 negative) varint(zigzag(exp)) varint(coef)
 *                                                 coef has no trailing zero, < 10^38, in range
 *
 * varints are LEB128, minimal. The decoder accepts exactly what the encoder produces. */
#include "libs/item/item.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "libs/item/item_int.h"
#include "libs/num/num.h"

#define CODEC_VERSION 0x01
#define CODEC_MAX_DEPTH 64 /* L/M levels; deeper than DynamoDB allows, bounds the recursion */

enum {
    TAG_S = 0x01,
    TAG_N = 0x02,
    TAG_B = 0x03,
    TAG_FALSE = 0x04,
    TAG_TRUE = 0x05,
    TAG_NULL = 0x06,
    TAG_L = 0x07,
    TAG_M = 0x08,
    TAG_SS = 0x09,
    TAG_NS = 0x0a,
    TAG_BS = 0x0b,
};

enum { NUM_ZERO = 0x00, NUM_POS = 0x01, NUM_NEG = 0x02 };

/* ---- encoder -------------------------------------------------------------------------------- */

typedef struct wr {
    unsigned char *buf; /* heap, owned; copied into the arena at the end */
    size_t len, cap;
} wr;

static void
wr_bytes(wr *w, const void *p, size_t n)
{
    if (n > w->cap - w->len) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap - w->len < n)
            cap *= 2;
        w->buf = dyn_xrealloc(w->buf, cap);
        w->cap = cap;
    }
    if (n > 0)
        memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void
wr_byte(wr *w, unsigned char b)
{
    wr_bytes(w, &b, 1);
}

static void
wr_varint(wr *w, unsigned __int128 v)
{
    unsigned char tmp[19];
    size_t n = 0;

    do {
        tmp[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v != 0)
            tmp[n] |= 0x80;
        n++;
    } while (v != 0);
    wr_bytes(w, tmp, n);
}

static void
wr_str(wr *w, const void *p, size_t n)
{
    wr_varint(w, n);
    wr_bytes(w, p, n);
}

static void
wr_num(wr *w, const dyn_num *n)
{
    int64_t e = n->exp;

    if (n->coef == 0) {
        wr_byte(w, NUM_ZERO);
        return;
    }
    wr_byte(w, n->neg ? NUM_NEG : NUM_POS);
    wr_varint(w, (uint64_t)(e < 0 ? -2 * e - 1 : 2 * e));
    wr_varint(w, n->coef);
}

static int
cmp_cstr(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static int
cmp_bin(const void *x, const void *y)
{
    const ProtobufCBinaryData *a = x, *b = y;
    return item_bytes_cmp(a->data, a->len, b->data, b->len);
}

static int
cmp_num(const void *x, const void *y)
{
    return dyn_num_cmp(x, y);
}

typedef struct ent {
    const Dyne__V1__AttributeValueMap__ValuesEntry *e;
    size_t idx; /* position in the map, so that the last of a repeated name wins */
} ent;

static int
cmp_ent(const void *x, const void *y)
{
    const ent *a = x, *b = y;
    int c = strcmp(item_str(a->e->key), item_str(b->e->key));

    if (c != 0)
        return c;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static dyn_err enc_value(wr *w, const Dyne__V1__AttributeValue *v, int depth);

static dyn_err
enc_map(wr *w, const Dyne__V1__AttributeValueMap *m, int depth)
{
    size_t n = m != NULL ? m->n_values : 0, k = 0, uniq = 0;
    ent *es = NULL;
    dyn_err rc = DYN_OK;

    es = dyn_xmalloc((n ? n : 1) * sizeof *es);
    for (size_t i = 0; i < n; i++)
        if (m->values[i] != NULL)
            es[k++] = (ent){ m->values[i], i };
    qsort(es, k, sizeof *es, cmp_ent);
    for (size_t i = 0; i < k; i++)
        if (i + 1 == k || strcmp(item_str(es[i].e->key), item_str(es[i + 1].e->key)) != 0)
            uniq++;
    wr_varint(w, uniq);
    for (size_t i = 0; i < k; i++) {
        const char *key = item_str(es[i].e->key);
        if (i + 1 < k && strcmp(key, item_str(es[i + 1].e->key)) == 0)
            continue; /* shadowed by a later occurrence */
        wr_str(w, key, strlen(key));
        if ((rc = enc_value(w, es[i].e->value, depth)) != DYN_OK)
            goto out;
    }
out:
    free(es);
    return rc;
}

static dyn_err
enc_strs(wr *w, char *const *vals, size_t n)
{
    const char **s = dyn_xmalloc((n ? n : 1) * sizeof *s);
    size_t u = 0;

    for (size_t i = 0; i < n; i++)
        s[i] = item_str(vals[i]);
    qsort(s, n, sizeof *s, cmp_cstr);
    for (size_t i = 0; i < n; i++)
        if (u == 0 || strcmp(s[u - 1], s[i]) != 0)
            s[u++] = s[i];
    wr_varint(w, u);
    for (size_t i = 0; i < u; i++)
        wr_str(w, s[i], strlen(s[i]));
    free(s);
    return DYN_OK;
}

static dyn_err
enc_bins(wr *w, const ProtobufCBinaryData *vals, size_t n)
{
    ProtobufCBinaryData *s = dyn_xmalloc((n ? n : 1) * sizeof *s);
    size_t u = 0;

    if (n > 0)
        memcpy(s, vals, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_bin);
    for (size_t i = 0; i < n; i++)
        if (u == 0 || cmp_bin(&s[u - 1], &s[i]) != 0)
            s[u++] = s[i];
    wr_varint(w, u);
    for (size_t i = 0; i < u; i++)
        wr_str(w, s[i].data, s[i].len);
    free(s);
    return DYN_OK;
}

static dyn_err
enc_nums(wr *w, char *const *vals, size_t n)
{
    dyn_num *s = dyn_xmalloc((n ? n : 1) * sizeof *s);
    size_t u = 0;
    dyn_err rc = DYN_OK;

    for (size_t i = 0; i < n; i++) {
        const char *t = item_str(vals[i]);
        if (dyn_num_parse(t, strlen(t), &s[i], NULL) != DYN_OK) {
            rc = DYN_EVALIDATION;
            goto out;
        }
    }
    qsort(s, n, sizeof *s, cmp_num);
    for (size_t i = 0; i < n; i++)
        if (u == 0 || dyn_num_cmp(&s[u - 1], &s[i]) != 0)
            s[u++] = s[i];
    wr_varint(w, u);
    for (size_t i = 0; i < u; i++)
        wr_num(w, &s[i]);
out:
    free(s);
    return rc;
}

/* depth: the document level of v (1 for an item's attribute). */
static dyn_err
enc_value(wr *w, const Dyne__V1__AttributeValue *v, int depth)
{
    dyn_num n;
    dyn_err rc;
    const char *t;

    if (v == NULL)
        return DYN_EVALIDATION;
    switch (v->value_case) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_S:
        t = item_str(v->s);
        wr_byte(w, TAG_S);
        wr_str(w, t, strlen(t));
        return DYN_OK;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_N:
        t = item_str(v->n);
        if (dyn_num_parse(t, strlen(t), &n, NULL) != DYN_OK)
            return DYN_EVALIDATION;
        wr_byte(w, TAG_N);
        wr_num(w, &n);
        return DYN_OK;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_B:
        wr_byte(w, TAG_B);
        wr_str(w, v->b.data, v->b.len);
        return DYN_OK;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_BOOL:
        wr_byte(w, v->bool_ ? TAG_TRUE : TAG_FALSE);
        return DYN_OK;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_NULL:
        wr_byte(w, TAG_NULL);
        return DYN_OK;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_L:
        if (depth > CODEC_MAX_DEPTH)
            return DYN_EVALIDATION;
        wr_byte(w, TAG_L);
        wr_varint(w, v->l != NULL ? v->l->n_values : 0);
        if (v->l != NULL)
            for (size_t i = 0; i < v->l->n_values; i++)
                if ((rc = enc_value(w, v->l->values[i], depth + 1)) != DYN_OK)
                    return rc;
        return DYN_OK;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_M:
        if (depth > CODEC_MAX_DEPTH)
            return DYN_EVALIDATION;
        wr_byte(w, TAG_M);
        return enc_map(w, v->m, depth + 1);
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS:
        wr_byte(w, TAG_SS);
        return enc_strs(w, v->ss != NULL ? v->ss->values : NULL,
                        v->ss != NULL ? v->ss->n_values : 0);
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS:
        wr_byte(w, TAG_NS);
        return enc_nums(w, v->ns != NULL ? v->ns->values : NULL,
                        v->ns != NULL ? v->ns->n_values : 0);
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_BS:
        wr_byte(w, TAG_BS);
        return enc_bins(w, v->bs != NULL ? v->bs->values : NULL,
                        v->bs != NULL ? v->bs->n_values : 0);
    default:
        return DYN_EVALIDATION;
    }
}

dyn_err
dyn_item_encode(const Dyne__V1__AttributeValueMap *item, dyn_arena *a, unsigned char **buf,
                size_t *len)
{
    wr w = { NULL, 0, 0 };
    unsigned char *out;
    dyn_err rc;

    wr_byte(&w, CODEC_VERSION);
    if ((rc = enc_map(&w, item, 1)) != DYN_OK)
        goto out;
    if ((out = dyn_arena_memdup(a, w.buf, w.len)) == NULL) {
        rc = DYN_ENOMEM;
        goto out;
    }
    *buf = out;
    *len = w.len;
out:
    free(w.buf);
    return rc;
}

/* ---- decoder -------------------------------------------------------------------------------- */

typedef struct rd {
    const unsigned char *p, *end;
    dyn_arena *a;
} rd;

#define CORRUPT DYN_EINTERNAL

static dyn_err
rd_byte(rd *r, unsigned char *out)
{
    if (r->p == r->end)
        return CORRUPT;
    *out = *r->p++;
    return DYN_OK;
}

/* A minimal LEB128 varint of at most bits bits. */
static dyn_err
rd_varint128(rd *r, int bits, unsigned __int128 *out)
{
    unsigned __int128 v = 0;
    int shift = 0;
    unsigned char b;

    for (;;) {
        if (r->p == r->end || shift >= bits)
            return CORRUPT;
        b = *r->p++;
        if (shift > 0 && b == 0)
            return CORRUPT; /* a trailing zero group: not minimal */
        if (bits - shift < 7 && (b & 0x7f) >> (bits - shift) != 0)
            return CORRUPT; /* bits past the width */
        v |= (unsigned __int128)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80))
            break;
    }
    *out = v;
    return DYN_OK;
}

static dyn_err
rd_varint(rd *r, uint64_t *out)
{
    unsigned __int128 v;
    dyn_err rc = rd_varint128(r, 64, &v);

    if (rc == DYN_OK)
        *out = (uint64_t)v;
    return rc;
}

/* A count of members each taking at least min_bytes: bounded by what is left, so that a corrupt
 * count cannot make us allocate more than the input justifies. */
static dyn_err
rd_count(rd *r, size_t min_bytes, size_t *out)
{
    uint64_t n;
    dyn_err rc;

    if ((rc = rd_varint(r, &n)) != DYN_OK)
        return rc;
    if (n > (uint64_t)(r->end - r->p) / min_bytes)
        return CORRUPT;
    *out = (size_t)n;
    return DYN_OK;
}

static dyn_err
rd_str(rd *r, const unsigned char **s, size_t *len)
{
    uint64_t n;
    dyn_err rc;

    if ((rc = rd_varint(r, &n)) != DYN_OK)
        return rc;
    if (n > (uint64_t)(r->end - r->p))
        return CORRUPT;
    *s = r->p;
    *len = (size_t)n;
    r->p += n;
    return DYN_OK;
}

/* A string for a char * field: no NUL inside, copied NUL-terminated into the arena. */
static dyn_err
rd_cstr(rd *r, char **out, const unsigned char **raw, size_t *len)
{
    dyn_err rc;

    if ((rc = rd_str(r, raw, len)) != DYN_OK)
        return rc;
    if (memchr(*raw, 0, *len) != NULL)
        return CORRUPT;
    if ((*out = dyn_arena_strndup(r->a, (const char *)*raw, *len)) == NULL)
        return DYN_ENOMEM;
    return DYN_OK;
}

static dyn_err
rd_num(rd *r, dyn_num *n)
{
    unsigned __int128 coef, zz;
    unsigned char sign;
    int64_t e;
    dyn_num tmp;
    dyn_err rc;

    if ((rc = rd_byte(r, &sign)) != DYN_OK)
        return rc;
    if (sign == NUM_ZERO) {
        *n = (dyn_num){ 0, 0, false };
        return DYN_OK;
    }
    if (sign != NUM_POS && sign != NUM_NEG)
        return CORRUPT;
    if ((rc = rd_varint128(r, 64, &zz)) != DYN_OK || (rc = rd_varint128(r, 128, &coef)) != DYN_OK)
        return rc;
    if (zz > 1000) /* |exp| <= 500; the range check below is the real one */
        return CORRUPT;
    e = (zz & 1) ? -(int64_t)((zz + 1) / 2) : (int64_t)(zz / 2);
    if (coef == 0 || coef % 10 == 0)
        return CORRUPT;
    tmp = (dyn_num){ coef, (int32_t)e, sign == NUM_NEG };
    if (dyn_num_digits(&tmp) > DYN_NUM_DIGITS_MAX || dyn_num_adj_exp(&tmp) > DYN_NUM_ADJ_EXP_MAX ||
        dyn_num_adj_exp(&tmp) < DYN_NUM_ADJ_EXP_MIN)
        return CORRUPT;
    *n = tmp;
    return DYN_OK;
}

static dyn_err
num_text(rd *r, const dyn_num *n, char **out)
{
    char text[DYN_NUM_TEXT_MAX];
    size_t len = dyn_num_format(n, text, sizeof text);

    if ((*out = dyn_arena_strndup(r->a, text, len)) == NULL)
        return DYN_ENOMEM;
    return DYN_OK;
}

static dyn_err rd_value(rd *r, int depth, Dyne__V1__AttributeValue **out);

static dyn_err
rd_map(rd *r, int depth, Dyne__V1__AttributeValueMap **out)
{
    Dyne__V1__AttributeValueMap *m;
    const unsigned char *prev = NULL, *raw;
    size_t n, prev_len = 0, len;
    dyn_err rc;

    if ((rc = rd_count(r, 2, &n)) != DYN_OK)
        return rc;
    if ((m = dyn_item_new(r->a)) == NULL)
        return DYN_ENOMEM;
    if (n > 0 && (m->values = dyn_arena_alloc(r->a, n * sizeof *m->values)) == NULL)
        return DYN_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        Dyne__V1__AttributeValueMap__ValuesEntry *e = item_entry_new(r->a);
        if (e == NULL)
            return DYN_ENOMEM;
        if ((rc = rd_cstr(r, &e->key, &raw, &len)) != DYN_OK)
            return rc;
        if (i > 0 && item_bytes_cmp(prev, prev_len, raw, len) >= 0)
            return CORRUPT;
        prev = raw;
        prev_len = len;
        if ((rc = rd_value(r, depth, &e->value)) != DYN_OK)
            return rc;
        m->values[m->n_values++] = e;
    }
    *out = m;
    return DYN_OK;
}

static dyn_err
rd_value(rd *r, int depth, Dyne__V1__AttributeValue **out)
{
    Dyne__V1__AttributeValue *v;
    const unsigned char *raw, *prev = NULL;
    size_t n, len, prev_len = 0;
    unsigned char tag;
    dyn_num num, prev_num;
    dyn_err rc;

    if ((rc = rd_byte(r, &tag)) != DYN_OK)
        return rc;
    if ((v = item_value_new(r->a)) == NULL)
        return DYN_ENOMEM;
    switch (tag) {
    case TAG_S:
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_S;
        if ((rc = rd_cstr(r, &v->s, &raw, &len)) != DYN_OK)
            return rc;
        break;
    case TAG_N:
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_N;
        if ((rc = rd_num(r, &num)) != DYN_OK || (rc = num_text(r, &num, &v->n)) != DYN_OK)
            return rc;
        break;
    case TAG_B:
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_B;
        if ((rc = rd_str(r, &raw, &len)) != DYN_OK)
            return rc;
        if ((v->b.data = dyn_arena_memdup(r->a, len ? raw : (const unsigned char *)"",
                                          len ? len : 1)) == NULL)
            return DYN_ENOMEM;
        v->b.len = len;
        break;
    case TAG_FALSE:
    case TAG_TRUE:
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_BOOL;
        v->bool_ = tag == TAG_TRUE;
        break;
    case TAG_NULL:
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_NULL;
        v->null = 1;
        break;
    case TAG_L:
        if (depth > CODEC_MAX_DEPTH)
            return CORRUPT;
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_L;
        if ((v->l = dyn_arena_zalloc(r->a, sizeof *v->l)) == NULL)
            return DYN_ENOMEM;
        dyne__v1__attribute_value_list__init(v->l);
        if ((rc = rd_count(r, 1, &n)) != DYN_OK)
            return rc;
        if (n > 0 && (v->l->values = dyn_arena_alloc(r->a, n * sizeof *v->l->values)) == NULL)
            return DYN_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            if ((rc = rd_value(r, depth + 1, &v->l->values[i])) != DYN_OK)
                return rc;
            v->l->n_values++;
        }
        break;
    case TAG_M:
        if (depth > CODEC_MAX_DEPTH)
            return CORRUPT;
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_M;
        if ((rc = rd_map(r, depth + 1, &v->m)) != DYN_OK)
            return rc;
        break;
    case TAG_SS:
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS;
        if ((v->ss = dyn_arena_zalloc(r->a, sizeof *v->ss)) == NULL)
            return DYN_ENOMEM;
        dyne__v1__string_set__init(v->ss);
        if ((rc = rd_count(r, 1, &n)) != DYN_OK)
            return rc;
        if (n > 0 && (v->ss->values = dyn_arena_alloc(r->a, n * sizeof *v->ss->values)) == NULL)
            return DYN_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            if ((rc = rd_cstr(r, &v->ss->values[i], &raw, &len)) != DYN_OK)
                return rc;
            if (i > 0 && item_bytes_cmp(prev, prev_len, raw, len) >= 0)
                return CORRUPT;
            prev = raw;
            prev_len = len;
            v->ss->n_values++;
        }
        break;
    case TAG_NS:
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS;
        if ((v->ns = dyn_arena_zalloc(r->a, sizeof *v->ns)) == NULL)
            return DYN_ENOMEM;
        dyne__v1__number_set__init(v->ns);
        if ((rc = rd_count(r, 1, &n)) != DYN_OK)
            return rc;
        if (n > 0 && (v->ns->values = dyn_arena_alloc(r->a, n * sizeof *v->ns->values)) == NULL)
            return DYN_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            if ((rc = rd_num(r, &num)) != DYN_OK)
                return rc;
            if (i > 0 && dyn_num_cmp(&prev_num, &num) >= 0)
                return CORRUPT;
            prev_num = num;
            if ((rc = num_text(r, &num, &v->ns->values[i])) != DYN_OK)
                return rc;
            v->ns->n_values++;
        }
        break;
    case TAG_BS:
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_BS;
        if ((v->bs = dyn_arena_zalloc(r->a, sizeof *v->bs)) == NULL)
            return DYN_ENOMEM;
        dyne__v1__binary_set__init(v->bs);
        if ((rc = rd_count(r, 1, &n)) != DYN_OK)
            return rc;
        if (n > 0 && (v->bs->values = dyn_arena_alloc(r->a, n * sizeof *v->bs->values)) == NULL)
            return DYN_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            if ((rc = rd_str(r, &raw, &len)) != DYN_OK)
                return rc;
            if (i > 0 && item_bytes_cmp(prev, prev_len, raw, len) >= 0)
                return CORRUPT;
            prev = raw;
            prev_len = len;
            v->bs->values[i].len = len;
            v->bs->values[i].data =
                dyn_arena_memdup(r->a, len ? raw : (const unsigned char *)"", len ? len : 1);
            if (v->bs->values[i].data == NULL)
                return DYN_ENOMEM;
            v->bs->n_values++;
        }
        break;
    default:
        return CORRUPT;
    }
    *out = v;
    return DYN_OK;
}

dyn_err
dyn_item_decode(const unsigned char *buf, size_t len, dyn_arena *a,
                Dyne__V1__AttributeValueMap **item)
{
    rd r = { buf, buf + len, a };
    Dyne__V1__AttributeValueMap *m = NULL;
    unsigned char version;
    dyn_err rc;

    if (buf == NULL)
        return CORRUPT;
    if ((rc = rd_byte(&r, &version)) != DYN_OK)
        goto out;
    if (version != CODEC_VERSION) {
        rc = CORRUPT;
        goto out;
    }
    if ((rc = rd_map(&r, 1, &m)) != DYN_OK)
        goto out;
    if (r.p != r.end) {
        rc = CORRUPT; /* trailing bytes */
        goto out;
    }
    *item = m;
out:
    return rc;
}
