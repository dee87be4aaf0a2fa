/* libs/feed -- a consumer's durable positions: one small text file rewritten whole through a
 * temporary file, fsync, rename and a directory fsync. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libs/arena/arena.h"
#include "libs/feed/feed.h"
#include "libs/feed/feed_int.h"   /* feed_write_all */

#define POS_HEADER "dyn-feed-positions 1"
#define POS_NAME_MAX 200
#define POS_ID_MAX 255

typedef struct pos_entry {
    char *id;        /* owned */
    uint64_t lsn;
} pos_entry;

struct dyn_feed_posstore {
    pthread_mutex_t mu;
    char *dir, *path, *tmp;   /* owned */
    pos_entry *e;             /* owned, n of them */
    size_t n, cap;
};

static bool
name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > POS_NAME_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool
id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > POS_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] == 0x7f)
            return false;
    return true;
}

static int
mkdir_p(const char *path)
{
    char *buf = dyn_xstrdup(path);
    int rv = 0;

    for (char *p = buf + 1; *p && rv == 0; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                rv = -1;
            *p = '/';
        }
    if (rv == 0 && mkdir(buf, 0755) != 0 && errno != EEXIST)
        rv = -1;
    free(buf);
    return rv;
}

static pos_entry *
find(dyn_feed_posstore *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->e[i].id, id) == 0)
            return &s->e[i];
    return NULL;
}

static pos_entry *
add(dyn_feed_posstore *s, const char *id, uint64_t lsn)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->e = dyn_xrealloc(s->e, s->cap * sizeof *s->e);
    }
    s->e[s->n].id = dyn_xstrdup(id);
    s->e[s->n].lsn = lsn;
    return &s->e[s->n++];
}

/* Parses the file: every line well-formed, the count on the "end" line matching. */
static dyn_err
load(dyn_feed_posstore *s, FILE *f)
{
    char line[POS_ID_MAX + 64];
    size_t lines = 0;
    bool header = false, end = false;

    while (fgets(line, sizeof line, f) != NULL) {
        size_t len = strlen(line);
        if (len == 0 || line[len - 1] != '\n' || end)
            return DYN_EINTERNAL;   /* a cut or over-long line, or text after "end" */
        line[len - 1] = '\0';
        if (!header) {
            if (strcmp(line, POS_HEADER) != 0)
                return DYN_EINTERNAL;
            header = true;
            continue;
        }
        char *sp = strrchr(line, ' ');
        char *stop = NULL;
        if (sp == NULL || sp[1] < '0' || sp[1] > '9')
            return DYN_EINTERNAL;
        errno = 0;
        unsigned long long v = strtoull(sp + 1, &stop, 10);
        if (errno != 0 || *stop != '\0')
            return DYN_EINTERNAL;
        *sp = '\0';
        if (strcmp(line, "end") == 0) {
            if (v != lines)
                return DYN_EINTERNAL;
            end = true;
            continue;
        }
        if (!id_ok(line) || find(s, line) != NULL)
            return DYN_EINTERNAL;
        add(s, line, v);
        lines++;
    }
    return header && end ? DYN_OK : DYN_EINTERNAL;
}

dyn_err
dyn_feed_posstore_open(const char *dir, const char *consumer, dyn_feed_posstore **out)
{
    dyn_feed_posstore *s;
    FILE *f;
    size_t n;
    dyn_err rc = DYN_OK;

    *out = NULL;
    if (dir == NULL || dir[0] == '\0' || !name_ok(consumer))
        return DYN_EVALIDATION;
    if (mkdir_p(dir) != 0)
        return dyn_err_from_errno(errno);
    s = dyn_xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->dir = dyn_xstrdup(dir);
    n = strlen(dir) + strlen(consumer) + 16;
    s->path = dyn_xmalloc(n);
    s->tmp = dyn_xmalloc(n);
    snprintf(s->path, n, "%s/%s.pos", dir, consumer);
    snprintf(s->tmp, n, "%s/%s.pos.tmp", dir, consumer);
    (void)unlink(s->tmp);   /* a write a crash interrupted: the real file is the old one */
    if ((f = fopen(s->path, "r")) != NULL) {
        rc = load(s, f);
        fclose(f);
    } else if (errno != ENOENT) {
        rc = dyn_err_from_errno(errno);
    }
    if (rc != DYN_OK) {
        dyn_feed_posstore_close(s);
        return rc;
    }
    *out = s;
    return DYN_OK;
}

uint64_t
dyn_feed_posstore_get(dyn_feed_posstore *s, const char *partition)
{
    uint64_t lsn = 0;

    pthread_mutex_lock(&s->mu);
    pos_entry *e = find(s, partition);
    if (e != NULL)
        lsn = e->lsn;
    pthread_mutex_unlock(&s->mu);
    return lsn;
}

/* The file as it should be now, made durable. */
static dyn_err
flush_locked(dyn_feed_posstore *s)
{
    size_t cap = 64, len = 0;
    char *buf;
    int fd = -1, dfd = -1, err = 0;

    for (size_t i = 0; i < s->n; i++)
        cap += strlen(s->e[i].id) + 24;
    buf = dyn_xmalloc(cap);
    len += (size_t)snprintf(buf + len, cap - len, "%s\n", POS_HEADER);
    for (size_t i = 0; i < s->n; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s %" PRIu64 "\n", s->e[i].id,
                                s->e[i].lsn);
    len += (size_t)snprintf(buf + len, cap - len, "end %zu\n", s->n);
    if ((fd = open(s->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0 ||
        feed_write_all(fd, buf, len) != 0 || fsync(fd) != 0)
        err = errno ? errno : EIO;
    if (fd >= 0 && close(fd) != 0 && err == 0)
        err = errno;
    /* the rename makes the new file the file; the directory fsync makes the rename durable */
    if (err == 0 && rename(s->tmp, s->path) != 0)
        err = errno;
    if (err == 0 && ((dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
                     fsync(dfd) != 0))
        err = errno ? errno : EIO;
    if (dfd >= 0)
        close(dfd);
    if (err != 0)
        (void)unlink(s->tmp);
    free(buf);
    return err == 0 ? DYN_OK : dyn_err_from_errno(err);
}

dyn_err
dyn_feed_posstore_set(dyn_feed_posstore *s, const char *partition, uint64_t lsn)
{
    dyn_err rc = DYN_OK;

    if (!id_ok(partition))
        return DYN_EVALIDATION;
    pthread_mutex_lock(&s->mu);
    pos_entry *e = find(s, partition);
    bool added = e == NULL;
    uint64_t before = e ? e->lsn : 0;
    if (e != NULL && e->lsn == lsn)
        goto out;
    if (e == NULL)
        e = add(s, partition, lsn);
    else
        e->lsn = lsn;
    if ((rc = flush_locked(s)) != DYN_OK) {
        /* memory keeps matching the file on disk */
        if (added) {
            free(s->e[--s->n].id);
        } else {
            e->lsn = before;
        }
    }
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void
dyn_feed_posstore_close(dyn_feed_posstore *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->e[i].id);
    free(s->e);
    free(s->dir);
    free(s->path);
    free(s->tmp);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
