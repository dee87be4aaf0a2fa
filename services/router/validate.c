/* services/router -- constraint collection with DynamoDB's wording. */
#include "services/router/validate.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void
vc_init(vc *v, dyn_arena *a)
{
    v->a = a;
    v->n = 0;
}

static void
vc_add(vc *v, const char *path, const char *value, const char *constraint)
{
    if (v->n >= VC_MAX)
        return;
    const char *m = value == NULL
                        ? dyn_arena_printf(v->a, "Value null at '%s' failed to satisfy constraint: %s",
                                           path, constraint)
                        : dyn_arena_printf(v->a, "Value '%s' at '%s' failed to satisfy constraint: %s",
                                           value, path, constraint);
    if (m != NULL)
        v->msg[v->n++] = m;
}

void
vc_not_null(vc *v, const char *path, bool present)
{
    if (!present)
        vc_add(v, path, NULL, "Member must not be null");
}

void
vc_str_len(vc *v, const char *path, const char *s, size_t min, size_t max)
{
    char c[96];
    size_t n;

    if (s == NULL)
        return;
    n = strlen(s);
    if (n < min) {
        snprintf(c, sizeof c, "Member must have length greater than or equal to %zu", min);
        vc_add(v, path, s, c);
    }
    if (n > max) {
        snprintf(c, sizeof c, "Member must have length less than or equal to %zu", max);
        vc_add(v, path, s, c);
    }
}

bool
vc_name_chars_ok(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

void
vc_table_name(vc *v, const char *path, const char *s)
{
    if (s == NULL)
        return;
    if (!vc_name_chars_ok(s))
        vc_add(v, path, s, "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+");
    vc_str_len(v, path, s, 3, 255);
}

void
vc_enum(vc *v, const char *path, const char *s, const char *const *allowed)
{
    char set[512];
    size_t off = 0;

    if (s == NULL)
        return;
    for (const char *const *p = allowed; *p != NULL; p++)
        if (strcmp(*p, s) == 0)
            return;
    off += (size_t)snprintf(set, sizeof set, "Member must satisfy enum value set: [");
    for (const char *const *p = allowed; *p != NULL && off < sizeof set; p++)
        off += (size_t)snprintf(set + off, sizeof set - off, "%s%s", p == allowed ? "" : ", ", *p);
    if (off < sizeof set)
        snprintf(set + off, sizeof set - off, "]");
    vc_add(v, path, s, set);
}

void
vc_int_range(vc *v, const char *path, int64_t x, int64_t min, int64_t max)
{
    char c[96], val[32];

    snprintf(val, sizeof val, "%" PRId64, x);
    if (x < min) {
        snprintf(c, sizeof c, "Member must have value greater than or equal to %" PRId64, min);
        vc_add(v, path, val, c);
    }
    if (x > max) {
        snprintf(c, sizeof c, "Member must have value less than or equal to %" PRId64, max);
        vc_add(v, path, val, c);
    }
}

void
vc_list_len(vc *v, const char *path, size_t n, size_t min, size_t max)
{
    char c[96];

    /* DynamoDB prints the list's Java rendering; the element count is what users act on */
    if (n < min) {
        snprintf(c, sizeof c, "Member must have length greater than or equal to %zu", min);
        vc_add(v, path, "[]", c);
    }
    if (n > max) {
        snprintf(c, sizeof c, "Member must have length less than or equal to %zu", max);
        vc_add(v, path, "[...]", c);
    }
}

const char *
vc_message(vc *v)
{
    size_t len = 64;
    char *out, *p;

    if (v->n == 0)
        return NULL;
    for (int i = 0; i < v->n; i++)
        len += strlen(v->msg[i]) + 2;
    if ((out = dyn_arena_alloc(v->a, len)) == NULL)
        return "validation error";
    p = out + sprintf(out, "%d validation error%s detected: ", v->n, v->n > 1 ? "s" : "");
    for (int i = 0; i < v->n; i++)
        p += sprintf(p, "%s%s", i ? "; " : "", v->msg[i]);
    return out;
}
