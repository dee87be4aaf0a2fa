/* libs/num -- DynamoDB numbers, exact: up to 38 significant digits, magnitude 1E-130 ..
 * 9.9999999999999999999999999999999999999E+125 or zero. Sign, 128-bit coefficient and decimal
 * exponent; parsing, canonical text, comparison and +/- never go through a double. */
#ifndef DYN_LIBS_NUM_NUM_H
#define DYN_LIBS_NUM_NUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libs/err/err.h"

typedef struct dyn_num {
    unsigned __int128 coef;   /* significant digits without trailing zeros; 0 for zero; < 10^38 */
    int32_t exp;              /* value = (neg ? -1 : 1) * coef * 10^exp; 0 when coef == 0 */
    bool neg;                 /* never set for zero */
} dyn_num;

#define DYN_NUM_TEXT_MAX 200  /* buffer size that fits any canonical text + NUL */
#define DYN_NUM_DIGITS_MAX 38 /* significant digits */
#define DYN_NUM_ADJ_EXP_MAX 125   /* exponent of the leading digit, largest allowed */
#define DYN_NUM_ADJ_EXP_MIN (-130) /* exponent of the leading digit, smallest allowed */

/* DynamoDB's messages (*msg on DYN_EVALIDATION points at one of these). */
#define DYN_NUM_MSG_NOT_NUMERIC "The parameter cannot be converted to a numeric value"
#define DYN_NUM_MSG_OVERFLOW                                                                   \
    "Number overflow. Attempting to store a number with magnitude larger than supported range"
#define DYN_NUM_MSG_UNDERFLOW                                                                  \
    "Number underflow. Attempting to store a number with magnitude smaller than supported range"
#define DYN_NUM_MSG_DIGITS "Attempting to store more than 38 significant digits in a Number"

/* Parses s[0..len) (need not be NUL-terminated) with Java BigDecimal's grammar, which is what
 * DynamoDB accepts: [+-] (digits [. [digits]] | . digits) [(e|E) [+-] digits]. So `+3`, `.5`,
 * `5.`, `0001.23`, `1e+5`, `-17.4E37` are numbers; ``, `.`, `1e`, ` 1`, `1 `, `0x10`, `NaN`,
 * `Infinity`, `1.2.3` are not. Exponents of any length are range-checked by value (AWS answers
 * `1e99999999999` with overflow), zero is zero whatever its exponent. Checks, in dynalite's
 * order: overflow, underflow, more than 38 significant digits (leading and trailing zeros do not
 * count). On DYN_EVALIDATION *msg (if msg != NULL) is one of the static DYN_NUM_MSG_*; for
 * DYN_NUM_MSG_NOT_NUMERIC DynamoDB's reply appends ": " and the input as sent, which is the
 * caller's to format. *out is written only on DYN_OK. */
dyn_err dyn_num_parse(const char *s, size_t len, dyn_num *out, const char **msg);

/* -1, 0 or 1 as a <, ==, > b numerically. */
int dyn_num_cmp(const dyn_num *a, const dyn_num *b);

/* Exact a + b / a - b into *out (may alias a or b). A result outside the range, or one that needs
 * more than 38 significant digits (1e50 + 1), is DYN_EVALIDATION. AWS reports precision loss in
 * arithmetic as "Number overflow..." (observed: SET b = :a + :b with 1e50 and 1), so that is the
 * message for both; a result whose magnitude is below 1E-130 (possible only through
 * cancellation, e.g. 1.0000000000000000000000000000000000001E-130 - 1E-130) gets
 * "Number underflow...". *out is written only on DYN_OK. */
dyn_err dyn_num_add(const dyn_num *a, const dyn_num *b, dyn_num *out, const char **msg);
dyn_err dyn_num_sub(const dyn_num *a, const dyn_num *b, dyn_num *out, const char **msg);

/* Writes the canonical text DynamoDB returns for a stored number: plain decimal, no exponent, no
 * '+', no leading zeros, no trailing fractional zeros, "0" for zero ("1E3" -> "1000", "1E-5" ->
 * "0.00001"). NUL-terminates when cap > 0 (truncating to cap - 1 characters); returns the full
 * length, which is < DYN_NUM_TEXT_MAX, like snprintf. */
size_t dyn_num_format(const dyn_num *n, char *buf, size_t cap);

/* DynamoDB item-size bytes of this number. Digits are stored in base-100 pairs aligned on the
 * decimal point plus one byte of sign/exponent, plus one for negatives (dynalite's AWS-fitted
 * formula): zero = 1, else 1 + ceil(d/2) + (d even && leading-digit exponent even) + neg. */
size_t dyn_num_size(const dyn_num *n);

bool dyn_num_is_zero(const dyn_num *n);

/* Helpers. */
int dyn_num_digits(const dyn_num *n);        /* significant digits; 0 for zero */
int dyn_num_adj_exp(const dyn_num *n);       /* exponent of the leading digit; 0 for zero */
void dyn_num_neg(const dyn_num *a, dyn_num *out);   /* -a (zero stays zero) */
void dyn_num_from_i64(int64_t v, dyn_num *out);
#endif /* DYN_LIBS_NUM_NUM_H */
