/* libs/ddbjson -- protobuf-c to JSON: walks the message by descriptor, appending to one
 * growing buffer in the arena. */
#include "libs/ddbjson/ddbjson.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "libs/ddbjson/ddbjson_int.h"

#define ENC_MAX_DEPTH (4 * DYN_DDBJSON_MAX_DEPTH)

typedef struct enc {
    char *buf;        /* in the arena; the old one is abandoned when it grows */
    size_t len, cap;
    dyn_arena *a;
    int depth;
    dyn_err err;
} enc;

static bool
grow(enc *e, size_t need)
{
    size_t cap = e->cap ? e->cap : 1024;
    char *nb;

    if (e->err != DYN_OK)
        return false;
    while (cap - e->len < need) {
        if (cap > SIZE_MAX / 2) {
            e->err = DYN_ENOMEM;
            return false;
        }
        cap *= 2;
    }
    if ((nb = dyn_arena_alloc(e->a, cap)) == NULL) {
        e->err = DYN_ENOMEM;
        return false;
    }
    if (e->len > 0)
        memcpy(nb, e->buf, e->len);
    e->buf = nb;
    e->cap = cap;
    return true;
}

/* Room for n more bytes. */
#define ROOM(e, n) ((e)->cap - (e)->len >= (n) || grow((e), (n)))

static inline void
put(enc *e, const char *s, size_t n)
{
    if (!ROOM(e, n))
        return;
    memcpy(e->buf + e->len, s, n);
    e->len += n;
}

static inline void
putc1(enc *e, char c)
{
    if (!ROOM(e, 1))
        return;
    e->buf[e->len++] = c;
}

/* 0: copy as is; 1: needs an escape; 2: a UTF-8 lead or stray byte */
static inline int
esc_class(unsigned char c)
{
    if (c >= 0x80)
        return 2;
    return c < 0x20 || c == '"' || c == '\\';
}

static size_t
utf8_valid_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n = (size_t)(end - p);
    unsigned lo = 0x80, hi = 0xBF;

    if (c >= 0xC2 && c <= 0xDF)
        return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
        return n >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
        return n >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80
                       && (p[3] & 0xC0) == 0x80
                   ? 4
                   : 0;
    }
    return 0;
}

static void
string(enc *e, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + n, *run = p;

    if (!ROOM(e, n + 2))
        return;
    e->buf[e->len++] = '"';
    while (p < end) {
        if (ddbjson_plain[*p]) {
            p++;
            continue;
        }
        int cl = esc_class(*p);
        size_t vn = cl == 2 ? utf8_valid_len(p, end) : 0;
        if (vn > 0) {
            p += vn;
            continue;
        }
        put(e, (const char *)run, (size_t)(p - run));
        if (!ROOM(e, 6))
            return;
        char *o = e->buf + e->len;
        if (cl == 2) {   /* not UTF-8 (only from the gRPC side): U+FFFD */
            memcpy(o, "\xef\xbf\xbd", 3);
            e->len += 3;
        } else if (*p == '"' || *p == '\\') {
            o[0] = '\\';
            o[1] = (char)*p;
            e->len += 2;
        } else if (*p == '\n' || *p == '\r' || *p == '\t' || *p == '\b' || *p == '\f') {
            o[0] = '\\';
            o[1] = *p == '\n' ? 'n' : *p == '\r' ? 'r' : *p == '\t' ? 't' : *p == '\b' ? 'b' : 'f';
            e->len += 2;
        } else {
            memcpy(o, "\\u00", 4);
            o[4] = hex[*p >> 4];
            o[5] = hex[*p & 15];
            e->len += 6;
        }
        run = ++p;
    }
    put(e, (const char *)run, (size_t)(p - run));
    putc1(e, '"');
}

static void
u64(enc *e, uint64_t v, bool minus)
{
    char tmp[24];
    int i = (int)sizeof tmp;

    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    if (minus)
        tmp[--i] = '-';
    put(e, tmp + i, sizeof tmp - (size_t)i);
}

static void
i64(enc *e, int64_t v)
{
    u64(e, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, v < 0);
}

/* Whether a double field holds a timestamp (CreationDateTime, StartTime, ...): DynamoDB sends
 * those as seconds with millisecond precision. */
static bool
is_time(const ProtobufCFieldDescriptor *f)
{
    size_t n = strlen(f->name);
    return n >= 4 && memcmp(f->name + n - 4, "Time", 4) == 0;
}

static void message(enc *e, const ProtobufCMessage *m);
static void repeated(enc *e, const ProtobufCFieldDescriptor *f, size_t n, const void *arr);

/* One value of field f's type stored at p. */
static void
value(enc *e, const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)p;
        if (s == NULL)
            s = "";
        string(e, s, strlen(s));
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        size_t n = ddbjson_b64_encoded_len(b->len);
        if (!ROOM(e, n + 2))
            return;
        e->buf[e->len++] = '"';
        ddbjson_b64_encode(b->data, b->len, e->buf + e->len);
        e->len += n;
        e->buf[e->len++] = '"';
        break;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (*(const protobuf_c_boolean *)p)
            put(e, "true", 4);
        else
            put(e, "false", 5);
        break;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        i64(e, *(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        u64(e, *(const uint32_t *)p, false);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        i64(e, *(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        u64(e, *(const uint64_t *)p, false);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        double v = f->type == PROTOBUF_C_TYPE_FLOAT ? *(const float *)p : *(const double *)p;
        char buf[40];
        if (is_time(f) && isfinite(v) && fabs(v) < 1e15)
            v = round(v * 1000) / 1000;
        put(e, buf, ddbjson_fmt_double(v, buf));
        break;
    }
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        if (ev != NULL)
            string(e, ev->name, strlen(ev->name));
        else
            i64(e, v);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(const ProtobufCMessage *const *)p;
        if (m == NULL)
            put(e, "null", 4);
        else
            message(e, m);
        break;
    }
    }
}

static void
repeated(enc *e, const ProtobufCFieldDescriptor *f, size_t n, const void *arr)
{
    size_t esz = ddbjson_elem_size(f->type);

    if (ddbjson_is_map(f)) {
        const ProtobufCMessageDescriptor *ed = f->descriptor;
        const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
        putc1(e, '{');
        for (size_t i = 0; i < n; i++) {
            const char *ent = ((const char *const *)arr)[i];
            if (i > 0)
                putc1(e, ',');
            if (kf->type == PROTOBUF_C_TYPE_STRING) {
                value(e, kf, ent + kf->offset);
            } else {   /* JSON keys are strings: quote the number */
                putc1(e, '"');
                value(e, kf, ent + kf->offset);
                putc1(e, '"');
            }
            putc1(e, ':');
            value(e, vf, ent + vf->offset);
        }
        putc1(e, '}');
        return;
    }
    putc1(e, '[');
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            putc1(e, ',');
        value(e, f, (const char *)arr + i * esz);
    }
    putc1(e, ']');
}

/* Members DynamoDB sends even when empty (other empty lists and maps it leaves out). Query and
 * Scan send "Items": [] unless Select=COUNT, which shows as a Count that differs from the number
 * of items returned. */
static bool
always_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const char *msg = m->descriptor->short_name;

    if (f->label != PROTOBUF_C_LABEL_REPEATED)
        return false;
    if (strcmp(msg, "ListTablesOutput") == 0)
        return strcmp(f->name, "TableNames") == 0;
    if (strcmp(msg, "ListTagsOfResourceOutput") == 0)   /* {"Tags":[]} for an untagged table */
        return strcmp(f->name, "Tags") == 0;
    if (strcmp(msg, "BatchGetItemOutput") == 0)
        return strcmp(f->name, "Responses") == 0 || strcmp(f->name, "UnprocessedKeys") == 0;
    if (strcmp(msg, "BatchWriteItemOutput") == 0)
        return strcmp(f->name, "UnprocessedItems") == 0;
    if ((strcmp(msg, "QueryOutput") == 0 || strcmp(msg, "ScanOutput") == 0) &&
        strcmp(f->name, "Items") == 0) {
        const ProtobufCFieldDescriptor *c =
            protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "Count");
        size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
        if (c == NULL || !*(const protobuf_c_boolean *)((const char *)m + c->quantifier_offset))
            return false;
        return (size_t)*(const int32_t *)((const char *)m + c->offset) == n;
    }
    return false;
}

static void
message(enc *e, const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *desc = m->descriptor;
    const ProtobufCFieldDescriptor *w = ddbjson_wrapped(desc);
    const char *base = (const char *)m;
    bool first = true;

    if (++e->depth > ENC_MAX_DEPTH) {
        if (e->err == DYN_OK)
            e->err = DYN_EINTERNAL;
        return;
    }
    if (w != NULL) {
        repeated(e, w, *(const size_t *)(base + w->quantifier_offset),
                 *(const void *const *)(base + w->offset));
        e->depth--;
        return;
    }
    putc1(e, '{');
    for (unsigned i = 0; i < desc->n_fields && e->err == DYN_OK; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (!ddbjson_field_present(m, f) && !always_present(m, f))
            continue;
        size_t nl = strlen(f->name);
        if (!ROOM(e, nl + 4))
            return;
        if (!first)
            e->buf[e->len++] = ',';
        first = false;
        e->buf[e->len++] = '"';
        memcpy(e->buf + e->len, f->name, nl);
        e->len += nl;
        e->buf[e->len++] = '"';
        e->buf[e->len++] = ':';
        if (f->label == PROTOBUF_C_LABEL_REPEATED)
            repeated(e, f, *(const size_t *)(base + f->quantifier_offset),
                     *(const void *const *)(base + f->offset));
        else
            value(e, f, base + f->offset);
    }
    putc1(e, '}');
    e->depth--;
}

dyn_err
dyn_ddbjson_encode(const ProtobufCMessage *m, dyn_arena *a, char **out, size_t *len)
{
    enc e = { .a = a };

    *out = NULL;
    *len = 0;
    message(&e, m);
    putc1(&e, '\0');
    if (e.err != DYN_OK)
        return e.err;
    *out = e.buf;
    *len = e.len - 1;
    return DYN_OK;
}
