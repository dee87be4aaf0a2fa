/* libs/item -- DynamoDB items (Dyne__V1__AttributeValueMap) and attribute values: size
 * accounting, DynamoDB's validation rules and messages, equality and ordering, key-schema checks,
 * deep copies, and the compact canonical storage encoding. No I/O, no logging; thread-safe as
 * long as each arena is used by one thread. */
#ifndef DYN_LIBS_ITEM_ITEM_H
#define DYN_LIBS_ITEM_ITEM_H

#include <stdbool.h>
#include <stddef.h>

#include "libs/arena/arena.h"
#include "libs/err/err.h"
#include "proto/dyne/v1/attribute.pb-c.h"

#define DYN_ITEM_MAX_SIZE 409600 /* bytes: names + values, reference §1.1 */
#define DYN_ITEM_MAX_DEPTH 32    /* document nesting levels, the item itself being level 0 */
#define DYN_ITEM_PK_MAX 2048     /* bytes of a partition key value (S, B) */
#define DYN_ITEM_SK_MAX 1024     /* bytes of a sort key value (S, B) */
#define DYN_ITEM_NAME_MAX 65535  /* bytes of an attribute name */

/* DynamoDB's messages, verbatim (typos and doubled spaces included). Messages that name a value
 * (set duplicates, "cannot be converted ...: x", key names) are formatted into the arena. */
#define DYN_ITEM_MSG_EMPTY_VALUE                                                                   \
    "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
#define DYN_ITEM_MSG_NULL_FALSE                                                                    \
    "One or more parameter values were invalid: Null attribute value types must have the "         \
    "value of true"
#define DYN_ITEM_MSG_EMPTY_SS                                                                      \
    "One or more parameter values were invalid: An string set  may not be empty"
#define DYN_ITEM_MSG_EMPTY_NS                                                                      \
    "One or more parameter values were invalid: An number set  may not be empty"
#define DYN_ITEM_MSG_EMPTY_BS                                                                      \
    "One or more parameter values were invalid: Binary sets should not be empty"
#define DYN_ITEM_MSG_DUP_NS "Input collection contains duplicates"
#define DYN_ITEM_MSG_NESTING                                                                       \
    "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels "    \
    "beyond supported limit"
#define DYN_ITEM_MSG_EMPTY_NAME "One or more parameter values were invalid: Empty attribute name"
#define DYN_ITEM_MSG_NAME_TOO_LONG                                                                 \
    "One or more parameter values were invalid: Attribute name size exceeds the limit of 65535 "   \
    "bytes"
#define DYN_ITEM_MSG_DUP_NAME "One or more parameter values were invalid: Duplicate attribute name"
#define DYN_ITEM_MSG_KEY_SCHEMA "The provided key element does not match the schema"
#define DYN_ITEM_MSG_PK_TOO_BIG                                                                    \
    "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size "    \
    "limit of2048 bytes"
#define DYN_ITEM_MSG_SK_TOO_BIG                                                                    \
    "One or more parameter values were invalid: Aggregated size of all range keys has exceeded "   \
    "the size limit of 1024 bytes"
#define DYN_ITEM_MSG_ITEM_TOO_BIG "Item size has exceeded the maximum allowed size"

/* DynamoDB's type name of v: "S", "N", "B", "BOOL", "NULL", "L", "M", "SS", "NS", "BS"; "" when
 * no (or an unknown) type is set. Static. */
const char *dyn_item_type_name(const Dyne__V1__AttributeValue *v);

/* Size in bytes as DynamoDB counts it (reference §2.1), value part only: S/B their bytes, N
 * dyn_num_size (an N that does not parse counts its text length), BOOL/NULL 1, L/M 3 + per element
 * 1 + element (a map element being its name plus its value), sets the sum of their members. An
 * unset value is 0. Defined for any value, valid or not; never fails. */
size_t dyn_item_value_size(const Dyne__V1__AttributeValue *v);

/* Sum over attributes of name bytes + value size; 0 for NULL. Compare with DYN_ITEM_MAX_SIZE. */
size_t dyn_item_size(const Dyne__V1__AttributeValueMap *item);

/* Validates one value as DynamoDB validates an ExpressionAttributeValues entry (or any standalone
 * value): a known type set, N parses (dyn_num's messages; a non-number is
 * "The parameter cannot be converted to a numeric value: <text>", an empty one without the
 * suffix), NULL must be true, sets non-empty and without duplicates (NS compared by value;
 * members in the message as sent, BS members in base64), L/M members recursively in order, map
 * names non-empty, unique and <= 64 KiB, nesting within DYN_ITEM_MAX_DEPTH (a standalone value
 * is level 0, so it may hold 32 levels of L/M; inside an item one fewer, see dyn_item_validate).
 * The first problem in document order wins. Empty S and B are valid (only keys may not be empty).
 * On DYN_EVALIDATION *msg is a static string or one formatted in arena a; DYN_ENOMEM if a is
 * exhausted while formatting or sorting. v, msg borrowed; a is used only on failure paths and
 * for the duplicate checks of sets and maps. */
dyn_err dyn_item_validate_value(const Dyne__V1__AttributeValue *v, dyn_arena *a, const char **msg);

/* Validates an item (PutItem Item, a Key, an update result): every name as in
 * dyn_item_validate_value, every value, with top-level values at nesting level 1 (so 31 levels of
 * L/M below an attribute, as DynamoDB counts). Does not check the size: callers compare
 * dyn_item_size with DYN_ITEM_MAX_SIZE, since the message differs by operation. */
dyn_err dyn_item_validate(const Dyne__V1__AttributeValueMap *item, dyn_arena *a, const char **msg);

/* Levels of L/M in v: 0 for scalars and sets, 1 for a list of scalars... For callers that build
 * values (UpdateItem SET) and must re-check nesting: a value stored at document depth d (1 for a
 * top-level attribute) is allowed when d + dyn_item_value_depth(v) <= DYN_ITEM_MAX_DEPTH. */
size_t dyn_item_value_depth(const Dyne__V1__AttributeValue *v);

/* Deep equality as DynamoDB's "=": same type and same value; N by numeric value ("1" == "1.0");
 * sets as sets (order ignored; NS by value); maps by name, order ignored; lists in order. Values
 * that do not validate compare by their raw text. NULL pointers are equal only to each other. */
bool dyn_item_value_equal(const Dyne__V1__AttributeValue *a, const Dyne__V1__AttributeValue *b);

/* DynamoDB ordering for <, <=, >, >=, BETWEEN: only two S (UTF-8 bytes, unsigned), two N (numeric)
 * or two B (unsigned bytes, a prefix first) compare; then *ok = true and the result is <0, 0, >0.
 * Otherwise (other types, mixed types, an N that does not parse) *ok = false and 0 is returned. */
int dyn_item_value_cmp(const Dyne__V1__AttributeValue *a, const Dyne__V1__AttributeValue *b,
                       bool *ok);

/* The value of attribute name in item (the last one if a name repeats), borrowed from item;
 * NULL if absent or item is NULL. Linear. Also works on any M value's map. */
const Dyne__V1__AttributeValue *dyn_item_get(const Dyne__V1__AttributeValueMap *item,
                                             const char *name);

/* Deep copy of v into arena a (every message, string and byte array); NULL on arena exhaustion
 * or v == NULL. The copy is owned by the arena and is packable by protobuf-c. */
Dyne__V1__AttributeValue *dyn_item_value_dup(const Dyne__V1__AttributeValue *v, dyn_arena *a);

/* Deep copy of a whole item (or any map) into arena a; NULL on arena exhaustion or item NULL. */
Dyne__V1__AttributeValueMap *dyn_item_dup(const Dyne__V1__AttributeValueMap *item, dyn_arena *a);

/* An empty map in arena a, ready for dyn_item_put; NULL on arena exhaustion. */
Dyne__V1__AttributeValueMap *dyn_item_new(dyn_arena *a);

/* Sets attribute name to v in map m (replacing an existing one in place, else appending; the
 * entries array grows in the arena). name is copied into a; v is taken as is (not copied), so it
 * must live as long as m. DYN_ENOMEM on arena exhaustion, m unchanged. */
dyn_err dyn_item_put(Dyne__V1__AttributeValueMap *m, const char *name, Dyne__V1__AttributeValue *v,
                     dyn_arena *a);

/* Removes attribute name from m if present (order of the others kept); true if one was removed
 * (all of them if the name repeats). */
bool dyn_item_remove(Dyne__V1__AttributeValueMap *m, const char *name);

/* Compact canonical storage encoding (not protobuf), version byte 0x01 then the attributes sorted
 * by name (bytewise), every length a minimal LEB128 varint, numbers as sign + exponent +
 * coefficient, sets sorted (SS/BS bytewise, NS numerically) and deduplicated, map entries sorted,
 * lists in order. Equal items (dyn_item_value_equal on every attribute) encode to identical
 * bytes. If a name repeats, the last occurrence wins (protobuf map semantics).
 * encode: *buf (owned by arena a) and *len on DYN_OK; DYN_EVALIDATION for what cannot be stored
 * (unset value, an N that does not parse, a string containing NUL, nesting deeper than 64),
 * DYN_ENOMEM on arena exhaustion.
 * decode: builds the item in arena a (every string, number text and array), N as canonical text.
 * Only canonical input is accepted, so encode(decode(x)) == x byte for byte; anything else
 * (truncation, trailing bytes, unsorted/duplicate names or set members, non-minimal varints,
 * non-canonical numbers, unknown tags, NUL in strings, nesting deeper than 64) is DYN_EINTERNAL,
 * never a crash or an allocation larger than a small multiple of len. */
dyn_err dyn_item_encode(const Dyne__V1__AttributeValueMap *item, dyn_arena *a, unsigned char **buf,
                        size_t *len);
dyn_err dyn_item_decode(const unsigned char *buf, size_t len, dyn_arena *a,
                        Dyne__V1__AttributeValueMap **item);

/* A table's primary key. */
typedef struct dyn_key_schema {
    const char *pk_name; /* borrowed */
    char pk_type;        /* 'S', 'N' or 'B' */
    const char *sk_name; /* borrowed; NULL for hash-only tables */
    char sk_type;        /* 'S', 'N' or 'B'; ignored when sk_name is NULL */
} dyn_key_schema;

/* Checks a Key parameter (GetItem, DeleteItem, UpdateItem, BatchGet, BatchWrite Delete): exactly
 * the key attributes with the schema's types, else DYN_ITEM_MSG_KEY_SCHEMA; then for the
 * partition key and then the sort key: an N must parse (dyn_num's messages), an empty S/B is
 * "One or more parameter values are not valid. The AttributeValue for a key attribute cannot
 * contain an empty string value. Key: <name>" ("... empty binary value. Key: <name>"), too long
 * is DYN_ITEM_MSG_PK_TOO_BIG / DYN_ITEM_MSG_SK_TOO_BIG (S and B by bytes; numbers always fit).
 * Values are not otherwise validated (run dyn_item_validate first). On DYN_OK *pk and *sk (NULL
 * for hash-only tables) borrow from key; either out pointer may be NULL. */
dyn_err dyn_item_key_from_key(const dyn_key_schema *ks, const Dyne__V1__AttributeValueMap *key,
                              dyn_arena *a, const char **msg, const Dyne__V1__AttributeValue **pk,
                              const Dyne__V1__AttributeValue **sk);

/* Checks the key attributes of a whole item (PutItem Item, BatchWrite Put, update result), for
 * the partition key and then the sort key: present ("One or more parameter values were invalid:
 * Missing the key <name> in the item"), of the schema's type ("One or more parameter values were
 * invalid: Type mismatch for key <name> expected: S actual: N"), then the N/empty/size rules of
 * dyn_item_key_from_key. Outputs as there. */
dyn_err dyn_item_key_from_item(const dyn_key_schema *ks, const Dyne__V1__AttributeValueMap *item,
                               dyn_arena *a, const char **msg, const Dyne__V1__AttributeValue **pk,
                               const Dyne__V1__AttributeValue **sk);

/* The key map of item (only the key attributes present in it, partition key first), in arena a;
 * the values are deep copies. NULL on arena exhaustion. */
Dyne__V1__AttributeValueMap *
dyn_item_key_map(const dyn_key_schema *ks, const Dyne__V1__AttributeValueMap *item, dyn_arena *a);
#endif /* DYN_LIBS_ITEM_ITEM_H */
