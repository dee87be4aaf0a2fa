/* services/router -- CreateTable, DescribeTable, ListTables, DeleteTable. Validation runs on the
 * worker thread with DynamoDB's messages; the etcd and storage work runs on the admin thread.
 * Lifecycle as in DynamoDB: CreateTable records the table CREATING and answers; DeleteTable
 * records DELETING and answers. The controller service drives both from there (partitions
 * planned, placed and created, then ACTIVE; partitions dropped, then the entry deleted). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libs/log/log.h"
#include "proto/dyne/internal/storage.pb-c.h"
#include "services/router/control.h"
#include "services/router/validate.h"

#define LSI_MAX 5
#define WARM_DOC                                                                                 \
    "See: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"                     \
    "on-demand-capacity-mode.html#on-demand-capacity-mode-initial"

static void
random_hex(char *out, size_t nbytes)
{
    unsigned char b[32];
    int fd = open("/dev/urandom", O_RDONLY);
    ssize_t got = fd >= 0 ? read(fd, b, nbytes) : -1;

    if (fd >= 0)
        close(fd);
    if (got != (ssize_t)nbytes) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        for (size_t i = 0; i < nbytes; i++)
            b[i] = (unsigned char)((ts.tv_nsec >> (i % 4) * 8) ^ (i * 131) ^ getpid());
    }
    for (size_t i = 0; i < nbytes; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static const char *
table_key(dyn_arena *a, const char *name)
{
    return dyn_arena_printf(a, CTL_TABLES_PREFIX "%s", name);
}

/* ---- validation of CreateTable (dynalite's AWS-verified order and wording, then the newer
 * members' rules as observed against DynamoDB) ---- */

static const char *const attr_type_enum[] = { "B", "N", "S", NULL };

static bool
is_ppr(const char *billing_mode)
{
    return billing_mode != NULL && strcmp(billing_mode, "PAY_PER_REQUEST") == 0;
}

/* Appends the names of ks not yet in *used (arena arrays). */
static void
use_keys(dyn_arena *a, const char ***used, size_t *n, Dyne__V1__KeySchemaElement **ks, size_t nks)
{
    for (size_t i = 0; i < nks; i++) {
        size_t j = 0;
        while (j < *n && strcmp((*used)[j], ks[i]->attributename) != 0)
            j++;
        const char **u = j < *n ? NULL : router_ctl_grow(a, *used, *n, sizeof *u);
        if (u != NULL) {
            u[(*n)++] = ks[i]->attributename;
            *used = u;
        }
    }
}

/* With indexes, AttributeDefinitions must hold exactly the key attributes of the table and its
 * indexes (DynamoDB checks this before any index rule). */
static const char *
check_defs_used(dyn_arena *a, const Dyne__V1__CreateTableInput *in)
{
    const char **used = NULL;
    size_t n = 0;

    use_keys(a, &used, &n, in->keyschema, in->n_keyschema);
    for (size_t i = 0; i < in->n_localsecondaryindexes; i++)
        use_keys(a, &used, &n, in->localsecondaryindexes[i]->keyschema,
                 in->localsecondaryindexes[i]->n_keyschema);
    for (size_t i = 0; i < in->n_globalsecondaryindexes; i++)
        use_keys(a, &used, &n, in->globalsecondaryindexes[i]->keyschema,
                 in->globalsecondaryindexes[i]->n_keyschema);
    for (size_t i = 0; i < in->n_attributedefinitions; i++) {
        size_t j = 0;
        while (j < n && strcmp(used[j], in->attributedefinitions[i]->attributename) != 0)
            j++;
        if (j < n)
            continue;
        const char *keys = "";
        for (size_t k = 0; k < n; k++)
            keys = dyn_arena_printf(a, "%s%s%s", keys, k ? ", " : "", used[k]);
        return dyn_arena_printf(a,
                                CTL_INVALID "Some AttributeDefinitions are not used. "
                                            "AttributeDefinitions: [%s], keys used: [%s]",
                                router_ctl_defs_list(a, in->attributedefinitions,
                                                     in->n_attributedefinitions),
                                keys);
    }
    return NULL;
}

static const char *
dup_index(dyn_arena *a, const char *name)
{
    return dyn_arena_printf(a, CTL_INVALID "Duplicate index name: %s", name);
}

static const char *
check_lsis(dyn_arena *a, const Dyne__V1__CreateTableInput *in)
{
    Dyne__V1__AttributeDefinition **defs = in->attributedefinitions;
    size_t ndefs = in->n_attributedefinitions;
    const char *m;

    for (size_t i = 0; i < in->n_localsecondaryindexes; i++) {
        const Dyne__V1__LocalSecondaryIndex *x = in->localsecondaryindexes[i];
        if (in->n_keyschema != 2)
            return CTL_INVALID "Table KeySchema does not have a range key, which is required when "
                               "specifying a LocalSecondaryIndex";
        if ((m = router_ctl_check_keys(a, defs, ndefs, x->keyschema, x->n_keyschema)) != NULL)
            return m;
        if (x->n_keyschema != 2)
            return dyn_arena_printf(a,
                                    CTL_INVALID "Index KeySchema does not have a range key for "
                                                "index: %s",
                                    x->indexname);
        if (strcmp(x->keyschema[0]->attributename, in->keyschema[0]->attributename) != 0)
            return dyn_arena_printf(
                a,
                CTL_INVALID "Index KeySchema does not have the same leading hash key as table "
                            "KeySchema for index: %s. index hash key: %s, table hash key: %s",
                x->indexname, x->keyschema[0]->attributename, in->keyschema[0]->attributename);
        if ((m = router_ctl_check_projection(a, x->projection)) != NULL)
            return m;
        for (size_t j = 0; j < i; j++)
            if (strcmp(in->localsecondaryindexes[j]->indexname, x->indexname) == 0)
                return dup_index(a, x->indexname);
    }
    if (in->n_localsecondaryindexes > LSI_MAX)
        return CTL_INVALID "Number of LocalSecondaryIndexes exceeds per-table limit of 5";
    return NULL;
}

static const char *
check_gsis(dyn_arena *a, const Dyne__V1__CreateTableInput *in)
{
    bool ppr = is_ppr(in->billingmode);
    const char *m;

    for (size_t i = 0; i < in->n_globalsecondaryindexes; i++) {
        const Dyne__V1__GlobalSecondaryIndex *x = in->globalsecondaryindexes[i];
        if ((m = router_ctl_check_keys(a, in->attributedefinitions, in->n_attributedefinitions,
                                       x->keyschema, x->n_keyschema)) != NULL ||
            (m = router_ctl_check_projection(a, x->projection)) != NULL)
            return m;
        if (ppr && x->provisionedthroughput != NULL)
            return dyn_arena_printf(a,
                                    CTL_INVALID "ProvisionedThroughput should not be specified "
                                                "for index: %s when BillingMode is "
                                                "PAY_PER_REQUEST",
                                    x->indexname);
        if (!ppr && x->provisionedthroughput == NULL)
            return dyn_arena_printf(a, CTL_INVALID "ProvisionedThroughput is not specified for "
                                                   "index: %s",
                                    x->indexname);
        for (size_t j = 0; j < in->n_localsecondaryindexes; j++)
            if (strcmp(in->localsecondaryindexes[j]->indexname, x->indexname) == 0)
                return dup_index(a, x->indexname);
        for (size_t j = 0; j < i; j++)
            if (strcmp(in->globalsecondaryindexes[j]->indexname, x->indexname) == 0)
                return dup_index(a, x->indexname);
    }
    if (in->n_globalsecondaryindexes > CTL_GSI_MAX)
        return CTL_INVALID "GlobalSecondaryIndex count exceeds the per-table limit of 20";
    return NULL;
}

/* The members newer than dynalite: streams, table class, encryption, on-demand and warm
 * throughput, tags. */
static const char *
check_features(dyn_arena *a, const Dyne__V1__CreateTableInput *in)
{
    const Dyne__V1__StreamSpecification *ss = in->streamspecification;
    const Dyne__V1__OnDemandThroughput *odt = in->ondemandthroughput;
    const Dyne__V1__WarmThroughput *warm = in->warmthroughput;
    bool ppr = is_ppr(in->billingmode);
    const char *m;

    if (ss != NULL && ss->streamenabled && ss->streamviewtype == NULL)
        return CTL_INVALID "Table is being created with a stream enabled, UpdateViewType is "
                           "required";
    if (ss != NULL && !ss->streamenabled && ss->streamviewtype != NULL)
        return CTL_INVALID "Table is being created with a stream disabled, UpdateViewType should "
                           "not be specified";
    if (!router_ctl_table_class_ok(in->tableclass))
        return CTL_BAD_TABLE_CLASS;
    if ((m = router_ctl_check_sse(in->ssespecification)) != NULL)
        return m;
    if (!ppr && odt != NULL && (odt->has_maxreadrequestunits || odt->has_maxwriterequestunits))
        return dyn_arena_printf(a,
                                CTL_INVALID "%s for OnDemandThroughput cannot be specified when "
                                            "table BillingMode is PROVISIONED.",
                                odt->has_maxreadrequestunits ? "MaxReadRequestUnits"
                                                             : "MaxWriteRequestUnits");
    for (int i = 0; warm != NULL && i < 2; i++) {
        bool has = i == 0 ? warm->has_readunitspersecond : warm->has_writeunitspersecond;
        int64_t v = i == 0 ? warm->readunitspersecond : warm->writeunitspersecond;
        const Dyne__V1__ProvisionedThroughput *pt = in->provisionedthroughput;
        int64_t floor = ppr ? (i == 0 ? CTL_PPR_WARM_READ : CTL_PPR_WARM_WRITE)
                        : pt == NULL ? 0
                        : i == 0     ? pt->readcapacityunits
                                     : pt->writecapacityunits;
        const char *what = i == 0 ? "ReadUnitsPerSecond" : "WriteUnitsPerSecond";
        if (has && v < floor)
            return ppr ? dyn_arena_printf(a,
                                          CTL_INVALID "Requested %s for WarmThroughput for table "
                                                      "is lower than initial throughput for "
                                                      "OnDemand. " WARM_DOC,
                                          what)
                       : dyn_arena_printf(a,
                                          CTL_INVALID "Requested %s for WarmThroughput for table "
                                                      "is lower than %s of ProvisionedThroughput",
                                          what, i == 0 ? "ReadCapacityUnits"
                                                       : "WriteCapacityUnits");
    }
    return router_ctl_check_tags(a, in->tags, in->n_tags);
}

static const char *
create_table_custom(dyn_arena *a, const Dyne__V1__CreateTableInput *in)
{
    Dyne__V1__AttributeDefinition **defs = in->attributedefinitions;
    size_t ndefs = in->n_attributedefinitions;
    const char *m;

    if (is_ppr(in->billingmode)) {
        if (in->provisionedthroughput != NULL)
            return CTL_INVALID "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified "
                               "when BillingMode is PAY_PER_REQUEST";
    } else {
        const Dyne__V1__ProvisionedThroughput *pt = in->provisionedthroughput;
        if (pt == NULL || !pt->has_readcapacityunits || !pt->has_writecapacityunits)
            return CTL_INVALID "ReadCapacityUnits and WriteCapacityUnits must both be specified "
                               "when BillingMode is PROVISIONED";
        if ((m = router_ctl_check_bounds(a, pt)) != NULL)
            return m;
    }
    if (in->n_keyschema > ndefs)
        return "Invalid KeySchema: Some index key attribute have no definition";
    if ((m = router_ctl_check_keys(a, defs, ndefs, in->keyschema, in->n_keyschema)) != NULL)
        return m;
    for (size_t i = 0; i < ndefs; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(defs[i]->attributename, defs[j]->attributename) == 0)
                return dyn_arena_printf(a, "Attribute Name is duplicated: %s",
                                        defs[i]->attributename);
    if (in->n_localsecondaryindexes == 0 && in->n_globalsecondaryindexes == 0 &&
        in->n_keyschema != ndefs)
        return CTL_INVALID "Number of attributes in KeySchema does not exactly match number of "
                           "attributes defined in AttributeDefinitions";
    if ((in->n_localsecondaryindexes > 0 || in->n_globalsecondaryindexes > 0) &&
        (m = check_defs_used(a, in)) != NULL)
        return m;
    if ((m = check_lsis(a, in)) != NULL || (m = check_gsis(a, in)) != NULL)
        return m;
    return check_features(a, in);
}

/* The whole request check; NULL if valid, else the ValidationException message. */
static const char *
create_table_check(dyn_arena *a, const Dyne__V1__CreateTableInput *in)
{
    vc v;

    if (in->tablename == NULL)
        return "The paramater 'tableName' is required but was not present in the request";
    if (strlen(in->tablename) < 3 || strlen(in->tablename) > 255)
        return "TableName must be at least 3 characters long and at most 255 characters long";
    vc_init(&v, a);
    vc_not_null(&v, "attributeDefinitions", in->n_attributedefinitions > 0);
    for (size_t i = 0; i < in->n_attributedefinitions; i++) {
        const Dyne__V1__AttributeDefinition *d = in->attributedefinitions[i];
        vc_not_null(&v, dyn_arena_printf(a, "attributeDefinitions.%zu.member.attributeName", i + 1),
                    d->attributename != NULL);
        const char *p = dyn_arena_printf(a, "attributeDefinitions.%zu.member.attributeType", i + 1);
        vc_not_null(&v, p, d->attributetype != NULL);
        vc_enum(&v, p, d->attributetype, attr_type_enum);
    }
    if (!vc_name_chars_ok(in->tablename))
        vc_table_name(&v, "tableName", in->tablename);
    vc_enum(&v, "billingMode", in->billingmode, router_ctl_billing_enum);
    router_ctl_vc_throughput(&v, a, "provisionedThroughput", in->provisionedthroughput);
    router_ctl_vc_key_schema(&v, a, "keySchema", in->keyschema, in->n_keyschema, true);
    for (size_t i = 0; i < in->n_localsecondaryindexes; i++) {
        const Dyne__V1__LocalSecondaryIndex *x = in->localsecondaryindexes[i];
        router_ctl_vc_index(&v, a, dyn_arena_printf(a, "localSecondaryIndexes.%zu.member", i + 1),
                        x->indexname, x->keyschema, x->n_keyschema, x->projection);
    }
    for (size_t i = 0; i < in->n_globalsecondaryindexes; i++) {
        const Dyne__V1__GlobalSecondaryIndex *x = in->globalsecondaryindexes[i];
        const char *p = dyn_arena_printf(a, "globalSecondaryIndexes.%zu.member", i + 1);
        router_ctl_vc_index(&v, a, p, x->indexname, x->keyschema, x->n_keyschema, x->projection);
        router_ctl_vc_throughput(&v, a, dyn_arena_printf(a, "%s.provisionedThroughput", p),
                                 x->provisionedthroughput);
    }
    if (in->streamspecification != NULL) {
        vc_not_null(&v, "streamSpecification.streamEnabled",
                    in->streamspecification->has_streamenabled);
        vc_enum(&v, "streamSpecification.streamViewType", in->streamspecification->streamviewtype,
                router_ctl_view_enum);
    }
    if (in->ssespecification != NULL) {
        vc_enum(&v, "sSESpecification.sSEType", in->ssespecification->ssetype,
                router_ctl_sse_type_enum);
        vc_str_len(&v, "sSESpecification.kMSMasterKeyId", in->ssespecification->kmsmasterkeyid,
                   1, 2048);
    }
    const char *m = vc_message(&v);
    if (m != NULL)
        return m;
    /* some key-schema elements may still be NULL-named only if the pass above failed */
    return create_table_custom(a, in);
}

/* ---- descriptions ---- */

static Dyne__V1__TableWarmThroughputDescription *
warm_desc(dyn_arena *a, int64_t r, int64_t w, const Dyne__V1__WarmThroughput *want)
{
    Dyne__V1__TableWarmThroughputDescription *d = dyn_arena_zalloc(a, sizeof *d);

    if (d == NULL)
        return NULL;
    dyne__v1__table_warm_throughput_description__init(d);
    d->has_readunitspersecond = d->has_writeunitspersecond = true;
    d->readunitspersecond = want != NULL && want->has_readunitspersecond &&
                                    want->readunitspersecond > r
                                ? want->readunitspersecond
                                : r;
    d->writeunitspersecond = want != NULL && want->has_writeunitspersecond &&
                                     want->writeunitspersecond > w
                                 ? want->writeunitspersecond
                                 : w;
    d->status = "ACTIVE";
    return d;
}

static Dyne__V1__TableDescription *
description_build(dyn_arena *a, const router_opts *o, const Dyne__V1__CreateTableInput *in,
                  const char *table_id, double created)
{
    Dyne__V1__TableDescription *d = dyn_arena_zalloc(a, sizeof *d);
    bool ppr = is_ppr(in->billingmode);
    int64_t rcu = 0, wcu = 0;
    const char *arn;

    if (d == NULL)
        return NULL;
    dyne__v1__table_description__init(d);
    arn = router_ctl_table_arn(a, o, in->tablename);
    d->n_attributedefinitions = in->n_attributedefinitions;
    d->attributedefinitions = in->attributedefinitions;
    d->tablename = in->tablename;
    d->n_keyschema = in->n_keyschema;
    d->keyschema = in->keyschema;
    d->tablestatus = "CREATING";
    d->has_creationdatetime = true;
    d->creationdatetime = created;
    d->tablearn = (char *)arn;
    d->tableid = (char *)table_id;
    d->has_tablesizebytes = d->has_itemcount = true;
    d->deletionprotectionenabled =
        in->has_deletionprotectionenabled && in->deletionprotectionenabled;
    d->has_deletionprotectionenabled = true;

    if (!ppr) {
        rcu = in->provisionedthroughput->readcapacityunits;
        wcu = in->provisionedthroughput->writecapacityunits;
    }
    d->provisionedthroughput = router_ctl_pt_desc(a, rcu, wcu);
    if (ppr) {
        Dyne__V1__BillingModeSummary *bm = dyn_arena_zalloc(a, sizeof *bm);
        if (bm == NULL)
            return NULL;
        dyne__v1__billing_mode_summary__init(bm);
        bm->billingmode = "PAY_PER_REQUEST";
        bm->has_lastupdatetopayperrequestdatetime = true;
        bm->lastupdatetopayperrequestdatetime = created;
        d->billingmodesummary = bm;
        if (in->ondemandthroughput != NULL && (in->ondemandthroughput->has_maxreadrequestunits ||
                                               in->ondemandthroughput->has_maxwriterequestunits))
            d->ondemandthroughput = in->ondemandthroughput;
    }
    d->warmthroughput = warm_desc(a, ppr ? CTL_PPR_WARM_READ : rcu, ppr ? CTL_PPR_WARM_WRITE : wcu,
                                  in->warmthroughput);
    if (in->n_localsecondaryindexes > 0) {
        d->n_localsecondaryindexes = in->n_localsecondaryindexes;
        d->localsecondaryindexes =
            dyn_arena_alloc(a, sizeof *d->localsecondaryindexes * in->n_localsecondaryindexes);
        for (size_t i = 0; i < in->n_localsecondaryindexes; i++) {
            const Dyne__V1__LocalSecondaryIndex *x = in->localsecondaryindexes[i];
            Dyne__V1__LocalSecondaryIndexDescription *ld = dyn_arena_zalloc(a, sizeof *ld);
            if (ld == NULL || d->localsecondaryindexes == NULL)
                return NULL;
            dyne__v1__local_secondary_index_description__init(ld);
            ld->indexname = x->indexname;
            ld->n_keyschema = x->n_keyschema;
            ld->keyschema = x->keyschema;
            ld->projection = x->projection;
            ld->has_indexsizebytes = ld->has_itemcount = true;
            ld->indexarn = dyn_arena_printf(a, "%s/index/%s", arn, x->indexname);
            d->localsecondaryindexes[i] = ld;
        }
    }
    if (in->n_globalsecondaryindexes > 0) {
        d->n_globalsecondaryindexes = in->n_globalsecondaryindexes;
        d->globalsecondaryindexes =
            dyn_arena_alloc(a, sizeof *d->globalsecondaryindexes * in->n_globalsecondaryindexes);
        for (size_t i = 0; i < in->n_globalsecondaryindexes; i++) {
            const Dyne__V1__GlobalSecondaryIndex *x = in->globalsecondaryindexes[i];
            if (d->globalsecondaryindexes == NULL ||
                (d->globalsecondaryindexes[i] = router_ctl_gsi_desc(
                     a, arn, x->indexname, x->keyschema, x->n_keyschema, x->projection,
                     x->provisionedthroughput, x->ondemandthroughput, x->warmthroughput, ppr)) ==
                    NULL)
                return NULL;
        }
    }
    if (in->streamspecification != NULL && in->streamspecification->streamenabled)
        router_ctl_stream_on(a, d, in->streamspecification, created);
    d->ssedescription = router_ctl_sse_desc(a, o, in->ssespecification);
    if (in->tableclass != NULL) {
        Dyne__V1__TableClassSummary *tc = dyn_arena_zalloc(a, sizeof *tc);
        if (tc == NULL)
            return NULL;
        dyne__v1__table_class_summary__init(tc);
        tc->tableclass = in->tableclass;
        d->tableclasssummary = tc;
    }
    return d->provisionedthroughput != NULL && d->warmthroughput != NULL ? d : NULL;
}

/* CreateTable's answer shows less than the stored description, as DynamoDB's does: no
 * LastUpdateToPayPerRequestDateTime yet, and WarmThroughput only when asked for (then still
 * being applied). */
static Dyne__V1__TableDescription *
create_answer(dyn_arena *a, const Dyne__V1__TableDescription *stored,
              const Dyne__V1__CreateTableInput *in)
{
    Dyne__V1__TableDescription *d = dyn_arena_memdup(a, stored, sizeof *stored);
    Dyne__V1__BillingModeSummary *bm;

    if (d == NULL)
        return NULL;
    if (d->billingmodesummary != NULL &&
        (bm = dyn_arena_memdup(a, d->billingmodesummary, sizeof *bm)) != NULL) {
        bm->has_lastupdatetopayperrequestdatetime = false;
        d->billingmodesummary = bm;
    }
    if (in->warmthroughput == NULL)
        d->warmthroughput = NULL;
    else if ((d->warmthroughput = dyn_arena_memdup(a, stored->warmthroughput,
                                                   sizeof *stored->warmthroughput)) != NULL)
        d->warmthroughput->status = "UPDATING";
    return d;
}

static dyn_err
meta_pack(dyn_arena *a, const Dyne__Internal__TableMeta *m, void **buf, size_t *len)
{
    *len = dyne__internal__table_meta__get_packed_size(m);
    if ((*buf = dyn_arena_alloc(a, *len ? *len : 1)) == NULL)
        return DYN_ENOMEM;
    dyne__internal__table_meta__pack(m, *buf);
    return DYN_OK;
}

static void
finish_description(dyn_rpc_call *call, dyn_err rc, Dyne__V1__TableDescription *d, int kind)
{
    dyn_arena *a = dyn_rpc_call_arena(call);
    ProtobufCMessage *out = NULL;

    if (rc == DYN_OK && d == NULL)
        rc = DYN_ENOMEM;
    if (rc == DYN_OK) {
        if (kind == 0) {
            Dyne__V1__CreateTableOutput *o = dyn_arena_alloc(a, sizeof *o);
            if (o != NULL) {
                dyne__v1__create_table_output__init(o);
                o->tabledescription = d;
                out = &o->base;
            }
        } else if (kind == 1) {
            Dyne__V1__DescribeTableOutput *o = dyn_arena_alloc(a, sizeof *o);
            if (o != NULL) {
                dyne__v1__describe_table_output__init(o);
                o->table = d;
                out = &o->base;
            }
        } else {
            Dyne__V1__DeleteTableOutput *o = dyn_arena_alloc(a, sizeof *o);
            if (o != NULL) {
                dyne__v1__delete_table_output__init(o);
                o->tabledescription = d;
                out = &o->base;
            }
        }
        if (out == NULL)
            rc = DYN_ENOMEM;
    }
    dyn_rpc_call_finish(call, rc, out, NULL);
}

/* ---- CreateTable ---- */

/* The LSIs of a (validated) CreateTable as the partitions maintain them, in arena a. */
static Dyne__Internal__LsiDef **
lsi_defs(dyn_arena *a, const Dyne__V1__CreateTableInput *in)
{
    size_t n = in->n_localsecondaryindexes;
    Dyne__Internal__LsiDef **defs = dyn_arena_alloc(a, sizeof *defs * (n ? n : 1));

    for (size_t i = 0; defs != NULL && i < n; i++) {
        const Dyne__V1__LocalSecondaryIndex *x = in->localsecondaryindexes[i];
        Dyne__Internal__LsiDef *d = dyn_arena_alloc(a, sizeof *d);
        if (d == NULL)
            return NULL;
        dyne__internal__lsi_def__init(d);
        d->name = x->indexname;
        for (size_t k = 0; k < x->n_keyschema; k++)
            if (x->keyschema[k]->keytype != NULL && strcmp(x->keyschema[k]->keytype, "RANGE") == 0)
                d->sk_name = x->keyschema[k]->attributename;
        for (size_t k = 0; d->sk_name != NULL && k < in->n_attributedefinitions; k++)
            if (strcmp(in->attributedefinitions[k]->attributename, d->sk_name) == 0)
                d->sk_type = in->attributedefinitions[k]->attributetype;
        d->projection_type = x->projection->projectiontype;
        d->n_non_key_attributes = x->projection->n_nonkeyattributes;
        d->non_key_attributes = x->projection->nonkeyattributes;
        defs[i] = d;
    }
    return defs;
}

/* The account's quotas for one more table: the name (ResourceInUseException), the table count,
 * tables in flight, provisioned capacity; DYN_OK or the error recorded on the call. */
static dyn_err
create_quotas(router *r, dyn_rpc_call *call, const Dyne__V1__CreateTableInput *in,
              const Dyne__V1__TableDescription *d)
{
    dyn_arena *a = dyn_rpc_call_arena(call);
    const router_limits *lim = router_limits_get();
    Dyne__Internal__TableMeta *old;
    router_ctl_account acct;
    int64_t rev, rcu, wcu;
    dyn_err rc;

    if ((rc = meta_load(r, a, in->tablename, &old, &rev)) == DYN_OK) {
        /* a name being created is "in use"; in any other state it "already exists" */
        if (old->status != NULL && strcmp(old->status, "CREATING") == 0)
            return dyn_rpc_call_fail(call, DYN_EINUSE, "%s", router_ctl_in_use(a, old));
        return dyn_rpc_call_fail(call, DYN_EINUSE, "Table already exists: %s", in->tablename);
    }
    if (rc != DYN_ENOTFOUND)
        return rc;
    if ((rc = router_ctl_account_scan(r, a, NULL, &acct)) != DYN_OK)
        return rc;
    if (acct.tables >= (size_t)lim->max_tables)
        return dyn_rpc_call_fail(call, DYN_ELIMIT,
                                 "Subscriber limit exceeded: There is a limit of %d tables per "
                                 "subscriber",
                                 lim->max_tables);
    if (acct.in_flight >= (size_t)lim->max_table_ops)
        return dyn_rpc_call_fail(call, DYN_ELIMIT,
                                 "Subscriber limit exceeded: Only %d tables can be created, "
                                 "updated, or deleted simultaneously",
                                 lim->max_table_ops);
    router_ctl_capacity(d, &rcu, &wcu);
    return router_ctl_check_account_capacity(call, router_options(r), &acct, rcu, wcu);
}

static void
create_table_job(router *r, dyn_rpc_call *call, const ProtobufCMessage *req)
{
    const Dyne__V1__CreateTableInput *in = (const void *)req;
    dyn_arena *a = dyn_rpc_call_arena(call);
    Dyne__Internal__TableMeta m = DYNE__INTERNAL__TABLE_META__INIT;
    Dyne__Internal__KeySchema ks = DYNE__INTERNAL__KEY_SCHEMA__INIT;
    Dyne__V1__TableDescription *d;
    char tid[40], raw[33];
    void *buf;
    size_t len;
    int64_t rev = 0;
    dyn_err rc;

    random_hex(raw, 16);
    /* a UUID-shaped TableId, as DynamoDB shows */
    snprintf(tid, sizeof tid, "%.8s-%.4s-%.4s-%.4s-%.12s", raw, raw + 8, raw + 12, raw + 16,
             raw + 20);
    double created = router_ctl_now();
    if ((d = description_build(a, router_options(r), in, dyn_arena_strdup(a, tid), created)) ==
        NULL) {
        finish_description(call, DYN_ENOMEM, NULL, 0);
        return;
    }
    if ((rc = create_quotas(r, call, in, d)) != DYN_OK) {
        finish_description(call, rc, NULL, 0);
        return;
    }
    ks.pk_name = in->keyschema[0]->attributename;
    for (size_t i = 0; i < in->n_attributedefinitions; i++) {
        const Dyne__V1__AttributeDefinition *ad = in->attributedefinitions[i];
        if (strcmp(ad->attributename, ks.pk_name) == 0)
            ks.pk_type = ad->attributetype;
        if (in->n_keyschema == 2 && strcmp(ad->attributename, in->keyschema[1]->attributename) == 0)
            ks.sk_type = ad->attributetype;
    }
    if (in->n_keyschema == 2)
        ks.sk_name = in->keyschema[1]->attributename;
    Dyne__Internal__LsiDef **lsis = lsi_defs(a, in);
    if (lsis == NULL) {
        finish_description(call, DYN_ENOMEM, NULL, 0);
        return;
    }

    size_t dlen = dyne__v1__table_description__get_packed_size(d);
    uint8_t *dbuf = dyn_arena_alloc(a, dlen ? dlen : 1);
    if (dbuf == NULL) {
        finish_description(call, DYN_ENOMEM, NULL, 0);
        return;
    }
    dyne__v1__table_description__pack(d, dbuf);
    /* Recorded CREATING without partitions: the controller plans them (count from the capacity,
     * placement over the live storage nodes), creates them and makes the table ACTIVE. */
    m.table_name = in->tablename;
    m.table_id = dyn_arena_strdup(a, tid);
    m.status = "CREATING";
    m.has_creation_time = true;
    m.creation_time = created;
    m.key_schema = &ks;
    m.has_description = true;
    m.description.data = dbuf;
    m.description.len = dlen;
    m.n_lsis = in->n_localsecondaryindexes;
    m.lsis = lsis;
    m.n_tags = in->n_tags;
    m.tags = in->tags;
    /* each GSI gets its own partitions from the controller and its entries from the indexer */
    for (size_t i = 0; i < in->n_globalsecondaryindexes; i++) {
        const Dyne__V1__GlobalSecondaryIndex *x = in->globalsecondaryindexes[i];
        Dyne__Internal__GsiMeta *g = router_ctl_gsi_meta(
            a, m.table_id, x->indexname, x->keyschema, x->n_keyschema, in->attributedefinitions,
            in->n_attributedefinitions, x->projection, false, (int64_t)i + 1, created);
        if (g == NULL || router_ctl_gsi_add(a, &m, g) != DYN_OK) {
            finish_description(call, DYN_ENOMEM, NULL, 0);
            return;
        }
    }
    if ((rc = meta_pack(a, &m, &buf, &len)) != DYN_OK) {
        finish_description(call, rc, NULL, 0);
        return;
    }
    rc = dyn_meta_put_if_absent(router_meta(r), table_key(a, in->tablename), buf, len, 0, &rev);
    if (rc == DYN_EEXISTS) {
        dyn_rpc_call_fail(call, DYN_EINUSE, "Table already exists: %s", in->tablename);
        finish_description(call, DYN_EINUSE, NULL, 0);
        return;
    }
    if (rc != DYN_OK) {
        dyn_rpc_call_fail(call, rc, "cannot record the table");
        finish_description(call, rc, NULL, 0);
        return;
    }
    router_catalog_put(r, buf, len);
    dyn_log(DYN_LOG_INFO, "ROUTER-TABLE-CREATE", "table=%s id=%s class=%s", in->tablename, tid,
            in->tableclass ? in->tableclass : "STANDARD");
    finish_description(call, DYN_OK, create_answer(a, d, in), 0);
}

dyn_err
router_create_table(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp,
                    void *ctx)
{
    const Dyne__V1__CreateTableInput *in = (const void *)m;
    const char *msg = create_table_check(dyn_rpc_call_arena(call), in);
    const router_opts *o = router_options(ctx);
    dyn_err rc;

    (void)resp;
    if (msg != NULL)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "%s", msg);
    /* global tables and resource policies come with their issues */
    if (in->globaltablesourcearn != NULL || in->globaltablesettingsreplicationmode != NULL ||
        in->resourcepolicy != NULL)
        return dyn_rpc_call_fail(call, DYN_EUNIMPLEMENTED, "CreateTable %s is not implemented yet",
                                 in->resourcepolicy != NULL         ? "ResourcePolicy"
                                 : in->globaltablesourcearn != NULL ? "GlobalTableSourceArn"
                                         : "GlobalTableSettingsReplicationMode");
    if ((rc = router_ctl_check_table_capacity(call, o, NULL, in->provisionedthroughput)) != DYN_OK)
        return rc;
    for (size_t i = 0; i < in->n_globalsecondaryindexes; i++) {
        const Dyne__V1__GlobalSecondaryIndex *x = in->globalsecondaryindexes[i];
        if ((rc = router_ctl_check_table_capacity(call, o, x->indexname,
                                                  x->provisionedthroughput)) != DYN_OK)
            return rc;
    }
    if ((rc = router_ctl_check_on_demand(call, o, in->ondemandthroughput, true)) != DYN_OK)
        return rc;
    return router_admin_submit(ctx, call, m, create_table_job);
}

/* ---- DescribeTable ---- */

static void
describe_table_job(router *r, dyn_rpc_call *call, const ProtobufCMessage *req)
{
    const Dyne__V1__DescribeTableInput *in = (const void *)req;
    dyn_arena *a = dyn_rpc_call_arena(call);
    Dyne__Internal__TableMeta *m;
    Dyne__V1__TableDescription *d;
    int64_t rev;
    dyn_err rc;

    if ((rc = router_ctl_load(r, call, in->tablename, &m, &rev, &d)) != DYN_OK) {
        finish_description(call, rc, NULL, 1);
        return;
    }
    router_ctl_describe(m, d, router_ctl_now());
    if (m->status != NULL && strcmp(m->status, "ACTIVE") == 0)
        router_ctl_fill_stats(r, a, m, d);
    finish_description(call, DYN_OK, d, 1);
}

static dyn_err
check_table_name(dyn_rpc_call *call, const char *name)
{
    vc v;
    const char *msg;

    vc_init(&v, dyn_rpc_call_arena(call));
    vc_not_null(&v, "tableName", name != NULL);
    vc_table_name(&v, "tableName", name);
    if ((msg = vc_message(&v)) != NULL)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "%s", msg);
    return DYN_OK;
}

dyn_err
router_describe_table(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp,
                      void *ctx)
{
    const Dyne__V1__DescribeTableInput *in = (const void *)m;
    dyn_err rc;

    (void)resp;
    if ((rc = check_table_name(call, in->tablename)) != DYN_OK)
        return rc;
    return router_admin_submit(ctx, call, m, describe_table_job);
}

/* ---- DeleteTable ---- */

static void
delete_table_job(router *r, dyn_rpc_call *call, const ProtobufCMessage *req)
{
    const Dyne__V1__DeleteTableInput *in = (const void *)req;
    dyn_arena *a = dyn_rpc_call_arena(call);
    Dyne__Internal__TableMeta *m;
    Dyne__V1__TableDescription *d;
    const char *busy;
    int64_t rev;
    dyn_err rc = DYN_ECONDFAIL;

    for (int attempt = 0; attempt < CTL_CAS_TRIES && rc == DYN_ECONDFAIL; attempt++) {
        if ((rc = router_ctl_load(r, call, in->tablename, &m, &rev, &d)) != DYN_OK) {
            finish_description(call, rc, NULL, 2);
            return;
        }
        if ((busy = router_ctl_in_use(a, m)) != NULL) {
            finish_description(call, dyn_rpc_call_fail(call, DYN_EINUSE, "%s", busy), NULL, 2);
            return;
        }
        if (router_ctl_gsi_busy(m, NULL)) {   /* an index is being built or dropped */
            finish_description(call,
                               dyn_rpc_call_fail(call, DYN_EINUSE,
                                                 "Attempt to change a resource which is still in "
                                                 "use: Cannot delete table while indexes are "
                                                 "being created, updated, or deleted."),
                               NULL, 2);
            return;
        }
        if (d->has_deletionprotectionenabled && d->deletionprotectionenabled) {
            finish_description(call,
                               dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                                 "Resource cannot be deleted as it is currently "
                                                 "protected against deletion. Disable deletion "
                                                 "protection first."),
                               NULL, 2);
            return;
        }
        m->status = "DELETING";
        rc = meta_swap(r, a, m, rev);   /* changed meanwhile: decide again */
    }
    if (rc != DYN_OK) {
        if (rc == DYN_ECONDFAIL)
            rc = dyn_rpc_call_fail(call, DYN_EINUSE, "%s", router_ctl_raced(a, in->tablename));
        finish_description(call, rc, NULL, 2);
        return;
    }
    router_ctl_describe(m, d, router_ctl_now());
    router_ctl_fill_stats(r, a, m, d);
    /* DELETING is recorded; the controller drops the partitions and then the entry */
    dyn_log(DYN_LOG_INFO, "ROUTER-TABLE-DELETE", "table=%s id=%s", in->tablename,
            m->table_id ? m->table_id : "");
    finish_description(call, DYN_OK, d, 2);
}

dyn_err
router_delete_table(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp,
                    void *ctx)
{
    const Dyne__V1__DeleteTableInput *in = (const void *)m;
    dyn_err rc;

    (void)resp;
    if ((rc = check_table_name(call, in->tablename)) != DYN_OK)
        return rc;
    return router_admin_submit(ctx, call, m, delete_table_job);
}

/* ---- ListTables ---- */

static void
list_tables_job(router *r, dyn_rpc_call *call, const ProtobufCMessage *req)
{
    const Dyne__V1__ListTablesInput *in = (const void *)req;
    dyn_arena *a = dyn_rpc_call_arena(call);
    Dyne__V1__ListTablesOutput *out = dyn_arena_alloc(a, sizeof *out);
    int limit = in->has_limit ? in->limit : 100;
    dyn_meta_kv *kvs = NULL;
    size_t n = 0;
    bool more = false;
    dyn_err rc;

    /* etcd lists in key order, which is the byte order of names: DynamoDB's order too. The
     * catalog is bounded by the table quota, so the whole listing is read and cut here. */
    rc = dyn_meta_range(router_meta(r), CTL_TABLES_PREFIX, 0, a, &kvs, &n, NULL, NULL);
    if (rc != DYN_OK || out == NULL) {
        dyn_rpc_call_finish(call, rc != DYN_OK ? rc : DYN_ENOMEM, NULL, "cannot list tables");
        return;
    }
    dyne__v1__list_tables_output__init(out);
    out->tablenames = dyn_arena_alloc(a, sizeof *out->tablenames * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        char *name = (char *)kvs[i].key + strlen(CTL_TABLES_PREFIX);
        if (in->exclusivestarttablename != NULL && strcmp(name, in->exclusivestarttablename) <= 0)
            continue;
        if ((int)out->n_tablenames == limit) {
            more = true;
            break;
        }
        out->tablenames[out->n_tablenames++] = name;
    }
    if (more)
        out->lastevaluatedtablename = out->tablenames[out->n_tablenames - 1];
    dyn_rpc_call_finish(call, DYN_OK, &out->base, NULL);
}

dyn_err
router_list_tables(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp,
                   void *ctx)
{
    const Dyne__V1__ListTablesInput *in = (const void *)m;
    const char *msg;
    vc v;

    (void)resp;
    vc_init(&v, dyn_rpc_call_arena(call));
    if (in->has_limit)
        vc_int_range(&v, "limit", in->limit, 1, 100);
    vc_table_name(&v, "exclusiveStartTableName", in->exclusivestarttablename);
    if ((msg = vc_message(&v)) != NULL)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "%s", msg);
    return router_admin_submit(ctx, call, m, list_tables_job);
}

const dyn_rpc_method router_methods[] = {
    { "CreateTable", router_create_table },
    { "DescribeTable", router_describe_table },
    { "UpdateTable", router_update_table },
    { "ListTables", router_list_tables },
    { "DeleteTable", router_delete_table },
    { "DescribeLimits", router_describe_limits },
    { "DescribeEndpoints", router_describe_endpoints },
    { "TagResource", router_tag_resource },
    { "UntagResource", router_untag_resource },
    { "ListTagsOfResource", router_list_tags_of_resource },
    { "PutItem", router_put_item },
    { "GetItem", router_get_item },
    { "DeleteItem", router_delete_item },
    { "UpdateItem", router_update_item },
    { "UpdateTimeToLive", router_update_time_to_live },
    { "DescribeTimeToLive", router_describe_time_to_live },
    { "Query", router_query },
    { "BatchGetItem", router_batch_get_item },
    { "BatchWriteItem", router_batch_write_item },
    { "Scan", router_scan },
    { NULL, NULL },
};
