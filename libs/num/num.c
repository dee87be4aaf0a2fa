/* libs/num -- exact DynamoDB numbers: BigDecimal-grammar parsing, canonical text, comparison, and
 * +/- through a small 256-bit integer so that no intermediate ever rounds. */
#include "libs/num/num.h"

#include <string.h>

typedef unsigned __int128 u128;

#define P19 10000000000000000000ULL
static const u128 pow10_tab[DYN_NUM_DIGITS_MAX + 1] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
    1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
    100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
    1000000000000000000ULL, P19,
    (u128)P19 * 10ULL, (u128)P19 * 100ULL, (u128)P19 * 1000ULL, (u128)P19 * 10000ULL,
    (u128)P19 * 100000ULL, (u128)P19 * 1000000ULL, (u128)P19 * 10000000ULL,
    (u128)P19 * 100000000ULL, (u128)P19 * 1000000000ULL, (u128)P19 * 10000000000ULL,
    (u128)P19 * 100000000000ULL, (u128)P19 * 1000000000000ULL, (u128)P19 * 10000000000000ULL,
    (u128)P19 * 100000000000000ULL, (u128)P19 * 1000000000000000ULL,
    (u128)P19 * 10000000000000000ULL, (u128)P19 * 100000000000000000ULL,
    (u128)P19 * 1000000000000000000ULL, (u128)P19 * P19,
};

static const uint64_t pow10_64[20] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
    1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
    100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
    1000000000000000000ULL, P19,
};

/* Exponent digits past this are not accumulated: any such exponent is out of range anyway, and
 * the total stays far from int64 overflow even after adding a (huge) digit count. */
#define EXP_SATURATE 1000000000000000LL

/* Decimal digits of v > 0: floor(log10(2) * bit length) is the count or one less. */
static inline int
u64_digits(uint64_t v)
{
    int t = ((64 - __builtin_clzll(v)) * 1233) >> 12;   /* 1233 / 4096 ~ log10(2) */

    return t + (v >= pow10_64[t]);
}

static inline int
u128_digits(u128 v)
{
    int d = 20;   /* v >= 2^64 > 10^19 */

    if ((uint64_t)(v >> 64) == 0)
        return v == 0 ? 0 : u64_digits((uint64_t)v);
    while (d <= DYN_NUM_DIGITS_MAX && v >= pow10_tab[d])
        d++;
    return d;   /* 0 for 0; 39 means ">= 10^38" */
}

static dyn_err
fail(const char **msg, const char *m)
{
    if (msg != NULL)
        *msg = m;
    return DYN_EVALIDATION;
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The common case, [+-]digits[.digits][(e|E)[+-]digits] with at most 19 mantissa digits and
 * at most 4 exponent digits: one pass in 64 bits. false for anything else, and for a result out
 * of range (the general parser decides, with its message). */
static inline bool
parse_short(const char *s, size_t len, dyn_num *out)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len, *frac;
    uint64_t c = 0, q;
    unsigned d;
    int32_t exp = 0;
    size_t nd;
    bool expo;

    if (len == 0 || len > 28)
        return false;
    p += *p == '+' || *p == '-';
    while (p < end && (d = *p - (unsigned)'0') < 10) {
        c = c * 10 + d;
        p++;
    }
    nd = (size_t)(p - (const unsigned char *)s) - (*s == '+' || *s == '-');
    if (p < end && *p == '.') {
        frac = ++p;
        while (p < end && (d = *p - (unsigned)'0') < 10) {
            c = c * 10 + d;
            p++;
        }
        exp = -(int32_t)(p - frac);
        nd += (size_t)(p - frac);
    }
    /* 19 digits (with any leading zeros) < 10^19 < 2^64: c did not wrap */
    if (nd == 0 || nd > 19)
        return false;
    expo = p < end && (*p == 'e' || *p == 'E');
    if (expo) {
        const unsigned char *e0;
        bool eneg;
        int32_t e = 0;
        p++;
        eneg = p < end && *p == '-';
        p += p < end && (*p == '+' || *p == '-');
        for (e0 = p; p < end && (d = *p - (unsigned)'0') < 10 && p - e0 < 4; p++)
            e = e * 10 + (int32_t)d;
        if (p == e0)
            return false;
        exp += eneg ? -e : e;
    }
    if (p != end)
        return false;
    if (c == 0) {
        out->coef = 0;
        out->exp = 0;
        out->neg = false;
        return true;
    }
    while ((q = c / 10) * 10 == c) {
        c = q;
        exp++;
    }
    if (expo) {   /* without an exponent the magnitude is within 1E-19 .. 1E19 */
        int adj = exp + u64_digits(c) - 1;
        if (adj > DYN_NUM_ADJ_EXP_MAX || adj < DYN_NUM_ADJ_EXP_MIN)
            return false;
    }
    out->coef = c;
    out->exp = exp;
    out->neg = *s == '-';
    return true;
}

static dyn_err num_parse_general(const char *s, size_t len, dyn_num *out, const char **msg);

dyn_err
dyn_num_parse(const char *s, size_t len, dyn_num *out, const char **msg)
{
    if (s != NULL && parse_short(s, len, out))
        return DYN_OK;
    return num_parse_general(s, len, out, msg);
}

/* Everything else: exponents, long or invalid input. */
static __attribute__((noinline)) dyn_err
num_parse_general(const char *s, size_t len, dyn_num *out, const char **msg)
{
    size_t i = 0, int_start, int_len, frac_start, frac_len = 0, m, p, q, k;
    bool neg = false, eneg = false;
    int64_t e = 0, exp_c, adj, n;
    u128 coef = 0;

    if (s == NULL)
        return fail(msg, DYN_NUM_MSG_NOT_NUMERIC);
    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    int_start = i;
    while (i < len && is_digit(s[i]))
        i++;
    int_len = i - int_start;
    frac_start = i;
    if (i < len && s[i] == '.') {
        frac_start = ++i;
        while (i < len && is_digit(s[i]))
            i++;
        frac_len = i - frac_start;
    }
    if (int_len == 0 && frac_len == 0)
        return fail(msg, DYN_NUM_MSG_NOT_NUMERIC);
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp_start;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        exp_start = i;
        for (; i < len && is_digit(s[i]); i++) {
            if (e < EXP_SATURATE)
                e = e * 10 + (s[i] - '0');
        }
        if (i == exp_start)
            return fail(msg, DYN_NUM_MSG_NOT_NUMERIC);
        if (eneg)
            e = -e;
    }
    if (i != len)
        return fail(msg, DYN_NUM_MSG_NOT_NUMERIC);

    /* The mantissa digits, integer part then fraction, are one string of m digits; digit k
     * weighs 10^(e - frac_len + m - 1 - k). Trim its leading and trailing zeros. */
#define DIGIT_AT(k) ((k) < int_len ? s[int_start + (k)] : s[frac_start + (k) - int_len])
    m = int_len + frac_len;
    for (p = 0; p < m && DIGIT_AT(p) == '0'; p++)
        ;
    if (p == m) {   /* zero, whatever the sign and exponent */
        out->coef = 0;
        out->exp = 0;
        out->neg = false;
        return DYN_OK;
    }
    for (q = m - 1; DIGIT_AT(q) == '0'; q--)
        ;
    n = (int64_t)(q - p + 1);
    exp_c = e - (int64_t)frac_len + (int64_t)(m - 1 - q);
    adj = exp_c + n - 1;
    if (adj > DYN_NUM_ADJ_EXP_MAX)
        return fail(msg, DYN_NUM_MSG_OVERFLOW);
    if (adj < DYN_NUM_ADJ_EXP_MIN)
        return fail(msg, DYN_NUM_MSG_UNDERFLOW);
    if (n > DYN_NUM_DIGITS_MAX)
        return fail(msg, DYN_NUM_MSG_DIGITS);
    for (k = p; k <= q; k++)
        coef = coef * 10 + (u128)(DIGIT_AT(k) - '0');
#undef DIGIT_AT
    out->coef = coef;
    out->exp = (int32_t)exp_c;
    out->neg = neg;
    return DYN_OK;
}

bool
dyn_num_is_zero(const dyn_num *n)
{
    return n->coef == 0;
}

int
dyn_num_digits(const dyn_num *n)
{
    return u128_digits(n->coef);
}

int
dyn_num_adj_exp(const dyn_num *n)
{
    return n->coef == 0 ? 0 : n->exp + u128_digits(n->coef) - 1;
}

void
dyn_num_neg(const dyn_num *a, dyn_num *out)
{
    *out = *a;
    out->neg = a->coef != 0 && !a->neg;
}

void
dyn_num_from_i64(int64_t v, dyn_num *out)
{
    /* Through uint64 so that INT64_MIN negates without overflow. */
    uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    int32_t exp = 0;

    while (mag != 0 && mag % 10 == 0) {
        mag /= 10;
        exp++;
    }
    out->coef = mag;
    out->exp = mag == 0 ? 0 : exp;
    out->neg = mag != 0 && v < 0;
}

static int
sign_of(const dyn_num *n)
{
    return n->coef == 0 ? 0 : n->neg ? -1 : 1;
}

/* Compares |a| and |b|, both non-zero. */
static int
cmp_mag(const dyn_num *a, const dyn_num *b)
{
    int da, db, ea, eb;
    u128 ca, cb;

    if ((uint64_t)((a->coef | b->coef) >> 64) == 0) {
        /* Both under 2^64 and exponents at most 19 apart: scale the one with the larger
         * exponent to the other's; the product fits in 128 bits. */
        int64_t d = (int64_t)a->exp - b->exp;
        ca = a->coef;
        cb = b->coef;
        if (d >= 0 && d <= 19) {
            ca = (u128)(uint64_t)ca * pow10_64[d];
            return ca < cb ? -1 : ca > cb;
        }
        if (d < 0 && d >= -19) {
            cb = (u128)(uint64_t)cb * pow10_64[-d];
            return ca < cb ? -1 : ca > cb;
        }
    }
    da = u128_digits(a->coef);
    db = u128_digits(b->coef);
    ea = a->exp + da - 1;
    eb = b->exp + db - 1;
    if (ea != eb)
        return ea < eb ? -1 : 1;
    /* Same leading-digit exponent: compare the digit strings padded to 38 digits. */
    ca = a->coef * pow10_tab[DYN_NUM_DIGITS_MAX - da];
    cb = b->coef * pow10_tab[DYN_NUM_DIGITS_MAX - db];
    return ca < cb ? -1 : ca > cb ? 1 : 0;
}

int
dyn_num_cmp(const dyn_num *a, const dyn_num *b)
{
    int sa = sign_of(a), sb = sign_of(b), mag;

    if (sa != sb)
        return sa < sb ? -1 : 1;
    if (sa == 0)
        return 0;
    mag = cmp_mag(a, b);
    return sa > 0 ? mag : -mag;
}

/* --- a 256-bit unsigned integer, just enough for exact +/- of aligned coefficients --- */
typedef struct {
    uint64_t w[4];   /* little-endian 64-bit limbs */
} u256;

static u256
u256_from(u128 v)
{
    u256 r = { { (uint64_t)v, (uint64_t)(v >> 64), 0, 0 } };
    return r;
}

static void
u256_mul_small(u256 *x, uint64_t f)
{
    u128 carry = 0;
    for (int i = 0; i < 4; i++) {
        u128 t = (u128)x->w[i] * f + carry;
        x->w[i] = (uint64_t)t;
        carry = t >> 64;
    }
}

static uint64_t
u256_divmod_small(u256 *x, uint64_t d)
{
    u128 rem = 0;
    for (int i = 3; i >= 0; i--) {
        u128 cur = (rem << 64) | x->w[i];
        x->w[i] = (uint64_t)(cur / d);
        rem = cur % d;
    }
    return (uint64_t)rem;
}

static int
u256_cmp(const u256 *a, const u256 *b)
{
    for (int i = 3; i >= 0; i--) {
        if (a->w[i] != b->w[i])
            return a->w[i] < b->w[i] ? -1 : 1;
    }
    return 0;
}

static u256
u256_add(const u256 *a, const u256 *b)
{
    u256 r;
    u128 carry = 0;
    for (int i = 0; i < 4; i++) {
        u128 t = (u128)a->w[i] + b->w[i] + carry;
        r.w[i] = (uint64_t)t;
        carry = t >> 64;
    }
    return r;
}

static u256
u256_sub(const u256 *a, const u256 *b)   /* a >= b */
{
    u256 r;
    uint64_t borrow = 0;
    for (int i = 0; i < 4; i++) {
        uint64_t t = a->w[i] - b->w[i] - borrow;
        borrow = (a->w[i] < b->w[i]) || (a->w[i] - b->w[i] < borrow);
        r.w[i] = t;
    }
    return r;
}

static bool
u256_is_zero(const u256 *x)
{
    return (x->w[0] | x->w[1] | x->w[2] | x->w[3]) == 0;
}

/* a + (bneg ? -|b| : |b|). The decision on messages is in num.h (dyn_num_add). */
static dyn_err
num_addsub(const dyn_num *a, const dyn_num *b, bool bneg, dyn_num *out, const char **msg)
{
    const dyn_num *x, *y;   /* x has the larger exponent */
    bool xneg, yneg, rneg;
    int64_t d, exp;
    u256 X, Y, R, limit;
    int digits, adj;

    if (b->coef == 0) {
        *out = *a;
        return DYN_OK;
    }
    if (a->coef == 0) {
        out->coef = b->coef;
        out->exp = b->exp;
        out->neg = bneg;
        return DYN_OK;
    }
    if (a->exp >= b->exp) {
        x = a, xneg = a->neg, y = b, yneg = bneg;
    } else {
        x = b, xneg = bneg, y = a, yneg = a->neg;
    }
    d = (int64_t)x->exp - y->exp;
    /* In units of 10^y->exp the result is x->coef * 10^d +- y->coef, whose last digit is y's
     * (non-zero) last digit when d > 0. With d >= 39 it is at least 10^39 - 10^38, so it needs
     * 39 or more significant digits: no representable result. */
    if (d > DYN_NUM_DIGITS_MAX)
        return fail(msg, DYN_NUM_MSG_OVERFLOW);
    X = u256_from(x->coef);
    for (int64_t i = 0; i < d; i++)
        u256_mul_small(&X, 10);
    Y = u256_from(y->coef);
    if (xneg == yneg) {
        R = u256_add(&X, &Y);
        rneg = xneg;
    } else if (u256_cmp(&X, &Y) >= 0) {
        R = u256_sub(&X, &Y);
        rneg = xneg;
    } else {
        R = u256_sub(&Y, &X);
        rneg = yneg;
    }
    if (u256_is_zero(&R)) {
        out->coef = 0;
        out->exp = 0;
        out->neg = false;
        return DYN_OK;
    }
    exp = y->exp;
    for (;;) {
        u256 t = R;
        if (u256_divmod_small(&t, 10) != 0)
            break;
        R = t;
        exp++;
    }
    limit = u256_from(pow10_tab[DYN_NUM_DIGITS_MAX]);
    if (u256_cmp(&R, &limit) >= 0)
        return fail(msg, DYN_NUM_MSG_OVERFLOW);   /* precision: AWS says overflow */
    digits = u128_digits(((u128)R.w[1] << 64) | R.w[0]);
    adj = (int)(exp + digits - 1);
    if (adj > DYN_NUM_ADJ_EXP_MAX)
        return fail(msg, DYN_NUM_MSG_OVERFLOW);
    if (adj < DYN_NUM_ADJ_EXP_MIN)
        return fail(msg, DYN_NUM_MSG_UNDERFLOW);
    out->coef = ((u128)R.w[1] << 64) | R.w[0];
    out->exp = (int32_t)exp;
    out->neg = rneg;
    return DYN_OK;
}

dyn_err
dyn_num_add(const dyn_num *a, const dyn_num *b, dyn_num *out, const char **msg)
{
    return num_addsub(a, b, b->neg, out, msg);
}

dyn_err
dyn_num_sub(const dyn_num *a, const dyn_num *b, dyn_num *out, const char **msg)
{
    return num_addsub(a, b, b->coef != 0 && !b->neg, out, msg);
}

size_t
dyn_num_format(const dyn_num *n, char *buf, size_t cap)
{
    char txt[DYN_NUM_TEXT_MAX], dig[DYN_NUM_DIGITS_MAX + 1];
    size_t len = 0, nd = 0;
    u128 c = n->coef;

    /* Bounded so that a dyn_num breaking its invariants cannot overrun txt. */
#define PUT(ch)                                                                                \
    do {                                                                                       \
        if (len < sizeof txt)                                                                  \
            txt[len] = (ch);                                                                   \
        len++;                                                                                 \
    } while (0)

    if (c == 0) {
        PUT('0');
    } else {
        while (c != 0) {   /* least significant first */
            dig[nd++] = (char)('0' + (int)(c % 10));
            c /= 10;
        }
        if (n->neg)
            PUT('-');
        if (n->exp >= 0) {
            while (nd > 0)
                PUT(dig[--nd]);
            for (int32_t i = 0; i < n->exp; i++)
                PUT('0');
        } else {
            int64_t point = (int64_t)nd + n->exp;   /* digits before the decimal point */
            if (point <= 0) {
                PUT('0');
                PUT('.');
                for (int64_t i = 0; i < -point; i++)
                    PUT('0');
                while (nd > 0)
                    PUT(dig[--nd]);
            } else {
                for (; point > 0; point--)
                    PUT(dig[--nd]);
                PUT('.');
                while (nd > 0)
                    PUT(dig[--nd]);
            }
        }
    }
#undef PUT
    if (len > sizeof txt)
        len = sizeof txt;
    if (cap > 0) {
        size_t k = len < cap - 1 ? len : cap - 1;
        memcpy(buf, txt, k);
        buf[k] = '\0';
    }
    return len;
}

size_t
dyn_num_size(const dyn_num *n)
{
    int d, adj;

    if (n->coef == 0)
        return 1;
    d = u128_digits(n->coef);
    adj = n->exp + d - 1;
    /* A pair of digits per byte, pairs aligned on the decimal point: an even digit count whose
     * leading digit sits at an even power of ten straddles one extra pair. */
    return 1 + (size_t)((d + 1) / 2) + (d % 2 == 0 && adj % 2 == 0 ? 1 : 0) + (n->neg ? 1 : 0);
}
