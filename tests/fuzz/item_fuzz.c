/* tests/fuzz -- libs/item, the storage codec and the validators. The same input is used twice:
 * (1) as a stored item: dyn_item_decode must never crash, and what it accepts must be canonical
 * (encode(decode(x)) == x byte for byte); (2) as a protobuf AttributeValueMap: whatever
 * protobuf-c unpacks goes through dyn_item_validate, dyn_item_size and dyn_item_encode, and a
 * valid item must survive encode -> decode -> encode unchanged and compare equal to itself. */
#include <stdbool.h>
#include <string.h>

#include "libs/item/item.h"
#include "tests/fuzz/fuzz.h"

#define ARENA_CAP (64u << 20)   /* bytes; decode promises a small multiple of len */

static dyn_arena arena;
static bool arena_ready;

static void
check_item_self(const Dyne__V1__AttributeValueMap *a, const Dyne__V1__AttributeValueMap *b)
{
    FZ_CHECK(a->n_values == b->n_values);
    for (size_t i = 0; i < a->n_values; i++) {
        const Dyne__V1__AttributeValue *v = dyn_item_get(b, a->values[i]->key);
        FZ_CHECK(v != NULL);
        FZ_CHECK(dyn_item_value_equal(a->values[i]->value, v));
        FZ_CHECK(dyn_item_value_equal(v, a->values[i]->value));
        FZ_CHECK(dyn_item_value_size(a->values[i]->value) == dyn_item_value_size(v));
        FZ_CHECK(dyn_item_value_depth(a->values[i]->value) == dyn_item_value_depth(v));
    }
}

static void
fuzz_decode(const uint8_t *data, size_t size)
{
    Dyne__V1__AttributeValueMap *item = NULL, *again = NULL, *copy;
    unsigned char *enc = NULL, *enc2 = NULL;
    size_t len = 0, len2 = 0;
    const char *msg = NULL;
    dyn_err rc = dyn_item_decode(data, size, &arena, &item);

    FZ_CHECK(rc == DYN_OK || rc == DYN_EINTERNAL || rc == DYN_ENOMEM);
    if (rc != DYN_OK)
        return;
    FZ_CHECK(item != NULL);
    FZ_CHECK(dyn_item_encode(item, &arena, &enc, &len) == DYN_OK);
    FZ_CHECK(len == size && memcmp(enc, data, size) == 0);
    FZ_CHECK(dyn_item_decode(enc, len, &arena, &again) == DYN_OK);
    FZ_CHECK(dyn_item_encode(again, &arena, &enc2, &len2) == DYN_OK);
    FZ_CHECK(len2 == len && memcmp(enc2, enc, len) == 0);
    check_item_self(item, again);
    FZ_CHECK(dyn_item_size(item) == dyn_item_size(again));
    /* decoded items are whatever was stored: validation may refuse them but must not crash */
    (void)dyn_item_validate(item, &arena, &msg);
    FZ_CHECK((copy = dyn_item_dup(item, &arena)) != NULL);
    check_item_self(item, copy);
    /* a packed copy must unpack to the same item */
    {
        size_t plen = dyne__v1__attribute_value_map__get_packed_size(item);
        uint8_t *pb = dyn_arena_alloc(&arena, plen + 1);
        ProtobufCAllocator pa = dyn_arena_pb_allocator(&arena);
        Dyne__V1__AttributeValueMap *un;
        unsigned char *enc3 = NULL;
        size_t len3 = 0;

        FZ_CHECK(pb != NULL);
        FZ_CHECK(dyne__v1__attribute_value_map__pack(item, pb) == plen);
        FZ_CHECK((un = dyne__v1__attribute_value_map__unpack(&pa, plen, pb)) != NULL);
        FZ_CHECK(dyn_item_encode(un, &arena, &enc3, &len3) == DYN_OK);
        FZ_CHECK(len3 == len && memcmp(enc3, enc, len) == 0);
    }
}

static void
fuzz_protobuf(const uint8_t *data, size_t size)
{
    ProtobufCAllocator pa = dyn_arena_pb_allocator(&arena);
    Dyne__V1__AttributeValueMap *item, *back = NULL;
    unsigned char *enc = NULL, *enc2 = NULL;
    size_t len = 0, len2 = 0, sz;
    const char *msg = NULL;
    dyn_err vrc, erc;

    if ((item = dyne__v1__attribute_value_map__unpack(&pa, size, data)) == NULL)
        return;
    sz = dyn_item_size(item);
    for (size_t i = 0; i < item->n_values; i++) {
        (void)dyn_item_type_name(item->values[i]->value);
        (void)dyn_item_value_depth(item->values[i]->value);
        FZ_CHECK(dyn_item_value_size(item->values[i]->value) <= sz);
    }
    vrc = dyn_item_validate(item, &arena, &msg);
    FZ_CHECK(vrc == DYN_OK || vrc == DYN_EVALIDATION || vrc == DYN_ENOMEM);
    if (vrc == DYN_EVALIDATION)
        FZ_CHECK(msg != NULL);
    erc = dyn_item_encode(item, &arena, &enc, &len);
    FZ_CHECK(erc == DYN_OK || erc == DYN_EVALIDATION || erc == DYN_ENOMEM);
    if (vrc == DYN_OK && erc == DYN_EVALIDATION) {
        /* a valid item may still be unstorable only for a NUL inside a string */
        return;
    }
    if (erc != DYN_OK)
        return;
    FZ_CHECK(enc != NULL && len >= 1);
    FZ_CHECK(dyn_item_decode(enc, len, &arena, &back) == DYN_OK);
    FZ_CHECK(dyn_item_encode(back, &arena, &enc2, &len2) == DYN_OK);
    FZ_CHECK(len2 == len && memcmp(enc2, enc, len) == 0);
    if (vrc == DYN_OK) {
        /* valid: no duplicate names or set members, so nothing was merged away */
        check_item_self(item, back);
        FZ_CHECK(dyn_item_size(back) == sz);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!arena_ready) {
        dyn_arena_init(&arena, ARENA_CAP);
        arena_ready = true;
    }
    fuzz_decode(data, size);
    dyn_arena_reset(&arena);
    fuzz_protobuf(data, size);
    dyn_arena_reset(&arena);
    return 0;
}
