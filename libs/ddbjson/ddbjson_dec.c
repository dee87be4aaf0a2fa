/* libs/ddbjson -- JSON to protobuf-c: one recursive-descent pass over the body that writes
 * straight into arena-allocated messages (no DOM), with DynamoDB's SerializationException texts. */
#include "libs/ddbjson/ddbjson.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "libs/ddbjson/ddbjson_int.h"
#include "proto/dyne/v1/attribute.pb-c.h"

/* What a field is in DynamoDB's service model; picks the type-mismatch message. */
typedef enum { K_STRUCT, K_MAP, K_LIST, K_STRING, K_BLOB, K_BOOL, K_INT, K_LONG, K_DOUBLE } kind;

typedef struct dec {
    const unsigned char *p, *end, *start;
    dyn_arena *a;
    int depth;               /* open '{' / '[' */
    dyn_err fatal;           /* stops the parse: ESERIALIZATION (syntax), ENOMEM */
    const char *fatal_msg;
    const char *type_msg;    /* first JSON type mismatch; reported only if the JSON is well formed */
    const char *val_msg;     /* first ValidationException; reported only if nothing else is wrong */
} dec;

static const char empty_str[1] = "";

#define AV_EMPTY "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
#define AV_MANY                                                                                \
    "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the "  \
    "supported datatypes"

static bool
fail(dec *d, dyn_err e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static bool
fail(dec *d, dyn_err e, const char *fmt, ...)
{
    va_list ap;

    if (d->fatal == DYN_OK) {
        d->fatal = e;
        va_start(ap, fmt);
        d->fatal_msg = dyn_arena_vprintf(d->a, fmt, ap);
        va_end(ap);
        if (d->fatal_msg == NULL) {
            d->fatal = DYN_ENOMEM;
            d->fatal_msg = "request too large for the arena";
        }
    }
    return false;
}

static bool
oom(dec *d)
{
    if (d->fatal == DYN_OK) {
        d->fatal = DYN_ENOMEM;
        d->fatal_msg = "request too large for the arena";
    }
    return false;
}

static void *
zalloc(dec *d, size_t n)
{
    void *p = dyn_arena_zalloc(d->a, n);
    if (p == NULL)
        oom(d);
    return p;
}

static inline void
ws(dec *d)
{
    while (d->p < d->end && (*d->p == ' ' || *d->p == '\n' || *d->p == '\r' || *d->p == '\t'))
        d->p++;
}

/* Next significant byte, or -1 at the end of input. */
static inline int
peek(dec *d)
{
    ws(d);
    return d->p < d->end ? *d->p : -1;
}

static bool
unexpected(dec *d)
{
    if (d->p >= d->end)
        return fail(d, DYN_ESERIALIZATION, "Unexpected end-of-input at offset %zu",
                    (size_t)(d->p - d->start));
    unsigned c = *d->p;
    if (c >= 0x20 && c < 0x7f)
        return fail(d, DYN_ESERIALIZATION, "Unexpected character ('%c' (code %u)) at offset %zu",
                    (int)c, c, (size_t)(d->p - d->start));
    return fail(d, DYN_ESERIALIZATION, "Unexpected character (code 0x%02x) at offset %zu", c,
                (size_t)(d->p - d->start));
}

static inline bool
expect(dec *d, char c)
{
    if (peek(d) != (unsigned char)c)
        return unexpected(d);
    d->p++;
    return true;
}

static bool
literal(dec *d, const char *word, size_t n)
{
    if ((size_t)(d->end - d->p) < n || memcmp(d->p, word, n) != 0)
        return unexpected(d);
    d->p += n;
    return true;
}

static bool
enter(dec *d)
{
    if (++d->depth > DYN_DDBJSON_MAX_DEPTH)
        return fail(d, DYN_ESERIALIZATION, "JSON nesting depth exceeds the limit of %d",
                    DYN_DDBJSON_MAX_DEPTH);
    return true;
}

/* ---- strings */

static int
hex4(const unsigned char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i], h;
        if (c >= '0' && c <= '9')
            h = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            h = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), 0 if invalid. */
static size_t
utf8_len(const unsigned char *p, const unsigned char *end)
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
            hi = 0x9F;   /* no UTF-16 surrogates */
        return n >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;   /* nothing past U+10FFFF */
        return n >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80
                       && (p[3] & 0xC0) == 0x80
                   ? 4
                   : 0;
    }
    return 0;
}

static bool
bad_utf8(dec *d, const unsigned char *at)
{
    return fail(d, DYN_ESERIALIZATION, "Invalid UTF-8 (byte 0x%02x) at offset %zu", *at,
                (size_t)(at - d->start));
}

/* Slow path of str(): escapes or non-ASCII from q on. Adds the decoded length to *olen and, if
 * out is not NULL, decodes into out + *olen. keep: the text is kept, so refuse NUL. */
static bool
str_slow(dec *d, const unsigned char *q, unsigned char *out, size_t *olen, bool keep)
{
    const unsigned char *end = d->end;
    size_t o = *olen;

    for (;;) {
        if (q >= end) {
            d->p = q;
            return unexpected(d);
        }
        unsigned c = *q;
        if (c == '"')
            break;
        if (c < 0x20) {
            d->p = q;
            return fail(d, DYN_ESERIALIZATION,
                        "Illegal unquoted character ((CTRL-CHAR, code %u)): has to be escaped "
                        "using backslash to be included in string value",
                        c);
        }
        if (c >= 0x80) {
            size_t n = utf8_len(q, end);
            if (n == 0)
                return bad_utf8(d, q);
            if (out != NULL)
                memcpy(out + o, q, n);
            o += n;
            q += n;
            continue;
        }
        if (c != '\\') {
            if (out != NULL)
                out[o] = (unsigned char)c;
            o++;
            q++;
            continue;
        }
        if (end - q < 2) {
            d->p = end;
            return unexpected(d);
        }
        unsigned e = q[1], cp;
        switch (e) {
        case '"': case '\\': case '/': cp = e; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u': {
            int v = end - q >= 6 ? hex4(q + 2) : -1;
            if (v < 0)
                goto bad_escape;
            cp = (unsigned)v;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                int lo = end - q >= 12 && q[6] == '\\' && q[7] == 'u' ? hex4(q + 8) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    goto bad_surrogate;
                cp = 0x10000 + ((cp - 0xD800) << 10) + ((unsigned)lo - 0xDC00);
                q += 6;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                goto bad_surrogate;
            } else if (cp == 0 && keep) {
                /* protobuf-c strings end at the first NUL: refuse rather than truncate */
                d->p = q;
                return fail(d, DYN_ESERIALIZATION,
                            "NUL character (\\u0000) in a string at offset %zu is not supported",
                            (size_t)(q - d->start));
            }
            q += 6;
            if (out != NULL) {
                if (cp < 0x80) {
                    out[o] = (unsigned char)cp;
                } else if (cp < 0x800) {
                    out[o] = (unsigned char)(0xC0 | cp >> 6);
                    out[o + 1] = (unsigned char)(0x80 | (cp & 63));
                } else if (cp < 0x10000) {
                    out[o] = (unsigned char)(0xE0 | cp >> 12);
                    out[o + 1] = (unsigned char)(0x80 | ((cp >> 6) & 63));
                    out[o + 2] = (unsigned char)(0x80 | (cp & 63));
                } else {
                    out[o] = (unsigned char)(0xF0 | cp >> 18);
                    out[o + 1] = (unsigned char)(0x80 | ((cp >> 12) & 63));
                    out[o + 2] = (unsigned char)(0x80 | ((cp >> 6) & 63));
                    out[o + 3] = (unsigned char)(0x80 | (cp & 63));
                }
            }
            o += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            continue;
        }
        default:
            goto bad_escape;
        }
        if (out != NULL)
            out[o] = (unsigned char)cp;
        o++;
        q += 2;
    }
    d->p = q + 1;
    *olen = o;
    return true;
bad_escape:
    d->p = q;
    return fail(d, DYN_ESERIALIZATION, "Unrecognized character escape at offset %zu",
                (size_t)(q - d->start));
bad_surrogate:
    d->p = q;
    return fail(d, DYN_ESERIALIZATION, "Unpaired UTF-16 surrogate in \\u escape at offset %zu",
                (size_t)(q - d->start));
}

/* Parses a JSON string (d->p at the opening quote). With copy, *s is a NUL-terminated copy in
 * the arena; without, *s may point into the body (not terminated). With s == NULL it only
 * validates. Strings are checked to be UTF-8. */
static bool
str(dec *d, const char **s, size_t *len, bool copy)
{
    const unsigned char *start = d->p + 1, *q = start, *end = d->end;
    size_t n;

    /* the common case: printable ASCII, no escapes */
    while (q < end && ddbjson_plain[*q])
        q++;
    if (q < end && *q == '"') {
        n = (size_t)(q - start);
        d->p = q + 1;
        if (s == NULL)
            return true;
        if (copy) {
            char *c = dyn_arena_alloc(d->a, n + 1);
            if (c == NULL)
                return oom(d);
            memcpy(c, start, n);
            c[n] = '\0';
            *s = c;
        } else {
            *s = (const char *)start;
        }
        *len = n;
        return true;
    }
    size_t pre = (size_t)(q - start);
    n = pre;
    if (s == NULL)
        return str_slow(d, q, NULL, &n, false);
    /* measure and validate, then decode into a buffer of the exact size */
    if (!str_slow(d, q, NULL, &n, true))
        return false;
    unsigned char *out = dyn_arena_alloc(d->a, n + 1);
    if (out == NULL)
        return oom(d);
    memcpy(out, start, pre);
    size_t o = pre;
    (void)str_slow(d, q, out, &o, true);
    out[n] = '\0';
    *s = (const char *)out;
    *len = n;
    return true;
}

/* ---- numbers */

/* Scans a JSON number at d->p; *integral is whether it has no fraction or exponent. */
static bool
number(dec *d, const char **s, size_t *len, bool *integral)
{
    const unsigned char *q = d->p, *end = d->end;

    *integral = true;
    if (q < end && *q == '-')
        q++;
    if (q < end && *q == '0') {
        q++;
    } else if (q < end && *q >= '1' && *q <= '9') {
        while (q < end && *q >= '0' && *q <= '9')
            q++;
    } else {
        d->p = q;
        return unexpected(d);
    }
    if (q < end && *q == '.') {
        *integral = false;
        q++;
        if (q >= end || *q < '0' || *q > '9') {
            d->p = q;
            return unexpected(d);
        }
        while (q < end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        *integral = false;
        q++;
        if (q < end && (*q == '+' || *q == '-'))
            q++;
        if (q >= end || *q < '0' || *q > '9') {
            d->p = q;
            return unexpected(d);
        }
        while (q < end && *q >= '0' && *q <= '9')
            q++;
    }
    *s = (const char *)d->p;
    *len = (size_t)(q - d->p);
    d->p = q;
    return true;
}

/* strtod on a token that isn't NUL-terminated. */
static double
to_double(dec *d, const char *s, size_t n)
{
    char buf[64], *c = buf;

    if (n >= sizeof buf && (c = dyn_arena_alloc(d->a, n + 1)) == NULL) {
        oom(d);
        return 0;
    }
    memcpy(c, s, n);
    c[n] = '\0';
    return strtod(c, NULL);
}

/* The Java class Jackson would have read this number as (DynamoDB's messages name it). */
static const char *
java_class(dec *d, const char *s, size_t n)
{
    double v = to_double(d, s, n);

    if (floor(v) != v)
        return "java.lang.Double";
    if (v >= -32768 && v <= 32767)
        return "java.lang.Short";
    if (v >= -2147483648.0 && v <= 2147483647.0)
        return "java.lang.Integer";
    return "java.lang.Long";
}

/* ---- skipping (unknown members, values of the wrong type) */

static bool skip(dec *d);

static bool
skip_container(dec *d, bool obj)
{
    int c;

    if (!enter(d))
        return false;
    d->p++;
    if (peek(d) == (obj ? '}' : ']')) {
        d->p++;
        d->depth--;
        return true;
    }
    for (;;) {
        if (obj) {
            if (peek(d) != '"')
                return unexpected(d);
            if (!str(d, NULL, NULL, false) || !expect(d, ':'))
                return false;
        }
        if (!skip(d))
            return false;
        c = peek(d);
        d->p++;
        if (c == ',')
            continue;
        if (c == (obj ? '}' : ']'))
            break;
        d->p--;
        return unexpected(d);
    }
    d->depth--;
    return true;
}

static bool
skip(dec *d)
{
    const char *s;
    size_t n;
    bool integral;

    switch (peek(d)) {
    case '{':
        return skip_container(d, true);
    case '[':
        return skip_container(d, false);
    case '"':
        return str(d, NULL, NULL, false);
    case 't':
        return literal(d, "true", 4);
    case 'f':
        return literal(d, "false", 5);
    case 'n':
        return literal(d, "null", 4);
    default:
        return number(d, &s, &n, &integral);
    }
}

/* ---- type mismatches */

static void
type_error(dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
type_error(dec *d, const char *fmt, ...)
{
    va_list ap;

    if (d->type_msg != NULL)
        return;
    va_start(ap, fmt);
    d->type_msg = dyn_arena_vprintf(d->a, fmt, ap);
    va_end(ap);
    if (d->type_msg == NULL)
        oom(d);
}

static const char *
kind_name(kind k)
{
    switch (k) {
    case K_INT: return "Integer";
    case K_LONG: return "Long";
    case K_DOUBLE: return "Double";
    case K_BOOL: return "Boolean";
    case K_STRING: return "String";
    default: return "";
    }
}

/* The value at d->p doesn't fit a field of kind k: record DynamoDB's message for it and skip
 * the value. The texts, odd grammar included, are DynamoDB's (see dynalite's checkTypes). */
static bool
mismatch(dec *d, kind k)
{
    int c = peek(d);
    const char *s = NULL;
    size_t n = 0;
    bool integral;

    switch (c) {
    case '[':
        type_error(d, "Start of list found where not expected");
        return skip(d);
    case '{':
        type_error(d, "Start of structure or map found where not expected.");
        return skip(d);
    case 't':
    case 'f':
        if (!skip(d))
            return false;
        if (k == K_STRUCT || k == K_MAP || k == K_LIST)
            break;
        type_error(d, "class java.lang.Boolean can not be converted to %s%s",
                   k == K_BLOB ? "a Blob" : "an ", kind_name(k));
        return true;
    case '"':
        if (k == K_BOOL) {
            char *u;
            if (!str(d, (const char **)&u, &n, true))
                return false;
            for (size_t i = 0; i < n; i++)
                if (u[i] >= 'a' && u[i] <= 'z')
                    u[i] = (char)(u[i] - 'a' + 'A');
            type_error(d, "'%s' can not be converted to an Boolean", u);
            return true;
        }
        if (!skip(d))
            return false;
        if (k == K_STRUCT || k == K_MAP || k == K_LIST)
            break;
        type_error(d, "class java.lang.String can not be converted to an %s", kind_name(k));
        return true;
    default:
        if (c != '-' && (c < '0' || c > '9'))
            return unexpected(d);
        if (!number(d, &s, &n, &integral))
            return false;
        if (k == K_STRUCT || k == K_MAP || k == K_LIST)
            break;
        type_error(d, "class %s can not be converted to %s%s", java_class(d, s, n),
                   k == K_BLOB ? "a Blob" : "an ", kind_name(k));
        return true;
    }
    /* a scalar where a structure, map or list belongs */
    type_error(d, "%s", k == K_STRUCT ? "Expected null" : k == K_MAP ? "Expected map or null"
                                                                      : "Expected list or null");
    return true;
}

/* ---- values */

static bool message(dec *d, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out);
static bool repeated(dec *d, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);

static ProtobufCMessage *
new_message(dec *d, const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *m = dyn_arena_alloc(d->a, desc->sizeof_message);
    if (m == NULL) {
        oom(d);
        return NULL;
    }
    protobuf_c_message_init(desc, m);
    return m;
}

static kind
message_kind(const ProtobufCMessageDescriptor *desc)
{
    const ProtobufCFieldDescriptor *w = ddbjson_wrapped(desc);
    if (w == NULL)
        return K_STRUCT;
    return ddbjson_is_map(w) ? K_MAP : K_LIST;
}

static bool
integer(dec *d, const ProtobufCFieldDescriptor *f, void *dst, int *set)
{
    const char *s;
    size_t n;
    bool integral, neg, is64;
    uint64_t mag = 0, max;
    kind k;

    switch (f->type) {
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        neg = false, is64 = false, max = UINT32_MAX;
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        neg = false, is64 = true, max = UINT64_MAX;
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        neg = true, is64 = true, max = INT64_MAX;
        break;
    default:
        neg = true, is64 = false, max = INT32_MAX;
        break;
    }
    k = is64 ? K_LONG : K_INT;
    int c = peek(d);
    if (c != '-' && (c < '0' || c > '9'))
        return mismatch(d, k);
    if (!number(d, &s, &n, &integral))
        return false;
    bool minus = s[0] == '-';
    bool range = !minus || neg;
    if (integral) {
        for (size_t i = minus; i < n && range; i++) {
            unsigned dig = (unsigned)(s[i] - '0');
            if (mag > (UINT64_MAX - dig) / 10)
                range = false;
            else
                mag = mag * 10 + dig;
        }
        /* the most negative value has one more unit than the most positive */
        if (range && mag > max + (minus ? 1 : 0))
            range = false;
    } else {
        /* DynamoDB floors fractional numbers given for integer members */
        double v = floor(to_double(d, s, n));
        minus = v < 0;
        double lim = minus ? -(double)max - 1 : (double)max;
        range = minus ? neg && v >= lim : v < lim + 1;
        if (range)
            mag = minus ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    }
    if (!range) {
        type_error(d, "Numeric value (%.*s) out of range of %s", (int)n, s,
                   is64 ? "long" : "int");
        return true;
    }
    uint64_t u = minus ? (uint64_t)0 - mag : mag;
    if (is64)
        memcpy(dst, &u, 8);
    else {
        uint32_t u32 = (uint32_t)u;
        memcpy(dst, &u32, 4);
    }
    *set = 1;
    return true;
}

/* Decodes one JSON value for field f's type into dst (storage of one element). *set says whether
 * dst got a value: not for null (unless elem: a null element of an array or map takes the zero
 * value, which is what DynamoDB's later validation then sees) and not for a type mismatch. */
static bool
value(dec *d, const ProtobufCFieldDescriptor *f, void *dst, bool elem, int *set)
{
    int c = peek(d);
    const char *s;
    size_t n;
    bool integral;

    *set = 0;
    if (c == 'n') {
        if (!literal(d, "null", 4))
            return false;
        if (!elem)
            return true;
        *set = 1;
        if (f->type == PROTOBUF_C_TYPE_STRING)
            *(const char **)dst = empty_str;
        else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            if (f->descriptor == &dyne__v1__attribute_value__descriptor && d->val_msg == NULL)
                d->val_msg = AV_EMPTY;
            return (*(ProtobufCMessage **)dst = new_message(d, f->descriptor)) != NULL;
        }
        return true;   /* the array or entry was zeroed */
    }
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        if (c != '"')
            return mismatch(d, K_STRING);
        if (!str(d, &s, &n, true))
            return false;
        *(const char **)dst = s;
        break;
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = dst;
        const char *why;
        char whybuf[96];
        if (c != '"')
            return mismatch(d, K_BLOB);
        if (!str(d, &s, &n, false))
            return false;
        if ((why = ddbjson_b64_check(s, n, whybuf)) != NULL) {
            type_error(d, "'%.*s' can not be converted to a Blob: %s", (int)n, s, why);
            return true;
        }
        if ((b->data = dyn_arena_alloc(d->a, n / 4 * 3 + 1)) == NULL)
            return oom(d);
        b->len = ddbjson_b64_decode(s, n, b->data);
        break;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (c == 't' || c == 'f') {
            if (!literal(d, c == 't' ? "true" : "false", c == 't' ? 4 : 5))
                return false;
            *(protobuf_c_boolean *)dst = c == 't';
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            /* Jackson turns a fractional number into a boolean but refuses integers */
            if (!number(d, &s, &n, &integral))
                return false;
            const char *cls = java_class(d, s, n);
            if (cls[10] != 'D') {
                type_error(d, "class %s can not be converted to an Boolean", cls);
                return true;
            }
            *(protobuf_c_boolean *)dst = fabs(to_double(d, s, n)) >= 1;
        } else {
            return mismatch(d, K_BOOL);
        }
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
    case PROTOBUF_C_TYPE_FLOAT: {
        if (c != '-' && (c < '0' || c > '9'))
            return mismatch(d, K_DOUBLE);
        if (!number(d, &s, &n, &integral))
            return false;
        double v = to_double(d, s, n);
        if (!isfinite(v) || (f->type == PROTOBUF_C_TYPE_FLOAT && !isfinite((float)v))) {
            type_error(d, "Numeric value (%.*s) out of range of %s", (int)n, s,
                       f->type == PROTOBUF_C_TYPE_DOUBLE ? "double" : "float");
            return true;
        }
        if (f->type == PROTOBUF_C_TYPE_DOUBLE)
            *(double *)dst = v;
        else
            *(float *)dst = (float)v;
        break;
    }
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev;
        if (c != '"')
            return mismatch(d, K_STRING);
        if (!str(d, &s, &n, true))
            return false;
        if ((ev = protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, s)) == NULL) {
            type_error(d, "'%s' is not a valid %s", s,
                       ((const ProtobufCEnumDescriptor *)f->descriptor)->short_name);
            return true;
        }
        *(int *)dst = ev->value;
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        kind k = message_kind(f->descriptor);
        if (c != (k == K_LIST ? '[' : '{'))
            return mismatch(d, k);
        if (!message(d, f->descriptor, (ProtobufCMessage **)dst))
            return false;
        break;
    }
    default:
        return integer(d, f, dst, set);
    }
    *set = 1;
    return true;
}

static void
mark_present(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    char *base = (char *)m;

    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)(base + f->quantifier_offset) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING
             && f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
}

/* Field of desc named key[0..n), by binary search over protoc's by-name index. */
static const ProtobufCFieldDescriptor *
field_by_name(const ProtobufCMessageDescriptor *desc, const char *key, size_t n)
{
    unsigned lo = 0, hi = desc->n_fields;

    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        const ProtobufCFieldDescriptor *f = &desc->fields[desc->fields_sorted_by_name[mid]];
        const unsigned char *nm = (const unsigned char *)f->name;
        int cmp = 0;
        size_t i = 0;
        /* names are short: an inline loop beats a strncmp call */
        for (; i < n; i++)
            if ((cmp = nm[i] - (unsigned char)key[i]) != 0)
                break;
        if (i == n && nm[n] != '\0')
            cmp = 1;
        if (cmp == 0)
            return f;
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* A JSON object into message m's fields. */
static bool
object(dec *d, ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *desc = m->descriptor;
    uint64_t oneofs = 0;   /* indices of the oneof members given */
    const char *key;
    size_t klen;
    int c, set;

    if (!enter(d))
        return false;
    d->p++;
    if ((c = peek(d)) == '}') {
        d->p++;
        goto done;
    }
    for (;;) {
        if (c != '"')
            return unexpected(d);
        if (!str(d, &key, &klen, false) || !expect(d, ':'))
            return false;
        const ProtobufCFieldDescriptor *f = field_by_name(desc, key, klen);
        if (f == NULL) {
            if (!skip(d))   /* DynamoDB ignores members it doesn't know */
                return false;
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            if (peek(d) == 'n') {
                if (!literal(d, "null", 4))
                    return false;
            } else if (!repeated(d, m, f)) {
                return false;
            }
        } else {
            if (!value(d, f, (char *)m + f->offset, false, &set))
                return false;
            if (set) {
                mark_present(m, f);
                if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
                    oneofs |= (uint64_t)1 << ((size_t)(f - desc->fields) & 63);
            }
        }
        c = peek(d);
        d->p++;
        if (c == '}')
            break;
        if (c != ',') {
            d->p--;
            return unexpected(d);
        }
        c = peek(d);
    }
done:
    d->depth--;
    if (desc == &dyne__v1__attribute_value__descriptor && d->val_msg == NULL) {
        if (oneofs == 0)
            d->val_msg = AV_EMPTY;
        else if (oneofs & (oneofs - 1))
            d->val_msg = AV_MANY;
    }
    return true;
}

static bool
message(dec *d, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out)
{
    const ProtobufCFieldDescriptor *w = ddbjson_wrapped(desc);
    ProtobufCMessage *m = new_message(d, desc);

    if (m == NULL)
        return false;
    *out = m;
    return w != NULL ? repeated(d, m, w) : object(d, m);
}

typedef struct {
    uint64_t h;
    size_t i;
} keyref;

static int
keyref_cmp(const void *x, const void *y)
{
    const keyref *a = x, *b = y;
    if (a->h != b->h)
        return a->h < b->h ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

static uint64_t
key_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* A key given twice in a JSON object: the last one wins, as in DynamoDB. Keeps entry order. */
static bool
dedup(dec *d, ProtobufCMessage **ents, size_t *np)
{
    size_t n = *np, o = 0;
    bool dup = false;
    keyref *r;
    unsigned char *dead;

#define KEY(e) (*(char **)((char *)(e) + (e)->descriptor->fields[0].offset))
    if (n < 2)
        return true;
    if ((r = dyn_arena_alloc(d->a, n * sizeof *r)) == NULL || (dead = zalloc(d, n)) == NULL)
        return oom(d);
    for (size_t i = 0; i < n; i++)
        r[i] = (keyref){ key_hash(KEY(ents[i])), i };
    if (n <= 16) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (r[i].h == r[j].h && strcmp(KEY(ents[i]), KEY(ents[j])) == 0)
                    dead[j] = dup = true;
    } else {
        qsort(r, n, sizeof *r, keyref_cmp);
        for (size_t i = 0; i + 1 < n; i++)
            for (size_t j = i + 1; j < n && r[j].h == r[i].h; j++)
                if (strcmp(KEY(ents[r[i].i]), KEY(ents[r[j].i])) == 0) {
                    dead[r[i].i] = dup = true;
                    break;
                }
    }
#undef KEY
    if (!dup)
        return true;
    for (size_t i = 0; i < n; i++)
        if (!dead[i])
            ents[o++] = ents[i];
    *np = o;
    return true;
}

/* An array (or, for a map field, an object) into repeated field f of m, replacing what an
 * earlier member of the same name put there. */
static bool
repeated(dec *d, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    bool is_map = ddbjson_is_map(f);
    size_t esz = ddbjson_elem_size(f->type), n = 0, cap = 0;
    char *arr = NULL;
    int c = peek(d), set;

    if (c != (is_map ? '{' : '['))
        return mismatch(d, is_map ? K_MAP : K_LIST);
    if (!enter(d))
        return false;
    d->p++;
    if ((c = peek(d)) == (is_map ? '}' : ']')) {
        d->p++;
        goto done;
    }
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            char *na = dyn_arena_alloc(d->a, ncap * esz);
            if (na == NULL)
                return oom(d);
            if (n > 0)
                memcpy(na, arr, n * esz);
            arr = na;
            cap = ncap;
        }
        void *slot = arr + n * esz;
        memset(slot, 0, esz);
        if (is_map) {
            const ProtobufCMessageDescriptor *ed = f->descriptor;
            const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
            ProtobufCMessage *e;
            const char *key;
            size_t klen;
            if (c != '"')
                return unexpected(d);
            if ((e = new_message(d, ed)) == NULL)
                return false;
            if (kf->type != PROTOBUF_C_TYPE_STRING)   /* dyne.v1 maps are all string-keyed */
                return fail(d, DYN_EINTERNAL, "map %s has a non-string key", ed->name);
            if (!str(d, &key, &klen, true) || !expect(d, ':'))
                return false;
            if (klen != strlen(key))
                return fail(d, DYN_ESERIALIZATION, "NUL character in a map key");
            *(const char **)((char *)e + kf->offset) = key;
            if (!value(d, vf, (char *)e + vf->offset, true, &set))
                return false;
            if (set)
                mark_present(e, vf);
            *(ProtobufCMessage **)slot = e;
        } else if (!value(d, f, slot, true, &set)) {
            return false;
        } else if (!set && f->type == PROTOBUF_C_TYPE_MESSAGE) {
            /* a mismatched element: keep the array free of NULLs */
            if ((*(ProtobufCMessage **)slot = new_message(d, f->descriptor)) == NULL)
                return false;
        } else if (!set && f->type == PROTOBUF_C_TYPE_STRING) {
            *(const char **)slot = empty_str;
        }
        n++;
        c = peek(d);
        d->p++;
        if (c == (is_map ? '}' : ']'))
            break;
        if (c != ',') {
            d->p--;
            return unexpected(d);
        }
        c = peek(d);
    }
    if (is_map && !dedup(d, (ProtobufCMessage **)arr, &n))
        return false;
done:
    d->depth--;
    *(size_t *)((char *)m + f->quantifier_offset) = n;
    *(void **)((char *)m + f->offset) = arr;
    return true;
}

dyn_err
dyn_ddbjson_decode(const ProtobufCMessageDescriptor *desc, const char *body, size_t len,
                   dyn_arena *a, ProtobufCMessage **out, const char **msg)
{
    dec d = { .p = (const unsigned char *)body, .end = (const unsigned char *)body + len,
              .start = (const unsigned char *)body, .a = a };
    ProtobufCMessage *m = NULL;
    dyn_err rc = DYN_OK;
    int c;

    *out = NULL;
    *msg = NULL;
    c = peek(&d);
    if (c == 'n') {   /* a null request is an empty one */
        if (literal(&d, "null", 4))
            m = new_message(&d, desc);
    } else if (c == (message_kind(desc) == K_LIST ? '[' : '{')) {
        message(&d, desc, &m);
    } else if (c < 0) {
        unexpected(&d);
    } else {
        mismatch(&d, message_kind(desc));
    }
    if (d.fatal == DYN_OK && peek(&d) >= 0)
        fail(&d, DYN_ESERIALIZATION, "Unexpected trailing characters at offset %zu",
             (size_t)(d.p - d.start));
    if (d.fatal != DYN_OK) {
        rc = d.fatal;
        *msg = d.fatal_msg;
        goto out;
    }
    if (d.type_msg != NULL) {
        rc = DYN_ESERIALIZATION;
        *msg = d.type_msg;
        goto out;
    }
    if (d.val_msg != NULL) {
        rc = DYN_EVALIDATION;
        *msg = d.val_msg;
        goto out;
    }
    *out = m;
out:
    return rc;
}
