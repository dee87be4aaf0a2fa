/* libs/req -- request parameters shared by the router (which validates them and answers
 * DynamoDB's errors before routing) and the storage node (which evaluates them against the
 * current item under its committer): expression contexts and write conditions. */
#ifndef DYN_LIBS_REQ_REQ_H
#define DYN_LIBS_REQ_REQ_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

#include "libs/arena/arena.h"
#include "libs/err/err.h"
#include "libs/expr/expr.h"
#include "proto/dyne/v1/attribute.pb-c.h"

/* A protobuf-c map<string, string> entry: every generated one has this layout. */
typedef struct dyn_req_str_entry {
    ProtobufCMessage base;
    char *key;
    char *value;
} dyn_req_str_entry;

/* The parameters of one conditional write, as they arrive (all borrowed). */
typedef struct dyn_req_cond {
    const char *condition_expression;            /* NULL: absent */
    dyn_req_str_entry *const *names;              /* ExpressionAttributeNames */
    size_t n_names;
    const Dyne__V1__AttributeValueMap *values;    /* ExpressionAttributeValues; NULL: absent */
    const ProtobufCMessage *const *expected;      /* Expected map entries */
    size_t n_expected;
    const char *conditional_operator;             /* NULL: absent */
    const char *update_expression;                /* UpdateItem only; NULL: absent */
    const ProtobufCMessage *const *attribute_updates;   /* UpdateItem's AttributeUpdates */
    size_t n_attribute_updates;
    bool old_on_fail;   /* ReturnValuesOnConditionCheckFailure ALL_OLD (carried, not parsed) */
} dyn_req_cond;

/* Parses the condition (and, for UpdateItem, the update) of a PutItem/DeleteItem/UpdateItem
 * (op) the way DynamoDB checks it: expression/legacy mixing, the placeholders, the expressions
 * (or Expected / AttributeUpdates), unused placeholders. *cond / *update (update may be NULL for
 * Put/Delete) are NULL when the request has none. On DYN_EVALIDATION *msg is DynamoDB's message
 * (arena a). The ExpressionAttributeValues themselves are validated by the caller
 * (dyn_item_validate_value). */
dyn_err dyn_req_write(dyn_expr_op op, const dyn_req_cond *c, dyn_arena *a, dyn_expr **cond,
                      dyn_expr **update, const char **msg);

/* GetItem's projection: ProjectionExpression with ExpressionAttributeNames, or AttributesToGet.
 * *proj is NULL when the request projects nothing (the whole item). */
dyn_err dyn_req_projection(const char *projection_expression, dyn_req_str_entry *const *names,
                           size_t n_names, const char *const *attributes_to_get, size_t n_atg,
                           dyn_arena *a, dyn_expr **proj, const char **msg);
/* The expression parameters of a Query or Scan, as they arrive (all borrowed). */
typedef struct dyn_req_read {
    const char *key_condition_expression, *filter_expression, *projection_expression;
    dyn_req_str_entry *const *names;
    size_t n_names;
    const Dyne__V1__AttributeValueMap *values;
    const ProtobufCMessage *const *key_conditions;   /* Query's KeyConditions */
    size_t n_key_conditions;
    const ProtobufCMessage *const *filter;           /* QueryFilter / ScanFilter */
    size_t n_filter;
    const char *conditional_operator;
    const char *const *attributes_to_get;
    size_t n_attributes_to_get;
} dyn_req_read;

/* Parses a Query (op DYN_EXPR_OP_QUERY, with the queried key schema in ks) or Scan: the key
 * condition (Query only: into *kc; "Either the KeyConditions or KeyConditionExpression
 * parameter must be specified in the request." when absent), the filter and the projection
 * (each NULL when absent), with DynamoDB's mixing and unused-placeholder checks. */
dyn_err dyn_req_read_parse(dyn_expr_op op, const dyn_req_read *r, const char *pk_name,
                           char pk_type, const char *sk_name, char sk_type, dyn_arena *a,
                           dyn_expr_key_cond *kc, dyn_expr **filter, dyn_expr **proj,
                           const char **msg);
#endif /* DYN_LIBS_REQ_REQ_H */
