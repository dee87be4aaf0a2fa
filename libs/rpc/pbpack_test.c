/* libs/rpc -- the one-pass packer writes exactly protobuf_c_message_pack's bytes: random messages
 * of proto2 and proto3 types (oneofs, maps, enums, packed and unpacked repeated scalars, nested
 * messages, unknown fields, empty and long strings), packed both ways and compared. */
#include <stdlib.h>
#include <string.h>

#include "libs/arena/arena.h"
#include "libs/rpc/rpc.h"
#include "libs/rpc/rpc_int.h"   /* rpc_pb_elt_size */
#include "libs/testing/dyn_test.h"
#include "proto/dyne/internal/catalog.pb-c.h"
#include "proto/dyne/internal/storage.pb-c.h"
#include "proto/dyne/v1/dynamodb.pb-c.h"
#include "proto/etcd/rpc.pb-c.h"
#include "proto/grpc/health/v1/health.pb-c.h"

static uint64_t rng = 88172645463325252ull;

static uint64_t
rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Lengths around the varint boundaries (127/128, 16383/16384) and the usual small ones. */
static size_t
rnd_len(void)
{
    static const size_t lens[] = { 0, 1, 5, 127, 128, 300, 16383, 16384, 20000 };
    return rnd() % 4 == 0 ? lens[rnd() % (sizeof lens / sizeof *lens)] : rnd() % 40;
}

static ProtobufCMessage *rnd_msg(const ProtobufCMessageDescriptor *d, int depth, dyn_arena *a);

/* A random value of field f into v; repeated elements are never NULL (protobuf-c's own pack
 * would crash on those). */
static void
rnd_value(const ProtobufCFieldDescriptor *f, void *v, int depth, dyn_arena *a, bool elem)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: {
        static const int32_t vals[] = { 0, 1, -1, 127, 128, -300, INT32_MAX, INT32_MIN };
        *(int32_t *)v = rnd() % 2 ? vals[rnd() % 8] : (int32_t)rnd();
        break;
    }
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        *(uint32_t *)v = rnd() % 2 ? (uint32_t)(rnd() % 300) : (uint32_t)rnd();
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *e = f->descriptor;
        *(int32_t *)v = e->n_values > 0 && rnd() % 4 ? e->values[rnd() % e->n_values].value
                                                     : (int32_t)(rnd() % 1000) - 500;
        break;
    }
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        *(uint64_t *)v = rnd() % 3 == 0 ? 0 : rnd() % 2 ? rnd() % 100000 : rnd();
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        *(float *)v = rnd() % 3 == 0 ? 0.0f : (float)(int64_t)rnd() / 7.0f;
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        *(double *)v = rnd() % 3 == 0 ? 0.0 : (double)(int64_t)rnd() / 13.0;
        break;
    case PROTOBUF_C_TYPE_BOOL:
        *(protobuf_c_boolean *)v = (protobuf_c_boolean)(rnd() % 3);   /* 2: true, packed as 1 */
        break;
    case PROTOBUF_C_TYPE_STRING: {
        if (!elem && rnd() % 6 == 0) {
            *(char **)v = NULL;
            break;
        }
        size_t n = rnd_len();
        char *s = dyn_arena_alloc(a, n + 1);
        for (size_t i = 0; i < n; i++)
            s[i] = (char)('a' + rnd() % 26);
        s[n] = '\0';
        *(char **)v = s;
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *bd = v;
        bd->len = rnd_len();
        bd->data = bd->len ? dyn_arena_alloc(a, bd->len) : NULL;
        for (size_t i = 0; i < bd->len; i++)
            bd->data[i] = (uint8_t)rnd();
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        *(ProtobufCMessage **)v = (!elem && (depth <= 0 || rnd() % 5 == 0))
                                      ? NULL
                                      : rnd_msg(f->descriptor, depth - 1, a);
        break;
    }
}

static ProtobufCMessage *
rnd_msg(const ProtobufCMessageDescriptor *d, int depth, dyn_arena *a)
{
    ProtobufCMessage *m = dyn_arena_zalloc(a, d->sizeof_message);

    d->message_init(m);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char *member = (char *)m + f->offset, *q = (char *)m + f->quantifier_offset;
        if (rnd() % 3 == 0)
            continue;   /* left at its default */
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = depth > 0 ? rnd() % 4 : rnd() % 2, sz = rpc_pb_elt_size(f->type);
            char *arr = dyn_arena_zalloc(a, n * sz + 1);
            for (size_t j = 0; j < n; j++)
                rnd_value(f, arr + j * sz, depth, a, true);
            *(size_t *)q = n;
            *(char **)member = arr;
            continue;
        }
        rnd_value(f, member, depth, a, false);
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
            *(uint32_t *)q = f->id;   /* the last member set wins, as in the union */
        else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
                 f->type != PROTOBUF_C_TYPE_MESSAGE)
            *(protobuf_c_boolean *)q = rnd() % 4 != 0;   /* sometimes a value without has_ */
    }
    if (rnd() % 5 == 0) {   /* fields from a newer peer, kept and passed on */
        m->n_unknown_fields = 2;
        m->unknown_fields = dyn_arena_zalloc(a, 2 * sizeof *m->unknown_fields);
        m->unknown_fields[0] = (ProtobufCMessageUnknownField){
            .tag = 1000, .wire_type = PROTOBUF_C_WIRE_TYPE_VARINT, .len = 2,
            .data = (uint8_t *)"\x96\x01" };
        m->unknown_fields[1] = (ProtobufCMessageUnknownField){
            .tag = 70000, .wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED, .len = 4,
            .data = (uint8_t *)"\x03xyz" };
    }
    return m;
}

static void
test_random_messages_pack_alike(void)
{
    const ProtobufCMessageDescriptor *ds[] = {
        &dyne__v1__attribute_value_map__descriptor, &dyne__v1__put_item_input__descriptor,
        &dyne__v1__query_output__descriptor,        &dyne__v1__create_table_input__descriptor,
        &dyne__v1__table_description__descriptor,   &dyne__v1__update_item_input__descriptor,
        &dyne__internal__change_record__descriptor, &dyne__internal__range_response__descriptor,
        &dyne__internal__put_request__descriptor,   &dyne__internal__scan_expired_response__descriptor,
        &dyne__internal__table_meta__descriptor,    &etcdserverpb__txn_request__descriptor,
        &etcdserverpb__watch_request__descriptor,   &etcdserverpb__watch_response__descriptor,
        &etcdserverpb__range_request__descriptor,   &grpc__health__v1__health_check_response__descriptor,
    };
    dyn_arena a;
    int mismatches = 0;

    dyn_arena_init(&a, (size_t)1 << 30);
    for (int round = 0; round < 400; round++) {
        for (size_t i = 0; i < sizeof ds / sizeof *ds; i++) {
            ProtobufCMessage *m = rnd_msg(ds[i], 4, &a);
            size_t want_n = protobuf_c_message_get_packed_size(m), n = 0;
            uint8_t *want = dyn_arena_alloc(&a, want_n + 1), *got = NULL;
            protobuf_c_message_pack(m, want);
            DT_OK(dyn_rpc_pb_pack(m, &a, &got, &n));
            if (n != want_n || memcmp(got, want, n) != 0) {
                if (mismatches++ < 3)
                    DT_FAIL_("%s: %zu bytes, protobuf-c %zu", ds[i]->name, n, want_n);
            }
        }
        dyn_arena_reset(&a);
    }
    DT_EQ_INT(mismatches, 0);
    dyn_arena_fini(&a);
}

static void
test_cap_and_empty(void)
{
    Dyne__V1__GetItemOutput empty = DYNE__V1__GET_ITEM_OUTPUT__INIT;
    Dyne__V1__AttributeValue v = DYNE__V1__ATTRIBUTE_VALUE__INIT;
    dyn_arena a;
    uint8_t *out;
    size_t n = 99;

    dyn_arena_init(&a, 64);
    DT_OK(dyn_rpc_pb_pack(&empty.base, &a, &out, &n));
    DT_EQ_INT(n, 0);
    static char big[1000];
    memset(big, 'x', sizeof big - 1);
    v.value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_S;
    v.s = big;
    DT_ERR(dyn_rpc_pb_pack(&v.base, &a, &out, &n), DYN_ENOMEM);   /* past the arena cap */
    dyn_arena_fini(&a);
}

DT_MAIN({ "random messages pack alike", test_random_messages_pack_alike },
        { "arena cap and empty message", test_cap_and_empty })
