/* libs/feed -- helpers shared by both sides: nng errors, clocks, bound urls, notices. */
#include "libs/feed/feed_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libs/arena/arena.h"
#include "libs/feed/feed.h"

dyn_err
feed_nng_err(int rv)
{
    switch (rv) {
    case 0: return DYN_OK;
    case NNG_ENOMEM: return DYN_ENOMEM;
    case NNG_EINVAL:
    case NNG_EADDRINVAL:
    case NNG_ENOTSUP:
    case NNG_EMSGSIZE: return DYN_EVALIDATION;
    case NNG_ETIMEDOUT: return DYN_EDEADLINE;
    case NNG_ECANCELED:
    case NNG_ECLOSED: return DYN_ECANCELLED;
    case NNG_EADDRINUSE:
    case NNG_ECONNREFUSED:
    case NNG_ECONNRESET:
    case NNG_ECONNSHUT:
    case NNG_EAGAIN:
    case NNG_ESTATE:
    case NNG_EUNREACHABLE: return DYN_EUNAVAIL;
    default: return DYN_EINTERNAL;
    }
}

int64_t
feed_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
feed_be64_put(uint8_t *b, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        b[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

uint64_t
feed_be64_get(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

char *
feed_bound_url(const char *url, nng_listener l)
{
    const char *colon = strrchr(url, ':');
    int port = 0;

    /* only "tcp://host:0" (tcp4/tcp6 too) changes; other transports bind what they name */
    if (strncmp(url, "tcp", 3) != 0 || colon == NULL || strcmp(colon, ":0") != 0 ||
        nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) != 0)
        return dyn_xstrdup(url);
    size_t n = (size_t)(colon - url) + 16;
    char *out = dyn_xmalloc(n);
    snprintf(out, n, "%.*s:%d", (int)(colon - url), url, port);
    return out;
}

dyn_err
feed_listen(nng_socket sock, const char *url, char **bound)
{
    nng_listener l;
    int rv;

    *bound = NULL;
    if (url == NULL || url[0] == '\0')
        return DYN_EVALIDATION;
    if ((rv = nng_listen(sock, url, &l, 0)) != 0)
        return feed_nng_err(rv);
    *bound = feed_bound_url(url, l);
    return DYN_OK;
}

size_t
dyn_feed_notice_encode(const char *partition, uint64_t lsn, uint8_t *buf, size_t cap)
{
    size_t n = strlen(partition);

    if (n == 0 || n + 1 + 8 > cap)
        return 0;
    memcpy(buf, partition, n);
    buf[n] = '\0';
    feed_be64_put(buf + n + 1, lsn);
    return n + 1 + 8;
}

bool
dyn_feed_notice_decode(const uint8_t *buf, size_t len, const char **partition, uint64_t *lsn)
{
    /* the id is the bytes before the only NUL, which sits exactly 9 bytes from the end */
    if (len < 10 || buf[len - 9] != '\0' || memchr(buf, '\0', len - 9) != NULL)
        return false;
    *partition = (const char *)buf;
    *lsn = feed_be64_get(buf + len - 8);
    return true;
}

int
feed_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}
