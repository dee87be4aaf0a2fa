/* services/storage -- flags, WiredTiger, the gRPC server and the node's etcd registration. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "libs/cfg/cfg.h"
#include "libs/kv/kv.h"
#include "libs/log/log.h"
#include "libs/meta/meta.h"
#include "libs/rpc/rpc.h"
#include "proto/dyne/internal/catalog.pb-c.h"
#include "proto/dyne/internal/storage.pb-c.h"
#include "services/storage/storage.h"

static struct {
    char *listen, *advertise, *http_listen, *data_dir, *etcd, *node_id;
    char *feed_pub_listen, *feed_listen;
    size_t cache, collection_limit;
    int workers, slots, lease_ttl, log_retention_s, stats_interval_s;
    bool sync, log_compression;
} cfg;

static const dyn_cfg_opt storage_opts[] = {
    DYN_CFG_STR("listen", "127.0.0.1:7001", "gRPC address the router dials", &cfg.listen),
    DYN_CFG_STR("advertise", "", "address registered in etcd (default: the bound address)",
                &cfg.advertise),
    DYN_CFG_STR("http-listen", "127.0.0.1:9102", "/metrics and /healthz address ('' = off)",
                &cfg.http_listen),
    DYN_CFG_STR("feed-pub-listen", "tcp://127.0.0.1:0",
                "nng PUB url of the change feed's notices (port 0: a free one; the bound url is "
                "advertised in etcd; '' = off)",
                &cfg.feed_pub_listen),
    DYN_CFG_STR("feed-listen", "tcp://127.0.0.1:0",
                "nng REP url of the change feed's cursor (ReadChanges, RegisterConsumer; port 0: "
                "a free one, advertised in etcd; '' = off)",
                &cfg.feed_listen),
    DYN_CFG_STR("data-dir", "./data/storage", "WiredTiger home", &cfg.data_dir),
    DYN_CFG_STR("etcd", "127.0.0.1:2379", "etcd client endpoint", &cfg.etcd),
    DYN_CFG_STR("node-id", "", "node id (default: kept in <data-dir>/NODE_ID)", &cfg.node_id),
    DYN_CFG_SIZE("cache-size", "256MiB", "WiredTiger cache", &cfg.cache),
    DYN_CFG_INT("workers", "2", "completion-queue threads", &cfg.workers),
    DYN_CFG_INT("slots", "64",
                "calls of each method a worker holds at once; writes waiting for one group "
                "commit are held, so this bounds the group",
                &cfg.slots),
    DYN_CFG_INT("lease-ttl", "10", "etcd liveness lease, seconds", &cfg.lease_ttl),
    DYN_CFG_BOOL("sync", "true", "fsync the log at each group commit", &cfg.sync),
    DYN_CFG_BOOL("log-compression", "false",
                 "snappy-compress the change logs of partitions created from now on (CPU on "
                 "every write for less disk while records are retained)",
                 &cfg.log_compression),
    DYN_CFG_INT("log-retention-s", "86400",
                "change records younger than this are kept, consumers or not (seconds)",
                &cfg.log_retention_s),
    DYN_CFG_INT("stats-interval-s", "300",
                "seconds between scans that refresh the per-partition item and byte gauges",
                &cfg.stats_interval_s),
    DYN_CFG_SIZE("collection-limit", "10GiB",
                  "largest item collection (one partition-key value of a table with LSIs: items "
                  "and index entries) a write may grow",
                  &cfg.collection_limit),
};

static int
mkdir_p(const char *path)
{
    char buf[1024];
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* The node id survives restarts: the router's partition map names nodes by id. */
static char *
node_id_load(const char *dir)
{
    char path[1100], buf[64];
    FILE *f;

    snprintf(path, sizeof path, "%s/NODE_ID", dir);
    if ((f = fopen(path, "r")) != NULL) {
        if (fgets(buf, sizeof buf, f) != NULL) {
            buf[strcspn(buf, "\r\n")] = '\0';
            fclose(f);
            if (buf[0] != '\0')
                return dyn_xstrdup(buf);
        } else {
            fclose(f);
        }
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, sizeof buf, "n%08lx%04x", (unsigned long)ts.tv_sec,
             (unsigned)((ts.tv_nsec / 1000) ^ (unsigned)getpid()) & 0xffff);
    if ((f = fopen(path, "w")) != NULL) {
        fprintf(f, "%s\n", buf);
        fflush(f);
        fsync(fileno(f));
        fclose(f);
    }
    return dyn_xstrdup(buf);
}

int
main(int argc, char **argv)
{
    dyn_kv *kv = NULL;
    storage *st = NULL;
    dyn_rpc_server *srv = NULL;
    dyn_meta *meta = NULL;
    int rc, port = 0, http_port = 0;
    char addr[300], kv_home[1100];
    char *feed_pub = NULL, *feed_cursor = NULL;
    dyn_err e;

    dyn_log_init("storage", DYN_LOG_INFO);
    if ((rc = dyn_cfg_load("storage", storage_opts,
                           sizeof storage_opts / sizeof storage_opts[0], argc, argv)) != 0)
        return rc == 1 ? 0 : rc;
    dyn_cfg_log("storage", storage_opts, sizeof storage_opts / sizeof storage_opts[0]);
    dyn_rpc_install_signals();
    rc = 1;

    if (mkdir_p(cfg.data_dir) != 0) {
        dyn_log(DYN_LOG_ERROR, "STORAGE-DATA-DIR", "dir=%s err=%s", cfg.data_dir, strerror(errno));
        goto out;
    }
    if (cfg.node_id[0] == '\0') {
        free(cfg.node_id);
        cfg.node_id = node_id_load(cfg.data_dir);
    }
    snprintf(kv_home, sizeof kv_home, "%s/wt", cfg.data_dir);
    dyn_kv_opts ko = { .cache_bytes = cfg.cache, .sync = cfg.sync, .group_max = 128 };
    if ((e = dyn_kv_open(kv_home, &ko, &kv)) != DYN_OK) {
        dyn_log(DYN_LOG_ERROR, "STORAGE-WT-OPEN", "home=%s err=%s", kv_home, dyn_err_name(e));
        goto out;
    }
    storage_set_collection_limit((int64_t)cfg.collection_limit);
    storage_set_log_compression(cfg.log_compression);
    if ((e = storage_new(kv, &st)) != DYN_OK) {
        dyn_log(DYN_LOG_ERROR, "STORAGE-REGISTRY", "err=%s", dyn_err_name(e));
        goto out;
    }
    if ((e = storage_log_start(st, cfg.log_retention_s)) != DYN_OK) {
        dyn_log(DYN_LOG_ERROR, "STORAGE-LOG-START", "err=%s", dyn_err_name(e));
        goto out;
    }
    if ((e = storage_stats_start(st, cfg.stats_interval_s)) != DYN_OK) {
        dyn_log(DYN_LOG_ERROR, "STORAGE-STATS-START", "err=%s", dyn_err_name(e));
        goto out;
    }
    dyn_rpc_server_opts so = {
        .listen = cfg.listen,
        .workers = cfg.workers,
        .slots_per_worker = cfg.slots,
        .http_listen = cfg.http_listen[0] ? cfg.http_listen : NULL,
    };
    srv = dyn_rpc_server_new(&so);
    dyn_rpc_server_add_service(srv, &dyne__internal__storage__descriptor, storage_methods, st);
    if ((e = dyn_rpc_server_start(srv, &port, &http_port)) != DYN_OK) {
        dyn_log(DYN_LOG_ERROR, "STORAGE-LISTEN", "listen=%s err=%s", cfg.listen, dyn_err_name(e));
        goto out;
    }
    if (cfg.advertise[0] != '\0') {
        snprintf(addr, sizeof addr, "%s", cfg.advertise);
    } else {
        /* the bound port replaces a configured 0 */
        const char *colon = strrchr(cfg.listen, ':');
        int hl = colon ? (int)(colon - cfg.listen) : (int)strlen(cfg.listen);
        snprintf(addr, sizeof addr, "%.*s:%d", hl, cfg.listen, port);
    }

    if ((e = storage_feed_start(st, srv, cfg.feed_pub_listen, cfg.feed_listen, addr, &feed_pub,
                                &feed_cursor)) != DYN_OK)
        goto out;   /* logged (STORAGE-FEED-LISTEN) */

    /* Register in etcd with a liveness lease; the router and controller read /dyne/nodes/. */
    if ((meta = dyn_meta_open(cfg.etcd)) == NULL) {
        dyn_log(DYN_LOG_ERROR, "STORAGE-ETCD", "endpoint=%s", cfg.etcd);
        goto out;
    }
    if ((e = storage_register(meta, cfg.node_id, addr, feed_pub, feed_cursor, cfg.lease_ttl)) !=
        DYN_OK) {
        dyn_log(DYN_LOG_ERROR, "STORAGE-REGISTER", "etcd=%s err=%s", cfg.etcd, dyn_err_name(e));
        goto out;
    }
    dyn_log(DYN_LOG_INFO, "STORAGE-READY", "node=%s addr=%s http_port=%d partitions=%zu",
            cfg.node_id, addr, http_port, storage_partition_count(st));
    dyn_rpc_server_wait(srv, 5000);
    dyn_log(DYN_LOG_INFO, "STORAGE-STOP", "node=%s", cfg.node_id);
    rc = 0;
out:
    storage_feed_stop_cursor();   /* its handlers run on srv */
    if (srv != NULL)
        dyn_rpc_server_free(srv);
    if (meta != NULL)
        dyn_meta_close(meta);   /* revokes the lease: the node leaves /dyne/nodes/ at once */
    storage_stats_stop();
    storage_log_stop();
    storage_free(st);
    if (kv != NULL)
        dyn_kv_close(kv);
    storage_feed_stop();   /* after the last commit's notice */
    free(feed_pub);
    free(feed_cursor);
    return rc;
}
