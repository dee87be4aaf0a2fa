/* libs/meta -- leases: grant/revoke/time-to-live calls, and the background keep-alive over one
 * shared LeaseKeepAlive stream driven by the tick thread. */
#include "libs/meta/meta_int.h"

#include <stdlib.h>
#include <string.h>

dyn_err
dyn_meta_lease_grant(dyn_meta *m, int64_t ttl_s, int64_t *id, int64_t *granted_ttl_s)
{
    Etcdserverpb__LeaseGrantRequest req = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    dyn_arena tmp;
    dyn_err rc;

    dyn_arena_init(&tmp, META_TMP_ARENA);
    req.ttl = ttl_s;
    if ((rc = dyn_rpc_client_call(m->rpc, "/etcdserverpb.Lease/LeaseGrant", &req.base,
                                  &etcdserverpb__lease_grant_response__descriptor,
                                  META_DEADLINE_MS, &tmp, &resp, NULL)) != DYN_OK)
        goto out;
    Etcdserverpb__LeaseGrantResponse *r = (Etcdserverpb__LeaseGrantResponse *)resp;
    if (r->error != NULL && r->error[0] != '\0') {
        rc = DYN_EINTERNAL;
        goto out;
    }
    *id = r->id;
    if (granted_ttl_s != NULL)
        *granted_ttl_s = r->ttl;
out:
    dyn_arena_fini(&tmp);
    return rc;
}

dyn_err
dyn_meta_lease_revoke(dyn_meta *m, int64_t id)
{
    Etcdserverpb__LeaseRevokeRequest req = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
    dyn_arena tmp;
    dyn_err rc;

    dyn_arena_init(&tmp, META_TMP_ARENA);
    req.id = id;
    rc = dyn_rpc_client_call(m->rpc, "/etcdserverpb.Lease/LeaseRevoke", &req.base,
                             &etcdserverpb__lease_revoke_response__descriptor, META_DEADLINE_MS,
                             &tmp, NULL, NULL);
    dyn_arena_fini(&tmp);
    return rc;
}

dyn_err
dyn_meta_lease_time_to_live(dyn_meta *m, int64_t id, int64_t *ttl_s)
{
    Etcdserverpb__LeaseTimeToLiveRequest req = ETCDSERVERPB__LEASE_TIME_TO_LIVE_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    dyn_arena tmp;
    dyn_err rc;

    dyn_arena_init(&tmp, META_TMP_ARENA);
    req.id = id;
    if ((rc = dyn_rpc_client_call(m->rpc, "/etcdserverpb.Lease/LeaseTimeToLive", &req.base,
                                  &etcdserverpb__lease_time_to_live_response__descriptor,
                                  META_DEADLINE_MS, &tmp, &resp, NULL)) != DYN_OK)
        goto out;
    Etcdserverpb__LeaseTimeToLiveResponse *r = (Etcdserverpb__LeaseTimeToLiveResponse *)resp;
    if (r->ttl < 0) {   /* etcd answers -1 for an expired or unknown lease */
        rc = DYN_ENOTFOUND;
        goto out;
    }
    *ttl_s = r->ttl;
out:
    dyn_arena_fini(&tmp);
    return rc;
}

/* ---- keep-alive ---------------------------------------------------------------------------- */

static meta_lease **
lease_find_locked(dyn_meta *m, int64_t id)
{
    meta_lease **pp = &m->leases;

    while (*pp != NULL && (*pp)->id != id)
        pp = &(*pp)->next;
    return pp;
}

static int64_t
lease_interval_ms(const meta_lease *l)
{
    int64_t ms = l->ttl_s * 1000 / 3;
    return ms < 1000 ? 1000 : ms;
}

/* Completion thread: a refresh answer. TTL <= 0 means etcd no longer knows the lease. */
static void
ka_msg(void *arg, const ProtobufCMessage *msg)
{
    dyn_meta *m = arg;
    const Etcdserverpb__LeaseKeepAliveResponse *r = (const Etcdserverpb__LeaseKeepAliveResponse *)msg;
    meta_lease *l;

    pthread_mutex_lock(&m->mu);
    m->ka_backoff_ms = META_BACKOFF_MIN_MS;
    if ((l = *lease_find_locked(m, r->id)) != NULL && !l->lost) {
        if (r->ttl <= 0) {
            l->lost = true;
            pthread_cond_broadcast(&m->tick_cv);
        } else {
            l->last_ok_ms = meta_now_ms();
        }
    }
    pthread_mutex_unlock(&m->mu);
}

static void
ka_close(void *arg, dyn_err rc, const char *errmsg)
{
    dyn_meta *m = arg;

    (void)rc, (void)errmsg;   /* the tick thread reopens; leases time out if it cannot */
    pthread_mutex_lock(&m->mu);
    m->ka_stream = NULL;
    m->ka_live = false;
    m->ka_retry_at_ms = meta_now_ms() + m->ka_backoff_ms;
    m->ka_backoff_ms = m->ka_backoff_ms * 2 > META_BACKOFF_MAX_MS ? META_BACKOFF_MAX_MS
                                                                 : m->ka_backoff_ms * 2;
    pthread_cond_broadcast(&m->state_cv);
    pthread_mutex_unlock(&m->mu);
}

/* Opens the keep-alive stream with m->mu dropped: a failing open may run ka_close at once. */
static void
ka_open_locked(dyn_meta *m)
{
    dyn_rpc_stream *s;

    m->ka_live = true;
    pthread_mutex_unlock(&m->mu);
    s = dyn_rpc_stream_open(m->rpc, "/etcdserverpb.Lease/LeaseKeepAlive",
                            &etcdserverpb__lease_keep_alive_response__descriptor, ka_msg,
                            ka_close, m);
    pthread_mutex_lock(&m->mu);
    if (s == NULL) {
        m->ka_live = false;
        m->ka_retry_at_ms = meta_now_ms() + META_BACKOFF_MAX_MS;
    } else if (m->ka_live && m->ka_stream == NULL) {   /* else it already closed */
        m->ka_stream = s;
        if (m->closing)
            dyn_rpc_stream_cancel(s);
    }
}

void
meta_lease_tick_locked(dyn_meta *m, int64_t now)
{
    meta_lease *l;

    if (m->leases != NULL && !m->ka_live && now >= m->ka_retry_at_ms && !m->closing)
        ka_open_locked(m);
    for (l = m->leases; l != NULL; l = l->next) {
        if (l->lost)
            continue;
        if (now - l->last_ok_ms >= l->ttl_s * 1000) {
            l->lost = true;   /* etcd may already have expired it: stop pretending */
            continue;
        }
        if (now >= l->next_due_ms && m->ka_stream != NULL) {
            Etcdserverpb__LeaseKeepAliveRequest req = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
            req.id = l->id;
            if (dyn_rpc_stream_send(m->ka_stream, &req.base) == DYN_OK)
                l->next_due_ms = now + lease_interval_ms(l);
        }
    }
    /* Lost callbacks run without the lock, one at a time; the list may change meanwhile. */
    for (;;) {
        for (l = m->leases; l != NULL && !(l->lost && !l->in_cb); l = l->next)
            ;
        if (l == NULL)
            break;
        l->in_cb = true;
        if (l->lost_fn != NULL) {
            pthread_mutex_unlock(&m->mu);
            l->lost_fn(l->arg, l->id);
            pthread_mutex_lock(&m->mu);
        }
        meta_lease **pp = lease_find_locked(m, l->id);
        *pp = l->next;
        free(l);
        pthread_cond_broadcast(&m->state_cv);
    }
}

dyn_err
dyn_meta_keepalive_start(dyn_meta *m, int64_t id, int64_t ttl_s, dyn_meta_lease_lost_fn lost,
                         void *arg)
{
    dyn_err rc = DYN_OK;
    meta_lease *l;

    if (ttl_s <= 0)
        return DYN_EVALIDATION;
    pthread_mutex_lock(&m->mu);
    if (m->closing) {
        rc = DYN_EUNAVAIL;
        goto out;
    }
    if (*lease_find_locked(m, id) != NULL) {
        rc = DYN_EEXISTS;
        goto out;
    }
    l = dyn_xcalloc(1, sizeof *l);
    l->id = id;
    l->ttl_s = ttl_s;
    l->last_ok_ms = meta_now_ms();
    l->next_due_ms = l->last_ok_ms;   /* refresh at once: confirms etcd knows the lease */
    l->lost_fn = lost;
    l->arg = arg;
    l->next = m->leases;
    m->leases = l;
    pthread_cond_broadcast(&m->tick_cv);
out:
    pthread_mutex_unlock(&m->mu);
    return rc;
}

dyn_err
dyn_meta_keepalive_stop(dyn_meta *m, int64_t id)
{
    dyn_err rc = DYN_OK;
    meta_lease **pp, *l;

    pthread_mutex_lock(&m->mu);
    pp = lease_find_locked(m, id);
    if ((l = *pp) == NULL) {
        rc = DYN_ENOTFOUND;
        goto out;
    }
    if (l->in_cb) {   /* its lost callback runs: wait for it, unless we are inside it */
        rc = DYN_ENOTFOUND;
        if (pthread_equal(pthread_self(), m->tick_thread))
            goto out;
        while (*lease_find_locked(m, id) != NULL)
            pthread_cond_wait(&m->state_cv, &m->mu);
        goto out;
    }
    if (l->lost)
        rc = DYN_ENOTFOUND;   /* lost, callback not started: it never will */
    *pp = l->next;
    free(l);
out:
    pthread_mutex_unlock(&m->mu);
    return rc;
}

bool
dyn_meta_keepalive_ok(dyn_meta *m, int64_t id)
{
    meta_lease *l;
    bool ok;

    pthread_mutex_lock(&m->mu);
    l = *lease_find_locked(m, id);
    ok = l != NULL && !l->lost;
    pthread_mutex_unlock(&m->mu);
    return ok;
}

void
meta_lease_close_locked(dyn_meta *m)
{
    meta_lease **pp = &m->leases;

    if (m->ka_stream != NULL)
        dyn_rpc_stream_cancel(m->ka_stream);
    while (*pp != NULL) {   /* a lease whose callback runs is freed by the tick thread */
        meta_lease *l = *pp;
        if (l->in_cb) {
            pp = &l->next;
            continue;
        }
        *pp = l->next;
        free(l);
    }
}
