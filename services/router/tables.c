/* services/router -- CreateTable, DescribeTable, ListTables, DeleteTable. Validation runs on the
 * worker thread with DynamoDB's messages; the etcd and storage work runs on the admin thread.
 * Lifecycle as in DynamoDB: CreateTable answers CREATING and the table turns ACTIVE once its
 * partitions exist; DeleteTable answers DELETING and the table is gone once they are dropped.
 * (The controller service takes this lifecycle over when it exists.) */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libs/log/log.h"
#include "proto/dyne/internal/catalog.pb-c.h"
#include "proto/dyne/internal/storage.pb-c.h"
#include "proto/dyne/v1/dynamodb.pb-c.h"
#include "services/router/router.h"
#include "services/router/validate.h"

#define TABLES_PREFIX "/dyne/tables/"
#define NODES_PREFIX "/dyne/nodes/"

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* DynamoDB reports CreationDateTime with millisecond precision */
    return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1000.0;
}

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
    return dyn_arena_printf(a, TABLES_PREFIX "%s", name);
}

/* ---- validation of CreateTable (dynalite's AWS-verified order and wording) ---- */

static const char *const attr_type_enum[] = { "B", "N", "S", NULL };
static const char *const key_type_enum[] = { "HASH", "RANGE", NULL };
static const char *const billing_enum[] = { "PROVISIONED", "PAY_PER_REQUEST", NULL };
static const char *const projection_enum[] = { "ALL", "INCLUDE", "KEYS_ONLY", NULL };
static const char *const class_enum[] = { "STANDARD", "STANDARD_INFREQUENT_ACCESS", NULL };
static const char *const view_enum[] = { "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES",
                                         "KEYS_ONLY", NULL };

static void
vc_key_schema(vc *v, dyn_arena *a, const char *path, Dyne__V1__KeySchemaElement **ks, size_t n,
              bool check_enum)
{
    vc_not_null(v, path, n > 0);
    if (n > 0)
        vc_list_len(v, path, n, 1, 2);
    for (size_t i = 0; i < n; i++) {
        const char *p = dyn_arena_printf(a, "%s.%zu.member.attributeName", path, i + 1);
        vc_not_null(v, p, ks[i]->attributename != NULL);
        p = dyn_arena_printf(a, "%s.%zu.member.keyType", path, i + 1);
        vc_not_null(v, p, ks[i]->keytype != NULL);
        if (check_enum)
            vc_enum(v, p, ks[i]->keytype, key_type_enum);
    }
}

static void
vc_projection(vc *v, dyn_arena *a, const char *path, const Dyne__V1__Projection *p)
{
    vc_not_null(v, dyn_arena_printf(a, "%s.projection", path), p != NULL);
    if (p == NULL)
        return;
    vc_enum(v, dyn_arena_printf(a, "%s.projection.projectionType", path), p->projectiontype,
            projection_enum);
    if (p->n_nonkeyattributes > 0)
        vc_list_len(v, dyn_arena_printf(a, "%s.projection.nonKeyAttributes", path),
                    p->n_nonkeyattributes, 1, 20);
}

static bool
defined(const Dyne__V1__CreateTableInput *in, const char *name)
{
    for (size_t i = 0; i < in->n_attributedefinitions; i++)
        if (in->attributedefinitions[i]->attributename != NULL &&
            strcmp(in->attributedefinitions[i]->attributename, name) == 0)
            return true;
    return false;
}

static const char *
names_list(dyn_arena *a, Dyne__V1__KeySchemaElement **ks, size_t n)
{
    const char *s = "";
    for (size_t i = 0; i < n; i++)
        s = dyn_arena_printf(a, "%s%s%s", s, i ? ", " : "", ks[i]->attributename);
    return s;
}

static const char *
defs_list(dyn_arena *a, const Dyne__V1__CreateTableInput *in)
{
    const char *s = "";
    for (size_t i = 0; i < in->n_attributedefinitions; i++)
        s = dyn_arena_printf(a, "%s%s%s", s, i ? ", " : "",
                             in->attributedefinitions[i]->attributename);
    return s;
}

/* Checks an index's key schema and projection after the constraint pass (custom rules). */
static const char *
check_index(dyn_arena *a, const Dyne__V1__CreateTableInput *in, const char *name,
            Dyne__V1__KeySchemaElement **ks, size_t n, const Dyne__V1__Projection *proj)
{
    for (size_t i = 0; i < n; i++)
        if (!defined(in, ks[i]->attributename))
            return dyn_arena_printf(a,
                                    "One or more parameter values were invalid: Some index key "
                                    "attributes are not defined in AttributeDefinitions. Keys: "
                                    "[%s], AttributeDefinitions: [%s]",
                                    names_list(a, ks, n), defs_list(a, in));
    if (n == 2 && strcmp(ks[0]->attributename, ks[1]->attributename) == 0)
        return "Both the Hash Key and the Range Key element in the KeySchema have the same name";
    if (strcmp(ks[0]->keytype, "HASH") != 0)
        return "Invalid KeySchema: The first KeySchemaElement is not a HASH key type";
    if (n == 2 && strcmp(ks[1]->keytype, "RANGE") != 0)
        return "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type";
    if (proj->projectiontype == NULL)
        return "One or more parameter values were invalid: Unknown ProjectionType: null";
    if (proj->n_nonkeyattributes > 0 && strcmp(proj->projectiontype, "INCLUDE") != 0)
        return dyn_arena_printf(a,
                                "One or more parameter values were invalid: ProjectionType is %s, "
                                "but NonKeyAttributes is specified",
                                proj->projectiontype);
    (void)name;
    return NULL;
}

static const char *
create_table_custom(dyn_arena *a, const Dyne__V1__CreateTableInput *in)
{
    Dyne__V1__KeySchemaElement **ks = in->keyschema;
    size_t nks = in->n_keyschema;
    const char *m;
    bool ppr = in->billingmode != NULL && strcmp(in->billingmode, "PAY_PER_REQUEST") == 0;

    if (ppr) {
        if (in->provisionedthroughput != NULL)
            return "One or more parameter values were invalid: Neither ReadCapacityUnits nor "
                   "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST";
    } else {
        const Dyne__V1__ProvisionedThroughput *pt = in->provisionedthroughput;
        if (pt == NULL || !pt->has_readcapacityunits || !pt->has_writecapacityunits)
            return "One or more parameter values were invalid: ReadCapacityUnits and "
                   "WriteCapacityUnits must both be specified when BillingMode is PROVISIONED";
        if (pt->readcapacityunits > 1000000000000LL)
            return dyn_arena_printf(a, "Given value %" PRId64 " for ReadCapacityUnits is out of bounds",
                                    pt->readcapacityunits);
        if (pt->writecapacityunits > 1000000000000LL)
            return dyn_arena_printf(a,
                                    "Given value %" PRId64 " for WriteCapacityUnits is out of bounds",
                                    pt->writecapacityunits);
    }
    if (nks > in->n_attributedefinitions)
        return "Invalid KeySchema: Some index key attribute have no definition";
    for (size_t i = 0; i < nks; i++)
        if (!defined(in, ks[i]->attributename))
            return dyn_arena_printf(a,
                                    "One or more parameter values were invalid: Some index key "
                                    "attributes are not defined in AttributeDefinitions. Keys: "
                                    "[%s], AttributeDefinitions: [%s]",
                                    names_list(a, ks, nks), defs_list(a, in));
    if (nks == 2 && strcmp(ks[0]->attributename, ks[1]->attributename) == 0)
        return "Both the Hash Key and the Range Key element in the KeySchema have the same name";
    if (strcmp(ks[0]->keytype, "HASH") != 0)
        return "Invalid KeySchema: The first KeySchemaElement is not a HASH key type";
    if (nks == 2 && strcmp(ks[1]->keytype, "RANGE") != 0)
        return "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type";
    for (size_t i = 0; i < in->n_attributedefinitions; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(in->attributedefinitions[i]->attributename,
                       in->attributedefinitions[j]->attributename) == 0)
                return "Cannot have two attributes with the same name";
    if (in->n_localsecondaryindexes == 0 && in->n_globalsecondaryindexes == 0 &&
        nks != in->n_attributedefinitions)
        return "One or more parameter values were invalid: Number of attributes in KeySchema does "
               "not exactly match number of attributes defined in AttributeDefinitions";

    for (size_t i = 0; i < in->n_localsecondaryindexes; i++) {
        const Dyne__V1__LocalSecondaryIndex *x = in->localsecondaryindexes[i];
        if (nks != 2)
            return "One or more parameter values were invalid: Table KeySchema does not have a "
                   "range key, which is required when specifying a LocalSecondaryIndex";
        if ((m = check_index(a, in, x->indexname, x->keyschema, x->n_keyschema, x->projection)))
            return m;
        if (x->n_keyschema != 2)
            return dyn_arena_printf(a,
                                    "One or more parameter values were invalid: Index KeySchema "
                                    "does not have a range key for index: %s",
                                    x->indexname);
        if (strcmp(x->keyschema[0]->attributename, ks[0]->attributename) != 0)
            return dyn_arena_printf(
                a,
                "One or more parameter values were invalid: Index KeySchema does not have the same "
                "leading hash key as table KeySchema for index: %s. index hash key: %s, table hash "
                "key: %s",
                x->indexname, x->keyschema[0]->attributename, ks[0]->attributename);
        for (size_t j = 0; j < i; j++)
            if (strcmp(in->localsecondaryindexes[j]->indexname, x->indexname) == 0)
                return dyn_arena_printf(a,
                                        "One or more parameter values were invalid: Duplicate "
                                        "index name: %s",
                                        x->indexname);
    }
    if (in->n_localsecondaryindexes > 5)
        return "One or more parameter values were invalid: Number of LocalSecondaryIndexes exceeds "
               "per-table limit of 5";
    for (size_t i = 0; i < in->n_globalsecondaryindexes; i++) {
        const Dyne__V1__GlobalSecondaryIndex *x = in->globalsecondaryindexes[i];
        if ((m = check_index(a, in, x->indexname, x->keyschema, x->n_keyschema, x->projection)))
            return m;
        if (ppr && x->provisionedthroughput != NULL)
            return dyn_arena_printf(a,
                                    "One or more parameter values were invalid: "
                                    "ProvisionedThroughput should not be specified for index: %s "
                                    "when BillingMode is PAY_PER_REQUEST",
                                    x->indexname);
        for (size_t j = 0; j < in->n_localsecondaryindexes; j++)
            if (strcmp(in->localsecondaryindexes[j]->indexname, x->indexname) == 0)
                return dyn_arena_printf(a,
                                        "One or more parameter values were invalid: Duplicate "
                                        "index name: %s",
                                        x->indexname);
        for (size_t j = 0; j < i; j++)
            if (strcmp(in->globalsecondaryindexes[j]->indexname, x->indexname) == 0)
                return dyn_arena_printf(a,
                                        "One or more parameter values were invalid: Duplicate "
                                        "index name: %s",
                                        x->indexname);
    }
    if (in->n_globalsecondaryindexes > 20)
        return "One or more parameter values were invalid: GlobalSecondaryIndex count exceeds the "
               "per-table limit of 20";
    if (in->streamspecification != NULL && in->streamspecification->has_streamenabled &&
        in->streamspecification->streamenabled && in->streamspecification->streamviewtype == NULL)
        return "One or more parameter values were invalid: You must specify a StreamViewType when "
               "enabling a stream";
    return NULL;
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
    vc_enum(&v, "billingMode", in->billingmode, billing_enum);
    if (in->provisionedthroughput != NULL) {
        const Dyne__V1__ProvisionedThroughput *pt = in->provisionedthroughput;
        vc_not_null(&v, "provisionedThroughput.writeCapacityUnits", pt->has_writecapacityunits);
        if (pt->has_writecapacityunits)
            vc_int_range(&v, "provisionedThroughput.writeCapacityUnits", pt->writecapacityunits, 1,
                         INT64_MAX);
        vc_not_null(&v, "provisionedThroughput.readCapacityUnits", pt->has_readcapacityunits);
        if (pt->has_readcapacityunits)
            vc_int_range(&v, "provisionedThroughput.readCapacityUnits", pt->readcapacityunits, 1,
                         INT64_MAX);
    }
    vc_key_schema(&v, a, "keySchema", in->keyschema, in->n_keyschema, true);
    for (size_t i = 0; i < in->n_localsecondaryindexes; i++) {
        const Dyne__V1__LocalSecondaryIndex *x = in->localsecondaryindexes[i];
        const char *p = dyn_arena_printf(a, "localSecondaryIndexes.%zu.member", i + 1);
        const char *np = dyn_arena_printf(a, "%s.indexName", p);
        vc_not_null(&v, np, x->indexname != NULL);
        vc_table_name(&v, np, x->indexname);
        vc_key_schema(&v, a, dyn_arena_printf(a, "%s.keySchema", p), x->keyschema, x->n_keyschema,
                      false);
        vc_projection(&v, a, p, x->projection);
    }
    for (size_t i = 0; i < in->n_globalsecondaryindexes; i++) {
        const Dyne__V1__GlobalSecondaryIndex *x = in->globalsecondaryindexes[i];
        const char *p = dyn_arena_printf(a, "globalSecondaryIndexes.%zu.member", i + 1);
        const char *np = dyn_arena_printf(a, "%s.indexName", p);
        vc_not_null(&v, np, x->indexname != NULL);
        vc_table_name(&v, np, x->indexname);
        vc_key_schema(&v, a, dyn_arena_printf(a, "%s.keySchema", p), x->keyschema, x->n_keyschema,
                      false);
        vc_projection(&v, a, p, x->projection);
    }
    vc_enum(&v, "tableClass", in->tableclass, class_enum);
    if (in->streamspecification != NULL)
        vc_enum(&v, "streamSpecification.streamViewType", in->streamspecification->streamviewtype,
                view_enum);
    if (in->n_tags > 50)
        vc_list_len(&v, "tags", in->n_tags, 0, 50);
    for (size_t i = 0; i < in->n_tags; i++) {
        const Dyne__V1__Tag *t = in->tags[i];
        vc_not_null(&v, dyn_arena_printf(a, "tags.%zu.member.key", i + 1), t->key != NULL);
        vc_str_len(&v, dyn_arena_printf(a, "tags.%zu.member.key", i + 1), t->key, 1, 128);
        vc_not_null(&v, dyn_arena_printf(a, "tags.%zu.member.value", i + 1), t->value != NULL);
        vc_str_len(&v, dyn_arena_printf(a, "tags.%zu.member.value", i + 1), t->value, 0, 256);
    }
    const char *m = vc_message(&v);
    if (m != NULL)
        return m;
    /* some key-schema elements may still be NULL-named only if the pass above failed */
    return create_table_custom(a, in);
}

/* ---- descriptions ---- */

static Dyne__V1__TableDescription *
description_unpack(dyn_arena *a, const Dyne__Internal__TableMeta *m)
{
    ProtobufCAllocator al = dyn_arena_pb_allocator(a);
    Dyne__V1__TableDescription *d = NULL;

    if (m->has_description)
        d = dyne__v1__table_description__unpack(&al, m->description.len, m->description.data);
    if (d != NULL && m->status != NULL)
        d->tablestatus = m->status;
    return d;
}

static Dyne__V1__TableDescription *
description_build(dyn_arena *a, const router_opts *o, const Dyne__V1__CreateTableInput *in,
                  const char *table_id, double created)
{
    Dyne__V1__TableDescription *d = dyn_arena_zalloc(a, sizeof *d);
    const char *arn;

    if (d == NULL)
        return NULL;
    dyne__v1__table_description__init(d);
    arn = dyn_arena_printf(a, "arn:aws:dynamodb:%s:%s:table/%s", o->region, o->account,
                           in->tablename);
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
    d->deletionprotectionenabled = in->has_deletionprotectionenabled && in->deletionprotectionenabled;
    d->has_deletionprotectionenabled = true;

    Dyne__V1__ProvisionedThroughputDescription *pt = dyn_arena_zalloc(a, sizeof *pt);
    dyne__v1__provisioned_throughput_description__init(pt);
    pt->has_numberofdecreasestoday = pt->has_readcapacityunits = pt->has_writecapacityunits = true;
    bool ppr = in->billingmode != NULL && strcmp(in->billingmode, "PAY_PER_REQUEST") == 0;
    if (!ppr && in->provisionedthroughput != NULL) {
        pt->readcapacityunits = in->provisionedthroughput->readcapacityunits;
        pt->writecapacityunits = in->provisionedthroughput->writecapacityunits;
    }
    d->provisionedthroughput = pt;
    if (ppr) {
        Dyne__V1__BillingModeSummary *bm = dyn_arena_zalloc(a, sizeof *bm);
        dyne__v1__billing_mode_summary__init(bm);
        bm->billingmode = "PAY_PER_REQUEST";
        bm->has_lastupdatetopayperrequestdatetime = true;
        bm->lastupdatetopayperrequestdatetime = created;
        d->billingmodesummary = bm;
    }
    if (in->n_localsecondaryindexes > 0) {
        d->n_localsecondaryindexes = in->n_localsecondaryindexes;
        d->localsecondaryindexes =
            dyn_arena_alloc(a, sizeof *d->localsecondaryindexes * in->n_localsecondaryindexes);
        for (size_t i = 0; i < in->n_localsecondaryindexes; i++) {
            const Dyne__V1__LocalSecondaryIndex *x = in->localsecondaryindexes[i];
            Dyne__V1__LocalSecondaryIndexDescription *ld = dyn_arena_zalloc(a, sizeof *ld);
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
            Dyne__V1__GlobalSecondaryIndexDescription *gd = dyn_arena_zalloc(a, sizeof *gd);
            dyne__v1__global_secondary_index_description__init(gd);
            gd->indexname = x->indexname;
            gd->n_keyschema = x->n_keyschema;
            gd->keyschema = x->keyschema;
            gd->projection = x->projection;
            gd->indexstatus = "CREATING";
            gd->has_backfilling = true;
            gd->has_indexsizebytes = gd->has_itemcount = true;
            gd->indexarn = dyn_arena_printf(a, "%s/index/%s", arn, x->indexname);
            Dyne__V1__ProvisionedThroughputDescription *gpt = dyn_arena_zalloc(a, sizeof *gpt);
            dyne__v1__provisioned_throughput_description__init(gpt);
            gpt->has_numberofdecreasestoday = gpt->has_readcapacityunits =
                gpt->has_writecapacityunits = true;
            if (x->provisionedthroughput != NULL) {
                gpt->readcapacityunits = x->provisionedthroughput->readcapacityunits;
                gpt->writecapacityunits = x->provisionedthroughput->writecapacityunits;
            }
            gd->provisionedthroughput = gpt;
            d->globalsecondaryindexes[i] = gd;
        }
    }
    if (in->streamspecification != NULL && in->streamspecification->has_streamenabled &&
        in->streamspecification->streamenabled) {
        char label[32];
        time_t t = (time_t)created;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(label, sizeof label, "%Y-%m-%dT%H:%M:%S.000", &tm);
        d->streamspecification = in->streamspecification;
        d->lateststreamlabel = dyn_arena_strdup(a, label);
        d->lateststreamarn = dyn_arena_printf(a, "%s/stream/%s", arn, label);
    }
    if (in->ssespecification != NULL && in->ssespecification->has_enabled &&
        in->ssespecification->enabled) {
        Dyne__V1__SSEDescription *sd = dyn_arena_zalloc(a, sizeof *sd);
        dyne__v1__ssedescription__init(sd);
        sd->status = "ENABLED";
        sd->ssetype = "KMS";
        sd->kmsmasterkeyarn = dyn_arena_printf(a, "arn:aws:kms:%s:%s:key/%s", o->region,
                                               o->account,
                                               in->ssespecification->kmsmasterkeyid
                                                   ? in->ssespecification->kmsmasterkeyid
                                                   : "dyne-managed");
        d->ssedescription = sd;
    }
    if (in->tableclass != NULL) {
        Dyne__V1__TableClassSummary *tc = dyn_arena_zalloc(a, sizeof *tc);
        dyne__v1__table_class_summary__init(tc);
        tc->tableclass = in->tableclass;
        d->tableclasssummary = tc;
    }
    if (in->ondemandthroughput != NULL)
        d->ondemandthroughput = in->ondemandthroughput;
    return d;
}

/* ---- etcd helpers (admin thread only: these block) ---- */

/* Reads a table's catalog entry. DYN_ENOTFOUND if absent. */
dyn_err
meta_load(router *r, dyn_arena *a, const char *name, Dyne__Internal__TableMeta **m, int64_t *rev)
{
    ProtobufCAllocator al = dyn_arena_pb_allocator(a);
    dyn_meta_kv kv;
    dyn_err rc;

    if ((rc = dyn_meta_get(router_meta(r), table_key(a, name), a, &kv)) != DYN_OK)
        return rc;
    *rev = kv.mod_rev;
    if ((*m = dyne__internal__table_meta__unpack(&al, kv.val_len, kv.val)) == NULL)
        return DYN_EINTERNAL;
    return DYN_OK;
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

/* Compare-and-swap of a catalog entry on its mod revision, then the local cache. */
dyn_err
meta_swap(router *r, dyn_arena *a, const Dyne__Internal__TableMeta *m, int64_t rev)
{
    void *buf;
    size_t len;
    dyn_err rc;

    if ((rc = meta_pack(a, m, &buf, &len)) != DYN_OK)
        return rc;
    if ((rc = dyn_meta_cas(router_meta(r), table_key(a, m->table_name), rev, buf, len, 0, NULL)) !=
        DYN_OK)
        return rc;
    router_catalog_put(r, buf, len);
    return DYN_OK;
}

/* The registered storage node carrying the fewest partitions (ties: lowest id). */
static dyn_err
pick_node(router *r, dyn_arena *a, const char **id, const char **addr)
{
    dyn_meta_kv *nodes = NULL, *tables = NULL;
    size_t nn = 0, nt = 0, best_load = SIZE_MAX;
    ProtobufCAllocator al = dyn_arena_pb_allocator(a);
    dyn_err rc;

    *id = *addr = NULL;
    if ((rc = dyn_meta_range(router_meta(r), NODES_PREFIX, 0, a, &nodes, &nn, NULL, NULL)) !=
        DYN_OK)
        return rc;
    if ((rc = dyn_meta_range(router_meta(r), TABLES_PREFIX, 0, a, &tables, &nt, NULL, NULL)) !=
        DYN_OK)
        return rc;
    for (size_t i = 0; i < nn; i++) {
        Dyne__Internal__NodeMeta *n =
            dyne__internal__node_meta__unpack(&al, nodes[i].val_len, nodes[i].val);
        size_t load = 0;
        if (n == NULL || n->node_id == NULL || n->addr == NULL)
            continue;
        for (size_t j = 0; j < nt; j++) {
            Dyne__Internal__TableMeta *t =
                dyne__internal__table_meta__unpack(&al, tables[j].val_len, tables[j].val);
            for (size_t k = 0; t != NULL && k < t->n_partitions; k++)
                if (t->partitions[k]->node_id && strcmp(t->partitions[k]->node_id, n->node_id) == 0)
                    load++;
        }
        if (load < best_load) {
            best_load = load;
            *id = n->node_id;
            *addr = n->addr;
        }
    }
    return *id == NULL ? DYN_EUNAVAIL : DYN_OK;
}

/* A table's catalog entry and its description, for DescribeTable and DeleteTable; a missing
 * table is DynamoDB's "Table: x not found" (recorded on the call). */
static dyn_err
load_described(router *r, dyn_rpc_call *call, const char *name, Dyne__Internal__TableMeta **m,
               int64_t *rev, Dyne__V1__TableDescription **d)
{
    dyn_arena *a = dyn_rpc_call_arena(call);
    dyn_err rc;

    if ((rc = meta_load(r, a, name, m, rev)) == DYN_ENOTFOUND)
        return dyn_rpc_call_fail(call, DYN_ENOTABLE,
                                 "Requested resource not found: Table: %s not found", name);
    if (rc != DYN_OK)
        return rc;
    if ((*d = description_unpack(a, *m)) == NULL)
        return DYN_EINTERNAL;
    return DYN_OK;
}

static void
finish_description(dyn_rpc_call *call, dyn_err rc, Dyne__V1__TableDescription *d, int kind)
{
    dyn_arena *a = dyn_rpc_call_arena(call);
    ProtobufCMessage *out = NULL;

    if (rc == DYN_OK) {
        if (kind == 0) {
            Dyne__V1__CreateTableOutput *o = dyn_arena_alloc(a, sizeof *o);
            dyne__v1__create_table_output__init(o);
            o->tabledescription = d;
            out = &o->base;
        } else if (kind == 1) {
            Dyne__V1__DescribeTableOutput *o = dyn_arena_alloc(a, sizeof *o);
            dyne__v1__describe_table_output__init(o);
            o->table = d;
            out = &o->base;
        } else {
            Dyne__V1__DeleteTableOutput *o = dyn_arena_alloc(a, sizeof *o);
            dyne__v1__delete_table_output__init(o);
            o->tabledescription = d;
            out = &o->base;
        }
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

static void
create_table_job(router *r, dyn_rpc_call *call, const ProtobufCMessage *req)
{
    const Dyne__V1__CreateTableInput *in = (const void *)req;
    dyn_arena *a = dyn_rpc_call_arena(call);
    Dyne__Internal__TableMeta m = DYNE__INTERNAL__TABLE_META__INIT;
    Dyne__Internal__KeySchema ks = DYNE__INTERNAL__KEY_SCHEMA__INIT;
    Dyne__Internal__PartitionMeta pm = DYNE__INTERNAL__PARTITION_META__INIT, *pms[1] = { &pm };
    Dyne__V1__TableDescription *d;
    char tid[40], raw[33];
    const char *node_id, *node_addr;
    void *buf;
    size_t len;
    int64_t rev = 0;
    dyn_err rc;

    random_hex(raw, 16);
    /* a UUID-shaped TableId, as DynamoDB shows */
    snprintf(tid, sizeof tid, "%.8s-%.4s-%.4s-%.4s-%.12s", raw, raw + 8, raw + 12, raw + 16,
             raw + 20);
    if ((rc = pick_node(r, a, &node_id, &node_addr)) != DYN_OK) {
        dyn_rpc_call_fail(call, DYN_EUNAVAIL, "no storage node is available");
        finish_description(call, DYN_EUNAVAIL, NULL, 0);
        return;
    }
    double created = now_s();
    if ((d = description_build(a, router_options(r), in, dyn_arena_strdup(a, tid), created)) ==
        NULL) {
        finish_description(call, DYN_ENOMEM, NULL, 0);
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

    /* one partition over the whole hash space; splits and multi-node placement: issue 6 */
    pm.partition_id = dyn_arena_printf(a, "%.16s.0", raw);
    pm.has_hash_start = pm.has_hash_end = true;
    pm.hash_start = 0;
    pm.hash_end = UINT64_MAX;
    pm.node_id = (char *)node_id;
    pm.node_addr = (char *)node_addr;

    size_t dlen = dyne__v1__table_description__get_packed_size(d);
    uint8_t *dbuf = dyn_arena_alloc(a, dlen ? dlen : 1);
    dyne__v1__table_description__pack(d, dbuf);
    m.table_name = in->tablename;
    m.table_id = dyn_arena_strdup(a, tid);
    m.status = "CREATING";
    m.has_creation_time = true;
    m.creation_time = created;
    m.key_schema = &ks;
    m.has_description = true;
    m.description.data = dbuf;
    m.description.len = dlen;
    m.n_partitions = 1;
    m.partitions = pms;
    m.has_config_epoch = true;
    m.config_epoch = 1;
    m.n_lsis = in->n_localsecondaryindexes;
    m.lsis = lsis;
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
    dyn_log(DYN_LOG_INFO, "ROUTER-TABLE-CREATE", "table=%s id=%s node=%s", in->tablename, tid,
            node_id);

    /* The partitions are created after the answer has gone: DynamoDB answers CREATING. The
     * arena stays ours until finish, so create first and answer after -- the answer still says
     * CREATING because that is what the table was when it was recorded. */
    Dyne__Internal__CreatePartitionRequest cp = DYNE__INTERNAL__CREATE_PARTITION_REQUEST__INIT;
    cp.partition_id = pm.partition_id;
    cp.key_schema = &ks;
    cp.table_name = in->tablename;
    cp.n_lsis = in->n_localsecondaryindexes;
    cp.lsis = lsis;
    for (int attempt = 0; attempt < 5; attempt++) {
        ProtobufCMessage *resp;
        const char *err = NULL;
        rc = dyn_rpc_client_call(router_storage(r, node_addr),
                                 "/dyne.internal.Storage/CreatePartition", &cp.base,
                                 &dyne__internal__create_partition_response__descriptor, 10000, a,
                                 &resp, &err);
        if (rc == DYN_OK)
            break;
        dyn_log(DYN_LOG_WARN, "ROUTER-PARTITION-CREATE", "table=%s node=%s err=%s msg=%s",
                in->tablename, node_addr, dyn_err_name(rc), err ? err : "");
        usleep(200000u << attempt);
    }
    if (rc == DYN_OK) {
        Dyne__Internal__TableMeta *cur;
        int64_t cur_rev;
        if ((rc = meta_load(r, a, in->tablename, &cur, &cur_rev)) == DYN_OK) {
            cur->status = "ACTIVE";
            rc = meta_swap(r, a, cur, cur_rev);
        }
        if (rc != DYN_OK)
            dyn_log(DYN_LOG_ERROR, "ROUTER-TABLE-ACTIVATE", "table=%s err=%s", in->tablename,
                    dyn_err_name(rc));
    }
    finish_description(call, DYN_OK, d, 0);
}

dyn_err
router_create_table(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp,
                    void *ctx)
{
    const char *msg = create_table_check(dyn_rpc_call_arena(call), (const void *)m);

    (void)resp;
    if (msg != NULL)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "%s", msg);
    return router_admin_submit(ctx, call, m, create_table_job);
}

/* ---- DescribeTable ---- */

/* ItemCount and TableSizeBytes, summed over the partitions (DynamoDB refreshes these about every
 * six hours; we read them live, which is never staler). */
static void
fill_stats(router *r, dyn_arena *a, const Dyne__Internal__TableMeta *m,
           Dyne__V1__TableDescription *d)
{
    int64_t items = 0, bytes = 0;

    for (size_t i = 0; i < m->n_partitions; i++) {
        Dyne__Internal__PartitionStatsRequest q = DYNE__INTERNAL__PARTITION_STATS_REQUEST__INIT;
        ProtobufCMessage *resp;
        q.partition_id = m->partitions[i]->partition_id;
        if (dyn_rpc_client_call(router_storage(r, m->partitions[i]->node_addr),
                                "/dyne.internal.Storage/PartitionStats", &q.base,
                                &dyne__internal__partition_stats_response__descriptor, 5000, a,
                                &resp, NULL) != DYN_OK)
            return;   /* keep the last known figures rather than fail DescribeTable */
        Dyne__Internal__PartitionStatsResponse *s = (void *)resp;
        items += s->item_count;
        bytes += s->size_bytes;
    }
    d->has_itemcount = d->has_tablesizebytes = true;
    d->itemcount = items;
    d->tablesizebytes = bytes;
}

static void
describe_table_job(router *r, dyn_rpc_call *call, const ProtobufCMessage *req)
{
    const Dyne__V1__DescribeTableInput *in = (const void *)req;
    dyn_arena *a = dyn_rpc_call_arena(call);
    Dyne__Internal__TableMeta *m;
    Dyne__V1__TableDescription *d;
    int64_t rev;
    dyn_err rc;

    if ((rc = load_described(r, call, in->tablename, &m, &rev, &d)) != DYN_OK) {
        finish_description(call, rc, NULL, 1);
        return;
    }
    if (m->status != NULL && strcmp(m->status, "ACTIVE") == 0)
        fill_stats(r, a, m, d);
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
    int64_t rev;
    dyn_err rc;

    if ((rc = load_described(r, call, in->tablename, &m, &rev, &d)) != DYN_OK) {
        finish_description(call, rc, NULL, 2);
        return;
    }
    if (m->status == NULL || strcmp(m->status, "ACTIVE") != 0) {
        const char *what = m->status && strcmp(m->status, "CREATING") == 0   ? "being created"
                           : m->status && strcmp(m->status, "DELETING") == 0 ? "being deleted"
                                                                             : "being updated";
        dyn_rpc_call_fail(call, DYN_EINUSE,
                          "Attempt to change a resource which is still in use: Table is %s: %s",
                          what, in->tablename);
        finish_description(call, DYN_EINUSE, NULL, 2);
        return;
    }
    if (d->has_deletionprotectionenabled && d->deletionprotectionenabled) {
        dyn_rpc_call_fail(call, DYN_EVALIDATION,
                          "Resource cannot be deleted as it is currently protected against "
                          "deletion. Disable deletion protection first.");
        finish_description(call, DYN_EVALIDATION, NULL, 2);
        return;
    }
    m->status = "DELETING";
    if ((rc = meta_swap(r, a, m, rev)) != DYN_OK) {
        /* somebody else changed it meanwhile: report what DynamoDB reports for a race */
        if (rc == DYN_ECONDFAIL) {
            rc = DYN_EINUSE;
            dyn_rpc_call_fail(call, rc,
                              "Attempt to change a resource which is still in use: Table is "
                              "being updated: %s",
                              in->tablename);
        }
        finish_description(call, rc, NULL, 2);
        return;
    }
    d->tablestatus = "DELETING";
    fill_stats(r, a, m, d);
    dyn_log(DYN_LOG_INFO, "ROUTER-TABLE-DELETE", "table=%s id=%s", in->tablename,
            m->table_id ? m->table_id : "");
    for (size_t i = 0; i < m->n_partitions; i++) {
        Dyne__Internal__DropPartitionRequest q = DYNE__INTERNAL__DROP_PARTITION_REQUEST__INIT;
        ProtobufCMessage *resp;
        q.partition_id = m->partitions[i]->partition_id;
        for (int attempt = 0; attempt < 5; attempt++) {
            rc = dyn_rpc_client_call(router_storage(r, m->partitions[i]->node_addr),
                                     "/dyne.internal.Storage/DropPartition", &q.base,
                                     &dyne__internal__drop_partition_response__descriptor, 10000, a,
                                     &resp, NULL);
            if (rc == DYN_OK)
                break;
            usleep(200000u << attempt);
        }
        if (rc != DYN_OK)
            dyn_log(DYN_LOG_ERROR, "ROUTER-PARTITION-DROP", "table=%s partition=%s err=%s",
                    in->tablename, q.partition_id, dyn_err_name(rc));
    }
    if ((rc = dyn_meta_delete(router_meta(r), table_key(a, in->tablename), NULL)) != DYN_OK)
        dyn_log(DYN_LOG_ERROR, "ROUTER-TABLE-FORGET", "table=%s err=%s", in->tablename,
                dyn_err_name(rc));
    router_catalog_del(r, in->tablename);
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
    rc = dyn_meta_range(router_meta(r), TABLES_PREFIX, 0, a, &kvs, &n, NULL, NULL);
    if (rc != DYN_OK || out == NULL) {
        dyn_rpc_call_finish(call, rc != DYN_OK ? rc : DYN_ENOMEM, NULL, "cannot list tables");
        return;
    }
    dyne__v1__list_tables_output__init(out);
    out->tablenames = dyn_arena_alloc(a, sizeof *out->tablenames * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        char *name = (char *)kvs[i].key + strlen(TABLES_PREFIX);
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
    { "ListTables", router_list_tables },
    { "DeleteTable", router_delete_table },
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
