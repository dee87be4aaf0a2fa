/* libs/rpc -- helpers both halves share: dyn_err <-> gRPC status, clocks, protobuf-c <-> byte
 * buffers. */
#include "libs/rpc/rpc_int.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>

/* Two of gRPC C-core's defaults cost us, and both are reachable only as C++ internals, looked up
 * at run time (without them nothing changes):
 * - Debian builds abseil without NDEBUG, so every absl::Mutex lock inside gRPC also runs abseil's
 *   deadlock detector (a process-wide graph of lock orders under a global lock): 12% of a
 *   storage node's instructions per Get under load (callgrind). Off before gRPC takes its first
 *   lock.
 * - A combiner (a transport's lock) that an application thread finds busy hands the rest of its
 *   work to the default executor's threads: one more thread wake-up per call, and on a loaded
 *   machine a wait for a core. Without executor threads the thread at hand finishes the work
 *   (gRPC's own fork support runs this way). DYN_RPC_EXECUTOR_THREADS in the environment (any
 *   value) keeps them, for comparisons. docs/benchmarks.md has the numbers. */
static void (*executor_threading)(bool);

static void
grpc_tune_once(void)
{
    void (*absl_mode)(int) = (void (*)(int))dlsym(
        RTLD_DEFAULT, "_ZN4absl7debian329SetMutexDeadlockDetectionModeENS0_15OnDeadlockCycleE");

    if (absl_mode != NULL)
        absl_mode(0);   /* absl::OnDeadlockCycle::kIgnore */
    executor_threading =
        (void (*)(bool))dlsym(RTLD_DEFAULT, "_ZN9grpc_core8Executor19SetThreadingDefaultEb");
}

void
dyn_rpc_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, grpc_tune_once);
    grpc_init();
    if (executor_threading != NULL && getenv("DYN_RPC_EXECUTOR_THREADS") == NULL)
        executor_threading(false);   /* grpc_init after a full shutdown starts them again */
}

grpc_status_code
dyn_rpc_status(dyn_err rc)
{
    return (grpc_status_code)dyn_err_grpc(rc);
}

dyn_err
dyn_rpc_err_from_status(grpc_status_code st)
{
    switch (st) {
    case GRPC_STATUS_OK: return DYN_OK;
    case GRPC_STATUS_CANCELLED: return DYN_ECANCELLED;
    case GRPC_STATUS_INVALID_ARGUMENT: return DYN_EVALIDATION;
    case GRPC_STATUS_DEADLINE_EXCEEDED: return DYN_EDEADLINE;
    case GRPC_STATUS_NOT_FOUND: return DYN_ENOTFOUND;
    case GRPC_STATUS_ALREADY_EXISTS: return DYN_EEXISTS;
    case GRPC_STATUS_PERMISSION_DENIED: return DYN_EACCESS;
    case GRPC_STATUS_RESOURCE_EXHAUSTED: return DYN_ETHROTTLED;
    case GRPC_STATUS_FAILED_PRECONDITION: return DYN_ECONDFAIL;
    case GRPC_STATUS_ABORTED: return DYN_ETXCONFLICT;
    case GRPC_STATUS_UNIMPLEMENTED: return DYN_EUNIMPLEMENTED;
    case GRPC_STATUS_UNAVAILABLE: return DYN_EUNAVAIL;
    case GRPC_STATUS_UNAUTHENTICATED: return DYN_EUNRECOGNIZED;
    default: return DYN_EINTERNAL;
    }
}

bool
dyn_rpc_err_from_name(const char *name, size_t len, dyn_err *out)
{
    for (int e = 0; e < DYN_ERR__COUNT; e++) {
        const char *n = dyn_err_name((dyn_err)e);
        if (strlen(n) == len && memcmp(n, name, len) == 0) {
            *out = (dyn_err)e;
            return true;
        }
    }
    return false;
}

const char *
dyn_rpc_code_name(grpc_status_code st)
{
    static const char *const names[DYN_RPC_NCODES] = {
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
        "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
        "UNAUTHENTICATED",
    };
    return (int)st >= 0 && (int)st < DYN_RPC_NCODES ? names[st] : "UNKNOWN";
}

gpr_timespec
dyn_rpc_tick(int64_t ms)
{
    if (ms < 0)
        return gpr_inf_future(GPR_CLOCK_REALTIME);
    return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

int64_t
dyn_rpc_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
dyn_rpc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The arena's protobuf-c allocator, wrapped to tell "arena cap hit" from "malformed bytes":
 * protobuf_c_message_unpack returns NULL for both. */
typedef struct {
    dyn_arena *a;
    bool oom;
} unpack_alloc;

static void *
unpack_alloc_fn(void *data, size_t n)
{
    unpack_alloc *u = data;
    void *p = dyn_arena_alloc(u->a, n);
    if (p == NULL)
        u->oom = true;
    return p;
}

static void
unpack_free_fn(void *data, void *p)
{
    (void)data;
    (void)p;
}

dyn_err
dyn_rpc_unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc, dyn_arena *a,
               ProtobufCMessage **out)
{
    unpack_alloc u = { .a = a, .oom = false };
    ProtobufCAllocator alloc = { .alloc = unpack_alloc_fn, .free = unpack_free_fn,
                                 .allocator_data = &u };
    grpc_slice s = grpc_empty_slice();
    grpc_byte_buffer_reader r;

    if (bb != NULL) {
        /* the reader also undoes message compression */
        if (!grpc_byte_buffer_reader_init(&r, bb))
            return DYN_ESERIALIZATION;
        s = grpc_byte_buffer_reader_readall(&r);
        grpc_byte_buffer_reader_destroy(&r);
    }
    /* strings and bytes are copied into the arena, so the slice can go right after */
    *out = protobuf_c_message_unpack(desc, &alloc, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    if (*out == NULL)
        return u.oom ? DYN_ENOMEM : DYN_ESERIALIZATION;
    return DYN_OK;
}
