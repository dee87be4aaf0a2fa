/* libs/ddbjson -- DynamoDB's JSON wire format (application/x-amz-json-1.0) to and from the
 * protobuf-c structs of dyne.v1, generically by descriptor: JSON member names are the proto field
 * names. A hand-written single-pass parser decodes straight into arena-allocated structs. */
#ifndef DYN_LIBS_DDBJSON_DDBJSON_H
#define DYN_LIBS_DDBJSON_DDBJSON_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

#include "libs/arena/arena.h"
#include "libs/err/err.h"

/* Deepest JSON nesting ('{' and '[' levels) decode accepts. DynamoDB allows documents 32 levels
 * deep; each L/M level costs two JSON levels, plus the request envelope (TransactWriteItems puts
 * an item's attributes at level 6), so 64 would refuse legal items. */
#define DYN_DDBJSON_MAX_DEPTH 80

/* Parses the DynamoDB JSON request body 'body' (len bytes; need not be NUL-terminated) into a new
 * message of type 'desc'. Mapping:
 *   - message <-> object, members named exactly as the fields; unknown members are ignored and
 *     JSON null means absent; a member given twice: the last one wins;
 *   - a message whose only field is `repeated X values` (AttributeValueList, StringSet, ItemList,
 *     WriteRequestList, ...) <-> a bare array; AttributeValueMap (`map<..> values`) <-> a bare
 *     object; proto map fields <-> objects (a key given twice: the last one wins);
 *   - bytes <-> base64 strings; int32/int64 <-> integers; double <-> numbers; bool <-> true/false.
 * On DYN_OK *out is the message and everything it points to lives in arena a (borrowed until the
 * arena is reset; no protobuf_c_message_free_unpacked), and *msg is NULL. Otherwise *out is NULL
 * and *msg (static or in arena a) is DynamoDB's message:
 *   DYN_ESERIALIZATION  malformed JSON, invalid UTF-8, nesting beyond DYN_DDBJSON_MAX_DEPTH, a
 *                       JSON type that doesn't fit the field ("Expected list or null", ...),
 *                       bad base64, an integer out of range;
 *   DYN_EVALIDATION     an AttributeValue with no type or with more than one;
 *   DYN_ENOMEM          arena a hit its cap.
 * Serialization errors win over validation errors wherever they are in the body, as in DynamoDB.
 * Numbers of AttributeValues (N, NS) stay text; libs/num validates them. */
dyn_err dyn_ddbjson_decode(const ProtobufCMessageDescriptor *desc, const char *body, size_t len,
                           dyn_arena *a, ProtobufCMessage **out, const char **msg);

/* Serialises m as DynamoDB JSON into one buffer in arena a: *out is NUL-terminated, *len excludes
 * the NUL. Members come in field order; unset optional fields and empty repeated/map fields are
 * omitted, but a set message is always written (an empty Item is {}, an empty L is []). Doubles
 * print without exponent in the usual range, timestamps (fields named *Time) in seconds with at
 * most 3 decimals; invalid UTF-8 in strings becomes U+FFFD. DYN_ENOMEM if arena a hits its cap;
 * DYN_EINTERNAL if m nests deeper than 4 * DYN_DDBJSON_MAX_DEPTH messages. */
dyn_err dyn_ddbjson_encode(const ProtobufCMessage *m, dyn_arena *a, char **out, size_t *len);

#endif /* DYN_LIBS_DDBJSON_DDBJSON_H */
