/* services/router -- flags, the etcd connection, and the public gRPC server. */
#include <stdio.h>
#include <stdlib.h>

#include "libs/cfg/cfg.h"
#include "libs/log/log.h"
#include "libs/meta/meta.h"
#include "libs/rpc/rpc.h"
#include "proto/dyne/v1/dynamodb.pb-c.h"
#include "proto/dyne/v1/streams.pb-c.h"
#include "services/router/router.h"

static struct {
    char *listen, *http_listen, *etcd, *region, *account;
    int workers, storage_deadline_ms;
} cfg;

static const dyn_cfg_opt router_opts_tab[] = {
    DYN_CFG_STR("listen", "127.0.0.1:50051", "public gRPC address (dyne.v1.DynamoDB)", &cfg.listen),
    DYN_CFG_STR("http-listen", "127.0.0.1:9101", "/metrics and /healthz address ('' = off)",
                &cfg.http_listen),
    DYN_CFG_STR("etcd", "127.0.0.1:2379", "etcd client endpoint", &cfg.etcd),
    DYN_CFG_STR("region", "local", "region shown in ARNs", &cfg.region),
    DYN_CFG_STR("account", "000000000000", "account id shown in ARNs", &cfg.account),
    DYN_CFG_INT("workers", "2", "completion-queue threads", &cfg.workers),
    DYN_CFG_INT("storage-deadline-ms", "10000", "deadline of one storage call",
                &cfg.storage_deadline_ms),
};

int
main(int argc, char **argv)
{
    size_t nopts = sizeof router_opts_tab / sizeof router_opts_tab[0];
    dyn_meta *meta = NULL;
    router *r = NULL;
    dyn_rpc_server *srv = NULL;
    int rc, port = 0, http_port = 0;
    dyn_err e;

    dyn_log_init("router", DYN_LOG_INFO);
    if ((rc = dyn_cfg_load("router", router_opts_tab, nopts, argc, argv)) != 0)
        return rc == 1 ? 0 : rc;
    dyn_cfg_log("router", router_opts_tab, nopts);
    dyn_rpc_install_signals();
    rc = 1;

    if ((meta = dyn_meta_open(cfg.etcd)) == NULL) {
        dyn_log(DYN_LOG_ERROR, "ROUTER-ETCD", "endpoint=%s", cfg.etcd);
        goto out;
    }
    router_opts ro = { .region = cfg.region,
                       .account = cfg.account,
                       .storage_deadline_ms = cfg.storage_deadline_ms };
    if ((e = router_new(meta, &ro, &r)) != DYN_OK) {
        dyn_log(DYN_LOG_ERROR, "ROUTER-CATALOG-LOAD", "etcd=%s err=%s", cfg.etcd, dyn_err_name(e));
        goto out;
    }
    dyn_rpc_server_opts so = {
        .listen = cfg.listen,
        .workers = cfg.workers,
        .http_listen = cfg.http_listen[0] ? cfg.http_listen : NULL,
    };
    srv = dyn_rpc_server_new(&so);
    dyn_rpc_server_add_service(srv, &dyne__v1__dynamo_db__descriptor, router_methods, r);
    static const dyn_rpc_method no_methods[] = { { NULL, NULL } };   /* Streams: its issue */
    dyn_rpc_server_add_service(srv, &dyne__v1__dynamo_dbstreams__descriptor, no_methods, r);
    if ((e = dyn_rpc_server_start(srv, &port, &http_port)) != DYN_OK) {
        dyn_log(DYN_LOG_ERROR, "ROUTER-LISTEN", "listen=%s err=%s", cfg.listen, dyn_err_name(e));
        goto out;
    }
    dyn_log(DYN_LOG_INFO, "ROUTER-READY", "grpc_port=%d http_port=%d", port, http_port);
    dyn_rpc_server_wait(srv, 5000);
    dyn_log(DYN_LOG_INFO, "ROUTER-STOP", "grpc_port=%d", port);
    rc = 0;
out:
    if (srv != NULL)
        dyn_rpc_server_free(srv);
    router_free(r);
    if (meta != NULL)
        dyn_meta_close(meta);
    return rc;
}
