/* services/router -- DynamoDB's request-constraint checks. Constraint failures are collected in
 * parameter order and reported together, as DynamoDB does: "2 validation errors detected: Value
 * 'ab' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal
 * to 3; Value ...". At most 10 are kept. */
#ifndef DYN_SERVICES_ROUTER_VALIDATE_H
#define DYN_SERVICES_ROUTER_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libs/arena/arena.h"

#define VC_MAX 10

typedef struct vc {
    dyn_arena *a;           /* borrowed: messages live here */
    int n;                  /* constraint failures so far */
    const char *msg[VC_MAX];
} vc;

void vc_init(vc *v, dyn_arena *a);
/* Each check records a failure when its predicate does not hold. `path` is DynamoDB's
 * lower-camel member path ("tableName", "keySchema.1.member.keyType"). */
void vc_not_null(vc *v, const char *path, bool present);
void vc_str_len(vc *v, const char *path, const char *s, size_t min, size_t max);
void vc_table_name(vc *v, const char *path, const char *s);   /* regex + 3..255, in that order */
void vc_enum(vc *v, const char *path, const char *s, const char *const *allowed);
void vc_int_range(vc *v, const char *path, int64_t x, int64_t min, int64_t max);
void vc_list_len(vc *v, const char *path, size_t n, size_t min, size_t max);
/* NULL when nothing failed, else the whole DynamoDB message (arena). */
const char *vc_message(vc *v);

/* True if s matches [a-zA-Z0-9_.-]+ (table and index names). */
bool vc_name_chars_ok(const char *s);
#endif /* DYN_SERVICES_ROUTER_VALIDATE_H */
