/* tests/fuzz -- libs/num: dyn_num_parse of arbitrary bytes must never crash; a parsed number's
 * canonical text must reparse to the same number; add/sub/cmp of the two halves of the input
 * (split at the first ',' or in the middle) must agree with each other. */
#include <stdbool.h>
#include <string.h>

#include "libs/num/num.h"
#include "tests/fuzz/fuzz.h"

static bool
num_same(const dyn_num *a, const dyn_num *b)
{
    return a->coef == b->coef && a->exp == b->exp && a->neg == b->neg;
}

static int
sign(int x)
{
    return (x > 0) - (x < 0);
}

/* The invariants num.h promises for every parsed or computed number. */
static void
check_canonical(const dyn_num *n)
{
    static const unsigned __int128 ten38 =
        (unsigned __int128)10000000000000000000ull * 10000000000000000000ull;
    char text[DYN_NUM_TEXT_MAX], small[8];
    const char *msg = NULL;
    size_t len, len2;
    dyn_num back;

    if (n->coef == 0) {
        FZ_CHECK(n->exp == 0 && !n->neg);
        FZ_CHECK(dyn_num_is_zero(n) && dyn_num_digits(n) == 0 && dyn_num_size(n) == 1);
    } else {
        FZ_CHECK(n->coef % 10 != 0);   /* no trailing zeros */
        FZ_CHECK(n->coef < ten38);
        FZ_CHECK(dyn_num_digits(n) >= 1 && dyn_num_digits(n) <= DYN_NUM_DIGITS_MAX);
        FZ_CHECK(dyn_num_adj_exp(n) >= DYN_NUM_ADJ_EXP_MIN);
        FZ_CHECK(dyn_num_adj_exp(n) <= DYN_NUM_ADJ_EXP_MAX);
        FZ_CHECK(dyn_num_size(n) >= 2 && dyn_num_size(n) <= 22);
    }
    len = dyn_num_format(n, text, sizeof text);
    FZ_CHECK(len < DYN_NUM_TEXT_MAX && strlen(text) == len);
    /* snprintf semantics: a short buffer truncates but reports the full length */
    len2 = dyn_num_format(n, small, sizeof small);
    FZ_CHECK(len2 == len && strlen(small) == (len < sizeof small ? len : sizeof small - 1));
    FZ_CHECK(strncmp(small, text, strlen(small)) == 0);
    FZ_CHECK(dyn_num_format(n, NULL, 0) == len);
    FZ_CHECK(dyn_num_parse(text, len, &back, &msg) == DYN_OK);
    FZ_CHECK(num_same(n, &back));
    FZ_CHECK(dyn_num_cmp(n, &back) == 0);
    /* canonical text: no '+', no exponent, no leading zero before a digit, no trailing '.' */
    FZ_CHECK(strchr(text, '+') == NULL && strchr(text, 'e') == NULL && strchr(text, 'E') == NULL);
    FZ_CHECK(text[len - 1] != '.');
    if (strchr(text, '.') != NULL)
        FZ_CHECK(text[len - 1] != '0');
}

static void
check_pair(const dyn_num *a, const dyn_num *b)
{
    dyn_num sum, diff, back, neg_b, alt;
    const char *msg = NULL;
    int c = dyn_num_cmp(a, b);

    FZ_CHECK(c >= -1 && c <= 1);
    FZ_CHECK(dyn_num_cmp(b, a) == -c);
    FZ_CHECK((c == 0) == num_same(a, b));   /* canonical: equal values, equal structs */
    dyn_num_neg(b, &neg_b);
    if (dyn_num_add(a, b, &sum, &msg) == DYN_OK) {
        check_canonical(&sum);
        /* exact arithmetic: (a + b) - b is a again, which is representable */
        FZ_CHECK(dyn_num_sub(&sum, b, &back, &msg) == DYN_OK);
        FZ_CHECK(num_same(&back, a));
        FZ_CHECK(dyn_num_add(b, a, &alt, &msg) == DYN_OK && num_same(&alt, &sum));
    } else {
        FZ_CHECK(msg != NULL);
    }
    msg = NULL;
    if (dyn_num_sub(a, b, &diff, &msg) == DYN_OK) {
        check_canonical(&diff);
        FZ_CHECK(sign((int)!dyn_num_is_zero(&diff) * (diff.neg ? -1 : 1)) == c);
        FZ_CHECK(dyn_num_add(a, &neg_b, &alt, &msg) == DYN_OK && num_same(&alt, &diff));
    } else {
        FZ_CHECK(msg != NULL);
    }
    /* out may alias an input */
    alt = *a;
    if (dyn_num_add(&alt, b, &alt, &msg) == DYN_OK)
        FZ_CHECK(dyn_num_add(a, b, &sum, &msg) == DYN_OK && num_same(&alt, &sum));
}

static bool
parse(const uint8_t *p, size_t n, dyn_num *out)
{
    const char *msg = NULL;
    dyn_err rc = dyn_num_parse((const char *)p, n, out, &msg);

    if (rc == DYN_OK) {
        check_canonical(out);
        return true;
    }
    FZ_CHECK(rc == DYN_EVALIDATION);
    FZ_CHECK(msg != NULL);
    FZ_CHECK(strcmp(msg, DYN_NUM_MSG_NOT_NUMERIC) == 0 || strcmp(msg, DYN_NUM_MSG_OVERFLOW) == 0 ||
             strcmp(msg, DYN_NUM_MSG_UNDERFLOW) == 0 || strcmp(msg, DYN_NUM_MSG_DIGITS) == 0);
    return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *comma = size > 0 ? memchr(data, ',', size) : NULL;
    size_t cut = comma != NULL ? (size_t)(comma - data) : size / 2;
    size_t rest = comma != NULL ? cut + 1 : cut;
    dyn_num whole, a, b, na;

    (void)parse(data, size, &whole);
    if (parse(data, cut, &a)) {
        check_pair(&a, &a);
        dyn_num_neg(&a, &na);
        check_canonical(&na);
        check_pair(&a, &na);
        if (parse(data + rest, size - rest, &b))
            check_pair(&a, &b);
    }
    return 0;
}
