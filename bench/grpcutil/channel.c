/* bench/grpcutil -- see channel.h. */
#include "bench/grpcutil/channel.h"

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
