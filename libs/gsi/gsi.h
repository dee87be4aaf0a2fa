/* libs/gsi -- what a global secondary index holds for an item: its entry key and projected value
 * (docs/decisions.md, "Global secondary indexes"). One definition for the indexer, which writes
 * the entries, and the storage node, which charges each write's index units from the same
 * entries (reference §2.2). */
#ifndef DYN_LIBS_GSI_GSI_H
#define DYN_LIBS_GSI_GSI_H

#include <stddef.h>

#include "libs/arena/arena.h"
#include "libs/err/err.h"
#include "libs/item/item.h"
#include "proto/dyne/v1/attribute.pb-c.h"

typedef struct dyn_gsi_shape {
    dyn_key_schema table_ks;      /* the base table's key */
    dyn_key_schema index_ks;      /* the index's key */
    char proj;                    /* 'A' ALL, 'K' KEYS_ONLY, 'I' INCLUDE */
    char *const *non_key;         /* INCLUDE's attribute names (borrowed) */
    size_t n_non_key;
} dyn_gsi_shape;

/* 'A', 'K' or 'I' for a ProjectionType ("ALL" when NULL or empty); 0 for anything else. */
char dyn_gsi_proj(const char *projection_type);

/* The entry item has in the index: its key (dyn_keycodec_gsi_key) and projected value (ALL: the
 * item; KEYS_ONLY: the table's and the index's keys; INCLUDE: those and the listed attributes),
 * in arena a (the value may borrow from item). *key NULL: no entry -- the item lacks an index
 * key attribute, has one of another type or an empty S/B (sparse), lacks its table key, or holds
 * an N that does not parse. item NULL: no entry. DYN_ENOMEM past the arena cap. */
dyn_err dyn_gsi_entry(const dyn_gsi_shape *s, const Dyne__V1__AttributeValueMap *item,
                      dyn_arena *a, unsigned char **key, size_t *klen,
                      const Dyne__V1__AttributeValueMap **val);

#endif
