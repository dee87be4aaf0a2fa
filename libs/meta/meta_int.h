/* libs/meta -- private: the client struct shared by meta.c (KV, txn), meta_lease.c (leases and
 * the keep-alive stream) and meta_watch.c (watch streams and their dispatcher). One mutex guards
 * all mutable state. A stream pointer is only used (send, cancel) under that mutex while it is
 * recorded here; its on_close clears it under the same mutex before the library frees it. */
#ifndef DYN_LIBS_META_META_INT_H
#define DYN_LIBS_META_META_INT_H

#include "libs/meta/meta.h"

#include <pthread.h>

#include "libs/rpc/rpc_client.h"
#include "proto/etcd/rpc.pb-c.h"

#define META_DEADLINE_MS 5000          /* every blocking etcd call */
#define META_TMP_ARENA (64u << 20)     /* cap for decoding one reply */
#define META_TICK_MS 100               /* background thread period */
#define META_BACKOFF_MIN_MS 100        /* stream reopen delay, doubled per failure */
#define META_BACKOFF_MAX_MS 2000

typedef struct meta_lease meta_lease;
struct meta_lease {
    meta_lease *next;
    int64_t id, ttl_s;
    int64_t next_due_ms;   /* monotonic ms of the next refresh */
    int64_t last_ok_ms;    /* last refresh etcd confirmed (start time at first) */
    bool lost;             /* etcd said it is gone, or refreshes failed for ttl_s */
    bool in_cb;            /* its lost callback is running */
    dyn_meta_lease_lost_fn lost_fn;
    void *arg;
};

typedef struct meta_event meta_event;   /* one queued watch event; owned by the queue */
struct meta_event {
    meta_event *next;
    dyn_meta_watch *w;
    dyn_meta_event ev;   /* key and val point into this allocation */
};

struct dyn_meta_watch {
    dyn_meta_watch *next;     /* in m->watches */
    dyn_meta *m;
    char *prefix;             /* owned */
    size_t prefix_len;
    dyn_meta_watch_fn fn;
    void *arg;
    int64_t next_rev;         /* first revision not yet delivered; 0 = "now" */
    dyn_rpc_stream *stream;   /* current stream; NULL while (re)opening or closed */
    bool stream_live;         /* a stream exists whose on_close has not run */
    bool stopping;
    int backoff_ms;
    int64_t retry_at_ms;      /* reopen not before this */
};

struct dyn_meta {
    dyn_rpc_client *rpc;      /* owned */
    pthread_mutex_t mu;
    pthread_cond_t tick_cv;   /* wakes the tick thread */
    pthread_cond_t disp_cv;   /* wakes the dispatcher */
    pthread_cond_t state_cv;  /* stream closed, callback finished */
    bool closing;

    pthread_t tick_thread;    /* keep-alives, lost callbacks, watch reopening */
    meta_lease *leases;
    dyn_rpc_stream *ka_stream;
    bool ka_live;             /* as stream_live, for ka_stream */
    int ka_backoff_ms;
    int64_t ka_retry_at_ms;

    pthread_t disp_thread;    /* runs watch callbacks */
    dyn_meta_watch *watches;
    meta_event *qhead, *qtail;
    dyn_meta_watch *disp_running;   /* whose callback runs now */
};

int64_t meta_now_ms(void);
/* prefix -> [key, range_end) per etcd: range_end = prefix with its last byte below 0xff
 * incremented (and the rest cut); "" or all-0xff -> "\0" = to the end. In arena a. */
void meta_prefix_range(dyn_arena *a, const char *prefix, ProtobufCBinaryData *key,
                       ProtobufCBinaryData *end);
/* Tick-thread parts, called with m->mu held. */
void meta_lease_tick_locked(dyn_meta *m, int64_t now);
void meta_watch_tick_locked(dyn_meta *m, int64_t now);
/* Dispatcher thread and shutdown. */
void *meta_disp_main(void *arg);
void meta_lease_close_locked(dyn_meta *m);   /* cancels the keep-alive stream, drops leases */
void meta_watch_close_locked(dyn_meta *m);   /* cancels every watch stream */
bool meta_streams_live_locked(const dyn_meta *m);
void meta_watch_free_all(dyn_meta *m);       /* after the threads and streams are gone */
#endif /* DYN_LIBS_META_META_INT_H */
