/* bench/grpcutil -- see channel.h. */
#include "bench/grpcutil/channel.h"

#include <string.h>
#include <grpc/grpc_security.h>

grpc_channel *
bench_channel_new(const char *addr)
{
    grpc_arg args[] = {
        { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, .value.integer = 1 },
        { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
          .value.integer = -1 },
    };
    grpc_channel_args cargs = { .num_args = sizeof args / sizeof args[0], .args = args };
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_channel *ch = grpc_channel_create(addr, creds, &cargs);

    grpc_channel_credentials_release(creds);
    return ch;
}

void
bench_unary_ops(grpc_op ops[6], uint32_t md_flags, grpc_byte_buffer *send,
                grpc_metadata_array *init_md, grpc_byte_buffer **recv,
                grpc_metadata_array *trail_md, grpc_status_code *status, grpc_slice *details)
{
    memset(ops, 0, 6 * sizeof *ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].flags = md_flags;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = trail_md;
    ops[5].data.recv_status_on_client.status = status;
    ops[5].data.recv_status_on_client.status_details = details;
}
