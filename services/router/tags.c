/* services/router -- TagResource, UntagResource, ListTagsOfResource. A table's tags live in its
 * catalog entry, changed by compare-and-swap like every other table change. DynamoDB's rules:
 * at most 50 tags, keys of 1-128 and values of 0-256 characters from letters, digits, spaces and
 * _ . : / = + - @, no "aws:" key prefix, checked all-or-nothing on the whole request. */
#include <string.h>
#include <strings.h>

#include "libs/log/log.h"
#include "services/router/control.h"
#include "services/router/validate.h"

/* ---- tag text ---- */

/* The next UTF-8 code point of *s (advanced); -1 if malformed. */
static long
next_cp(const unsigned char **s)
{
    const unsigned char *p = *s;
    long c = p[0];
    int more = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2
                                                    : (c & 0xF8) == 0xF0 ? 3 : -1;

    if (more < 0)
        return -1;
    if (more > 0)
        c &= 0x3F >> more;
    for (int i = 1; i <= more; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return -1;
        c = (c << 6) | (p[i] & 0x3F);
    }
    *s = p + more + 1;
    return c;
}

/* AWS's tag pattern [\p{L}\p{Z}\p{N}_.:/=+\-@]*: exact for ASCII; beyond it every code point
 * counts as a letter, digit or space except the punctuation, symbol, private-use and emoji blocks
 * listed here (an approximation of the Unicode classes, docs/decisions.md). */
static bool
tag_cp_ok(long c)
{
    if (c < 0x80)
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == ' ' || (c != 0 && strchr("_.:/=+-@", (int)c) != NULL);
    if (c < 0xA0 || c == 0xD7 || c == 0xF7)
        return false;   /* C1 controls, multiplication and division signs */
    if (c > 0xA0 && c < 0xC0)   /* Latin-1 punctuation and symbols; its letters and numbers pass */
        return c == 0xAA || c == 0xB2 || c == 0xB3 || c == 0xB5 || c == 0xB9 || c == 0xBA ||
               (c >= 0xBC && c <= 0xBE);
    if (c >= 0x2010 && c <= 0x2BFF)   /* general punctuation to arrows and shapes */
        return (c >= 0x2070 && c <= 0x209F) || (c >= 0x2150 && c <= 0x218F) || c == 0x2028 ||
               c == 0x2029 || c == 0x202F || c == 0x205F;
    return !((c >= 0x3001 && c <= 0x303F) || (c >= 0xE000 && c <= 0xF8FF) ||
             (c >= 0xFE00 && c <= 0xFE6F) || (c >= 0xFF01 && c <= 0xFF0F) ||
             (c >= 0xFFF0 && c <= 0xFFFF) || (c >= 0x1F000 && c <= 0x1FAFF) || c >= 0xE0000);
}

/* Characters of s if it is a valid tag text of at most max characters, else -1. */
static long
tag_text_len(const char *s, long max)
{
    const unsigned char *p = (const unsigned char *)s;
    long n = 0;

    while (*p != '\0') {
        long c = next_cp(&p);
        if (c < 0 || !tag_cp_ok(c) || ++n > max)
            return -1;
    }
    return n;
}

static bool
aws_prefixed(const char *k)
{
    return strncasecmp(k, "aws:", 4) == 0;
}

/* One tag key's text check (TagResource, UntagResource, CreateTable). */
static const char *
check_key(dyn_arena *a, const char *k)
{
    if (k == NULL || tag_text_len(k, 128) < 1)
        return dyn_arena_printf(a, "The Tag Key provided is invalid, Key: %s", k ? k : "null");
    if (aws_prefixed(k))
        return dyn_arena_printf(a, "Tag Key cannot be prefixed with aws:, Key: %s", k);
    return NULL;
}

const char *
router_ctl_check_tags(dyn_arena *a, Dyne__V1__Tag *const *tags, size_t n)
{
    const char *m;

    for (size_t i = 0; i < n; i++) {
        if ((m = check_key(a, tags[i]->key)) != NULL)
            return m;
        if (tags[i]->value == NULL || tag_text_len(tags[i]->value, 256) < 0)
            return dyn_arena_printf(a, "The Tag Value provided is invalid, Value: %s",
                                    tags[i]->value ? tags[i]->value : "null");
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(tags[i]->key, tags[j]->key) == 0)
                return dyn_arena_printf(a,
                                        "Duplicate Tag Keys provided as input: Duplicate Tag Key "
                                        "found %s",
                                        tags[i]->key);
    if (n > CTL_TAGS_MAX)
        return CTL_TOO_MANY_TAGS;
    return NULL;
}

/* ---- resource ARNs ---- */

/* The table named by a tag request's ResourceArn (copied into the call's arena), or DynamoDB's
 * error for the ARN recorded on the call. Only table ARNs carry tags; a stream ARN is "not
 * found", other DynamoDB resources are refused. */
static dyn_err
arn_table(dyn_rpc_call *call, const router_opts *o, const char *arn, const char **table)
{
    dyn_arena *a = dyn_rpc_call_arena(call);
    const char *f[6], *p = arn, *name, *slash;
    size_t nf = 0;

    if (strncmp(arn, "arn:", 4) != 0)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                 CTL_INVALID "ARNs must start with 'arn:': %s", arn);
    /* arn:partition:service:region:account:resource */
    for (f[nf++] = p; nf < 6 && (p = strchr(p, ':')) != NULL; f[nf++] = ++p)
        ;
    if (nf < 6 || strncmp(f[2], "dynamodb:", 9) != 0)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                 CTL_INVALID "Provided Arn is not a DynamoDB resource arn: %s",
                                 arn);
    if (strncmp(f[1], "aws:", 4) != 0 || strncmp(f[3], o->region, strlen(o->region)) != 0 ||
        f[3][strlen(o->region)] != ':')
        return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                 "Invalid TableArn: Invalid ResourceArn provided as input %s", arn);
    if (strncmp(f[4], o->account, strlen(o->account)) != 0 || f[4][strlen(o->account)] != ':')
        return dyn_rpc_call_fail(call, DYN_EACCESS, "Access is denied");
    if (strncmp(f[5], "table/", 6) != 0)
        goto not_table;
    name = f[5] + 6;
    slash = strchr(name, '/');
    if (slash != NULL && strncmp(slash, "/stream/", 8) != 0)
        goto not_table;   /* an index, backup, export or import ARN */
    *table = slash != NULL ? dyn_arena_strndup(a, name, (size_t)(slash - name))
                           : dyn_arena_strdup(a, name);
    if (slash != NULL || !vc_name_chars_ok(*table))
        return dyn_rpc_call_fail(call, DYN_ENOTABLE,
                                 "Requested resource not found: ResourceArn: %s not found", arn);
    return DYN_OK;
not_table:
    return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                             CTL_INVALID "Invalid resource arn provided, only table or stream is "
                                         "accepted. Provided resource arn: %s",
                             arn);
}

/* The table's entry for a tag operation: missing or still CREATING is "ResourceArn not found"
 * (the tagging side learns of a table when it turns ACTIVE); DELETING refuses changes. */
static dyn_err
tag_load(router *r, dyn_rpc_call *call, const char *arn, const char *table, bool change,
         Dyne__Internal__TableMeta **m, int64_t *rev)
{
    dyn_arena *a = dyn_rpc_call_arena(call);
    dyn_err rc = meta_load(r, a, table, m, rev);

    if (rc == DYN_ENOTFOUND ||
        (rc == DYN_OK && ((*m)->status == NULL || strcmp((*m)->status, "CREATING") == 0 ||
                          (!change && strcmp((*m)->status, "DELETING") == 0))))
        return dyn_rpc_call_fail(call, DYN_ENOTABLE,
                                 "Requested resource not found: ResourceArn: %s not found", arn);
    if (rc == DYN_OK && change && strcmp((*m)->status, "DELETING") == 0)
        return dyn_rpc_call_fail(call, DYN_EINUSE, "%s", router_ctl_in_use(a, *m));
    return rc;
}

static bool
same_tag(const Dyne__V1__Tag *t, const char *key, const char *value)
{
    return strcmp(t->key, key) == 0 && (value == NULL || strcmp(t->value, value) == 0);
}

/* ---- TagResource, UntagResource ---- */

/* Applies the request to m's tags (arena a): TagResource upserts, UntagResource removes;
 * *changed false when nothing would change. */
static dyn_err
apply_tags(dyn_arena *a, Dyne__Internal__TableMeta *m, const ProtobufCMessage *req, bool untag,
           bool *changed)
{
    *changed = false;
    if (untag) {
        const Dyne__V1__UntagResourceInput *in = (const void *)req;
        size_t k = 0;
        for (size_t i = 0; i < m->n_tags; i++) {
            bool drop = false;
            for (size_t j = 0; j < in->n_tagkeys && !drop; j++)
                drop = same_tag(m->tags[i], in->tagkeys[j], NULL);
            if (!drop)
                m->tags[k++] = m->tags[i];
        }
        *changed = k != m->n_tags;
        m->n_tags = k;
        return DYN_OK;
    }
    const Dyne__V1__TagResourceInput *in = (const void *)req;
    for (size_t j = 0; j < in->n_tags; j++) {
        size_t i = 0;
        while (i < m->n_tags && strcmp(m->tags[i]->key, in->tags[j]->key) != 0)
            i++;
        if (i < m->n_tags) {
            *changed |= !same_tag(m->tags[i], in->tags[j]->key, in->tags[j]->value);
            m->tags[i] = in->tags[j];
            continue;
        }
        Dyne__V1__Tag **t = router_ctl_grow(a, m->tags, m->n_tags, sizeof *t);
        if (t == NULL)
            return DYN_ENOMEM;
        t[m->n_tags++] = in->tags[j];
        m->tags = t;
        *changed = true;
    }
    return DYN_OK;
}

static void
tag_job(router *r, dyn_rpc_call *call, const ProtobufCMessage *req, bool untag)
{
    dyn_arena *a = dyn_rpc_call_arena(call);
    const char *arn = untag ? ((const Dyne__V1__UntagResourceInput *)req)->resourcearn
                            : ((const Dyne__V1__TagResourceInput *)req)->resourcearn;
    const char *table = NULL;
    ProtobufCMessage *out = NULL;
    Dyne__Internal__TableMeta *m;
    int64_t rev;
    dyn_err rc;

    if ((rc = arn_table(call, router_options(r), arn, &table)) != DYN_OK)
        goto out;
    for (int attempt = 0; attempt < CTL_CAS_TRIES; attempt++) {
        bool changed;
        if ((rc = tag_load(r, call, arn, table, true, &m, &rev)) != DYN_OK ||
            (rc = apply_tags(a, m, req, untag, &changed)) != DYN_OK)
            goto out;
        if (!changed)
            break;   /* the tags already read so: nothing to write */
        if (m->n_tags > CTL_TAGS_MAX) {
            rc = dyn_rpc_call_fail(call, DYN_EVALIDATION, CTL_TOO_MANY_TAGS);
            goto out;
        }
        if ((rc = meta_swap(r, a, m, rev)) != DYN_ECONDFAIL)
            break;
    }
    if (rc == DYN_ECONDFAIL)
        rc = dyn_rpc_call_fail(call, DYN_ELIMIT,
                               "Subscriber limit exceeded: Table tags are being updated: %s",
                               table);
    if (rc != DYN_OK)
        goto out;
    dyn_log(DYN_LOG_INFO, "ROUTER-TABLE-TAGS", "table=%s op=%s tags=%zu", table,
            untag ? "untag" : "tag", m->n_tags);
    if (untag) {
        Dyne__V1__UntagResourceOutput *o = dyn_arena_alloc(a, sizeof *o);
        if (o != NULL) {
            dyne__v1__untag_resource_output__init(o);
            out = &o->base;
        }
    } else {
        Dyne__V1__TagResourceOutput *o = dyn_arena_alloc(a, sizeof *o);
        if (o != NULL) {
            dyne__v1__tag_resource_output__init(o);
            out = &o->base;
        }
    }
    if (out == NULL)
        rc = DYN_ENOMEM;
out:
    dyn_rpc_call_finish(call, rc, rc == DYN_OK ? out : NULL, NULL);
}

static void
tag_resource_job(router *r, dyn_rpc_call *call, const ProtobufCMessage *req)
{
    tag_job(r, call, req, false);
}

static void
untag_resource_job(router *r, dyn_rpc_call *call, const ProtobufCMessage *req)
{
    tag_job(r, call, req, true);
}

/* The ResourceArn member's own constraints, before anything else. */
static dyn_err
check_arn_present(dyn_rpc_call *call, const char *arn)
{
    vc v;
    const char *msg;

    vc_init(&v, dyn_rpc_call_arena(call));
    vc_not_null(&v, "resourceArn", arn != NULL);
    vc_str_len(&v, "resourceArn", arn, 1, 1283);
    if ((msg = vc_message(&v)) != NULL)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "%s", msg);
    return DYN_OK;
}

/* TagResource's and UntagResource's checks on the request alone, then the change. */
static dyn_err
tag_request(dyn_rpc_call *call, const ProtobufCMessage *m, void *ctx, bool untag)
{
    const Dyne__V1__TagResourceInput *tag = (const void *)m;
    const Dyne__V1__UntagResourceInput *untag_in = (const void *)m;
    const char *arn = untag ? untag_in->resourcearn : tag->resourcearn;
    dyn_arena *a = dyn_rpc_call_arena(call);
    const char *msg = NULL;
    dyn_err rc;

    if ((rc = check_arn_present(call, arn)) != DYN_OK)
        return rc;
    /* Tags=[] and an absent Tags read the same in protobuf: both are DynamoDB's empty list */
    if (!untag && tag->n_tags == 0)
        msg = "Atleast one Tag needs to be provided as Input.";
    else if (!untag)
        msg = router_ctl_check_tags(a, tag->tags, tag->n_tags);
    else if (untag_in->n_tagkeys == 0)
        msg = "Atleast one Tag Key needs to be provided as Input.";
    for (size_t i = 0; untag && msg == NULL && i < untag_in->n_tagkeys; i++)
        msg = check_key(a, untag_in->tagkeys[i]);
    if (untag && msg == NULL && untag_in->n_tagkeys > CTL_TAGS_MAX)
        msg = CTL_TOO_MANY_TAGS;
    if (msg != NULL)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "%s", msg);
    return router_admin_submit(ctx, call, m, untag ? untag_resource_job : tag_resource_job);
}

dyn_err
router_tag_resource(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp,
                    void *ctx)
{
    (void)resp;
    return tag_request(call, m, ctx, false);
}

dyn_err
router_untag_resource(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp,
                      void *ctx)
{
    (void)resp;
    return tag_request(call, m, ctx, true);
}

/* ---- ListTagsOfResource ---- */

static void
list_tags_job(router *r, dyn_rpc_call *call, const ProtobufCMessage *req)
{
    const Dyne__V1__ListTagsOfResourceInput *in = (const void *)req;
    dyn_arena *a = dyn_rpc_call_arena(call);
    Dyne__V1__ListTagsOfResourceOutput *out = NULL;
    Dyne__Internal__TableMeta *m;
    const char *table = NULL;
    int64_t rev;
    dyn_err rc;

    if ((rc = arn_table(call, router_options(r), in->resourcearn, &table)) == DYN_OK)
        rc = tag_load(r, call, in->resourcearn, table, false, &m, &rev);
    if (rc == DYN_OK && (out = dyn_arena_alloc(a, sizeof *out)) == NULL)
        rc = DYN_ENOMEM;
    if (rc == DYN_OK) {
        /* at most 50 tags: one page, no NextToken (DynamoDB ignores the one it is given) */
        dyne__v1__list_tags_of_resource_output__init(out);
        out->n_tags = m->n_tags;
        out->tags = m->tags;
    }
    dyn_rpc_call_finish(call, rc, rc == DYN_OK ? &out->base : NULL, NULL);
}

dyn_err
router_list_tags_of_resource(dyn_rpc_call *call, const ProtobufCMessage *m,
                             ProtobufCMessage **resp, void *ctx)
{
    const Dyne__V1__ListTagsOfResourceInput *in = (const void *)m;
    dyn_err rc;

    (void)resp;
    if ((rc = check_arn_present(call, in->resourcearn)) != DYN_OK)
        return rc;
    return router_admin_submit(ctx, call, m, list_tags_job);
}
