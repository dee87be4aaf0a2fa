/* libs/meta -- prefix watches: one Watch stream per watch, reopened by the tick thread after a
 * failure from the first revision not yet delivered; events are copied into a queue that one
 * dispatcher thread drains, so callbacks may block and call meta. */
#include "libs/meta/meta_int.h"

#include <stdlib.h>
#include <string.h>

/* Queues a copy of one event for w's callback; m->mu held. */
static void
enqueue_locked(dyn_meta *m, dyn_meta_watch *w, dyn_meta_ev_type type, const Mvccpb__KeyValue *kv,
               int64_t rev)
{
    size_t klen = kv != NULL ? kv->key.len : 0, vlen = kv != NULL ? kv->value.len : 0;
    meta_event *e = dyn_xcalloc(1, sizeof *e + klen + 1 + vlen + 1);
    char *key = (char *)(e + 1), *val = key + klen + 1;

    e->w = w;
    e->ev.type = type;
    e->ev.mod_rev = rev;
    if (kv != NULL) {
        memcpy(key, kv->key.data, klen);
        e->ev.key = key;
        if (type == DYN_META_EV_PUT) {
            memcpy(val, kv->value.data, vlen);
            e->ev.val = val;
            e->ev.val_len = vlen;
            e->ev.create_rev = kv->create_revision;
            e->ev.version = kv->version;
            e->ev.lease = kv->lease;
        }
    }
    if (m->qtail != NULL)
        m->qtail->next = e;
    else
        m->qhead = e;
    m->qtail = e;
    pthread_cond_signal(&m->disp_cv);
}

/* Completion thread: one WatchResponse for w's stream. */
static void
watch_msg(void *arg, const ProtobufCMessage *msg)
{
    dyn_meta_watch *w = arg;
    dyn_meta *m = w->m;
    const Etcdserverpb__WatchResponse *r = (const Etcdserverpb__WatchResponse *)msg;
    int64_t hdr_rev = r->header != NULL ? r->header->revision : 0;

    pthread_mutex_lock(&m->mu);
    if (w->stopping || w->stream == NULL)
        goto out;
    w->backoff_ms = META_BACKOFF_MIN_MS;
    if (r->created && w->next_rev == 0 && hdr_rev > 0)
        w->next_rev = hdr_rev + 1;   /* "from now" is now fixed: a reopen resumes here */
    if (r->compact_revision > 0) {
        enqueue_locked(m, w, DYN_META_EV_COMPACTED, NULL, r->compact_revision);
        w->next_rev = r->compact_revision;
        w->retry_at_ms = 0;
        dyn_rpc_stream_cancel(w->stream);
        goto out;
    }
    if (r->canceled) {   /* etcd dropped the watcher: reopen from next_rev */
        dyn_rpc_stream_cancel(w->stream);
        goto out;
    }
    /* All events of one revision come in one response, so skipping what is older than next_rev
     * (as it was when the response came) drops exactly the replay after a reopen. */
    int64_t from = w->next_rev, last = 0;
    for (size_t i = 0; i < r->n_events; i++) {
        const Mvccpb__Event *ev = r->events[i];
        if (ev->kv == NULL || ev->kv->mod_revision < from)
            continue;
        enqueue_locked(m, w,
                       ev->type == MVCCPB__EVENT__EVENT_TYPE__DELETE ? DYN_META_EV_DELETE
                                                                     : DYN_META_EV_PUT,
                       ev->kv, ev->kv->mod_revision);
        last = ev->kv->mod_revision;
    }
    if (last >= w->next_rev)
        w->next_rev = last + 1;
    /* A progress notification: nothing at or below hdr_rev is still to come. */
    if (r->n_events == 0 && !r->created && w->next_rev > 0 && hdr_rev + 1 > w->next_rev)
        w->next_rev = hdr_rev + 1;
out:
    pthread_mutex_unlock(&m->mu);
}

static void
watch_close(void *arg, dyn_err rc, const char *errmsg)
{
    dyn_meta_watch *w = arg;
    dyn_meta *m = w->m;

    (void)rc, (void)errmsg;   /* any end of the stream is retried until the watch stops */
    pthread_mutex_lock(&m->mu);
    w->stream = NULL;
    w->stream_live = false;
    if (!w->stopping) {
        w->retry_at_ms = w->retry_at_ms == 0 ? 0 : meta_now_ms() + w->backoff_ms;
        w->backoff_ms = w->backoff_ms * 2 > META_BACKOFF_MAX_MS ? META_BACKOFF_MAX_MS
                                                                : w->backoff_ms * 2;
    }
    pthread_cond_broadcast(&m->state_cv);
    pthread_cond_broadcast(&m->tick_cv);
    pthread_mutex_unlock(&m->mu);
}

/* Opens w's stream and asks for its watcher; m->mu held, dropped around the open (a failing
 * open may run watch_close at once). */
static void
watch_open_locked(dyn_meta_watch *w)
{
    dyn_meta *m = w->m;
    Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
    Etcdserverpb__WatchCreateRequest cr = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
    dyn_rpc_stream *s;
    dyn_arena tmp;

    w->stream_live = true;
    w->retry_at_ms = meta_now_ms() + w->backoff_ms;   /* if it fails, not before this */
    pthread_mutex_unlock(&m->mu);
    s = dyn_rpc_stream_open(m->rpc, "/etcdserverpb.Watch/Watch",
                            &etcdserverpb__watch_response__descriptor, watch_msg, watch_close, w);
    pthread_mutex_lock(&m->mu);
    if (s == NULL) {
        w->stream_live = false;
        w->retry_at_ms = meta_now_ms() + META_BACKOFF_MAX_MS;
        pthread_cond_broadcast(&m->state_cv);
        return;
    }
    if (!w->stream_live)   /* already over */
        return;
    w->stream = s;
    if (w->stopping || m->closing) {
        dyn_rpc_stream_cancel(s);
        return;
    }
    dyn_arena_init(&tmp, 1 << 16);
    meta_prefix_range(&tmp, w->prefix, &cr.key, &cr.range_end);
    cr.start_revision = w->next_rev;
    cr.progress_notify = true;
    req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
    req.create_request = &cr;
    if (dyn_rpc_stream_send(s, &req.base) != DYN_OK)
        dyn_rpc_stream_cancel(s);
    dyn_arena_fini(&tmp);
}

void
meta_watch_tick_locked(dyn_meta *m, int64_t now)
{
    /* w stays linked while the lock is dropped inside watch_open_locked: stop waits for
     * stream_live to clear, which needs this lock. */
    for (dyn_meta_watch *w = m->watches; w != NULL && !m->closing; w = w->next)
        if (!w->stream_live && !w->stopping && now >= w->retry_at_ms)
            watch_open_locked(w);
}

void *
meta_disp_main(void *arg)
{
    dyn_meta *m = arg;

    pthread_mutex_lock(&m->mu);
    for (;;) {
        while (!m->closing && m->qhead == NULL)
            pthread_cond_wait(&m->disp_cv, &m->mu);
        if (m->closing)
            break;
        meta_event *e = m->qhead;
        m->qhead = e->next;
        if (m->qhead == NULL)
            m->qtail = NULL;
        dyn_meta_watch *w = e->w;
        if (!w->stopping) {
            m->disp_running = w;
            pthread_mutex_unlock(&m->mu);
            w->fn(w->arg, &e->ev);
            pthread_mutex_lock(&m->mu);
            m->disp_running = NULL;
            pthread_cond_broadcast(&m->state_cv);
        }
        free(e);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

dyn_meta_watch *
dyn_meta_watch_start(dyn_meta *m, const char *prefix, int64_t start_rev, dyn_meta_watch_fn fn,
                     void *arg)
{
    dyn_meta_watch *w = dyn_xcalloc(1, sizeof *w);

    w->m = m;
    w->prefix = dyn_xstrdup(prefix);
    w->prefix_len = strlen(prefix);
    w->fn = fn;
    w->arg = arg;
    w->next_rev = start_rev > 0 ? start_rev : 0;
    w->backoff_ms = META_BACKOFF_MIN_MS;
    pthread_mutex_lock(&m->mu);
    if (m->closing) {
        pthread_mutex_unlock(&m->mu);
        free(w->prefix);
        free(w);
        return NULL;
    }
    w->next = m->watches;
    m->watches = w;
    watch_open_locked(w);   /* now rather than at the next tick: "from now" means now */
    pthread_mutex_unlock(&m->mu);
    return w;
}

/* Drops w's queued events (all of them when w is NULL); m->mu held. */
static void
drop_events_locked(dyn_meta *m, const dyn_meta_watch *w)
{
    meta_event **pp = &m->qhead, *e;

    m->qtail = NULL;
    while ((e = *pp) != NULL) {
        if (w == NULL || e->w == w) {
            *pp = e->next;
            free(e);
        } else {
            m->qtail = e;
            pp = &e->next;
        }
    }
}

void
dyn_meta_watch_stop(dyn_meta_watch *w)
{
    dyn_meta *m;
    bool self;

    if (w == NULL)
        return;
    m = w->m;
    self = pthread_equal(pthread_self(), m->disp_thread);
    pthread_mutex_lock(&m->mu);
    w->stopping = true;
    if (w->stream != NULL)
        dyn_rpc_stream_cancel(w->stream);
    drop_events_locked(m, w);
    while (w->stream_live || (!self && m->disp_running == w))
        pthread_cond_wait(&m->state_cv, &m->mu);
    for (dyn_meta_watch **pp = &m->watches; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
    free(w->prefix);
    free(w);
}

void
meta_watch_close_locked(dyn_meta *m)
{
    for (dyn_meta_watch *w = m->watches; w != NULL; w = w->next) {
        w->stopping = true;
        if (w->stream != NULL)
            dyn_rpc_stream_cancel(w->stream);
    }
    drop_events_locked(m, NULL);
}

bool
meta_streams_live_locked(const dyn_meta *m)
{
    if (m->ka_live)
        return true;
    for (const dyn_meta_watch *w = m->watches; w != NULL; w = w->next)
        if (w->stream_live)
            return true;
    return false;
}

void
meta_watch_free_all(dyn_meta *m)
{
    dyn_meta_watch *w, *next;

    for (w = m->watches; w != NULL; w = next) {
        next = w->next;
        free(w->prefix);
        free(w);
    }
    m->watches = NULL;
}
