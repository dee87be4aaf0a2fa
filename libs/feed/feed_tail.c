/* libs/feed -- feed_tail: a consumer for tests and debugging. It follows the given partitions and
 * applies each record by appending "<partition> <lsn> <event> <key hex>" to a file (one write per
 * page, O_APPEND, so a kill -9 never leaves half a page), and prints progress on stdout:
 *
 *   feed_tail --name=tail --pos-dir=DIR --out=FILE [--fsync] [--poll-ms=500]
 *             --source=PARTITION,PUB_URL,CURSOR_URL [--source=...]
 *
 * It writes "# start pid=<pid>" to the file when it starts (restarts are visible there) and runs
 * until SIGTERM/SIGINT. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libs/feed/feed.h"
#include "libs/feed/feed_int.h"   /* feed_write_all */
#include "libs/log/log.h"

#define TAIL_SOURCES_MAX 256

static volatile sig_atomic_t g_stop;

static void
on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

typedef struct tail {
    int fd;
    bool sync;
    pthread_mutex_t mu;   /* applies of partitions on different nodes run concurrently */
} tail;

/* Idempotent in the way the test needs: a re-delivered record is a second line with the same
 * LSN, which the reader recognises as a duplicate. */
static int
tail_apply(void *ctx, const char *partition, const Dyne__Internal__ChangeRecord *const *recs,
           size_t n)
{
    tail *t = ctx;
    size_t cap = 0, len = 0;
    char *buf;
    int rv = 0;

    for (size_t i = 0; i < n; i++)
        cap += strlen(partition) + 48 + (recs[i]->event ? strlen(recs[i]->event) : 1) +
               2 * recs[i]->key.len;
    buf = malloc(cap + 1);
    if (buf == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        len += (size_t)snprintf(buf + len, cap + 1 - len, "%s %" PRIu64 " %s ", partition,
                                recs[i]->lsn, recs[i]->event ? recs[i]->event : "-");
        for (size_t k = 0; k < recs[i]->key.len; k++)
            len += (size_t)snprintf(buf + len, cap + 1 - len, "%02x", recs[i]->key.data[k]);
        if (recs[i]->key.len == 0)
            buf[len++] = '-';
        buf[len++] = '\n';
    }
    pthread_mutex_lock(&t->mu);
    if (feed_write_all(t->fd, buf, len) != 0 || (t->sync && fdatasync(t->fd) != 0))
        rv = -1;
    pthread_mutex_unlock(&t->mu);
    free(buf);
    return rv;
}

static const char *
opt(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && arg[n] == '=' ? arg + n + 1 : NULL;
}

int
main(int argc, char **argv)
{
    const char *name = "tail", *pos_dir = NULL, *out = NULL, *v;
    dyn_feed_source src[TAIL_SOURCES_MAX];
    size_t nsrc = 0;
    int poll_ms = 500;
    tail t = { .fd = -1, .mu = PTHREAD_MUTEX_INITIALIZER };
    dyn_feed_consumer *c = NULL;
    dyn_err rc;

    dyn_log_init("feed_tail", DYN_LOG_INFO);
    for (int i = 1; i < argc; i++) {
        if ((v = opt(argv[i], "--name")) != NULL) {
            name = v;
        } else if ((v = opt(argv[i], "--pos-dir")) != NULL) {
            pos_dir = v;
        } else if ((v = opt(argv[i], "--out")) != NULL) {
            out = v;
        } else if ((v = opt(argv[i], "--poll-ms")) != NULL) {
            poll_ms = atoi(v);
        } else if (strcmp(argv[i], "--fsync") == 0) {
            t.sync = true;
        } else if ((v = opt(argv[i], "--source")) != NULL && nsrc < TAIL_SOURCES_MAX) {
            char *s = strdup(v), *c1 = strchr(s, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
            if (c2 == NULL) {
                fprintf(stderr, "feed_tail: --source=PARTITION,PUB_URL,CURSOR_URL\n");
                return 2;
            }
            *c1 = *c2 = '\0';
            src[nsrc++] = (dyn_feed_source){ s, c1 + 1, c2 + 1 };   /* s: freed at exit */
        } else {
            fprintf(stderr, "feed_tail: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (pos_dir == NULL || out == NULL || nsrc == 0) {
        fprintf(stderr, "usage: feed_tail --name=N --pos-dir=DIR --out=FILE "
                        "--source=PARTITION,PUB_URL,CURSOR_URL...\n");
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    if ((t.fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0) {
        fprintf(stderr, "feed_tail: %s: %s\n", out, strerror(errno));
        return 1;
    }
    char line[64];
    int n = snprintf(line, sizeof line, "# start pid=%d\n", (int)getpid());
    if (feed_write_all(t.fd, line, (size_t)n) != 0)
        return 1;
    dyn_feed_consumer_opts o = {
        .name = name, .pos_dir = pos_dir, .sources = src, .n_sources = nsrc,
        .apply = tail_apply, .apply_ctx = &t, .poll_ms = poll_ms,
    };
    if ((rc = dyn_feed_consumer_open(&o, &c)) != DYN_OK) {
        fprintf(stderr, "feed_tail: cannot start: %s\n", dyn_err_name(rc));
        return 1;
    }
    for (size_t i = 0; i < nsrc; i++) {
        uint64_t stored = 0;
        dyn_feed_consumer_position(c, src[i].partition, &stored, NULL);
        printf("start partition=%s pos=%" PRIu64 "\n", src[i].partition, stored);
    }
    fflush(stdout);
    while (!g_stop) {
        struct timespec ts = { 0, 200 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        dyn_feed_consumer_stats st;
        dyn_feed_consumer_stats_get(c, &st);
        for (size_t i = 0; i < nsrc; i++) {
            uint64_t stored = 0, reg = 0;
            dyn_feed_consumer_position(c, src[i].partition, &stored, &reg);
            printf("progress partition=%s stored=%" PRIu64 " registered=%" PRIu64
                   " records=%" PRIu64 " errors=%" PRIu64 " gaps=%" PRIu64 "\n",
                   src[i].partition, stored, reg, st.records, st.errors, st.gaps);
        }
        fflush(stdout);
    }
    dyn_feed_consumer_close(c);
    close(t.fd);
    for (size_t i = 0; i < nsrc; i++)
        free((char *)src[i].partition);
    printf("stopped\n");
    return 0;
}
