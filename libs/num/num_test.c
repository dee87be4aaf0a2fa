/* libs/num unit tests: table-driven syntax, canonical text, limits, cmp, add/sub and size. The
 * randomised comparison with Python's decimal is num_oracle_test. */
#include "libs/num/num.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "libs/testing/dyn_test.h"

static int cases_run;   /* table rows and generated cases checked, printed at the end */

/* Returns s with its "{Nc}" runs expanded to N copies of c ("1{3,0}" -> "1000"); static buffer,
 * one of 4 rotating so that a few can be live at once. */
static const char *
xp(const char *s)
{
    static char bufs[4][2048];
    static int next;
    char *out = bufs[next++ % 4], *o = out;

    while (*s) {
        if (*s == '{') {
            int n = 0;
            char c;
            for (s++; *s >= '0' && *s <= '9'; s++)
                n = n * 10 + (*s - '0');
            s++;   /* ',' */
            c = *s++;
            s++;   /* '}' */
            while (n-- > 0 && o < out + sizeof bufs[0] - 1)
                *o++ = c;
        } else if (o < out + sizeof bufs[0] - 1) {
            *o++ = *s++;
        } else {
            s++;
        }
    }
    *o = '\0';
    return out;
}

static const char *
fmt(const dyn_num *n)
{
    static char bufs[4][DYN_NUM_TEXT_MAX];
    static int next;
    char *b = bufs[next++ % 4];
    size_t len = dyn_num_format(n, b, DYN_NUM_TEXT_MAX);
    DT_TRUE(len < DYN_NUM_TEXT_MAX);
    DT_EQ_INT(strlen(b), len);
    return b;
}

static dyn_num
num(const char *s)
{
    dyn_num n = { 0, 0, false };
    const char *msg = NULL;
    dyn_err rc = dyn_num_parse(s, strlen(s), &n, &msg);
    if (rc != DYN_OK)
        DT_FAIL_("num(\"%s\") failed: %s", s, msg ? msg : "?");
    return n;
}

/* Parses in and checks the canonical text, that the text parses back to the identical struct,
 * and the struct invariants. */
static void
check_ok(const char *in, const char *want)
{
    dyn_num n, back;
    const char *msg = NULL;
    char text[DYN_NUM_TEXT_MAX];

    cases_run++;
    if (dyn_num_parse(in, strlen(in), &n, &msg) != DYN_OK) {
        DT_FAIL_("parse(\"%s\") failed: %s", in, msg ? msg : "?");
        return;
    }
    dyn_num_format(&n, text, sizeof text);
    if (strcmp(text, want) != 0)
        DT_FAIL_("parse(\"%s\") -> \"%s\", want \"%s\"", in, text, want);
    DT_OK(dyn_num_parse(text, strlen(text), &back, NULL));
    DT_TRUE(back.coef == n.coef && back.exp == n.exp && back.neg == n.neg);
    DT_TRUE(n.coef == 0 ? (n.exp == 0 && !n.neg) : n.coef % 10 != 0);
    DT_TRUE(dyn_num_digits(&n) <= DYN_NUM_DIGITS_MAX);
}

static void
check_err_len(const char *in, size_t len, const char *want_msg)
{
    dyn_num n = { 7, 7, true };
    const char *msg = NULL;
    dyn_err rc = dyn_num_parse(in, len, &n, &msg);

    cases_run++;
    if (rc != DYN_EVALIDATION || msg == NULL || strcmp(msg, want_msg) != 0)
        DT_FAIL_("parse(\"%.*s\") -> rc %d msg \"%s\", want \"%s\"", (int)len, in, (int)rc,
                 msg ? msg : "(null)", want_msg);
    DT_TRUE(n.coef == 7 && n.exp == 7 && n.neg);   /* untouched on error */
}

static void
check_err(const char *in, const char *want_msg)
{
    check_err_len(in, strlen(in), want_msg);
}

/* --- syntax and canonical text --- */

static const struct {
    const char *in, *want;
} ok_cases[] = {
    /* The forms AWS accepts (Alternator test_invalid_numbers, dynoxide #109). */
    { "3", "3" }, { "-7.1234", "-7.1234" }, { "-17e5", "-1700000" }, { "+3", "3" },
    { ".123", "0.123" }, { "0001.23", "1.23" }, { "1e+5", "100000" }, { "+5", "5" },
    { "+1.5", "1.5" }, { "+0", "0" }, { "+1e2", "100" }, { "1e+2", "100" }, { "1.5E+3", "1500" },
    { "-7", "-7" },
    /* DynamoDB's normalisation table (Alternator test_number_output_normalization). */
    { "1", "1" }, { "123", "123" }, { "-5", "-5" }, { "0", "0" }, { "10", "10" }, { "100", "100" },
    { "1000", "1000" }, { "007", "7" }, { "001.23", "1.23" }, { "00", "0" }, { "1.0", "1" },
    { "1.00", "1" }, { "1.10", "1.1" }, { "100.000", "100" }, { "0.0", "0" }, { "0.10", "0.1" },
    { "1e3", "1000" }, { "1E3", "1000" }, { "1e+3", "1000" }, { "1E+3", "1000" }, { "5e1", "50" },
    { "-3e2", "-300" }, { "1.5e2", "150" }, { "1.23e4", "12300" }, { "1e-3", "0.001" },
    { "5e-1", "0.5" }, { "123e-2", "1.23" }, { "1.23e-1", "0.123" }, { "1.0e3", "1000" },
    { "1.00e2", "100" }, { "1.0e-1", "0.1" }, { "-0", "0" }, { "-0.0", "0" }, { "0e5", "0" },
    { "0.0e3", "0" }, { "0e-5", "0" }, { ".5", "0.5" }, { "-.5", "-0.5" },
    { "1e20", "100000000000000000000" }, { "9.9e10", "99000000000" },
    { "1e-20", "0.00000000000000000001" }, { "3.14159", "3.14159" }, { "-273.15", "-273.15" },
    { "0.001", "0.001" }, { "1.000E3", "1000" }, { "1.50", "1.5" }, { "1E-5", "0.00001" },
    /* BigDecimal's grammar: a dot needs digits on one side only. */
    { "5.", "5" }, { "-5.", "-5" }, { "+5.", "5" }, { "5.e2", "500" }, { ".5e1", "5" },
    { "0.", "0" }, { ".0", "0" }, { "-.0", "0" }, { "+.0e-5", "0" }, { "000", "0" },
    { "00.00", "0" }, { "-000.000e+000", "0" },
    /* Exponents: signs, leading zeros, zero with any exponent. */
    { "1e0", "1" }, { "1e-0", "1" }, { "1e+0", "1" }, { "1E007", "10000000" },
    { "1e00000000000000000000000000000000000000000001", "10" }, { "0e99999999999", "0" },
    { "-0e-99999999999999999999999", "0" }, { "0.000e2147483648", "0" },
    { "123.456e1", "1234.56" }, { "123.456e3", "123456" }, { "123.456e-3", "0.123456" },
    { "-123.456e-7", "-0.0000123456" }, { "10.01", "10.01" }, { "1010", "1010" },
    { "0.000100", "0.0001" }, { "-0.000100e4", "-1" }, { "12300e-2", "123" },
    { "12300e-5", "0.123" }, { "1230000000e-12", "0.00123" }, { "0.5e-0", "0.5" },
    { "100.5", "100.5" }, { "-100.05", "-100.05" }, { "1000000.000001", "1000000.000001" },
    { "2e1", "20" }, { "25e-1", "2.5" }, { "-9", "-9" }, { "9.", "9" }, { "0009.9000", "9.9" },
    /* dynalite's "should put really long numbers" (AWS-verified). */
    { "0000012345678901234567890123456789012345678", "12345678901234567890123456789012345678" },
    { "-00001.23456789012345678901234567890123456780000",
      "-1.2345678901234567890123456789012345678" },
    /* 38 significant digits: leading and trailing zeros do not count. */
    { "12345678901234567890123456789012345678", "12345678901234567890123456789012345678" },
    { "-99999999999999999999999999999999999999", "-99999999999999999999999999999999999999" },
    { "1234567890123456789012345678901234567800", "1234567890123456789012345678901234567800" },
    { "1234567890123456789012345678901234567.8000", "1234567890123456789012345678901234567.8" },
    { "0.00000012345678901234567890123456789012345678",
      "0.00000012345678901234567890123456789012345678" },
    { "1.0000000000000000000000000000000000001", "1.0000000000000000000000000000000000001" },
    { "1000000000000000000000000000000000000.1", "1000000000000000000000000000000000000.1" },
    { "100000000000000000000000000000000000000000000000000",
      "100000000000000000000000000000000000000000000000000" },
    { "0.10000000000000000000000000000000000000000000000000", "0.1" },
};

static void
test_parse_ok_table(void)
{
    for (size_t i = 0; i < sizeof ok_cases / sizeof ok_cases[0]; i++)
        check_ok(ok_cases[i].in, ok_cases[i].want);
}

static const struct {
    const char *in, *msg;
} err_cases[] = {
    /* Not numbers: grammar (Alternator test_invalid_numbers, AWS captures, BigDecimal). */
    { "", DYN_NUM_MSG_NOT_NUMERIC }, { " ", DYN_NUM_MSG_NOT_NUMERIC },
    { "+", DYN_NUM_MSG_NOT_NUMERIC }, { "-", DYN_NUM_MSG_NOT_NUMERIC },
    { ".", DYN_NUM_MSG_NOT_NUMERIC }, { "+.", DYN_NUM_MSG_NOT_NUMERIC },
    { "-.", DYN_NUM_MSG_NOT_NUMERIC }, { "e5", DYN_NUM_MSG_NOT_NUMERIC },
    { ".e5", DYN_NUM_MSG_NOT_NUMERIC }, { "+e2", DYN_NUM_MSG_NOT_NUMERIC },
    { "1e", DYN_NUM_MSG_NOT_NUMERIC }, { "1e+", DYN_NUM_MSG_NOT_NUMERIC },
    { "1e-", DYN_NUM_MSG_NOT_NUMERIC }, { "1E+-1", DYN_NUM_MSG_NOT_NUMERIC },
    { "+-1", DYN_NUM_MSG_NOT_NUMERIC }, { "-+1", DYN_NUM_MSG_NOT_NUMERIC },
    { "--1", DYN_NUM_MSG_NOT_NUMERIC }, { "++1", DYN_NUM_MSG_NOT_NUMERIC },
    { "1.2.3", DYN_NUM_MSG_NOT_NUMERIC }, { "1..2", DYN_NUM_MSG_NOT_NUMERIC },
    { "..5", DYN_NUM_MSG_NOT_NUMERIC }, { "5..", DYN_NUM_MSG_NOT_NUMERIC },
    { " 1", DYN_NUM_MSG_NOT_NUMERIC }, { "1 ", DYN_NUM_MSG_NOT_NUMERIC },
    { "1\t", DYN_NUM_MSG_NOT_NUMERIC }, { "\n1", DYN_NUM_MSG_NOT_NUMERIC },
    { "+ 1", DYN_NUM_MSG_NOT_NUMERIC }, { "1 e5", DYN_NUM_MSG_NOT_NUMERIC },
    { "1e 5", DYN_NUM_MSG_NOT_NUMERIC }, { "0x10", DYN_NUM_MSG_NOT_NUMERIC },
    { "0X1F", DYN_NUM_MSG_NOT_NUMERIC }, { "NaN", DYN_NUM_MSG_NOT_NUMERIC },
    { "nan", DYN_NUM_MSG_NOT_NUMERIC }, { "-NaN", DYN_NUM_MSG_NOT_NUMERIC },
    { "Infinity", DYN_NUM_MSG_NOT_NUMERIC }, { "-Infinity", DYN_NUM_MSG_NOT_NUMERIC },
    { "inf", DYN_NUM_MSG_NOT_NUMERIC }, { "dog", DYN_NUM_MSG_NOT_NUMERIC },
    { "-dog", DYN_NUM_MSG_NOT_NUMERIC }, { "abc", DYN_NUM_MSG_NOT_NUMERIC },
    { "1,000", DYN_NUM_MSG_NOT_NUMERIC }, { "1_000", DYN_NUM_MSG_NOT_NUMERIC },
    { "1e5.0", DYN_NUM_MSG_NOT_NUMERIC }, { "1e1.", DYN_NUM_MSG_NOT_NUMERIC },
    { "1d", DYN_NUM_MSG_NOT_NUMERIC }, { "1f", DYN_NUM_MSG_NOT_NUMERIC },
    { "1L", DYN_NUM_MSG_NOT_NUMERIC }, { "e", DYN_NUM_MSG_NOT_NUMERIC },
    { "E", DYN_NUM_MSG_NOT_NUMERIC }, { "1ee5", DYN_NUM_MSG_NOT_NUMERIC },
    { "1e5e5", DYN_NUM_MSG_NOT_NUMERIC }, { "1-", DYN_NUM_MSG_NOT_NUMERIC },
    { "1+", DYN_NUM_MSG_NOT_NUMERIC }, { "1e5+", DYN_NUM_MSG_NOT_NUMERIC },
    { "1+2", DYN_NUM_MSG_NOT_NUMERIC }, { "\"42.0\"", DYN_NUM_MSG_NOT_NUMERIC },
    { "\xd9\xa1", DYN_NUM_MSG_NOT_NUMERIC },   /* ARABIC-INDIC DIGIT ONE */
    { "\xef\xbc\x91", DYN_NUM_MSG_NOT_NUMERIC },   /* FULLWIDTH DIGIT ONE */
    { "true", DYN_NUM_MSG_NOT_NUMERIC }, { "null", DYN_NUM_MSG_NOT_NUMERIC },
    { "(1)", DYN_NUM_MSG_NOT_NUMERIC }, { "1/2", DYN_NUM_MSG_NOT_NUMERIC },
    /* Range (dynalite, AWS captures: exponents of any size are range-checked by value). */
    { "1e126", DYN_NUM_MSG_OVERFLOW }, { "-1e126", DYN_NUM_MSG_OVERFLOW },
    { "10e125", DYN_NUM_MSG_OVERFLOW }, { "1e99999999999", DYN_NUM_MSG_OVERFLOW },
    { "-1e99999999999", DYN_NUM_MSG_OVERFLOW }, { "1e2147483647", DYN_NUM_MSG_OVERFLOW },
    { "1e2147483648", DYN_NUM_MSG_OVERFLOW }, { "1e4294967296", DYN_NUM_MSG_OVERFLOW },
    { "1e9223372036854775807", DYN_NUM_MSG_OVERFLOW },
    { "1e99999999999999999999999999999999999", DYN_NUM_MSG_OVERFLOW },
    { "99999999999999999999999999999999999999e89", DYN_NUM_MSG_OVERFLOW },
    { "0.1e127", DYN_NUM_MSG_OVERFLOW }, { "1000e123", DYN_NUM_MSG_OVERFLOW },
    { "1e-131", DYN_NUM_MSG_UNDERFLOW }, { "-1e-131", DYN_NUM_MSG_UNDERFLOW },
    { "0.1e-130", DYN_NUM_MSG_UNDERFLOW }, { "1e-99999999999", DYN_NUM_MSG_UNDERFLOW },
    { "1e-2147483648", DYN_NUM_MSG_UNDERFLOW }, { "1e-9223372036854775808", DYN_NUM_MSG_UNDERFLOW },
    { "1e-99999999999999999999999999999999999", DYN_NUM_MSG_UNDERFLOW },
    { "0.00001e-126", DYN_NUM_MSG_UNDERFLOW }, { "123e-133", DYN_NUM_MSG_UNDERFLOW },
    /* More than 38 significant digits (dynalite, AWS captures). */
    { "123456789012345678901234567890123456789", DYN_NUM_MSG_DIGITS },
    { "-1.23456789012345678901234567890123456789", DYN_NUM_MSG_DIGITS },
    { "1234567890123456789012345678901234567890", DYN_NUM_MSG_DIGITS },
    { "1.00000000000000000000000000000000000001", DYN_NUM_MSG_DIGITS },
    { "3.14159265358979323846264338327950288419", DYN_NUM_MSG_DIGITS },
    { "314159265358979323846.264338327950288419", DYN_NUM_MSG_DIGITS },
    { "314159265358979323846264338327950288419e30", DYN_NUM_MSG_DIGITS },
    { "0.000123456789012345678901234567890123456789", DYN_NUM_MSG_DIGITS },
    { "10000000000000000000000000000000000000.1", DYN_NUM_MSG_DIGITS },
    /* Range is checked before digits (dynalite's order). */
    { "123456789012345678901234567890123456789e100", DYN_NUM_MSG_OVERFLOW },
    { "1.23456789012345678901234567890123456789e-131", DYN_NUM_MSG_UNDERFLOW },
};

static void
test_parse_err_table(void)
{
    for (size_t i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++)
        check_err(err_cases[i].in, err_cases[i].msg);
    /* Length-delimited: an embedded NUL or the bytes after len. */
    check_err_len("1\0", 2, DYN_NUM_MSG_NOT_NUMERIC);
    check_err_len("\0" "1", 2, DYN_NUM_MSG_NOT_NUMERIC);
    check_err_len("12", 0, DYN_NUM_MSG_NOT_NUMERIC);
    check_err_len("1e", 2, DYN_NUM_MSG_NOT_NUMERIC);
    {
        dyn_num n;
        DT_OK(dyn_num_parse("12xyz", 2, &n, NULL));   /* only the first 2 bytes */
        DT_EQ_STR(fmt(&n), "12");
        DT_ERR(dyn_num_parse("dog", 3, &n, NULL), DYN_EVALIDATION);   /* msg may be NULL */
        DT_ERR(dyn_num_parse(NULL, 0, &n, NULL), DYN_EVALIDATION);
        cases_run += 3;
    }
}

/* --- limits --- */

static void
test_limits(void)
{
    /* 9.9999999999999999999999999999999999999E+125: 38 nines, then 88 zeros. */
    char max_text[DYN_NUM_TEXT_MAX];

    strcpy(max_text, xp("{38,9}{88,0}"));
    check_ok("9.9999999999999999999999999999999999999E+125", max_text);
    check_ok("9.9999999999999999999999999999999999999e125", max_text);
    check_ok(max_text, max_text);
    check_ok("-9.9999999999999999999999999999999999999E+125", xp("-{38,9}{88,0}"));
    check_ok("0009.99999999999999999999999999999999999990000e125", max_text);
    check_ok("-0009.99999999999999999999999999999999999990000e125", xp("-{38,9}{88,0}"));
    check_ok("1E+125", xp("1{125,0}"));
    check_ok("1e125", xp("1{125,0}"));
    check_ok("99999999999999999999999999999999999999E+88", max_text);
    check_ok("0.99999999999999999999999999999999999999E+126", max_text);
    /* Just past the top: a digit more (digits error) or an exponent more (overflow). */
    check_err("9.99999999999999999999999999999999999999E+125", DYN_NUM_MSG_DIGITS);
    check_err("1E+126", DYN_NUM_MSG_OVERFLOW);
    check_err("-1E+126", DYN_NUM_MSG_OVERFLOW);
    check_err("10E+125", DYN_NUM_MSG_OVERFLOW);
    check_err(xp("1{126,0}"), DYN_NUM_MSG_OVERFLOW);
    check_err(xp("{38,9}{89,0}"), DYN_NUM_MSG_OVERFLOW);
    /* 1E-130: "0." then 129 zeros then 1. */
    check_ok("1E-130", xp("0.{129,0}1"));
    check_ok("-1E-130", xp("-0.{129,0}1"));
    check_ok("0001.000e-130", xp("0.{129,0}1"));
    check_ok("-0001.000e-130", xp("-0.{129,0}1"));
    check_ok("0.1E-129", xp("0.{129,0}1"));
    check_ok("10E-131", xp("0.{129,0}1"));
    check_ok(xp("0.{129,0}1"), xp("0.{129,0}1"));
    /* The longest canonical text: 38 digits starting at 10^-130. */
    check_ok("-1.0000000000000000000000000000000000001E-130", xp("-0.{129,0}1{36,0}1"));
    check_ok("9.9999999999999999999999999999999999999E-130", xp("0.{129,0}{38,9}"));
    {
        dyn_num n = num("-1.2345678901234567890123456789012345678E-130");
        char buf[DYN_NUM_TEXT_MAX];
        size_t len = dyn_num_format(&n, buf, sizeof buf);
        DT_EQ_INT(len, 1 + 2 + 129 + 38);
        DT_TRUE(len + 1 <= DYN_NUM_TEXT_MAX);
        cases_run++;
    }
    /* Just past the bottom. */
    check_err("9.9999999999999999999999999999999999999E-131", DYN_NUM_MSG_UNDERFLOW);
    check_err("1E-131", DYN_NUM_MSG_UNDERFLOW);
    check_err("0.01E-129", DYN_NUM_MSG_UNDERFLOW);
    check_err(xp("0.{130,0}1"), DYN_NUM_MSG_UNDERFLOW);
    check_err(xp("-0.{130,0}1"), DYN_NUM_MSG_UNDERFLOW);
    /* Very long inputs whose zeros do not count. */
    check_ok(xp("{300,0}1.{300,0}"), "1");
    check_ok(xp("0.{120,0}1{400,0}e-9"), xp("0.{129,0}1"));
    check_ok(xp("1{125,0}.{50,0}"), xp("1{125,0}"));
    check_err(xp("1{126,0}.{50,0}"), DYN_NUM_MSG_OVERFLOW);
}

/* Every leading-digit exponent from -135 to 130 for 1eX and -9.99..9eX (38 nines): accepted
 * exactly inside [-130, 125], and the text is what a decimal expansion says. */
static void
test_exponent_sweep(void)
{
    char in[128], want[DYN_NUM_TEXT_MAX + 64];

    for (int adj = -135; adj <= 130; adj++) {
        bool inside = adj >= DYN_NUM_ADJ_EXP_MIN && adj <= DYN_NUM_ADJ_EXP_MAX;
        const char *range_msg = adj > 0 ? DYN_NUM_MSG_OVERFLOW : DYN_NUM_MSG_UNDERFLOW;

        snprintf(in, sizeof in, "1e%d", adj);
        if (adj >= 0) {   /* "1" and adj zeros */
            want[0] = '1';
            memset(want + 1, '0', (size_t)adj);
            want[1 + adj] = '\0';
        } else {   /* "0." then -adj - 1 zeros then "1" */
            memcpy(want, "0.", 2);
            memset(want + 2, '0', (size_t)(-adj - 1));
            strcpy(want + 2 + (-adj - 1), "1");
        }
        if (inside)
            check_ok(in, want);
        else
            check_err(in, range_msg);

        snprintf(in, sizeof in, "-9.9999999999999999999999999999999999999E%+d", adj);
        if (inside) {
            dyn_num n = num(in), m;
            DT_EQ_INT(dyn_num_adj_exp(&n), adj);
            DT_EQ_INT(dyn_num_digits(&n), 38);
            DT_OK(dyn_num_parse(fmt(&n), strlen(fmt(&n)), &m, NULL));
            DT_EQ_INT(dyn_num_cmp(&n, &m), 0);
            cases_run++;
        } else {
            check_err(in, range_msg);
        }
    }
}

/* n digits, spelled with leading zeros, a trailing fraction of zeros, and in exponent form:
 * accepted exactly when n <= 38. */
static void
test_digit_count_sweep(void)
{
    char digits[64], in[160];

    for (int n = 1; n <= 45; n++) {
        for (int i = 0; i < n; i++)
            digits[i] = (char)('1' + (i * 7) % 9);
        digits[n] = '\0';
        for (int form = 0; form < 4; form++) {
            switch (form) {
            case 0: snprintf(in, sizeof in, "%s", digits); break;
            case 1: snprintf(in, sizeof in, "0000%s.000", digits); break;
            case 2: snprintf(in, sizeof in, "-0.%se3", digits); break;
            default: snprintf(in, sizeof in, "%s000e-40", digits); break;
            }
            if (n <= DYN_NUM_DIGITS_MAX) {
                dyn_num v = num(in);
                DT_EQ_INT(dyn_num_digits(&v), n);
                cases_run++;
            } else {
                check_err(in, DYN_NUM_MSG_DIGITS);
            }
        }
    }
}

/* The struct is canonical: equal values in any spelling are the identical struct. */
static void
test_canonical_struct(void)
{
    static const char *const thousand[] = { "1000", "1E3", "1.000E3", "1e+3", "+1000.0",
                                            "001000", "10e2", "0.001e6", "1000000e-3" };
    for (size_t i = 0; i < sizeof thousand / sizeof thousand[0]; i++) {
        dyn_num n = num(thousand[i]);
        DT_TRUE(n.coef == 1 && n.exp == 3 && !n.neg);
        cases_run++;
    }
    dyn_num z = num("-0.000e-7");
    DT_TRUE(z.coef == 0 && z.exp == 0 && !z.neg && dyn_num_is_zero(&z));
    dyn_num h = num("-0.0500");
    DT_TRUE(h.coef == 5 && h.exp == -2 && h.neg && !dyn_num_is_zero(&h));
    cases_run += 2;
}

static void
test_format_truncates_like_snprintf(void)
{
    dyn_num n = num("-12345.678");
    char buf[8];

    DT_EQ_INT(dyn_num_format(&n, buf, sizeof buf), 10);
    DT_EQ_STR(buf, "-12345.");
    DT_EQ_INT(dyn_num_format(&n, buf, 1), 10);
    DT_EQ_STR(buf, "");
    DT_EQ_INT(dyn_num_format(&n, NULL, 0), 10);
    cases_run += 3;
}

/* --- comparison --- */

static const struct {
    const char *a, *b;
    int want;
} cmp_cases[] = {
    { "1", "2", -1 }, { "2", "1", 1 }, { "1", "1.0", 0 }, { "1000", "1E3", 0 },
    { "-1", "1", -1 }, { "0", "-0", 0 }, { "-0", "1", -1 }, { "0", "-1e-130", 1 },
    { "0", "1e-130", -1 }, { "-1", "-2", 1 }, { "0.1", "0.09", 1 }, { "1e125", "9.9e124", 1 },
    { "-1e125", "-9.9e124", -1 }, { "12", "120", -1 }, { "1.5", "1.45", 1 }, { "99", "100", -1 },
    { "1e-130", "2e-130", -1 }, { "0.5", "0.50", 0 }, { "-0.5", "-.5", 0 },
    { "12345678901234567890123456789012345678", "12345678901234567890123456789012345679", -1 },
    { "1.2345678901234567890123456789012345678", "1.2345678901234567890123456789012345677", 1 },
    { "10", "9.9999999999999999999999999999999999999", 1 },
    { "-10", "-9.9999999999999999999999999999999999999", -1 },
    { "5", "5.0000000000000000000000000000000000001", -1 },
    { "-5", "-5.0000000000000000000000000000000000001", 1 },
    { "9.9999999999999999999999999999999999999e125", "1e125", 1 },
    { "-9.9999999999999999999999999999999999999e125", "1e-130", -1 },
    { "-9.9999999999999999999999999999999999999e125",
      "-9.9999999999999999999999999999999999998e125", -1 },
    { "1.1", "1.01", 1 }, { "1.01", "1.1", -1 }, { "101", "11", 1 }, { "0.011", "0.11", -1 },
    { "123", "123.0000000001", -1 }, { "-123", "-123.0000000001", 1 }, { "7", "7", 0 },
    { "2", "10", -1 }, { "-2", "-10", 1 }, { "0.2", "0.10", 1 }, { "1e10", "9999999999", 1 },
};

static void
test_cmp_table(void)
{
    for (size_t i = 0; i < sizeof cmp_cases / sizeof cmp_cases[0]; i++) {
        dyn_num a = num(cmp_cases[i].a), b = num(cmp_cases[i].b);
        int got = dyn_num_cmp(&a, &b), back = dyn_num_cmp(&b, &a);
        if (got != cmp_cases[i].want || back != -cmp_cases[i].want)
            DT_FAIL_("cmp(%s, %s) = %d / %d, want %d", cmp_cases[i].a, cmp_cases[i].b, got, back,
                     cmp_cases[i].want);
        DT_EQ_INT(dyn_num_cmp(&a, &a), 0);
        cases_run++;
    }
}

/* A list in ascending order: every pair compares as its positions do. */
static void
test_cmp_total_order(void)
{
    static const char *const asc[] = {
        "-9.9999999999999999999999999999999999999e125", "-1e125", "-1e38", "-123456789",
        "-1000", "-999.99", "-2", "-1.5", "-1.49", "-1", "-0.5", "-1e-129", "-1e-130", "0",
        "1e-130", "1.0000000000000000000000000000000000001e-130", "1e-129", "0.000123", "0.1",
        "0.12", "0.2", "1", "1.0000000000000000000000000000000000001", "1.1", "2", "9.99", "10",
        "10.5", "11", "99", "100", "1e38", "1e125", "9.9999999999999999999999999999999999999e125",
    };
    size_t n = sizeof asc / sizeof asc[0];
    for (size_t i = 0; i < n; i++) {
        dyn_num a = num(asc[i]);
        for (size_t j = 0; j < n; j++) {
            dyn_num b = num(asc[j]);
            int want = i < j ? -1 : i > j ? 1 : 0;
            if (dyn_num_cmp(&a, &b) != want)
                DT_FAIL_("cmp(%s, %s) != %d", asc[i], asc[j], want);
            cases_run++;
        }
    }
}

/* --- add / sub --- */

static const struct {
    char op;            /* '+' or '-' */
    const char *a, *b;
    const char *want;   /* result in any spelling, or NULL */
    const char *msg;    /* when want == NULL */
} arith_cases[] = {
    { '+', "1", "2", "3", NULL }, { '+', "0.1", "0.2", "0.3", NULL },
    { '-', "0.3", "0.1", "0.2", NULL },
    /* Alternator test_update_expression_plus_precision / _overflow / _imprecise (AWS). */
    { '+', "1", "10000000000000000000000", "10000000000000000000001", NULL },
    { '-', "10000000000000000000000", "1", "9999999999999999999999", NULL },
    { '+', "9e125", "9e125", NULL, DYN_NUM_MSG_OVERFLOW },
    { '-', "9e125", "-9e125", NULL, DYN_NUM_MSG_OVERFLOW },
    { '+', "9e125", "9e124", "9.9e125", NULL },
    { '+', "1e50", "1", NULL, DYN_NUM_MSG_OVERFLOW },
    { '-', "1e50", "1", NULL, DYN_NUM_MSG_OVERFLOW },
    /* 38 vs 39 digits. */
    { '+', "1e37", "1", "10000000000000000000000000000000000001", NULL },
    { '+', "1e38", "1", NULL, DYN_NUM_MSG_OVERFLOW },
    { '+', "99999999999999999999999999999999999999", "1", "1e38", NULL },
    { '+', "99999999999999999999999999999999999999", "2", NULL, DYN_NUM_MSG_OVERFLOW },
    { '+', "1", "1e-37", "1.0000000000000000000000000000000000001", NULL },
    { '+', "1", "1e-38", NULL, DYN_NUM_MSG_OVERFLOW },
    { '-', "1", "1e-38", "0.99999999999999999999999999999999999999", NULL },
    { '-', "1", "1e-39", NULL, DYN_NUM_MSG_OVERFLOW },
    { '+', "1e125", "-1e-130", NULL, DYN_NUM_MSG_OVERFLOW },
    { '+', "1e-100", "1e-130", "1.000000000000000000000000000001e-100", NULL },
    { '+', "12345678901234567890123456789012345678", "87654321098765432109876543210987654322",
      "1e38", NULL },
    { '+', "0.12345678901234567890123456789012345678", "0.87654321098765432109876543210987654322",
      "1", NULL },
    { '+', "12345678901234567890123456789012345678", "87654321098765432109876543210987654323",
      NULL, DYN_NUM_MSG_OVERFLOW },
    /* Range at the edges. */
    { '+', "9.9999999999999999999999999999999999999e125", "1e88", NULL, DYN_NUM_MSG_OVERFLOW },
    { '+', "9.9999999999999999999999999999999999999e125", "-1e88",
      "9.9999999999999999999999999999999999998e125", NULL },
    { '-', "-9.9999999999999999999999999999999999999e125", "1e88", NULL, DYN_NUM_MSG_OVERFLOW },
    { '+', "9.9999999999999999999999999999999999999e125",
      "9.9999999999999999999999999999999999999e125", NULL, DYN_NUM_MSG_OVERFLOW },
    { '-', "-9.9999999999999999999999999999999999999e125",
      "9.9999999999999999999999999999999999999e125", NULL, DYN_NUM_MSG_OVERFLOW },
    { '+', "5e125", "5e125", NULL, DYN_NUM_MSG_OVERFLOW },
    { '+', "1e125", "1e125", "2e125", NULL }, { '+', "1e125", "-1e125", "0", NULL },
    { '-', "1.0000000000000000000000000000000000001e-130", "1e-130", NULL, DYN_NUM_MSG_UNDERFLOW },
    { '+', "-1.0000000000000000000000000000000000001e-130", "1e-130", NULL,
      DYN_NUM_MSG_UNDERFLOW },
    { '-', "2e-130", "1e-130", "1e-130", NULL }, { '+', "1e-130", "1e-130", "2e-130", NULL },
    { '-', "1.1e-129", "1e-129", "1e-130", NULL },
    { '-', "1.01e-129", "1e-129", NULL, DYN_NUM_MSG_UNDERFLOW },
    /* Zeros and signs. */
    { '-', "1", "1", "0", NULL }, { '+', "-1", "1", "0", NULL }, { '+', "5", "-5", "0", NULL },
    { '-', "-0", "0", "0", NULL }, { '+', "0", "-3", "-3", NULL }, { '-', "0", "-3", "3", NULL },
    { '-', "0", "3", "-3", NULL }, { '-', "3", "0", "3", NULL }, { '+', "0", "0", "0", NULL },
    { '-', "-3", "-3", "0", NULL }, { '+', "-3", "-4", "-7", NULL }, { '-', "-3", "4", "-7", NULL },
    { '-', "-3", "-4", "1", NULL }, { '+', "3", "-4", "-1", NULL },
    /* Carries and borrows. */
    { '+', "1.5", "1.5", "3", NULL }, { '+', "0.5", "0.5", "1", NULL },
    { '+', "999", "1", "1000", NULL }, { '-', "1000", "1", "999", NULL },
    { '-', "1", "1000", "-999", NULL }, { '-', "0.001", "1", "-0.999", NULL },
    { '+', "-0.001", "-0.999", "-1", NULL }, { '+', "123.456", "-123.4", "0.056", NULL },
    { '+', "9999999999999999999", "1", "10000000000000000000", NULL },
    { '+', "18446744073709551615", "1", "18446744073709551616", NULL },
    { '-', "18446744073709551616", "1", "18446744073709551615", NULL },
    { '+', "340282366920938463463374607431768211", "1", "340282366920938463463374607431768212",
      NULL },
    { '-', "1e20", "1e-17", "99999999999999999999.99999999999999999", NULL },
    { '-', "100000000000000000000.00000001", "1", "99999999999999999999.00000001", NULL },
    { '+', "0.99999999999999999999999999999999999999", "1e-38", "1", NULL },
    { '+', "4.5", "5.5", "10", NULL }, { '+', "0.0001", "0.0009", "0.001", NULL },
    { '-', "10", "0.0000000000000000000000000000000000001",
      "9.9999999999999999999999999999999999999", NULL },
    /* Cancellation of many leading digits. */
    { '-', "1.2345678901234567890123456789012345678e100",
      "1.2345678901234567890123456789012345677e100", "1e63", NULL },
    { '-', "12345678901234567890123456789012345678", "12345678901234567890123456789012345677",
      "1", NULL },
    { '+', "-0.12345678901234567890123456789012345678", "0.12345678901234567890123456789012345679",
      "1e-38", NULL },
};

static void
test_arith_table(void)
{
    for (size_t i = 0; i < sizeof arith_cases / sizeof arith_cases[0]; i++) {
        dyn_num a = num(arith_cases[i].a), b = num(arith_cases[i].b), r = { 7, 7, true };
        const char *msg = NULL;
        dyn_err rc = arith_cases[i].op == '+' ? dyn_num_add(&a, &b, &r, &msg)
                                              : dyn_num_sub(&a, &b, &r, &msg);
        cases_run++;
        if (arith_cases[i].want != NULL) {
            dyn_num w = num(arith_cases[i].want);
            if (rc != DYN_OK)
                DT_FAIL_("%s %c %s failed: %s", arith_cases[i].a, arith_cases[i].op,
                         arith_cases[i].b, msg ? msg : "?");
            else if (strcmp(fmt(&r), fmt(&w)) != 0 || r.coef != w.coef || r.exp != w.exp ||
                     r.neg != w.neg)
                DT_FAIL_("%s %c %s = %s, want %s", arith_cases[i].a, arith_cases[i].op,
                         arith_cases[i].b, fmt(&r), fmt(&w));
        } else {
            if (rc != DYN_EVALIDATION || msg == NULL || strcmp(msg, arith_cases[i].msg) != 0)
                DT_FAIL_("%s %c %s -> rc %d \"%s\", want \"%s\"", arith_cases[i].a,
                         arith_cases[i].op, arith_cases[i].b, (int)rc, msg ? msg : "(null)",
                         arith_cases[i].msg);
            DT_TRUE(r.coef == 7 && r.exp == 7 && r.neg);   /* untouched on error */
        }
    }
}

/* a + b == b + a, a - b == -(b - a), (a + b) - b == a, and out may alias an input. */
static void
test_arith_identities(void)
{
    static const char *const v[] = { "0", "1", "-1", "0.5", "-2.25", "1e20", "-1e-20", "123.456",
                                     "99999999999999999999999999999999999999", "1e-130",
                                     "-9.9999999999999999999999999999999999999e125", "7e37" };
    size_t n = sizeof v / sizeof v[0];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            dyn_num a = num(v[i]), b = num(v[j]), s1, s2, d1, d2, back, alias;
            dyn_err r1 = dyn_num_add(&a, &b, &s1, NULL), r2 = dyn_num_add(&b, &a, &s2, NULL);
            DT_EQ_INT(r1, r2);
            if (r1 == DYN_OK) {
                DT_EQ_INT(dyn_num_cmp(&s1, &s2), 0);
                if (dyn_num_sub(&s1, &b, &back, NULL) == DYN_OK)
                    DT_EQ_INT(dyn_num_cmp(&back, &a), 0);
                alias = a;
                DT_OK(dyn_num_add(&alias, &b, &alias, NULL));
                DT_EQ_INT(dyn_num_cmp(&alias, &s1), 0);
            }
            r1 = dyn_num_sub(&a, &b, &d1, NULL);
            r2 = dyn_num_sub(&b, &a, &d2, NULL);
            DT_EQ_INT(r1, r2);
            if (r1 == DYN_OK) {
                dyn_num neg;
                dyn_num_neg(&d2, &neg);
                DT_EQ_INT(dyn_num_cmp(&d1, &neg), 0);
                alias = b;
                DT_OK(dyn_num_sub(&a, &alias, &alias, NULL));
                DT_EQ_INT(dyn_num_cmp(&alias, &d1), 0);
            }
            cases_run += 2;
        }
    }
}

/* --- size --- */

static const struct {
    const char *in;
    size_t want;
} size_cases[] = {
    { "0", 1 }, { "-0", 1 }, { "1", 2 }, { "-1", 3 }, { "27", 2 }, { "-27", 3 }, { "461", 3 },
    { "10", 2 }, { "100", 2 }, { "1000", 2 }, { "12", 2 }, { "123", 3 }, { "1234", 3 },
    { "12345", 4 }, { "0.1", 2 }, { "0.12", 2 }, { "0.123", 3 }, { "1.5", 3 }, { "15", 2 },
    { "1.23", 3 }, { "1786461547", 6 }, { "12.5", 3 }, { "0.05", 2 }, { "1.05", 3 },
    { "12345678901234567890123456789012345678", 20 },
    { "-12345678901234567890123456789012345678", 21 },
    { "1.2345678901234567890123456789012345678", 21 },
    { "-1.2345678901234567890123456789012345678", 22 },
    { "9.9999999999999999999999999999999999999e125", 20 }, { "1e125", 2 }, { "1e-130", 2 },
    { "-1e-130", 3 }, { "1.1e-130", 3 }, { "1.1e-129", 2 }, { "11e-130", 2 },
};

static void
test_size_table(void)
{
    for (size_t i = 0; i < sizeof size_cases / sizeof size_cases[0]; i++) {
        dyn_num n = num(size_cases[i].in);
        if (dyn_num_size(&n) != size_cases[i].want)
            DT_FAIL_("size(%s) = %zu, want %zu", size_cases[i].in, dyn_num_size(&n),
                     size_cases[i].want);
        cases_run++;
    }
}

static void
test_from_i64(void)
{
    static const struct {
        int64_t v;
        const char *want;
    } c[] = { { 0, "0" }, { 1, "1" }, { -1, "-1" }, { 100, "100" }, { -120, "-120" },
              { INT64_MAX, "9223372036854775807" }, { INT64_MIN, "-9223372036854775808" } };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        dyn_num n, p;
        dyn_num_from_i64(c[i].v, &n);
        DT_EQ_STR(fmt(&n), c[i].want);
        p = num(c[i].want);
        DT_TRUE(p.coef == n.coef && p.exp == n.exp && p.neg == n.neg);
        cases_run++;
    }
}

static void
test_report(void)
{
    fprintf(stderr, "  %d table and generated cases\n", cases_run);
    DT_TRUE(cases_run > 500);
}

DT_MAIN({ "parse: accepted syntax and canonical text", test_parse_ok_table },
        { "parse: rejected syntax, range and digits", test_parse_err_table },
        { "parse: limits 1E-130 and 9.99..9E+125 at and past the edges", test_limits },
        { "parse: exponent sweep -135..130", test_exponent_sweep },
        { "parse: 38 vs 39+ significant digits", test_digit_count_sweep },
        { "parse: equal values give the identical struct", test_canonical_struct },
        { "format: truncates like snprintf", test_format_truncates_like_snprintf },
        { "cmp: table", test_cmp_table }, { "cmp: total order", test_cmp_total_order },
        { "add/sub: table", test_arith_table }, { "add/sub: identities", test_arith_identities },
        { "size: dynalite formula", test_size_table }, { "from_i64", test_from_i64 },
        { "case count", test_report })
