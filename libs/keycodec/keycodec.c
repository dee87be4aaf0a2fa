/* libs/keycodec -- the order-preserving key encoding of DESIGN.md §2 (format in keycodec.h). */
#include "libs/keycodec/keycodec.h"

#include <string.h>
#include <xxhash.h>

#include "libs/num/num.h"

#define TAG_NEG 0x01
#define TAG_ZERO 0x02
#define TAG_POS 0x03
#define EXP_BIAS 130   /* -DYN_NUM_ADJ_EXP_MIN: leading-digit exponents -130..125 -> 0..255 */

uint64_t
dyn_keycodec_hash(const Dyne__V1__AttributeValue *pk)
{
    switch (pk->value_case) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_S:
        return XXH3_64bits(pk->s, pk->s ? strlen(pk->s) : 0);
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_B:
        return XXH3_64bits(pk->b.data, pk->b.len);
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_N: {
        dyn_num n;
        char text[DYN_NUM_TEXT_MAX];
        size_t raw = pk->n ? strlen(pk->n) : 0;
        if (dyn_num_parse(pk->n, raw, &n, NULL) != DYN_OK)
            return XXH3_64bits(pk->n, raw);
        return XXH3_64bits(text, dyn_num_format(&n, text, sizeof text));
    }
    default:
        return XXH3_64bits(NULL, 0);
    }
}

/* Makes room for extra more bytes; on DYN_ENOMEM the buffer is as it was. */
static dyn_err
buf_reserve(dyn_arena *a, unsigned char **buf, size_t *len, size_t *cap, size_t extra)
{
    size_t ncap = *cap ? *cap : 64;
    unsigned char *nb;

    if (*cap - *len >= extra)
        return DYN_OK;
    while (ncap - *len < extra)
        ncap *= 2;
    if ((nb = dyn_arena_alloc(a, ncap)) == NULL)
        return DYN_ENOMEM;
    if (*len > 0)
        memcpy(nb, *buf, *len);
    *buf = nb;
    *cap = ncap;
    return DYN_OK;
}

static dyn_err
append_bytes(dyn_arena *a, unsigned char **buf, size_t *len, size_t *cap, const unsigned char *p,
             size_t n, bool terminate)
{
    unsigned char *o;
    dyn_err rc;

    /* Worst case every byte is 0x00 and doubles. */
    if ((rc = buf_reserve(a, buf, len, cap, 2 * n + 2)) != DYN_OK)
        return rc;
    o = *buf + *len;
    for (size_t i = 0; i < n; i++) {
        *o++ = p[i];
        if (p[i] == 0x00)
            *o++ = 0xFF;
    }
    if (terminate) {
        *o++ = 0x00;
        *o++ = 0x01;
    }
    *len = (size_t)(o - *buf);
    return DYN_OK;
}

/* enc(N) of a parsed number into out (DYN_KEYCODEC_N_MAX bytes); returns its length. */
static size_t
encode_num(const dyn_num *n, unsigned char *out)
{
    unsigned char dig[DYN_NUM_DIGITS_MAX + 1], nib[DYN_NUM_DIGITS_MAX + 2];
    size_t nd = 0, nn = 0, len = 0;
    unsigned __int128 c = n->coef;

    if (n->coef == 0) {
        out[0] = TAG_ZERO;
        return 1;
    }
    while (c != 0) {   /* least significant first */
        dig[nd++] = (unsigned char)(c % 10);
        c /= 10;
    }
    out[len++] = n->neg ? TAG_NEG : TAG_POS;
    out[len++] = (unsigned char)(n->exp + (int)nd - 1 + EXP_BIAS);
    while (nd > 0)
        nib[nn++] = (unsigned char)(dig[--nd] + 1);
    nib[nn++] = 0;   /* end of digits; sorts before any digit so a prefix comes first */
    for (size_t i = 0; i < nn; i += 2)
        out[len++] = (unsigned char)(nib[i] << 4 | (i + 1 < nn ? nib[i + 1] : 0));
    if (n->neg) {   /* larger magnitude sorts first */
        for (size_t i = 1; i < len; i++)
            out[i] = (unsigned char)~out[i];
    }
    return len;
}

dyn_err
dyn_keycodec_append_msg(dyn_arena *a, unsigned char **buf, size_t *len, size_t *cap,
                        const Dyne__V1__AttributeValue *v, const char **msg)
{
    switch (v->value_case) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_S:
        return append_bytes(a, buf, len, cap, (const unsigned char *)v->s,
                            v->s ? strlen(v->s) : 0, true);
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_B:
        return append_bytes(a, buf, len, cap, v->b.data, v->b.len, true);
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_N: {
        dyn_num n;
        unsigned char enc[DYN_KEYCODEC_N_MAX];
        size_t elen;
        dyn_err rc = dyn_num_parse(v->n, v->n ? strlen(v->n) : 0, &n, msg);
        if (rc != DYN_OK)
            return rc;
        elen = encode_num(&n, enc);
        if ((rc = buf_reserve(a, buf, len, cap, elen)) != DYN_OK)
            return rc;
        memcpy(*buf + *len, enc, elen);
        *len += elen;
        return DYN_OK;
    }
    default:
        if (msg != NULL)
            *msg = "key attribute must be of type S, N or B";
        return DYN_EVALIDATION;
    }
}

dyn_err
dyn_keycodec_append(dyn_arena *a, unsigned char **buf, size_t *len, size_t *cap,
                    const Dyne__V1__AttributeValue *v)
{
    return dyn_keycodec_append_msg(a, buf, len, cap, v, NULL);
}

dyn_err
dyn_keycodec_append_prefix(dyn_arena *a, unsigned char **buf, size_t *len, size_t *cap,
                           const Dyne__V1__AttributeValue *v)
{
    switch (v->value_case) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_S:
        return append_bytes(a, buf, len, cap, (const unsigned char *)v->s,
                            v->s ? strlen(v->s) : 0, false);
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_B:
        return append_bytes(a, buf, len, cap, v->b.data, v->b.len, false);
    default:
        return DYN_EVALIDATION;
    }
}

dyn_err
dyn_keycodec_item_key(dyn_arena *a, const Dyne__V1__AttributeValue *pk,
                      const Dyne__V1__AttributeValue *sk, unsigned char **key, size_t *len)
{
    unsigned char *buf = NULL;
    size_t blen = 0, cap = 0;
    uint64_t h;
    dyn_err rc;

    /* Encode pk first: it validates pk (an N that does not parse) before it is hashed. */
    if ((rc = buf_reserve(a, &buf, &blen, &cap, DYN_KEYCODEC_HASH_LEN + 64)) != DYN_OK)
        return rc;
    blen = DYN_KEYCODEC_HASH_LEN;
    if ((rc = dyn_keycodec_append(a, &buf, &blen, &cap, pk)) != DYN_OK)
        return rc;
    if (sk != NULL && (rc = dyn_keycodec_append(a, &buf, &blen, &cap, sk)) != DYN_OK)
        return rc;
    h = dyn_keycodec_hash(pk);
    for (int i = 0; i < DYN_KEYCODEC_HASH_LEN; i++)
        buf[i] = (unsigned char)(h >> (56 - 8 * i));
    *key = buf;
    *len = blen;
    return DYN_OK;
}

static Dyne__V1__AttributeValue *
new_value(dyn_arena *a)
{
    Dyne__V1__AttributeValue *v = dyn_arena_alloc(a, sizeof *v);
    if (v != NULL)
        dyne__v1__attribute_value__init(v);
    return v;
}

/* Decodes an escaped, terminated S/B run at buf[*off..len): the unescaped bytes go to a new arena
 * block *out (NUL-terminated, *out_len without the NUL). */
static dyn_err
decode_bytes(dyn_arena *a, const unsigned char *buf, size_t len, size_t *off, unsigned char **out,
             size_t *out_len)
{
    size_t i = *off, n = 0;
    unsigned char *o;

    /* First pass: find the terminator and the unescaped length. */
    for (;;) {
        if (i >= len)
            return DYN_EINTERNAL;
        if (buf[i] != 0x00) {
            i++, n++;
            continue;
        }
        if (i + 1 >= len)
            return DYN_EINTERNAL;
        if (buf[i + 1] == 0x01)
            break;
        if (buf[i + 1] != 0xFF)
            return DYN_EINTERNAL;
        i += 2, n++;
    }
    if ((o = dyn_arena_alloc(a, n + 1)) == NULL)
        return DYN_ENOMEM;
    n = 0;
    for (i = *off;; i++) {
        if (buf[i] == 0x00) {
            if (buf[i + 1] == 0x01)
                break;
            i++;   /* skip the 0xFF escape */
            o[n++] = 0x00;
        } else {
            o[n++] = buf[i];
        }
    }
    o[n] = '\0';
    *off = i + 2;
    *out = o;
    *out_len = n;
    return DYN_OK;
}

static dyn_err
decode_num(dyn_arena *a, const unsigned char *buf, size_t len, size_t *off, char **out)
{
    size_t i = *off;
    unsigned char inv, digits[DYN_NUM_DIGITS_MAX + 1];
    size_t nd = 0;
    bool neg, done = false;
    int adj;
    dyn_num n = { 0, 0, false };
    char text[DYN_NUM_TEXT_MAX];

    if (i >= len)
        return DYN_EINTERNAL;
    if (buf[i] == TAG_ZERO) {
        *off = i + 1;
        return (*out = dyn_arena_strdup(a, "0")) != NULL ? DYN_OK : DYN_ENOMEM;
    }
    if (buf[i] != TAG_NEG && buf[i] != TAG_POS)
        return DYN_EINTERNAL;
    neg = buf[i++] == TAG_NEG;
    inv = neg ? 0xFF : 0x00;
    if (i >= len)
        return DYN_EINTERNAL;
    adj = (int)(buf[i++] ^ inv) - EXP_BIAS;
    while (!done) {
        unsigned char b, nib[2];
        if (i >= len)
            return DYN_EINTERNAL;
        b = buf[i++] ^ inv;
        nib[0] = b >> 4;
        nib[1] = b & 0x0F;
        for (int k = 0; k < 2; k++) {
            if (done) {
                if (nib[k] != 0)   /* padding after the end nibble */
                    return DYN_EINTERNAL;
            } else if (nib[k] == 0) {
                done = true;
            } else if (nib[k] > 10 || nd == DYN_NUM_DIGITS_MAX) {
                return DYN_EINTERNAL;
            } else {
                digits[nd++] = (unsigned char)(nib[k] - 1);
            }
        }
    }
    /* Only canonical encodings: a non-zero first and last digit. */
    if (nd == 0 || digits[0] == 0 || digits[nd - 1] == 0)
        return DYN_EINTERNAL;
    for (size_t k = 0; k < nd; k++)
        n.coef = n.coef * 10 + digits[k];
    n.exp = adj - (int)nd + 1;
    n.neg = neg;
    dyn_num_format(&n, text, sizeof text);
    *off = i;
    return (*out = dyn_arena_strdup(a, text)) != NULL ? DYN_OK : DYN_ENOMEM;
}

dyn_err
dyn_keycodec_decode_value(dyn_arena *a, const unsigned char *buf, size_t len, size_t *off,
                          dyn_key_type t, Dyne__V1__AttributeValue **out)
{
    Dyne__V1__AttributeValue *v;
    unsigned char *bytes;
    size_t n, o = *off;
    dyn_err rc;

    if ((v = new_value(a)) == NULL)
        return DYN_ENOMEM;
    switch (t) {
    case DYN_KEY_S:
        if ((rc = decode_bytes(a, buf, len, &o, &bytes, &n)) != DYN_OK)
            return rc;
        if (memchr(bytes, 0, n) != NULL)   /* an S never holds NUL (it is a C string) */
            return DYN_EINTERNAL;
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_S;
        v->s = (char *)bytes;
        break;
    case DYN_KEY_B:
        if ((rc = decode_bytes(a, buf, len, &o, &bytes, &n)) != DYN_OK)
            return rc;
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_B;
        v->b.data = bytes;
        v->b.len = n;
        break;
    case DYN_KEY_N:
        if ((rc = decode_num(a, buf, len, &o, &v->n)) != DYN_OK)
            return rc;
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_N;
        break;
    default:
        return DYN_EINTERNAL;
    }
    *off = o;
    *out = v;
    return DYN_OK;
}

dyn_err
dyn_keycodec_item_key_decode(dyn_arena *a, const unsigned char *key, size_t len,
                             dyn_key_type pk_type, bool has_sk, dyn_key_type sk_type,
                             Dyne__V1__AttributeValue **pk, Dyne__V1__AttributeValue **sk)
{
    Dyne__V1__AttributeValue *p = NULL, *s = NULL;
    size_t off = DYN_KEYCODEC_HASH_LEN;
    uint64_t h = 0;
    dyn_err rc;

    if (len < DYN_KEYCODEC_HASH_LEN)
        return DYN_EINTERNAL;
    if ((rc = dyn_keycodec_decode_value(a, key, len, &off, pk_type, &p)) != DYN_OK)
        return rc;
    if (has_sk && (rc = dyn_keycodec_decode_value(a, key, len, &off, sk_type, &s)) != DYN_OK)
        return rc;
    if (off != len)
        return DYN_EINTERNAL;
    for (int i = 0; i < DYN_KEYCODEC_HASH_LEN; i++)
        h = h << 8 | key[i];
    if (h != dyn_keycodec_hash(p))
        return DYN_EINTERNAL;
    *pk = p;
    if (sk != NULL)
        *sk = s;
    return DYN_OK;
}

dyn_err
dyn_keycodec_gsi_key(dyn_arena *a, const Dyne__V1__AttributeValue *ipk,
                     const Dyne__V1__AttributeValue *isk, const Dyne__V1__AttributeValue *tpk,
                     const Dyne__V1__AttributeValue *tsk, unsigned char **key, size_t *len)
{
    unsigned char *buf = NULL;
    size_t blen = 0, cap = 0;
    uint64_t h;
    dyn_err rc;

    /* As dyn_keycodec_item_key, in one buffer: ipk is encoded (validated) before it is hashed. */
    if ((rc = buf_reserve(a, &buf, &blen, &cap, DYN_KEYCODEC_HASH_LEN + 128)) != DYN_OK)
        return rc;
    blen = DYN_KEYCODEC_HASH_LEN;
    if ((rc = dyn_keycodec_append(a, &buf, &blen, &cap, ipk)) != DYN_OK)
        return rc;
    if (isk != NULL && (rc = dyn_keycodec_append(a, &buf, &blen, &cap, isk)) != DYN_OK)
        return rc;
    if ((rc = dyn_keycodec_append(a, &buf, &blen, &cap, tpk)) != DYN_OK)
        return rc;
    if (tsk != NULL && (rc = dyn_keycodec_append(a, &buf, &blen, &cap, tsk)) != DYN_OK)
        return rc;
    h = dyn_keycodec_hash(ipk);
    for (int i = 0; i < DYN_KEYCODEC_HASH_LEN; i++)
        buf[i] = (unsigned char)(h >> (56 - 8 * i));
    *key = buf;
    *len = blen;
    return DYN_OK;
}

dyn_err
dyn_keycodec_gsi_key_decode(dyn_arena *a, const unsigned char *key, size_t len,
                            dyn_key_type ipk_t, bool has_isk, dyn_key_type isk_t,
                            dyn_key_type tpk_t, bool has_tsk, dyn_key_type tsk_t,
                            Dyne__V1__AttributeValue **ipk, Dyne__V1__AttributeValue **isk,
                            Dyne__V1__AttributeValue **tpk, Dyne__V1__AttributeValue **tsk)
{
    Dyne__V1__AttributeValue *ip = NULL, *is = NULL, *tp = NULL, *ts = NULL;
    size_t off = DYN_KEYCODEC_HASH_LEN;
    uint64_t h = 0;
    dyn_err rc;

    if (len < DYN_KEYCODEC_HASH_LEN)
        return DYN_EINTERNAL;
    if ((rc = dyn_keycodec_decode_value(a, key, len, &off, ipk_t, &ip)) != DYN_OK)
        return rc;
    if (has_isk && (rc = dyn_keycodec_decode_value(a, key, len, &off, isk_t, &is)) != DYN_OK)
        return rc;
    if ((rc = dyn_keycodec_decode_value(a, key, len, &off, tpk_t, &tp)) != DYN_OK)
        return rc;
    if (has_tsk && (rc = dyn_keycodec_decode_value(a, key, len, &off, tsk_t, &ts)) != DYN_OK)
        return rc;
    if (off != len)
        return DYN_EINTERNAL;
    for (int i = 0; i < DYN_KEYCODEC_HASH_LEN; i++)
        h = h << 8 | key[i];
    if (h != dyn_keycodec_hash(ip))
        return DYN_EINTERNAL;
    *ipk = ip;
    if (isk != NULL)
        *isk = is;
    *tpk = tp;
    if (tsk != NULL)
        *tsk = ts;
    return DYN_OK;
}
