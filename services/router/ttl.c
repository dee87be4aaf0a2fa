/* services/router -- UpdateTimeToLive and DescribeTimeToLive. The table's TTL setting lives in
 * its catalog entry; every partition's storage node is told the attribute (SetPartitionTtl) so
 * its writes keep the expiry index the TTL reaper reads. DynamoDB's ENABLING/DISABLING states
 * are skipped: the change is complete when the call answers. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "libs/log/log.h"
#include "proto/dyne/internal/catalog.pb-c.h"
#include "proto/dyne/internal/storage.pb-c.h"
#include "proto/dyne/v1/dynamodb.pb-c.h"
#include "services/router/router.h"
#include "services/router/validate.h"

#define TTL_COOLDOWN_S 3600.0   /* DynamoDB: one change per hour, counted after a change */
#define TTL_CAS_TRIES 5

static double
ttl_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool
ttl_on(const Dyne__Internal__TableMeta *m)
{
    return m->has_ttl_enabled && m->ttl_enabled && m->ttl_attribute != NULL;
}

/* Tells every partition of m its TTL attribute ("" = off). */
static dyn_err
partitions_set_ttl(router *r, dyn_arena *a, const Dyne__Internal__TableMeta *m, const char *attr)
{
    dyn_err rc = DYN_OK;

    for (size_t i = 0; i < m->n_partitions; i++) {
        Dyne__Internal__SetPartitionTtlRequest q = DYNE__INTERNAL__SET_PARTITION_TTL_REQUEST__INIT;
        ProtobufCMessage *resp;
        const char *err = NULL;
        q.partition_id = m->partitions[i]->partition_id;
        q.attribute_name = (char *)attr;
        rc = dyn_rpc_client_call(router_storage(r, m->partitions[i]->node_addr),
                                 "/dyne.internal.Storage/SetPartitionTtl", &q.base,
                                 &dyne__internal__set_partition_ttl_response__descriptor,
                                 router_storage_deadline(r), a, &resp, &err);
        if (rc != DYN_OK) {
            dyn_log(DYN_LOG_WARN, "ROUTER-TTL-PARTITION", "table=%s partition=%s err=%s msg=%s",
                    m->table_name, q.partition_id, dyn_err_name(rc), err ? err : "");
            return rc;
        }
    }
    return rc;
}

static void
update_ttl_job(router *r, dyn_rpc_call *call, const ProtobufCMessage *req)
{
    const Dyne__V1__UpdateTimeToLiveInput *in = (const void *)req;
    const Dyne__V1__TimeToLiveSpecification *spec = in->timetolivespecification;
    dyn_arena *a = dyn_rpc_call_arena(call);
    Dyne__V1__UpdateTimeToLiveOutput *out = NULL;
    Dyne__Internal__TableMeta *m;
    int64_t rev;
    dyn_err rc = DYN_OK;

    for (int attempt = 0; attempt < TTL_CAS_TRIES; attempt++) {
        if ((rc = meta_load(r, a, in->tablename, &m, &rev)) == DYN_ENOTFOUND) {
            rc = dyn_rpc_call_fail(call, DYN_ENOTABLE,
                                   "Requested resource not found: Table: %s not found",
                                   in->tablename);
            goto out;
        }
        if (rc != DYN_OK)
            goto out;
        if (m->status == NULL || strcmp(m->status, "ACTIVE") != 0) {
            const char *what = m->status && strcmp(m->status, "CREATING") == 0   ? "being created"
                               : m->status && strcmp(m->status, "DELETING") == 0 ? "being deleted"
                                                                                 : "being updated";
            rc = dyn_rpc_call_fail(call, DYN_EINUSE,
                                   "Attempt to change a resource which is still in use: Table is "
                                   "%s: %s",
                                   what, in->tablename);
            goto out;
        }
        if (spec->enabled && ttl_on(m)) {
            rc = dyn_rpc_call_fail(call, DYN_EVALIDATION, "TimeToLive is already enabled");
            goto out;
        }
        if (!spec->enabled && !ttl_on(m)) {
            rc = dyn_rpc_call_fail(call, DYN_EVALIDATION, "TimeToLive is already disabled");
            goto out;
        }
        double now = ttl_now_s();
        if (m->has_ttl_changed_at && now - m->ttl_changed_at < TTL_COOLDOWN_S) {
            rc = dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                   "Time to live has been modified multiple times within a fixed "
                                   "interval");
            goto out;
        }
        /* The storage nodes first, then the catalog: a failure in between is undone below, so
         * the catalog never says ENABLED for a table whose partitions do not index. */
        const char *attr = spec->enabled ? spec->attributename : "";
        if ((rc = partitions_set_ttl(r, a, m, attr)) != DYN_OK) {
            (void)partitions_set_ttl(r, a, m, ttl_on(m) ? m->ttl_attribute : "");
            rc = dyn_rpc_call_fail(call, DYN_EUNAVAIL, "storage is unavailable; retry");
            goto out;
        }
        const char *was_attr = ttl_on(m) ? m->ttl_attribute : "";
        m->has_ttl_enabled = m->has_ttl_changed_at = true;
        m->ttl_enabled = spec->enabled;
        m->ttl_attribute = spec->enabled ? spec->attributename : NULL;
        m->ttl_changed_at = now;
        if ((rc = meta_swap(r, a, m, rev)) == DYN_OK)
            break;
        (void)partitions_set_ttl(r, a, m, was_attr);
        if (rc != DYN_ECONDFAIL)   /* else the entry changed meanwhile: decide again */
            goto out;
    }
    if (rc == DYN_ECONDFAIL) {
        rc = dyn_rpc_call_fail(call, DYN_EINUSE,
                               "Attempt to change a resource which is still in use: Table is "
                               "being updated: %s",
                               in->tablename);
        goto out;
    }
    dyn_log(DYN_LOG_INFO, "ROUTER-TTL-UPDATE", "table=%s enabled=%d attribute=%s", in->tablename,
            (int)spec->enabled, spec->attributename);
    if ((out = dyn_arena_alloc(a, sizeof *out)) == NULL) {
        rc = DYN_ENOMEM;
        goto out;
    }
    dyne__v1__update_time_to_live_output__init(out);
    out->timetolivespecification = (Dyne__V1__TimeToLiveSpecification *)spec;
out:
    dyn_rpc_call_finish(call, rc, rc == DYN_OK && out != NULL ? &out->base : NULL, NULL);
}

dyn_err
router_update_time_to_live(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp,
                           void *ctx)
{
    const Dyne__V1__UpdateTimeToLiveInput *in = (const void *)m;
    const Dyne__V1__TimeToLiveSpecification *spec = in->timetolivespecification;
    const char *path = "timeToLiveSpecification.attributeName";
    const char *msg;
    vc v;

    (void)resp;
    /* dynalite's order (AWS-verified): constraints by member, then the custom rule */
    vc_init(&v, dyn_rpc_call_arena(call));
    vc_not_null(&v, "tableName", in->tablename != NULL);
    vc_table_name(&v, "tableName", in->tablename);
    vc_not_null(&v, "timeToLiveSpecification", spec != NULL);
    if (spec != NULL) {
        vc_not_null(&v, path, spec->attributename != NULL);
        vc_str_len(&v, path, spec->attributename, 0, 255);
        vc_not_null(&v, "timeToLiveSpecification.enabled", spec->has_enabled);
    }
    if ((msg = vc_message(&v)) != NULL)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "%s", msg);
    if (spec->attributename[0] == '\0')
        return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                 "TimeToLiveSpecification.AttributeName must be non empty");
    return router_admin_submit(ctx, call, m, update_ttl_job);
}

static void
describe_ttl_job(router *r, dyn_rpc_call *call, const ProtobufCMessage *req)
{
    const Dyne__V1__DescribeTimeToLiveInput *in = (const void *)req;
    dyn_arena *a = dyn_rpc_call_arena(call);
    Dyne__V1__DescribeTimeToLiveOutput *out = NULL;
    Dyne__V1__TimeToLiveDescription *d = NULL;
    Dyne__Internal__TableMeta *m;
    int64_t rev;
    dyn_err rc;

    if ((rc = meta_load(r, a, in->tablename, &m, &rev)) == DYN_ENOTFOUND)
        rc = dyn_rpc_call_fail(call, DYN_ENOTABLE,
                               "Requested resource not found: Table: %s not found", in->tablename);
    if (rc == DYN_OK && ((out = dyn_arena_alloc(a, sizeof *out)) == NULL ||
                         (d = dyn_arena_alloc(a, sizeof *d)) == NULL))
        rc = DYN_ENOMEM;
    if (rc == DYN_OK) {
        dyne__v1__describe_time_to_live_output__init(out);
        dyne__v1__time_to_live_description__init(d);
        if (ttl_on(m)) {
            d->timetolivestatus = "ENABLED";
            d->attributename = m->ttl_attribute;
        } else {
            d->timetolivestatus = "DISABLED";
        }
        out->timetolivedescription = d;
    }
    dyn_rpc_call_finish(call, rc, rc == DYN_OK ? &out->base : NULL, NULL);
}

dyn_err
router_describe_time_to_live(dyn_rpc_call *call, const ProtobufCMessage *m,
                             ProtobufCMessage **resp, void *ctx)
{
    const Dyne__V1__DescribeTimeToLiveInput *in = (const void *)m;
    const char *msg;
    vc v;

    (void)resp;
    vc_init(&v, dyn_rpc_call_arena(call));
    vc_not_null(&v, "tableName", in->tablename != NULL);
    vc_table_name(&v, "tableName", in->tablename);
    if ((msg = vc_message(&v)) != NULL)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "%s", msg);
    return router_admin_submit(ctx, call, m, describe_ttl_job);
}
