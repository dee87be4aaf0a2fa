/* libs/item -- primary-key checks of Key parameters and whole items, with DynamoDB's messages and
 * order: the partition key completely, then the sort key. */
#include "libs/item/item.h"

#include <string.h>

#include "libs/item/item_int.h"
#include "libs/num/num.h"

static dyn_err
fail(const char **msg, const char *m)
{
    if (msg != NULL)
        *msg = m;
    return DYN_EVALIDATION;
}

static Dyne__V1__AttributeValue__ValueCase
key_case(char type)
{
    switch (type) {
    case 'S':
        return DYNE__V1__ATTRIBUTE_VALUE__VALUE_S;
    case 'N':
        return DYNE__V1__ATTRIBUTE_VALUE__VALUE_N;
    case 'B':
        return DYNE__V1__ATTRIBUTE_VALUE__VALUE_B;
    default:
        return DYNE__V1__ATTRIBUTE_VALUE__VALUE__NOT_SET; /* matches no value */
    }
}

/* The checks common to Key parameters and items once the value has the right type: a number
 * parses, S/B are non-empty and within max bytes (numbers always fit: 38 digits are ~21 B). */
static dyn_err
check_key_value(const Dyne__V1__AttributeValue *v, const char *name, size_t max, dyn_arena *a,
                const char **msg)
{
    const char *m = NULL, *s;
    char *full;
    size_t len;
    dyn_num n;

    switch (v->value_case) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_N:
        s = item_str(v->n);
        len = strlen(s);
        if (dyn_num_parse(s, len, &n, &m) == DYN_OK)
            return DYN_OK;
        if (m == NULL)
            m = DYN_NUM_MSG_NOT_NUMERIC;
        if (len == 0 || strcmp(m, DYN_NUM_MSG_NOT_NUMERIC) != 0)
            return fail(msg, m);
        if ((full = dyn_arena_printf(a, "%s: %s", DYN_NUM_MSG_NOT_NUMERIC, s)) == NULL)
            return DYN_ENOMEM;
        return fail(msg, full);
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_S:
        len = strlen(item_str(v->s));
        if (len == 0) {
            full = dyn_arena_printf(a,
                                    "One or more parameter values are not valid. The "
                                    "AttributeValue for a key attribute cannot contain an empty "
                                    "string value. Key: %s",
                                    name);
            return full != NULL ? fail(msg, full) : DYN_ENOMEM;
        }
        break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_B:
        len = v->b.len;
        if (len == 0) {
            full = dyn_arena_printf(a,
                                    "One or more parameter values are not valid. The "
                                    "AttributeValue for a key attribute cannot contain an empty "
                                    "binary value. Key: %s",
                                    name);
            return full != NULL ? fail(msg, full) : DYN_ENOMEM;
        }
        break;
    default:
        return DYN_OK;
    }
    if (len > max)
        return fail(msg,
                    max == DYN_ITEM_PK_MAX ? DYN_ITEM_MSG_PK_TOO_BIG : DYN_ITEM_MSG_SK_TOO_BIG);
    return DYN_OK;
}

dyn_err
dyn_item_key_from_key(const dyn_key_schema *ks, const Dyne__V1__AttributeValueMap *key,
                      dyn_arena *a, const char **msg, const Dyne__V1__AttributeValue **pk,
                      const Dyne__V1__AttributeValue **sk)
{
    const Dyne__V1__AttributeValue *p, *s = NULL;
    size_t want = ks->sk_name != NULL ? 2 : 1;
    dyn_err rc;

    if (key == NULL || key->n_values != want)
        return fail(msg, DYN_ITEM_MSG_KEY_SCHEMA);
    p = dyn_item_get(key, ks->pk_name);
    if (p == NULL || p->value_case != key_case(ks->pk_type))
        return fail(msg, DYN_ITEM_MSG_KEY_SCHEMA);
    if ((rc = check_key_value(p, ks->pk_name, DYN_ITEM_PK_MAX, a, msg)) != DYN_OK)
        return rc;
    if (ks->sk_name != NULL) {
        s = dyn_item_get(key, ks->sk_name);
        if (s == NULL || s->value_case != key_case(ks->sk_type))
            return fail(msg, DYN_ITEM_MSG_KEY_SCHEMA);
        if ((rc = check_key_value(s, ks->sk_name, DYN_ITEM_SK_MAX, a, msg)) != DYN_OK)
            return rc;
    }
    if (pk != NULL)
        *pk = p;
    if (sk != NULL)
        *sk = s;
    return DYN_OK;
}

static dyn_err
item_key_attr(const Dyne__V1__AttributeValueMap *item, const char *name, char type, size_t max,
              dyn_arena *a, const char **msg, const Dyne__V1__AttributeValue **out)
{
    const Dyne__V1__AttributeValue *v = dyn_item_get(item, name);
    char *m;

    if (v == NULL) {
        m = dyn_arena_printf(a,
                             "One or more parameter values were invalid: Missing the key %s in "
                             "the item",
                             name);
        return m != NULL ? fail(msg, m) : DYN_ENOMEM;
    }
    if (v->value_case != key_case(type)) {
        m = dyn_arena_printf(a,
                             "One or more parameter values were invalid: Type mismatch for key "
                             "%s expected: %c actual: %s",
                             name, type, dyn_item_type_name(v));
        return m != NULL ? fail(msg, m) : DYN_ENOMEM;
    }
    *out = v;
    return check_key_value(v, name, max, a, msg);
}

dyn_err
dyn_item_key_from_item(const dyn_key_schema *ks, const Dyne__V1__AttributeValueMap *item,
                       dyn_arena *a, const char **msg, const Dyne__V1__AttributeValue **pk,
                       const Dyne__V1__AttributeValue **sk)
{
    const Dyne__V1__AttributeValue *p = NULL, *s = NULL;
    dyn_err rc;

    if ((rc = item_key_attr(item, ks->pk_name, ks->pk_type, DYN_ITEM_PK_MAX, a, msg, &p)) != DYN_OK)
        return rc;
    if (ks->sk_name != NULL &&
        (rc = item_key_attr(item, ks->sk_name, ks->sk_type, DYN_ITEM_SK_MAX, a, msg, &s)) != DYN_OK)
        return rc;
    if (pk != NULL)
        *pk = p;
    if (sk != NULL)
        *sk = s;
    return DYN_OK;
}

Dyne__V1__AttributeValueMap *
dyn_item_key_map(const dyn_key_schema *ks, const Dyne__V1__AttributeValueMap *item, dyn_arena *a)
{
    const char *names[2] = { ks->pk_name, ks->sk_name };
    Dyne__V1__AttributeValueMap *m;

    if ((m = dyn_item_new(a)) == NULL ||
        (m->values = dyn_arena_alloc(a, 2 * sizeof *m->values)) == NULL)
        return NULL;
    for (int i = 0; i < 2; i++) {
        const Dyne__V1__AttributeValue *v;
        Dyne__V1__AttributeValueMap__ValuesEntry *e;
        if (names[i] == NULL || (v = dyn_item_get(item, names[i])) == NULL)
            continue;
        if ((e = item_entry_new(a)) == NULL || (e->key = dyn_arena_strdup(a, names[i])) == NULL ||
            (e->value = dyn_item_value_dup(v, a)) == NULL)
            return NULL;
        m->values[m->n_values++] = e;
    }
    return m;
}
