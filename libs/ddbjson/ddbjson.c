/* libs/ddbjson -- descriptor helpers, base64 and double formatting shared by both directions. */
#include "libs/ddbjson/ddbjson.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libs/ddbjson/ddbjson_int.h"

bool
ddbjson_is_map_entry(const ProtobufCMessageDescriptor *d)
{
    size_t n;

    if (d->n_fields != 2 || d->fields[0].id != 1 || d->fields[1].id != 2
        || d->fields[0].name[0] != 'k')
        return false;
    if (strcmp(d->fields[0].name, "key") != 0 || strcmp(d->fields[1].name, "value") != 0)
        return false;
    n = strlen(d->name);
    return n > 5 && memcmp(d->name + n - 5, "Entry", 5) == 0;
}

size_t
ddbjson_elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    }
    return 0;
}

/* ---- base64 */

static const char b64_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* 0..63 for the alphabet, 64 for '=', 255 otherwise */
static const uint8_t b64_val[256] = {
    ['A'] = 0,  ['B'] = 1,  ['C'] = 2,  ['D'] = 3,  ['E'] = 4,  ['F'] = 5,  ['G'] = 6,
    ['H'] = 7,  ['I'] = 8,  ['J'] = 9,  ['K'] = 10, ['L'] = 11, ['M'] = 12, ['N'] = 13,
    ['O'] = 14, ['P'] = 15, ['Q'] = 16, ['R'] = 17, ['S'] = 18, ['T'] = 19, ['U'] = 20,
    ['V'] = 21, ['W'] = 22, ['X'] = 23, ['Y'] = 24, ['Z'] = 25, ['a'] = 26, ['b'] = 27,
    ['c'] = 28, ['d'] = 29, ['e'] = 30, ['f'] = 31, ['g'] = 32, ['h'] = 33, ['i'] = 34,
    ['j'] = 35, ['k'] = 36, ['l'] = 37, ['m'] = 38, ['n'] = 39, ['o'] = 40, ['p'] = 41,
    ['q'] = 42, ['r'] = 43, ['s'] = 44, ['t'] = 45, ['u'] = 46, ['v'] = 47, ['w'] = 48,
    ['x'] = 49, ['y'] = 50, ['z'] = 51, ['0'] = 52, ['1'] = 53, ['2'] = 54, ['3'] = 55,
    ['4'] = 56, ['5'] = 57, ['6'] = 58, ['7'] = 59, ['8'] = 60, ['9'] = 61, ['+'] = 62,
    ['/'] = 63, ['='] = 64,
};

static bool
b64_is(unsigned char c)
{
    return c == 'A' || b64_val[c] != 0;
}

size_t
ddbjson_b64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

void
ddbjson_b64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t i = 0;

    for (; i + 3 <= n; i += 3, out += 4) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[0] = b64_alpha[v >> 18];
        out[1] = b64_alpha[(v >> 12) & 63];
        out[2] = b64_alpha[(v >> 6) & 63];
        out[3] = b64_alpha[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[0] = b64_alpha[v >> 18];
        out[1] = b64_alpha[(v >> 12) & 63];
        out[2] = out[3] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[0] = b64_alpha[v >> 18];
        out[1] = b64_alpha[(v >> 12) & 63];
        out[2] = b64_alpha[(v >> 6) & 63];
        out[3] = '=';
    }
}

const char *
ddbjson_b64_check(const char *s, size_t n, char why[96])
{
    const unsigned char *u = (const unsigned char *)s;
    size_t pad = 0;

    /* the order of the checks and their texts are DynamoDB's (as dynalite reproduces them) */
    if (n % 4 != 0) {
        snprintf(why, 96, "Base64 encoded length is expected a multiple of 4 bytes but found: %zu",
                 n);
        return why;
    }
    for (size_t i = 0; i < n; i++) {
        if (!b64_is(u[i]) || (u[i] == '=' && i + 1 < n && u[i + 1] != '=')) {
            size_t cl = 1;   /* report a whole UTF-8 character */
            if (u[i] >= 0xC0)
                cl = u[i] >= 0xF0 ? 4 : u[i] >= 0xE0 ? 3 : 2;
            if (cl > n - i)
                cl = n - i;
            snprintf(why, 96, "Invalid Base64 character: '%.*s'", (int)cl, s + i);
            return why;
        }
    }
    while (pad < n && u[n - 1 - pad] == '=')
        pad++;
    /* the text must be what re-encoding the bytes gives: no stray pad, no stray low bits */
    if (pad > 2 || (pad == 2 && (b64_val[u[n - 3]] & 15) != 0)
        || (pad == 1 && (b64_val[u[n - 2]] & 3) != 0))
        return "Invalid last non-pad Base64 character dectected";
    return NULL;
}

size_t
ddbjson_b64_decode(const char *s, size_t n, uint8_t *out)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0;

    for (size_t i = 0; i + 4 <= n; i += 4) {
        uint32_t v = (uint32_t)b64_val[u[i]] << 18 | (uint32_t)b64_val[u[i + 1]] << 12;
        out[o++] = (uint8_t)(v >> 16);
        if (u[i + 2] == '=')
            break;
        v |= (uint32_t)b64_val[u[i + 2]] << 6;
        out[o++] = (uint8_t)(v >> 8);
        if (u[i + 3] == '=')
            break;
        v |= b64_val[u[i + 3]];
        out[o++] = (uint8_t)v;
    }
    return o;
}

/* ---- doubles */

size_t
ddbjson_fmt_double(double v, char *out)
{
    char buf[40], digits[20];
    int prec, exp, nd = 0;
    size_t o = 0;

    if (!isfinite(v)) {
        memcpy(out, "null", 5);
        return 4;
    }
    if (v == 0) {
        memcpy(out, "0", 2);
        return 1;
    }
    /* 15 significant digits always read back as the double nearest to them, so when they round
     * trip their zero-stripped form is the shortest (normal numbers); otherwise 16 or 17 do */
    /* subnormals carry fewer digits: search from 1 there */
    for (prec = fabs(v) < DBL_MIN ? 1 : 15; prec < 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if (prec == 17)
        snprintf(buf, sizeof buf, "%.16e", v);
    const char *p = buf;
    if (*p == '-') {
        out[o++] = '-';
        p++;
    }
    for (; *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    if (exp >= 21 || exp <= -7) {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            memcpy(out + o, digits + 1, (size_t)nd - 1);
            o += (size_t)nd - 1;
        }
        o += (size_t)snprintf(out + o, 8, "e%c%d", exp < 0 ? '-' : '+', abs(exp));
    } else if (exp >= nd - 1) {
        memcpy(out + o, digits, (size_t)nd);
        o += (size_t)nd;
        for (int i = 0; i < exp - (nd - 1); i++)
            out[o++] = '0';
    } else if (exp >= 0) {
        memcpy(out + o, digits, (size_t)exp + 1);
        o += (size_t)exp + 1;
        out[o++] = '.';
        memcpy(out + o, digits + exp + 1, (size_t)(nd - exp - 1));
        o += (size_t)(nd - exp - 1);
    } else {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -exp - 1; i++)
            out[o++] = '0';
        memcpy(out + o, digits, (size_t)nd);
        o += (size_t)nd;
    }
    out[o] = '\0';
    return o;
}
