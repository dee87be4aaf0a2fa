/* libs/sigv4 -- verifying (and making) AWS Signature Version 4 signatures: canonical request,
 * string to sign, HMAC, and the checks DynamoDB makes before them, in DynamoDB's order and with
 * its error messages (as recorded by dynalite/kinesalite and seen from the real service). */
#include "libs/sigv4/sigv4.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "libs/sigv4/sigv4_int.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define TERMINATOR "aws4_request"
#define MAX_EXPIRES 604800   /* seconds: the longest presigned lifetime AWS allows (7 days) */

static const char MSG_NOAUTH[] = "Request is missing Authentication Token";
static const char MSG_BADKEY[] = "The security token included in the request is invalid.";
static const char MSG_BADSIG[] =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";
static const char MSG_BOTH[] =
    "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.";
static const char MSG_HOST[] = "'Host' must be a 'SignedHeader' in the AWS Authorization.";
static const char MSG_SHA[] =
    "The provided 'x-amz-content-sha256' header does not match what was computed.";

/* ---- a string builder over the request arena ---- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    dyn_arena *a;
    bool oom;   /* sticky: an allocation failed, the contents are garbage */
} sbuf;

static void
sb_put(sbuf *b, const void *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = dyn_arena_alloc(b->a, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        if (b->len)
            memcpy(p, b->p, b->len);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
sb_puts(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void
sb_putc(sbuf *b, char c)
{
    if (!b->oom && b->len + 2 <= b->cap) {   /* the common case, byte by byte while encoding */
        b->p[b->len++] = c;
        b->p[b->len] = '\0';
        return;
    }
    sb_put(b, &c, 1);
}

static char *
sb_str(sbuf *b)
{
    if (!b->oom && b->p == NULL)
        sb_put(b, "", 0);
    return b->oom ? NULL : b->p;
}

/* ---- encoding ---- */

static void
hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static void
sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    SHA256(p, n, md);
    hex(md, 32, out);
}

static bool
unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

/* AWS's UriEncode(): everything but A-Za-z0-9-_.~ (and '/' when keep_slash) as %XX, upper hex. */
static void
uri_encode(sbuf *b, const char *s, size_t n, bool keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            sb_putc(b, (char)c);
        } else {
            char e[3] = { '%', digits[c >> 4], digits[c & 15] };
            sb_put(b, e, 3);
        }
    }
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into the arena (NUL-terminated; a broken escape stays literal, '+' stays
 * '+': AWS signers encode a space as %20). */
static char *
pct_decode(dyn_arena *a, const char *s, size_t n, size_t *out_len)
{
    char *d = dyn_arena_alloc(a, n + 1);
    size_t j = 0;
    if (d == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
            (lo = hexval(s[i + 2])) >= 0) {
            d[j++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            d[j++] = s[i];
        }
    }
    d[j] = '\0';
    *out_len = j;
    return d;
}

/* ---- request pieces ---- */

static bool
name_is(const dyn_sigv4_header *h, const char *lower)
{
    size_t n = strlen(lower);
    if (h->name_len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)h->name[i]) != lower[i])
            return false;
    return true;
}

/* The first header called 'lower' (trimmed, arena copy), or NULL if absent. */
static const char *
header_get(const dyn_sigv4_request *r, const char *lower, dyn_arena *a, bool *oom)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        const dyn_sigv4_header *h = &r->headers[i];
        if (!name_is(h, lower))
            continue;
        const char *v = h->value;
        size_t n = h->value_len;
        while (n > 0 && isspace((unsigned char)*v))
            v++, n--;
        while (n > 0 && isspace((unsigned char)v[n - 1]))
            n--;
        char *s = dyn_arena_strndup(a, v, n);
        if (s == NULL)
            *oom = true;
        return s;
    }
    return NULL;
}

typedef struct qparam {
    char *key, *val;   /* decoded (arena) */
    size_t key_len, val_len;
    char *ekey, *eval; /* re-encoded the AWS way (arena) */
} qparam;

static dyn_err
query_parse(const char *q, dyn_arena *a, qparam **out, size_t *nout)
{
    size_t n = 0, cap = 0;
    qparam *v = NULL;

    *out = NULL;
    *nout = 0;
    if (q == NULL)
        return DYN_OK;
    if (*q == '?')
        q++;
    for (const char *p = q; *q; p = q) {
        while (*q && *q != '&')
            q++;
        size_t len = (size_t)(q - p);
        if (*q == '&')
            q++;
        if (len == 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            qparam *nv = dyn_arena_alloc(a, ncap * sizeof *nv);
            if (nv == NULL)
                return DYN_ENOMEM;
            if (n)
                memcpy(nv, v, n * sizeof *nv);
            v = nv;
            cap = ncap;
        }
        const char *eq = memchr(p, '=', len);
        size_t kl = eq ? (size_t)(eq - p) : len;
        qparam *qp = &v[n++];
        qp->key = pct_decode(a, p, kl, &qp->key_len);
        qp->val = eq ? pct_decode(a, eq + 1, len - kl - 1, &qp->val_len)
                     : pct_decode(a, "", 0, &qp->val_len);
        if (qp->key == NULL || qp->val == NULL)
            return DYN_ENOMEM;
        sbuf ek = { .a = a }, ev = { .a = a };
        uri_encode(&ek, qp->key, qp->key_len, false);
        uri_encode(&ev, qp->val, qp->val_len, false);
        if ((qp->ekey = sb_str(&ek)) == NULL || (qp->eval = sb_str(&ev)) == NULL)
            return DYN_ENOMEM;
    }
    *out = v;
    *nout = n;
    return DYN_OK;
}

static const char *
query_get(const qparam *q, size_t n, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < n; i++)
        if (q[i].key_len == kl && memcmp(q[i].key, key, kl) == 0)
            return q[i].val;
    return NULL;
}

static int
qparam_cmp(const void *x, const void *y)
{
    const qparam *a = x, *b = y;
    int c = strcmp(a->ekey, b->ekey);
    return c ? c : strcmp(a->eval, b->eval);
}

/* botocore's rule for non-S3 services: drop empty and "." segments, let ".." eat one, keep a
 * trailing slash that was there; then UriEncode the result once more (the path on the wire is
 * already encoded once, so "%20" signs as "%2520"). */
static void
canonical_uri(sbuf *b, const char *path, dyn_arena *a)
{
    size_t n = path ? strcspn(path, "?") : 0;
    const char **seg;
    size_t *seglen, nseg = 0;

    if (n == 0) {
        sb_putc(b, '/');
        return;
    }
    seg = dyn_arena_alloc(a, (n / 2 + 1) * sizeof *seg);
    seglen = dyn_arena_alloc(a, (n / 2 + 1) * sizeof *seglen);
    if (seg == NULL || seglen == NULL) {
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && path[j] != '/')
            j++;
        size_t len = j - i;
        if (len == 2 && path[i] == '.' && path[i + 1] == '.') {
            if (nseg > 0)
                nseg--;
        } else if (len > 0 && !(len == 1 && path[i] == '.')) {
            seg[nseg] = path + i;
            seglen[nseg++] = len;
        }
        i = j + 1;
    }
    sb_putc(b, '/');
    for (size_t i = 0; i < nseg; i++) {
        if (i > 0)
            sb_putc(b, '/');
        uri_encode(b, seg[i], seglen[i], false);
    }
    if (nseg > 0 && path[n - 1] == '/')
        sb_putc(b, '/');
}

/* Value of every header called name[0..len) (lowercase), trimmed, runs of blanks squeezed to one
 * space, joined with ',' in the order received. */
static void
canonical_header_value(sbuf *b, const dyn_sigv4_request *r, const char *name, size_t len)
{
    bool first = true;
    for (size_t i = 0; i < r->nheaders; i++) {
        const dyn_sigv4_header *h = &r->headers[i];
        if (h->name_len != len)
            continue;
        size_t k = 0;
        while (k < len && tolower((unsigned char)h->name[k]) == name[k])
            k++;
        if (k != len)
            continue;
        if (!first)
            sb_putc(b, ',');
        first = false;
        bool space = false, any = false;
        for (size_t j = 0; j < h->value_len; j++) {
            unsigned char c = (unsigned char)h->value[j];
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
                space = any;
                continue;
            }
            if (space)
                sb_putc(b, ' ');
            space = false;
            any = true;
            sb_putc(b, (char)c);
        }
    }
}

char *
dyn_sigv4_canonical_request(const dyn_sigv4_request *r, const char *signed_headers,
                            const char *payload_hash, bool presigned, dyn_arena *a)
{
    sbuf b = { .a = a };
    qparam *q;
    size_t nq;
    char body_hash[65];

    sb_puts(&b, r->method ? r->method : "");
    sb_putc(&b, '\n');
    canonical_uri(&b, r->path, a);
    sb_putc(&b, '\n');
    if (query_parse(r->query, a, &q, &nq) != DYN_OK)
        return NULL;
    if (nq > 1)
        qsort(q, nq, sizeof *q, qparam_cmp);
    bool first = true;
    for (size_t i = 0; i < nq; i++) {
        if (presigned && strcmp(q[i].ekey, "X-Amz-Signature") == 0)
            continue;
        if (!first)
            sb_putc(&b, '&');
        first = false;
        sb_puts(&b, q[i].ekey);
        sb_putc(&b, '=');
        sb_puts(&b, q[i].eval);
    }
    sb_putc(&b, '\n');
    /* SignedHeaders is taken as the client sent it (lowercased): the client says what it signed. */
    for (const char *p = signed_headers; *p;) {
        size_t len = strcspn(p, ";");
        char name[256];
        if (len > 0 && len < sizeof name) {
            for (size_t i = 0; i < len; i++)
                name[i] = (char)tolower((unsigned char)p[i]);
            sb_put(&b, name, len);
            sb_putc(&b, ':');
            canonical_header_value(&b, r, name, len);
            sb_putc(&b, '\n');
        }
        p += len;
        if (*p == ';')
            p++;
    }
    sb_putc(&b, '\n');
    for (const char *p = signed_headers; *p; p++)
        sb_putc(&b, (char)tolower((unsigned char)*p));
    sb_putc(&b, '\n');
    if (payload_hash == NULL) {
        sha256_hex(r->body ? r->body : "", r->body ? r->body_len : 0, body_hash);
        payload_hash = body_hash;
    }
    sb_puts(&b, payload_hash);
    return sb_str(&b);
}

/* ---- dates ---- */

static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool
digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* "YYYYMMDDTHHMMSSZ" -> unix seconds. */
static bool
parse_iso_basic(const char *s, int64_t *t)
{
    int y, mo, d, h, mi, se;
    if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z' || !digits(s, 4, &y) ||
        !digits(s + 4, 2, &mo) || !digits(s + 6, 2, &d) || !digits(s + 9, 2, &h) ||
        !digits(s + 11, 2, &mi) || !digits(s + 13, 2, &se))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return false;
    *t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se;
    return true;
}

/* RFC 7231 IMF-fixdate, "Sun, 30 Aug 2015 12:36:00 GMT" (the HTTP Date header). */
static bool
parse_http_date(const char *s, int64_t *t)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    int d, y, h, mi, se;
    if (strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
        s[16] != ' ' || s[19] != ':' || s[22] != ':' || strcmp(s + 25, " GMT") != 0 ||
        !digits(s + 5, 2, &d) || !digits(s + 12, 4, &y) || !digits(s + 17, 2, &h) ||
        !digits(s + 20, 2, &mi) || !digits(s + 23, 2, &se))
        return false;
    int mo = 0;
    for (int i = 0; i < 12; i++)
        if (memcmp(s + 8, months + 3 * i, 3) == 0)
            mo = i + 1;
    if (mo == 0 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return false;
    *t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se;
    return true;
}

static void
fmt_iso_basic(int64_t t, char out[17])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* ---- verification ---- */

/* What the two auth styles (header, presigned query) have in common once parsed. */
typedef struct sigv4_auth {
    const char *algorithm, *credential, *signed_headers, *signature;   /* arena */
    const char *date_str;   /* as the client wrote it: X-Amz-Date or Date */
    const char *token;      /* X-Amz-Security-Token, NULL if none */
    bool presigned;
    int64_t expires;        /* presigned only: X-Amz-Expires seconds, -1 if absent */
} sigv4_auth;

/* "Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...". Parts are
 * separated by commas and/or blanks (boto3 uses ", ", some clients only ',' or only ' '). */
static dyn_err
parse_auth_header(const char *auth, sigv4_auth *out, dyn_arena *a, const char **msg)
{
    const char *p = auth;
    size_t n = strcspn(p, " \t,");

    if ((out->algorithm = dyn_arena_strndup(a, p, n)) == NULL)
        return DYN_ENOMEM;
    for (p += n;;) {
        p += strspn(p, " \t,");
        if (*p == '\0')
            break;
        n = strcspn(p, " \t,");
        const char *eq = memchr(p, '=', n);
        if (eq == NULL) {
            *msg = dyn_arena_printf(a,
                                    "'%.*s' not a valid key=value pair (missing equal-sign) in "
                                    "Authorization header: '%s'.",
                                    (int)n, p, auth);
            return *msg ? DYN_EINCOMPLETESIG : DYN_ENOMEM;
        }
        size_t kl = (size_t)(eq - p);
        const char **dst = NULL;
        if (kl == 10 && memcmp(p, "Credential", 10) == 0)
            dst = &out->credential;
        else if (kl == 13 && memcmp(p, "SignedHeaders", 13) == 0)
            dst = &out->signed_headers;
        else if (kl == 9 && memcmp(p, "Signature", 9) == 0)
            dst = &out->signature;
        if (dst != NULL && (*dst = dyn_arena_strndup(a, eq + 1, n - kl - 1)) == NULL)
            return DYN_ENOMEM;
        p += n;
    }
    return DYN_OK;
}

static bool
valid_region(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-'))
            return false;
    return true;
}

static bool
list_has(const char *list, const char *lower)
{
    size_t n = strlen(lower);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ";");
        if (len == n && strncasecmp(p, lower, n) == 0)
            return true;
        p += len;
        if (*p == ';')
            p++;
    }
    return false;
}

static bool
ct_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && CRYPTO_memcmp(a, b, alen) == 0;
}

/* The request checks, in the order DynamoDB makes them (dynalite documents the sequence). */
dyn_err
dyn_sigv4_verify(dyn_sigv4_creds *c, const dyn_sigv4_request *r, dyn_arena *a,
                 const char **access_key, const char **msg)
{
    sigv4_auth au = { .expires = -1 };
    qparam *q = NULL;
    size_t nq = 0;
    bool oom = false;
    dyn_err rc;
    const char *auth, *amz_date, *http_date, *content_sha;
    int64_t t = 0;
    char iso[17], now_iso[17], edge_iso[17];
    const char *parts[5];
    sbuf m = { .a = a };   /* message pieces */

    *access_key = NULL;
    *msg = NULL;
    if ((rc = query_parse(r->query, a, &q, &nq)) != DYN_OK)
        goto out;
    auth = header_get(r, "authorization", a, &oom);
    amz_date = header_get(r, "x-amz-date", a, &oom);
    http_date = header_get(r, "date", a, &oom);
    content_sha = header_get(r, "x-amz-content-sha256", a, &oom);
    au.token = header_get(r, "x-amz-security-token", a, &oom);
    if (oom) {
        rc = DYN_ENOMEM;
        goto out;
    }
    au.presigned = query_get(q, nq, "X-Amz-Algorithm") != NULL;

    if (auth != NULL && au.presigned) {
        rc = DYN_EBADSIG;
        *msg = MSG_BOTH;
        goto out;
    }
    if ((auth == NULL || strncmp(auth, "AWS4-", 5) != 0) && !au.presigned) {
        rc = DYN_ENOAUTH;
        *msg = MSG_NOAUTH;
        goto out;
    }

    if (!au.presigned) {
        if ((rc = parse_auth_header(auth, &au, a, msg)) != DYN_OK)
            goto out;
        if (au.credential == NULL || *au.credential == '\0')
            sb_puts(&m, "Authorization header requires 'Credential' parameter. ");
        if (au.signature == NULL || *au.signature == '\0')
            sb_puts(&m, "Authorization header requires 'Signature' parameter. ");
        if (au.signed_headers == NULL)
            sb_puts(&m, "Authorization header requires 'SignedHeaders' parameter. ");
        au.date_str = amz_date ? amz_date : http_date;
        if (au.date_str == NULL)
            sb_puts(&m, "Authorization header requires existence of either a 'X-Amz-Date' or "
                        "a 'Date' header. ");
        if (m.len > 0) {
            sb_puts(&m, "Authorization=");
            sb_puts(&m, auth);
        }
    } else {
        static const char *const need[] = { "X-Amz-Algorithm", "X-Amz-Credential",
                                            "X-Amz-Signature", "X-Amz-SignedHeaders",
                                            "X-Amz-Date" };
        const char **dst[] = { &au.algorithm, &au.credential, &au.signature, &au.signed_headers,
                               &au.date_str };
        for (int i = 0; i < 5; i++) {
            *dst[i] = query_get(q, nq, need[i]);
            if (*dst[i] == NULL || **dst[i] == '\0') {
                sb_puts(&m, "AWS query-string parameters must include '");
                sb_puts(&m, need[i]);
                sb_puts(&m, "'. ");
            }
        }
        if (m.len > 0)
            sb_puts(&m, "Re-examine the query-string parameters.");
        const char *tok = query_get(q, nq, "X-Amz-Security-Token");
        if (tok != NULL)
            au.token = tok;
        const char *exp = query_get(q, nq, "X-Amz-Expires");
        if (exp != NULL && m.len == 0) {
            int v = 0;
            size_t el = strlen(exp);
            if (el == 0 || el > 6 || !digits(exp, (int)el, &v) || v > MAX_EXPIRES) {
                sb_puts(&m, "X-Amz-Expires must be a whole number of seconds between 0 and "
                            "604800. Re-examine the query-string parameters.");
            }
            au.expires = v;
        }
    }
    if (m.len > 0 || m.oom) {
        rc = m.oom ? DYN_ENOMEM : DYN_EINCOMPLETESIG;
        *msg = sb_str(&m);
        goto out;
    }

    /* The date: X-Amz-Date must be ISO-8601 basic; the HTTP Date header is RFC 7231. */
    bool date_ok = (au.presigned || amz_date != NULL) ? parse_iso_basic(au.date_str, &t)
                                                      : parse_http_date(au.date_str, &t) ||
                                                            parse_iso_basic(au.date_str, &t);
    if (!date_ok) {
        rc = DYN_EINCOMPLETESIG;
        *msg = dyn_arena_printf(a,
                                "Date must be in ISO-8601 'basic format'. Got '%s'. See "
                                "http://en.wikipedia.org/wiki/ISO_8601",
                                au.date_str);
        goto out;
    }
    fmt_iso_basic(t, iso);
    fmt_iso_basic(r->now, now_iso);
    if (t < r->now - DYN_SIGV4_SKEW) {
        if (!au.presigned || au.expires < 0) {
            fmt_iso_basic(r->now - DYN_SIGV4_SKEW, edge_iso);
            rc = DYN_EBADSIG;
            *msg = dyn_arena_printf(a, "Signature expired: %s is now earlier than %s (%s - 15 min.)",
                                    iso, edge_iso, now_iso);
            goto out;
        }
    }
    if (au.presigned && au.expires >= 0 && t + au.expires < r->now) {
        fmt_iso_basic(t + au.expires, edge_iso);
        rc = DYN_EBADSIG;
        *msg = dyn_arena_printf(a, "Signature expired: %s is now earlier than %s", edge_iso,
                                now_iso);
        goto out;
    }
    if (t > r->now + DYN_SIGV4_SKEW) {
        fmt_iso_basic(r->now + DYN_SIGV4_SKEW, edge_iso);
        rc = DYN_EBADSIG;
        *msg = dyn_arena_printf(a,
                                "Signature not yet current: %s is still later than %s (%s + 15 "
                                "min.)",
                                iso, edge_iso, now_iso);
        goto out;
    }

    if (!list_has(au.signed_headers, "host")) {
        rc = DYN_EBADSIG;
        *msg = MSG_HOST;
        goto out;
    }
    if (strcmp(au.algorithm, ALGORITHM) != 0) {
        rc = DYN_EINCOMPLETESIG;
        *msg = dyn_arena_printf(
            a, "Unsupported AWS 'algorithm': '%s' (only AWS4-HMAC-SHA256 for now). ", au.algorithm);
        goto out;
    }

    /* Credential: keyid/date/region/service/terminator; trailing slashes do not count. */
    char *cred = dyn_arena_strdup(a, au.credential);
    if (cred == NULL) {
        rc = DYN_ENOMEM;
        goto out;
    }
    size_t cl = strlen(cred);
    while (cl > 0 && cred[cl - 1] == '/')
        cred[--cl] = '\0';
    int np = 0;
    for (char *p = cred;; p++) {
        if (np < 5)
            parts[np] = p;
        np++;
        p = strchr(p, '/');
        if (p == NULL)
            break;
        *p = '\0';
    }
    if (np != 5) {
        rc = DYN_EINCOMPLETESIG;
        *msg = dyn_arena_printf(a,
                                "Credential must have exactly 5 slash-delimited elements, e.g. "
                                "keyid/date/region/service/term, got '%s'",
                                au.credential);
        goto out;
    }
    const char *service = r->service ? r->service : "dynamodb";
    if (r->region ? strcmp(parts[2], r->region) != 0 : !valid_region(parts[2])) {
        sb_puts(&m, "Credential should be scoped to a valid region, not '");
        sb_puts(&m, parts[2]);
        sb_puts(&m, "'. ");
    }
    if (strcmp(parts[3], service) != 0) {
        sb_puts(&m, "Credential should be scoped to correct service: '");
        sb_puts(&m, service);
        sb_puts(&m, "'. ");
    }
    if (strcmp(parts[4], TERMINATOR) != 0) {
        sb_puts(&m, "Credential should be scoped with a valid terminator: 'aws4_request', not '");
        sb_puts(&m, parts[4]);
        sb_puts(&m, "'. ");
    }
    if (strlen(parts[1]) != 8 || memcmp(parts[1], iso, 8) != 0) {
        sb_puts(&m, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                    "date from HTTP: '");
        sb_puts(&m, parts[1]);
        sb_puts(&m, "' != '");
        sb_put(&m, iso, 8);
        sb_puts(&m, "', from '");
        sb_puts(&m, au.date_str);
        sb_puts(&m, "'. ");
    }
    if (m.len > 0 || m.oom) {
        rc = m.oom ? DYN_ENOMEM : DYN_EBADSIG;
        if (!m.oom)
            m.p[--m.len] = '\0';   /* the pieces are joined by one space, none at the end */
        *msg = sb_str(&m);
        goto out;
    }

    const sigv4_key *key = sigv4_creds_find(c, parts[0], strlen(parts[0]));
    if (key == NULL) {
        rc = DYN_EUNRECOGNIZED;
        *msg = MSG_BADKEY;
        goto out;
    }

    char body_hash[65];
    sha256_hex(r->body ? r->body : "", r->body ? r->body_len : 0, body_hash);
    if (content_sha != NULL && strcasecmp(content_sha, body_hash) != 0) {
        rc = DYN_EBADSIG;
        *msg = MSG_SHA;
        goto out;
    }
    char *creq = dyn_sigv4_canonical_request(r, au.signed_headers, body_hash, au.presigned, a);
    if (creq == NULL) {
        rc = DYN_ENOMEM;
        goto out;
    }
    /* The string to sign carries the date exactly as the client signed it; for a Date header
     * that is its ISO-8601 basic form. */
    char creq_hash[65], sig_hex[65];
    unsigned char ksign[32], sig[32];
    unsigned int siglen = 32;
    sha256_hex(creq, strlen(creq), creq_hash);
    char *sts = dyn_arena_printf(a, ALGORITHM "\n%s\n%s/%s/%s/" TERMINATOR "\n%s",
                                 amz_date || au.presigned ? au.date_str : iso, parts[1], parts[2],
                                 parts[3], creq_hash);
    if (sts == NULL) {
        rc = DYN_ENOMEM;
        goto out;
    }
    sigv4_signing_key(c, key, parts[1], parts[2], parts[3], ksign);
    HMAC(EVP_sha256(), ksign, 32, (const unsigned char *)sts, strlen(sts), sig, &siglen);
    OPENSSL_cleanse(ksign, sizeof ksign);
    hex(sig, 32, sig_hex);
    if (!ct_equal(sig_hex, 64, au.signature, strlen(au.signature))) {
        rc = DYN_EBADSIG;
        *msg = MSG_BADSIG;
        goto out;
    }

    if (key->token != NULL &&
        (au.token == NULL || !ct_equal(au.token, strlen(au.token), key->token, key->token_len))) {
        rc = DYN_EUNRECOGNIZED;
        *msg = MSG_BADKEY;
        goto out;
    }
    if ((*access_key = dyn_arena_strndup(a, key->akid, key->akid_len)) == NULL) {
        rc = DYN_ENOMEM;
        goto out;
    }
    rc = DYN_OK;
out:
    if (rc == DYN_ENOMEM)
        *msg = "Internal server error: request arena exhausted";
    return rc;
}

static int
str_cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Every header name of r, lowercased, sorted, without repeats, ';'-joined. */
static char *
all_header_names(const dyn_sigv4_request *r, dyn_arena *a)
{
    char **names = dyn_arena_alloc(a, (r->nheaders + 1) * sizeof *names);
    sbuf b = { .a = a };

    if (names == NULL)
        return NULL;
    for (size_t i = 0; i < r->nheaders; i++) {
        if ((names[i] = dyn_arena_strndup(a, r->headers[i].name, r->headers[i].name_len)) == NULL)
            return NULL;
        for (char *p = names[i]; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    }
    if (r->nheaders > 1)
        qsort(names, r->nheaders, sizeof *names, str_cmp);
    for (size_t i = 0; i < r->nheaders; i++) {
        if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
            continue;
        if (b.len > 0)
            sb_putc(&b, ';');
        sb_puts(&b, names[i]);
    }
    return sb_str(&b);
}

dyn_err
dyn_sigv4_sign(const dyn_sigv4_request *r, const char *akid, const char *secret,
               const char *region, const char *service, const char *amz_date,
               const char *signed_headers, dyn_arena *a, const char **authorization)
{
    int64_t t;
    char date8[9], creq_hash[65], sig_hex[65];
    unsigned char ksign[32], sig[32];
    unsigned int siglen = 32;
    char *creq, *sts;

    *authorization = NULL;
    if (!parse_iso_basic(amz_date, &t))
        return DYN_EVALIDATION;
    if (signed_headers == NULL && (signed_headers = all_header_names(r, a)) == NULL)
        return DYN_ENOMEM;
    if ((creq = dyn_sigv4_canonical_request(r, signed_headers, NULL, false, a)) == NULL)
        return DYN_ENOMEM;
    memcpy(date8, amz_date, 8);
    date8[8] = '\0';
    sha256_hex(creq, strlen(creq), creq_hash);
    sts = dyn_arena_printf(a, ALGORITHM "\n%s\n%s/%s/%s/" TERMINATOR "\n%s", amz_date, date8,
                           region, service, creq_hash);
    if (sts == NULL)
        return DYN_ENOMEM;
    sigv4_derive_key(secret, date8, region, service, ksign);
    HMAC(EVP_sha256(), ksign, 32, (const unsigned char *)sts, strlen(sts), sig, &siglen);
    OPENSSL_cleanse(ksign, sizeof ksign);
    hex(sig, 32, sig_hex);
    *authorization = dyn_arena_printf(a,
                                      ALGORITHM " Credential=%s/%s/%s/%s/" TERMINATOR
                                                ", SignedHeaders=%s, Signature=%s",
                                      akid, date8, region, service, signed_headers, sig_hex);
    return *authorization ? DYN_OK : DYN_ENOMEM;
}
