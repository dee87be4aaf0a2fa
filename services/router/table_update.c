/* services/router -- UpdateTable: provisioned throughput, billing mode, streams, encryption, table
 * class, deletion protection, on-demand and warm throughput, and GSI create/update/delete, with
 * DynamoDB's validation, quotas and texts. The change is made in one compare-and-swap of the
 * catalog entry; the changes DynamoDB makes asynchronously leave the table UPDATING (the answer
 * shows the old throughput, as DynamoDB's does) until the controller makes it ACTIVE. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "libs/log/log.h"
#include "services/router/control.h"
#include "services/router/validate.h"

#define DECREASES_FREE 4        /* decreases per UTC day before the hourly rule */
#define DECREASE_GAP_S 3600.0   /* then one per hour after the last one */
#define CLASS_CHANGES 2         /* TableClass changes per 30 days */
#define CLASS_WINDOW_S (30 * 86400.0)
#define DP_COOLDOWN_S 15.0      /* DeletionProtectionEnabled: one change per 15 s */
#define REFER_TO                                                                                 \
    "Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher " \
    "limits."

/* What the request asks for; "present" in DynamoDB's sense (an empty struct counts as absent). */
typedef struct want {
    bool pt, billing, gsi, stream, sse, tclass, dp, odt, warm;
    bool to_ppr, to_prov;     /* BillingMode given as ... */
    size_t creates, deletes;  /* GSI actions */
} want;

static bool
odt_present(const Dyne__V1__OnDemandThroughput *t)
{
    return t != NULL && (t->has_maxreadrequestunits || t->has_maxwriterequestunits);
}

static bool
warm_present(const Dyne__V1__WarmThroughput *t)
{
    return t != NULL && (t->has_readunitspersecond || t->has_writeunitspersecond);
}

static void
want_of(const Dyne__V1__UpdateTableInput *in, want *w)
{
    memset(w, 0, sizeof *w);
    w->pt = in->provisionedthroughput != NULL;
    w->billing = in->billingmode != NULL;
    w->to_ppr = w->billing && strcmp(in->billingmode, "PAY_PER_REQUEST") == 0;
    w->to_prov = w->billing && !w->to_ppr;
    w->gsi = in->n_globalsecondaryindexupdates > 0;
    w->stream = in->streamspecification != NULL;
    w->sse = in->ssespecification != NULL;
    w->tclass = in->tableclass != NULL;
    w->dp = in->has_deletionprotectionenabled;
    w->odt = odt_present(in->ondemandthroughput);
    w->warm = warm_present(in->warmthroughput);
    for (size_t i = 0; i < in->n_globalsecondaryindexupdates; i++) {
        w->creates += in->globalsecondaryindexupdates[i]->create != NULL;
        w->deletes += in->globalsecondaryindexupdates[i]->delete_ != NULL;
    }
}

/* ---- request checks (no table needed) ---- */

static const char *
gsi_update_name(const Dyne__V1__GlobalSecondaryIndexUpdate *u)
{
    return u->update != NULL ? u->update->indexname
           : u->create != NULL ? u->create->indexname
           : u->delete_ != NULL ? u->delete_->indexname
                                : NULL;
}

static void
vc_update(vc *v, dyn_arena *a, const Dyne__V1__UpdateTableInput *in)
{
    for (size_t i = 0; i < in->n_attributedefinitions; i++) {
        const Dyne__V1__AttributeDefinition *d = in->attributedefinitions[i];
        static const char *const types[] = { "B", "N", "S", NULL };
        const char *p = dyn_arena_printf(a, "attributeDefinitions.%zu.member.attributeType", i + 1);
        vc_not_null(v, dyn_arena_printf(a, "attributeDefinitions.%zu.member.attributeName", i + 1),
                    d->attributename != NULL);
        vc_not_null(v, p, d->attributetype != NULL);
        vc_enum(v, p, d->attributetype, types);
    }
    vc_not_null(v, "tableName", in->tablename != NULL);
    vc_table_name(v, "tableName", in->tablename);
    router_ctl_vc_throughput(v, a, "provisionedThroughput", in->provisionedthroughput);
    vc_enum(v, "billingMode", in->billingmode, router_ctl_billing_enum);
    for (size_t i = 0; i < in->n_globalsecondaryindexupdates; i++) {
        const Dyne__V1__GlobalSecondaryIndexUpdate *u = in->globalsecondaryindexupdates[i];
        const char *p = dyn_arena_printf(a, "globalSecondaryIndexUpdates.%zu.member", i + 1);
        if (u->update != NULL) {
            const char *np = dyn_arena_printf(a, "%s.update.indexName", p);
            vc_not_null(v, np, u->update->indexname != NULL);
            vc_table_name(v, np, u->update->indexname);
            router_ctl_vc_throughput(v, a,
                                     dyn_arena_printf(a, "%s.update.provisionedThroughput", p),
                                     u->update->provisionedthroughput);
        }
        if (u->create != NULL) {
            const Dyne__V1__CreateGlobalSecondaryIndexAction *c = u->create;
            const char *cp = dyn_arena_printf(a, "%s.create", p);
            router_ctl_vc_index(v, a, cp, c->indexname, c->keyschema, c->n_keyschema,
                                c->projection);
            router_ctl_vc_throughput(v, a, dyn_arena_printf(a, "%s.provisionedThroughput", cp),
                                     c->provisionedthroughput);
        }
        if (u->delete_ != NULL) {
            const char *np = dyn_arena_printf(a, "%s.delete.indexName", p);
            vc_not_null(v, np, u->delete_->indexname != NULL);
            vc_table_name(v, np, u->delete_->indexname);
        }
    }
    if (in->streamspecification != NULL) {
        vc_not_null(v, "streamSpecification.streamEnabled",
                    in->streamspecification->has_streamenabled);
        vc_enum(v, "streamSpecification.streamViewType", in->streamspecification->streamviewtype,
                router_ctl_view_enum);
    }
    if (in->ssespecification != NULL) {
        vc_enum(v, "sSESpecification.sSEType", in->ssespecification->ssetype,
                router_ctl_sse_type_enum);
        vc_str_len(v, "sSESpecification.kMSMasterKeyId", in->ssespecification->kmsmasterkeyid, 1,
                   2048);
    }
}

/* The members that must travel alone, in DynamoDB's precedence when several are present. */
static const char *
check_combinations(const want *w)
{
    int n = w->pt + w->billing + w->gsi + w->stream + w->sse + w->tclass + w->dp + w->odt +
            w->warm;

    if (n > 1 && w->sse)
        return CTL_INVALID "Server-Side Encryption modification must be the only operation in "
                           "the request";
    if (n > 1 && w->tclass)
        return CTL_INVALID "TableClass modification must be the only operation in the request";
    if (n > 1 && w->dp)
        return CTL_INVALID "DeletionProtection modification must be the only operation in the "
                           "request";
    if (w->warm && w->creates > 0)
        return CTL_INVALID "Create global secondary index cannot be specified when updating "
                           "WarmThroughput";
    if (n > 1 && w->warm)
        return CTL_INVALID "WarmThroughput must be the only operation in the request";
    if (w->odt && (w->pt || w->gsi || w->stream))
        return CTL_INVALID "OnDemandThroughput can only be combined with BillingMode in an "
                           "UpdateTable request";
    if (w->stream && (w->pt || w->to_prov))
        return CTL_INVALID "You cannot modify stream status while updating table IOPS";
    if (w->creates + w->deletes > 0 && w->pt)
        return CTL_INVALID "You cannot create or delete index while updating table IOPS";
    if (w->creates + w->deletes > 0 && w->stream)
        return CTL_INVALID "You cannot create or delete index while changing stream status";
    return NULL;
}

static const char *
update_table_custom(dyn_arena *a, const Dyne__V1__UpdateTableInput *in, const want *w)
{
    const Dyne__V1__ProvisionedThroughput *pt = in->provisionedthroughput;
    const char *m;

    if (!(w->pt || w->billing || w->gsi || w->stream || w->sse || w->tclass || w->dp || w->odt ||
          w->warm || in->n_replicaupdates > 0 || in->n_globaltablewitnessupdates > 0))
        /* DynamoDB leaves out of the list what the request did carry */
        return dyn_arena_printf(a,
                                "At least one of ProvisionedThroughput, BillingMode, "
                                "UpdateStreamEnabled, GlobalSecondaryIndexUpdates, "
                                "SSESpecification, ReplicaUpdates, MultiAccountReplicaReady, "
                                "ReplicaTransitRoleArn, %sDeletionProtectionEnabled, "
                                "OnDemandThroughput, WarmThroughput or TableClass is required",
                                in->multiregionconsistency != NULL ? ""
                                                                   : "MultiRegionConsistency, ");
    if (w->to_prov && !w->pt)
        return CTL_INVALID "ProvisionedThroughput must be specified when BillingMode is "
                           "PROVISIONED";
    if (w->to_ppr && w->pt)
        return CTL_INVALID "ProvisionedThroughput cannot be specified when BillingMode is "
                           "PAY_PER_REQUEST";
    if ((m = router_ctl_check_bounds(a, pt)) != NULL)
        return m;
    for (size_t i = 0; i < in->n_globalsecondaryindexupdates; i++) {
        const Dyne__V1__GlobalSecondaryIndexUpdate *u = in->globalsecondaryindexupdates[i];
        int actions = (u->update != NULL) + (u->create != NULL) + (u->delete_ != NULL);
        const char *name = gsi_update_name(u);
        if (actions == 0)
            return CTL_INVALID "One of GlobalSecondaryIndexUpdate.Update, "
                               "GlobalSecondaryIndexUpdate.Create, "
                               "GlobalSecondaryIndexUpdate.Delete must not be null";
        if (actions > 1)
            return CTL_INVALID "Only one global secondary index action is allowed per "
                               "GlobalSecondaryIndexUpdate object";
        for (size_t j = 0; j < i; j++)
            if (strcmp(gsi_update_name(in->globalsecondaryindexupdates[j]), name) == 0)
                return dyn_arena_printf(a,
                                        CTL_INVALID "Only one global secondary index update per "
                                                    "index is allowed simultaneously. Index: %s",
                                        name);
        if (u->update != NULL && u->update->warmthroughput != NULL &&
            !warm_present(u->update->warmthroughput))
            return dyn_arena_printf(a,
                                    CTL_INVALID "WarmThroughput must have at least one of "
                                                "ReadUnitsPerSecond or WriteUnitsPerSecond "
                                                "specified for index: %s",
                                    name);
        if (u->create != NULL &&
            (m = router_ctl_check_projection(a, u->create->projection)) != NULL)
            return m;
    }
    if ((m = check_combinations(w)) != NULL)
        return m;
    if (in->streamspecification != NULL) {
        const Dyne__V1__StreamSpecification *s = in->streamspecification;
        if (s->streamenabled && s->streamviewtype == NULL)
            return CTL_INVALID "If stream is being enabled then UpdateViewType is required";
        if (!s->streamenabled && s->streamviewtype != NULL)
            return CTL_INVALID "If stream is being disabled, then UpdateViewType must not be "
                               "specified";
    }
    if ((m = router_ctl_check_sse(in->ssespecification)) != NULL)
        return m;
    if (!router_ctl_table_class_ok(in->tableclass))
        return CTL_BAD_TABLE_CLASS;
    return NULL;
}

/* The quota checks a request carries on its own (LimitExceededException). */
static dyn_err
update_table_quotas(dyn_rpc_call *call, const router_opts *o, const Dyne__V1__UpdateTableInput *in,
                    const want *w)
{
    dyn_err rc;

    if (w->creates + w->deletes > 1)
        return dyn_rpc_call_fail(call, DYN_ELIMIT,
                                 "Subscriber limit exceeded: Only 1 online index can be created "
                                 "or deleted simultaneously per table");
    if ((rc = router_ctl_check_table_capacity(call, o, NULL, in->provisionedthroughput)) != DYN_OK)
        return rc;
    for (size_t i = 0; i < in->n_globalsecondaryindexupdates; i++) {
        const Dyne__V1__GlobalSecondaryIndexUpdate *u = in->globalsecondaryindexupdates[i];
        const Dyne__V1__ProvisionedThroughput *pt =
            u->update != NULL   ? u->update->provisionedthroughput
            : u->create != NULL ? u->create->provisionedthroughput
                                : NULL;
        if ((rc = router_ctl_check_table_capacity(call, o, gsi_update_name(u), pt)) != DYN_OK)
            return rc;
    }
    return router_ctl_check_on_demand(call, o, in->ondemandthroughput, false);
}

/* ---- the change, against the table as it is ---- */

/* One UpdateTable as it is applied to a loaded entry. */
typedef struct upd {
    dyn_rpc_call *call;
    dyn_arena *a;
    const Dyne__V1__UpdateTableInput *in;
    want w;
    Dyne__Internal__TableMeta *m;
    Dyne__V1__TableDescription *d;   /* changed in place into the new description */
    double now;
    bool changed;                    /* something to store */
    bool was_ppr, ppr;               /* billing before and after */
    /* what the answer shows as before the change, as DynamoDB's answer does */
    Dyne__V1__ProvisionedThroughputDescription old_pt;
    Dyne__V1__TableClassSummary *old_class;
    Dyne__V1__GlobalSecondaryIndexDescription *deleted;   /* shown DELETING in the answer */
    size_t deleted_at;
    int64_t rev;                     /* the entry's mod revision as loaded */
} upd;

static dyn_err
fail(upd *u, dyn_err rc, const char *msg)
{
    return dyn_rpc_call_fail(u->call, rc, "%s", msg);
}

static Dyne__V1__GlobalSecondaryIndexDescription *
find_gsi(const Dyne__V1__TableDescription *d, const char *name, size_t *at)
{
    for (size_t i = 0; i < d->n_globalsecondaryindexes; i++)
        if (strcmp(d->globalsecondaryindexes[i]->indexname, name) == 0) {
            if (at != NULL)
                *at = i;
            return d->globalsecondaryindexes[i];
        }
    return NULL;
}

static bool
is_lsi(const Dyne__V1__TableDescription *d, const char *name)
{
    for (size_t i = 0; i < d->n_localsecondaryindexes; i++)
        if (strcmp(d->localsecondaryindexes[i]->indexname, name) == 0)
            return true;
    return false;
}

/* The indexes the request names exist (Update, Delete) or do not (Create), and the count stays
 * within the quota. */
static dyn_err
resolve_indexes(upd *u)
{
    size_t n = u->d->n_globalsecondaryindexes;

    for (size_t i = 0; i < u->in->n_globalsecondaryindexupdates; i++) {
        const Dyne__V1__GlobalSecondaryIndexUpdate *g = u->in->globalsecondaryindexupdates[i];
        const char *name = gsi_update_name(g);
        if (g->create != NULL) {
            if (find_gsi(u->d, name, NULL) != NULL || is_lsi(u->d, name))
                return fail(u, DYN_EVALIDATION,
                            "Attempting to create an index which already exists");
            if (++n > CTL_GSI_MAX)
                return fail(u, DYN_ELIMIT,
                            "Subscriber limit exceeded: Number of global secondary indexes "
                            "exceeds per-table limit of 20");
            continue;
        }
        if (find_gsi(u->d, name, NULL) != NULL)
            continue;
        if (is_lsi(u->d, name))
            return dyn_rpc_call_fail(u->call, DYN_EVALIDATION,
                                     "Cannot %s an index that is not a GlobalSecondaryIndex: %s",
                                     g->update != NULL ? "update" : "delete", name);
        return dyn_rpc_call_fail(u->call, DYN_ENOTABLE,
                                 "Requested resource not found: Index %s for table %s", name,
                                 u->in->tablename);
    }
    return DYN_OK;
}

/* A throughput change of the table (index NULL) or of index `index`: DynamoDB's "will not change"
 * and the daily decrease budget, then the new units with the increase/decrease bookkeeping. */
static dyn_err
change_throughput(upd *u, const char *index, Dyne__V1__ProvisionedThroughputDescription *pt,
                  const Dyne__V1__ProvisionedThroughput *want)
{
    int64_t r = want->readcapacityunits, w = want->writecapacityunits;
    bool up = r > pt->readcapacityunits || w > pt->writecapacityunits;
    bool down = r < pt->readcapacityunits || w < pt->writecapacityunits;
    const char *what = index != NULL ? dyn_arena_printf(u->a, "index %s", index) : "table";

    if (!up && !down)
        return dyn_rpc_call_fail(
            u->call, DYN_EVALIDATION,
            "The provisioned throughput for the %s will not change. The requested value equals the "
            "current value. Current ReadCapacityUnits provisioned for the %s: %" PRId64
            ". Requested ReadCapacityUnits: %" PRId64 ". Current WriteCapacityUnits provisioned "
            "for the %s: %" PRId64 ". Requested WriteCapacityUnits: %" PRId64 ". " REFER_TO,
            what, index != NULL ? "index" : "table", pt->readcapacityunits, r,
            index != NULL ? "index" : "table", pt->writecapacityunits, w);
    if (down && pt->numberofdecreasestoday >= DECREASES_FREE && pt->has_lastdecreasedatetime &&
        u->now - pt->lastdecreasedatetime < DECREASE_GAP_S) {
        /* the next one: an hour after the last, or the new UTC day's fresh budget if sooner */
        double next = pt->lastdecreasedatetime + DECREASE_GAP_S;
        double midnight = router_ctl_utc_day(u->now) + 86400.0;
        return dyn_rpc_call_fail(
            u->call, DYN_ELIMIT,
            "Subscriber limit exceeded: Provisioned throughput decreases are limited within a "
            "given UTC day. After the first 4 decreases, each subsequent decrease in the same UTC "
            "day can be performed at most once every 3600 seconds. Number of decreases today: "
            "%" PRId64 ". Last decrease at %s. Next decrease can be made at %s",
            pt->numberofdecreasestoday, router_ctl_long_date(u->a, pt->lastdecreasedatetime),
            router_ctl_long_date(u->a, next < midnight ? next : midnight));
    }
    if (up) {
        pt->has_lastincreasedatetime = true;
        pt->lastincreasedatetime = u->now;
    }
    if (down) {
        pt->has_lastdecreasedatetime = true;
        pt->lastdecreasedatetime = u->now;
        pt->numberofdecreasestoday++;
    }
    pt->readcapacityunits = r;
    pt->writecapacityunits = w;
    return DYN_OK;
}

static void
raise_warm(int64_t *warm_r, int64_t *warm_w, int64_t r, int64_t w)
{
    if (r > *warm_r)
        *warm_r = r;
    if (w > *warm_w)
        *warm_w = w;
}

/* Billing mode and the table's provisioned throughput. */
static dyn_err
apply_billing(upd *u)
{
    Dyne__V1__TableDescription *d = u->d;
    const Dyne__V1__ProvisionedThroughput *pt = u->in->provisionedthroughput;
    Dyne__V1__TableWarmThroughputDescription *warm = d->warmthroughput;
    dyn_err rc;

    u->ppr = u->w.to_ppr || (u->was_ppr && !u->w.to_prov);
    if (pt != NULL && u->ppr)
        return fail(u, DYN_EVALIDATION,
                    CTL_INVALID "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified "
                                "when BillingMode is PAY_PER_REQUEST");
    if (u->w.to_ppr && !u->was_ppr) {
        Dyne__V1__BillingModeSummary *bm = dyn_arena_zalloc(u->a, sizeof *bm);
        if (bm == NULL)
            return DYN_ENOMEM;
        dyne__v1__billing_mode_summary__init(bm);
        bm->billingmode = "PAY_PER_REQUEST";
        bm->has_lastupdatetopayperrequestdatetime = true;
        bm->lastupdatetopayperrequestdatetime = u->now;
        d->billingmodesummary = bm;
        /* on-demand tables and their indexes show 0/0 and keep their increase/decrease history */
        d->provisionedthroughput->readcapacityunits = 0;
        d->provisionedthroughput->writecapacityunits = 0;
        for (size_t i = 0; i < d->n_globalsecondaryindexes; i++) {
            Dyne__V1__GlobalSecondaryIndexDescription *g = d->globalsecondaryindexes[i];
            g->provisionedthroughput->readcapacityunits = 0;
            g->provisionedthroughput->writecapacityunits = 0;
            if (g->warmthroughput != NULL)
                raise_warm(&g->warmthroughput->readunitspersecond,
                           &g->warmthroughput->writeunitspersecond, CTL_PPR_WARM_READ,
                           CTL_PPR_WARM_WRITE);
        }
        if (warm != NULL)
            raise_warm(&warm->readunitspersecond, &warm->writeunitspersecond, CTL_PPR_WARM_READ,
                       CTL_PPR_WARM_WRITE);
        u->changed = true;
    }
    if (pt == NULL)
        return DYN_OK;
    if (u->was_ppr) {
        /* PAY_PER_REQUEST -> PROVISIONED: the units as given, no increase recorded; every index
         * needs its own throughput in the same call, and on-demand maxima go */
        const char *missing = NULL;
        for (size_t i = 0; i < d->n_globalsecondaryindexes; i++) {
            const char *name = d->globalsecondaryindexes[i]->indexname;
            bool given = false;
            for (size_t j = 0; j < u->in->n_globalsecondaryindexupdates && !given; j++) {
                const Dyne__V1__GlobalSecondaryIndexUpdate *g =
                    u->in->globalsecondaryindexupdates[j];
                given = (g->update != NULL && g->update->provisionedthroughput != NULL &&
                         strcmp(g->update->indexname, name) == 0) ||
                        (g->delete_ != NULL && strcmp(g->delete_->indexname, name) == 0);
            }
            if (!given)
                missing = missing == NULL ? name : dyn_arena_printf(u->a, "%s,%s", missing, name);
        }
        if (missing != NULL)
            return dyn_rpc_call_fail(u->call, DYN_EVALIDATION,
                                     CTL_INVALID "ProvisionedThroughput must be specified for "
                                                 "index: %s",
                                     missing);
        d->billingmodesummary->billingmode = "PROVISIONED";
        d->provisionedthroughput->readcapacityunits = pt->readcapacityunits;
        d->provisionedthroughput->writecapacityunits = pt->writecapacityunits;
        d->ondemandthroughput = NULL;
        for (size_t i = 0; i < d->n_globalsecondaryindexes; i++)
            d->globalsecondaryindexes[i]->ondemandthroughput = NULL;
    } else if ((rc = change_throughput(u, NULL, d->provisionedthroughput, pt)) != DYN_OK) {
        return rc;
    }
    if (warm != NULL)
        raise_warm(&warm->readunitspersecond, &warm->writeunitspersecond, pt->readcapacityunits,
                   pt->writecapacityunits);
    u->changed = true;
    return DYN_OK;
}

/* Merges maxima into *cur (-1 removes one); the struct goes when both are gone. */
static dyn_err
merge_on_demand(upd *u, Dyne__V1__OnDemandThroughput **cur, const Dyne__V1__OnDemandThroughput *t)
{
    Dyne__V1__OnDemandThroughput *o = dyn_arena_zalloc(u->a, sizeof *o);

    if (o == NULL)
        return DYN_ENOMEM;
    dyne__v1__on_demand_throughput__init(o);
    if (*cur != NULL)
        *o = **cur;
    if (t->has_maxreadrequestunits) {
        o->has_maxreadrequestunits = t->maxreadrequestunits != -1;
        o->maxreadrequestunits = t->maxreadrequestunits;
    }
    if (t->has_maxwriterequestunits) {
        o->has_maxwriterequestunits = t->maxwriterequestunits != -1;
        o->maxwriterequestunits = t->maxwriterequestunits;
    }
    *cur = o->has_maxreadrequestunits || o->has_maxwriterequestunits ? o : NULL;
    u->changed = true;
    return DYN_OK;
}

/* Warm throughput only grows. */
static dyn_err
merge_warm(upd *u, const char *index, int64_t *cur_r, int64_t *cur_w,
           const Dyne__V1__WarmThroughput *t)
{
    const char *whose = index != NULL ? dyn_arena_printf(u->a, "index %s", index) : "table";

    for (int i = 0; i < 2; i++) {
        bool has = i == 0 ? t->has_readunitspersecond : t->has_writeunitspersecond;
        int64_t v = i == 0 ? t->readunitspersecond : t->writeunitspersecond;
        if (has && v < (i == 0 ? *cur_r : *cur_w))
            return dyn_rpc_call_fail(u->call, DYN_EVALIDATION,
                                     CTL_INVALID "Requested %s for WarmThroughput for %s is lower "
                                                 "than current WarmThroughput, decreasing "
                                                 "WarmThroughput is not supported",
                                     i == 0 ? "ReadUnitsPerSecond" : "WriteUnitsPerSecond", whose);
    }
    if (t->has_readunitspersecond)
        *cur_r = t->readunitspersecond;
    if (t->has_writeunitspersecond)
        *cur_w = t->writeunitspersecond;
    u->changed = true;
    return DYN_OK;
}

static dyn_err
update_index(upd *u, const Dyne__V1__UpdateGlobalSecondaryIndexAction *x)
{
    Dyne__V1__GlobalSecondaryIndexDescription *g = find_gsi(u->d, x->indexname, NULL);
    const Dyne__V1__ProvisionedThroughput *pt = x->provisionedthroughput;
    dyn_err rc;

    if (u->ppr && pt != NULL)
        return dyn_rpc_call_fail(u->call, DYN_EVALIDATION,
                                 CTL_INVALID "Neither ReadCapacityUnits nor WriteCapacityUnits can "
                                             "be specified for index: %s when BillingMode is "
                                             "PAY_PER_REQUEST",
                                 x->indexname);
    if (u->ppr && !odt_present(x->ondemandthroughput) && !warm_present(x->warmthroughput))
        return dyn_rpc_call_fail(u->call, DYN_EVALIDATION,
                                 CTL_INVALID "The only Updates for index: %s when "
                                             "TableThroughputMode is PAY_PER_REQUEST can be to "
                                             "OnDemandThroughput, WarmThroughput",
                                 x->indexname);
    if (!u->ppr && odt_present(x->ondemandthroughput))
        return dyn_rpc_call_fail(u->call, DYN_EVALIDATION,
                                 CTL_INVALID "MaxReadRequestUnits for OnDemandThroughput for index "
                                             ": %s cannot be specified when the table BillingMode "
                                             "is PROVISIONED",
                                 x->indexname);
    if (!u->ppr && pt == NULL && !warm_present(x->warmthroughput))
        return dyn_rpc_call_fail(u->call, DYN_EVALIDATION,
                                 CTL_INVALID "ProvisionedThroughput must be specified for "
                                             "index: %s",
                                 x->indexname);
    if (pt != NULL) {
        if (u->was_ppr) {   /* switching to PROVISIONED: the index's units as given */
            g->provisionedthroughput->readcapacityunits = pt->readcapacityunits;
            g->provisionedthroughput->writecapacityunits = pt->writecapacityunits;
        } else if ((rc = change_throughput(u, x->indexname, g->provisionedthroughput, pt)) !=
                   DYN_OK) {
            return rc;
        }
        if (g->warmthroughput != NULL)
            raise_warm(&g->warmthroughput->readunitspersecond,
                       &g->warmthroughput->writeunitspersecond, pt->readcapacityunits,
                       pt->writecapacityunits);
        u->changed = true;
    }
    if (odt_present(x->ondemandthroughput) &&
        (rc = merge_on_demand(u, &g->ondemandthroughput, x->ondemandthroughput)) != DYN_OK)
        return rc;
    if (warm_present(x->warmthroughput) && g->warmthroughput != NULL &&
        (rc = merge_warm(u, x->indexname, &g->warmthroughput->readunitspersecond,
                         &g->warmthroughput->writeunitspersecond, x->warmthroughput)) != DYN_OK)
        return rc;
    return DYN_OK;
}

/* The table's attribute definitions plus the request's for the new index's keys. */
static dyn_err
add_definitions(upd *u, const Dyne__V1__CreateGlobalSecondaryIndexAction *x)
{
    Dyne__V1__TableDescription *d = u->d;

    for (size_t i = 0; i < x->n_keyschema; i++) {
        const char *name = x->keyschema[i]->attributename;
        if (router_ctl_defined(d->attributedefinitions, d->n_attributedefinitions, name))
            continue;   /* the table's type stands */
        for (size_t j = 0; j < u->in->n_attributedefinitions; j++) {
            if (strcmp(u->in->attributedefinitions[j]->attributename, name) != 0)
                continue;
            Dyne__V1__AttributeDefinition **defs = router_ctl_grow(
                u->a, d->attributedefinitions, d->n_attributedefinitions, sizeof *defs);
            if (defs == NULL)
                return DYN_ENOMEM;
            defs[d->n_attributedefinitions++] = u->in->attributedefinitions[j];
            d->attributedefinitions = defs;
            break;
        }
    }
    return DYN_OK;
}

static dyn_err
create_index(upd *u, const Dyne__V1__CreateGlobalSecondaryIndexAction *x)
{
    Dyne__V1__TableDescription *d = u->d;
    Dyne__V1__GlobalSecondaryIndexDescription *g, **gs;
    const char *m;
    dyn_err rc;

    if (u->in->n_attributedefinitions == 0)
        return dyn_rpc_call_fail(u->call, DYN_EVALIDATION,
                                 CTL_INVALID "AttributeDefinitions is not specified for index: %s",
                                 x->indexname);
    if ((m = router_ctl_check_keys(u->a, u->in->attributedefinitions,
                                   u->in->n_attributedefinitions, x->keyschema,
                                   x->n_keyschema)) != NULL)
        return fail(u, DYN_EVALIDATION, m);
    if (!u->ppr && x->provisionedthroughput == NULL)
        return dyn_rpc_call_fail(u->call, DYN_EVALIDATION,
                                 CTL_INVALID "ProvisionedThroughput must be specified for "
                                             "index: %s",
                                 x->indexname);
    if (u->ppr && x->provisionedthroughput != NULL)
        return dyn_rpc_call_fail(u->call, DYN_EVALIDATION,
                                 CTL_INVALID "Neither ReadCapacityUnits nor WriteCapacityUnits can "
                                             "be specified for index: %s when BillingMode is "
                                             "PAY_PER_REQUEST",
                                 x->indexname);
    if ((rc = add_definitions(u, x)) != DYN_OK)
        return rc;
    g = router_ctl_gsi_desc(u->a, d->tablearn, x->indexname, x->keyschema, x->n_keyschema,
                            x->projection, x->provisionedthroughput, x->ondemandthroughput,
                            x->warmthroughput, u->ppr);
    gs = router_ctl_grow(u->a, d->globalsecondaryindexes, d->n_globalsecondaryindexes, sizeof *gs);
    if (g == NULL || gs == NULL)
        return DYN_ENOMEM;
    /* an index added to a live table backfills; UpdateTable answers before it starts (the
     * resource allocation phase), DescribeTable shows the GsiMeta's flag from then on */
    g->has_backfilling = true;
    g->backfilling = false;
    gs[d->n_globalsecondaryindexes++] = g;
    d->globalsecondaryindexes = gs;
    /* the revision loaded is below any later change's, so the index id is new */
    Dyne__Internal__GsiMeta *gm = router_ctl_gsi_meta(
        u->a, u->m->table_id ? u->m->table_id : "t", x->indexname, x->keyschema, x->n_keyschema,
        d->attributedefinitions, d->n_attributedefinitions, x->projection, true, 100 + u->rev,
        u->now);
    if (gm == NULL || router_ctl_gsi_add(u->a, u->m, gm) != DYN_OK)
        return DYN_ENOMEM;
    u->changed = true;
    return DYN_OK;
}

static bool
in_key(Dyne__V1__KeySchemaElement *const *ks, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(ks[i]->attributename, name) == 0)
            return true;
    return false;
}

/* Whether any key of the table or of its indexes uses attribute name. */
static bool
key_used(const Dyne__V1__TableDescription *d, const char *name)
{
    bool used = in_key(d->keyschema, d->n_keyschema, name);

    for (size_t i = 0; !used && i < d->n_localsecondaryindexes; i++)
        used = in_key(d->localsecondaryindexes[i]->keyschema,
                      d->localsecondaryindexes[i]->n_keyschema, name);
    for (size_t i = 0; !used && i < d->n_globalsecondaryindexes; i++)
        used = in_key(d->globalsecondaryindexes[i]->keyschema,
                      d->globalsecondaryindexes[i]->n_keyschema, name);
    return used;
}

static void
delete_index(upd *u, const char *name)
{
    Dyne__V1__TableDescription *d = u->d;
    Dyne__Internal__GsiMeta *gm = router_ctl_gsi_find(u->m, name);
    size_t at = 0, k = 0;

    /* the controller drops the index's partitions, then removes its GsiMeta */
    if (gm != NULL)
        gm->status = "DELETING";
    u->deleted = find_gsi(d, name, &at);
    u->deleted_at = at;
    memmove(&d->globalsecondaryindexes[at], &d->globalsecondaryindexes[at + 1],
            (d->n_globalsecondaryindexes - at - 1) * sizeof *d->globalsecondaryindexes);
    d->n_globalsecondaryindexes--;
    /* DynamoDB drops the definitions only the deleted index used */
    for (size_t i = 0; i < d->n_attributedefinitions; i++)
        if (key_used(d, d->attributedefinitions[i]->attributename))
            d->attributedefinitions[k++] = d->attributedefinitions[i];
    d->n_attributedefinitions = k;
    u->changed = true;
}

static dyn_err
apply_indexes(upd *u)
{
    dyn_err rc = DYN_OK;

    for (size_t i = 0; i < u->in->n_globalsecondaryindexupdates && rc == DYN_OK; i++) {
        const Dyne__V1__GlobalSecondaryIndexUpdate *g = u->in->globalsecondaryindexupdates[i];
        if (g->update != NULL)
            rc = update_index(u, g->update);
        else if (g->create != NULL)
            rc = create_index(u, g->create);
        else
            delete_index(u, g->delete_->indexname);
    }
    return rc;
}

static dyn_err
apply_stream(upd *u)
{
    Dyne__V1__StreamSpecification *s = u->in->streamspecification;
    Dyne__V1__TableDescription *d = u->d;
    bool on = d->streamspecification != NULL && d->streamspecification->streamenabled;

    if (s->streamenabled && on)
        return dyn_rpc_call_fail(u->call, DYN_EVALIDATION,
                                 "Table already has an enabled stream: TableName: %s",
                                 d->tablename);
    if (!s->streamenabled && !on)
        return dyn_rpc_call_fail(u->call, DYN_EVALIDATION,
                                 "Table has no stream to disable: TableName: %s", d->tablename);
    if (s->streamenabled)
        router_ctl_stream_on(u->a, d, s, u->now);   /* a new stream: a new label and ARN */
    else
        d->streamspecification = NULL;   /* the last stream's label and ARN stay described */
    u->changed = true;
    return DYN_OK;
}

static dyn_err
apply_sse(upd *u, const router_opts *o)
{
    const Dyne__V1__SSESpecification *s = u->in->ssespecification;
    Dyne__V1__SSEDescription *cur = u->d->ssedescription, *next = router_ctl_sse_desc(u->a, o, s);

    if (next == NULL && cur == NULL)
        return fail(u, DYN_EVALIDATION, CTL_INVALID "Table is already encrypted by default");
    if (next != NULL && cur != NULL && s->kmsmasterkeyid != NULL &&
        strcmp(next->kmsmasterkeyarn, cur->kmsmasterkeyarn) == 0)
        return fail(u, DYN_EVALIDATION,
                    CTL_INVALID "Table is already encrypted with given KMSMasterKeyId. Use "
                                "KMSMasterKeyId parameter if you want to change Master Key");
    u->d->ssedescription = next;
    u->changed = true;
    return DYN_OK;
}

static dyn_err
apply_table_class(upd *u)
{
    Dyne__Internal__TableMeta *m = u->m;
    Dyne__V1__TableClassSummary *cur = u->d->tableclasssummary, *tc;
    const char *now_class = cur != NULL && cur->tableclass != NULL ? cur->tableclass : "STANDARD";
    size_t recent = 0, k = 0;

    for (size_t i = 0; i < m->n_table_class_changes; i++)
        if (u->now - m->table_class_changes[i] < CLASS_WINDOW_S)
            m->table_class_changes[k++] = m->table_class_changes[i];   /* forget older ones */
    m->n_table_class_changes = recent = k;
    /* once the budget is spent even a re-send of the current class is refused */
    if (recent >= CLASS_CHANGES && (cur != NULL || strcmp(u->in->tableclass, "STANDARD") != 0))
        return fail(u, DYN_ELIMIT,
                    "Subscriber limit exceeded: Updates to TableClass are limited to 2 times in 30 "
                    "day(s).");
    if (strcmp(now_class, u->in->tableclass) == 0)
        return DYN_OK;   /* a no-op; a never-set STANDARD stays unset */
    if ((tc = dyn_arena_zalloc(u->a, sizeof *tc)) == NULL)
        return DYN_ENOMEM;
    double *times = router_ctl_grow(u->a, m->table_class_changes, m->n_table_class_changes,
                                    sizeof *times);
    if (times == NULL)
        return DYN_ENOMEM;
    times[m->n_table_class_changes++] = u->now;
    m->table_class_changes = times;
    dyne__v1__table_class_summary__init(tc);
    tc->tableclass = u->in->tableclass;
    tc->has_lastupdatedatetime = true;
    tc->lastupdatedatetime = u->now;
    u->d->tableclasssummary = tc;
    u->changed = true;
    return DYN_OK;
}

static dyn_err
apply_deletion_protection(upd *u)
{
    Dyne__Internal__TableMeta *m = u->m;

    if (m->has_deletion_protection_changed_at &&
        u->now - m->deletion_protection_changed_at < DP_COOLDOWN_S)
        return dyn_rpc_call_fail(u->call, DYN_ETHROTTLED,
                                 "Deletion protection setting for table %s modified within the "
                                 "previous 15000 milliseconds. Please try again after %s",
                                 m->table_name,
                                 router_ctl_iso_ms(u->a, m->deletion_protection_changed_at +
                                                             DP_COOLDOWN_S));
    if (u->d->deletionprotectionenabled == u->in->deletionprotectionenabled)
        return DYN_OK;
    u->d->has_deletionprotectionenabled = true;
    u->d->deletionprotectionenabled = u->in->deletionprotectionenabled;
    m->has_deletion_protection_changed_at = true;
    m->deletion_protection_changed_at = u->now;
    u->changed = true;
    return DYN_OK;
}

static dyn_err
apply_table_on_demand(upd *u)
{
    const Dyne__V1__OnDemandThroughput *t = u->in->ondemandthroughput;

    if (!u->ppr)
        return dyn_rpc_call_fail(u->call, DYN_EVALIDATION,
                                 CTL_INVALID "%s for OnDemandThroughput cannot be specified when "
                                             "the table BillingMode is PROVISIONED",
                                 t->has_maxreadrequestunits ? "MaxReadRequestUnits"
                                                            : "MaxWriteRequestUnits");
    return merge_on_demand(u, &u->d->ondemandthroughput, t);
}

/* Provisioned capacity the account must still have room for after the change. */
static dyn_err
check_account(router *r, upd *u, int64_t old_r, int64_t old_w)
{
    router_ctl_account acct;
    int64_t rcu, wcu;
    dyn_err rc;

    router_ctl_capacity(u->d, &rcu, &wcu);
    if (rcu <= old_r && wcu <= old_w)
        return DYN_OK;   /* nothing grows */
    if ((rc = router_ctl_account_scan(r, u->a, u->d->tablename, &acct)) != DYN_OK)
        return rc;
    return router_ctl_check_account_capacity(u->call, router_options(r), &acct, rcu, wcu);
}

static dyn_err
apply_update(router *r, upd *u)
{
    const want *w = &u->w;
    int64_t old_r, old_w;
    dyn_err rc;

    if (u->d->provisionedthroughput == NULL &&
        (u->d->provisionedthroughput = router_ctl_pt_desc(u->a, 0, 0)) == NULL)
        return DYN_ENOMEM;
    router_ctl_capacity(u->d, &old_r, &old_w);
    u->was_ppr = router_ctl_is_ppr(u->d);
    u->old_pt = *u->d->provisionedthroughput;
    u->old_class = u->d->tableclasssummary;
    if ((rc = resolve_indexes(u)) != DYN_OK || (rc = apply_billing(u)) != DYN_OK ||
        (rc = apply_indexes(u)) != DYN_OK)
        return rc;
    if (w->stream && (rc = apply_stream(u)) != DYN_OK)
        return rc;
    if (w->sse && (rc = apply_sse(u, router_options(r))) != DYN_OK)
        return rc;
    if (w->tclass && (rc = apply_table_class(u)) != DYN_OK)
        return rc;
    if (w->dp && (rc = apply_deletion_protection(u)) != DYN_OK)
        return rc;
    if (w->odt && (rc = apply_table_on_demand(u)) != DYN_OK)
        return rc;
    if (w->warm && u->d->warmthroughput != NULL &&
        (rc = merge_warm(u, NULL, &u->d->warmthroughput->readunitspersecond,
                         &u->d->warmthroughput->writeunitspersecond, u->in->warmthroughput)) !=
            DYN_OK)
        return rc;
    return check_account(r, u, old_r, old_w);
}

/* The changes DynamoDB makes in the background, the table UPDATING meanwhile. */
static bool
async_change(const want *w)
{
    return w->pt || w->billing || w->stream || w->tclass || w->creates + w->deletes > 0;
}

/* UpdateTable's answer, as DynamoDB gives it: for the changes it makes asynchronously the table
 * is UPDATING, the throughput and table class still the old ones (with the new dates), a
 * deleted index DELETING; DeletionProtection, SSE, on-demand and warm changes answer ACTIVE. */
static Dyne__V1__TableDescription *
answer(upd *u)
{
    const want *w = &u->w;
    dyn_arena *a = u->a;
    Dyne__V1__TableDescription *d = dyn_arena_memdup(a, u->d, sizeof *u->d);
    Dyne__V1__ProvisionedThroughputDescription *pt;

    if (d == NULL)
        return NULL;
    if (!async_change(w))
        return d;
    d->tablestatus = "UPDATING";
    if (w->pt && (pt = dyn_arena_memdup(a, d->provisionedthroughput, sizeof *pt)) != NULL) {
        pt->readcapacityunits = u->old_pt.readcapacityunits;
        pt->writecapacityunits = u->old_pt.writecapacityunits;
        pt->numberofdecreasestoday = u->old_pt.numberofdecreasestoday;
        d->provisionedthroughput = pt;
    }
    if (w->tclass)
        d->tableclasssummary = u->old_class;
    if (u->deleted != NULL) {
        Dyne__V1__GlobalSecondaryIndexDescription *g = dyn_arena_memdup(a, u->deleted, sizeof *g);
        Dyne__V1__GlobalSecondaryIndexDescription **gs =
            dyn_arena_alloc(a, (d->n_globalsecondaryindexes + 1) * sizeof *gs);
        if (g == NULL || gs == NULL)
            return NULL;
        g->indexstatus = "DELETING";
        memcpy(gs, d->globalsecondaryindexes, u->deleted_at * sizeof *gs);
        gs[u->deleted_at] = g;
        memcpy(gs + u->deleted_at + 1, d->globalsecondaryindexes + u->deleted_at,
               (d->n_globalsecondaryindexes - u->deleted_at) * sizeof *gs);
        d->globalsecondaryindexes = gs;
        d->n_globalsecondaryindexes++;
    }
    return d;
}

/* The index a GSI Delete of this request names; NULL if none. */
static const char *
deleted_index(const Dyne__V1__UpdateTableInput *in)
{
    for (size_t i = 0; i < in->n_globalsecondaryindexupdates; i++)
        if (in->globalsecondaryindexupdates[i]->delete_ != NULL)
            return in->globalsecondaryindexupdates[i]->delete_->indexname;
    return NULL;
}

static void
update_table_job(router *r, dyn_rpc_call *call, const ProtobufCMessage *req)
{
    const Dyne__V1__UpdateTableInput *in = (const void *)req;
    dyn_arena *a = dyn_rpc_call_arena(call);
    Dyne__V1__UpdateTableOutput *out = NULL;
    const char *busy;
    int64_t rev;
    dyn_err rc = DYN_ECONDFAIL;
    upd u;

    for (int attempt = 0; attempt < CTL_CAS_TRIES && rc == DYN_ECONDFAIL; attempt++) {
        memset(&u, 0, sizeof u);
        u.call = call;
        u.a = a;
        u.in = in;
        want_of(in, &u.w);
        if ((rc = router_ctl_load(r, call, in->tablename, &u.m, &rev, &u.d)) != DYN_OK)
            goto out;
        u.rev = rev;
        if ((busy = router_ctl_in_use(a, u.m)) != NULL) {
            rc = dyn_rpc_call_fail(call, DYN_EINUSE, "%s", busy);
            goto out;
        }
        /* decided on the entry as loaded, refused after the request's own checks */
        bool gsi_busy = router_ctl_gsi_busy(u.m, deleted_index(in));
        u.now = router_ctl_now();
        router_ctl_describe(u.m, u.d, u.now);
        if ((rc = apply_update(r, &u)) != DYN_OK)
            goto out;
        /* one online index change at a time per table, across calls too */
        if (u.w.creates + u.w.deletes > 0 && gsi_busy) {
            rc = dyn_rpc_call_fail(call, DYN_ELIMIT,
                                   "Subscriber limit exceeded: Only 1 online index can be "
                                   "created or deleted simultaneously per table");
            goto out;
        }
        /* the changes DynamoDB makes asynchronously leave the table UPDATING until the
         * controller's next pass makes it ACTIVE */
        if (u.changed && async_change(&u.w))
            u.m->status = "UPDATING";
        /* changed meanwhile: load again and decide again */
        rc = u.changed ? router_ctl_store(r, a, u.m, u.d, rev) : DYN_OK;
    }
    if (rc == DYN_ECONDFAIL)
        rc = dyn_rpc_call_fail(call, DYN_EINUSE, "%s", router_ctl_raced(a, in->tablename));
    if (rc != DYN_OK)
        goto out;
    if (u.changed)
        dyn_log(DYN_LOG_INFO, "ROUTER-TABLE-UPDATE", "table=%s id=%s", in->tablename,
                u.m->table_id ? u.m->table_id : "");
    router_ctl_fill_stats(r, a, u.m, u.d);
    if ((out = dyn_arena_alloc(a, sizeof *out)) == NULL) {
        rc = DYN_ENOMEM;
        goto out;
    }
    dyne__v1__update_table_output__init(out);
    if ((out->tabledescription = answer(&u)) == NULL)
        rc = DYN_ENOMEM;
out:
    dyn_rpc_call_finish(call, rc, rc == DYN_OK ? &out->base : NULL, NULL);
}

dyn_err
router_update_table(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp,
                    void *ctx)
{
    const Dyne__V1__UpdateTableInput *in = (const void *)m;
    dyn_arena *a = dyn_rpc_call_arena(call);
    const char *msg;
    dyn_err rc;
    want w;
    vc v;

    (void)resp;
    vc_init(&v, a);
    vc_update(&v, a, in);
    if ((msg = vc_message(&v)) != NULL)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "%s", msg);
    want_of(in, &w);
    if ((msg = update_table_custom(a, in, &w)) != NULL)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "%s", msg);
    /* global tables come with their issue */
    if (in->n_replicaupdates > 0 || in->n_globaltablewitnessupdates > 0 ||
        in->multiregionconsistency != NULL || in->globaltablesettingsreplicationmode != NULL)
        return dyn_rpc_call_fail(call, DYN_EUNIMPLEMENTED,
                                 "UpdateTable %s is not implemented yet",
                                 in->n_replicaupdates > 0              ? "ReplicaUpdates"
                                 : in->n_globaltablewitnessupdates > 0 ? "GlobalTableWitnessUpdates"
                                 : in->multiregionconsistency != NULL  ? "MultiRegionConsistency"
                                         : "GlobalTableSettingsReplicationMode");
    if ((rc = update_table_quotas(call, router_options(ctx), in, &w)) != DYN_OK)
        return rc;
    return router_admin_submit(ctx, call, m, update_table_job);
}
