/* libs/item unit tests: table-driven sizes, validation messages, equality and order matrices, key
 * checks, the storage encoding (fixed vectors, random round trips with a fixed seed, truncated,
 * mutated and hand-made corrupt buffers). Values are written in DynamoDB JSON ({"S":"x"}) and
 * parsed by ti_* helpers below; B/BS strings are taken as raw bytes, with \xHH escapes. */
#include "libs/item/item.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libs/num/num.h"
#include "libs/testing/dyn_test.h"

static int cases_run; /* table rows and generated cases checked */
static dyn_arena ta;  /* everything the tests build; reset per case */

/* ---- a tiny DynamoDB-JSON parser (test input only; aborts on malformed text) ---------------- */

typedef struct tp {
    const char *s;
} tp;

static void
tp_die(tp *p, const char *what)
{
    fprintf(stderr, "test JSON error (%s) at: %.40s\n", what, p->s);
    abort();
}

static void
tp_ws(tp *p)
{
    while (*p->s == ' ' || *p->s == '\n' || *p->s == '\t')
        p->s++;
}

static void
tp_expect(tp *p, char c)
{
    tp_ws(p);
    if (*p->s != c)
        tp_die(p, "unexpected character");
    p->s++;
}

static int
hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c - 'A' + 10;
}

/* A JSON string into the arena; *len gets its byte length (it may hold NULs via \x00). */
static char *
tp_str(tp *p, size_t *len)
{
    char *out, *o;

    tp_expect(p, '"');
    out = o = dyn_arena_alloc(&ta, strlen(p->s) * 4 + 1);
    while (*p->s != '"') {
        if (*p->s == '\0')
            tp_die(p, "unterminated string");
        if (*p->s != '\\') {
            *o++ = *p->s++;
            continue;
        }
        p->s++;
        switch (*p->s++) {
        case 'n':
            *o++ = '\n';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'x':
            *o++ = (char)(hexval(p->s[0]) * 16 + hexval(p->s[1]));
            p->s += 2;
            break;
        case 'u': {
            unsigned cp = 0;
            for (int i = 0; i < 4; i++)
                cp = cp * 16 + (unsigned)hexval(*p->s++);
            if (cp < 0x80) {
                *o++ = (char)cp;
            } else if (cp < 0x800) {
                *o++ = (char)(0xc0 | cp >> 6);
                *o++ = (char)(0x80 | (cp & 0x3f));
            } else {
                *o++ = (char)(0xe0 | cp >> 12);
                *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
                *o++ = (char)(0x80 | (cp & 0x3f));
            }
            break;
        }
        default:
            *o++ = p->s[-1];
            break;
        }
    }
    p->s++;
    *o = '\0';
    if (len != NULL)
        *len = (size_t)(o - out);
    return out;
}

static bool
tp_bool(tp *p)
{
    tp_ws(p);
    if (strncmp(p->s, "true", 4) == 0) {
        p->s += 4;
        return true;
    }
    if (strncmp(p->s, "false", 5) == 0) {
        p->s += 5;
        return false;
    }
    tp_die(p, "bool expected");
    return false;
}

static bool
tp_more(tp *p, char close)
{
    tp_ws(p);
    if (*p->s == close) {
        p->s++;
        return false;
    }
    if (*p->s == ',')
        p->s++;
    return true;
}

static Dyne__V1__AttributeValueMap *tp_map(tp *p);

static Dyne__V1__AttributeValue *
tp_value(tp *p)
{
    Dyne__V1__AttributeValue *v = dyn_arena_zalloc(&ta, sizeof *v);
    char *type;
    size_t n = 0, cap = 64;

    dyne__v1__attribute_value__init(v);
    tp_expect(p, '{');
    tp_ws(p);
    if (*p->s == '}') {
        p->s++;
        return v; /* no type set */
    }
    type = tp_str(p, NULL);
    tp_expect(p, ':');
    if (strcmp(type, "S") == 0) {
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_S;
        v->s = tp_str(p, NULL);
    } else if (strcmp(type, "N") == 0) {
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_N;
        v->n = tp_str(p, NULL);
    } else if (strcmp(type, "B") == 0) {
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_B;
        v->b.data = (uint8_t *)tp_str(p, &v->b.len);
    } else if (strcmp(type, "BOOL") == 0) {
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_BOOL;
        v->bool_ = tp_bool(p);
    } else if (strcmp(type, "NULL") == 0) {
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_NULL;
        v->null = tp_bool(p);
    } else if (strcmp(type, "L") == 0) {
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_L;
        v->l = dyn_arena_zalloc(&ta, sizeof *v->l);
        dyne__v1__attribute_value_list__init(v->l);
        v->l->values = dyn_arena_alloc(&ta, cap * sizeof *v->l->values);
        tp_expect(p, '[');
        while (tp_more(p, ']'))
            v->l->values[v->l->n_values++] = tp_value(p);
    } else if (strcmp(type, "M") == 0) {
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_M;
        v->m = tp_map(p);
    } else if (strcmp(type, "SS") == 0 || strcmp(type, "NS") == 0) {
        char **vals = dyn_arena_alloc(&ta, cap * sizeof *vals);
        tp_expect(p, '[');
        while (tp_more(p, ']'))
            vals[n++] = tp_str(p, NULL);
        if (type[0] == 'S') {
            v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS;
            v->ss = dyn_arena_zalloc(&ta, sizeof *v->ss);
            dyne__v1__string_set__init(v->ss);
            v->ss->values = vals;
            v->ss->n_values = n;
        } else {
            v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS;
            v->ns = dyn_arena_zalloc(&ta, sizeof *v->ns);
            dyne__v1__number_set__init(v->ns);
            v->ns->values = vals;
            v->ns->n_values = n;
        }
    } else if (strcmp(type, "BS") == 0) {
        ProtobufCBinaryData *vals = dyn_arena_alloc(&ta, cap * sizeof *vals);
        tp_expect(p, '[');
        while (tp_more(p, ']')) {
            vals[n].data = (uint8_t *)tp_str(p, &vals[n].len);
            n++;
        }
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_BS;
        v->bs = dyn_arena_zalloc(&ta, sizeof *v->bs);
        dyne__v1__binary_set__init(v->bs);
        v->bs->values = vals;
        v->bs->n_values = n;
    } else {
        tp_die(p, "unknown type");
    }
    tp_expect(p, '}');
    return v;
}

static Dyne__V1__AttributeValueMap *
tp_map(tp *p)
{
    Dyne__V1__AttributeValueMap *m = dyn_arena_zalloc(&ta, sizeof *m);

    dyne__v1__attribute_value_map__init(m);
    m->values = dyn_arena_alloc(&ta, 64 * sizeof *m->values);
    tp_expect(p, '{');
    while (tp_more(p, '}')) {
        Dyne__V1__AttributeValueMap__ValuesEntry *e = dyn_arena_zalloc(&ta, sizeof *e);
        dyne__v1__attribute_value_map__values_entry__init(e);
        e->key = tp_str(p, NULL);
        tp_expect(p, ':');
        e->value = tp_value(p);
        m->values[m->n_values++] = e;
    }
    return m;
}

static Dyne__V1__AttributeValue *
av(const char *json)
{
    tp p = { json };
    return tp_value(&p);
}

static Dyne__V1__AttributeValueMap *
it(const char *json)
{
    tp p = { json };
    return tp_map(&p);
}

static void
reset(void)
{
    dyn_arena_reset(&ta);
}

/* ---- sizes ---------------------------------------------------------------------------------- */

static void
test_value_sizes(void)
{
    static const struct {
        const char *json;
        size_t size;
    } rows[] = {
        { "{\"S\":\"\"}", 0 },
        { "{\"S\":\"a\"}", 1 },
        { "{\"S\":\"abc\"}", 3 },
        { "{\"S\":\"\\u00e9\"}", 2 },
        { "{\"S\":\"\\u20ac\"}", 3 },
        { "{\"S\":\"\\xf0\\x9f\\x98\\x80\"}", 4 },
        { "{\"S\":\"hello world\"}", 11 },
        { "{\"B\":\"\"}", 0 },
        { "{\"B\":\"\\x00\"}", 1 },
        { "{\"B\":\"\\x00\\xff\\x10\"}", 3 },
        { "{\"BOOL\":true}", 1 },
        { "{\"BOOL\":false}", 1 },
        { "{\"NULL\":true}", 1 },
        { "{\"N\":\"0\"}", 1 },
        { "{\"N\":\"-0\"}", 1 },
        { "{\"N\":\"0.000\"}", 1 },
        { "{\"N\":\"1\"}", 2 },
        { "{\"N\":\"9\"}", 2 },
        { "{\"N\":\"10\"}", 2 },
        { "{\"N\":\"1E3\"}", 2 },
        { "{\"N\":\"12\"}", 2 },
        { "{\"N\":\"99\"}", 2 },
        { "{\"N\":\"123\"}", 3 },
        { "{\"N\":\"1234\"}", 3 },
        { "{\"N\":\"12345\"}", 4 },
        { "{\"N\":\"1.2\"}", 3 },
        { "{\"N\":\"9.9\"}", 3 },
        { "{\"N\":\"0.12\"}", 2 },
        { "{\"N\":\"-1\"}", 3 },
        { "{\"N\":\"-12.5\"}", 4 },
        { "{\"N\":\"1E125\"}", 2 },
        { "{\"N\":\"-1E-130\"}", 3 },
        { "{\"N\":\"12345678901234567890123456789012345678\"}", 20 },
        { "{\"N\":\"1.2345678901234567890123456789012345678\"}", 21 },
        { "{\"N\":\"abc\"}", 3 }, /* not a number: its text length */
        { "{\"L\":[]}", 3 },
        { "{\"L\":[{\"S\":\"ab\"}]}", 6 },
        { "{\"L\":[{\"NULL\":true},{\"BOOL\":false}]}", 7 },
        { "{\"L\":[{\"L\":[]}]}", 7 },
        { "{\"L\":[{\"N\":\"1\"},{\"N\":\"123\"}]}", 10 },
        { "{\"M\":{}}", 3 },
        { "{\"M\":{\"a\":{\"S\":\"bc\"}}}", 7 },
        { "{\"M\":{\"x\":{\"M\":{\"y\":{\"N\":\"1\"}}}}}", 12 },
        { "{\"M\":{\"ab\":{\"L\":[]},\"c\":{\"B\":\"\"}}}", 3 + 1 + 2 + 3 + 1 + 1 + 0 },
        { "{\"SS\":[\"a\",\"bc\"]}", 3 },
        { "{\"SS\":[\"\",\"x\"]}", 1 },
        { "{\"NS\":[\"1\",\"12\"]}", 4 },
        { "{\"NS\":[\"-1\",\"123\",\"0\"]}", 7 },
        { "{\"BS\":[\"ab\",\"c\"]}", 3 },
        { "{\"BS\":[\"\",\"\\x00\\x00\"]}", 2 },
        { "{}", 0 },
    };

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        cases_run++;
        Dyne__V1__AttributeValue *v = av(rows[i].json);
        if (dyn_item_value_size(v) != rows[i].size)
            DT_FAIL_("size(%s) = %zu, want %zu", rows[i].json, dyn_item_value_size(v),
                     rows[i].size);
    }
    DT_EQ_INT(dyn_item_value_size(NULL), 0);
    reset();
}

static void
test_number_sizes_follow_num(void)
{
    static const char *nums[] = {
        "0",           "1",           "-1",
        "0.5",         "100",         "123456",
        "-98765.4321", "1E-130",      "9.9999999999999999999999999999999999999E+125",
        "-1.5E-7",     "31415926535", "0.000001",
        "77E77"
    };

    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        dyn_num n;
        char json[128];
        cases_run++;
        DT_OK(dyn_num_parse(nums[i], strlen(nums[i]), &n, NULL));
        snprintf(json, sizeof json, "{\"N\":\"%s\"}", nums[i]);
        DT_EQ_INT(dyn_item_value_size(av(json)), dyn_num_size(&n));
        snprintf(json, sizeof json, "{\"NS\":[\"%s\",\"%s\"]}", nums[i], nums[i]);
        DT_EQ_INT(dyn_item_value_size(av(json)), 2 * dyn_num_size(&n));
    }
    reset();
}

static void
test_item_sizes(void)
{
    static const struct {
        const char *json;
        size_t size;
    } rows[] = {
        { "{}", 0 },
        { "{\"a\":{\"S\":\"x\"}}", 2 },
        { "{\"pk\":{\"S\":\"abc\"},\"n\":{\"N\":\"123\"}}", 9 },
        { "{\"\\u00e9t\\u00e9\":{\"BOOL\":true}}", 6 },
        { "{\"l\":{\"L\":[{\"S\":\"a\"},{\"S\":\"b\"}]},\"m\":{\"M\":{\"k\":{\"NULL\":true}}}}",
          1 + 3 + 2 + 2 + 1 + 3 + 1 + 1 + 1 },
        { "{\"s\":{\"SS\":[\"aa\",\"bb\",\"cc\"]},\"b\":{\"BS\":[\"\\x01\"]}}", 1 + 6 + 1 + 1 },
    };

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        cases_run++;
        if (dyn_item_size(it(rows[i].json)) != rows[i].size)
            DT_FAIL_("size(%s) = %zu, want %zu", rows[i].json, dyn_item_size(it(rows[i].json)),
                     rows[i].size);
    }
    DT_EQ_INT(dyn_item_size(NULL), 0);
    reset();
}

static void
test_max_size_item(void)
{
    /* One attribute whose name + value is exactly the limit, then one byte more. */
    size_t vlen = DYN_ITEM_MAX_SIZE - 2;
    char *big = dyn_arena_alloc(&ta, vlen + 1);
    Dyne__V1__AttributeValueMap *m = dyn_item_new(&ta);
    Dyne__V1__AttributeValue *v = dyn_item_value_dup(av("{\"S\":\"\"}"), &ta);

    memset(big, 'x', vlen);
    big[vlen] = '\0';
    v->s = big;
    DT_OK(dyn_item_put(m, "pk", v, &ta));
    DT_EQ_INT(dyn_item_size(m), DYN_ITEM_MAX_SIZE);
    big[vlen - 1] = '\0';
    DT_OK(dyn_item_put(m, "pkx", v, &ta));
    DT_EQ_INT(dyn_item_size(m), DYN_ITEM_MAX_SIZE - 1 + 3 + vlen - 1);
    cases_run += 2;
    reset();
}

/* ---- validation ----------------------------------------------------------------------------- */

#define CANNOT "The parameter cannot be converted to a numeric value"
#define INVALID "One or more parameter values were invalid: "

static void
test_validate_value_table(void)
{
    static const struct {
        const char *json;
        const char *msg; /* NULL: valid */
    } rows[] = {
        { "{\"S\":\"\"}", NULL },
        { "{\"S\":\"x\"}", NULL },
        { "{\"B\":\"\"}", NULL },
        { "{\"B\":\"\\x00\"}", NULL },
        { "{\"BOOL\":false}", NULL },
        { "{\"BOOL\":true}", NULL },
        { "{\"NULL\":true}", NULL },
        { "{\"NULL\":false}", DYN_ITEM_MSG_NULL_FALSE },
        { "{}", DYN_ITEM_MSG_EMPTY_VALUE },
        { "{\"N\":\"1\"}", NULL },
        { "{\"N\":\"-0\"}", NULL },
        { "{\"N\":\"+3\"}", NULL },
        { "{\"N\":\".5\"}", NULL },
        { "{\"N\":\"1e+5\"}", NULL },
        { "{\"N\":\"1E125\"}", NULL },
        { "{\"N\":\"1E-130\"}", NULL },
        { "{\"N\":\"\"}", CANNOT },
        { "{\"N\":\"abc\"}", CANNOT ": abc" },
        { "{\"N\":\" 1\"}", CANNOT ":  1" },
        { "{\"N\":\"1 \"}", CANNOT ": 1 " },
        { "{\"N\":\"NaN\"}", CANNOT ": NaN" },
        { "{\"N\":\"Infinity\"}", CANNOT ": Infinity" },
        { "{\"N\":\"0x10\"}", CANNOT ": 0x10" },
        { "{\"N\":\"1.2.3\"}", CANNOT ": 1.2.3" },
        { "{\"N\":\"1e\"}", CANNOT ": 1e" },
        { "{\"N\":\"1e126\"}", DYN_NUM_MSG_OVERFLOW },
        { "{\"N\":\"-1e126\"}", DYN_NUM_MSG_OVERFLOW },
        { "{\"N\":\"1e-131\"}", DYN_NUM_MSG_UNDERFLOW },
        { "{\"N\":\"123456789012345678901234567890123456789\"}", DYN_NUM_MSG_DIGITS },
        { "{\"N\":\"-1.23456789012345678901234567890123456789\"}", DYN_NUM_MSG_DIGITS },
        { "{\"SS\":[]}", DYN_ITEM_MSG_EMPTY_SS },
        { "{\"NS\":[]}", DYN_ITEM_MSG_EMPTY_NS },
        { "{\"BS\":[]}", DYN_ITEM_MSG_EMPTY_BS },
        { "{\"SS\":[\"a\"]}", NULL },
        { "{\"SS\":[\"\"]}", NULL },
        { "{\"SS\":[\"a\",\"b\",\"\"]}", NULL },
        { "{\"SS\":[\"a\",\"a\"]}", INVALID "Input collection [a, a] contains duplicates." },
        { "{\"SS\":[\"a\",\"b\",\"a\"]}",
          INVALID "Input collection [a, b, a] contains duplicates." },
        { "{\"SS\":[\"\",\"\"]}", INVALID "Input collection [, ] contains duplicates." },
        { "{\"SS\":[\"x y\",\"z\",\"x y\"]}",
          INVALID "Input collection [x y, z, x y] contains duplicates." },
        { "{\"SS\":[\"A\",\"a\"]}", NULL },
        { "{\"NS\":[\"1\"]}", NULL },
        { "{\"NS\":[\"1\",\"2\",\"-1\"]}", NULL },
        { "{\"NS\":[\"1\",\"1\"]}", DYN_ITEM_MSG_DUP_NS },
        { "{\"NS\":[\"1\",\"1.0\"]}", DYN_ITEM_MSG_DUP_NS },
        { "{\"NS\":[\"100\",\"1E2\"]}", DYN_ITEM_MSG_DUP_NS },
        { "{\"NS\":[\"0\",\"-0\"]}", DYN_ITEM_MSG_DUP_NS },
        { "{\"NS\":[\"1\",\"\"]}", CANNOT },
        { "{\"NS\":[\"1\",\"b\"]}", CANNOT ": b" },
        { "{\"NS\":[\"b\",\"1\",\"1\"]}", CANNOT ": b" }, /* numbers before duplicates */
        { "{\"NS\":[\"1\",\"1\",\"1e126\"]}", DYN_NUM_MSG_OVERFLOW },
        { "{\"NS\":[\"1e-131\"]}", DYN_NUM_MSG_UNDERFLOW },
        { "{\"BS\":[\"a\"]}", NULL },
        { "{\"BS\":[\"\"]}", NULL },
        { "{\"BS\":[\"a\",\"A\"]}", NULL },
        { "{\"BS\":[\"b\",\"b\"]}",
          INVALID "Input collection [Yg==, Yg==]of type BS contains duplicates." },
        { "{\"BS\":[\"ab\",\"c\",\"ab\"]}",
          INVALID "Input collection [YWI=, Yw==, YWI=]of type BS contains duplicates." },
        { "{\"BS\":[\"abc\",\"abc\"]}",
          INVALID "Input collection [YWJj, YWJj]of type BS contains duplicates." },
        { "{\"BS\":[\"\",\"\"]}", INVALID "Input collection [, ]of type BS contains duplicates." },
        { "{\"BS\":[\"\\xff\\xfe\",\"\\xff\\xfe\"]}",
          INVALID "Input collection [//4=, //4=]of type BS contains duplicates." },
        { "{\"L\":[]}", NULL },
        { "{\"L\":[{\"S\":\"a\"},{\"N\":\"1\"},{\"L\":[{\"NULL\":true}]}]}", NULL },
        { "{\"L\":[{}]}", DYN_ITEM_MSG_EMPTY_VALUE },
        { "{\"L\":[{\"N\":\"x\"}]}", CANNOT ": x" },
        { "{\"L\":[{\"NULL\":false},{\"N\":\"x\"}]}", DYN_ITEM_MSG_NULL_FALSE },
        { "{\"L\":[{\"N\":\"x\"},{\"NULL\":false}]}", CANNOT ": x" },
        { "{\"L\":[{\"SS\":[]}]}", DYN_ITEM_MSG_EMPTY_SS },
        { "{\"M\":{}}", NULL },
        { "{\"M\":{\"a\":{\"S\":\"\"}}}", NULL },
        { "{\"M\":{\"\":{\"S\":\"a\"}}}", DYN_ITEM_MSG_EMPTY_NAME },
        { "{\"M\":{\"a\":{\"NULL\":false}}}", DYN_ITEM_MSG_NULL_FALSE },
        { "{\"M\":{\"a\":{}}}", DYN_ITEM_MSG_EMPTY_VALUE },
        { "{\"M\":{\"s\":{\"NS\":[]}}}", DYN_ITEM_MSG_EMPTY_NS },
        { "{\"M\":{\"a\":{\"S\":\"1\"},\"a\":{\"S\":\"2\"}}}", DYN_ITEM_MSG_DUP_NAME },
        { "{\"M\":{\"a\":{\"M\":{\"b\":{\"L\":[{\"BS\":[\"q\",\"q\"]}]}}}}}",
          INVALID "Input collection [cQ==, cQ==]of type BS contains duplicates." },
    };
    const char *msg;
    dyn_err rc;

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        cases_run++;
        msg = NULL;
        rc = dyn_item_validate_value(av(rows[i].json), &ta, &msg);
        if (rows[i].msg == NULL) {
            if (rc != DYN_OK)
                DT_FAIL_("validate(%s) failed: %s", rows[i].json, msg ? msg : "?");
        } else if (rc != DYN_EVALIDATION || msg == NULL || strcmp(msg, rows[i].msg) != 0) {
            DT_FAIL_("validate(%s) = %d \"%s\", want \"%s\"", rows[i].json, rc, msg ? msg : "",
                     rows[i].msg);
        }
    }
    DT_ERR(dyn_item_validate_value(NULL, &ta, &msg), DYN_EVALIDATION);
    DT_EQ_STR(msg, DYN_ITEM_MSG_EMPTY_VALUE);
    reset();
}

static void
test_validate_item_table(void)
{
    static const struct {
        const char *json;
        const char *msg;
    } rows[] = {
        { "{}", NULL },
        { "{\"a\":{\"S\":\"x\"}}", NULL },
        { "{\"a\":{\"S\":\"\"},\"b\":{\"B\":\"\"}}", NULL },
        { "{\"\":{\"S\":\"x\"}}", DYN_ITEM_MSG_EMPTY_NAME },
        { "{\"a\":{}}", DYN_ITEM_MSG_EMPTY_VALUE },
        { "{\"a\":{\"N\":\"1\"},\"b\":{\"N\":\"y\"}}", CANNOT ": y" },
        { "{\"a\":{\"N\":\"y\"},\"b\":{\"NULL\":false}}", CANNOT ": y" },
        { "{\"a\":{\"SS\":[\"k\",\"k\"]}}",
          INVALID "Input collection [k, k] contains duplicates." },
        { "{\"a\":{\"S\":\"1\"},\"a\":{\"S\":\"1\"}}", DYN_ITEM_MSG_DUP_NAME },
        { "{\"a\":{\"NULL\":false},\"a\":{\"S\":\"1\"}}", DYN_ITEM_MSG_NULL_FALSE },
        { "{\"x\":{\"M\":{\"y\":{\"M\":{\"\":{\"N\":\"1\"}}}}}}", DYN_ITEM_MSG_EMPTY_NAME },
    };
    const char *msg;
    dyn_err rc;

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        cases_run++;
        msg = NULL;
        rc = dyn_item_validate(it(rows[i].json), &ta, &msg);
        if (rows[i].msg == NULL) {
            if (rc != DYN_OK)
                DT_FAIL_("validate(%s) failed: %s", rows[i].json, msg ? msg : "?");
        } else if (rc != DYN_EVALIDATION || msg == NULL || strcmp(msg, rows[i].msg) != 0) {
            DT_FAIL_("validate(%s) = %d \"%s\", want \"%s\"", rows[i].json, rc, msg ? msg : "",
                     rows[i].msg);
        }
    }
    DT_OK(dyn_item_validate(NULL, &ta, &msg));
    reset();
}

static void
test_validate_name_length(void)
{
    Dyne__V1__AttributeValueMap *m = dyn_item_new(&ta);
    char *name = dyn_arena_alloc(&ta, DYN_ITEM_NAME_MAX + 2);
    const char *msg = NULL;

    memset(name, 'n', DYN_ITEM_NAME_MAX + 1);
    name[DYN_ITEM_NAME_MAX] = '\0';
    DT_OK(dyn_item_put(m, name, av("{\"S\":\"v\"}"), &ta));
    DT_OK(dyn_item_validate(m, &ta, &msg));
    name[DYN_ITEM_NAME_MAX] = 'n';
    name[DYN_ITEM_NAME_MAX + 1] = '\0';
    m = dyn_item_new(&ta);
    DT_OK(dyn_item_put(m, name, av("{\"S\":\"v\"}"), &ta));
    DT_ERR(dyn_item_validate(m, &ta, &msg), DYN_EVALIDATION);
    DT_EQ_STR(msg, DYN_ITEM_MSG_NAME_TOO_LONG);
    cases_run += 2;
    reset();
}

/* k levels of L (list) or M (map) around leaf. */
static Dyne__V1__AttributeValue *
nest(int k, bool map, Dyne__V1__AttributeValue *leaf)
{
    Dyne__V1__AttributeValue *v = leaf;

    for (int i = 0; i < k; i++) {
        Dyne__V1__AttributeValue *outer = map ? av("{\"M\":{}}") : av("{\"L\":[]}");
        if (map) {
            DT_OK(dyn_item_put(outer->m, "n", v, &ta));
        } else {
            outer->l->values[0] = v;
            outer->l->n_values = 1;
        }
        v = outer;
    }
    return v;
}

static void
test_nesting_limits(void)
{
    const char *msg;

    for (int map = 0; map < 2; map++) {
        for (int k = 0; k <= 40; k++) {
            Dyne__V1__AttributeValue *v = nest(k, map, av("{\"S\":\"leaf\"}"));
            Dyne__V1__AttributeValueMap *item = dyn_item_new(&ta);
            dyn_err want_value = k <= DYN_ITEM_MAX_DEPTH ? DYN_OK : DYN_EVALIDATION;
            dyn_err want_item = k <= DYN_ITEM_MAX_DEPTH - 1 ? DYN_OK : DYN_EVALIDATION;

            DT_OK(dyn_item_put(item, "a", v, &ta));
            DT_EQ_INT(dyn_item_value_depth(v), k);
            msg = NULL;
            DT_ERR(dyn_item_validate_value(v, &ta, &msg), want_value);
            if (want_value != DYN_OK)
                DT_EQ_STR(msg, DYN_ITEM_MSG_NESTING);
            msg = NULL;
            DT_ERR(dyn_item_validate(item, &ta, &msg), want_item);
            if (want_item != DYN_OK)
                DT_EQ_STR(msg, DYN_ITEM_MSG_NESTING);
            cases_run += 2;
        }
    }
    /* Too deep wins over a bad number at the bottom; a bad number before a deep sibling wins. */
    DT_ERR(dyn_item_validate_value(nest(40, true, av("{\"N\":\"abc\"}")), &ta, &msg),
           DYN_EVALIDATION);
    DT_EQ_STR(msg, DYN_ITEM_MSG_NESTING);
    {
        Dyne__V1__AttributeValue *m = av("{\"M\":{}}");
        DT_OK(dyn_item_put(m->m, "bad", av("{\"N\":\"abc\"}"), &ta));
        DT_OK(dyn_item_put(m->m, "d", nest(40, true, av("{\"S\":\"x\"}")), &ta));
        DT_ERR(dyn_item_validate_value(m, &ta, &msg), DYN_EVALIDATION);
        DT_EQ_STR(msg, CANNOT ": abc");
        m = av("{\"M\":{}}");
        DT_OK(dyn_item_put(m->m, "d", nest(40, true, av("{\"S\":\"x\"}")), &ta));
        DT_OK(dyn_item_put(m->m, "bad", av("{\"N\":\"abc\"}"), &ta));
        DT_ERR(dyn_item_validate_value(m, &ta, &msg), DYN_EVALIDATION);
        DT_EQ_STR(msg, DYN_ITEM_MSG_NESTING);
    }
    DT_EQ_INT(dyn_item_value_depth(av("{\"L\":[{\"S\":\"a\"},{\"M\":{\"b\":{\"L\":[]}}}]}")), 3);
    DT_EQ_INT(dyn_item_value_depth(av("{\"SS\":[\"a\"]}")), 0);
    DT_EQ_INT(dyn_item_value_depth(NULL), 0);
    cases_run += 5;
    reset();
}

static void
test_validate_enomem(void)
{
    dyn_arena tiny;
    const char *msg = NULL;
    Dyne__V1__AttributeValue *v = av("{\"N\":\"not-a-number\"}");

    dyn_arena_init(&tiny, 16);
    DT_ERR(dyn_item_validate_value(v, &tiny, &msg), DYN_ENOMEM);
    DT_ERR(dyn_item_validate_value(av("{\"SS\":[\"a\",\"b\",\"c\"]}"), &tiny, &msg), DYN_ENOMEM);
    dyn_arena_fini(&tiny);
    cases_run += 2;
    reset();
}

/* ---- equality and order --------------------------------------------------------------------- */

static void
test_equality_matrix(void)
{
    static const struct {
        const char *json;
        int group; /* equal iff same group */
    } vals[] = {
        { "{\"S\":\"a\"}", 1 },
        { "{\"S\":\"a\"}", 1 },
        { "{\"S\":\"b\"}", 2 },
        { "{\"S\":\"\"}", 3 },
        { "{\"S\":\"1\"}", 4 },
        { "{\"N\":\"1\"}", 5 },
        { "{\"N\":\"1.0\"}", 5 },
        { "{\"N\":\"1E0\"}", 5 },
        { "{\"N\":\"+0001.000\"}", 5 },
        { "{\"N\":\"10\"}", 6 },
        { "{\"N\":\"1E1\"}", 6 },
        { "{\"N\":\"0\"}", 7 },
        { "{\"N\":\"-0\"}", 7 },
        { "{\"N\":\"0.00E5\"}", 7 },
        { "{\"N\":\"-1\"}", 8 },
        { "{\"B\":\"a\"}", 9 },
        { "{\"B\":\"a\"}", 9 },
        { "{\"B\":\"\"}", 10 },
        { "{\"B\":\"1\"}", 11 },
        { "{\"B\":\"a\\x00\"}", 12 },
        { "{\"BOOL\":true}", 13 },
        { "{\"BOOL\":true}", 13 },
        { "{\"BOOL\":false}", 14 },
        { "{\"NULL\":true}", 15 },
        { "{\"L\":[]}", 16 },
        { "{\"L\":[{\"N\":\"1\"},{\"S\":\"a\"}]}", 17 },
        { "{\"L\":[{\"N\":\"1.00\"},{\"S\":\"a\"}]}", 17 },
        { "{\"L\":[{\"S\":\"a\"},{\"N\":\"1\"}]}", 18 },
        { "{\"L\":[{\"L\":[]}]}", 19 },
        { "{\"L\":[{\"M\":{}}]}", 20 },
        { "{\"M\":{}}", 21 },
        { "{\"M\":{\"a\":{\"N\":\"1\"},\"b\":{\"S\":\"x\"}}}", 22 },
        { "{\"M\":{\"b\":{\"S\":\"x\"},\"a\":{\"N\":\"1.0\"}}}", 22 },
        { "{\"M\":{\"a\":{\"N\":\"1\"}}}", 23 },
        { "{\"M\":{\"a\":{\"N\":\"1\"},\"c\":{\"S\":\"x\"}}}", 24 },
        { "{\"SS\":[\"a\",\"b\"]}", 25 },
        { "{\"SS\":[\"b\",\"a\"]}", 25 },
        { "{\"SS\":[\"a\"]}", 26 },
        { "{\"SS\":[\"a\",\"b\",\"c\"]}", 27 },
        { "{\"NS\":[\"1\",\"2\"]}", 28 },
        { "{\"NS\":[\"2.0\",\"1\"]}", 28 },
        { "{\"NS\":[\"1\"]}", 29 },
        { "{\"NS\":[\"a\",\"b\"]}", 30 }, /* not numbers: compared as text */
        { "{\"NS\":[\"b\",\"a\"]}", 30 },
        { "{\"BS\":[\"a\",\"b\"]}", 31 },
        { "{\"BS\":[\"b\",\"a\"]}", 31 },
        { "{\"BS\":[\"a\"]}", 32 },
        { "{\"M\":{\"a\":{\"L\":[{\"M\":{\"x\":{\"SS\":[\"p\",\"q\"]}}}]}}}", 33 },
        { "{\"M\":{\"a\":{\"L\":[{\"M\":{\"x\":{\"SS\":[\"q\",\"p\"]}}}]}}}", 33 },
        { "{\"M\":{\"a\":{\"L\":[{\"M\":{\"x\":{\"SS\":[\"q\"]}}}]}}}", 34 },
        { "{\"M\":{\"k1\":{\"N\":\"1\"},\"k2\":{\"N\":\"2\"},\"k3\":{\"N\":\"3\"},\"k4\":{\"N\":"
          "\"4\"},"
          "\"k5\":{\"N\":\"5\"},\"k6\":{\"N\":\"6\"},\"k7\":{\"N\":\"7\"},\"k8\":{\"N\":\"8\"},"
          "\"k9\":{\"N\":\"9\"},\"k10\":{\"N\":\"10\"}}}",
          35 },
        { "{\"M\":{\"k10\":{\"N\":\"1E1\"},\"k9\":{\"N\":\"9\"},\"k8\":{\"N\":\"8\"},\"k7\":{\"N\":"
          "\"7\"},"
          "\"k6\":{\"N\":\"6\"},\"k5\":{\"N\":\"5\"},\"k4\":{\"N\":\"4\"},\"k3\":{\"N\":\"3\"},"
          "\"k2\":{\"N\":\"2\"},\"k1\":{\"N\":\"1.0\"}}}",
          35 },
        { "{\"M\":{\"k1\":{\"N\":\"1\"},\"k2\":{\"N\":\"2\"},\"k3\":{\"N\":\"3\"},\"k4\":{\"N\":"
          "\"4\"},"
          "\"k5\":{\"N\":\"5\"},\"k6\":{\"N\":\"6\"},\"k7\":{\"N\":\"7\"},\"k8\":{\"N\":\"8\"},"
          "\"k9\":{\"N\":\"9\"},\"k10\":{\"N\":\"11\"}}}",
          36 },
        { "{}", 37 },
    };
    enum { NV = sizeof vals / sizeof vals[0] };
    Dyne__V1__AttributeValue *v[NV];

    for (size_t i = 0; i < NV; i++)
        v[i] = av(vals[i].json);
    for (size_t i = 0; i < NV; i++) {
        for (size_t j = 0; j < NV; j++) {
            bool want = vals[i].group == vals[j].group;
            cases_run++;
            if (dyn_item_value_equal(v[i], v[j]) != want)
                DT_FAIL_("equal(%s, %s) != %d", vals[i].json, vals[j].json, want);
        }
        /* a deep copy is equal to its original */
        DT_TRUE(dyn_item_value_equal(v[i], dyn_item_value_dup(v[i], &ta)));
        DT_TRUE(!dyn_item_value_equal(v[i], NULL));
    }
    DT_TRUE(dyn_item_value_equal(NULL, NULL));
    reset();
}

static void
test_cmp_matrix(void)
{
    /* kind: 1 S, 2 N, 3 B, 0 not comparable; rank orders values of one kind (equal rank: equal). */
    static const struct {
        const char *json;
        int kind, rank;
    } vals[] = {
        { "{\"S\":\"\"}", 1, 0 },
        { "{\"S\":\"A\"}", 1, 1 },
        { "{\"S\":\"B\"}", 1, 2 },
        { "{\"S\":\"Z\"}", 1, 3 },
        { "{\"S\":\"a\"}", 1, 4 },
        { "{\"S\":\"aa\"}", 1, 5 },
        { "{\"S\":\"ab\"}", 1, 6 },
        { "{\"S\":\"b\"}", 1, 7 },
        { "{\"S\":\"z\"}", 1, 8 },
        { "{\"S\":\"\\u00e9\"}", 1, 9 },
        { "{\"S\":\"\\u20ac\"}", 1, 10 },
        { "{\"S\":\"\\xf0\\x9f\\x98\\x80\"}", 1, 11 },
        { "{\"N\":\"-1E125\"}", 2, 0 },
        { "{\"N\":\"-10\"}", 2, 1 },
        { "{\"N\":\"-1.5\"}", 2, 2 },
        { "{\"N\":\"-1\"}", 2, 3 },
        { "{\"N\":\"-0.001\"}", 2, 4 },
        { "{\"N\":\"-1E-130\"}", 2, 5 },
        { "{\"N\":\"0\"}", 2, 6 },
        { "{\"N\":\"-0\"}", 2, 6 },
        { "{\"N\":\"1E-130\"}", 2, 7 },
        { "{\"N\":\"0.5\"}", 2, 8 },
        { "{\"N\":\"1\"}", 2, 9 },
        { "{\"N\":\"1.0\"}", 2, 9 },
        { "{\"N\":\"2\"}", 2, 10 },
        { "{\"N\":\"10\"}", 2, 11 },
        { "{\"N\":\"1E1\"}", 2, 11 },
        { "{\"N\":\"99999999999999999999999999999999999999\"}", 2, 12 },
        { "{\"N\":\"1E125\"}", 2, 13 },
        { "{\"B\":\"\"}", 3, 0 },
        { "{\"B\":\"\\x00\"}", 3, 1 },
        { "{\"B\":\"\\x00\\x00\"}", 3, 2 },
        { "{\"B\":\"\\x01\"}", 3, 3 },
        { "{\"B\":\"A\"}", 3, 4 },
        { "{\"B\":\"a\"}", 3, 5 },
        { "{\"B\":\"\\x7f\"}", 3, 6 },
        { "{\"B\":\"\\x80\"}", 3, 7 },
        { "{\"B\":\"\\xff\"}", 3, 8 },
        { "{\"B\":\"\\xff\\x00\"}", 3, 9 },
        { "{\"BOOL\":true}", 0, 0 },
        { "{\"BOOL\":false}", 0, 0 },
        { "{\"NULL\":true}", 0, 0 },
        { "{\"L\":[]}", 0, 0 },
        { "{\"M\":{}}", 0, 0 },
        { "{\"SS\":[\"a\"]}", 0, 0 },
        { "{\"NS\":[\"1\"]}", 0, 0 },
        { "{\"BS\":[\"a\"]}", 0, 0 },
        { "{\"N\":\"abc\"}", 0, 0 }, /* an N that does not parse compares with nothing */
        { "{}", 0, 0 },
    };
    enum { NV = sizeof vals / sizeof vals[0] };
    Dyne__V1__AttributeValue *v[NV];
    bool ok;

    for (size_t i = 0; i < NV; i++)
        v[i] = av(vals[i].json);
    for (size_t i = 0; i < NV; i++) {
        for (size_t j = 0; j < NV; j++) {
            bool want_ok = vals[i].kind != 0 && vals[i].kind == vals[j].kind;
            int want = vals[i].rank < vals[j].rank ? -1 : vals[i].rank > vals[j].rank;
            int got = dyn_item_value_cmp(v[i], v[j], &ok);
            cases_run++;
            if (ok != want_ok || (ok && (got < 0 ? -1 : got > 0) != want))
                DT_FAIL_("cmp(%s, %s) = %d ok=%d, want %d ok=%d", vals[i].json, vals[j].json, got,
                         ok, want, want_ok);
        }
    }
    DT_EQ_INT(dyn_item_value_cmp(NULL, v[0], &ok), 0);
    DT_TRUE(!ok);
    reset();
}

/* ---- lookups, copies, put/remove ------------------------------------------------------------ */

static void
test_get_put_remove(void)
{
    Dyne__V1__AttributeValueMap *m =
        it("{\"a\":{\"S\":\"1\"},\"b\":{\"N\":\"2\"},\"a\":{\"S\":\"3\"}}");
    const Dyne__V1__AttributeValue *v;

    v = dyn_item_get(m, "a");
    DT_TRUE(v != NULL && strcmp(v->s, "3") == 0); /* the last occurrence, as protobuf maps */
    DT_TRUE(dyn_item_get(m, "b") != NULL);
    DT_TRUE(dyn_item_get(m, "c") == NULL);
    DT_TRUE(dyn_item_get(NULL, "a") == NULL);
    DT_TRUE(dyn_item_get(m, "") == NULL);
    DT_OK(dyn_item_put(m, "c", av("{\"BOOL\":true}"), &ta));
    DT_EQ_INT(m->n_values, 4);
    DT_OK(dyn_item_put(m, "b", av("{\"S\":\"new\"}"), &ta));
    DT_EQ_INT(m->n_values, 4);
    DT_EQ_STR(dyn_item_get(m, "b")->s, "new");
    DT_TRUE(dyn_item_remove(m, "a"));
    DT_EQ_INT(m->n_values, 2);
    DT_TRUE(dyn_item_get(m, "a") == NULL);
    DT_TRUE(!dyn_item_remove(m, "a"));
    DT_EQ_STR(m->values[0]->key, "b");
    DT_EQ_STR(m->values[1]->key, "c");
    DT_TRUE(!dyn_item_remove(NULL, "a"));
    {
        dyn_arena tiny;
        dyn_arena_init(&tiny, 16);
        DT_ERR(dyn_item_put(m, "zzz", av("{\"NULL\":true}"), &tiny), DYN_ENOMEM);
        DT_EQ_INT(m->n_values, 2);
        DT_TRUE(dyn_item_value_dup(av("{\"S\":\"abc\"}"), &tiny) == NULL ||
                dyn_item_value_dup(av("{\"L\":[{\"S\":\"abcdefgh\"}]}"), &tiny) == NULL);
        dyn_arena_fini(&tiny);
    }
    cases_run += 20;
    reset();
}

static void
test_dup_is_deep(void)
{
    static const char *vals[] = {
        "{\"S\":\"abc\"}",
        "{\"N\":\"1.5\"}",
        "{\"B\":\"\\x00\\x01\"}",
        "{\"B\":\"\"}",
        "{\"BOOL\":true}",
        "{\"NULL\":true}",
        "{\"L\":[{\"S\":\"x\"},{\"L\":[]}]}",
        "{\"M\":{\"a\":{\"SS\":[\"p\"]},\"b\":{\"M\":{}}}}",
        "{\"SS\":[\"a\",\"b\"]}",
        "{\"NS\":[\"1\",\"2\"]}",
        "{\"BS\":[\"a\",\"\"]}",
        "{}",
    };

    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        Dyne__V1__AttributeValue *v = av(vals[i]), *d = dyn_item_value_dup(v, &ta);
        unsigned char *b1, *b2;
        size_t l1, l2;
        cases_run++;
        DT_TRUE(d != NULL && d != v);
        DT_TRUE(dyn_item_value_equal(v, d));
        DT_EQ_INT(dyn_item_value_size(v), dyn_item_value_size(d));
        /* packable by protobuf-c, and packs like the original */
        l1 = dyne__v1__attribute_value__get_packed_size(v);
        l2 = dyne__v1__attribute_value__get_packed_size(d);
        DT_EQ_INT(l1, l2);
        b1 = dyn_arena_alloc(&ta, l1 + 1);
        b2 = dyn_arena_alloc(&ta, l2 + 1);
        dyne__v1__attribute_value__pack(v, b1);
        dyne__v1__attribute_value__pack(d, b2);
        DT_TRUE(memcmp(b1, b2, l1) == 0);
    }
    {
        Dyne__V1__AttributeValue *v = av("{\"L\":[{\"S\":\"abc\"}]}");
        Dyne__V1__AttributeValue *d = dyn_item_value_dup(v, &ta);
        d->l->values[0]->s[0] = 'X';
        DT_EQ_STR(v->l->values[0]->s, "abc");
    }
    {
        Dyne__V1__AttributeValueMap *m = it("{\"a\":{\"S\":\"1\"},\"b\":{\"L\":[]}}");
        Dyne__V1__AttributeValueMap *d = dyn_item_dup(m, &ta);
        DT_EQ_INT(d->n_values, 2);
        DT_TRUE(d->values[0] != m->values[0]);
        DT_TRUE(dyn_item_value_equal(dyn_item_get(d, "b"), dyn_item_get(m, "b")));
        DT_TRUE(dyn_item_dup(NULL, &ta) == NULL);
        DT_TRUE(dyn_item_value_dup(NULL, &ta) == NULL);
    }
    DT_EQ_STR(dyn_item_type_name(av("{\"BS\":[]}")), "BS");
    DT_EQ_STR(dyn_item_type_name(av("{\"NULL\":true}")), "NULL");
    DT_EQ_STR(dyn_item_type_name(av("{}")), "");
    DT_EQ_STR(dyn_item_type_name(NULL), "");
    reset();
}

/* ---- keys ----------------------------------------------------------------------------------- */

static const dyn_key_schema ks_hash_s = { "pk", 'S', NULL, 0 };
static const dyn_key_schema ks_hash_b = { "pk", 'B', NULL, 0 };
static const dyn_key_schema ks_sn = { "pk", 'S', "sk", 'N' };
static const dyn_key_schema ks_nb = { "h", 'N', "r", 'B' };

#define EMPTY_S                                                                                    \
    "One or more parameter values are not valid. The AttributeValue for a key "                    \
    "attribute cannot contain an empty string value. Key: "
#define EMPTY_B                                                                                    \
    "One or more parameter values are not valid. The AttributeValue for a key "                    \
    "attribute cannot contain an empty binary value. Key: "

/* "{{n,unit}}" in json expands to n copies of unit (long keys). */
static const char *
xp(const char *s)
{
    static char buf[16384];
    char *o = buf;

    while (*s) {
        if (s[0] == '{' && s[1] == '{') {
            const char *unit, *end;
            int n = 0;
            for (s += 2; *s >= '0' && *s <= '9'; s++)
                n = n * 10 + (*s - '0');
            unit = ++s;
            end = strstr(unit, "}}");
            while (n-- > 0) {
                memcpy(o, unit, (size_t)(end - unit));
                o += end - unit;
            }
            s = end + 2;
        } else {
            *o++ = *s++;
        }
    }
    *o = '\0';
    return buf;
}

static void
test_key_from_key_table(void)
{
    static const struct {
        const dyn_key_schema *ks;
        const char *json;
        const char *msg;
    } rows[] = {
        { &ks_hash_s, "{\"pk\":{\"S\":\"a\"}}", NULL },
        { &ks_hash_s, "{}", DYN_ITEM_MSG_KEY_SCHEMA },
        { &ks_hash_s, "{\"pk\":{\"S\":\"a\"},\"x\":{\"S\":\"b\"}}", DYN_ITEM_MSG_KEY_SCHEMA },
        { &ks_hash_s, "{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"}}", DYN_ITEM_MSG_KEY_SCHEMA },
        { &ks_hash_s, "{\"PK\":{\"S\":\"a\"}}", DYN_ITEM_MSG_KEY_SCHEMA },
        { &ks_hash_s, "{\"pk\":{\"N\":\"1\"}}", DYN_ITEM_MSG_KEY_SCHEMA },
        { &ks_hash_s, "{\"pk\":{\"B\":\"a\"}}", DYN_ITEM_MSG_KEY_SCHEMA },
        { &ks_hash_s, "{\"pk\":{\"SS\":[\"a\"]}}", DYN_ITEM_MSG_KEY_SCHEMA },
        { &ks_hash_s, "{\"pk\":{\"L\":[]}}", DYN_ITEM_MSG_KEY_SCHEMA },
        { &ks_hash_s, "{\"pk\":{\"NULL\":true}}", DYN_ITEM_MSG_KEY_SCHEMA },
        { &ks_hash_s, "{\"pk\":{}}", DYN_ITEM_MSG_KEY_SCHEMA },
        { &ks_hash_s, "{\"pk\":{\"S\":\"\"}}", EMPTY_S "pk" },
        { &ks_hash_s, "{\"pk\":{\"S\":\"{{2048,a}}\"}}", NULL },
        { &ks_hash_s, "{\"pk\":{\"S\":\"{{2049,a}}\"}}", DYN_ITEM_MSG_PK_TOO_BIG },
        { &ks_hash_s, "{\"pk\":{\"S\":\"{{682,\\u20ac}}aa\"}}", NULL }, /* 2048 bytes */
        { &ks_hash_s, "{\"pk\":{\"S\":\"{{683,\\u20ac}}\"}}", DYN_ITEM_MSG_PK_TOO_BIG }, /* 2049 */
        { &ks_hash_b, "{\"pk\":{\"B\":\"\\x00\"}}", NULL },
        { &ks_hash_b, "{\"pk\":{\"B\":\"\"}}", EMPTY_B "pk" },
        { &ks_hash_b, "{\"pk\":{\"B\":\"{{2048,b}}\"}}", NULL },
        { &ks_hash_b, "{\"pk\":{\"B\":\"{{2049,b}}\"}}", DYN_ITEM_MSG_PK_TOO_BIG },
        { &ks_hash_b, "{\"pk\":{\"S\":\"a\"}}", DYN_ITEM_MSG_KEY_SCHEMA },
        { &ks_sn, "{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"}}", NULL },
        { &ks_sn, "{\"sk\":{\"N\":\"1\"},\"pk\":{\"S\":\"a\"}}", NULL },
        { &ks_sn, "{\"pk\":{\"S\":\"a\"}}", DYN_ITEM_MSG_KEY_SCHEMA },
        { &ks_sn, "{\"sk\":{\"N\":\"1\"}}", DYN_ITEM_MSG_KEY_SCHEMA },
        { &ks_sn, "{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"},\"c\":{\"S\":\"x\"}}",
          DYN_ITEM_MSG_KEY_SCHEMA },
        { &ks_sn, "{\"pk\":{\"S\":\"a\"},\"xx\":{\"N\":\"1\"}}", DYN_ITEM_MSG_KEY_SCHEMA },
        { &ks_sn, "{\"pk\":{\"S\":\"a\"},\"sk\":{\"S\":\"1\"}}", DYN_ITEM_MSG_KEY_SCHEMA },
        { &ks_sn, "{\"pk\":{\"N\":\"1\"},\"sk\":{\"N\":\"1\"}}", DYN_ITEM_MSG_KEY_SCHEMA },
        { &ks_sn, "{\"pk\":{\"S\":\"a\"},\"pk\":{\"S\":\"b\"}}", DYN_ITEM_MSG_KEY_SCHEMA },
        { &ks_sn, "{\"pk\":{\"S\":\"\"},\"sk\":{\"N\":\"1\"}}", EMPTY_S "pk" },
        { &ks_sn, "{\"pk\":{\"S\":\"\"},\"sk\":{\"S\":\"1\"}}", EMPTY_S "pk" }, /* pk first */
        { &ks_sn, "{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"x\"}}", CANNOT ": x" },
        { &ks_sn, "{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"\"}}", CANNOT },
        { &ks_sn, "{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1e126\"}}", DYN_NUM_MSG_OVERFLOW },
        { &ks_sn,
          "{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"12345678901234567890123456789012345678\"}}",
          NULL },
        { &ks_sn, "{\"pk\":{\"S\":\"{{2049,a}}\"},\"sk\":{\"N\":\"x\"}}", DYN_ITEM_MSG_PK_TOO_BIG },
        { &ks_nb, "{\"h\":{\"N\":\"-1.5\"},\"r\":{\"B\":\"{{1024,z}}\"}}", NULL },
        { &ks_nb, "{\"h\":{\"N\":\"-1.5\"},\"r\":{\"B\":\"{{1025,z}}\"}}",
          DYN_ITEM_MSG_SK_TOO_BIG },
        { &ks_nb, "{\"h\":{\"N\":\"1\"},\"r\":{\"B\":\"\"}}", EMPTY_B "r" },
        { &ks_nb, "{\"h\":{\"N\":\"1\"},\"r\":{\"S\":\"a\"}}", DYN_ITEM_MSG_KEY_SCHEMA },
        { &ks_nb, "{\"h\":{\"N\":\"NaN\"},\"r\":{\"B\":\"a\"}}", CANNOT ": NaN" },
    };
    const Dyne__V1__AttributeValue *pk, *sk;
    const char *msg;
    dyn_err rc;

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        Dyne__V1__AttributeValueMap *key = it(xp(rows[i].json));
        cases_run++;
        msg = NULL;
        pk = sk = NULL;
        rc = dyn_item_key_from_key(rows[i].ks, key, &ta, &msg, &pk, &sk);
        if (rows[i].msg == NULL) {
            if (rc != DYN_OK) {
                DT_FAIL_("key(%s) failed: %s", rows[i].json, msg ? msg : "?");
                continue;
            }
            DT_TRUE(pk == dyn_item_get(key, rows[i].ks->pk_name));
            DT_TRUE(sk == dyn_item_get(key, rows[i].ks->sk_name));
        } else if (rc != DYN_EVALIDATION || msg == NULL || strcmp(msg, rows[i].msg) != 0) {
            DT_FAIL_("key(%s) = %d \"%s\", want \"%s\"", rows[i].json, rc, msg ? msg : "",
                     rows[i].msg);
        }
    }
    DT_ERR(dyn_item_key_from_key(&ks_hash_s, NULL, &ta, &msg, NULL, NULL), DYN_EVALIDATION);
    DT_OK(dyn_item_key_from_key(&ks_hash_s, it("{\"pk\":{\"S\":\"a\"}}"), &ta, &msg, NULL, NULL));
    reset();
}

static void
test_key_from_item_table(void)
{
    static const struct {
        const dyn_key_schema *ks;
        const char *json;
        const char *msg;
    } rows[] = {
        { &ks_hash_s, "{\"pk\":{\"S\":\"a\"}}", NULL },
        { &ks_hash_s, "{\"pk\":{\"S\":\"a\"},\"x\":{\"N\":\"1\"},\"y\":{\"L\":[]}}", NULL },
        { &ks_hash_s, "{}", INVALID "Missing the key pk in the item" },
        { &ks_hash_s, "{\"x\":{\"S\":\"a\"}}", INVALID "Missing the key pk in the item" },
        { &ks_hash_s, "{\"pk\":{\"N\":\"5\"}}",
          INVALID "Type mismatch for key pk expected: S actual: N" },
        { &ks_hash_s, "{\"pk\":{\"B\":\"5\"}}",
          INVALID "Type mismatch for key pk expected: S actual: B" },
        { &ks_hash_s, "{\"pk\":{\"L\":[{\"S\":\"x\"}]}}",
          INVALID "Type mismatch for key pk expected: S actual: L" },
        { &ks_hash_s, "{\"pk\":{\"M\":{}}}",
          INVALID "Type mismatch for key pk expected: S actual: M" },
        { &ks_hash_s, "{\"pk\":{\"SS\":[\"a\"]}}",
          INVALID "Type mismatch for key pk expected: S actual: SS" },
        { &ks_hash_s, "{\"pk\":{\"NS\":[\"1\"]}}",
          INVALID "Type mismatch for key pk expected: S actual: NS" },
        { &ks_hash_s, "{\"pk\":{\"BS\":[\"1\"]}}",
          INVALID "Type mismatch for key pk expected: S actual: BS" },
        { &ks_hash_s, "{\"pk\":{\"BOOL\":true}}",
          INVALID "Type mismatch for key pk expected: S actual: BOOL" },
        { &ks_hash_s, "{\"pk\":{\"NULL\":true}}",
          INVALID "Type mismatch for key pk expected: S actual: NULL" },
        { &ks_hash_s, "{\"pk\":{\"S\":\"\"}}", EMPTY_S "pk" },
        { &ks_hash_s, "{\"pk\":{\"S\":\"{{2049,q}}\"}}", DYN_ITEM_MSG_PK_TOO_BIG },
        { &ks_hash_b, "{\"pk\":{\"B\":\"\"}}", EMPTY_B "pk" },
        { &ks_hash_b, "{\"pk\":{\"S\":\"a\"}}",
          INVALID "Type mismatch for key pk expected: B actual: S" },
        { &ks_sn, "{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"}}", NULL },
        { &ks_sn, "{\"pk\":{\"S\":\"a\"}}", INVALID "Missing the key sk in the item" },
        { &ks_sn, "{\"sk\":{\"N\":\"1\"}}", INVALID "Missing the key pk in the item" },
        { &ks_sn, "{\"pk\":{\"S\":\"a\"},\"sk\":{\"S\":\"1\"}}",
          INVALID "Type mismatch for key sk expected: N actual: S" },
        { &ks_sn, "{\"pk\":{\"N\":\"1\"},\"sk\":{\"S\":\"1\"}}",
          INVALID "Type mismatch for key pk expected: S actual: N" },
        { &ks_sn, "{\"pk\":{\"S\":\"\"}}", EMPTY_S "pk" }, /* pk checked completely first */
        { &ks_sn, "{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1e-131\"}}", DYN_NUM_MSG_UNDERFLOW },
        { &ks_nb, "{\"h\":{\"N\":\"1\"},\"r\":{\"B\":\"{{1025,z}}\"}}", DYN_ITEM_MSG_SK_TOO_BIG },
        { &ks_nb,
          "{\"h\":{\"N\":\"1\"},\"r\":{\"B\":\"{{1024,z}}\"},\"extra\":{\"S\":\"{{3000,e}}\"}}",
          NULL },
        { &ks_nb, "{\"h\":{\"N\":\"1\"},\"r\":{\"NS\":[\"1\"]}}",
          INVALID "Type mismatch for key r expected: B actual: NS" },
        { &ks_nb, "{\"h\":{\"S\":\"1\"}}",
          INVALID "Type mismatch for key h expected: N actual: S" },
    };
    const Dyne__V1__AttributeValue *pk, *sk;
    const char *msg;
    dyn_err rc;

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        Dyne__V1__AttributeValueMap *item = it(xp(rows[i].json));
        cases_run++;
        msg = NULL;
        pk = sk = NULL;
        rc = dyn_item_key_from_item(rows[i].ks, item, &ta, &msg, &pk, &sk);
        if (rows[i].msg == NULL) {
            if (rc != DYN_OK) {
                DT_FAIL_("item key(%s) failed: %s", rows[i].json, msg ? msg : "?");
                continue;
            }
            DT_TRUE(pk == dyn_item_get(item, rows[i].ks->pk_name));
            DT_TRUE(sk == dyn_item_get(item, rows[i].ks->sk_name));
        } else if (rc != DYN_EVALIDATION || msg == NULL || strcmp(msg, rows[i].msg) != 0) {
            DT_FAIL_("item key(%s) = %d \"%s\", want \"%s\"", rows[i].json, rc, msg ? msg : "",
                     rows[i].msg);
        }
    }
    reset();
}

static void
test_key_map(void)
{
    Dyne__V1__AttributeValueMap *item =
        it("{\"x\":{\"S\":\"1\"},\"sk\":{\"N\":\"2\"},\"pk\":{\"S\":\"k\"},\"y\":{\"L\":[]}}");
    Dyne__V1__AttributeValueMap *k = dyn_item_key_map(&ks_sn, item, &ta);

    DT_TRUE(k != NULL);
    DT_EQ_INT(k->n_values, 2);
    DT_EQ_STR(k->values[0]->key, "pk");
    DT_EQ_STR(k->values[1]->key, "sk");
    DT_TRUE(dyn_item_value_equal(k->values[0]->value, dyn_item_get(item, "pk")));
    DT_TRUE(k->values[0]->value != dyn_item_get(item, "pk"));
    DT_OK(dyn_item_key_from_key(&ks_sn, k, &ta, NULL, NULL, NULL));
    k = dyn_item_key_map(&ks_hash_s, item, &ta);
    DT_EQ_INT(k->n_values, 1);
    k = dyn_item_key_map(&ks_nb, item, &ta);
    DT_EQ_INT(k->n_values, 0);
    cases_run += 5;
    reset();
}

/* ---- storage encoding ----------------------------------------------------------------------- */

static unsigned char *
enc(const Dyne__V1__AttributeValueMap *m, size_t *len)
{
    unsigned char *buf = NULL;
    dyn_err rc = dyn_item_encode(m, &ta, &buf, len);

    if (rc != DYN_OK) {
        DT_FAIL_("encode failed: %d", rc);
        *len = 0;
        return NULL;
    }
    return buf;
}

static bool
items_equal(const Dyne__V1__AttributeValueMap *a, const Dyne__V1__AttributeValueMap *b)
{
    Dyne__V1__AttributeValue va = DYNE__V1__ATTRIBUTE_VALUE__INIT,
                             vb = DYNE__V1__ATTRIBUTE_VALUE__INIT;

    va.value_case = vb.value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_M;
    va.m = (Dyne__V1__AttributeValueMap *)a;
    vb.m = (Dyne__V1__AttributeValueMap *)b;
    return dyn_item_value_equal(&va, &vb);
}

/* encode, decode, compare, encode again: identical bytes. */
static void
check_roundtrip(const Dyne__V1__AttributeValueMap *m, const char *what)
{
    Dyne__V1__AttributeValueMap *back = NULL;
    unsigned char *b1, *b2;
    size_t l1, l2;

    cases_run++;
    if ((b1 = enc(m, &l1)) == NULL)
        return;
    if (dyn_item_decode(b1, l1, &ta, &back) != DYN_OK) {
        DT_FAIL_("decode of %s failed", what);
        return;
    }
    if (!items_equal(m, back))
        DT_FAIL_("round trip of %s changed the item", what);
    DT_EQ_INT(dyn_item_size(m), dyn_item_size(back));
    if ((b2 = enc(back, &l2)) == NULL)
        return;
    if (l1 != l2 || memcmp(b1, b2, l1) != 0)
        DT_FAIL_("re-encoding %s gave other bytes", what);
}

static void
test_codec_vectors(void)
{
    static const struct {
        const char *json;
        const char *hex;
    } rows[] = {
        { "{}", "0100" },
        { "{\"a\":{\"S\":\"b\"}}", "010101610101"
                                   "62" },
        { "{\"n\":{\"N\":\"-12.5\"}}", "0101016e0202017d" },
        { "{\"n\":{\"N\":\"0\"}}", "0101016e0200" },
        { "{\"n\":{\"N\":\"-0.00\"}}", "0101016e0200" },
        { "{\"n\":{\"N\":\"1E3\"}}", "0101016e02010601" },
        { "{\"n\":{\"N\":\"1000\"}}", "0101016e02010601" },
        { "{\"n\":{\"N\":\"200\"}}", "0101016e02010402" },
        { "{\"n\":{\"N\":\"128\"}}", "0101016e0201008001" },
        { "{\"b\":{\"B\":\"\\x00\\xff\"}}", "0101016203"
                                            "0200ff" },
        { "{\"t\":{\"BOOL\":true},\"f\":{\"BOOL\":false},\"z\":{\"NULL\":true}}",
          "0103016604017405017a06" },
        { "{\"l\":{\"L\":[{\"S\":\"x\"},{\"NULL\":true}]}}", "0101016c070201017806" },
        { "{\"m\":{\"M\":{\"b\":{\"BOOL\":true},\"a\":{\"BOOL\":false}}}}",
          "0101016d080201610401620"
          "5" },
        { "{\"s\":{\"SS\":[\"b\",\"a\",\"ab\"]}}", "01010173090301610261620162" },
        { "{\"s\":{\"NS\":[\"10\",\"-1\",\"1\"]}}", "010101730a03020001010001010201" },
        { "{\"s\":{\"BS\":[\"\\x02\",\"\\x01\"]}}", "010101730b0201010102" },
        { "{\"b\":{\"S\":\"1\"},\"a\":{\"S\":\"2\"},\"ab\":{\"S\":\"3\"}}",
          "01030161010132026162010133016201013"
          "1" },
    };

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        Dyne__V1__AttributeValueMap *m = it(rows[i].json);
        unsigned char *buf;
        size_t len;
        char hex[512];

        cases_run++;
        if ((buf = enc(m, &len)) == NULL)
            continue;
        for (size_t k = 0; k < len && k * 2 + 2 < sizeof hex; k++)
            snprintf(hex + 2 * k, 3, "%02x", buf[k]);
        hex[len * 2 < sizeof hex ? len * 2 : sizeof hex - 1] = '\0';
        if (strcmp(hex, rows[i].hex) != 0)
            DT_FAIL_("encode(%s) = %s, want %s", rows[i].json, hex, rows[i].hex);
        check_roundtrip(m, rows[i].json);
    }
    reset();
}

static void
test_codec_canonical_text(void)
{
    Dyne__V1__AttributeValueMap *back;
    unsigned char *buf;
    size_t len;
    const Dyne__V1__AttributeValue *v;

    buf = enc(
        it("{\"a\":{\"N\":\"1E3\"},\"b\":{\"N\":\"-0\"},\"c\":{\"NS\":[\"10\",\"1E0\",\"2.50\"]},"
           "\"d\":{\"N\":\"-.5e-3\"},\"e\":{\"N\":\"+001.2300\"}}"),
        &len);
    DT_OK(dyn_item_decode(buf, len, &ta, &back));
    DT_EQ_STR(dyn_item_get(back, "a")->n, "1000");
    DT_EQ_STR(dyn_item_get(back, "b")->n, "0");
    v = dyn_item_get(back, "c");
    DT_EQ_INT(v->ns->n_values, 3);
    DT_EQ_STR(v->ns->values[0], "1");
    DT_EQ_STR(v->ns->values[1], "2.5");
    DT_EQ_STR(v->ns->values[2], "10");
    DT_EQ_STR(dyn_item_get(back, "d")->n, "-0.0005");
    DT_EQ_STR(dyn_item_get(back, "e")->n, "1.23");
    /* names come back sorted */
    DT_EQ_STR(back->values[0]->key, "a");
    DT_EQ_STR(back->values[4]->key, "e");
    cases_run += 10;
    reset();
}

static void
test_codec_equal_items_encode_alike(void)
{
    static const struct {
        const char *a, *b;
    } rows[] = {
        { "{\"a\":{\"S\":\"1\"},\"b\":{\"S\":\"2\"}}",
          "{\"b\":{\"S\":\"2\"},\"a\":{\"S\":\"1\"}}" },
        { "{\"n\":{\"N\":\"100\"}}", "{\"n\":{\"N\":\"1.00E2\"}}" },
        { "{\"s\":{\"SS\":[\"x\",\"y\",\"z\"]}}", "{\"s\":{\"SS\":[\"z\",\"x\",\"y\"]}}" },
        { "{\"s\":{\"NS\":[\"1\",\"2\"]}}", "{\"s\":{\"NS\":[\"2.0\",\"1E0\"]}}" },
        { "{\"s\":{\"BS\":[\"\\x00\",\"\\x00\\x00\"]}}",
          "{\"s\":{\"BS\":[\"\\x00\\x00\",\"\\x00\"]}}" },
        { "{\"m\":{\"M\":{\"p\":{\"N\":\"1\"},\"q\":{\"M\":{\"y\":{\"S\":\"\"},\"x\":{\"B\":\"\"}}}"
          "}}}",
          "{\"m\":{\"M\":{\"q\":{\"M\":{\"x\":{\"B\":\"\"},\"y\":{\"S\":\"\"}}},\"p\":{\"N\":\"1."
          "0\"}}}}" },
        /* a repeated name: the last wins */
        { "{\"a\":{\"S\":\"old\"},\"a\":{\"S\":\"new\"}}", "{\"a\":{\"S\":\"new\"}}" },
        /* set members are deduplicated */
        { "{\"s\":{\"NS\":[\"1\",\"1.0\"]}}", "{\"s\":{\"NS\":[\"1\"]}}" },
        { "{\"s\":{\"SS\":[\"a\",\"a\"]}}", "{\"s\":{\"SS\":[\"a\"]}}" },
    };

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        size_t la, lb;
        unsigned char *ba = enc(it(rows[i].a), &la), *bb = enc(it(rows[i].b), &lb);
        cases_run++;
        if (ba == NULL || bb == NULL || la != lb || memcmp(ba, bb, la) != 0)
            DT_FAIL_("%s and %s encode differently", rows[i].a, rows[i].b);
    }
    reset();
}

static void
test_codec_encode_errors(void)
{
    static const char *rows[] = {
        "{\"a\":{}}",
        "{\"a\":{\"N\":\"x\"}}",
        "{\"a\":{\"N\":\"1e126\"}}",
        "{\"a\":{\"NS\":[\"1\",\"x\"]}}",
        "{\"a\":{\"L\":[{}]}}",
        "{\"a\":{\"M\":{\"b\":{}}}}",
    };
    unsigned char *buf;
    size_t len;

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        cases_run++;
        DT_ERR(dyn_item_encode(it(rows[i]), &ta, &buf, &len), DYN_EVALIDATION);
    }
    /* the codec's own depth bound: 64 levels of L under an attribute encode, 65 do not */
    for (int k = 63; k <= 66; k++) {
        Dyne__V1__AttributeValueMap *m = dyn_item_new(&ta);
        DT_OK(dyn_item_put(m, "a", nest(k, k % 2, av("{\"NULL\":true}")), &ta));
        DT_ERR(dyn_item_encode(m, &ta, &buf, &len), k <= 64 ? DYN_OK : DYN_EVALIDATION);
        if (k <= 64)
            check_roundtrip(m, "deep item");
        cases_run++;
    }
    {
        dyn_arena tiny;
        Dyne__V1__AttributeValueMap *m = it(xp("{\"a\":{\"S\":\"{{200,x}}\"}}")), *back;
        DT_OK(dyn_item_encode(m, &ta, &buf, &len));
        dyn_arena_init(&tiny, 64);
        DT_ERR(dyn_item_encode(m, &tiny, &buf, &len), DYN_ENOMEM);
        dyn_arena_reset(&tiny);
        DT_OK(dyn_item_encode(m, &ta, &buf, &len));
        DT_ERR(dyn_item_decode(buf, len, &tiny, &back), DYN_ENOMEM);
        dyn_arena_fini(&tiny);
        cases_run += 2;
    }
    reset();
}

static size_t
unhex(const char *hex, unsigned char *out)
{
    size_t n = 0;

    for (; hex[0] && hex[1]; hex += 2) {
        while (*hex == ' ')
            hex++;
        if (!hex[0] || !hex[1])
            break;
        out[n++] = (unsigned char)(hexval(hex[0]) * 16 + hexval(hex[1]));
    }
    return n;
}

static void
test_codec_corrupt_table(void)
{
    static const struct {
        const char *hex;
        bool ok;
    } rows[] = {
        { "", false },
        { "01", false },
        { "0100", true },
        { "0200", false },
        { "0000", false },
        { "010000", false },                   /* trailing byte */
        { "018000", false },                   /* non-minimal count */
        { "01ffffffffffffffffffff01", false }, /* count too large */
        { "0101016106", true },
        { "010101610600", false },
        { "0102016206016106", false },  /* names not sorted */
        { "0102016106016106", false },  /* repeated name */
        { "010201610602616106", true }, /* "a" < "aa" */
        { "0102026161060161"
          "06",
          false },               /* "aa" before "a" */
        { "0101016100", false }, /* tag 0 */
        { "010101610c", false }, /* unknown tag */
        { "01010161ff", false },
        { "0101016101026100", false },       /* NUL inside S */
        { "01010261000106", false },         /* NUL inside a name */
        { "0101016101ffffffff0f61", false }, /* S longer than the buffer */
        { "01010161010261", false },         /* S truncated */
        { "010101610380"
          "00",
          false },                     /* non-minimal length */
        { "0101016103020000", true },  /* NULs in B are fine */
        { "010101610200", true },      /* N zero */
        { "01010161020000", false },   /* zero with payload */
        { "01010161020100", false },   /* truncated number */
        { "0101016102010001", true },  /* 1 */
        { "010101610201000a", false }, /* coef 10: trailing zero */
        { "0101016102010000", false }, /* coef 0 with a sign */
        { "0101016102030001", false }, /* bad sign byte */
        { "0101016102010200", false },
        { "01010161020102"
          "8000",
          false }, /* non-minimal coef */
        { "01010161020180"
          "0001",
          false }, /* non-minimal exponent */
        { "01010161020100"
          "ffffffffffffffffffffffffffffffffffff7f",
          false }, /* coef > 2^128 */
        { "01010161020100"
          "ffffffffffffffffffffffffffffffffffff01",
          false },                       /* coef >= 10^38 */
        { "010101610201fa0101", true },  /* 1E125 */
        { "010101610201fc0101", false }, /* 1E126 */
        { "010101610201830201", true },  /* 1E-130 */
        { "010101610201850201", false }, /* 1E-131 */
        { "010101610700", true },        /* empty L */
        { "01010161070106", true },
        { "010101610702"
          "06",
          false },                /* L shorter than its count */
        { "010101610800", true }, /* empty M */
        { "0101016108020162060161"
          "06",
          false },                /* M names not sorted */
        { "010101610900", true }, /* empty SS (not produced, harmless) */
        { "0101016109020161016"
          "2",
          true },
        { "0101016109020162016"
          "1",
          false }, /* SS not sorted */
        { "0101016109020161016"
          "1",
          false },                         /* SS duplicate */
        { "010101610a0200010001", true },  /* NS {0, 1} */
        { "010101610a0201000100", false }, /* NS {1, 0}: not sorted */
        { "010101610a020001"
          "0000",
          false }, /* NS member coef 0 with sign */
        { "010101610a0200"
          "00",
          false },                      /* NS {0, 0} */
        { "010101610b02000100", true }, /* BS {"", "\0"} */
        { "010101610b020100"
          "00",
          false },                         /* BS not sorted */
        { "010101610b0201000100", false }, /* BS duplicate */
        { "010101610b05", false },         /* count past the end */
        { "0104", false },
    };
    unsigned char buf[256];
    Dyne__V1__AttributeValueMap *m;

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        size_t len = unhex(rows[i].hex, buf);
        dyn_err rc = dyn_item_decode(buf, len, &ta, &m);
        cases_run++;
        if (rows[i].ok) {
            unsigned char *back;
            size_t blen;
            if (rc != DYN_OK) {
                DT_FAIL_("decode(%s) = %d, want OK", rows[i].hex, rc);
                continue;
            }
            /* accepted input is canonical: it re-encodes to itself */
            if (dyn_item_encode(m, &ta, &back, &blen) != DYN_OK || blen != len ||
                memcmp(back, buf, len) != 0)
                DT_FAIL_("decode(%s) does not re-encode to itself", rows[i].hex);
        } else if (rc != DYN_EINTERNAL) {
            DT_FAIL_("decode(%s) = %d, want EINTERNAL", rows[i].hex, rc);
        }
    }
    DT_ERR(dyn_item_decode(NULL, 0, &ta, &m), DYN_EINTERNAL);
    /* nesting: 64 levels of L under an attribute decode, 65 do not */
    for (int k = 63; k <= 66; k++) {
        unsigned char deep[256];
        size_t n = 0;
        deep[n++] = 0x01;
        deep[n++] = 0x01;
        deep[n++] = 0x01;
        deep[n++] = 'a';
        for (int i = 0; i < k; i++) {
            deep[n++] = 0x07;
            deep[n++] = 0x01;
        }
        deep[n++] = 0x06;
        DT_ERR(dyn_item_decode(deep, n, &ta, &m), k <= 64 ? DYN_OK : DYN_EINTERNAL);
        cases_run++;
    }
    reset();
}

/* ---- random items (fixed seed) -------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static unsigned
rndn(unsigned n)
{
    return (unsigned)(rnd() % n);
}

static char *
rnd_text(bool allow_empty)
{
    static const char *pieces[] = {
        "a",    "b",    "z", "A", " ", "0", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
        "\x01", "\x7f", "x", "yy"
    };
    unsigned n = rndn(6) + (allow_empty ? 0 : 1);
    char *s = dyn_arena_alloc(&ta, n * 4 + 1), *o = s;

    for (unsigned i = 0; i < n; i++) {
        const char *p = pieces[rndn(sizeof pieces / sizeof pieces[0])];
        memcpy(o, p, strlen(p));
        o += strlen(p);
    }
    *o = '\0';
    return s;
}

static char *
rnd_number(void)
{
    char *s = dyn_arena_alloc(&ta, 96), *o = s;
    unsigned digits = 1 + rndn(38);
    int adj = (int)rndn(256) - 130;

    if (rndn(8) == 0)
        return dyn_arena_strdup(&ta, rndn(2) ? "0" : "-0.000");
    if (adj > 125)
        adj = 125;
    if (rndn(2))
        *o++ = '-';
    *o++ = (char)('1' + rndn(9));
    *o++ = '.';
    for (unsigned i = 1; i < digits; i++)
        *o++ = (char)('0' + rndn(10));
    snprintf(o, 16, "E%d", adj);
    return s;
}

static Dyne__V1__AttributeValue *rnd_value(int depth);

static Dyne__V1__AttributeValueMap *
rnd_map(int depth, unsigned max)
{
    Dyne__V1__AttributeValueMap *m = dyn_item_new(&ta);
    unsigned n = rndn(max + 1);

    for (unsigned i = 0; i < n; i++) {
        char *name = dyn_arena_printf(&ta, "%u%s", i, rnd_text(true));
        DT_OK(dyn_item_put(m, name, rnd_value(depth + 1), &ta));
    }
    return m;
}

static Dyne__V1__AttributeValue *
rnd_value(int depth)
{
    Dyne__V1__AttributeValue *v = dyn_item_value_dup(av("{}"), &ta);
    unsigned kind = rndn(depth >= 4 ? 8 : 10), n;

    switch (kind) {
    case 0:
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_S;
        v->s = rnd_text(true);
        break;
    case 1:
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_N;
        v->n = rnd_number();
        break;
    case 2:
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_B;
        v->b.len = rndn(9);
        v->b.data = dyn_arena_alloc(&ta, v->b.len + 1);
        for (size_t i = 0; i < v->b.len; i++)
            v->b.data[i] = (uint8_t)rnd();
        break;
    case 3:
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_BOOL;
        v->bool_ = rndn(2);
        break;
    case 4:
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_NULL;
        v->null = 1;
        break;
    case 5:
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS;
        v->ss = dyn_arena_zalloc(&ta, sizeof *v->ss);
        dyne__v1__string_set__init(v->ss);
        n = 1 + rndn(5);
        v->ss->values = dyn_arena_alloc(&ta, n * sizeof *v->ss->values);
        for (unsigned i = 0; i < n; i++) /* distinct first character: no duplicates */
            v->ss->values[i] = dyn_arena_printf(&ta, "%c%s", 'a' + i, rnd_text(true));
        v->ss->n_values = n;
        break;
    case 6: {
        dyn_num *seen;
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS;
        v->ns = dyn_arena_zalloc(&ta, sizeof *v->ns);
        dyne__v1__number_set__init(v->ns);
        n = 1 + rndn(5);
        v->ns->values = dyn_arena_alloc(&ta, n * sizeof *v->ns->values);
        seen = dyn_arena_alloc(&ta, n * sizeof *seen);
        for (unsigned i = 0; i < n;) {
            char *t = rnd_number();
            bool dup = false;
            DT_OK(dyn_num_parse(t, strlen(t), &seen[i], NULL));
            for (unsigned j = 0; j < i; j++)
                dup |= dyn_num_cmp(&seen[j], &seen[i]) == 0;
            if (!dup)
                v->ns->values[i++] = t;
        }
        v->ns->n_values = n;
        break;
    }
    case 7:
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_BS;
        v->bs = dyn_arena_zalloc(&ta, sizeof *v->bs);
        dyne__v1__binary_set__init(v->bs);
        n = 1 + rndn(5);
        v->bs->values = dyn_arena_alloc(&ta, n * sizeof *v->bs->values);
        for (unsigned i = 0; i < n; i++) {
            size_t len = 1 + rndn(6);
            uint8_t *d = dyn_arena_alloc(&ta, len);
            d[0] = (uint8_t)(i * 37); /* distinct first byte */
            for (size_t k = 1; k < len; k++)
                d[k] = (uint8_t)rnd();
            v->bs->values[i].data = d;
            v->bs->values[i].len = len;
        }
        v->bs->n_values = n;
        break;
    case 8:
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_L;
        v->l = dyn_arena_zalloc(&ta, sizeof *v->l);
        dyne__v1__attribute_value_list__init(v->l);
        n = rndn(5);
        v->l->values = dyn_arena_alloc(&ta, (n + 1) * sizeof *v->l->values);
        for (unsigned i = 0; i < n; i++)
            v->l->values[i] = rnd_value(depth + 1);
        v->l->n_values = n;
        break;
    default:
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_M;
        v->m = rnd_map(depth, 4);
        break;
    }
    return v;
}

/* Reverses every map's entries and every set's members, recursively: an equal item. */
static void shuffle_value(Dyne__V1__AttributeValue *v);

static void
shuffle_map(Dyne__V1__AttributeValueMap *m)
{
    for (size_t i = 0, j = m->n_values; i + 1 < j; i++, j--) {
        Dyne__V1__AttributeValueMap__ValuesEntry *t = m->values[i];
        m->values[i] = m->values[j - 1];
        m->values[j - 1] = t;
    }
    for (size_t i = 0; i < m->n_values; i++)
        shuffle_value(m->values[i]->value);
}

static void
shuffle_value(Dyne__V1__AttributeValue *v)
{
    switch (v->value_case) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_M:
        shuffle_map(v->m);
        break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_L:
        for (size_t i = 0; i < v->l->n_values; i++)
            shuffle_value(v->l->values[i]);
        break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS:
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS: {
        char **a =
            v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS ? v->ss->values : v->ns->values;
        size_t n = v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS ? v->ss->n_values
                                                                        : v->ns->n_values;
        for (size_t i = 0, j = n; i + 1 < j; i++, j--) {
            char *t = a[i];
            a[i] = a[j - 1];
            a[j - 1] = t;
        }
        break;
    }
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_BS:
        for (size_t i = 0, j = v->bs->n_values; i + 1 < j; i++, j--) {
            ProtobufCBinaryData t = v->bs->values[i];
            v->bs->values[i] = v->bs->values[j - 1];
            v->bs->values[j - 1] = t;
        }
        break;
    default:
        break;
    }
}

static void
test_codec_random_roundtrips(void)
{
    const char *msg;

    for (int round = 0; round < 400; round++) {
        Dyne__V1__AttributeValueMap *m = rnd_map(0, 8), *shuffled;
        unsigned char *b1, *b2;
        size_t l1, l2;

        msg = NULL;
        if (dyn_item_validate(m, &ta, &msg) != DYN_OK)
            DT_FAIL_("random item %d does not validate: %s", round, msg ? msg : "?");
        check_roundtrip(m, "random item");
        shuffled = dyn_item_dup(m, &ta);
        shuffle_map(shuffled);
        DT_TRUE(items_equal(m, shuffled));
        b1 = enc(m, &l1);
        b2 = enc(shuffled, &l2);
        if (b1 == NULL || b2 == NULL || l1 != l2 || memcmp(b1, b2, l1) != 0)
            DT_FAIL_("random item %d: an equal item encodes differently", round);
        cases_run++;
        if (round % 50 == 49)
            reset();
    }
    reset();
}

/* Every strict prefix of a valid encoding is rejected; random byte changes either fail cleanly
 * or decode to an item that re-encodes to exactly the changed bytes. */
static void
test_codec_truncation_and_mutation(void)
{
    for (int round = 0; round < 60; round++) {
        Dyne__V1__AttributeValueMap *m = rnd_map(0, 6), *back;
        unsigned char *buf, *mut, *re;
        size_t len, relen;

        if ((buf = enc(m, &len)) == NULL)
            continue;
        for (size_t cut = 0; cut < len; cut++) {
            cases_run++;
            if (dyn_item_decode(buf, cut, &ta, &back) != DYN_EINTERNAL)
                DT_FAIL_("prefix %zu/%zu of round %d accepted", cut, len, round);
        }
        mut = dyn_arena_alloc(&ta, len + 1);
        for (int k = 0; k < 200; k++) {
            dyn_err rc;
            memcpy(mut, buf, len);
            for (unsigned flips = 1 + rndn(3); flips > 0; flips--)
                mut[rndn((unsigned)len)] ^= (unsigned char)(1u << rndn(8));
            rc = dyn_item_decode(mut, len, &ta, &back);
            cases_run++;
            if (rc == DYN_OK) {
                if (dyn_item_encode(back, &ta, &re, &relen) != DYN_OK || relen != len ||
                    memcmp(re, mut, len) != 0)
                    DT_FAIL_("mutated buffer decoded but is not canonical (round %d)", round);
            } else if (rc != DYN_EINTERNAL) {
                DT_FAIL_("mutated buffer gave %d", rc);
            }
        }
        reset();
    }
    /* random garbage */
    for (int k = 0; k < 3000; k++) {
        unsigned char junk[48];
        Dyne__V1__AttributeValueMap *back;
        size_t len = rndn(sizeof junk + 1);
        dyn_err rc;
        for (size_t i = 0; i < len; i++)
            junk[i] = (unsigned char)(i == 0 && rndn(2) ? 0x01 : rnd());
        rc = dyn_item_decode(junk, len, &ta, &back);
        DT_TRUE(rc == DYN_OK || rc == DYN_EINTERNAL);
        cases_run++;
    }
    reset();
}

static void
test_summary(void)
{
    fprintf(stderr, "  %d table rows and generated cases\n", cases_run);
    DT_TRUE(cases_run > 500);
}

static void
setup(void)
{
    dyn_arena_init(&ta, (size_t)512 << 20);
}

DT_MAIN({ "setup", setup }, { "value sizes", test_value_sizes },
        { "number sizes follow libs/num", test_number_sizes_follow_num },
        { "item sizes", test_item_sizes }, { "item at the size limit", test_max_size_item },
        { "validate value: every message", test_validate_value_table },
        { "validate item", test_validate_item_table },
        { "validate name length", test_validate_name_length },
        { "nesting limits", test_nesting_limits },
        { "validate out of arena", test_validate_enomem },
        { "equality matrix", test_equality_matrix }, { "comparison matrix", test_cmp_matrix },
        { "get, put, remove", test_get_put_remove }, { "deep copies", test_dup_is_deep },
        { "key from Key parameter", test_key_from_key_table },
        { "key from item", test_key_from_item_table }, { "key map", test_key_map },
        { "codec vectors", test_codec_vectors },
        { "codec canonical number text", test_codec_canonical_text },
        { "codec: equal items encode alike", test_codec_equal_items_encode_alike },
        { "codec encode errors", test_codec_encode_errors },
        { "codec corrupt input", test_codec_corrupt_table },
        { "codec random round trips", test_codec_random_roundtrips },
        { "codec truncation and mutation", test_codec_truncation_and_mutation },
        { "summary", test_summary })
