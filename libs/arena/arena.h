/* libs/arena -- memory that lives exactly as long as one request (or one batch). Nothing is
 * freed alone: dyn_arena_reset() drops it all, keeping one chunk. One thread at a time. */
#ifndef DYN_LIBS_ARENA_ARENA_H
#define DYN_LIBS_ARENA_ARENA_H

#include <stdarg.h>
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

typedef struct dyn_arena_chunk dyn_arena_chunk;   /* opaque */
typedef struct dyn_arena {
    dyn_arena_chunk *head;   /* newest chunk; allocations come from here */
    size_t used, limit;      /* bytes handed out since reset; hard cap */
} dyn_arena;

void dyn_arena_init(dyn_arena *a, size_t limit);
void dyn_arena_fini(dyn_arena *a);
void dyn_arena_reset(dyn_arena *a);
void *dyn_arena_alloc(dyn_arena *a, size_t n);   /* 16-byte aligned; NULL past the cap */
void *dyn_arena_zalloc(dyn_arena *a, size_t n);  /* zeroed */
void *dyn_arena_memdup(dyn_arena *a, const void *p, size_t n);
char *dyn_arena_strdup(dyn_arena *a, const char *s);
char *dyn_arena_strndup(dyn_arena *a, const char *s, size_t n);
char *dyn_arena_printf(dyn_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *dyn_arena_vprintf(dyn_arena *a, const char *fmt, va_list ap);
ProtobufCAllocator dyn_arena_pb_allocator(dyn_arena *a);   /* its free() is a no-op */

/* Heap helpers for what outlives a request: abort on out-of-memory (the process restarts and
 * WiredTiger recovers; no untested NULL branches). */
void *dyn_xmalloc(size_t n);
void *dyn_xcalloc(size_t n, size_t size);
void *dyn_xrealloc(void *p, size_t n);
char *dyn_xstrdup(const char *s);
#define DYN_FREE(p)                                                                            \
    do {                                                                                       \
        free(p);                                                                               \
        (p) = NULL;                                                                            \
    } while (0)
#endif /* DYN_LIBS_ARENA_ARENA_H */
