/* libs/rpc -- protobuf-c messages packed in one pass. protobuf_c_message_pack() writes a nested
 * message's length before its bytes, so it measures the message first -- and measures it again
 * at every level above it: an item's attribute values are walked four or five times in a
 * storage reply (a 10-item Range reply cost ~59k instructions to pack, more than reading the
 * items; callgrind, docs/benchmarks.md). Written back to front, every length is known by the
 * time its tag goes in front of it, so each value is visited once. The bytes are exactly
 * protobuf_c_message_pack's (pbpack_test compares them over random messages of every proto). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "libs/rpc/rpc_int.h"

#define SCRATCH_FIRST 4096
#define SCRATCH_KEEP ((size_t)1 << 20)   /* a thread keeps a scratch buffer this big at most */

typedef struct pbw {   /* bytes written so far sit at buf[cap - n, cap) */
    uint8_t *buf;      /* owned */
    size_t cap, n;
} pbw;

static void
grow(pbw *w, size_t need)
{
    size_t cap = w->cap ? w->cap : SCRATCH_FIRST;

    while (cap - w->n < need)
        cap *= 2;
    uint8_t *b = dyn_xmalloc(cap);
    if (w->n > 0)
        memcpy(b + cap - w->n, w->buf + w->cap - w->n, w->n);
    free(w->buf);
    w->buf = b;
    w->cap = cap;
}

/* Room for k more bytes in front of what is written; returns where they go. */
static inline uint8_t *
room(pbw *w, size_t k)
{
    if (w->cap - w->n < k)
        grow(w, k);
    w->n += k;
    return w->buf + w->cap - w->n;
}

static inline void
put_raw(pbw *w, const void *d, size_t k)
{
    uint8_t *p = room(w, k);
    if (k > 0)
        memcpy(p, d, k);
}

static inline void
put_varint(pbw *w, uint64_t v)
{
    uint8_t b[10];
    size_t k = 0;

    if (v < 0x80) {   /* tags and most lengths */
        *room(w, 1) = (uint8_t)v;
        return;
    }
    while (v >= 0x80) {
        b[k++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[k++] = (uint8_t)v;
    put_raw(w, b, k);
}

static inline void
put_tag(pbw *w, uint32_t id, unsigned wire)
{
    put_varint(w, (uint64_t)id << 3 | wire);
}

static inline uint32_t
zigzag32(int32_t v)
{
    return ((uint32_t)v << 1) ^ -((uint32_t)v >> 31);
}

static inline uint64_t
zigzag64(int64_t v)
{
    return ((uint64_t)v << 1) ^ -((uint64_t)v >> 63);
}

size_t
rpc_pb_elt_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4;
    }
}

static void put_message(pbw *w, const ProtobufCMessage *m);

/* A scalar's bare value (packed arrays hold these); returns its wire type. */
static unsigned
put_scalar(pbw *w, ProtobufCType t, const void *v)
{
    switch (t) {
    case PROTOBUF_C_TYPE_SINT32:
        put_varint(w, zigzag32(*(const int32_t *)v));
        return PROTOBUF_C_WIRE_TYPE_VARINT;
    case PROTOBUF_C_TYPE_ENUM:
    case PROTOBUF_C_TYPE_INT32:   /* negative: ten bytes, as the 64-bit value */
        put_varint(w, (uint64_t)(int64_t) * (const int32_t *)v);
        return PROTOBUF_C_WIRE_TYPE_VARINT;
    case PROTOBUF_C_TYPE_UINT32:
        put_varint(w, *(const uint32_t *)v);
        return PROTOBUF_C_WIRE_TYPE_VARINT;
    case PROTOBUF_C_TYPE_SINT64:
        put_varint(w, zigzag64(*(const int64_t *)v));
        return PROTOBUF_C_WIRE_TYPE_VARINT;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_UINT64:
        put_varint(w, *(const uint64_t *)v);
        return PROTOBUF_C_WIRE_TYPE_VARINT;
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        put_raw(w, v, 4);   /* little-endian hosts only, like protobuf-c's memcpy path */
        return PROTOBUF_C_WIRE_TYPE_32BIT;
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        put_raw(w, v, 8);
        return PROTOBUF_C_WIRE_TYPE_64BIT;
    case PROTOBUF_C_TYPE_BOOL:
        *room(w, 1) = *(const protobuf_c_boolean *)v ? 1 : 0;
        return PROTOBUF_C_WIRE_TYPE_VARINT;
    default:
        return PROTOBUF_C_WIRE_TYPE_VARINT;   /* not a scalar: not reached */
    }
}

/* One value of field f with its tag (protobuf-c's required_field_pack). */
static void
put_field(pbw *w, const ProtobufCFieldDescriptor *f, const void *member)
{
    size_t start = w->n;

    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)member;
        size_t len = s != NULL ? strlen(s) : 0;
        put_raw(w, s, len);
        put_varint(w, len);
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *bd = member;
        put_raw(w, bd->data, bd->len);
        put_varint(w, bd->len);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)member;
        if (sub != NULL)
            put_message(w, sub);
        put_varint(w, w->n - start);
        break;
    }
    default:
        put_tag(w, f->id, put_scalar(w, f->type, member));
        return;
    }
    put_tag(w, f->id, PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED);
}

/* protobuf-c's field_is_zeroish: what a proto3 field without presence leaves out. */
static bool
zeroish(const ProtobufCFieldDescriptor *f, const void *member)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *)member == 0;
    case PROTOBUF_C_TYPE_ENUM:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FIXED32:
        return *(const uint32_t *)member == 0;
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
        return *(const uint64_t *)member == 0;
    case PROTOBUF_C_TYPE_FLOAT:
        return *(const float *)member == 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const double *)member == 0;
    case PROTOBUF_C_TYPE_STRING:
        return *(const char *const *)member == NULL || **(const char *const *)member == '\0';
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)member)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(const void *const *)member == NULL;
    }
    return true;
}

static void
put_repeated(pbw *w, const ProtobufCFieldDescriptor *f, size_t count, const void *member)
{
    const char *array = *(const char *const *)member;
    size_t sz = rpc_pb_elt_size(f->type);

    if (count == 0)
        return;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_PACKED) {
        size_t start = w->n;
        for (size_t i = count; i-- > 0;)
            (void)put_scalar(w, f->type, array + i * sz);
        put_varint(w, w->n - start);
        put_tag(w, f->id, PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED);
        return;
    }
    for (size_t i = count; i-- > 0;)
        put_field(w, f, array + i * sz);
}

/* m's fields, last to first, so they come out first to last; unknown fields go after them. */
static void
put_message(pbw *w, const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;

    for (size_t i = m->n_unknown_fields; i-- > 0;) {
        const ProtobufCMessageUnknownField *u = &m->unknown_fields[i];
        put_raw(w, u->data, u->len);
        put_varint(w, (uint64_t)u->tag << 3 | u->wire_type);
    }
    for (unsigned i = d->n_fields; i-- > 0;) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const void *q = (const char *)m + f->quantifier_offset;

        /* the oneof members not chosen go first and cheaply: an AttributeValue has ten */
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && f->label != PROTOBUF_C_LABEL_REQUIRED &&
            *(const uint32_t *)q != f->id)
            continue;

        const void *member = (const char *)m + f->offset;
        bool ptr_type = f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING;

        if (f->label == PROTOBUF_C_LABEL_REQUIRED) {
            put_field(w, f, member);
        } else if ((f->label == PROTOBUF_C_LABEL_OPTIONAL || f->label == PROTOBUF_C_LABEL_NONE) &&
                   (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) {
            if (ptr_type && (*(const void *const *)member == NULL ||
                             *(const void *const *)member == f->default_value))
                continue;
            put_field(w, f, member);
        } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL) {
            if (ptr_type ? (*(const void *const *)member == NULL ||
                            *(const void *const *)member == f->default_value)
                         : !*(const protobuf_c_boolean *)q)
                continue;
            put_field(w, f, member);
        } else if (f->label == PROTOBUF_C_LABEL_NONE) {
            if (!zeroish(f, member))
                put_field(w, f, member);
        } else {
            put_repeated(w, f, *(const size_t *)q, member);
        }
    }
}

/* ---- the calling thread's scratch buffer ---- */

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void
scratch_free(void *p)
{
    pbw *w = p;
    free(w->buf);
    free(w);
}

static void
scratch_key_init(void)
{
    (void)pthread_key_create(&scratch_key, scratch_free);
}

/* Packs m into the thread's scratch buffer; the bytes are at w->buf + w->cap - w->n until the
 * thread's next pack. */
static pbw *
pack_scratch(const ProtobufCMessage *m)
{
    pbw *w;

    pthread_once(&scratch_once, scratch_key_init);
    if ((w = pthread_getspecific(scratch_key)) == NULL) {
        w = dyn_xcalloc(1, sizeof *w);
        (void)pthread_setspecific(scratch_key, w);
    } else if (w->cap > SCRATCH_KEEP) {   /* one huge message does not pin its memory */
        DYN_FREE(w->buf);
        w->cap = 0;
    }
    w->n = 0;
    if (m != NULL)
        put_message(w, m);
    return w;
}

dyn_err
dyn_rpc_pb_pack(const ProtobufCMessage *m, dyn_arena *a, uint8_t **out, size_t *len)
{
    pbw *w = pack_scratch(m);

    if ((*out = dyn_arena_alloc(a, w->n ? w->n : 1)) == NULL)
        return DYN_ENOMEM;
    memcpy(*out, w->buf + w->cap - w->n, w->n);
    *len = w->n;
    return DYN_OK;
}

grpc_byte_buffer *
dyn_rpc_pack(const ProtobufCMessage *m)
{
    pbw *w = pack_scratch(m);
    grpc_slice s = grpc_slice_malloc(w->n);
    grpc_byte_buffer *bb;

    if (w->n > 0)
        memcpy(GRPC_SLICE_START_PTR(s), w->buf + w->cap - w->n, w->n);
    bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);   /* the buffer holds its own ref */
    return bb;
}
