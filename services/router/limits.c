/* services/router -- the account's quotas: DescribeLimits and DescribeEndpoints, the provisioned
 * capacity caps per table, per index and per account, OnDemandThroughput maxima, and the account
 * scan CreateTable and UpdateTable check the table count and the capacity against. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "services/router/control.h"

#define REFER_TO                                                                                 \
    "Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher " \
    "limits."

/* Written once by main before the router starts, read-only afterwards. */
static router_limits g_limits = {
    .endpoint = "localhost:8000",
    .max_tables = 2500,
    .max_table_ops = 500,
    .table_max_capacity = 40000,
    .account_max_capacity = 80000,
};
static char g_endpoint[256];

void
router_limits_set(const router_limits *l)
{
    if (l->endpoint != NULL && l->endpoint[0] != '\0') {
        snprintf(g_endpoint, sizeof g_endpoint, "%s", l->endpoint);
        g_limits.endpoint = g_endpoint;
    }
    if (l->max_tables > 0)
        g_limits.max_tables = l->max_tables;
    if (l->max_table_ops > 0)
        g_limits.max_table_ops = l->max_table_ops;
    if (l->table_max_capacity > 0)
        g_limits.table_max_capacity = l->table_max_capacity;
    if (l->account_max_capacity > 0)
        g_limits.account_max_capacity = l->account_max_capacity;
}

const router_limits *
router_limits_get(void)
{
    return &g_limits;
}


dyn_err
router_ctl_check_table_capacity(dyn_rpc_call *call, const router_opts *o, const char *index,
                                const Dyne__V1__ProvisionedThroughput *pt)
{
    int64_t cap = g_limits.table_max_capacity;

    for (int i = 0; pt != NULL && i < 2; i++) {
        const char *what = i == 0 ? "ReadCapacityUnits" : "WriteCapacityUnits";
        int64_t v = i == 0 ? pt->readcapacityunits : pt->writecapacityunits;
        if (v <= cap)
            continue;
        if (index != NULL)
            return dyn_rpc_call_fail(call, DYN_ELIMIT,
                                     "The requested %s for index %s, %" PRId64 ", is above the "
                                     "per index maximum for the account in %s. Per index "
                                     "maximum: %" PRId64 ". " REFER_TO,
                                     what, index, v, o->region, cap);
        return dyn_rpc_call_fail(call, DYN_ELIMIT,
                                 "The requested %s, %" PRId64 ", is above the per table maximum "
                                 "for the account in %s. Per table maximum: %" PRId64 ". " REFER_TO,
                                 what, v, o->region, cap);
    }
    return DYN_OK;
}

dyn_err
router_ctl_check_on_demand(dyn_rpc_call *call, const router_opts *o,
                           const Dyne__V1__OnDemandThroughput *t, bool create)
{
    if (t == NULL)
        return DYN_OK;
    for (int i = 0; i < 2; i++) {
        const char *what = i == 0 ? "MaxReadRequestUnits" : "MaxWriteRequestUnits";
        bool has = i == 0 ? t->has_maxreadrequestunits : t->has_maxwriterequestunits;
        int64_t v = i == 0 ? t->maxreadrequestunits : t->maxwriterequestunits;
        /* -1 removes a maximum, which only UpdateTable can do */
        if (has && v < 1 && (create || v != -1))
            return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                     CTL_INVALID "Requested %s for OnDemandThroughput for table is "
                                                 "outside of valid range",
                                     what);
    }
    for (int i = 0; i < 2; i++) {
        bool has = i == 0 ? t->has_maxreadrequestunits : t->has_maxwriterequestunits;
        int64_t v = i == 0 ? t->maxreadrequestunits : t->maxwriterequestunits;
        if (has && v > g_limits.table_max_capacity)
            return dyn_rpc_call_fail(call, DYN_ELIMIT,
                                     "Subscriber limit exceeded: Requested %s for "
                                     "OnDemandThroughput for table exceeds Table%s of the "
                                     "account in region %s",
                                     i == 0 ? "MaxReadRequestUnits" : "MaxWriteRequestUnits",
                                     i == 0 ? "MaxReadCapacityUnits" : "MaxWriteCapacityUnits",
                                     o->region);
    }
    return DYN_OK;
}

void
router_ctl_capacity(const Dyne__V1__TableDescription *d, int64_t *rcu, int64_t *wcu)
{
    *rcu = *wcu = 0;
    if (router_ctl_is_ppr(d))
        return;   /* on-demand tables and their indexes reserve nothing */
    if (d->provisionedthroughput != NULL) {
        *rcu += d->provisionedthroughput->readcapacityunits;
        *wcu += d->provisionedthroughput->writecapacityunits;
    }
    for (size_t i = 0; i < d->n_globalsecondaryindexes; i++) {
        const Dyne__V1__ProvisionedThroughputDescription *pt =
            d->globalsecondaryindexes[i]->provisionedthroughput;
        if (pt != NULL) {
            *rcu += pt->readcapacityunits;
            *wcu += pt->writecapacityunits;
        }
    }
}

dyn_err
router_ctl_account_scan(router *r, dyn_arena *a, const char *except, router_ctl_account *acct)
{
    ProtobufCAllocator al = dyn_arena_pb_allocator(a);
    dyn_meta_kv *kvs = NULL;
    size_t n = 0;
    dyn_err rc;

    memset(acct, 0, sizeof *acct);
    /* the catalog is bounded by the table quota: one listing, no pages */
    if ((rc = dyn_meta_range(router_meta(r), CTL_TABLES_PREFIX, 0, a, &kvs, &n, NULL, NULL)) !=
        DYN_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        Dyne__Internal__TableMeta *m =
            dyne__internal__table_meta__unpack(&al, kvs[i].val_len, kvs[i].val);
        Dyne__V1__TableDescription *d = NULL;
        int64_t rcu, wcu;
        if (m == NULL || m->table_name == NULL)
            continue;
        acct->tables++;
        if (m->status == NULL || strcmp(m->status, "ACTIVE") != 0)
            acct->in_flight++;
        if (except != NULL && strcmp(m->table_name, except) == 0)
            continue;
        if (m->has_description)
            d = dyne__v1__table_description__unpack(&al, m->description.len, m->description.data);
        if (d == NULL)
            continue;
        router_ctl_capacity(d, &rcu, &wcu);
        acct->rcu += rcu;
        acct->wcu += wcu;
    }
    return DYN_OK;
}

dyn_err
router_ctl_check_account_capacity(dyn_rpc_call *call, const router_opts *o,
                                  const router_ctl_account *acct, int64_t rcu, int64_t wcu)
{
    int64_t cap = g_limits.account_max_capacity;

    for (int i = 0; i < 2; i++) {
        int64_t have = i == 0 ? acct->rcu : acct->wcu, want = i == 0 ? rcu : wcu;
        const char *what = i == 0 ? "ReadCapacityUnits" : "WriteCapacityUnits";
        if (want > 0 && have + want > cap)
            return dyn_rpc_call_fail(call, DYN_ELIMIT,
                                     "This request would have caused the %s limit to be exceeded "
                                     "for the account in %s. Current %s reserved by the account: "
                                     "%" PRId64 ". Limit: %" PRId64 ". Requested: %" PRId64
                                     ". " REFER_TO,
                                     what, o->region, what, have, cap, want);
    }
    return DYN_OK;
}

/* ---- DescribeLimits, DescribeEndpoints ---- */

dyn_err
router_describe_limits(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp,
                       void *ctx)
{
    Dyne__V1__DescribeLimitsOutput *out =
        dyn_arena_alloc(dyn_rpc_call_arena(call), sizeof *out);
    const router_limits *l = &g_limits;

    (void)m;
    (void)ctx;
    if (out == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    dyne__v1__describe_limits_output__init(out);
    out->has_accountmaxreadcapacityunits = out->has_accountmaxwritecapacityunits = true;
    out->has_tablemaxreadcapacityunits = out->has_tablemaxwritecapacityunits = true;
    out->accountmaxreadcapacityunits = out->accountmaxwritecapacityunits = l->account_max_capacity;
    out->tablemaxreadcapacityunits = out->tablemaxwritecapacityunits = l->table_max_capacity;
    *resp = &out->base;
    return DYN_OK;
}

dyn_err
router_describe_endpoints(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp,
                          void *ctx)
{
    dyn_arena *a = dyn_rpc_call_arena(call);
    Dyne__V1__DescribeEndpointsOutput *out = dyn_arena_alloc(a, sizeof *out);
    Dyne__V1__Endpoint *e = dyn_arena_alloc(a, sizeof *e);
    Dyne__V1__Endpoint **list = dyn_arena_alloc(a, sizeof *list);

    (void)m;
    (void)ctx;
    if (out == NULL || e == NULL || list == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    dyne__v1__describe_endpoints_output__init(out);
    dyne__v1__endpoint__init(e);
    /* the router's own DynamoDB endpoint, cached for a day as DynamoDB advises */
    e->address = (char *)g_limits.endpoint;
    e->has_cacheperiodinminutes = true;
    e->cacheperiodinminutes = 1440;
    list[0] = e;
    out->n_endpoints = 1;
    out->endpoints = list;
    *resp = &out->base;
    return DYN_OK;
}
