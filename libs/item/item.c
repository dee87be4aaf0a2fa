/* libs/item -- sizes, validation with DynamoDB's messages, equality, ordering, lookups and deep
 * copies of attribute values. Key-schema checks live in item_key.c, the storage encoding in
 * item_codec.c. */
#include "libs/item/item.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "libs/item/item_int.h"
#include "libs/num/num.h"

static const char *const type_names[] = {
    [DYNE__V1__ATTRIBUTE_VALUE__VALUE_S] = "S",
    [DYNE__V1__ATTRIBUTE_VALUE__VALUE_N] = "N",
    [DYNE__V1__ATTRIBUTE_VALUE__VALUE_B] = "B",
    [DYNE__V1__ATTRIBUTE_VALUE__VALUE_BOOL] = "BOOL",
    [DYNE__V1__ATTRIBUTE_VALUE__VALUE_NULL] = "NULL",
    [DYNE__V1__ATTRIBUTE_VALUE__VALUE_L] = "L",
    [DYNE__V1__ATTRIBUTE_VALUE__VALUE_M] = "M",
    [DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS] = "SS",
    [DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS] = "NS",
    [DYNE__V1__ATTRIBUTE_VALUE__VALUE_BS] = "BS",
};

const char *
dyn_item_type_name(const Dyne__V1__AttributeValue *v)
{
    if (v == NULL || v->value_case <= DYNE__V1__ATTRIBUTE_VALUE__VALUE__NOT_SET ||
        v->value_case > DYNE__V1__ATTRIBUTE_VALUE__VALUE_BS)
        return "";
    return type_names[v->value_case];
}

/* ---- sizes ---------------------------------------------------------------------------------- */

static size_t
num_text_size(const char *s)
{
    dyn_num n;

    s = item_str(s);
    if (dyn_num_parse(s, strlen(s), &n, NULL) != DYN_OK)
        return strlen(s); /* not a number: never stored, but callers may size it first */
    return dyn_num_size(&n);
}

size_t
dyn_item_value_size(const Dyne__V1__AttributeValue *v)
{
    size_t sz = 0;

    if (v == NULL)
        return 0;
    switch (v->value_case) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_S:
        return strlen(item_str(v->s));
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_N:
        return num_text_size(v->n);
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_B:
        return v->b.len;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_BOOL:
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_NULL:
        return 1;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_L:
        sz = 3;
        if (v->l != NULL)
            for (size_t i = 0; i < v->l->n_values; i++)
                sz += 1 + dyn_item_value_size(v->l->values[i]);
        return sz;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_M:
        sz = 3;
        if (v->m != NULL)
            for (size_t i = 0; i < v->m->n_values; i++) {
                const Dyne__V1__AttributeValueMap__ValuesEntry *e = v->m->values[i];
                if (e != NULL)
                    sz += 1 + strlen(item_str(e->key)) + dyn_item_value_size(e->value);
            }
        return sz;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS:
        if (v->ss != NULL)
            for (size_t i = 0; i < v->ss->n_values; i++)
                sz += strlen(item_str(v->ss->values[i]));
        return sz;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS:
        if (v->ns != NULL)
            for (size_t i = 0; i < v->ns->n_values; i++)
                sz += num_text_size(v->ns->values[i]);
        return sz;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_BS:
        if (v->bs != NULL)
            for (size_t i = 0; i < v->bs->n_values; i++)
                sz += v->bs->values[i].len;
        return sz;
    default:
        return 0;
    }
}

size_t
dyn_item_size(const Dyne__V1__AttributeValueMap *item)
{
    size_t sz = 0;

    if (item == NULL)
        return 0;
    for (size_t i = 0; i < item->n_values; i++) {
        const Dyne__V1__AttributeValueMap__ValuesEntry *e = item->values[i];
        if (e != NULL)
            sz += strlen(item_str(e->key)) + dyn_item_value_size(e->value);
    }
    return sz;
}

size_t
dyn_item_value_depth(const Dyne__V1__AttributeValue *v)
{
    size_t d = 0, best = 0;

    if (v == NULL)
        return 0;
    if (v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_L && v->l != NULL) {
        for (size_t i = 0; i < v->l->n_values; i++)
            if ((d = dyn_item_value_depth(v->l->values[i])) > best)
                best = d;
        return 1 + best;
    }
    if (v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_M && v->m != NULL) {
        for (size_t i = 0; i < v->m->n_values; i++)
            if (v->m->values[i] != NULL &&
                (d = dyn_item_value_depth(v->m->values[i]->value)) > best)
                best = d;
        return 1 + best;
    }
    if (v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_L ||
        v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_M)
        return 1;
    return 0;
}

/* ---- sorting helpers ------------------------------------------------------------------------ */

static int
cmp_cstr(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y); /* unsigned bytes */
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

static int
cmp_entry_key(const void *x, const void *y)
{
    const Dyne__V1__AttributeValueMap__ValuesEntry *a = *(const void *const *)x;
    const Dyne__V1__AttributeValueMap__ValuesEntry *b = *(const void *const *)y;
    return strcmp(item_str(a->key), item_str(b->key));
}

/* ---- validation ----------------------------------------------------------------------------- */

static dyn_err
fail(const char **msg, const char *m)
{
    if (msg != NULL)
        *msg = m;
    return DYN_EVALIDATION;
}

/* Parses one N (or NS member) with DynamoDB's messages: the not-a-number message carries the text
 * as sent, except for the empty string. */
static dyn_err
check_num(const char *s, dyn_num *out, dyn_arena *a, const char **msg)
{
    const char *m = NULL;
    char *full;
    size_t len;

    s = item_str(s);
    len = strlen(s);
    if (dyn_num_parse(s, len, out, &m) == DYN_OK)
        return DYN_OK;
    if (m == NULL)
        m = DYN_NUM_MSG_NOT_NUMERIC;
    if (len == 0 || strcmp(m, DYN_NUM_MSG_NOT_NUMERIC) != 0)
        return fail(msg, m);
    if ((full = dyn_arena_printf(a, "%s: %s", DYN_NUM_MSG_NOT_NUMERIC, s)) == NULL)
        return DYN_ENOMEM;
    return fail(msg, full);
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Appends the padded base64 of data[0..len) at out; returns the characters written. */
static size_t
b64_put(char *out, const unsigned char *data, size_t len)
{
    size_t o = 0, i = 0;

    for (; i + 2 < len; i += 3) {
        uint32_t w = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        out[o++] = b64_alphabet[w >> 18 & 63];
        out[o++] = b64_alphabet[w >> 12 & 63];
        out[o++] = b64_alphabet[w >> 6 & 63];
        out[o++] = b64_alphabet[w & 63];
    }
    if (i < len) {
        uint32_t w = (uint32_t)data[i] << 16 | (i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0);
        out[o++] = b64_alphabet[w >> 18 & 63];
        out[o++] = b64_alphabet[w >> 12 & 63];
        out[o++] = i + 1 < len ? b64_alphabet[w >> 6 & 63] : '=';
        out[o++] = '=';
    }
    return o;
}

/* "One or more parameter values were invalid: Input collection [a, b, a] contains duplicates."
 * for SS (strs) or "...[YQ==, YQ==]of type BS contains duplicates." for BS (bins), the members
 * as sent, in the order sent. */
static dyn_err
dup_message(const char *const *strs, const ProtobufCBinaryData *bins, size_t n, dyn_arena *a,
            const char **msg)
{
    static const char head[] = "One or more parameter values were invalid: Input collection [";
    const char *tail = bins != NULL ? "]of type BS contains duplicates." : "] contains duplicates.";
    size_t cap = sizeof head + strlen(tail) + 1, o = 0;
    char *out;

    for (size_t i = 0; i < n; i++)
        cap += 2 + (bins != NULL ? (bins[i].len + 2) / 3 * 4 : strlen(item_str(strs[i])));
    if ((out = dyn_arena_alloc(a, cap)) == NULL)
        return DYN_ENOMEM;
    memcpy(out, head, sizeof head - 1);
    o = sizeof head - 1;
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            out[o++] = ',';
            out[o++] = ' ';
        }
        if (bins != NULL) {
            o += b64_put(out + o, bins[i].data, bins[i].len);
        } else {
            size_t l = strlen(item_str(strs[i]));
            memcpy(out + o, item_str(strs[i]), l);
            o += l;
        }
    }
    memcpy(out + o, tail, strlen(tail) + 1);
    return fail(msg, out);
}

static dyn_err
validate_ss(const Dyne__V1__StringSet *ss, dyn_arena *a, const char **msg)
{
    const char **sorted;
    size_t n = ss != NULL ? ss->n_values : 0;

    if (n == 0)
        return fail(msg, DYN_ITEM_MSG_EMPTY_SS);
    if ((sorted = dyn_arena_alloc(a, n * sizeof *sorted)) == NULL)
        return DYN_ENOMEM;
    for (size_t i = 0; i < n; i++)
        sorted[i] = item_str(ss->values[i]);
    qsort(sorted, n, sizeof *sorted, cmp_cstr);
    for (size_t i = 1; i < n; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            return dup_message((const char *const *)ss->values, NULL, n, a, msg);
    return DYN_OK;
}

static dyn_err
validate_ns(const Dyne__V1__NumberSet *ns, dyn_arena *a, const char **msg)
{
    dyn_num *nums;
    size_t n = ns != NULL ? ns->n_values : 0;
    dyn_err rc;

    if (n == 0)
        return fail(msg, DYN_ITEM_MSG_EMPTY_NS);
    if ((nums = dyn_arena_alloc(a, n * sizeof *nums)) == NULL)
        return DYN_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if ((rc = check_num(ns->values[i], &nums[i], a, msg)) != DYN_OK)
            return rc;
    qsort(nums, n, sizeof *nums, cmp_num);
    for (size_t i = 1; i < n; i++)
        if (dyn_num_cmp(&nums[i - 1], &nums[i]) == 0)
            return fail(msg, DYN_ITEM_MSG_DUP_NS);
    return DYN_OK;
}

static dyn_err
validate_bs(const Dyne__V1__BinarySet *bs, dyn_arena *a, const char **msg)
{
    ProtobufCBinaryData *sorted;
    size_t n = bs != NULL ? bs->n_values : 0;

    if (n == 0)
        return fail(msg, DYN_ITEM_MSG_EMPTY_BS);
    if ((sorted = dyn_arena_memdup(a, bs->values, n * sizeof *sorted)) == NULL)
        return DYN_ENOMEM;
    qsort(sorted, n, sizeof *sorted, cmp_bin);
    for (size_t i = 1; i < n; i++)
        if (cmp_bin(&sorted[i - 1], &sorted[i]) == 0)
            return dup_message(NULL, bs->values, n, a, msg);
    return DYN_OK;
}

static dyn_err validate_value(const Dyne__V1__AttributeValue *v, int depth, dyn_arena *a,
                              const char **msg);

/* The entries of an item (values at depth 1) or of an M value at depth - 1. */
static dyn_err
validate_entries(const Dyne__V1__AttributeValueMap *m, int depth, dyn_arena *a, const char **msg)
{
    const Dyne__V1__AttributeValueMap__ValuesEntry **sorted;
    size_t n = m != NULL ? m->n_values : 0;
    dyn_err rc;

    for (size_t i = 0; i < n; i++) {
        const Dyne__V1__AttributeValueMap__ValuesEntry *e = m->values[i];
        if (e == NULL || e->value == NULL)
            return fail(msg, DYN_ITEM_MSG_EMPTY_VALUE);
        if (item_str(e->key)[0] == '\0')
            return fail(msg, DYN_ITEM_MSG_EMPTY_NAME);
        if (strlen(e->key) > DYN_ITEM_NAME_MAX)
            return fail(msg, DYN_ITEM_MSG_NAME_TOO_LONG);
        if ((rc = validate_value(e->value, depth, a, msg)) != DYN_OK)
            return rc;
    }
    if (n < 2)
        return DYN_OK;
    /* A protobuf map on the wire may repeat a key; JSON clients cannot send that. */
    if ((sorted = dyn_arena_memdup(a, m->values, n * sizeof *sorted)) == NULL)
        return DYN_ENOMEM;
    qsort(sorted, n, sizeof *sorted, cmp_entry_key);
    for (size_t i = 1; i < n; i++)
        if (strcmp(sorted[i - 1]->key, sorted[i]->key) == 0)
            return fail(msg, DYN_ITEM_MSG_DUP_NAME);
    return DYN_OK;
}

/* depth: the document level of v (0 for a standalone value, 1 for an item's attribute). An L/M
 * at level DYN_ITEM_MAX_DEPTH or deeper is refused before its members are looked at, as
 * DynamoDB reports nesting before anything wrong further down. */
static dyn_err
validate_value(const Dyne__V1__AttributeValue *v, int depth, dyn_arena *a, const char **msg)
{
    dyn_num n;
    dyn_err rc;

    if (v == NULL)
        return fail(msg, DYN_ITEM_MSG_EMPTY_VALUE);
    switch (v->value_case) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_S:
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_B:
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_BOOL:
        return DYN_OK;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_N:
        return check_num(v->n, &n, a, msg);
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_NULL:
        return v->null ? DYN_OK : fail(msg, DYN_ITEM_MSG_NULL_FALSE);
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_L:
        if (depth >= DYN_ITEM_MAX_DEPTH)
            return fail(msg, DYN_ITEM_MSG_NESTING);
        if (v->l != NULL)
            for (size_t i = 0; i < v->l->n_values; i++)
                if ((rc = validate_value(v->l->values[i], depth + 1, a, msg)) != DYN_OK)
                    return rc;
        return DYN_OK;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_M:
        if (depth >= DYN_ITEM_MAX_DEPTH)
            return fail(msg, DYN_ITEM_MSG_NESTING);
        return validate_entries(v->m, depth + 1, a, msg);
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS:
        return validate_ss(v->ss, a, msg);
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS:
        return validate_ns(v->ns, a, msg);
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_BS:
        return validate_bs(v->bs, a, msg);
    default:
        return fail(msg, DYN_ITEM_MSG_EMPTY_VALUE);
    }
}

dyn_err
dyn_item_validate_value(const Dyne__V1__AttributeValue *v, dyn_arena *a, const char **msg)
{
    return validate_value(v, 0, a, msg);
}

dyn_err
dyn_item_validate(const Dyne__V1__AttributeValueMap *item, dyn_arena *a, const char **msg)
{
    return validate_entries(item, 1, a, msg);
}

/* ---- equality and order --------------------------------------------------------------------- */

/* Sorted, deduplicated copies of two sets' members compared pairwise. The arrays are heap
 * temporaries: this API has no arena and sets can be large. */
static bool
str_sets_equal(char *const *x, size_t nx, char *const *y, size_t ny)
{
    const char **sx = NULL, **sy = NULL;
    size_t ux = 0, uy = 0;
    bool eq = false;

    if (nx == 0 || ny == 0)
        return nx == ny;
    sx = dyn_xmalloc(nx * sizeof *sx);
    sy = dyn_xmalloc(ny * sizeof *sy);
    for (size_t i = 0; i < nx; i++)
        sx[i] = item_str(x[i]);
    for (size_t i = 0; i < ny; i++)
        sy[i] = item_str(y[i]);
    qsort(sx, nx, sizeof *sx, cmp_cstr);
    qsort(sy, ny, sizeof *sy, cmp_cstr);
    for (size_t i = 0; i < nx; i++)
        if (ux == 0 || strcmp(sx[ux - 1], sx[i]) != 0)
            sx[ux++] = sx[i];
    for (size_t i = 0; i < ny; i++)
        if (uy == 0 || strcmp(sy[uy - 1], sy[i]) != 0)
            sy[uy++] = sy[i];
    if (ux != uy)
        goto out;
    for (size_t i = 0; i < ux; i++)
        if (strcmp(sx[i], sy[i]) != 0)
            goto out;
    eq = true;
out:
    free(sx);
    free(sy);
    return eq;
}

static bool
bin_sets_equal(const ProtobufCBinaryData *x, size_t nx, const ProtobufCBinaryData *y, size_t ny)
{
    ProtobufCBinaryData *sx = NULL, *sy = NULL;
    size_t ux = 0, uy = 0;
    bool eq = false;

    if (nx == 0 || ny == 0)
        return nx == ny;
    sx = dyn_xmalloc(nx * sizeof *sx);
    sy = dyn_xmalloc(ny * sizeof *sy);
    memcpy(sx, x, nx * sizeof *sx);
    memcpy(sy, y, ny * sizeof *sy);
    qsort(sx, nx, sizeof *sx, cmp_bin);
    qsort(sy, ny, sizeof *sy, cmp_bin);
    for (size_t i = 0; i < nx; i++)
        if (ux == 0 || cmp_bin(&sx[ux - 1], &sx[i]) != 0)
            sx[ux++] = sx[i];
    for (size_t i = 0; i < ny; i++)
        if (uy == 0 || cmp_bin(&sy[uy - 1], &sy[i]) != 0)
            sy[uy++] = sy[i];
    if (ux != uy)
        goto out;
    for (size_t i = 0; i < ux; i++)
        if (cmp_bin(&sx[i], &sy[i]) != 0)
            goto out;
    eq = true;
out:
    free(sx);
    free(sy);
    return eq;
}

/* Parses every member into a heap array; false if one does not parse. */
static bool
parse_all(char *const *v, size_t n, dyn_num **out)
{
    dyn_num *nums = dyn_xmalloc((n ? n : 1) * sizeof *nums);

    for (size_t i = 0; i < n; i++) {
        const char *s = item_str(v[i]);
        if (dyn_num_parse(s, strlen(s), &nums[i], NULL) != DYN_OK) {
            free(nums);
            return false;
        }
    }
    *out = nums;
    return true;
}

static bool
num_sets_equal(char *const *x, size_t nx, char *const *y, size_t ny)
{
    dyn_num *sx = NULL, *sy = NULL;
    size_t ux = 0, uy = 0;
    bool eq = false;

    if (nx == 0 || ny == 0)
        return nx == ny;
    if (!parse_all(x, nx, &sx))
        return str_sets_equal(x, nx, y, ny);
    if (!parse_all(y, ny, &sy)) {
        free(sx);
        return str_sets_equal(x, nx, y, ny);
    }
    qsort(sx, nx, sizeof *sx, cmp_num);
    qsort(sy, ny, sizeof *sy, cmp_num);
    for (size_t i = 0; i < nx; i++)
        if (ux == 0 || dyn_num_cmp(&sx[ux - 1], &sx[i]) != 0)
            sx[ux++] = sx[i];
    for (size_t i = 0; i < ny; i++)
        if (uy == 0 || dyn_num_cmp(&sy[uy - 1], &sy[i]) != 0)
            sy[uy++] = sy[i];
    if (ux != uy)
        goto out;
    for (size_t i = 0; i < ux; i++)
        if (dyn_num_cmp(&sx[i], &sy[i]) != 0)
            goto out;
    eq = true;
out:
    free(sx);
    free(sy);
    return eq;
}

static bool
maps_equal(const Dyne__V1__AttributeValueMap *x, const Dyne__V1__AttributeValueMap *y)
{
    size_t nx = x != NULL ? x->n_values : 0, ny = y != NULL ? y->n_values : 0;
    const Dyne__V1__AttributeValueMap__ValuesEntry **sx = NULL, **sy = NULL;
    bool eq = false;

    if (nx != ny)
        return false;
    if (nx == 0)
        return true;
    for (size_t i = 0; i < nx; i++)
        if (x->values[i] == NULL || y->values[i] == NULL)
            return false;
    if (nx <= 8) { /* small maps: no allocation */
        for (size_t i = 0; i < nx; i++) {
            const Dyne__V1__AttributeValue *w = dyn_item_get(y, item_str(x->values[i]->key));
            if (w == NULL || !dyn_item_value_equal(x->values[i]->value, w))
                return false;
        }
        return true;
    }
    sx = dyn_xmalloc(nx * sizeof *sx);
    sy = dyn_xmalloc(ny * sizeof *sy);
    memcpy(sx, x->values, nx * sizeof *sx);
    memcpy(sy, y->values, ny * sizeof *sy);
    qsort(sx, nx, sizeof *sx, cmp_entry_key);
    qsort(sy, ny, sizeof *sy, cmp_entry_key);
    for (size_t i = 0; i < nx; i++)
        if (strcmp(item_str(sx[i]->key), item_str(sy[i]->key)) != 0 ||
            !dyn_item_value_equal(sx[i]->value, sy[i]->value))
            goto out;
    eq = true;
out:
    free(sx);
    free(sy);
    return eq;
}

bool
dyn_item_value_equal(const Dyne__V1__AttributeValue *a, const Dyne__V1__AttributeValue *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    if (a->value_case != b->value_case)
        return false;
    switch (a->value_case) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_S:
        return strcmp(item_str(a->s), item_str(b->s)) == 0;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_N: {
        dyn_num x, y;
        const char *sa = item_str(a->n), *sb = item_str(b->n);
        if (dyn_num_parse(sa, strlen(sa), &x, NULL) == DYN_OK &&
            dyn_num_parse(sb, strlen(sb), &y, NULL) == DYN_OK)
            return dyn_num_cmp(&x, &y) == 0;
        return strcmp(sa, sb) == 0;
    }
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_B:
        return cmp_bin(&a->b, &b->b) == 0;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_BOOL:
        return !a->bool_ == !b->bool_;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_NULL:
        return !a->null == !b->null;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_L: {
        size_t na = a->l != NULL ? a->l->n_values : 0, nb = b->l != NULL ? b->l->n_values : 0;
        if (na != nb)
            return false;
        for (size_t i = 0; i < na; i++)
            if (!dyn_item_value_equal(a->l->values[i], b->l->values[i]))
                return false;
        return true;
    }
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_M:
        return maps_equal(a->m, b->m);
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS:
        return str_sets_equal(
            a->ss != NULL ? a->ss->values : NULL, a->ss != NULL ? a->ss->n_values : 0,
            b->ss != NULL ? b->ss->values : NULL, b->ss != NULL ? b->ss->n_values : 0);
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS:
        return num_sets_equal(
            a->ns != NULL ? a->ns->values : NULL, a->ns != NULL ? a->ns->n_values : 0,
            b->ns != NULL ? b->ns->values : NULL, b->ns != NULL ? b->ns->n_values : 0);
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_BS:
        return bin_sets_equal(
            a->bs != NULL ? a->bs->values : NULL, a->bs != NULL ? a->bs->n_values : 0,
            b->bs != NULL ? b->bs->values : NULL, b->bs != NULL ? b->bs->n_values : 0);
    default:
        return true; /* both unset (or the same unknown case) */
    }
}

int
dyn_item_value_cmp(const Dyne__V1__AttributeValue *a, const Dyne__V1__AttributeValue *b, bool *ok)
{
    *ok = false;
    if (a == NULL || b == NULL || a->value_case != b->value_case)
        return 0;
    switch (a->value_case) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_S: {
        int c = strcmp(item_str(a->s), item_str(b->s));
        *ok = true;
        return c < 0 ? -1 : c > 0;
    }
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_N: {
        dyn_num x, y;
        const char *sa = item_str(a->n), *sb = item_str(b->n);
        if (dyn_num_parse(sa, strlen(sa), &x, NULL) != DYN_OK ||
            dyn_num_parse(sb, strlen(sb), &y, NULL) != DYN_OK)
            return 0;
        *ok = true;
        return dyn_num_cmp(&x, &y);
    }
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_B: {
        int c = cmp_bin(&a->b, &b->b);
        *ok = true;
        return c < 0 ? -1 : c > 0;
    }
    default:
        return 0;
    }
}

/* ---- lookups, construction and copies ------------------------------------------------------- */

const Dyne__V1__AttributeValue *
dyn_item_get(const Dyne__V1__AttributeValueMap *item, const char *name)
{
    if (item == NULL || name == NULL)
        return NULL;
    for (size_t i = item->n_values; i-- > 0;) {
        const Dyne__V1__AttributeValueMap__ValuesEntry *e = item->values[i];
        if (e != NULL && strcmp(item_str(e->key), name) == 0)
            return e->value;
    }
    return NULL;
}

Dyne__V1__AttributeValue *
item_value_new(dyn_arena *a)
{
    Dyne__V1__AttributeValue *v = dyn_arena_zalloc(a, sizeof *v);

    if (v != NULL)
        dyne__v1__attribute_value__init(v);
    return v;
}

Dyne__V1__AttributeValueMap__ValuesEntry *
item_entry_new(dyn_arena *a)
{
    Dyne__V1__AttributeValueMap__ValuesEntry *e = dyn_arena_zalloc(a, sizeof *e);

    if (e != NULL)
        dyne__v1__attribute_value_map__values_entry__init(e);
    return e;
}

Dyne__V1__AttributeValueMap *
dyn_item_new(dyn_arena *a)
{
    Dyne__V1__AttributeValueMap *m = dyn_arena_zalloc(a, sizeof *m);

    if (m != NULL)
        dyne__v1__attribute_value_map__init(m);
    return m;
}

static char **
dup_strs(char *const *src, size_t n, dyn_arena *a)
{
    char **out = dyn_arena_alloc(a, (n ? n : 1) * sizeof *out);

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((out[i] = dyn_arena_strdup(a, item_str(src[i]))) == NULL)
            return NULL;
    return out;
}

static bool
dup_bin(ProtobufCBinaryData *dst, const ProtobufCBinaryData *src, dyn_arena *a)
{
    dst->len = src->len;
    dst->data =
        dyn_arena_memdup(a, src->len ? (const void *)src->data : "", src->len ? src->len : 1);
    return dst->data != NULL;
}

Dyne__V1__AttributeValueMap *
dyn_item_dup(const Dyne__V1__AttributeValueMap *item, dyn_arena *a)
{
    Dyne__V1__AttributeValueMap *m;
    size_t n;

    if (item == NULL || (m = dyn_item_new(a)) == NULL)
        return NULL;
    n = item->n_values;
    if (n == 0)
        return m;
    if ((m->values = dyn_arena_alloc(a, n * sizeof *m->values)) == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const Dyne__V1__AttributeValueMap__ValuesEntry *src = item->values[i];
        Dyne__V1__AttributeValueMap__ValuesEntry *e = item_entry_new(a);
        if (e == NULL)
            return NULL;
        if (src != NULL) {
            if ((e->key = dyn_arena_strdup(a, item_str(src->key))) == NULL)
                return NULL;
            if (src->value != NULL && (e->value = dyn_item_value_dup(src->value, a)) == NULL)
                return NULL;
        }
        m->values[m->n_values++] = e;
    }
    return m;
}

Dyne__V1__AttributeValue *
dyn_item_value_dup(const Dyne__V1__AttributeValue *v, dyn_arena *a)
{
    Dyne__V1__AttributeValue *d;

    if (v == NULL || (d = item_value_new(a)) == NULL)
        return NULL;
    d->value_case = v->value_case;
    switch (v->value_case) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_S:
        if ((d->s = dyn_arena_strdup(a, item_str(v->s))) == NULL)
            return NULL;
        break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_N:
        if ((d->n = dyn_arena_strdup(a, item_str(v->n))) == NULL)
            return NULL;
        break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_B:
        if (!dup_bin(&d->b, &v->b, a))
            return NULL;
        break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_BOOL:
        d->bool_ = v->bool_;
        break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_NULL:
        d->null = v->null;
        break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_L: {
        size_t n = v->l != NULL ? v->l->n_values : 0;
        if ((d->l = dyn_arena_zalloc(a, sizeof *d->l)) == NULL)
            return NULL;
        dyne__v1__attribute_value_list__init(d->l);
        if (n == 0)
            break;
        if ((d->l->values = dyn_arena_alloc(a, n * sizeof *d->l->values)) == NULL)
            return NULL;
        for (size_t i = 0; i < n; i++) {
            const Dyne__V1__AttributeValue *src = v->l->values[i];
            /* An unset member stays an (empty) message: protobuf-c cannot pack a NULL. */
            d->l->values[i] = src != NULL ? dyn_item_value_dup(src, a) : item_value_new(a);
            if (d->l->values[i] == NULL)
                return NULL;
        }
        d->l->n_values = n;
        break;
    }
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_M: {
        static const Dyne__V1__AttributeValueMap empty = DYNE__V1__ATTRIBUTE_VALUE_MAP__INIT;
        if ((d->m = dyn_item_dup(v->m != NULL ? v->m : &empty, a)) == NULL)
            return NULL;
        break;
    }
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS: {
        size_t n = v->ss != NULL ? v->ss->n_values : 0;
        if ((d->ss = dyn_arena_zalloc(a, sizeof *d->ss)) == NULL)
            return NULL;
        dyne__v1__string_set__init(d->ss);
        if (n > 0 && (d->ss->values = dup_strs(v->ss->values, n, a)) == NULL)
            return NULL;
        d->ss->n_values = n;
        break;
    }
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS: {
        size_t n = v->ns != NULL ? v->ns->n_values : 0;
        if ((d->ns = dyn_arena_zalloc(a, sizeof *d->ns)) == NULL)
            return NULL;
        dyne__v1__number_set__init(d->ns);
        if (n > 0 && (d->ns->values = dup_strs(v->ns->values, n, a)) == NULL)
            return NULL;
        d->ns->n_values = n;
        break;
    }
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_BS: {
        size_t n = v->bs != NULL ? v->bs->n_values : 0;
        if ((d->bs = dyn_arena_zalloc(a, sizeof *d->bs)) == NULL)
            return NULL;
        dyne__v1__binary_set__init(d->bs);
        if (n == 0)
            break;
        if ((d->bs->values = dyn_arena_alloc(a, n * sizeof *d->bs->values)) == NULL)
            return NULL;
        for (size_t i = 0; i < n; i++)
            if (!dup_bin(&d->bs->values[i], &v->bs->values[i], a))
                return NULL;
        d->bs->n_values = n;
        break;
    }
    default:
        d->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE__NOT_SET;
        break;
    }
    return d;
}

dyn_err
dyn_item_put(Dyne__V1__AttributeValueMap *m, const char *name, Dyne__V1__AttributeValue *v,
             dyn_arena *a)
{
    Dyne__V1__AttributeValueMap__ValuesEntry *e, **grown;

    for (size_t i = m->n_values; i-- > 0;) {
        e = m->values[i];
        if (e != NULL && strcmp(item_str(e->key), name) == 0) {
            e->value = v;
            return DYN_OK;
        }
    }
    if ((e = item_entry_new(a)) == NULL || (e->key = dyn_arena_strdup(a, name)) == NULL)
        return DYN_ENOMEM;
    e->value = v;
    /* Arena memory is never freed alone, so the array is copied each time: callers add few
     * attributes to an item (UpdateItem SET); bulk construction sets values[] directly. */
    if ((grown = dyn_arena_alloc(a, (m->n_values + 1) * sizeof *grown)) == NULL)
        return DYN_ENOMEM;
    if (m->n_values > 0)
        memcpy(grown, m->values, m->n_values * sizeof *grown);
    grown[m->n_values] = e;
    m->values = grown;
    m->n_values++;
    return DYN_OK;
}

bool
dyn_item_remove(Dyne__V1__AttributeValueMap *m, const char *name)
{
    size_t o = 0;
    bool removed = false;

    if (m == NULL || name == NULL)
        return false;
    for (size_t i = 0; i < m->n_values; i++) {
        Dyne__V1__AttributeValueMap__ValuesEntry *e = m->values[i];
        if (e != NULL && strcmp(item_str(e->key), name) == 0) {
            removed = true;
            continue;
        }
        m->values[o++] = e;
    }
    m->n_values = o;
    return removed;
}
