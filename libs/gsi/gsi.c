/* libs/gsi -- see gsi.h. */
#include "libs/gsi/gsi.h"

#include <stdbool.h>
#include <string.h>

#include "libs/keycodec/keycodec.h"

char
dyn_gsi_proj(const char *t)
{
    if (t == NULL || t[0] == '\0' || strcmp(t, "ALL") == 0)
        return 'A';
    if (strcmp(t, "KEYS_ONLY") == 0)
        return 'K';
    if (strcmp(t, "INCLUDE") == 0)
        return 'I';
    return 0;
}

/* A key attribute usable in an entry: of the schema's type, and for an index key an S/B not
 * empty (DynamoDB refuses those as index keys; an item holding one has no entry). */
static const Dyne__V1__AttributeValue *
key_attr(const Dyne__V1__AttributeValueMap *item, const char *name, char type, bool index_key)
{
    const Dyne__V1__AttributeValue *v = name != NULL ? dyn_item_get(item, name) : NULL;

    if (v == NULL)
        return NULL;
    switch (v->value_case) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_S:
        return type == 'S' && (!index_key || v->s[0] != '\0') ? v : NULL;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_N:
        return type == 'N' ? v : NULL;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_B:
        return type == 'B' && (!index_key || v->b.len > 0) ? v : NULL;
    default:
        return NULL;
    }
}

dyn_err
dyn_gsi_entry(const dyn_gsi_shape *s, const Dyne__V1__AttributeValueMap *item, dyn_arena *a,
              unsigned char **key, size_t *klen, const Dyne__V1__AttributeValueMap **val)
{
    const dyn_key_schema *tks = &s->table_ks, *iks = &s->index_ks;
    const Dyne__V1__AttributeValue *ipk, *isk = NULL, *tpk, *tsk = NULL;
    Dyne__V1__AttributeValueMap *e;
    dyn_err rc;

    *key = NULL;
    *klen = 0;
    *val = NULL;
    if (item == NULL)
        return DYN_OK;
    if ((ipk = key_attr(item, iks->pk_name, iks->pk_type, true)) == NULL)
        return DYN_OK;
    if (iks->sk_name != NULL && (isk = key_attr(item, iks->sk_name, iks->sk_type, true)) == NULL)
        return DYN_OK;
    if ((tpk = key_attr(item, tks->pk_name, tks->pk_type, false)) == NULL)
        return DYN_OK;
    if (tks->sk_name != NULL && (tsk = key_attr(item, tks->sk_name, tks->sk_type, false)) == NULL)
        return DYN_OK;
    rc = dyn_keycodec_gsi_key(a, ipk, isk, tpk, tsk, key, klen);
    if (rc == DYN_EVALIDATION) {   /* an N that does not parse: never stored, never indexed */
        *key = NULL;
        *klen = 0;
        return DYN_OK;
    }
    if (rc != DYN_OK)
        return rc;
    if (s->proj == 'A') {
        *val = item;
        return DYN_OK;
    }
    if ((e = dyn_item_new(a)) == NULL)
        return DYN_ENOMEM;
    const char *fixed[4] = { tks->pk_name, tks->sk_name, iks->pk_name, iks->sk_name };
    size_t n_extra = s->proj == 'I' ? s->n_non_key : 0;
    for (size_t i = 0; i < 4 + n_extra; i++) {
        const char *name = i < 4 ? fixed[i] : s->non_key[i - 4];
        const Dyne__V1__AttributeValue *v = name != NULL ? dyn_item_get(item, name) : NULL;
        /* dyn_item_put replaces a name given twice (an index key that is also a table key) */
        if (v != NULL && (rc = dyn_item_put(e, name, (Dyne__V1__AttributeValue *)v, a)) != DYN_OK)
            return rc;
    }
    *val = e;
    return DYN_OK;
}
