/* services/router -- what the control-plane handlers share: catalog entries and their stored
 * TableDescription, DynamoDB's table-state texts, time formats, description pieces, and the
 * request checks CreateTable and UpdateTable have in common. */
#include "services/router/control.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "proto/dyne/internal/storage.pb-c.h"
#include "proto/dyne/v1/types.pb-c.h"

const char *const router_ctl_view_enum[] = { "OLD_IMAGE", "KEYS_ONLY", "NEW_AND_OLD_IMAGES",
                                             "NEW_IMAGE", NULL };
const char *const router_ctl_projection_enum[] = { "ALL", "INCLUDE", "KEYS_ONLY", NULL };
const char *const router_ctl_billing_enum[] = { "PROVISIONED", "PAY_PER_REQUEST", NULL };
const char *const router_ctl_sse_type_enum[] = { "AES256", "KMS", NULL };

/* ---- time ---- */

double
router_ctl_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    /* DynamoDB reports its date-times with millisecond precision */
    return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1000.0;
}

static void
utc(double t, struct tm *tm, int *ms)
{
    time_t s = (time_t)t;

    *ms = (int)((t - (double)s) * 1000.0 + 0.5);
    if (*ms > 999)
        *ms = 999;
    gmtime_r(&s, tm);
}

const char *
router_ctl_iso_ms(dyn_arena *a, double t)
{
    struct tm tm;
    int ms;

    utc(t, &tm, &ms);
    return dyn_arena_printf(a, "%04d-%02d-%02dT%02d:%02d:%02d.%03d", tm.tm_year + 1900,
                            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

const char *
router_ctl_long_date(dyn_arena *a, double t)
{
    static const char *const days[] = { "Sunday",   "Monday", "Tuesday", "Wednesday",
                                        "Thursday", "Friday", "Saturday" };
    static const char *const months[] = { "January", "February", "March",     "April",
                                          "May",     "June",     "July",      "August",
                                          "September", "October", "November", "December" };
    struct tm tm;
    int ms, h12;

    utc(t, &tm, &ms);
    h12 = tm.tm_hour % 12 == 0 ? 12 : tm.tm_hour % 12;
    /* Java's FULL date and MEDIUM time in the UTC zone, as DynamoDB prints them */
    return dyn_arena_printf(a, "%s, %s %d, %d at %d:%02d:%02d %s Coordinated Universal Time",
                            days[tm.tm_wday], months[tm.tm_mon], tm.tm_mday, tm.tm_year + 1900,
                            h12, tm.tm_min, tm.tm_sec, tm.tm_hour < 12 ? "AM" : "PM");
}

double
router_ctl_utc_day(double t)
{
    return (double)((int64_t)t - (int64_t)t % 86400);
}

/* ---- catalog entries ---- */

static const char *
table_key(dyn_arena *a, const char *name)
{
    return dyn_arena_printf(a, CTL_TABLES_PREFIX "%s", name);
}

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

dyn_err
meta_swap(router *r, dyn_arena *a, const Dyne__Internal__TableMeta *m, int64_t rev)
{
    size_t len = dyne__internal__table_meta__get_packed_size(m);
    uint8_t *buf = dyn_arena_alloc(a, len ? len : 1);
    dyn_err rc;

    if (buf == NULL)
        return DYN_ENOMEM;
    dyne__internal__table_meta__pack(m, buf);
    if ((rc = dyn_meta_cas(router_meta(r), table_key(a, m->table_name), rev, buf, len, 0, NULL)) !=
        DYN_OK)
        return rc;
    router_catalog_put(r, buf, len);
    return DYN_OK;
}

dyn_err
router_ctl_load(router *r, dyn_rpc_call *call, const char *name, Dyne__Internal__TableMeta **m,
                int64_t *rev, Dyne__V1__TableDescription **d)
{
    dyn_arena *a = dyn_rpc_call_arena(call);
    ProtobufCAllocator al = dyn_arena_pb_allocator(a);
    dyn_err rc;

    if ((rc = meta_load(r, a, name, m, rev)) == DYN_ENOTFOUND)
        return dyn_rpc_call_fail(call, DYN_ENOTABLE,
                                 "Requested resource not found: Table: %s not found", name);
    if (rc != DYN_OK)
        return rc;
    *d = NULL;
    if ((*m)->has_description)
        *d = dyne__v1__table_description__unpack(&al, (*m)->description.len,
                                                 (*m)->description.data);
    return *d != NULL ? DYN_OK : DYN_EINTERNAL;
}

dyn_err
router_ctl_store(router *r, dyn_arena *a, Dyne__Internal__TableMeta *m,
                 const Dyne__V1__TableDescription *d, int64_t rev)
{
    size_t len = dyne__v1__table_description__get_packed_size(d);
    uint8_t *buf = dyn_arena_alloc(a, len ? len : 1);

    if (buf == NULL)
        return DYN_ENOMEM;
    dyne__v1__table_description__pack(d, buf);
    m->has_description = true;
    m->description.data = buf;
    m->description.len = len;
    return meta_swap(r, a, m, rev);
}

const char *
router_ctl_in_use(dyn_arena *a, const Dyne__Internal__TableMeta *m)
{
    const char *s = m->status != NULL ? m->status : "";

    if (strcmp(s, "ACTIVE") == 0)
        return NULL;
    if (strcmp(s, "CREATING") == 0)
        return dyn_arena_printf(a,
                                "Attempt to change a resource which is still in use: Table is "
                                "being created: %s",
                                m->table_name);
    if (strcmp(s, "DELETING") == 0)
        return dyn_arena_printf(a,
                                "Attempt to change a resource which is still in use: Table is "
                                "being deleted: %s",
                                m->table_name);
    return router_ctl_raced(a, m->table_name);
}

bool
router_ctl_gsi_busy(const Dyne__Internal__TableMeta *m, const char *deleting)
{
    for (size_t i = 0; i < m->n_gsis; i++) {
        const Dyne__Internal__GsiMeta *g = m->gsis[i];
        const char *s = g->status != NULL ? g->status : "";
        bool creating = strcmp(s, "CREATING") == 0;
        /* DynamoDB: an index being created may be deleted during its backfill, not before */
        if (deleting != NULL && g->index_name != NULL && strcmp(g->index_name, deleting) == 0 &&
            creating && g->has_backfilling && g->backfilling)
            continue;
        if (creating || strcmp(s, "DELETING") == 0)
            return true;
    }
    return false;
}

const char *
router_ctl_raced(dyn_arena *a, const char *table)
{
    return dyn_arena_printf(a,
                            "Attempt to change a resource which is still in use: Table: %s is in "
                            "the process of being updated.",
                            table);
}

/* NumberOfDecreasesToday counts the decreases of the current UTC day: it reads 0 once the day of
 * the last decrease is over (the stored count is that day's). */
static void
decreases_today(Dyne__V1__ProvisionedThroughputDescription *pt, double now)
{
    if (pt != NULL && pt->has_lastdecreasedatetime &&
        router_ctl_utc_day(pt->lastdecreasedatetime) != router_ctl_utc_day(now))
        pt->numberofdecreasestoday = 0;
}

void
router_ctl_describe(const Dyne__Internal__TableMeta *m, Dyne__V1__TableDescription *d, double now)
{
    if (m->status != NULL)
        d->tablestatus = m->status;
    decreases_today(d->provisionedthroughput, now);
    for (size_t i = 0; i < d->n_globalsecondaryindexes; i++) {
        Dyne__V1__GlobalSecondaryIndexDescription *g = d->globalsecondaryindexes[i];
        const Dyne__Internal__GsiMeta *gm = router_ctl_gsi_find(m, g->indexname);
        decreases_today(g->provisionedthroughput, now);
        /* the controller and the indexer move an index on: its GsiMeta is the truth */
        if (gm == NULL || gm->status == NULL)
            continue;
        g->indexstatus = gm->status;
        g->has_backfilling = gm->has_backfilling;
        g->backfilling = gm->backfilling;
        if (g->warmthroughput != NULL)
            g->warmthroughput->status = gm->status;
    }
}

/* ---- global secondary indexes in the catalog ---- */

static const char *
def_type(Dyne__V1__AttributeDefinition *const *defs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(defs[i]->attributename, name) == 0)
            return defs[i]->attributetype;
    return "S";
}

Dyne__Internal__GsiMeta *
router_ctl_gsi_meta(dyn_arena *a, const char *table_id, const char *name,
                    Dyne__V1__KeySchemaElement *const *ks, size_t nks,
                    Dyne__V1__AttributeDefinition *const *defs, size_t ndefs,
                    const Dyne__V1__Projection *proj, bool backfilling, int64_t seq, double now)
{
    Dyne__Internal__GsiMeta *g = dyn_arena_zalloc(a, sizeof *g);
    Dyne__Internal__KeySchema *k = dyn_arena_zalloc(a, sizeof *k);
    char n[24];
    int room;

    if (g == NULL || k == NULL)
        return NULL;
    dyne__internal__gsi_meta__init(g);
    dyne__internal__key_schema__init(k);
    for (size_t i = 0; i < nks; i++) {
        const char *an = ks[i]->attributename, *kt = ks[i]->keytype;
        if (kt != NULL && strcmp(kt, "RANGE") == 0) {
            k->sk_name = (char *)an;
            k->sk_type = (char *)def_type(defs, ndefs, an);
        } else {
            k->pk_name = (char *)an;
            k->pk_type = (char *)def_type(defs, ndefs, an);
        }
    }
    snprintf(n, sizeof n, "%" PRId64, seq);
    /* partition ids "<index_id>.<n>" (n < 1000) must fit storage's 80 bytes: 64 here */
    room = 64 - (int)strlen(table_id) - 2 - (int)strlen(n);
    if (room < 1)
        room = 1;
    g->index_name = (char *)name;
    g->index_id = dyn_arena_printf(a, "%s-%.*s-%s", table_id, room, name, n);
    g->key_schema = k;
    g->projection_type = proj != NULL && proj->projectiontype != NULL ? proj->projectiontype
                                                                      : "ALL";
    if (proj != NULL && strcmp(g->projection_type, "INCLUDE") == 0) {
        g->n_non_key_attributes = proj->n_nonkeyattributes;
        g->non_key_attributes = proj->nonkeyattributes;
    }
    g->status = "CREATING";
    /* DynamoDB shows Backfilling only for an index added to an existing table */
    g->has_backfilling = backfilling;
    g->backfilling = backfilling;
    g->has_creation_time = true;
    g->creation_time = now;
    return g->index_id != NULL ? g : NULL;
}

dyn_err
router_ctl_gsi_add(dyn_arena *a, Dyne__Internal__TableMeta *m, Dyne__Internal__GsiMeta *g)
{
    Dyne__Internal__GsiMeta **gs = router_ctl_grow(a, m->gsis, m->n_gsis, sizeof *gs);

    if (gs == NULL)
        return DYN_ENOMEM;
    gs[m->n_gsis++] = g;
    m->gsis = gs;
    return DYN_OK;
}

Dyne__Internal__GsiMeta *
router_ctl_gsi_find(const Dyne__Internal__TableMeta *m, const char *name)
{
    for (size_t i = 0; name != NULL && i < m->n_gsis; i++) {
        Dyne__Internal__GsiMeta *g = m->gsis[i];
        if (g->index_name != NULL && strcmp(g->index_name, name) == 0 &&
            (g->status == NULL || strcmp(g->status, "DELETING") != 0))
            return g;
    }
    return NULL;
}

bool
router_ctl_is_ppr(const Dyne__V1__TableDescription *d)
{
    return d->billingmodesummary != NULL && d->billingmodesummary->billingmode != NULL &&
           strcmp(d->billingmodesummary->billingmode, "PAY_PER_REQUEST") == 0;
}

/* ---- descriptions ---- */

const char *
router_ctl_table_arn(dyn_arena *a, const router_opts *o, const char *table)
{
    return dyn_arena_printf(a, "arn:aws:dynamodb:%s:%s:table/%s", o->region, o->account, table);
}

Dyne__V1__ProvisionedThroughputDescription *
router_ctl_pt_desc(dyn_arena *a, int64_t r, int64_t w)
{
    Dyne__V1__ProvisionedThroughputDescription *pt = dyn_arena_zalloc(a, sizeof *pt);

    if (pt == NULL)
        return NULL;
    dyne__v1__provisioned_throughput_description__init(pt);
    pt->has_numberofdecreasestoday = pt->has_readcapacityunits = pt->has_writecapacityunits = true;
    pt->readcapacityunits = r;
    pt->writecapacityunits = w;
    return pt;
}

Dyne__V1__GlobalSecondaryIndexDescription *
router_ctl_gsi_desc(dyn_arena *a, const char *table_arn, const char *name,
                    Dyne__V1__KeySchemaElement **ks, size_t nks, Dyne__V1__Projection *proj,
                    const Dyne__V1__ProvisionedThroughput *pt, Dyne__V1__OnDemandThroughput *odt,
                    const Dyne__V1__WarmThroughput *warm, bool ppr)
{
    Dyne__V1__GlobalSecondaryIndexDescription *g = dyn_arena_zalloc(a, sizeof *g);
    Dyne__V1__GlobalSecondaryIndexWarmThroughputDescription *w = dyn_arena_zalloc(a, sizeof *w);
    int64_t r = !ppr && pt != NULL ? pt->readcapacityunits : 0;
    int64_t wr = !ppr && pt != NULL ? pt->writecapacityunits : 0;

    if (g == NULL || w == NULL)
        return NULL;
    dyne__v1__global_secondary_index_description__init(g);
    g->indexname = (char *)name;
    g->n_keyschema = nks;
    g->keyschema = ks;
    g->projection = proj;
    /* nothing maintains a GSI until the indexer exists: it is described as DynamoDB describes an
     * index being built (docs/decisions.md) */
    g->indexstatus = "CREATING";
    g->has_indexsizebytes = g->has_itemcount = true;
    g->indexarn = dyn_arena_printf(a, "%s/index/%s", table_arn, name);
    g->provisionedthroughput = router_ctl_pt_desc(a, r, wr);
    if (ppr && odt != NULL && (odt->has_maxreadrequestunits || odt->has_maxwriterequestunits))
        g->ondemandthroughput = odt;
    dyne__v1__global_secondary_index_warm_throughput_description__init(w);
    w->has_readunitspersecond = w->has_writeunitspersecond = true;
    w->readunitspersecond = ppr ? CTL_PPR_WARM_READ : r;
    w->writeunitspersecond = ppr ? CTL_PPR_WARM_WRITE : wr;
    if (warm != NULL && warm->has_readunitspersecond &&
        warm->readunitspersecond > w->readunitspersecond)
        w->readunitspersecond = warm->readunitspersecond;
    if (warm != NULL && warm->has_writeunitspersecond &&
        warm->writeunitspersecond > w->writeunitspersecond)
        w->writeunitspersecond = warm->writeunitspersecond;
    w->status = g->indexstatus;
    g->warmthroughput = w;
    return g->provisionedthroughput != NULL ? g : NULL;
}

Dyne__V1__SSEDescription *
router_ctl_sse_desc(dyn_arena *a, const router_opts *o, const Dyne__V1__SSESpecification *spec)
{
    Dyne__V1__SSEDescription *sd;
    const char *key;

    /* the AWS-owned default key has no SSEDescription; Enabled or SSEType KMS selects KMS */
    if (spec == NULL || !((spec->has_enabled && spec->enabled) ||
                          (spec->ssetype != NULL && strcmp(spec->ssetype, "KMS") == 0)))
        return NULL;
    if ((sd = dyn_arena_zalloc(a, sizeof *sd)) == NULL)
        return NULL;
    dyne__v1__ssedescription__init(sd);
    sd->status = "ENABLED";
    sd->ssetype = "KMS";
    key = spec->kmsmasterkeyid;
    if (key != NULL && strncmp(key, "arn:", 4) == 0)
        sd->kmsmasterkeyarn = (char *)key;
    else
        sd->kmsmasterkeyarn = dyn_arena_printf(
            a, "arn:aws:kms:%s:%s:%s%s", o->region, o->account,
            key != NULL && strncmp(key, "alias/", 6) == 0 ? "" : "key/",
            key != NULL ? key : "dyne-managed");
    return sd;
}

void
router_ctl_stream_on(dyn_arena *a, Dyne__V1__TableDescription *d,
                     Dyne__V1__StreamSpecification *spec, double t)
{
    const char *label = router_ctl_iso_ms(a, t);

    d->streamspecification = spec;
    d->lateststreamlabel = (char *)label;
    d->lateststreamarn = dyn_arena_printf(a, "%s/stream/%s", d->tablearn, label);
}

void *
router_ctl_grow(dyn_arena *a, const void *arr, size_t n, size_t elem)
{
    void *p = dyn_arena_alloc(a, (n + 1) * elem);

    if (p != NULL && n > 0)
        memcpy(p, arr, n * elem);
    return p;
}

/* ---- request checks ---- */

const char *
router_ctl_check_sse(const Dyne__V1__SSESpecification *s)
{
    if (s == NULL)
        return NULL;
    if (s->has_enabled && !s->enabled) {
        if (s->ssetype != NULL)
            return CTL_INVALID "SSEType can not be specified if Enabled is false";
        if (s->kmsmasterkeyid != NULL)
            return CTL_INVALID "KMSMasterKeyId can not be specified if Enabled is false";
    }
    if (s->kmsmasterkeyid != NULL && (s->ssetype == NULL || strcmp(s->ssetype, "KMS") != 0))
        return CTL_INVALID "SSEType KMS is required if KMSMasterKeyId is specified";
    if (s->ssetype != NULL && strcmp(s->ssetype, "AES256") == 0)
        return CTL_INVALID "SSEType AES256 is not supported";
    return NULL;
}

const char *
router_ctl_check_bounds(dyn_arena *a, const Dyne__V1__ProvisionedThroughput *pt)
{
    /* past a trillion units the member is "out of bounds" before any quota applies */
    if (pt != NULL && pt->readcapacityunits > 1000000000000LL)
        return dyn_arena_printf(a, "Given value %" PRId64 " for ReadCapacityUnits is out of bounds",
                                pt->readcapacityunits);
    if (pt != NULL && pt->writecapacityunits > 1000000000000LL)
        return dyn_arena_printf(a,
                                "Given value %" PRId64 " for WriteCapacityUnits is out of bounds",
                                pt->writecapacityunits);
    return NULL;
}

bool
router_ctl_table_class_ok(const char *c)
{
    return c == NULL || strcmp(c, "STANDARD") == 0 || strcmp(c, "STANDARD_INFREQUENT_ACCESS") == 0;
}

/* ---- key schemas, projections and throughput (CreateTable, and UpdateTable's GSI Create) ---- */

static const char *const key_type_enum[] = { "HASH", "RANGE", NULL };

void
router_ctl_vc_key_schema(vc *v, dyn_arena *a, const char *path, Dyne__V1__KeySchemaElement **ks,
                         size_t n, bool check_enum)
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

void
router_ctl_vc_projection(vc *v, dyn_arena *a, const char *path, const Dyne__V1__Projection *p)
{
    vc_not_null(v, dyn_arena_printf(a, "%s.projection", path), p != NULL);
    if (p == NULL)
        return;
    vc_enum(v, dyn_arena_printf(a, "%s.projection.projectionType", path), p->projectiontype,
            router_ctl_projection_enum);
    if (p->n_nonkeyattributes > 0)
        vc_list_len(v, dyn_arena_printf(a, "%s.projection.nonKeyAttributes", path),
                    p->n_nonkeyattributes, 1, 20);
}

void
router_ctl_vc_throughput(vc *v, dyn_arena *a, const char *path,
                         const Dyne__V1__ProvisionedThroughput *pt)
{
    const char *w = dyn_arena_printf(a, "%s.writeCapacityUnits", path);
    const char *r = dyn_arena_printf(a, "%s.readCapacityUnits", path);

    if (pt == NULL)
        return;
    vc_not_null(v, w, pt->has_writecapacityunits);
    if (pt->has_writecapacityunits)
        vc_int_range(v, w, pt->writecapacityunits, 1, INT64_MAX);
    vc_not_null(v, r, pt->has_readcapacityunits);
    if (pt->has_readcapacityunits)
        vc_int_range(v, r, pt->readcapacityunits, 1, INT64_MAX);
}

bool
router_ctl_defined(Dyne__V1__AttributeDefinition *const *defs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (defs[i]->attributename != NULL && name != NULL &&
            strcmp(defs[i]->attributename, name) == 0)
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

const char *
router_ctl_defs_list(dyn_arena *a, Dyne__V1__AttributeDefinition *const *defs, size_t n)
{
    const char *s = "";

    for (size_t i = 0; i < n; i++)
        s = dyn_arena_printf(a, "%s%s%s", s, i ? ", " : "", defs[i]->attributename);
    return s;
}

const char *
router_ctl_check_keys(dyn_arena *a, Dyne__V1__AttributeDefinition *const *defs, size_t ndefs,
                      Dyne__V1__KeySchemaElement **ks, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!router_ctl_defined(defs, ndefs, ks[i]->attributename))
            return dyn_arena_printf(a,
                                    CTL_INVALID "Some index key attributes are not defined in "
                                                "AttributeDefinitions. Keys: [%s], "
                                                "AttributeDefinitions: [%s]",
                                    names_list(a, ks, n), router_ctl_defs_list(a, defs, ndefs));
    if (n == 2 && strcmp(ks[0]->attributename, ks[1]->attributename) == 0)
        return "Both the Hash Key and the Range Key element in the KeySchema have the same name";
    if (strcmp(ks[0]->keytype, "HASH") != 0)
        return "Invalid KeySchema: The first KeySchemaElement is not a HASH key type";
    if (n == 2 && strcmp(ks[1]->keytype, "RANGE") != 0)
        return "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type";
    return NULL;
}

const char *
router_ctl_check_projection(dyn_arena *a, const Dyne__V1__Projection *proj)
{
    if (proj->projectiontype == NULL)
        return CTL_INVALID "Unknown ProjectionType: null";
    if (proj->n_nonkeyattributes > 0 && strcmp(proj->projectiontype, "INCLUDE") != 0)
        return dyn_arena_printf(a, CTL_INVALID "ProjectionType is %s, but NonKeyAttributes is "
                                               "specified",
                                proj->projectiontype);
    if (proj->n_nonkeyattributes == 0 && strcmp(proj->projectiontype, "INCLUDE") == 0)
        return CTL_INVALID "ProjectionType is INCLUDE, but NonKeyAttributes is not specified";
    return NULL;
}

void
router_ctl_vc_index(vc *v, dyn_arena *a, const char *p, const char *name,
                    Dyne__V1__KeySchemaElement **ks, size_t nks, const Dyne__V1__Projection *proj)
{
    const char *np = dyn_arena_printf(a, "%s.indexName", p);

    vc_not_null(v, np, name != NULL);
    vc_table_name(v, np, name);
    router_ctl_vc_key_schema(v, a, dyn_arena_printf(a, "%s.keySchema", p), ks, nks, false);
    router_ctl_vc_projection(v, a, p, proj);
}

/* ---- item counts ---- */

/* ItemCount and TableSizeBytes, summed over the partitions (DynamoDB refreshes these about every
 * six hours; we read them live, which is never staler). */
/* Sums PartitionStats over parts; false if one cannot be read. */
static bool
sum_stats(router *r, dyn_arena *a, Dyne__Internal__PartitionMeta *const *parts, size_t n,
          int64_t *items, int64_t *bytes)
{
    *items = *bytes = 0;
    for (size_t i = 0; i < n; i++) {
        Dyne__Internal__PartitionStatsRequest q = DYNE__INTERNAL__PARTITION_STATS_REQUEST__INIT;
        ProtobufCMessage *resp;
        if (parts[i]->node_addr == NULL)
            return false;
        q.partition_id = parts[i]->partition_id;
        if (dyn_rpc_client_call(router_storage(r, parts[i]->node_addr),
                                "/dyne.internal.Storage/PartitionStats", &q.base,
                                &dyne__internal__partition_stats_response__descriptor, 5000, a,
                                &resp, NULL) != DYN_OK)
            return false;
        Dyne__Internal__PartitionStatsResponse *s = (void *)resp;
        *items += s->item_count;
        *bytes += s->size_bytes;
    }
    return true;
}

/* ItemCount and TableSizeBytes, summed over the partitions (DynamoDB refreshes these about every
 * six hours; we read them live, which is never staler); the same for each GSI over its own
 * partitions (an index not yet planned has none and shows 0). */
void
router_ctl_fill_stats(router *r, dyn_arena *a, const Dyne__Internal__TableMeta *m,
                      Dyne__V1__TableDescription *d)
{
    int64_t items, bytes;

    for (size_t i = 0; i < d->n_globalsecondaryindexes; i++) {
        Dyne__V1__GlobalSecondaryIndexDescription *g = d->globalsecondaryindexes[i];
        const Dyne__Internal__GsiMeta *gm = router_ctl_gsi_find(m, g->indexname);
        if (gm == NULL || !sum_stats(r, a, gm->partitions, gm->n_partitions, &items, &bytes))
            continue;   /* keep the last known figures rather than fail DescribeTable */
        g->has_itemcount = g->has_indexsizebytes = true;
        g->itemcount = items;
        g->indexsizebytes = bytes;
    }
    if (!sum_stats(r, a, m->partitions, m->n_partitions, &items, &bytes))
        return;
    d->has_itemcount = d->has_tablesizebytes = true;
    d->itemcount = items;
    d->tablesizebytes = bytes;
}
