/* services/storage -- the node's side of the change feed (DESIGN.md §4, libs/feed): a publisher
 * told of every commit that appended change records, and a cursor server whose reads and
 * consumer registrations run the node's own ReadChanges / RegisterConsumer handlers as local
 * calls (one implementation of each). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libs/feed/feed.h"
#include "libs/log/log.h"
#include "services/storage/changelog.h"
#include "services/storage/storage.h"

#define FEED_CONTEXTS 8   /* cursor requests served at once */

static _Atomic(dyn_feed_pub *) g_pub;   /* read on the write path; set at start, cleared at stop */
static dyn_feed_server *g_cursor;

void
storage_feed_notify(const char *partition, uint64_t lsn)
{
    dyn_feed_pub_notify(atomic_load_explicit(&g_pub, memory_order_acquire), partition, lsn);
}

void
storage_feed_forget(const char *partition)
{
    dyn_feed_pub_forget(atomic_load_explicit(&g_pub, memory_order_acquire), partition);
}

/* ---- the cursor server: local calls of the Storage handlers ---- */

typedef struct feed_local {
    dyn_feed_call *call;
    dyn_rpc_call *lc;
} feed_local;

static void
local_done(void *arg, dyn_err rc, const ProtobufCMessage *resp, const char *errmsg)
{
    feed_local *fl = arg;   /* in lc's arena: read it before the free */
    dyn_feed_call *call = fl->call;
    dyn_rpc_call *lc = fl->lc;

    dyn_feed_call_reply(call, rc, resp, errmsg);   /* packs resp at once */
    dyn_rpc_local_free(lc);
}

static void
feed_handle(void *ctx, dyn_feed_call *call, const char *method, const ProtobufCMessage *req)
{
    dyn_rpc_server *srv = ctx;
    const ProtobufCMessageDescriptor *in = NULL;
    dyn_rpc_call *lc = NULL;
    feed_local *fl;
    dyn_err rc;

    if ((rc = dyn_rpc_local_new(srv, "dyne.internal.Storage", method, &lc, &in)) != DYN_OK) {
        dyn_feed_call_reply(call, rc, NULL,
                            rc == DYN_EUNAVAIL ? "the storage node is draining" : "unknown op");
        return;
    }
    if (in != req->descriptor ||
        (fl = dyn_arena_alloc(dyn_rpc_call_arena(lc), sizeof *fl)) == NULL) {
        rc = in != req->descriptor ? DYN_EINTERNAL : DYN_ENOMEM;
        dyn_rpc_local_reject(lc, rc);
        dyn_rpc_local_free(lc);
        dyn_feed_call_reply(call, rc, NULL, "cannot run the request");
        return;
    }
    fl->call = call;
    fl->lc = lc;
    dyn_rpc_local_run(lc, req, local_done, fl);
}

/* ---- start and stop ---- */

/* Every partition's newest LSN, so the first announcements already carry them (a consumer that
 * missed notices while the node was down learns at once that there is more). */
static void
feed_seed(storage *st, dyn_feed_pub *pub)
{
    size_t n = 0;
    char **ids = storage_partition_ids(st, &n);
    dyn_kv_txn *txn = NULL;

    if (n > 0 && dyn_kv_read_begin(storage_kv(st), &txn) == DYN_OK) {
        for (size_t i = 0; i < n; i++) {
            storage_part p;
            uint64_t lsn = 0;
            if (storage_partition_gsi(st, ids[i]))   /* an index's partition has no log */
                continue;
            storage_part_tables(ids[i], &p);
            if (storage_log_last(txn, p.log, &lsn) == DYN_OK && lsn > 0)
                dyn_feed_pub_notify(pub, ids[i], lsn);
        }
        dyn_kv_read_end(txn);
    }
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

/* bound with a wildcard host ("tcp://0.0.0.0:7002") -> the host consumers should dial: the one
 * in the node's advertised gRPC address. Heap. */
static char *
feed_advertised(const char *bound, const char *grpc_addr)
{
    const char *scheme_end = strstr(bound, "://");
    const char *port = strrchr(bound, ':');
    const char *acolon = strrchr(grpc_addr, ':');
    char buf[512];

    if (scheme_end == NULL || port == NULL || port < scheme_end + 3 || acolon == NULL)
        return dyn_xstrdup(bound);
    size_t hl = (size_t)(port - (scheme_end + 3));
    const char *host = scheme_end + 3;
    bool wild = hl == 0 || (hl == 7 && strncmp(host, "0.0.0.0", 7) == 0) ||
                (hl == 1 && host[0] == '*') || (hl == 4 && strncmp(host, "[::]", 4) == 0);
    if (!wild)
        return dyn_xstrdup(bound);
    snprintf(buf, sizeof buf, "%.*s%.*s%s", (int)(scheme_end + 3 - bound), bound,
             (int)(acolon - grpc_addr), grpc_addr, port);
    return dyn_xstrdup(buf);
}

dyn_err
storage_feed_start(storage *st, dyn_rpc_server *srv, const char *pub_listen,
                   const char *cursor_listen, const char *grpc_addr, char **pub_url,
                   char **cursor_url)
{
    dyn_feed_pub *pub = NULL;
    dyn_err rc;

    *pub_url = *cursor_url = NULL;
    if (pub_listen != NULL && pub_listen[0] != '\0') {
        if ((rc = dyn_feed_pub_open(pub_listen, NULL, &pub)) != DYN_OK) {
            dyn_log(DYN_LOG_ERROR, "STORAGE-FEED-LISTEN", "socket=pub url=%s err=%s", pub_listen,
                    dyn_err_name(rc));
            return rc;
        }
        feed_seed(st, pub);
        atomic_store_explicit(&g_pub, pub, memory_order_release);
        *pub_url = feed_advertised(dyn_feed_pub_url(pub), grpc_addr);
    }
    if (cursor_listen != NULL && cursor_listen[0] != '\0') {
        if ((rc = dyn_feed_server_open(cursor_listen, FEED_CONTEXTS, feed_handle, srv,
                                       &g_cursor)) != DYN_OK) {
            dyn_log(DYN_LOG_ERROR, "STORAGE-FEED-LISTEN", "socket=cursor url=%s err=%s",
                    cursor_listen, dyn_err_name(rc));
            return rc;
        }
        *cursor_url = feed_advertised(dyn_feed_server_url(g_cursor), grpc_addr);
    }
    dyn_log(DYN_LOG_INFO, "STORAGE-FEED", "pub=%s cursor=%s", *pub_url ? *pub_url : "off",
            *cursor_url ? *cursor_url : "off");
    return DYN_OK;
}

void
storage_feed_stop_cursor(void)
{
    dyn_feed_server_close(g_cursor);
    g_cursor = NULL;
}

void
storage_feed_stop(void)
{
    dyn_feed_pub *pub = atomic_exchange(&g_pub, NULL);
    dyn_feed_pub_close(pub);
}
