/* services/storage -- Batch: the calls a router coalesced into one internal call. Each runs as a
 * local call of its own method (libs/rpc: same handler, own arena, own metrics), concurrently as
 * separate gRPC calls would; the reply goes out when the last one has ended, each call's outcome
 * in its slot. Writes among them reach the committer together and share a group commit. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "libs/arena/arena.h"
#include "proto/dyne/internal/storage.pb-c.h"
#include "services/storage/storage.h"

#define BATCH_MAX_CALLS 1024

typedef struct batch_slot {
    struct batch *b;
    dyn_rpc_call *sub;            /* NULL: refused before it ran (reply already set) */
    Dyne__Internal__BatchReply reply;
} batch_slot;

typedef struct batch {
    dyn_rpc_call *call;           /* the Batch call */
    size_t n;
    batch_slot *slots;            /* call arena */
    atomic_size_t left;           /* slots still running + 1 while the handler starts them */
} batch;

/* A message packed into arena a as bytes; false when the arena is full. */
static bool
pack_into(dyn_arena *a, const ProtobufCMessage *m, ProtobufCBinaryData *out)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = dyn_arena_alloc(a, n ? n : 1);

    if (buf == NULL)
        return false;
    out->len = protobuf_c_message_pack(m, buf);
    out->data = buf;
    return true;
}

/* Ends the Batch call once every slot has an outcome; then releases the local calls (their
 * arenas hold the packed replies, which the finish has copied into the gRPC payload). */
static void
batch_finish(batch *b)
{
    dyn_arena *a = dyn_rpc_call_arena(b->call);
    Dyne__Internal__BatchResponse *out = dyn_arena_alloc(a, sizeof *out);
    Dyne__Internal__BatchReply **replies = dyn_arena_alloc(a, sizeof *replies * (b->n ? b->n : 1));
    /* b lives in the Batch call's arena, which the finish recycles: keep the subs apart */
    size_t n = b->n;
    dyn_rpc_call **subs = dyn_xmalloc(sizeof *subs * (n ? n : 1));

    for (size_t i = 0; i < n; i++)
        subs[i] = b->slots[i].sub;
    if (out == NULL || replies == NULL) {
        dyn_rpc_call_finish(b->call, DYN_ENOMEM, NULL, "out of memory");
    } else {
        dyne__internal__batch_response__init(out);
        for (size_t i = 0; i < b->n; i++)
            replies[i] = &b->slots[i].reply;
        out->n_replies = b->n;
        out->replies = replies;
        dyn_rpc_call_finish(b->call, DYN_OK, &out->base, NULL);
    }
    for (size_t i = 0; i < n; i++)
        dyn_rpc_local_free(subs[i]);
    free(subs);
}

static void
slot_release(batch *b)
{
    if (atomic_fetch_sub_explicit(&b->left, 1, memory_order_acq_rel) == 1)
        batch_finish(b);
}

/* One call ended (on any thread): its outcome goes into its slot, in its own arena. */
static void
sub_done(void *arg, dyn_err rc, const ProtobufCMessage *resp, const char *errmsg)
{
    batch_slot *s = arg;
    dyn_arena *a = dyn_rpc_call_arena(s->sub);
    Dyne__Internal__BatchReply *r = &s->reply;

    if (rc == DYN_OK) {
        if (resp != NULL && pack_into(a, resp, &r->reply)) {
            r->has_reply = true;
        } else if (resp != NULL) {
            rc = DYN_ENOMEM;
            errmsg = "out of memory";
        }
    }
    if (rc != DYN_OK) {
        const ProtobufCMessage *detail = dyn_rpc_call_error_detail(s->sub);
        r->err = (char *)dyn_err_name(rc);
        r->message = (char *)(errmsg != NULL ? errmsg : dyn_err_type(rc));
        if (detail != NULL && pack_into(a, detail, &r->detail))
            r->has_detail = true;
    }
    slot_release(s->b);
}

static void
slot_refuse(batch_slot *s, dyn_err rc, const char *msg)
{
    s->reply.err = (char *)dyn_err_name(rc);
    s->reply.message = (char *)msg;
}

dyn_err
storage_h_batch(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp, void *ctx)
{
    const Dyne__Internal__BatchRequest *req = (const void *)m;
    dyn_rpc_server *srv = dyn_rpc_call_server(call);
    dyn_arena *a = dyn_rpc_call_arena(call);
    batch *b = dyn_arena_zalloc(a, sizeof *b);

    (void)resp;
    (void)ctx;
    if (req->n_calls > BATCH_MAX_CALLS)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "a Batch carries at most %d calls",
                                 BATCH_MAX_CALLS);
    if (b == NULL || (b->slots = dyn_arena_zalloc(a, sizeof *b->slots * (req->n_calls + 1))) == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    b->call = call;
    b->n = req->n_calls;
    atomic_init(&b->left, b->n + 1);
    for (size_t i = 0; i < b->n; i++)
        dyne__internal__batch_reply__init(&b->slots[i].reply);
    dyn_rpc_call_defer(call);

    for (size_t i = 0; i < b->n; i++) {
        const Dyne__Internal__BatchCall *c = req->calls[i];
        batch_slot *s = &b->slots[i];
        const ProtobufCMessageDescriptor *in = NULL;
        dyn_err rc;

        s->b = b;
        if (c->method == NULL || strcmp(c->method, "Batch") == 0) {
            slot_refuse(s, DYN_EVALIDATION, "not a method a Batch can carry");
            slot_release(b);
            continue;
        }
        if ((rc = dyn_rpc_local_new(srv, "dyne.internal.Storage", c->method, &s->sub, &in)) != DYN_OK) {
            s->sub = NULL;
            slot_refuse(s, rc, rc == DYN_EUNKNOWNOP ? "no such method" : "the node is stopping");
            slot_release(b);
            continue;
        }
        ProtobufCAllocator alloc = dyn_arena_pb_allocator(dyn_rpc_call_arena(s->sub));
        ProtobufCMessage *sreq = protobuf_c_message_unpack(in, &alloc, c->request.len, c->request.data);
        if (sreq == NULL) {
            dyn_rpc_local_reject(s->sub, DYN_ESERIALIZATION);
            slot_refuse(s, DYN_ESERIALIZATION, "Malformed request body");
            slot_release(b);
            continue;
        }
        int64_t left = dyn_rpc_call_deadline_ms(call);
        if (left != INT64_MAX)
            dyn_rpc_local_set_deadline(s->sub, left - (c->has_deadline_before_ms ? c->deadline_before_ms : 0));
        dyn_rpc_local_run(s->sub, sreq, sub_done, s);
    }
    slot_release(b);   /* the handler's own count: the last outcome finishes the call */
    return DYN_OK;
}
