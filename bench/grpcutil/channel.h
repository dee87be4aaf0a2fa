/* bench/grpcutil -- what the benchmark's own gRPC C-core clients share (bench/loadgen's driver and
 * bench/echo's proxy). */
#ifndef DYN_BENCH_GRPCUTIL_CHANNEL_H
#define DYN_BENCH_GRPCUTIL_CHANNEL_H

#include <stdint.h>
#include <grpc/grpc.h>

/* An insecure channel to addr on a TCP connection of its own (a local subchannel pool), with no
 * limit on received message size. */
grpc_channel *bench_channel_new(const char *addr);

/* The one batch of a unary client call in ops[0..5]: initial metadata (md_flags), the request
 * message, close, then the reply's initial metadata, message and status into the given places. */
void bench_unary_ops(grpc_op ops[6], uint32_t md_flags, grpc_byte_buffer *send,
                     grpc_metadata_array *init_md, grpc_byte_buffer **recv,
                     grpc_metadata_array *trail_md, grpc_status_code *status,
                     grpc_slice *details);

#endif
