/* tests/fuzz -- libFuzzer target for libs/ddbjson: arbitrary bytes as PutItemInput, CreateTableInput and
 * BatchWriteItemInput. Whatever decodes must encode, decode again, and encode to the same text.
 * Built and run by tests/fuzz/run.sh; replayed by //tests/fuzz:ddbjson_replay. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libs/ddbjson/ddbjson.h"
#include "proto/dyne/v1/dynamodb.pb-c.h"

static void
fuzz_die(const char *what, const ProtobufCMessageDescriptor *desc, const char *detail)
{
    fprintf(stderr, "ddbjson_fuzz: %s (%s): %s\n", what, desc->name, detail ? detail : "");
    abort();
}

static void
fuzz_one(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size)
{
    static dyn_arena a;
    static int ready;
    ProtobufCMessage *m, *m2;
    const char *msg;
    char *out, *out2;
    size_t len, len2;
    dyn_err rc;

    if (!ready) {
        dyn_arena_init(&a, 256 << 20);
        ready = 1;
    }
    dyn_arena_reset(&a);
    rc = dyn_ddbjson_decode(desc, (const char *)data, size, &a, &m, &msg);
    if (rc != DYN_OK) {
        if (m != NULL || msg == NULL)
            fuzz_die("error without a message", desc, NULL);
        if (rc != DYN_ESERIALIZATION && rc != DYN_EVALIDATION)
            fuzz_die("unexpected error code", desc, msg);
        return;
    }
    if (dyn_ddbjson_encode(m, &a, &out, &len) != DYN_OK)
        fuzz_die("encode failed", desc, NULL);
    if (strlen(out) != len)
        fuzz_die("encoded length", desc, out);
    rc = dyn_ddbjson_decode(desc, out, len, &a, &m2, &msg);
    if (rc != DYN_OK)
        fuzz_die("re-decode failed", desc, msg);
    if (dyn_ddbjson_encode(m2, &a, &out2, &len2) != DYN_OK)
        fuzz_die("re-encode failed", desc, NULL);
    if (len != len2 || memcmp(out, out2, len) != 0) {
        fprintf(stderr, "first:  %s\nsecond: %s\n", out, out2);
        fuzz_die("round trip not stable", desc, NULL);
    }
    /* what decode builds must also be a valid protobuf message */
    size_t packed = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = dyn_arena_alloc(&a, packed + 1);
    if (buf == NULL || protobuf_c_message_pack(m, buf) != packed)
        fuzz_die("pack", desc, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_one(&dyne__v1__put_item_input__descriptor, data, size);
    fuzz_one(&dyne__v1__create_table_input__descriptor, data, size);
    fuzz_one(&dyne__v1__batch_write_item_input__descriptor, data, size);
    return 0;
}
