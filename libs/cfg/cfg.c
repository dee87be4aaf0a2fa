/* libs/cfg -- layered options: default < file < environment < flag. */
#include "libs/cfg/cfg.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libs/arena/arena.h"
#include "libs/log/log.h"

bool
dyn_cfg_parse_size(const char *s, size_t *out)
{
    char *end;
    unsigned long long v;
    unsigned long long mul = 1;

    errno = 0;
    if (s == NULL || !isdigit((unsigned char)*s))
        return false;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return false;
    if (*end != '\0') {
        switch (tolower((unsigned char)*end)) {
        case 'k':
            mul = 1ULL << 10;
            break;
        case 'm':
            mul = 1ULL << 20;
            break;
        case 'g':
            mul = 1ULL << 30;
            break;
        case 't':
            mul = 1ULL << 40;
            break;
        default:
            return false;
        }
        end++;
        /* accept k, kb, kib (all binary: sizes here are cache and memory sizes) */
        if (strcasecmp(end, "") != 0 && strcasecmp(end, "b") != 0 && strcasecmp(end, "ib") != 0)
            return false;
    }
    if (v > ULLONG_MAX / mul)
        return false;
    *out = (size_t)(v * mul);
    return true;
}

static bool
cfg_set(const dyn_cfg_opt *o, const char *val)
{
    switch (o->type) {
    case DYN_CFG_T_STR: {
        char **dst = o->dst;
        free(*dst);
        *dst = dyn_xstrdup(val);
        return true;
    }
    case DYN_CFG_T_INT: {
        char *end;
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno != 0 || *val == '\0' || *end != '\0' || v < INT_MIN || v > INT_MAX)
            return false;
        *(int *)o->dst = (int)v;
        return true;
    }
    case DYN_CFG_T_SIZE:
        return dyn_cfg_parse_size(val, o->dst);
    case DYN_CFG_T_BOOL:
        if (strcmp(val, "1") == 0 || strcasecmp(val, "true") == 0 || strcasecmp(val, "yes") == 0 ||
            strcasecmp(val, "on") == 0) {
            *(bool *)o->dst = true;
            return true;
        }
        if (strcmp(val, "0") == 0 || strcasecmp(val, "false") == 0 || strcasecmp(val, "no") == 0 ||
            strcasecmp(val, "off") == 0) {
            *(bool *)o->dst = false;
            return true;
        }
        return false;
    }
    return false;
}

static const dyn_cfg_opt *
cfg_find(const dyn_cfg_opt *opts, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

static void
cfg_usage(const char *svc, const dyn_cfg_opt *opts, size_t n)
{
    fprintf(stderr, "usage: %s [--option=value ...]\n", svc);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "  --%-22s %s (default \"%s\")\n", opts[i].name, opts[i].help, opts[i].def);
    fprintf(stderr, "  --%-22s %s\n", "config", "configuration file (name = value lines)");
}

/* File lines: "name = value" or "name value"; '#' starts a comment. */
static int
cfg_file(const char *path, bool must_exist, const dyn_cfg_opt *opts, size_t n)
{
    char line[4096];
    int lineno = 0, rc = 0;
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        if (!must_exist)
            return 0;
        fprintf(stderr, "config: cannot open %s: %s\n", path, strerror(errno));
        return 2;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        char *p = line, *name, *val, *e;
        lineno++;
        if ((e = strchr(p, '#')) != NULL)
            *e = '\0';
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            continue;
        name = p;
        while (*p && !isspace((unsigned char)*p) && *p != '=')
            p++;
        size_t nlen = (size_t)(p - name);
        while (isspace((unsigned char)*p) || *p == '=')
            p++;
        val = p;
        e = val + strlen(val);
        while (e > val && isspace((unsigned char)e[-1]))
            *--e = '\0';
        const dyn_cfg_opt *o = cfg_find(opts, n, name, nlen);
        if (o == NULL || !cfg_set(o, val)) {
            fprintf(stderr, "config: %s:%d: bad option or value\n", path, lineno);
            rc = 2;
            break;
        }
    }
    fclose(f);
    return rc;
}

int
dyn_cfg_load(const char *svc, const dyn_cfg_opt *opts, size_t n, int argc, char **argv)
{
    const char *config = NULL;
    char path[512], env[256];
    int rc;

    for (size_t i = 0; i < n; i++)
        if (!cfg_set(&opts[i], opts[i].def)) {
            fprintf(stderr, "config: bad default for --%s\n", opts[i].name);
            return 2;
        }
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--config=", 9) == 0)
            config = argv[i] + 9;
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[i + 1];
    }
    if (config != NULL) {
        if ((rc = cfg_file(config, true, opts, n)) != 0)
            return rc;
    } else {
        snprintf(path, sizeof path, "/etc/dyn/%s.conf", svc);
        if ((rc = cfg_file(path, false, opts, n)) != 0)
            return rc;
    }
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(env, sizeof env, "DYN_%s_%s", svc, opts[i].name);
        for (int j = 0; j < k && j < (int)sizeof env; j++)
            env[j] = env[j] == '-' ? '_' : (char)toupper((unsigned char)env[j]);
        const char *v = getenv(env);
        if (v != NULL && !cfg_set(&opts[i], v)) {
            fprintf(stderr, "config: bad value in %s\n", env);
            return 2;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL, *eq;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cfg_usage(svc, opts, n);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "config: unexpected argument %s\n", a);
            return 2;
        }
        a += 2;
        eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        if (len == 6 && strncmp(a, "config", 6) == 0) {
            if (eq == NULL)
                i++;
            continue;
        }
        const dyn_cfg_opt *o = cfg_find(opts, n, a, len);
        if (o == NULL) {
            fprintf(stderr, "config: unknown option --%.*s\n", (int)len, a);
            cfg_usage(svc, opts, n);
            return 2;
        }
        if (eq != NULL)
            val = eq + 1;
        else if (o->type == DYN_CFG_T_BOOL)
            val = "true";
        else if (i + 1 < argc)
            val = argv[++i];
        if (val == NULL || !cfg_set(o, val)) {
            fprintf(stderr, "config: bad value for --%s\n", o->name);
            return 2;
        }
    }
    return 0;
}

void
dyn_cfg_log(const char *svc, const dyn_cfg_opt *opts, size_t n)
{
    char line[3000], id[64];
    size_t off = 0;

    for (size_t i = 0; i < n && off < sizeof line - 64; i++) {
        const dyn_cfg_opt *o = &opts[i];
        int k = 0;
        switch (o->type) {
        case DYN_CFG_T_STR:
            k = snprintf(line + off, sizeof line - off, "%s%s=%s", i ? " " : "", o->name,
                         *(char **)o->dst);
            break;
        case DYN_CFG_T_INT:
            k = snprintf(line + off, sizeof line - off, "%s%s=%d", i ? " " : "", o->name,
                         *(int *)o->dst);
            break;
        case DYN_CFG_T_SIZE:
            k = snprintf(line + off, sizeof line - off, "%s%s=%zu", i ? " " : "", o->name,
                         *(size_t *)o->dst);
            break;
        case DYN_CFG_T_BOOL:
            k = snprintf(line + off, sizeof line - off, "%s%s=%s", i ? " " : "", o->name,
                         *(bool *)o->dst ? "true" : "false");
            break;
        }
        if (k > 0)
            off += (size_t)k;
    }
    snprintf(id, sizeof id, "%s-CONFIG", svc);
    for (char *p = id; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    dyn_log(DYN_LOG_INFO, id, "%s", line);
}
