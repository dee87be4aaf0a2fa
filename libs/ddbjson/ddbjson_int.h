/* libs/ddbjson -- internals shared by the decoder (ddbjson_dec.c) and the encoder
 * (ddbjson_enc.c): descriptor shapes, base64, number formatting. */
#ifndef DYN_LIBS_DDBJSON_DDBJSON_INT_H
#define DYN_LIBS_DDBJSON_DDBJSON_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <protobuf-c/protobuf-c.h>

/* The only field of a wrapper message (one field, `repeated ... values`), which is written on
 * the wire as a bare array (or a bare object when it is a map); NULL for other messages. */
static inline const ProtobufCFieldDescriptor *
ddbjson_wrapped(const ProtobufCMessageDescriptor *d)
{
    const ProtobufCFieldDescriptor *f = &d->fields[0];

    if (d->n_fields != 1 || f->label != PROTOBUF_C_LABEL_REPEATED)
        return NULL;
    const char *n = f->name;
    return n[0] == 'v' && n[1] == 'a' && n[2] == 'l' && n[3] == 'u' && n[4] == 'e' && n[5] == 's'
                   && n[6] == '\0'
               ? f
               : NULL;
}

/* 1 for the bytes a JSON string carries as they are: printable ASCII other than '"' and '\\'. */
static const uint8_t ddbjson_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* Whether d is the entry type protoc generates for a map field (fields key = 1, value = 2). */
bool ddbjson_is_map_entry(const ProtobufCMessageDescriptor *d);

/* Whether repeated field f is a proto map (its elements are map entries). */
static inline bool
ddbjson_is_map(const ProtobufCFieldDescriptor *f)
{
    return f->type == PROTOBUF_C_TYPE_MESSAGE && ddbjson_is_map_entry(f->descriptor);
}

/* Bytes one element of a field of type t takes in a repeated array. */
size_t ddbjson_elem_size(ProtobufCType t);

/* Whether field f of message m is present (set optional, non-empty repeated, its oneof case). */
static inline bool
ddbjson_field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const char *base = (const char *)m;
    const void *val = base + f->offset;

    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return *(const size_t *)(base + f->quantifier_offset) > 0;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
    if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE) {
        const void *p = *(const void *const *)val;
        /* a proto2 string with a default points at it when unset: that is not "present" */
        return p != NULL && p != f->default_value;
    }
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
        return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
    if (f->label == PROTOBUF_C_LABEL_NONE) {   /* proto3 scalar: present when non-zero */
        static const char zero[sizeof(ProtobufCBinaryData)];
        if (f->type == PROTOBUF_C_TYPE_BYTES)
            return ((const ProtobufCBinaryData *)val)->len > 0;
        return memcmp(val, zero, ddbjson_elem_size(f->type)) != 0;
    }
    return true;   /* required */
}

/* Standard base64 with padding. ddbjson_b64_check returns NULL if s is canonical base64 (what
 * DynamoDB accepts) and otherwise the reason after "'<val>' can not be converted to a Blob: "
 * (written into why[96] where it needs formatting). */
size_t ddbjson_b64_encoded_len(size_t n);
void ddbjson_b64_encode(const uint8_t *in, size_t n, char *out);   /* writes encoded_len bytes */
const char *ddbjson_b64_check(const char *s, size_t n, char why[96]);
size_t ddbjson_b64_decode(const char *s, size_t n, uint8_t *out);   /* s checked; returns bytes */

/* Writes v as JSON into out (at least 32 bytes): shortest text that reads back as v, without an
 * exponent for 1e-7 < |v| < 1e21 (as JavaScript prints numbers); "null" if not finite. Returns
 * the length. */
size_t ddbjson_fmt_double(double v, char *out);

#endif /* DYN_LIBS_DDBJSON_DDBJSON_INT_H */
