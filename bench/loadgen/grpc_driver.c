/* bench/loadgen -- the gRPC driver: client threads, each with its own completion queue, channels
 * and call slots; a slot carries one unary call at a time as a single batch of six ops.
 * It talks to gRPC C-core directly rather than through libs/rpc's client: a load generator must
 * add as little CPU of its own as it can on machines where it shares cores with the server, so
 * it uses registered methods, one batch per call, no locks and no allocation beyond gRPC's. */
#include "bench/loadgen/loadgen.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "bench/grpcutil/channel.h"
#include "libs/rpc/rpc.h"   /* dyn_rpc_init */

#define SLOT_ARENA_LIMIT ((size_t)64 << 20)
#define DRAIN_GRACE_NS 15000000000LL   /* after the window, wait this long for calls in flight */

typedef struct lg_worker lg_worker;

typedef struct lg_unary {   /* one unary call and what its ops fill in */
    grpc_call *call;                     /* owned while it runs */
    grpc_metadata_array init_md, trail_md;
    grpc_byte_buffer *send, *recv;       /* owned while it runs */
    grpc_status_code status;
    grpc_slice details;
} lg_unary;

typedef struct lg_slot {   /* one call in flight; its address is the cq tag */
    lg_worker *w;
    lg_unary u;
    int64_t t0;                          /* ns: when the call was due (open loop) or started */
    lg_op op;
    dyn_arena a;                         /* the target's scratch for this call */
    lg_buf buf;                          /* request bytes */
    struct lg_slot *next_free;
} lg_slot;

typedef struct lg_shared {   /* what the workers share */
    const lg_run_opts *o;
    int64_t t_begin, t_measure, t_end;   /* ns, monotonic */
    _Atomic uint64_t load_next;          /* load: the next index to put */
    _Atomic uint64_t insert_next;        /* inserts: the next index past the preloaded ones */
    _Atomic uint64_t started;            /* calls started, against o->ops */
} lg_shared;

struct lg_worker {
    lg_shared *sh;
    int id;
    grpc_completion_queue *cq;
    grpc_channel **chans;
    void *(*reg)[LG_OP__COUNT];          /* registered methods, per channel and op */
    int nchan;
    unsigned rr;
    lg_slot *slots, *free;
    int nslots, inflight;
    double rate;                         /* open loop: calls/s of this worker; 0 closed */
    uint64_t issued;                     /* open loop: calls started (or due and late) */
    uint64_t seq;
    lg_rng rng;
    lg_result res;
    pthread_t thread;
};

static gpr_timespec
mono_in_ms(int ms)
{
    if (ms <= 0)
        return gpr_inf_future(GPR_CLOCK_MONOTONIC);
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static gpr_timespec
mono_at_ns(int64_t t)
{
    int64_t d = t - lg_now_ns();
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_nanos(d > 0 ? d : 0, GPR_TIMESPAN));
}

/* The reply bytes of a call, flattened; *owned is set when they must be unref'd. */
static grpc_slice
reply_bytes(grpc_byte_buffer *bb)
{
    grpc_byte_buffer_reader r;
    grpc_slice s = grpc_empty_slice();

    if (bb != NULL && grpc_byte_buffer_reader_init(&r, bb)) {
        s = grpc_byte_buffer_reader_readall(&r);
        grpc_byte_buffer_reader_destroy(&r);
    }
    return s;
}

/* Starts u->call as the one batch of a unary call: send u->send, receive the reply and status
 * into u. Only misuse fails here. */
static void
unary_start(lg_unary *u, uint32_t md_flags, void *tag)
{
    grpc_op ops[6];

    u->recv = NULL;
    u->details = grpc_empty_slice();
    bench_unary_ops(ops, md_flags, u->send, &u->init_md, &u->recv, &u->trail_md, &u->status,
                    &u->details);
    if (grpc_call_start_batch(u->call, ops, 6, tag, NULL) != GRPC_CALL_OK) {
        fprintf(stderr, "loadgen: grpc_call_start_batch failed\n");
        abort();
    }
}

/* Releases what a finished call held; the metadata arrays are ready for the next one. */
static void
unary_reset(lg_unary *u)
{
    grpc_call_unref(u->call);
    u->call = NULL;
    grpc_byte_buffer_destroy(u->send);
    u->send = NULL;
    if (u->recv != NULL)
        grpc_byte_buffer_destroy(u->recv);
    u->recv = NULL;
    grpc_slice_unref(u->details);
    u->details = grpc_empty_slice();
    grpc_metadata_array_destroy(&u->init_md);
    grpc_metadata_array_destroy(&u->trail_md);
    grpc_metadata_array_init(&u->init_md);
    grpc_metadata_array_init(&u->trail_md);
}

/* ---- one call ---- */

static bool
slot_start(lg_slot *s, lg_op op, uint64_t k, uint64_t seq, int64_t t0)
{
    lg_worker *w = s->w;
    const lg_run_opts *o = w->sh->o;
    lg_target *t = o->target;
    unsigned ch = w->rr++ % (unsigned)w->nchan;

    dyn_arena_reset(&s->a);
    if (t->request(t, op, k, seq, &s->a, &s->buf) != 0)
        return false;
    grpc_slice body = grpc_slice_from_copied_buffer((const char *)s->buf.p, s->buf.len);
    s->u.send = grpc_raw_byte_buffer_create(&body, 1);
    grpc_slice_unref(body);
    s->u.call = grpc_channel_create_registered_call(w->chans[ch], NULL, GRPC_PROPAGATE_DEFAULTS,
                                                    w->cq, w->reg[ch][op],
                                                    mono_in_ms(o->deadline_ms), NULL);
    s->op = op;
    s->t0 = t0 ? t0 : lg_now_ns();
    unary_start(&s->u, 0, s);
    w->inflight++;
    return true;
}

/* Accounts a finished call and releases what it held; the slot goes back on the free list. */
static void
slot_done(lg_slot *s, bool ok)
{
    lg_worker *w = s->w;
    lg_shared *sh = w->sh;
    lg_target *t = sh->o->target;
    int64_t now = lg_now_ns();
    grpc_status_code st = ok ? s->u.status : GRPC_STATUS_INTERNAL;
    bool counted = sh->o->load || sh->o->ops > 0 || (now >= sh->t_measure && now < sh->t_end);
    lg_check chk = LG_CHECK_OK;

    if (st == GRPC_STATUS_OK && t->check != NULL && counted) {
        grpc_slice r = reply_bytes(s->u.recv);
        chk = t->check(t, s->op, GRPC_SLICE_START_PTR(r), GRPC_SLICE_LENGTH(r), &s->a);
        grpc_slice_unref(r);
    }
    if (counted) {
        uint64_t ns = (uint64_t)(now - s->t0), per = t->ops_per_call > 1 ? t->ops_per_call : 1;
        w->res.ops += per;
        if (st != GRPC_STATUS_OK || chk == LG_CHECK_BAD) {
            w->res.errors += per;
            w->res.err_by_code[(unsigned)st < 17 ? (unsigned)st : 2] += per;
            if (w->res.errors <= 3) {
                fprintf(stderr, "loadgen: %s failed: status %d %.*s\n", lg_op_name(s->op), (int)st,
                        (int)GRPC_SLICE_LENGTH(s->u.details),
                        (const char *)GRPC_SLICE_START_PTR(s->u.details));
            }
        } else {
            if (chk == LG_CHECK_MISS)
                w->res.misses++;
            for (uint64_t i = 0; i < per; i++) {   /* every operation of a batch took the call */
                lg_hist_add(&w->res.all, ns);
                lg_hist_add(&w->res.op[s->op], ns);
            }
        }
    }
    unary_reset(&s->u);
    s->next_free = w->free;
    w->free = s;
    w->inflight--;
}

/* Picks the next operation and key (or the next preload index) and starts it on a free slot.
 * false when there is nothing more to start (load finished). */
static bool
issue(lg_worker *w, int64_t t0)
{
    const lg_run_opts *o = w->sh->o;
    lg_slot *s = w->free;
    lg_op op;
    uint64_t k, seq = 0;

    if (o->ops > 0 && atomic_fetch_add(&w->sh->started, 1) >= o->ops)
        return false;
    if (o->load) {
        k = atomic_fetch_add(&w->sh->load_next, 1);
        if (k >= o->keys->items)
            return false;
        op = LG_OP_PUT;
    } else {
        op = lg_mix_pick(&o->mix, &w->rng);
        if (op == LG_OP_INSERT)
            k = o->keys->items + atomic_fetch_add(&w->sh->insert_next, 1);
        else
            k = lg_keys_pick(o->keys, &w->rng);
        seq = ++w->seq;
    }
    w->free = s->next_free;
    if (!slot_start(s, op, k, seq, t0)) {
        fprintf(stderr, "loadgen: cannot build a %s request\n", lg_op_name(op));
        abort();
    }
    return true;
}

static void *
worker_main(void *arg)
{
    lg_worker *w = arg;
    lg_shared *sh = w->sh;
    const lg_run_opts *o = sh->o;
    bool more = true;
    double gap_ns = w->rate > 0 ? 1e9 / w->rate : 0;

    if (w->rate <= 0) {
        while (w->free != NULL && (more = issue(w, 0)))
            ;
    }
    for (;;) {
        int64_t now = lg_now_ns();
        bool window = o->load || o->ops > 0 ? more : now < sh->t_end;
        gpr_timespec wake = mono_in_ms(200);

        if (w->rate > 0 && window) {
            /* open loop: call i is due at t_begin + i * gap whatever happened before it; one that
             * finds no free slot starts late but keeps its due time, so the wait is in its
             * latency (no coordinated omission) */
            uint64_t due = (uint64_t)((double)(now - sh->t_begin) / gap_ns) + 1;
            while (w->issued < due && w->free != NULL) {
                int64_t t0 = sh->t_begin + (int64_t)((double)w->issued * gap_ns);
                if (t0 < now - 1000000 && now >= sh->t_measure)
                    w->res.late++;
                issue(w, t0);
                w->issued++;
            }
            if (w->free != NULL)
                wake = mono_at_ns(sh->t_begin + (int64_t)((double)w->issued * gap_ns));
        }
        if (!window && w->inflight == 0)
            break;
        if (!window && now > sh->t_end + DRAIN_GRACE_NS) {
            fprintf(stderr, "loadgen: %d calls still in flight after the drain grace\n",
                    w->inflight);
            break;
        }
        grpc_event ev = grpc_completion_queue_next(w->cq, wake, NULL);
        if (ev.type != GRPC_OP_COMPLETE || ev.tag == NULL)   /* NULL: a connectivity watch */
            continue;
        lg_slot *s = ev.tag;
        slot_done(s, ev.success != 0);
        if (w->rate <= 0 && more && (o->load || o->ops > 0 || lg_now_ns() < sh->t_end))
            more = issue(w, 0);
    }
    return NULL;
}

static void
worker_init(lg_worker *w, lg_shared *sh, int id, int nslots)
{
    const lg_run_opts *o = sh->o;

    memset(w, 0, sizeof *w);
    w->sh = sh;
    w->id = id;
    w->cq = grpc_completion_queue_create_for_next(NULL);
    w->nchan = o->conns > 0 ? o->conns : 1;
    w->chans = dyn_xcalloc((size_t)w->nchan, sizeof *w->chans);
    w->reg = dyn_xcalloc((size_t)w->nchan, sizeof *w->reg);
    for (int c = 0; c < w->nchan; c++) {
        w->chans[c] = bench_channel_new(o->addr);
        for (int op = 0; op < LG_OP__COUNT; op++)
            w->reg[c][op] = grpc_channel_register_call(
                w->chans[c], o->target->method(o->target, (lg_op)op), NULL, NULL);
    }
    w->nslots = nslots;
    w->slots = dyn_xcalloc((size_t)nslots, sizeof *w->slots);
    for (int i = nslots - 1; i >= 0; i--) {
        lg_slot *s = &w->slots[i];
        s->w = w;
        grpc_metadata_array_init(&s->u.init_md);
        grpc_metadata_array_init(&s->u.trail_md);
        s->u.details = grpc_empty_slice();
        dyn_arena_init(&s->a, SLOT_ARENA_LIMIT);
        s->next_free = w->free;
        w->free = s;
    }
    lg_rng_seed(&w->rng, o->seed * 1000003u + (uint64_t)id);
    w->seq = (uint64_t)(id + 1) * 1000000000ull;
    lg_hist_init(&w->res.all);
    for (int i = 0; i < LG_OP__COUNT; i++)
        lg_hist_init(&w->res.op[i]);
}

static void
worker_fini(lg_worker *w)
{
    for (int i = 0; i < w->nslots; i++) {
        lg_slot *s = &w->slots[i];
        if (s->u.call != NULL) {   /* abandoned after the drain grace */
            grpc_call_cancel(s->u.call, NULL);
            continue;   /* its completion never came back to us: leak it, the process ends */
        }
        grpc_metadata_array_destroy(&s->u.init_md);
        grpc_metadata_array_destroy(&s->u.trail_md);
        dyn_arena_fini(&s->a);
        lg_buf_fini(&s->buf);
    }
    free(w->slots);
    for (int c = 0; c < w->nchan; c++)
        grpc_channel_destroy(w->chans[c]);
    free(w->chans);
    free(w->reg);
    grpc_completion_queue_shutdown(w->cq);
    while (grpc_completion_queue_next(w->cq, mono_in_ms(100), NULL).type != GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(w->cq);
}

/* Waits until every channel of every worker is connected, so the first calls do not measure
 * connection setup. */
static void
connect_all(lg_worker *ws, int n)
{
    int64_t end = lg_now_ns() + 10000000000LL;

    for (int i = 0; i < n; i++) {
        for (int c = 0; c < ws[i].nchan; c++) {
            grpc_channel *ch = ws[i].chans[c];
            grpc_connectivity_state st;
            while ((st = grpc_channel_check_connectivity_state(ch, 1)) != GRPC_CHANNEL_READY &&
                   lg_now_ns() < end) {
                grpc_channel_watch_connectivity_state(ch, st, mono_in_ms(100), ws[i].cq, NULL);
                (void)grpc_completion_queue_next(ws[i].cq, mono_in_ms(200), NULL);
            }
        }
    }
}

int
lg_grpc_run(const lg_run_opts *o, lg_result *res)
{
    int nthreads = o->threads > 0 ? o->threads : 1;
    int conc = o->concurrency > 0 ? o->concurrency : 1;
    lg_shared sh = { .o = o };
    lg_worker *ws;

    if (conc < nthreads)
        nthreads = conc;
    dyn_rpc_init();
    ws = dyn_xcalloc((size_t)nthreads, sizeof *ws);
    for (int i = 0; i < nthreads; i++) {
        worker_init(&ws[i], &sh, i, conc / nthreads + (i < conc % nthreads));
        ws[i].rate = o->rate > 0 ? o->rate / nthreads : 0;
    }
    connect_all(ws, nthreads);
    sh.t_begin = lg_now_ns();
    sh.t_measure = sh.t_begin + (int64_t)(o->warmup_s * 1e9);
    sh.t_end = sh.t_measure + (int64_t)(o->duration_s * 1e9);
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) != 0) {
            fprintf(stderr, "loadgen: cannot start a thread\n");
            abort();
        }
    }
    lg_result_init(res);
    /* CPU over the measured window: the warm-up is left out, and so is the drain after it */
    bool counted_run = o->load || o->ops > 0;   /* the window is the whole run */
    if (!counted_run)
        lg_sleep_until(sh.t_measure);
    lg_cpu_mark(o, res, -1.0);
    if (!counted_run)
        lg_sleep_until(sh.t_end);
    for (int i = 0; i < nthreads; i++) {
        pthread_join(ws[i].thread, NULL);
        if (counted_run && i == nthreads - 1)
            lg_cpu_mark(o, res, 1.0);
        lg_result_add(res, &ws[i].res);
    }
    if (!counted_run)
        lg_cpu_mark(o, res, 1.0);
    res->elapsed_s = counted_run ? (double)(lg_now_ns() - sh.t_begin) / 1e9 : o->duration_s;
    for (int i = 0; i < nthreads; i++)
        worker_fini(&ws[i]);
    free(ws);
    grpc_shutdown();
    return 0;
}

/* ---- blocking calls for setup ---- */

typedef struct setup_ctx {
    grpc_channel *ch;
    grpc_completion_queue *cq;
    char msg[512];
} setup_ctx;

static int
setup_call(void *ctx, const char *method, const void *req, size_t len, lg_buf *resp,
           const char **errmsg)
{
    setup_ctx *sc = ctx;
    lg_unary u = { 0 };
    grpc_slice m = grpc_slice_from_copied_string(method);
    grpc_slice body = grpc_slice_from_copied_buffer(req, len);
    int tag;

    grpc_metadata_array_init(&u.init_md);
    grpc_metadata_array_init(&u.trail_md);
    u.status = GRPC_STATUS_UNKNOWN;
    u.send = grpc_raw_byte_buffer_create(&body, 1);
    grpc_slice_unref(body);
    u.call = grpc_channel_create_call(sc->ch, NULL, GRPC_PROPAGATE_DEFAULTS, sc->cq, m, NULL,
                                      mono_in_ms(30000), NULL);
    grpc_slice_unref(m);
    /* wait for ready: the server may still be starting */
    unary_start(&u, GRPC_INITIAL_METADATA_WAIT_FOR_READY, &tag);
    grpc_event ev = grpc_completion_queue_next(sc->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    grpc_status_code status = ev.success ? u.status : GRPC_STATUS_INTERNAL;
    grpc_slice r = reply_bytes(u.recv);
    memcpy(lg_buf_reserve(resp, GRPC_SLICE_LENGTH(r) + 1), GRPC_SLICE_START_PTR(r),
           GRPC_SLICE_LENGTH(r));
    resp->len = GRPC_SLICE_LENGTH(r);
    grpc_slice_unref(r);
    snprintf(sc->msg, sizeof sc->msg, "status %d: %.*s", (int)status,
             (int)GRPC_SLICE_LENGTH(u.details), (const char *)GRPC_SLICE_START_PTR(u.details));
    *errmsg = sc->msg;
    unary_reset(&u);
    grpc_metadata_array_destroy(&u.init_md);
    grpc_metadata_array_destroy(&u.trail_md);
    return (int)status;
}

int
lg_grpc_setup(const char *addr, lg_target *t)
{
    setup_ctx sc;
    int rc;

    dyn_rpc_init();
    sc.ch = bench_channel_new(addr);
    sc.cq = grpc_completion_queue_create_for_next(NULL);
    rc = t->setup(t, setup_call, &sc);
    grpc_channel_destroy(sc.ch);
    grpc_completion_queue_shutdown(sc.cq);
    while (grpc_completion_queue_next(sc.cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(sc.cq);
    grpc_shutdown();
    return rc;
}
