/* services/indexer -- flags, the etcd connection, the gRPC server (health only) with /metrics,
 * and the indexer thread; SIGTERM resigns before the server drains. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "libs/cfg/cfg.h"
#include "libs/elect/elect.h"
#include "libs/log/log.h"
#include "libs/meta/meta.h"
#include "libs/rpc/rpc.h"
#include "services/indexer/indexer.h"

static struct {
    char *listen, *http_listen, *etcd, *node_id, *data_dir;
    int lease_ttl, pass_ms, storage_deadline_ms, poll_ms, scan_page;
} cfg;

static const dyn_cfg_opt indexer_opts_tab[] = {
    DYN_CFG_STR("listen", "127.0.0.1:7003", "gRPC address (grpc.health.v1.Health)", &cfg.listen),
    DYN_CFG_STR("http-listen", "127.0.0.1:9104", "/metrics and /healthz address ('' = off)",
                &cfg.http_listen),
    DYN_CFG_STR("etcd", "127.0.0.1:2379", "etcd client endpoint", &cfg.etcd),
    DYN_CFG_STR("node-id", "", "this instance's name in the leader key (default: host-pid)",
                &cfg.node_id),
    DYN_CFG_STR("data-dir", "./data/indexer",
                "change feed positions, one file per index (indexer.<index id>.pos)",
                &cfg.data_dir),
    DYN_CFG_INT("lease-ttl", "5", "leader lease, seconds: how long a dead indexer holds on",
                &cfg.lease_ttl),
    DYN_CFG_INT("pass-ms", "2000", "full pass period (catalog changes are acted on at once)",
                &cfg.pass_ms),
    DYN_CFG_INT("storage-deadline-ms", "10000", "deadline of one storage call",
                &cfg.storage_deadline_ms),
    DYN_CFG_INT("poll-ms", "500", "the change feed is pulled at least this often (ms)",
                &cfg.poll_ms),
    DYN_CFG_INT("scan-page", "500", "items per Range page of a backfill scan", &cfg.scan_page),
};

int
main(int argc, char **argv)
{
    size_t nopts = sizeof indexer_opts_tab / sizeof indexer_opts_tab[0];
    dyn_meta *meta = NULL;
    dyn_rpc_server *srv = NULL;
    indexer *ix = NULL;
    char id[300];
    int rc, port = 0, http_port = 0;
    dyn_err e;

    dyn_log_init("indexer", DYN_LOG_INFO);
    if ((rc = dyn_cfg_load("indexer", indexer_opts_tab, nopts, argc, argv)) != 0)
        return rc == 1 ? 0 : rc;
    dyn_cfg_log("indexer", indexer_opts_tab, nopts);
    dyn_rpc_install_signals();
    rc = 1;

    dyn_elect_instance_id(cfg.node_id, "indexer", id, sizeof id);
    if (cfg.data_dir[0] == '\0' ||
        (mkdir(cfg.data_dir, 0755) != 0 && access(cfg.data_dir, W_OK) != 0)) {
        dyn_log(DYN_LOG_ERROR, "INDEXER-CONFIG", "data-dir=%s (not a writable directory)",
                cfg.data_dir);
        goto out;
    }
    if ((meta = dyn_meta_open(cfg.etcd)) == NULL) {
        dyn_log(DYN_LOG_ERROR, "INDEXER-ETCD", "endpoint=%s", cfg.etcd);
        goto out;
    }
    dyn_rpc_server_opts so = {
        .listen = cfg.listen,
        .workers = 1,
        .http_listen = cfg.http_listen[0] ? cfg.http_listen : NULL,
    };
    srv = dyn_rpc_server_new(&so);
    if ((e = dyn_rpc_server_start(srv, &port, &http_port)) != DYN_OK) {
        dyn_log(DYN_LOG_ERROR, "INDEXER-LISTEN", "listen=%s err=%s", cfg.listen,
                dyn_err_name(e));
        goto out;
    }
    indexer_opts io = {
        .node_id = id,
        .data_dir = cfg.data_dir,
        .lease_ttl_s = cfg.lease_ttl,
        .pass_ms = cfg.pass_ms,
        .storage_deadline_ms = cfg.storage_deadline_ms,
        .poll_ms = cfg.poll_ms,
        .scan_page = cfg.scan_page,
    };
    if ((e = indexer_new(meta, &io, &ix)) != DYN_OK) {
        dyn_log(DYN_LOG_ERROR, "INDEXER-START", "err=%s", dyn_err_name(e));
        goto out;
    }
    dyn_log(DYN_LOG_INFO, "INDEXER-READY", "node=%s grpc_port=%d http_port=%d data_dir=%s", id,
            port, http_port, cfg.data_dir);
    while (!dyn_rpc_stopping()) {
        struct timespec tick = { .tv_sec = 0, .tv_nsec = 200 * 1000000L };
        nanosleep(&tick, NULL);
    }
    /* hand over first: a follower takes over as soon as the key is gone */
    indexer_free(ix);
    ix = NULL;
    dyn_rpc_server_wait(srv, 2000);
    dyn_log(DYN_LOG_INFO, "INDEXER-STOP", "node=%s", id);
    rc = 0;
out:
    indexer_free(ix);
    if (srv != NULL)
        dyn_rpc_server_free(srv);
    if (meta != NULL)
        dyn_meta_close(meta);
    return rc;
}
