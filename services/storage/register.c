/* services/storage -- the node's registration in etcd: /dyne/nodes/<id> -> NodeMeta (its gRPC
 * and change feed addresses), attached to a liveness lease kept alive in the background. If the
 * lease is lost (etcd unreachable for longer than its TTL), the node registers again with a new
 * lease. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libs/log/log.h"
#include "proto/dyne/internal/catalog.pb-c.h"
#include "services/storage/storage.h"

typedef struct registration {
    dyn_meta *meta;
    char *node_id, *addr;
    char *feed_pub, *feed_cursor;   /* NULL: not advertised */
    int64_t ttl_s;
    double started;
} registration;

static registration reg;   /* one per process */

static dyn_err register_once(void);

static void
lease_lost(void *arg, int64_t id)
{
    dyn_err rc;

    (void)arg;
    dyn_log(DYN_LOG_WARN, "STORAGE-LEASE-LOST", "node=%s lease=%lld", reg.node_id, (long long)id);
    /* runs on meta's background thread, which may call meta; etcd may still be away, so a
     * failure here is retried by the next loss report of the new keep-alive */
    if ((rc = register_once()) != DYN_OK)
        dyn_log(DYN_LOG_ERROR, "STORAGE-REGISTER", "node=%s err=%s", reg.node_id,
                dyn_err_name(rc));
}

static dyn_err
register_once(void)
{
    Dyne__Internal__NodeMeta nm = DYNE__INTERNAL__NODE_META__INIT;
    uint8_t buf[1024];
    char key[128];
    int64_t lease = 0;
    dyn_err rc;

    nm.node_id = reg.node_id;
    nm.addr = reg.addr;
    nm.has_started = true;
    nm.started = reg.started;
    nm.feed_pub_url = reg.feed_pub;
    nm.feed_cursor_url = reg.feed_cursor;
    size_t len = dyne__internal__node_meta__get_packed_size(&nm);
    if (len > sizeof buf)
        return DYN_EVALIDATION;
    dyne__internal__node_meta__pack(&nm, buf);
    snprintf(key, sizeof key, "/dyne/nodes/%s", reg.node_id);
    if ((rc = dyn_meta_lease_grant(reg.meta, reg.ttl_s, &lease, NULL)) != DYN_OK)
        return rc;
    if ((rc = dyn_meta_put(reg.meta, key, buf, len, lease, NULL)) != DYN_OK)
        return rc;
    return dyn_meta_keepalive_start(reg.meta, lease, reg.ttl_s, lease_lost, NULL);
}

dyn_err
storage_register(dyn_meta *meta, const char *node_id, const char *addr, const char *feed_pub_url,
                 const char *feed_cursor_url, int ttl_s)
{
    struct timespec ts;
    dyn_err rc = DYN_EUNAVAIL;

    clock_gettime(CLOCK_REALTIME, &ts);
    reg.meta = meta;
    reg.node_id = dyn_xstrdup(node_id);
    reg.addr = dyn_xstrdup(addr);
    reg.feed_pub = feed_pub_url ? dyn_xstrdup(feed_pub_url) : NULL;
    reg.feed_cursor = feed_cursor_url ? dyn_xstrdup(feed_cursor_url) : NULL;
    reg.ttl_s = ttl_s > 0 ? ttl_s : 10;
    reg.started = (double)ts.tv_sec;
    /* etcd may come up a moment after us (the launcher starts everything at once) */
    for (int attempt = 0; attempt < 50; attempt++) {
        if ((rc = register_once()) == DYN_OK)
            break;
        struct timespec pause = { 0, 200 * 1000 * 1000 };
        nanosleep(&pause, NULL);
    }
    return rc;
}
