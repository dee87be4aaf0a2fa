/* libs/expr -- DynamoDB expressions: ConditionExpression, FilterExpression,
 * KeyConditionExpression, UpdateExpression and ProjectionExpression. Each is parsed once into an
 * arena-allocated tree with ExpressionAttributeNames/Values already substituted, then evaluated
 * against any number of items without re-parsing. Error messages are DynamoDB's, verbatim. */
#ifndef DYN_LIBS_EXPR_EXPR_H
#define DYN_LIBS_EXPR_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libs/arena/arena.h"
#include "libs/err/err.h"
#include "proto/dyne/v1/attribute.pb-c.h"

/* DynamoDB's expression limits. */
#define DYN_EXPR_MAX_LEN 4096        /* bytes of one expression string */
#define DYN_EXPR_MAX_OPERATORS 300   /* operators + functions in one expression */
#define DYN_EXPR_MAX_PLACEHOLDER 255 /* bytes of one #name / :value key */
#define DYN_EXPR_MAX_IN 100          /* operands in the list of one IN */

/* One ExpressionAttributeNames entry: "#n" -> "name". Both borrowed for the ctx's lifetime. */
typedef struct dyn_expr_name {
    const char *key;
    const char *value;
} dyn_expr_name;

/* Per-request expression context: the request's placeholders and which of them any expression
 * parsed with this context has used. Fill it with dyn_expr_ctx_init(); it owns nothing (all in
 * the arena). One thread at a time. */
typedef struct dyn_expr_ctx {
    const dyn_expr_name *names;   /* borrowed; NULL when the request has none */
    size_t n_names;
    const Dyne__V1__AttributeValueMap *values;   /* borrowed; NULL when the request has none */
    uint32_t *name_order, *value_order;   /* arena: indexes sorted by key, for bsearch */
    bool *name_used, *value_used;         /* arena: per entry, in the caller's order */
    dyn_arena *arena;                     /* borrowed: trees and messages go here */
} dyn_expr_ctx;

/* Sets up ctx for one request. names/values may be NULL (parameter absent); a present but empty
 * one, a key that is not '#'/':' followed by [0-9A-Za-z_]+, or a key longer than 255 bytes is
 * DYN_EVALIDATION with DynamoDB's message in *msg (e.g. "ExpressionAttributeValues must not be
 * empty"). Checking the values themselves (types, numbers, sets) is the caller's job. DYN_ENOMEM
 * when the arena is full. */
dyn_err dyn_expr_ctx_init(dyn_expr_ctx *ctx, const dyn_expr_name *names, size_t n_names,
                          const Dyne__V1__AttributeValueMap *values, dyn_arena *a,
                          const char **msg);

/* After every expression of the request parsed: DYN_EVALIDATION with "Value provided in
 * ExpressionAttributeNames unused in expressions: keys: {#a, #b}" (names are checked before
 * values, as DynamoDB does), else DYN_OK. *msg is in the ctx arena. */
dyn_err dyn_expr_ctx_check_unused(const dyn_expr_ctx *ctx, const char **msg);

typedef enum dyn_expr_kind {
    DYN_EXPR_CONDITION,       /* ConditionExpression */
    DYN_EXPR_FILTER,          /* FilterExpression */
    DYN_EXPR_KEY_CONDITION,   /* KeyConditionExpression */
    DYN_EXPR_UPDATE,          /* UpdateExpression */
    DYN_EXPR_PROJECTION,      /* ProjectionExpression */
} dyn_expr_kind;

typedef struct dyn_expr dyn_expr;   /* opaque parsed tree, in the ctx arena */

/* Parses text[0..len) as an expression of this kind. On DYN_OK *out is the tree (valid as long
 * as the arena and the ctx's names/values). On DYN_EVALIDATION *msg is DynamoDB's full message,
 * e.g. `Invalid UpdateExpression: Syntax error; token: "<EOF>", near: ","`. DYN_ENOMEM if the
 * arena is full. Marks the placeholders it uses in ctx even when it fails. */
dyn_err dyn_expr_parse(dyn_expr_ctx *ctx, dyn_expr_kind kind, const char *text, size_t len,
                       dyn_expr **out, const char **msg);

/* Evaluates a condition/filter/key-condition tree against item (NULL = no item, as for a
 * conditional put on a missing key). Missing attributes behave as in DynamoDB: every comparison
 * with a missing operand is false except <>, which is true; functions on missing paths are false
 * (attribute_not_exists true). Never allocates. DYN_EINTERNAL only for a malformed number stored
 * in the item. */
dyn_err dyn_expr_eval_condition(const dyn_expr *e, const Dyne__V1__AttributeValueMap *item,
                                bool *result);

/* Applies an update tree to item: the existing item, or for a missing item one holding just the
 * request's Key. All operands read the item as it was before the update (SET a = b, b = a swaps).
 * key_names: the table's key attribute names (1 or 2; NULLs allowed), which may not be updated.
 * *new_item is in arena a and shares unchanged values with item (borrowed from it), so item must
 * outlive it. DYN_EVALIDATION with DynamoDB's message in *msg for "Cannot update attribute pk.
 * This attribute is part of the key", "The provided expression refers to an attribute that does
 * not exist in the item", "The document path provided in the update expression is invalid for
 * update", "An operand in the update expression has an incorrect data type" and number overflow.
 * The item-size check (400 KB) is the caller's. */
dyn_err dyn_expr_apply_update(const dyn_expr *e, const Dyne__V1__AttributeValueMap *item,
                              const char *const key_names[2], dyn_arena *a,
                              Dyne__V1__AttributeValueMap **new_item, const char **msg);

/* Projects item onto the paths of a ProjectionExpression tree, nested paths and list indexes as
 * DynamoDB does (a.b, l[3] -> {a: {b}}, {l: [elem 3]}; list elements in index order; paths that
 * do not resolve are left out). With an UpdateExpression tree, projects onto the paths that it
 * updates: that is ReturnValues UPDATED_OLD (pass the old item) and UPDATED_NEW (the new one).
 * *out is in arena a and shares leaf values with item (borrowed). item NULL gives an empty map. */
dyn_err dyn_expr_project(const dyn_expr *e, const Dyne__V1__AttributeValueMap *item,
                         dyn_arena *a, Dyne__V1__AttributeValueMap **out);

/* Sort-key operator of a Query's key condition. */
typedef enum dyn_expr_key_op {
    DYN_EXPR_KEY_NONE = 0,   /* partition key only */
    DYN_EXPR_KEY_EQ,
    DYN_EXPR_KEY_LT,
    DYN_EXPR_KEY_LE,
    DYN_EXPR_KEY_GT,
    DYN_EXPR_KEY_GE,
    DYN_EXPR_KEY_BETWEEN,    /* lo <= sk <= hi */
    DYN_EXPR_KEY_BEGINS_WITH,
} dyn_expr_key_op;

typedef struct dyn_expr_key_cond {
    const Dyne__V1__AttributeValue *pk;   /* borrowed from ExpressionAttributeValues */
    dyn_expr_key_op sk_op;
    const Dyne__V1__AttributeValue *sk_lo, *sk_hi;   /* sk_hi only for BETWEEN; borrowed */
} dyn_expr_key_cond;

/* Checks a KeyConditionExpression tree against the queried key schema (pk_type/sk_type: 'S',
 * 'N' or 'B'; sk_name NULL for a hash-only table or index) and extracts the partition-key value
 * and the sort-key range. DYN_EVALIDATION with DynamoDB's message ("Query condition missed key
 * schema element: pk", "Query key condition not supported", "Invalid operator used in
 * KeyConditionExpression: OR", ...); *msg in arena a. */
dyn_err dyn_expr_key_condition(const dyn_expr *e, const char *pk_name, char pk_type,
                               const char *sk_name, char sk_type, dyn_arena *a,
                               dyn_expr_key_cond *out, const char **msg);

/* True when name is one of DynamoDB's 573 reserved words (case-insensitive). */
bool dyn_expr_is_reserved(const char *name, size_t len);
#endif /* DYN_LIBS_EXPR_EXPR_H */
