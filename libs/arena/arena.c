/* libs/arena -- bump allocation over a list of chunks; big requests get a chunk of their own. */
#include "libs/arena/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK 16384   /* bytes of payload in an ordinary chunk */

struct dyn_arena_chunk {
    dyn_arena_chunk *next;   /* older chunk */
    size_t size, off;        /* payload bytes; bytes used */
    _Alignas(16) unsigned char data[];
};

void *
dyn_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "dyn: out of memory (%zu bytes)\n", n);
        abort();
    }
    return p;
}

void *
dyn_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL) {
        fprintf(stderr, "dyn: out of memory (%zu x %zu bytes)\n", n, size);
        abort();
    }
    return p;
}

void *
dyn_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        fprintf(stderr, "dyn: out of memory (%zu bytes)\n", n);
        abort();
    }
    return q;
}

char *
dyn_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(dyn_xmalloc(n), s, n);
}

void
dyn_arena_init(dyn_arena *a, size_t limit)
{
    a->head = NULL;
    a->used = 0;
    a->limit = limit;
}

void
dyn_arena_fini(dyn_arena *a)
{
    dyn_arena_chunk *c = a->head, *next;

    for (; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    a->head = NULL;
    a->used = 0;
}

void
dyn_arena_reset(dyn_arena *a)
{
    dyn_arena_chunk *keep = a->head, *c, *next;

    if (keep == NULL)
        return;
    /* keep the newest ordinary-sized chunk so the next request allocates nothing */
    while (keep != NULL && keep->size != ARENA_CHUNK)
        keep = keep->next;
    for (c = a->head; c != NULL; c = next) {
        next = c->next;
        if (c != keep)
            free(c);
    }
    if (keep != NULL) {
        keep->next = NULL;
        keep->off = 0;
    }
    a->head = keep;
    a->used = 0;
}

void *
dyn_arena_alloc(dyn_arena *a, size_t n)
{
    dyn_arena_chunk *c = a->head;
    size_t need = (n + 15) & ~(size_t)15;

    if (need < n || a->used + need > a->limit)
        return NULL;
    if (c == NULL || c->size - c->off < need) {
        size_t size = need > ARENA_CHUNK / 4 ? need : ARENA_CHUNK;
        dyn_arena_chunk *nc = malloc(sizeof *nc + size);
        if (nc == NULL)
            return NULL;
        nc->size = size;
        nc->off = 0;
        if (size != ARENA_CHUNK && c != NULL) {
            /* a big block goes behind the current chunk so its free space stays usable */
            nc->next = c->next;
            c->next = nc;
            nc->off = need;
            a->used += need;
            return nc->data;
        }
        nc->next = c;
        a->head = c = nc;
    }
    void *p = c->data + c->off;
    c->off += need;
    a->used += need;
    return p;
}

void *
dyn_arena_zalloc(dyn_arena *a, size_t n)
{
    void *p = dyn_arena_alloc(a, n);
    if (p != NULL)
        memset(p, 0, n);
    return p;
}

void *
dyn_arena_memdup(dyn_arena *a, const void *src, size_t n)
{
    void *p = dyn_arena_alloc(a, n);
    if (p != NULL && n > 0)
        memcpy(p, src, n);
    return p;
}

char *
dyn_arena_strndup(dyn_arena *a, const char *s, size_t n)
{
    char *p = dyn_arena_alloc(a, n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *
dyn_arena_strdup(dyn_arena *a, const char *s)
{
    return dyn_arena_strndup(a, s, strlen(s));
}

char *
dyn_arena_vprintf(dyn_arena *a, const char *fmt, va_list ap)
{
    va_list ap2;
    char small[256];
    int n;

    va_copy(ap2, ap);
    n = vsnprintf(small, sizeof small, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return NULL;
    }
    char *p = dyn_arena_alloc(a, (size_t)n + 1);
    if (p != NULL) {
        if ((size_t)n < sizeof small)
            memcpy(p, small, (size_t)n + 1);
        else
            vsnprintf(p, (size_t)n + 1, fmt, ap2);
    }
    va_end(ap2);
    return p;
}

char *
dyn_arena_printf(dyn_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = dyn_arena_vprintf(a, fmt, ap);
    va_end(ap);
    return p;
}

static void *
arena_pb_alloc(void *ud, size_t n)
{
    return dyn_arena_alloc(ud, n);
}

static void
arena_pb_free(void *ud, void *p)
{
    (void)ud;
    (void)p;
}

ProtobufCAllocator
dyn_arena_pb_allocator(dyn_arena *a)
{
    return (ProtobufCAllocator){ .alloc = arena_pb_alloc, .free = arena_pb_free, .allocator_data = a };
}
