/* bench/echo -- flags, the ready line ("ECHO-READY port=N" on stdout, once listening) and the run
 * until SIGTERM/SIGINT, then a clean drain. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench/echo/echo.h"
#include "libs/cfg/cfg.h"
#include "libs/log/log.h"

static struct {
    char *listen, *backend;
    int workers, slots, backend_conns;
} cfg;

static const dyn_cfg_opt opts[] = {
    DYN_CFG_STR("listen", "127.0.0.1:7100", "gRPC address (port 0: any free one, printed)",
                &cfg.listen),
    DYN_CFG_STR("backend", "",
                "proxy: host:port of another echo; each call is forwarded there and its reply "
                "passed back (2 hops). Empty: answer here (1 hop)",
                &cfg.backend),
    DYN_CFG_INT("workers", "2", "completion-queue threads (as Dyne's router and storage node)",
                &cfg.workers),
    DYN_CFG_INT("slots", "64", "calls each worker serves at once (as the storage node)",
                &cfg.slots),
    DYN_CFG_INT("backend-conns", "2",
                "proxy: HTTP/2 connections to the backend (as the router to a storage node)",
                &cfg.backend_conns),
};

static volatile sig_atomic_t g_sigterm;   /* set by the SIGTERM/SIGINT handler only */

static void
on_signal(int sig)
{
    (void)sig;
    g_sigterm = 1;
}

int
main(int argc, char **argv)
{
    struct sigaction sa;
    echo_server *s;
    int rc, port = 0;

    dyn_log_init("echo", DYN_LOG_WARN);
    if ((rc = dyn_cfg_load("echo", opts, sizeof opts / sizeof opts[0], argc, argv)) != 0)
        return rc == 1 ? 0 : rc;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;   /* a peer hanging up must not kill the process */
    sigaction(SIGPIPE, &sa, NULL);

    echo_opts o = { .listen = cfg.listen, .backend = cfg.backend, .workers = cfg.workers,
                    .slots = cfg.slots, .backend_conns = cfg.backend_conns };
    if ((s = echo_server_start(&o, &port)) == NULL)
        return 1;
    printf("ECHO-READY port=%d workers=%d backend=%s\n", port, cfg.workers,
           cfg.backend[0] != '\0' ? cfg.backend : "-");
    fflush(stdout);
    while (!g_sigterm)
        nanosleep(&(struct timespec){ 0, 50000000 }, NULL);
    echo_server_stop(s);
    return 0;
}
