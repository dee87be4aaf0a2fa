/* bench/grpcutil -- what the benchmark's own gRPC C-core clients share (bench/loadgen's driver and
 * bench/echo's proxy). */
#ifndef DYN_BENCH_GRPCUTIL_CHANNEL_H
#define DYN_BENCH_GRPCUTIL_CHANNEL_H

#include <grpc/grpc.h>

/* An insecure channel to addr on a TCP connection of its own (a local subchannel pool), with no
 * limit on received message size. */
grpc_channel *bench_channel_new(const char *addr);

#endif
