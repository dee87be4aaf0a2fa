#include "libs/arena/arena.h"

#include <stdint.h>

#include "libs/testing/dyn_test.h"

static void
test_alloc_aligned_and_reset(void)
{
    dyn_arena a;
    dyn_arena_init(&a, 1 << 20);
    for (int i = 1; i < 2000; i++) {
        void *p = dyn_arena_alloc(&a, (size_t)(i % 97) + 1);
        DT_TRUE(p != NULL);
        DT_EQ_INT((uintptr_t)p % 16, 0);
    }
    void *big = dyn_arena_alloc(&a, 100000);
    DT_TRUE(big != NULL);
    memset(big, 1, 100000);
    dyn_arena_reset(&a);
    DT_EQ_INT(a.used, 0);
    DT_TRUE(dyn_arena_alloc(&a, 10) != NULL);
    dyn_arena_fini(&a);
}

static void
test_cap_is_enforced(void)
{
    dyn_arena a;
    dyn_arena_init(&a, 1024);
    DT_TRUE(dyn_arena_alloc(&a, 1000) != NULL);
    DT_TRUE(dyn_arena_alloc(&a, 100) == NULL);
    DT_TRUE(dyn_arena_alloc(&a, SIZE_MAX) == NULL);
    dyn_arena_fini(&a);
}

static void
test_printf_long(void)
{
    dyn_arena a;
    dyn_arena_init(&a, 1 << 20);
    char *s = dyn_arena_printf(&a, "%0500d|%s", 7, "end");
    DT_EQ_INT(strlen(s), 504);
    DT_EQ_STR(s + 500, "|end");
    DT_EQ_STR(dyn_arena_strndup(&a, "abcdef", 3), "abc");
    dyn_arena_fini(&a);
}

DT_MAIN({ "alloc aligned and reset", test_alloc_aligned_and_reset },
        { "cap is enforced", test_cap_is_enforced }, { "printf long", test_printf_long })
