/* libs/feed -- the change feed over nng (DESIGN.md §4; wire formats in proto/dyne/internal/
 * feed.proto). Storage side: a publisher of "partition P reached LSN N" notices (PUB) and a
 * cursor server (REP) answering reads and consumer registrations through a handler. Consumer
 * side: a durable position store and a consumer that pulls records after its positions, applies
 * them, stores the new positions and registers them, so storage trims only what is applied and
 * persisted. Delivery is at-least-once: apply must be idempotent (each record carries its LSN). */
#ifndef DYN_LIBS_FEED_FEED_H
#define DYN_LIBS_FEED_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "libs/err/err.h"
#include "proto/dyne/internal/feed.pb-c.h"
#include "proto/dyne/internal/storage.pb-c.h"

/* ---- publisher (storage side) ---- */

typedef struct dyn_feed_pub dyn_feed_pub;   /* opaque */

typedef struct dyn_feed_pub_opts {
    int min_interval_ms;   /* at most one notice per partition per this many ms (default 5) */
    int announce_ms;       /* every partition's latest LSN again this often (default 1000) */
} dyn_feed_pub_opts;

/* Opens a PUB socket listening on url ("tcp://127.0.0.1:7002"; port 0 picks a free one;
 * "inproc://x" and "ipc://..." work too) and starts the publisher thread. opts NULL = defaults.
 * On DYN_OK *out is owned (dyn_feed_pub_close). DYN_EVALIDATION: a bad url; DYN_EUNAVAIL: the
 * address is taken. */
dyn_err dyn_feed_pub_open(const char *url, const dyn_feed_pub_opts *opts, dyn_feed_pub **out);
/* The url actually bound (a tcp port 0 replaced by the bound port); borrowed until close. */
const char *dyn_feed_pub_url(const dyn_feed_pub *p);
/* Partition `partition` has reached LSN lsn. Cheap enough for the write path: one short mutex
 * and a hash lookup; lower LSNs than the one known are ignored; the publisher thread sends the
 * notice (within about a millisecond when idle). Thread-safe; p NULL is a no-op. */
void dyn_feed_pub_notify(dyn_feed_pub *p, const char *partition, uint64_t lsn);
/* Forgets a partition (dropped): no more announcements, and a partition created again with the
 * same id starts over from LSN 0. Thread-safe; p NULL is a no-op. */
void dyn_feed_pub_forget(dyn_feed_pub *p, const char *partition);
/* Notices sent so far (for tests and metrics). */
uint64_t dyn_feed_pub_sent(dyn_feed_pub *p);
/* Stops the thread and closes the socket. NULL is fine. Not concurrently with notify. */
void dyn_feed_pub_close(dyn_feed_pub *p);

/* Encodes / decodes a notice ("<partition>\0" + be64 lsn). encode: the length written, 0 if
 * cap is too small. decode: false unless buf is a well-formed notice; *partition then points
 * into buf. */
size_t dyn_feed_notice_encode(const char *partition, uint64_t lsn, uint8_t *buf, size_t cap);
bool dyn_feed_notice_decode(const uint8_t *buf, size_t len, const char **partition,
                            uint64_t *lsn);

/* ---- cursor server (storage side) ---- */

typedef struct dyn_feed_server dyn_feed_server;   /* opaque */
typedef struct dyn_feed_call dyn_feed_call;       /* one request being answered */

/* Called on an nng worker thread for each well-formed request: method "ReadChanges" (req a
 * Dyne__Internal__ReadChangesRequest) or "RegisterConsumer" (a ..RegisterConsumerRequest). req
 * is borrowed until the reply. The handler must answer exactly once with dyn_feed_call_reply,
 * before returning or later from any thread; like a gRPC handler it must not block for long. */
typedef void (*dyn_feed_handler)(void *ctx, dyn_feed_call *call, const char *method,
                                 const ProtobufCMessage *req);

/* Sends the reply: rc DYN_OK with resp (a ReadChangesResponse for reads; anything or NULL for a
 * registration -- only success is sent), else an error reply with dyn_err_name(rc) and errmsg
 * (may be NULL). resp and errmsg are borrowed for the call only (packed at once). */
void dyn_feed_call_reply(dyn_feed_call *call, dyn_err rc, const ProtobufCMessage *resp,
                         const char *errmsg);

/* Opens a REP socket listening on url (as dyn_feed_pub_open) served by `contexts` nng contexts
 * in parallel (default 8 when <= 0). Garbage and requests without an op are answered with an
 * EVALIDATION error reply by the server itself. On DYN_OK *out is owned. */
dyn_err dyn_feed_server_open(const char *url, int contexts, dyn_feed_handler handler, void *ctx,
                             dyn_feed_server **out);
const char *dyn_feed_server_url(const dyn_feed_server *s);   /* as dyn_feed_pub_url */
/* Stops receiving, waits for handlers still owing a reply, closes. NULL is fine. */
void dyn_feed_server_close(dyn_feed_server *s);

/* ---- position store (consumer side) ---- */

/* One file per consumer, <dir>/<consumer>.pos: a header line, one "<partition> <lsn>" line per
 * partition, and an "end" line. Every set rewrites it whole: write to <consumer>.pos.tmp, fsync,
 * rename over the old file, fsync the directory -- so a crash leaves the old or the new file,
 * never a mix. O(partitions) per set; meant for the few hundred partitions a consumer follows.
 * Thread-safe. */
typedef struct dyn_feed_posstore dyn_feed_posstore;   /* opaque */

/* Opens (creating dir if needed) and loads the consumer's positions. consumer: 1-200 characters
 * of [A-Za-z0-9._-]. DYN_EVALIDATION: a bad name; DYN_EINTERNAL: a damaged file (never taken
 * for "no positions": that would re-deliver, or miss what storage has trimmed since). */
dyn_err dyn_feed_posstore_open(const char *dir, const char *consumer, dyn_feed_posstore **out);
/* The stored position of partition (0 = nothing applied yet). */
uint64_t dyn_feed_posstore_get(dyn_feed_posstore *s, const char *partition);
/* Sets partition's position and makes the file durable before returning DYN_OK. partition:
 * printable, no spaces (DYN_EVALIDATION). On an I/O error the file on disk is unchanged. */
dyn_err dyn_feed_posstore_set(dyn_feed_posstore *s, const char *partition, uint64_t lsn);
void dyn_feed_posstore_close(dyn_feed_posstore *s);   /* NULL is fine */

/* ---- consumer ---- */

/* Applies records of one partition, in LSN order, all with LSN > the partition's stored
 * position. 0: applied (the position moves past them); anything else: not applied, retried
 * later. Never called concurrently for one partition; partitions on different nodes are applied
 * from different threads at once. Must be idempotent: a crash between apply and the durable
 * position store re-delivers the records. records are borrowed for the call. */
typedef int (*dyn_feed_apply_fn)(void *ctx, const char *partition,
                                 const Dyne__Internal__ChangeRecord *const *records, size_t n);

typedef struct dyn_feed_source {
    const char *partition;    /* partition id */
    const char *pub_url;      /* its storage node's notices (NodeMeta.feed_pub_url) */
    const char *cursor_url;   /* and cursor socket (NodeMeta.feed_cursor_url) */
} dyn_feed_source;

typedef struct dyn_feed_consumer_opts {
    const char *name;                 /* consumer name, registered with storage and naming
                                         the position file */
    const char *pos_dir;              /* directory of the position store */
    const dyn_feed_source *sources;   /* copied */
    size_t n_sources;
    dyn_feed_apply_fn apply;
    void *apply_ctx;
    int poll_ms;          /* pull each partition at least this often (default 500) */
    int timeout_ms;       /* one cursor request (default 2000); then retried */
    int max_records;      /* per pull (default 1000) */
    int64_t max_bytes;    /* per pull, past the first record (default 1 MiB) */
    int register_ms;      /* register a moved position at most this often while records keep
                             coming (default 1000; always when caught up) */
} dyn_feed_consumer_opts;

typedef struct dyn_feed_consumer dyn_feed_consumer;   /* opaque */

/* Opens the position store and starts one thread per storage node (sources grouped by
 * cursor_url). For each partition the thread registers the stored position first (so the log
 * is kept from there), then pulls records after it whenever a notice says there are more and
 * every poll_ms anyway, calls apply, stores the new position durably and only then registers it
 * over the cursor socket. A node that is down or restarting only delays: requests time out and
 * are retried with backoff, the sockets reconnect by themselves. On DYN_OK *out is owned. */
dyn_err dyn_feed_consumer_open(const dyn_feed_consumer_opts *opts, dyn_feed_consumer **out);

typedef struct dyn_feed_consumer_stats {
    uint64_t records;      /* applied (re-deliveries after a restart count again) */
    uint64_t pulls;        /* cursor reads answered */
    uint64_t errors;       /* cursor requests failed or timed out, applies refused */
    uint64_t notices;      /* notices received */
    uint64_t registered;   /* positions registered */
    uint64_t gaps;         /* pulls whose first record was past position+1: the log was
                              trimmed before this consumer registered (logged FEED-GAP) */
} dyn_feed_consumer_stats;
void dyn_feed_consumer_stats_get(dyn_feed_consumer *c, dyn_feed_consumer_stats *out);
/* The partition's durable position and the last one storage acknowledged (0 before the first
 * registration); false if the consumer does not follow it. */
bool dyn_feed_consumer_position(dyn_feed_consumer *c, const char *partition, uint64_t *stored,
                                uint64_t *registered);
/* Stops the threads (an apply in progress finishes first) and closes the sockets and the
 * store. NULL is fine. */
void dyn_feed_consumer_close(dyn_feed_consumer *c);
#endif /* DYN_LIBS_FEED_FEED_H */
