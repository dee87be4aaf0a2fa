/* libs/item private helpers shared by item.c, item_key.c and item_codec.c. */
#ifndef DYN_LIBS_ITEM_ITEM_INT_H
#define DYN_LIBS_ITEM_ITEM_INT_H

#include <stddef.h>
#include <string.h>

#include "libs/item/item.h"

/* An S / N / map key / set string as DynamoDB sees it: a NULL char * is the empty string. */
static inline const char *
item_str(const char *s)
{
    return s != NULL ? s : "";
}

/* Bytewise order of two byte strings, a prefix first (DynamoDB's B and S order). */
static inline int
item_bytes_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n > 0 ? memcmp(a, b, n) : 0; /* data may be NULL when empty */

    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* Initialised, zeroed messages in arena a; NULL on exhaustion. */
Dyne__V1__AttributeValue *item_value_new(dyn_arena *a);
Dyne__V1__AttributeValueMap__ValuesEntry *item_entry_new(dyn_arena *a);

#endif /* DYN_LIBS_ITEM_ITEM_INT_H */
