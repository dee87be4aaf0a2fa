/* libs/log -- formats a whole line into a stack buffer and writes it with one write(2). */
#include "libs/log/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_svc = "dyn";
static dyn_log_level log_min = DYN_LOG_INFO;

void
dyn_log_init(const char *svc, dyn_log_level min)
{
    log_svc = svc;
    log_min = min;
}

void
dyn_log(dyn_log_level lvl, const char *id, const char *fmt, ...)
{
    static const char *names[] = { "debug", "info", "warn", "error" };
    char line[4096];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    int n;

    if (lvl < log_min)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ lvl=%s svc=%s id=%s ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ts.tv_nsec / 1000000, names[lvl & 3], log_svc, id);
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    (void)!write(STDERR_FILENO, line, (size_t)n);
}
