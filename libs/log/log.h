/* libs/log -- one-line structured logs on stderr:
 * ts=2026-11-24T11:00:00.123Z lvl=warn svc=storage id=STORAGE-WT-ROLLBACK <message>.
 * Thread-safe (one write(2) per line). Log IDs never change once shipped. */
#ifndef DYN_LIBS_LOG_LOG_H
#define DYN_LIBS_LOG_LOG_H

typedef enum { DYN_LOG_DEBUG = 0, DYN_LOG_INFO, DYN_LOG_WARN, DYN_LOG_ERROR } dyn_log_level;

void dyn_log_init(const char *svc, dyn_log_level min);   /* svc: borrowed static string */
void dyn_log(dyn_log_level lvl, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#endif /* DYN_LIBS_LOG_LOG_H */
