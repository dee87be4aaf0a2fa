/* tests/fuzz -- a tiny DynamoDB-JSON reader for the fixed items of the fuzz targets, the corpus
 * generator and bench/micro (contract in fuzz.h). */
#include "tests/fuzz/fuzz.h"

#include <stdbool.h>
#include <string.h>

typedef struct rd {
    const char *s;
    dyn_arena *a;
} rd;

static void
die(const rd *r, const char *what)
{
    fprintf(stderr, "fz_item_json: %s at \"%.20s\"\n", what, r->s);
    abort();
}

static void *
zalloc(rd *r, size_t n)
{
    void *p = dyn_arena_zalloc(r->a, n);
    if (p == NULL)
        die(r, "arena exhausted");
    return p;
}

static void
ws(rd *r)
{
    while (*r->s == ' ' || *r->s == '\n' || *r->s == '\t')
        r->s++;
}

static bool
peek(rd *r, char c)
{
    ws(r);
    return *r->s == c;
}

static void
lit(rd *r, char c)
{
    if (!peek(r, c))
        die(r, "unexpected character");
    r->s++;
}

/* A list separator: true if another element follows. */
static bool
more(rd *r, char close)
{
    if (peek(r, ',')) {
        r->s++;
        return true;
    }
    if (!peek(r, close))
        die(r, "expected ',' or a closing bracket");
    return false;
}

static char *
str(rd *r, size_t *len)
{
    const char *b;
    char *out;

    lit(r, '"');
    b = r->s;
    while (*r->s != '\0' && *r->s != '"')
        r->s++;
    if (*r->s != '"')
        die(r, "unterminated string");
    out = zalloc(r, (size_t)(r->s - b) + 1);
    memcpy(out, b, (size_t)(r->s - b));
    if (len != NULL)
        *len = (size_t)(r->s - b);
    r->s++;
    return out;
}

/* Reads ["x", "y", ...] into an arena array; *n its length. */
static char **
strs(rd *r, size_t *n, size_t **lens)
{
    const char *save;
    size_t cap = 0;
    char **v;

    lit(r, '[');
    save = r->s;
    for (const char *p = r->s; *p != '\0' && *p != ']'; p++)
        cap += *p == '"';
    v = zalloc(r, (cap / 2 + 1) * sizeof *v);
    *lens = zalloc(r, (cap / 2 + 1) * sizeof **lens);
    r->s = save;
    *n = 0;
    if (peek(r, ']')) {
        r->s++;
        return v;
    }
    do {
        v[*n] = str(r, &(*lens)[*n]);
        (*n)++;
    } while (more(r, ']'));
    lit(r, ']');
    return v;
}

static Dyne__V1__AttributeValue *value(rd *r);

static Dyne__V1__AttributeValueMap *
map(rd *r)
{
    Dyne__V1__AttributeValueMap *m = zalloc(r, sizeof *m);
    size_t cap = 8;

    dyne__v1__attribute_value_map__init(m);
    m->values = zalloc(r, cap * sizeof *m->values);
    lit(r, '{');
    if (peek(r, '}')) {
        r->s++;
        return m;
    }
    do {
        Dyne__V1__AttributeValueMap__ValuesEntry *e = zalloc(r, sizeof *e);
        dyne__v1__attribute_value_map__values_entry__init(e);
        e->key = str(r, NULL);
        lit(r, ':');
        e->value = value(r);
        if (m->n_values == cap) {
            Dyne__V1__AttributeValueMap__ValuesEntry **nv = zalloc(r, 2 * cap * sizeof *nv);
            memcpy(nv, m->values, cap * sizeof *nv);
            m->values = nv;
            cap *= 2;
        }
        m->values[m->n_values++] = e;
    } while (more(r, '}'));
    lit(r, '}');
    return m;
}

static Dyne__V1__AttributeValueList *
list(rd *r)
{
    Dyne__V1__AttributeValueList *l = zalloc(r, sizeof *l);
    size_t cap = 8;

    dyne__v1__attribute_value_list__init(l);
    l->values = zalloc(r, cap * sizeof *l->values);
    lit(r, '[');
    if (peek(r, ']')) {
        r->s++;
        return l;
    }
    do {
        if (l->n_values == cap) {
            Dyne__V1__AttributeValue **nv = zalloc(r, 2 * cap * sizeof *nv);
            memcpy(nv, l->values, cap * sizeof *nv);
            l->values = nv;
            cap *= 2;
        }
        l->values[l->n_values++] = value(r);
    } while (more(r, ']'));
    lit(r, ']');
    return l;
}

static Dyne__V1__AttributeValue *
value(rd *r)
{
    Dyne__V1__AttributeValue *v = zalloc(r, sizeof *v);
    size_t n, *lens;
    char *t;

    dyne__v1__attribute_value__init(v);
    lit(r, '{');
    t = str(r, NULL);
    lit(r, ':');
    ws(r);
    if (strcmp(t, "S") == 0) {
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_S;
        v->s = str(r, NULL);
    } else if (strcmp(t, "N") == 0) {
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_N;
        v->n = str(r, NULL);
    } else if (strcmp(t, "B") == 0) {
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_B;
        v->b.data = (uint8_t *)str(r, &v->b.len);
    } else if (strcmp(t, "BOOL") == 0 || strcmp(t, "NULL") == 0) {
        bool yes = strncmp(r->s, "true", 4) == 0;
        if (!yes && strncmp(r->s, "false", 5) != 0)
            die(r, "expected true or false");
        r->s += yes ? 4 : 5;
        if (t[0] == 'B') {
            v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_BOOL;
            v->bool_ = yes;
        } else {
            v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_NULL;
            v->null = yes;
        }
    } else if (strcmp(t, "M") == 0) {
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_M;
        v->m = map(r);
    } else if (strcmp(t, "L") == 0) {
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_L;
        v->l = list(r);
    } else if (strcmp(t, "SS") == 0) {
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS;
        v->ss = zalloc(r, sizeof *v->ss);
        dyne__v1__string_set__init(v->ss);
        v->ss->values = strs(r, &v->ss->n_values, &lens);
    } else if (strcmp(t, "NS") == 0) {
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS;
        v->ns = zalloc(r, sizeof *v->ns);
        dyne__v1__number_set__init(v->ns);
        v->ns->values = strs(r, &v->ns->n_values, &lens);
    } else if (strcmp(t, "BS") == 0) {
        char **x = strs(r, &n, &lens);
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_BS;
        v->bs = zalloc(r, sizeof *v->bs);
        dyne__v1__binary_set__init(v->bs);
        v->bs->values = zalloc(r, (n + 1) * sizeof *v->bs->values);
        for (size_t i = 0; i < n; i++) {
            v->bs->values[i].data = (uint8_t *)x[i];
            v->bs->values[i].len = lens[i];
        }
        v->bs->n_values = n;
    } else {
        die(r, "unknown type");
    }
    lit(r, '}');
    return v;
}

static void
end(rd *r)
{
    ws(r);
    if (*r->s != '\0')
        die(r, "trailing text");
}

Dyne__V1__AttributeValueMap *
fz_item_json(dyn_arena *a, const char *json)
{
    rd r = { json, a };
    Dyne__V1__AttributeValueMap *m = map(&r);
    end(&r);
    return m;
}

Dyne__V1__AttributeValue *
fz_value_json(dyn_arena *a, const char *json)
{
    rd r = { json, a };
    Dyne__V1__AttributeValue *v = value(&r);
    end(&r);
    return v;
}
