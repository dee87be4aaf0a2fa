/* services/storage -- the write units an item write makes on the table's global secondary
 * indexes (reference §2.2), counted from its old and new images with the index definitions the
 * router sends along. The entries themselves are the indexer's to write (services/indexer, whose
 * rules of entry, projection and sparseness these mirror). */
#include "services/storage/changelog.h"

#include <string.h>

#include "libs/gsi/gsi.h"
#include "proto/dyne/internal/storage.pb-c.h"

/* The entry of item in index g (libs/gsi: the indexer's own rules). */
static dyn_err
gsi_entry(const dyn_key_schema *tks, const Dyne__Internal__GsiDef *g,
          const Dyne__V1__AttributeValueMap *item, dyn_arena *a, unsigned char **key,
          size_t *klen, const Dyne__V1__AttributeValueMap **val)
{
    const Dyne__Internal__KeySchema *iks = g->key_schema;
    dyn_gsi_shape sh = { .table_ks = *tks, .proj = dyn_gsi_proj(g->projection_type),
                         .non_key = g->non_key_attributes,
                         .n_non_key = g->n_non_key_attributes };

    *key = NULL;
    *klen = 0;
    *val = NULL;
    if (iks == NULL || iks->pk_name == NULL || sh.proj == 0)
        return DYN_OK;
    sh.index_ks.pk_name = iks->pk_name;
    sh.index_ks.pk_type = iks->pk_type != NULL && iks->pk_type[0] != '\0' ? iks->pk_type[0] : 'S';
    sh.index_ks.sk_name = iks->sk_name;
    sh.index_ks.sk_type = iks->sk_type != NULL && iks->sk_type[0] != '\0' ? iks->sk_type[0] : 'S';
    return dyn_gsi_entry(&sh, item, a, key, klen, val);
}

static double
units_of(size_t size)
{
    return size == 0 ? 1.0 : (double)((size + 1023) / 1024);
}

dyn_err
storage_gsi_units(const dyn_key_schema *tks, const Dyne__Internal__GsiDef *g,
                  const Dyne__V1__AttributeValueMap *old_item,
                  const Dyne__V1__AttributeValueMap *new_item, dyn_arena *a, double *units)
{
    const Dyne__V1__AttributeValueMap *ov, *nv;
    unsigned char *ok, *nk, *ob, *nb;
    size_t okl, nkl, obl, nbl;
    dyn_err rc;

    *units = 0;
    if ((rc = gsi_entry(tks, g, old_item, a, &ok, &okl, &ov)) != DYN_OK ||
        (rc = gsi_entry(tks, g, new_item, a, &nk, &nkl, &nv)) != DYN_OK)
        return rc;
    /* reference §2.2, each write sized on its index entry: a new entry 1, a removed one 1, a
     * key change 2 (delete + put), a changed projection 1, else (sparse, or only attributes
     * the index does not project changed) 0 */
    if (ok == NULL && nk == NULL)
        return DYN_OK;
    if (ok == NULL) {
        *units = units_of(dyn_item_size(nv));
        return DYN_OK;
    }
    if (nk == NULL) {
        *units = units_of(dyn_item_size(ov));
        return DYN_OK;
    }
    if (okl != nkl || memcmp(ok, nk, okl) != 0) {
        *units = units_of(dyn_item_size(ov)) + units_of(dyn_item_size(nv));
        return DYN_OK;
    }
    /* the canonical encoding makes equal entries equal bytes */
    if ((rc = dyn_item_encode(ov, a, &ob, &obl)) != DYN_OK ||
        (rc = dyn_item_encode(nv, a, &nb, &nbl)) != DYN_OK)
        return rc;
    if (obl != nbl || memcmp(ob, nb, obl) != 0)
        *units = units_of(dyn_item_size(nv));
    return DYN_OK;
}
