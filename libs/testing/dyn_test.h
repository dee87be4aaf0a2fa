/* libs/testing -- a tiny unit-test runner: DT_MAIN lists the cases, DT_* check and report with
 * file:line, and the binary exits non-zero if any case failed. Header-only. */
#ifndef DYN_LIBS_TESTING_DYN_TEST_H
#define DYN_LIBS_TESTING_DYN_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    void (*fn)(void);
} dt_case;

extern int dt_failures;   /* failed checks in the current case */

#define DT_FAIL_(...)                                                                          \
    do {                                                                                       \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                                      \
        fprintf(stderr, __VA_ARGS__);                                                          \
        fputc('\n', stderr);                                                                   \
        dt_failures++;                                                                         \
    } while (0)
#define DT_TRUE(c)                                                                             \
    do {                                                                                       \
        if (!(c))                                                                              \
            DT_FAIL_("expected true: %s", #c);                                                 \
    } while (0)
#define DT_EQ_INT(a, b)                                                                        \
    do {                                                                                       \
        long long dt_a_ = (long long)(a), dt_b_ = (long long)(b);                              \
        if (dt_a_ != dt_b_)                                                                    \
            DT_FAIL_("%s == %lld, expected %s == %lld", #a, dt_a_, #b, dt_b_);                 \
    } while (0)
#define DT_EQ_STR(a, b)                                                                        \
    do {                                                                                       \
        const char *dt_a_ = (a), *dt_b_ = (b);                                                 \
        if (dt_a_ == NULL || dt_b_ == NULL || strcmp(dt_a_, dt_b_) != 0)                       \
            DT_FAIL_("%s == \"%s\", expected \"%s\"", #a, dt_a_ ? dt_a_ : "(null)",            \
                     dt_b_ ? dt_b_ : "(null)");                                                \
    } while (0)
#define DT_OK(e) DT_EQ_INT((e), 0)
#define DT_ERR(e, want) DT_EQ_INT((e), (want))

#define DT_MAIN(...)                                                                           \
    int dt_failures;                                                                           \
    int main(void)                                                                             \
    {                                                                                          \
        static const dt_case cases[] = { __VA_ARGS__ };                                        \
        int failed = 0, n = (int)(sizeof cases / sizeof cases[0]);                             \
        for (int i = 0; i < n; i++) {                                                          \
            dt_failures = 0;                                                                   \
            cases[i].fn();                                                                     \
            fprintf(stderr, "%s %s\n", dt_failures ? "FAIL" : "ok  ", cases[i].name);          \
            failed += dt_failures != 0;                                                        \
        }                                                                                      \
        fprintf(stderr, "%d passed, %d failed\n", n - failed, failed);                         \
        return failed ? 1 : 0;                                                                 \
    }
#endif /* DYN_LIBS_TESTING_DYN_TEST_H */
