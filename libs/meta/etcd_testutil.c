/* libs/meta -- spawns a throw-away etcd for tests: free ports from bind(0), a mkdtemp data dir,
 * readiness by polling the HTTP /health endpoint etcd serves on its client port. */
#include "libs/meta/etcd_testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int
free_port(void)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t len = sizeof sa;
    int fd, port = -1;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* true if GET /health on the client port says {"health":"true"}. */
static bool
healthy(int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    struct timeval tv = { .tv_sec = 1 };
    char buf[2048];
    size_t got = 0;
    ssize_t n;
    bool ok = false;
    int fd;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
        return false;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        goto out;
    static const char req[] = "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1))
        goto out;
    while (got < sizeof buf - 1 && (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    ok = strstr(buf, "\"health\":\"true\"") != NULL;
out:
    close(fd);
    return ok;
}

static void
print_log_tail(const dyn_etcd_test *e)
{
    char path[600], buf[4096];
    FILE *f;
    long size;
    size_t n;

    snprintf(path, sizeof path, "%s/etcd.log", e->dir);
    if ((f = fopen(path, "r")) == NULL)
        return;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0, SEEK_SET);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    fprintf(stderr, "etcd_testutil: --- tail of %s ---\n%s\n", path, buf);
}

static bool
spawn(dyn_etcd_test *e)
{
    const char *bin = getenv("DYN_ETCD_BIN");
    char data[600], logp[600], client[64], peer[64], cluster[96];
    pid_t pid;

    if (bin == NULL || bin[0] == '\0')
        bin = "/usr/bin/etcd";
    snprintf(data, sizeof data, "%s/data", e->dir);
    snprintf(logp, sizeof logp, "%s/etcd.log", e->dir);
    snprintf(client, sizeof client, "http://127.0.0.1:%d", e->client_port);
    snprintf(peer, sizeof peer, "http://127.0.0.1:%d", e->peer_port);
    snprintf(cluster, sizeof cluster, "default=%s", peer);
    snprintf(e->endpoint, sizeof e->endpoint, "127.0.0.1:%d", e->client_port);

    if ((pid = fork()) < 0) {
        perror("etcd_testutil: fork");
        return false;
    }
    if (pid == 0) {
        int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execl(bin, bin, "--name", "default", "--data-dir", data, "--listen-client-urls", client,
              "--advertise-client-urls", client, "--listen-peer-urls", peer,
              "--initial-advertise-peer-urls", peer, "--initial-cluster", cluster,
              "--initial-cluster-state", "new", (char *)NULL);
        fprintf(stderr, "etcd_testutil: exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    e->pid = pid;
    return true;
}

static const char *
wait_ready(dyn_etcd_test *e)
{
    for (int i = 0; i < 300; i++) {   /* 15 s */
        int status;
        if (waitpid(e->pid, &status, WNOHANG) == e->pid) {
            fprintf(stderr, "etcd_testutil: etcd exited early (status 0x%x)\n", status);
            e->pid = 0;
            print_log_tail(e);
            return NULL;
        }
        if (healthy(e->client_port))
            return e->endpoint;
        sleep_ms(50);
    }
    fprintf(stderr, "etcd_testutil: etcd on %s not healthy after 15 s\n", e->endpoint);
    print_log_tail(e);
    dyn_etcd_test_kill(e);
    return NULL;
}

const char *
dyn_etcd_test_start(dyn_etcd_test *e)
{
    const char *tmp = getenv("TEST_TMPDIR");

    memset(e, 0, sizeof *e);
    if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    snprintf(e->dir, sizeof e->dir, "%s/dyn-etcd-XXXXXX", tmp);
    if (mkdtemp(e->dir) == NULL) {
        perror("etcd_testutil: mkdtemp");
        e->dir[0] = '\0';
        return NULL;
    }
    e->client_port = free_port();
    do
        e->peer_port = free_port();
    while (e->peer_port == e->client_port);
    if (e->client_port <= 0 || e->peer_port <= 0) {
        fprintf(stderr, "etcd_testutil: no free port\n");
        return NULL;
    }
    if (!spawn(e))
        return NULL;
    return wait_ready(e);
}

const char *
dyn_etcd_test_restart(dyn_etcd_test *e)
{
    if (e->pid != 0 || e->dir[0] == '\0')
        return NULL;
    if (!spawn(e))
        return NULL;
    return wait_ready(e);
}

void
dyn_etcd_test_kill(dyn_etcd_test *e)
{
    int status;

    if (e->pid <= 0)
        return;
    (void)kill(e->pid, SIGTERM);
    for (int i = 0; i < 100; i++) {   /* 5 s */
        if (waitpid(e->pid, &status, WNOHANG) == e->pid) {
            e->pid = 0;
            return;
        }
        sleep_ms(50);
    }
    (void)kill(e->pid, SIGKILL);
    (void)waitpid(e->pid, &status, 0);
    e->pid = 0;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    (void)remove(path);
    return 0;
}

void
dyn_etcd_test_stop(dyn_etcd_test *e)
{
    dyn_etcd_test_kill(e);
    if (e->dir[0] != '\0')
        (void)nftw(e->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    e->dir[0] = '\0';
}
