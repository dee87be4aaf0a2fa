/* libs/rpc -- a tiny HTTP/1.0 responder for /metrics and /healthz, one thread, one request per
 * connection. Hand-written rather than nng's HTTP server: nng stays in libs/msg, and nng shares
 * one server per URL, which breaks two listeners on port 0 in one process. */
#include "libs/rpc/rpc_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "libs/log/log.h"

#define HTTP_MAX_REQUEST 8192   /* bytes of request head we read; the rest is ignored */
#define HTTP_IO_TIMEOUT_S 2     /* a scraper that stalls can't hold the thread longer */

struct rpc_http {
    int fd;                    /* listening socket */
    int wake[2];               /* pipe: a byte on wake[1] stops the thread */
    const atomic_bool *serving;
    pthread_t thread;
};

static dyn_err
http_listen(const char *addr, int *fd_out, int *port)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *res = NULL;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char host[256];
    const char *colon = strrchr(addr, ':'), *h = host;
    int fd = -1, one = 1;
    dyn_err rc = DYN_OK;
    size_t hl;

    if (colon == NULL || (hl = (size_t)(colon - addr)) >= sizeof host) {
        rc = DYN_EVALIDATION;
        goto out;
    }
    memcpy(host, addr, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {   /* "[::1]:9100" */
        host[hl - 1] = '\0';
        h = host + 1;
    }
    if (getaddrinfo(*h != '\0' ? h : NULL, colon + 1, &hints, &res) != 0 || res == NULL) {
        rc = DYN_EVALIDATION;
        goto out;
    }
    if ((fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0)) < 0) {
        rc = dyn_err_from_errno(errno);
        goto out;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        rc = dyn_err_from_errno(errno);
        goto out;
    }
    *port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                     : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    *fd_out = fd;
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    if (res != NULL)
        freeaddrinfo(res);
    return rc;
}

static void
http_reply(int fd, bool head, int code, const char *reason, const char *ctype, const char *body,
           size_t len)
{
    char hdr[256];
    int hn = snprintf(hdr, sizeof hdr,
                      "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      code, reason, ctype, len);
    struct {
        const char *p;
        size_t n;
    } parts[2] = { { hdr, (size_t)hn }, { body, head ? 0 : len } };

    for (int i = 0; i < 2; i++) {
        const char *p = parts[i].p;
        size_t n = parts[i].n;
        while (n > 0) {
            /* MSG_NOSIGNAL: a scraper hanging up must not SIGPIPE the process */
            ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return;
            p += w;
            n -= (size_t)w;
        }
    }
}

static void
http_serve(rpc_http *h, int fd)
{
    static const char text[] = "text/plain; charset=utf-8";
    struct timeval tv = { .tv_sec = HTTP_IO_TIMEOUT_S };
    char req[HTTP_MAX_REQUEST + 1], method[16], path[256];
    size_t n = 0;
    bool head;

    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    /* only the request line matters; read until the end of the head or the buffer is full */
    while (n < HTTP_MAX_REQUEST) {
        ssize_t r = recv(fd, req + n, HTTP_MAX_REQUEST - n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL || strstr(req, "\n\n") != NULL)
            break;
    }
    req[n] = '\0';
    if (sscanf(req, "%15s %255s", method, path) != 2) {
        http_reply(fd, false, 400, "Bad Request", text, "bad request\n", 12);
        return;
    }
    head = strcmp(method, "HEAD") == 0;
    if (!head && strcmp(method, "GET") != 0) {
        http_reply(fd, false, 405, "Method Not Allowed", text, "method not allowed\n", 19);
        return;
    }
    path[strcspn(path, "?")] = '\0';
    if (strcmp(path, "/metrics") == 0) {
        char *body = NULL;
        size_t len = 0;
        rpc_metrics_render(&body, &len);
        http_reply(fd, head, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body, len);
        free(body);
    } else if (strcmp(path, "/healthz") == 0) {
        /* 503 while draining, so a load balancer stops sending before the port closes */
        if (atomic_load(h->serving))
            http_reply(fd, head, 200, "OK", text, "ok\n", 3);
        else
            http_reply(fd, head, 503, "Service Unavailable", text, "draining\n", 9);
    } else {
        http_reply(fd, head, 404, "Not Found", text, "not found\n", 10);
    }
}

static void *
http_main(void *arg)
{
    rpc_http *h = arg;

    for (;;) {
        struct pollfd p[2] = { { .fd = h->fd, .events = POLLIN }, { .fd = h->wake[0],
                                                                    .events = POLLIN } };
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            dyn_log(DYN_LOG_ERROR, "RPC-HTTP-POLL", "errno=%d", errno);
            break;
        }
        if (p[1].revents != 0)
            break;
        if (p[0].revents == 0)
            continue;
        int fd = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;   /* EAGAIN, ECONNABORTED, EMFILE: try again on the next poll */
        http_serve(h, fd);
        close(fd);
    }
    return NULL;
}

dyn_err
rpc_http_start(const char *addr, const atomic_bool *serving, rpc_http **out, int *port)
{
    rpc_http *h = dyn_xcalloc(1, sizeof *h);
    dyn_err rc;

    h->fd = h->wake[0] = h->wake[1] = -1;
    h->serving = serving;
    if ((rc = http_listen(addr, &h->fd, port)) != DYN_OK)
        goto out;
    /* non-blocking accept: a client that resets between poll and accept must not block us */
    (void)fcntl(h->fd, F_SETFL, fcntl(h->fd, F_GETFL) | O_NONBLOCK);
    if (pipe2(h->wake, O_CLOEXEC) != 0) {
        rc = dyn_err_from_errno(errno);
        goto out;
    }
    if (pthread_create(&h->thread, NULL, http_main, h) != 0) {
        rc = DYN_ENOMEM;
        goto out;
    }
    *out = h;
    h = NULL;
out:
    if (h != NULL) {
        if (h->fd >= 0)
            close(h->fd);
        if (h->wake[0] >= 0)
            close(h->wake[0]);
        if (h->wake[1] >= 0)
            close(h->wake[1]);
        free(h);
    }
    return rc;
}

void
rpc_http_stop(rpc_http *h)
{
    if (h == NULL)
        return;
    while (write(h->wake[1], "x", 1) < 0 && errno == EINTR)
        ;
    pthread_join(h->thread, NULL);
    close(h->fd);
    close(h->wake[0]);
    close(h->wake[1]);
    free(h);
}
