/* services/router -- flags, the etcd connection, the public gRPC server and the
 * DynamoDB-compatible HTTP endpoint. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libs/cfg/cfg.h"
#include "libs/log/log.h"
#include "libs/meta/meta.h"
#include "libs/rpc/rpc.h"
#include "libs/sigv4/sigv4.h"
#include "proto/dyne/v1/dynamodb.pb-c.h"
#include "proto/dyne/v1/streams.pb-c.h"
#include "services/router/http.h"
#include "services/router/router.h"

static struct {
    char *listen, *http_listen, *etcd, *region, *account;
    char *ddb_listen, *auth, *credentials_file, *endpoint, *http_poller;
    int workers, storage_deadline_ms, http_threads, storage_inflight;
    int max_tables, max_table_ops, table_max_capacity, account_max_capacity;
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
    DYN_CFG_INT("storage-inflight", "1",
                "calls per storage node at once; more wait and leave together in one Batch",
                &cfg.storage_inflight),
    DYN_CFG_STR("ddb-listen", "127.0.0.1:8000",
                "DynamoDB-compatible HTTP endpoint address ('' = off)", &cfg.ddb_listen),
    DYN_CFG_INT("http-threads", "2", "DynamoDB endpoint polling threads", &cfg.http_threads),
    DYN_CFG_STR("http-poller", "poll",
                "DynamoDB endpoint readiness: poll (cheapest up to ~1,000 connections a thread) "
                "or epoll (for many more)",
                &cfg.http_poller),
    DYN_CFG_STR("auth", "dev",
                "DynamoDB endpoint auth: sigv4 (verify signatures) or dev (accept any)",
                &cfg.auth),
    DYN_CFG_STR("credentials-file", "",
                "sigv4 keys: 'AKID SECRET [TOKEN]' lines or an AWS credentials file; the "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment adds one",
                &cfg.credentials_file),
    DYN_CFG_STR("endpoint", "",
                "host:port DescribeEndpoints answers ('' = the --ddb-listen address)",
                &cfg.endpoint),
    DYN_CFG_INT("max-tables", "2500", "tables per account (LimitExceededException past it)",
                &cfg.max_tables),
    DYN_CFG_INT("max-table-ops", "500", "tables being created, updated or deleted at once",
                &cfg.max_table_ops),
    DYN_CFG_INT("table-max-capacity", "40000", "provisioned RCU/WCU per table and per index",
                &cfg.table_max_capacity),
    DYN_CFG_INT("account-max-capacity", "80000", "provisioned RCU/WCU over all tables",
                &cfg.account_max_capacity),
};

/* The address DescribeEndpoints answers: --endpoint, else the DynamoDB endpoint's listen address
 * with a wildcard host made reachable. */
static const char *
endpoint_address(char *buf, size_t len)
{
    const char *l = cfg.ddb_listen, *colon = strrchr(l, ':');

    if (cfg.endpoint[0] != '\0')
        return cfg.endpoint;
    if (colon == NULL)
        return l;
    if (strncmp(l, "0.0.0.0:", 8) == 0 || strncmp(l, "[::]:", 5) == 0 || colon == l)
        snprintf(buf, len, "localhost%s", colon);
    else
        snprintf(buf, len, "%s", l);
    return buf;
}

/* The key store for --auth=sigv4 (NULL for dev). false: the router must not start. */
static bool
auth_setup(dyn_sigv4_creds **creds)
{
    dyn_err e;

    *creds = NULL;
    if (strcmp(cfg.auth, "dev") == 0) {
        dyn_log(DYN_LOG_WARN, "ROUTER-AUTH-DEV",
                "auth=dev: the DynamoDB endpoint accepts ANY signature and unsigned requests; "
                "use --auth=sigv4 --credentials-file=... outside development");
        return true;
    }
    if (strcmp(cfg.auth, "sigv4") != 0) {
        dyn_log(DYN_LOG_ERROR, "ROUTER-AUTH", "auth=%s (want sigv4 or dev)", cfg.auth);
        return false;
    }
    e = dyn_sigv4_creds_load(cfg.credentials_file[0] ? cfg.credentials_file : NULL, true, creds);
    if (e != DYN_OK) {
        dyn_log(DYN_LOG_ERROR, "ROUTER-AUTH", "auth=sigv4 credentials_file=%s err=%s",
                cfg.credentials_file, dyn_err_name(e));
        return false;
    }
    dyn_log(DYN_LOG_INFO, "ROUTER-AUTH", "auth=sigv4 keys=%zu", dyn_sigv4_creds_count(*creds));
    return true;
}

int
main(int argc, char **argv)
{
    size_t nopts = sizeof router_opts_tab / sizeof router_opts_tab[0];
    dyn_meta *meta = NULL;
    router *r = NULL;
    dyn_rpc_server *srv = NULL;
    router_http *ddb = NULL;
    dyn_sigv4_creds *creds = NULL;
    int rc, port = 0, http_port = 0, ddb_port = 0;
    dyn_err e;

    dyn_log_init("router", DYN_LOG_INFO);
    if ((rc = dyn_cfg_load("router", router_opts_tab, nopts, argc, argv)) != 0)
        return rc == 1 ? 0 : rc;
    dyn_cfg_log("router", router_opts_tab, nopts);
    dyn_rpc_install_signals();
    rc = 1;

    if (!auth_setup(&creds))
        goto out;
    if ((meta = dyn_meta_open(cfg.etcd)) == NULL) {
        dyn_log(DYN_LOG_ERROR, "ROUTER-ETCD", "endpoint=%s", cfg.etcd);
        goto out;
    }
    char endpoint[256];
    router_limits lim = { .endpoint = endpoint_address(endpoint, sizeof endpoint),
                          .max_tables = cfg.max_tables,
                          .max_table_ops = cfg.max_table_ops,
                          .table_max_capacity = cfg.table_max_capacity,
                          .account_max_capacity = cfg.account_max_capacity };
    router_limits_set(&lim);
    router_coalesce_init(cfg.storage_inflight);
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
    if (cfg.ddb_listen[0] != '\0') {
        if (strcmp(cfg.http_poller, "poll") != 0 && strcmp(cfg.http_poller, "epoll") != 0) {
            dyn_log(DYN_LOG_ERROR, "ROUTER-DDB-LISTEN", "http-poller=%s (want poll or epoll)",
                    cfg.http_poller);
            e = DYN_EVALIDATION;
            goto out;
        }
        router_http_opts ho = { .listen = cfg.ddb_listen,
                                .threads = cfg.http_threads,
                                .epoll = strcmp(cfg.http_poller, "epoll") == 0,
                                .region = cfg.region,
                                .creds = creds };
        if ((e = router_http_start(srv, &ho, &ddb, &ddb_port)) != DYN_OK) {
            dyn_log(DYN_LOG_ERROR, "ROUTER-DDB-LISTEN", "listen=%s err=%s", cfg.ddb_listen,
                    dyn_err_name(e));
            goto out;
        }
        dyn_log(DYN_LOG_INFO, "ROUTER-DDB-READY", "port=%d threads=%d poller=%s auth=%s",
                ddb_port, cfg.http_threads, cfg.http_poller, cfg.auth);
    }
    dyn_log(DYN_LOG_INFO, "ROUTER-READY", "grpc_port=%d http_port=%d ddb_port=%d", port,
            http_port, ddb_port);
    /* SIGTERM: the HTTP endpoint drains first (its requests are local calls of srv), then gRPC */
    while (!dyn_rpc_stopping()) {
        struct timespec tick = { .tv_sec = 0, .tv_nsec = 200 * 1000000L };
        nanosleep(&tick, NULL);
    }
    router_http_stop(ddb, 5000);
    ddb = NULL;
    dyn_rpc_server_wait(srv, 5000);
    dyn_log(DYN_LOG_INFO, "ROUTER-STOP", "grpc_port=%d", port);
    rc = 0;
out:
    router_http_stop(ddb, 0);
    if (srv != NULL)
        dyn_rpc_server_free(srv);
    router_free(r);
    if (meta != NULL)
        dyn_meta_close(meta);
    dyn_sigv4_creds_free(creds);
    return rc;
}
