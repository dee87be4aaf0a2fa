/* services/controller -- flags, the etcd connection, the gRPC server (health only) with /metrics,
 * and the controller thread; SIGTERM resigns leadership before the server drains. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libs/cfg/cfg.h"
#include "libs/elect/elect.h"
#include "libs/log/log.h"
#include "libs/meta/meta.h"
#include "libs/rpc/rpc.h"
#include "services/controller/controller.h"

static struct {
    char *listen, *http_listen, *etcd, *node_id;
    int lease_ttl, pass_ms, max_partitions, storage_deadline_ms, stats_refresh_s, adopt_after_ms;
} cfg;

static const dyn_cfg_opt controller_opts_tab[] = {
    DYN_CFG_STR("listen", "127.0.0.1:7002", "gRPC address (grpc.health.v1.Health)", &cfg.listen),
    DYN_CFG_STR("http-listen", "127.0.0.1:9103", "/metrics and /healthz address ('' = off)",
                &cfg.http_listen),
    DYN_CFG_STR("etcd", "127.0.0.1:2379", "etcd client endpoint", &cfg.etcd),
    DYN_CFG_STR("node-id", "", "this instance's name in the leader key (default: host-pid)",
                &cfg.node_id),
    DYN_CFG_INT("lease-ttl", "5", "leader lease, seconds: how long a dead leader holds on",
                &cfg.lease_ttl),
    DYN_CFG_INT("pass-ms", "2000", "full reconcile pass period (changes are acted on at once)",
                &cfg.pass_ms),
    DYN_CFG_INT("max-partitions", "256", "cap on a new table's partition count",
                &cfg.max_partitions),
    DYN_CFG_INT("storage-deadline-ms", "10000", "deadline of one storage call",
                &cfg.storage_deadline_ms),
    DYN_CFG_INT("stats-refresh-s", "30",
                "node sizes used to break placement ties are at most this old (seconds)",
                &cfg.stats_refresh_s),
    DYN_CFG_INT("adopt-after-ms", "0",
                "act on a CREATING/UPDATING/DELETING table only after it stood unchanged this long "
                "(ms): for routers that still drive table lifecycles themselves",
                &cfg.adopt_after_ms),
};

int
main(int argc, char **argv)
{
    size_t nopts = sizeof controller_opts_tab / sizeof controller_opts_tab[0];
    dyn_meta *meta = NULL;
    dyn_rpc_server *srv = NULL;
    controller *c = NULL;
    char id[300];
    int rc, port = 0, http_port = 0;
    dyn_err e;

    dyn_log_init("controller", DYN_LOG_INFO);
    if ((rc = dyn_cfg_load("controller", controller_opts_tab, nopts, argc, argv)) != 0)
        return rc == 1 ? 0 : rc;
    dyn_cfg_log("controller", controller_opts_tab, nopts);
    dyn_rpc_install_signals();
    rc = 1;

    dyn_elect_instance_id(cfg.node_id, "controller", id, sizeof id);
    if (cfg.max_partitions < 1 || cfg.max_partitions > 4096) {
        dyn_log(DYN_LOG_ERROR, "CONTROLLER-CONFIG", "max-partitions=%d (want 1..4096)",
                cfg.max_partitions);
        goto out;
    }
    if ((meta = dyn_meta_open(cfg.etcd)) == NULL) {
        dyn_log(DYN_LOG_ERROR, "CONTROLLER-ETCD", "endpoint=%s", cfg.etcd);
        goto out;
    }
    dyn_rpc_server_opts so = {
        .listen = cfg.listen,
        .workers = 1,
        .http_listen = cfg.http_listen[0] ? cfg.http_listen : NULL,
    };
    srv = dyn_rpc_server_new(&so);
    if ((e = dyn_rpc_server_start(srv, &port, &http_port)) != DYN_OK) {
        dyn_log(DYN_LOG_ERROR, "CONTROLLER-LISTEN", "listen=%s err=%s", cfg.listen,
                dyn_err_name(e));
        goto out;
    }
    controller_opts co = {
        .node_id = id,
        .lease_ttl_s = cfg.lease_ttl,
        .pass_ms = cfg.pass_ms,
        .max_partitions = cfg.max_partitions,
        .storage_deadline_ms = cfg.storage_deadline_ms,
        .stats_refresh_s = cfg.stats_refresh_s,
        .adopt_after_ms = cfg.adopt_after_ms,
    };
    if ((e = controller_new(meta, &co, &c)) != DYN_OK) {
        dyn_log(DYN_LOG_ERROR, "CONTROLLER-START", "err=%s", dyn_err_name(e));
        goto out;
    }
    dyn_log(DYN_LOG_INFO, "CONTROLLER-READY", "node=%s grpc_port=%d http_port=%d", id, port,
            http_port);
    while (!dyn_rpc_stopping()) {
        struct timespec tick = { .tv_sec = 0, .tv_nsec = 200 * 1000000L };
        nanosleep(&tick, NULL);
    }
    /* hand over first: a follower takes over as soon as the key is gone */
    controller_free(c);
    c = NULL;
    dyn_rpc_server_wait(srv, 2000);
    dyn_log(DYN_LOG_INFO, "CONTROLLER-STOP", "node=%s", id);
    rc = 0;
out:
    controller_free(c);
    if (srv != NULL)
        dyn_rpc_server_free(srv);
    if (meta != NULL)
        dyn_meta_close(meta);
    return rc;
}
