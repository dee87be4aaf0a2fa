/* libs/sigv4 -- the credential store: an immutable-after-load hash table of keys, the loaders
 * (plain lines, AWS shared-credentials INI, environment) and the signing-key cache. */
#include "libs/sigv4/sigv4_int.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define CACHE_SLOTS 1024   /* direct-mapped: a colliding scope just evicts the old one */
#define CACHE_LOCKS 64     /* lock stripes; slot i uses lock i % CACHE_LOCKS */
#define CACHE_ID_MAX 256   /* akid\0date\0region\0service; longer scopes bypass the cache */

typedef struct cache_slot {
    uint64_t hash;
    size_t len;                  /* bytes of id used; 0 = empty slot */
    char id[CACHE_ID_MAX];
    unsigned char key[32];       /* kSigning */
} cache_slot;

struct dyn_sigv4_creds {
    sigv4_key **buckets;         /* owned, nbuckets chains */
    size_t nbuckets, count;
    cache_slot *cache;           /* owned, CACHE_SLOTS */
    pthread_mutex_t locks[CACHE_LOCKS];
    atomic_uint_fast64_t hits, misses;
};

static uint64_t
fnv1a(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ULL;
    return h;
}

dyn_sigv4_creds *
dyn_sigv4_creds_new(void)
{
    dyn_sigv4_creds *c = dyn_xcalloc(1, sizeof *c);
    c->nbuckets = 16;
    c->buckets = dyn_xcalloc(c->nbuckets, sizeof *c->buckets);
    c->cache = dyn_xcalloc(CACHE_SLOTS, sizeof *c->cache);
    for (int i = 0; i < CACHE_LOCKS; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    atomic_init(&c->hits, 0);
    atomic_init(&c->misses, 0);
    return c;
}

static void
key_free(sigv4_key *k)
{
    OPENSSL_cleanse(k->secret, strlen(k->secret));
    if (k->token != NULL)
        OPENSSL_cleanse(k->token, k->token_len);
    free(k->akid);
    free(k->secret);
    free(k->token);
    free(k);
}

void
dyn_sigv4_creds_free(dyn_sigv4_creds *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nbuckets; i++) {
        for (sigv4_key *k = c->buckets[i], *next; k != NULL; k = next) {
            next = k->next;
            key_free(k);
        }
    }
    for (int i = 0; i < CACHE_LOCKS; i++)
        pthread_mutex_destroy(&c->locks[i]);
    OPENSSL_cleanse(c->cache, CACHE_SLOTS * sizeof *c->cache);
    free(c->cache);
    free(c->buckets);
    free(c);
}

size_t
dyn_sigv4_creds_count(const dyn_sigv4_creds *c)
{
    return c->count;
}

void
dyn_sigv4_creds_cache_stats(dyn_sigv4_creds *c, uint64_t *hits, uint64_t *misses)
{
    *hits = atomic_load_explicit(&c->hits, memory_order_relaxed);
    *misses = atomic_load_explicit(&c->misses, memory_order_relaxed);
}

const sigv4_key *
sigv4_creds_find(const dyn_sigv4_creds *c, const char *akid, size_t len)
{
    for (const sigv4_key *k = c->buckets[fnv1a(akid, len) % c->nbuckets]; k; k = k->next)
        if (k->akid_len == len && memcmp(k->akid, akid, len) == 0)
            return k;
    return NULL;
}

static bool
token_ok(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (; *s; s++)
        if (isspace((unsigned char)*s) || iscntrl((unsigned char)*s))
            return false;
    return true;
}

static void
creds_grow(dyn_sigv4_creds *c)
{
    size_t n = c->nbuckets * 2;
    sigv4_key **b = dyn_xcalloc(n, sizeof *b);
    for (size_t i = 0; i < c->nbuckets; i++) {
        for (sigv4_key *k = c->buckets[i], *next; k != NULL; k = next) {
            next = k->next;
            size_t j = fnv1a(k->akid, k->akid_len) % n;
            k->next = b[j];
            b[j] = k;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->nbuckets = n;
}

dyn_err
dyn_sigv4_creds_add(dyn_sigv4_creds *c, const char *akid, const char *secret, const char *token)
{
    if (!token_ok(akid) || !token_ok(secret) || (token != NULL && *token && !token_ok(token)))
        return DYN_EVALIDATION;
    size_t len = strlen(akid);
    sigv4_key **pp = &c->buckets[fnv1a(akid, len) % c->nbuckets];
    for (; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->akid_len == len && memcmp((*pp)->akid, akid, len) == 0) {
            sigv4_key *old = *pp;
            *pp = old->next;
            key_free(old);
            c->count--;
            break;
        }
    }
    sigv4_key *k = dyn_xcalloc(1, sizeof *k);
    k->akid = dyn_xstrdup(akid);
    k->akid_len = len;
    k->secret = dyn_xstrdup(secret);
    if (token != NULL && *token) {
        k->token = dyn_xstrdup(token);
        k->token_len = strlen(token);
    }
    size_t b = fnv1a(akid, len) % c->nbuckets;
    k->next = c->buckets[b];
    c->buckets[b] = k;
    c->count++;
    if (c->count > c->nbuckets)
        creds_grow(c);
    /* A replaced secret must not keep signing from the cache. */
    memset(c->cache, 0, CACHE_SLOTS * sizeof *c->cache);
    return DYN_OK;
}

/* Trims leading/trailing whitespace in place; returns the start. */
static char *
trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

typedef struct ini_profile {
    char *akid, *secret, *token;   /* owned */
    int line;                      /* of the [section] header */
} ini_profile;

static void
ini_reset(ini_profile *p, int line)
{
    DYN_FREE(p->akid);
    if (p->secret != NULL)
        OPENSSL_cleanse(p->secret, strlen(p->secret));
    DYN_FREE(p->secret);
    DYN_FREE(p->token);
    p->line = line;
}

/* A profile with neither key is fine (role_arn, region, ... only); half a key pair is not. */
static dyn_err
ini_flush(dyn_sigv4_creds *c, ini_profile *p, int *bad_line)
{
    if (p->akid == NULL && p->secret == NULL)
        return DYN_OK;
    if (p->akid == NULL || p->secret == NULL ||
        dyn_sigv4_creds_add(c, p->akid, p->secret, p->token) != DYN_OK) {
        *bad_line = p->line;
        return DYN_EVALIDATION;
    }
    return DYN_OK;
}

dyn_err
dyn_sigv4_creds_load_file(dyn_sigv4_creds *c, const char *path, int *line_out)
{
    FILE *f = NULL;
    char *buf = NULL;
    size_t cap = 0;
    int lineno = 0, bad_line = 0, ini = -1;   /* -1: format not known yet */
    ini_profile prof = { 0 };
    dyn_err rc = DYN_OK;

    if ((f = fopen(path, "r")) == NULL) {
        rc = dyn_err_from_errno(errno);
        goto out;
    }
    while (getline(&buf, &cap, f) >= 0) {
        char *s = trim(buf);
        lineno++;
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        if (ini < 0)
            ini = *s == '[';
        if (ini && *s == '[') {
            if ((rc = ini_flush(c, &prof, &bad_line)) != DYN_OK)
                goto out;
            ini_reset(&prof, lineno);
            if (s[strlen(s) - 1] != ']') {
                bad_line = lineno;
                rc = DYN_EVALIDATION;
                goto out;
            }
        } else if (ini) {
            char *eq = strchr(s, '=');
            if (eq == NULL) {
                bad_line = lineno;
                rc = DYN_EVALIDATION;
                goto out;
            }
            *eq = '\0';
            char *k = trim(s), *v = trim(eq + 1), **dst = NULL;
            if (strcmp(k, "aws_access_key_id") == 0)
                dst = &prof.akid;
            else if (strcmp(k, "aws_secret_access_key") == 0)
                dst = &prof.secret;
            else if (strcmp(k, "aws_session_token") == 0)
                dst = &prof.token;
            if (dst != NULL) {
                free(*dst);
                *dst = dyn_xstrdup(v);
            }
        } else {
            char *save = NULL, *f1 = strtok_r(s, " \t", &save), *f2 = strtok_r(NULL, " \t", &save);
            char *f3 = strtok_r(NULL, " \t", &save), *f4 = strtok_r(NULL, " \t", &save);
            if (f2 == NULL || f4 != NULL || dyn_sigv4_creds_add(c, f1, f2, f3) != DYN_OK) {
                bad_line = lineno;
                rc = DYN_EVALIDATION;
                goto out;
            }
        }
    }
    if (ini > 0)
        rc = ini_flush(c, &prof, &bad_line);
out:
    if (line_out != NULL)
        *line_out = bad_line;
    ini_reset(&prof, 0);
    if (buf != NULL)
        OPENSSL_cleanse(buf, cap);
    free(buf);
    if (f != NULL)
        fclose(f);
    return rc;
}

dyn_err
dyn_sigv4_creds_load(const char *path, bool use_env, dyn_sigv4_creds **out)
{
    dyn_sigv4_creds *c = dyn_sigv4_creds_new();
    dyn_err rc = DYN_OK;

    if (path != NULL && (rc = dyn_sigv4_creds_load_file(c, path, NULL)) != DYN_OK)
        goto out;
    if (use_env) {
        const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
        bool have_id = id != NULL && *id, have_secret = secret != NULL && *secret;
        if (have_id != have_secret) {
            rc = DYN_EVALIDATION;
            goto out;
        }
        if (have_id &&
            (rc = dyn_sigv4_creds_add(c, id, secret, getenv("AWS_SESSION_TOKEN"))) != DYN_OK)
            goto out;
    }
    if (c->count == 0)
        rc = DYN_ENOTFOUND;
out:
    if (rc != DYN_OK) {
        dyn_sigv4_creds_free(c);
        c = NULL;
    }
    *out = c;
    return rc;
}

static void
hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n);
}

void
sigv4_derive_key(const char *secret, const char *date8, const char *region, const char *service,
                 unsigned char out[32])
{
    size_t slen = strlen(secret);
    char *k0 = dyn_xmalloc(slen + 5);
    unsigned char k[32];

    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, slen + 1);
    hmac(k0, slen + 4, date8, k);
    hmac(k, 32, region, k);
    hmac(k, 32, service, k);
    hmac(k, 32, "aws4_request", out);
    OPENSSL_cleanse(k0, slen + 4);
    OPENSSL_cleanse(k, sizeof k);
    free(k0);
}

void
sigv4_signing_key(dyn_sigv4_creds *c, const sigv4_key *k, const char *date8, const char *region,
                  const char *service, unsigned char out[32])
{
    char id[CACHE_ID_MAX];
    size_t la = k->akid_len, ld = strlen(date8), lr = strlen(region), ls = strlen(service);
    size_t len = la + ld + lr + ls + 3;

    if (len > sizeof id) {   /* absurd scope: not worth a slot */
        atomic_fetch_add_explicit(&c->misses, 1, memory_order_relaxed);
        sigv4_derive_key(k->secret, date8, region, service, out);
        return;
    }
    memcpy(id, k->akid, la + 1);
    memcpy(id + la + 1, date8, ld + 1);
    memcpy(id + la + ld + 2, region, lr + 1);
    memcpy(id + la + ld + lr + 3, service, ls);
    uint64_t h = fnv1a(id, len);
    size_t i = h % CACHE_SLOTS;
    cache_slot *s = &c->cache[i];
    pthread_mutex_t *mu = &c->locks[i % CACHE_LOCKS];

    pthread_mutex_lock(mu);
    bool hit = s->len == len && s->hash == h && memcmp(s->id, id, len) == 0;
    if (hit)
        memcpy(out, s->key, 32);
    pthread_mutex_unlock(mu);
    if (hit) {
        atomic_fetch_add_explicit(&c->hits, 1, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&c->misses, 1, memory_order_relaxed);
    /* Derive outside the lock: two threads may both compute it, and that is fine. */
    sigv4_derive_key(k->secret, date8, region, service, out);
    pthread_mutex_lock(mu);
    s->hash = h;
    s->len = len;
    memcpy(s->id, id, len);
    memcpy(s->key, out, 32);
    pthread_mutex_unlock(mu);
}
