/* bench/echo -- the echo and the proxy in this process on loopback ports of their own: bytes come
 * back as sent (empty, small, large), other paths are UNIMPLEMENTED, a proxy whose backend is
 * gone says UNAVAILABLE, stopping with idle clients connected returns, a taken port fails. */
#include "bench/echo/echo.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "libs/testing/dyn_test.h"

typedef struct et_client {
    grpc_channel *ch;
    grpc_completion_queue *cq;
} et_client;

static void
et_connect(et_client *c, int port)
{
    char addr[64];
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();

    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    c->ch = grpc_channel_create(addr, creds, NULL);
    grpc_channel_credentials_release(creds);
    c->cq = grpc_completion_queue_create_for_next(NULL);
}

static void
et_close(et_client *c)
{
    grpc_channel_destroy(c->ch);
    grpc_completion_queue_shutdown(c->cq);
    while (grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(c->cq);
}

/* One blocking unary call of method with len bytes of req; the status, and the reply bytes in
 * *resp (malloc'd, *rlen bytes; NULL when no message came). */
static grpc_status_code
et_call(et_client *c, const char *method, const void *req, size_t len, char **resp, size_t *rlen)
{
    grpc_metadata_array init_md, trail_md;
    grpc_byte_buffer *send, *recv = NULL;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice(), m = grpc_slice_from_copied_string(method);
    grpc_slice body = grpc_slice_from_copied_buffer(req, len);
    grpc_op ops[6];
    int tag;

    grpc_metadata_array_init(&init_md);
    grpc_metadata_array_init(&trail_md);
    send = grpc_raw_byte_buffer_create(&body, 1);
    grpc_slice_unref(body);
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_seconds(10, GPR_TIMESPAN));
    grpc_call *call = grpc_channel_create_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq, m,
                                               NULL, deadline, NULL);
    grpc_slice_unref(m);
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].flags = GRPC_INITIAL_METADATA_WAIT_FOR_READY;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trail_md;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;
    DT_EQ_INT(grpc_call_start_batch(call, ops, 6, &tag, NULL), GRPC_CALL_OK);
    grpc_event ev = grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    DT_TRUE(ev.type == GRPC_OP_COMPLETE && ev.tag == &tag && ev.success);
    *resp = NULL;
    *rlen = 0;
    if (recv != NULL) {
        grpc_byte_buffer_reader r;
        DT_TRUE(grpc_byte_buffer_reader_init(&r, recv));
        grpc_slice all = grpc_byte_buffer_reader_readall(&r);
        grpc_byte_buffer_reader_destroy(&r);
        *rlen = GRPC_SLICE_LENGTH(all);
        *resp = malloc(*rlen + 1);
        memcpy(*resp, GRPC_SLICE_START_PTR(all), *rlen);
        grpc_slice_unref(all);
        grpc_byte_buffer_destroy(recv);
    }
    grpc_byte_buffer_destroy(send);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&init_md);
    grpc_metadata_array_destroy(&trail_md);
    grpc_call_unref(call);
    return status;
}

/* Echo calls of several sizes to port come back byte for byte. */
static void
et_check_echoes(int port)
{
    static const size_t sizes[] = { 0, 1, 100, 300000 };
    char *big = malloc(300000), *resp;
    size_t rlen;
    et_client c;

    for (size_t i = 0; i < 300000; i++)
        big[i] = (char)('a' + i % 26);
    et_connect(&c, port);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        DT_EQ_INT(et_call(&c, ECHO_METHOD, big + i, sizes[i], &resp, &rlen), GRPC_STATUS_OK);
        DT_EQ_INT(rlen, sizes[i]);
        DT_TRUE(resp != NULL && memcmp(resp, big + i, sizes[i]) == 0);
        free(resp);
    }
    DT_EQ_INT(et_call(&c, "/dyne.bench.Echo/Other", "x", 1, &resp, &rlen),
              GRPC_STATUS_UNIMPLEMENTED);
    DT_TRUE(resp == NULL);
    et_close(&c);   /* the servers stop with this connection gone, and below with one open */
    free(big);
}

static void
test_echo_and_proxy_return_the_bytes(void)
{
    echo_opts eo = { .listen = "127.0.0.1:0", .workers = 2, .slots = 4 };
    char backend[64], *resp;
    size_t rlen;
    int port = 0, pport = 0;

    grpc_init();   /* the clients here outlive both servers' own */
    echo_server *e = echo_server_start(&eo, &port);
    DT_TRUE(e != NULL && port > 0);
    if (e == NULL)
        goto out;
    et_check_echoes(port);

    snprintf(backend, sizeof backend, "127.0.0.1:%d", port);
    echo_opts po = { .listen = "127.0.0.1:0", .backend = backend, .workers = 2, .slots = 4,
                     .backend_conns = 2 };
    echo_server *p = echo_server_start(&po, &pport);
    DT_TRUE(p != NULL && pport > 0 && pport != port);
    if (p == NULL) {
        echo_server_stop(e);
        goto out;
    }
    et_check_echoes(pport);

    /* the backend goes away: the proxy answers with the failure of its call */
    et_client c;
    et_connect(&c, pport);
    echo_server_stop(e);
    DT_EQ_INT(et_call(&c, ECHO_METHOD, "abc", 3, &resp, &rlen), GRPC_STATUS_UNAVAILABLE);
    free(resp);
    echo_server_stop(p);   /* with c still connected */
    et_close(&c);
out:
    grpc_shutdown();
}

static void
test_a_taken_port_is_an_error(void)
{
    echo_opts o = { .listen = "127.0.0.1:0", .workers = 1, .slots = 1 };
    char addr[64];
    int port = 0, port2 = -1;

    echo_server *e = echo_server_start(&o, &port);
    DT_TRUE(e != NULL);
    if (e == NULL)
        return;
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    o.listen = addr;
    DT_TRUE(echo_server_start(&o, &port2) == NULL);
    DT_EQ_INT(port2, -1);
    echo_server_stop(e);
}

DT_MAIN({ "echo and proxy return the bytes", test_echo_and_proxy_return_the_bytes },
        { "a taken port is an error", test_a_taken_port_is_an_error })
