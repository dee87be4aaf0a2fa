/* libs/expr -- DynamoDB expressions: ConditionExpression, FilterExpression,
 * KeyConditionExpression, UpdateExpression and ProjectionExpression. Each is parsed once into an
 * arena-allocated tree with ExpressionAttributeNames/Values already substituted, then evaluated
 * against any number of items without re-parsing. A per-thread cache keeps the trees of texts
 * parsed before, so a repeated expression costs a copy and the binding of its values. Error
 * messages are DynamoDB's, verbatim. */
#ifndef DYN_LIBS_EXPR_EXPR_H
#define DYN_LIBS_EXPR_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libs/arena/arena.h"
#include "libs/err/err.h"
#include "proto/dyne/v1/attribute.pb-c.h"
#include "proto/dyne/v1/types.pb-c.h"

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
    uint32_t *name_order, *value_order;   /* arena: indexes sorted by key, for bsearch; NULL
                                             for up to 8 entries, which are scanned */
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
 * arena is full. Marks the placeholders it uses in ctx even when it fails.
 * A text this thread parsed before with the same kind, the same #names resolving to the same
 * names and values of the same types comes from the parse cache: the cached tree is copied into
 * the arena and bound to ctx's values, with the same result, marks and messages as a parse. */
dyn_err dyn_expr_parse(dyn_expr_ctx *ctx, dyn_expr_kind kind, const char *text, size_t len,
                       dyn_expr **out, const char **msg);

/* ---- the parse cache ----
 * Per thread, no locks: up to 512 trees / 4 MiB by default, evicted by CLOCK. Only successful
 * parses are kept; errors always go through the parser. The environment variable
 * DYN_EXPR_CACHE=0 turns it off for every thread (read when a thread first parses). Trees handed
 * out live in the request arena, never in the cache, so eviction and other threads can't touch
 * them. */
typedef struct dyn_expr_cache_stats {
    uint64_t hits;        /* parses served by a cached tree */
    uint64_t misses;      /* parses that ran the parser (cache on) */
    uint64_t inserts, evictions;
    size_t entries, bytes;   /* now */
} dyn_expr_cache_stats;

/* Turns the calling thread's cache on or off (entries are kept while off). */
void dyn_expr_cache_enable(bool on);

/* Sets the calling thread's limits (entries at least 1; an expression whose tree takes more
 * than a quarter of max_bytes is not cached) and empties its cache. */
void dyn_expr_cache_set_limits(size_t max_entries, size_t max_bytes);

/* Empties the calling thread's cache. */
void dyn_expr_cache_clear(void);

/* The calling thread's counters. */
void dyn_expr_cache_get_stats(dyn_expr_cache_stats *out);

/* A text form of tree e for tests and debugging: structure, operators, paths, the bound values
 * (their addresses and types) and parsed numbers, so two trees that print alike evaluate alike.
 * *text in arena a; e NULL gives "(null)". DYN_ENOMEM when the arena is full. */
dyn_err dyn_expr_dump(const dyn_expr *e, dyn_arena *a, const char **text);

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

/* The distinct top-level attribute names any tree reads or writes (paths' first names: "a" for
 * a.b[2]; projection roots; update targets and operands), in first-use order, into an array in
 * arena a (names borrowed from the tree). e NULL gives none. DYN_ENOMEM on arena exhaustion. */
dyn_err dyn_expr_top_names(const dyn_expr *e, dyn_arena *a, const char ***names, size_t *n);

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

/* ---- legacy (pre-expression) parameters ----
 * Expected, KeyConditions, QueryFilter/ScanFilter, AttributeUpdates and AttributesToGet become
 * the same trees dyn_expr_parse() builds, so dyn_expr_eval_condition(), dyn_expr_apply_update()
 * and dyn_expr_project() serve both forms. Messages are DynamoDB's (dynalite's validateAttribute-
 * Conditions/validateConditions order). Map parameters are passed as the generated map entries
 * of any message (e.g. (const ProtobufCMessage *const *)in->expected, in->n_expected): each has
 * a string "key" and a message "value" of the right type, else DYN_EINTERNAL. Names and values
 * are borrowed from the request for the tree's lifetime; the tree and *msg are in arena a.
 * Validating the AttributeValues themselves (numbers, empty sets, ...) is the caller's job, but
 * a malformed N is still reported, with dyn_num's message. DYN_ENOMEM when the arena is full. */

/* Expected + ConditionalOperator (PutItem, UpdateItem, DeleteItem) -> a CONDITION tree.
 * conditional_operator: "AND", "OR" or NULL (= AND). n == 0 and no ConditionalOperator gives
 * *out = NULL (no condition); ConditionalOperator with fewer than two entries is an error. */
dyn_err dyn_expr_from_expected(const ProtobufCMessage *const *entries, size_t n,
                               const char *conditional_operator, dyn_arena *a, dyn_expr **out,
                               const char **msg);

/* QueryFilter or ScanFilter + ConditionalOperator -> a FILTER tree. param is "QueryFilter" or
 * "ScanFilter" (it names the parameter in messages). Same NULL/empty rules as above. */
dyn_err dyn_expr_from_filter(const char *param, const ProtobufCMessage *const *entries, size_t n,
                             const char *conditional_operator, dyn_arena *a, dyn_expr **out,
                             const char **msg);

/* KeyConditions (Query) against the queried key schema (as dyn_expr_key_condition: types 'S',
 * 'N', 'B'; sk_name NULL for hash-only) -> the partition-key value and sort-key range in *kc,
 * and, when ast is not NULL, the equivalent KEY_CONDITION tree (pk = v AND sk-condition) in
 * *ast. Messages as DynamoDB gives them for KeyConditions ("Conditions can be of length 1 or 2
 * only", "Attempted conditional constraint is not an indexable operation", "Query condition
 * missed key schema element: pk", "Query key condition not supported", ...). */
dyn_err dyn_expr_from_key_conditions(const ProtobufCMessage *const *entries, size_t n,
                                     const char *pk_name, char pk_type, const char *sk_name,
                                     char sk_type, dyn_arena *a, dyn_expr **ast,
                                     dyn_expr_key_cond *kc, const char **msg);

/* AttributeUpdates (UpdateItem) -> an UPDATE tree: PUT (the default) sets, ADD adds to a number
 * or set (appends to a list) and creates a missing attribute, DELETE with a set value removes
 * those elements (the attribute when none are left), DELETE without a value removes the
 * attribute. dyn_expr_apply_update() words its errors as for AttributeUpdates ("Type mismatch
 * for attribute to update", "One or more parameter values were invalid: Cannot update attribute
 * pk. This attribute is part of the key"); dyn_expr_project() gives UPDATED_OLD/UPDATED_NEW.
 * n == 0 gives *out = NULL. */
dyn_err dyn_expr_from_attribute_updates(const ProtobufCMessage *const *entries, size_t n,
                                        dyn_arena *a, dyn_expr **out, const char **msg);

/* AttributesToGet -> a PROJECTION tree of top-level names (a name is never parsed as a path:
 * "a.b" is the attribute named "a.b"). n == 0 gives *out = NULL. Duplicates are "One or more
 * parameter values were invalid: Duplicate value in attribute name: x"; more than 255 names the
 * constraint error. names borrowed. */
dyn_err dyn_expr_from_attributes_to_get(const char *const *names, size_t n, dyn_arena *a,
                                        dyn_expr **out, const char **msg);

/* Which operation a request is, for dyn_expr_check_mixing(). BatchGetItem's per-table
 * KeysAndAttributes check as GET_ITEM. */
typedef enum dyn_expr_op {
    DYN_EXPR_OP_GET_ITEM,
    DYN_EXPR_OP_PUT_ITEM,
    DYN_EXPR_OP_DELETE_ITEM,
    DYN_EXPR_OP_UPDATE_ITEM,
    DYN_EXPR_OP_QUERY,
    DYN_EXPR_OP_SCAN,
} dyn_expr_op;

/* Bits of dyn_expr_check_mixing()'s params: which parameters the request has (present, even if
 * empty). */
#define DYN_EXPR_P_PROJECTION_EXPRESSION (1u << 0)
#define DYN_EXPR_P_FILTER_EXPRESSION (1u << 1)
#define DYN_EXPR_P_KEY_CONDITION_EXPRESSION (1u << 2)
#define DYN_EXPR_P_CONDITION_EXPRESSION (1u << 3)
#define DYN_EXPR_P_UPDATE_EXPRESSION (1u << 4)
#define DYN_EXPR_P_ATTRIBUTES_TO_GET (1u << 5)
#define DYN_EXPR_P_QUERY_FILTER (1u << 6)
#define DYN_EXPR_P_SCAN_FILTER (1u << 7)
#define DYN_EXPR_P_CONDITIONAL_OPERATOR (1u << 8)
#define DYN_EXPR_P_KEY_CONDITIONS (1u << 9)
#define DYN_EXPR_P_EXPECTED (1u << 10)
#define DYN_EXPR_P_ATTRIBUTE_UPDATES (1u << 11)
#define DYN_EXPR_P_EXPRESSION_ATTRIBUTE_NAMES (1u << 12)
#define DYN_EXPR_P_EXPRESSION_ATTRIBUTE_VALUES (1u << 13)

/* The first check DynamoDB makes on a request's parameters: DYN_EVALIDATION with "Can not use
 * both expression and non-expression parameters in the same request: Non-expression
 * parameters: {Expected} Expression parameters: {ConditionExpression}", "ExpressionAttributeNames
 * can only be specified when using expressions" or "ExpressionAttributeValues can only be
 * specified when using expressions: ConditionExpression is null"; else DYN_OK. Parameters that
 * op does not have are ignored. *msg in arena a. */
dyn_err dyn_expr_check_mixing(dyn_expr_op op, unsigned params, dyn_arena *a, const char **msg);

/* True when name is one of DynamoDB's 573 reserved words (case-insensitive). */
bool dyn_expr_is_reserved(const char *name, size_t len);
#endif /* DYN_LIBS_EXPR_EXPR_H */
