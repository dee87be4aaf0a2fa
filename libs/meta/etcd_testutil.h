/* libs/meta -- test helper: starts a private single-node etcd on free loopback ports with its
 * data under a fresh temporary directory, and stops it again. Tests only. */
#ifndef DYN_LIBS_META_ETCD_TESTUTIL_H
#define DYN_LIBS_META_ETCD_TESTUTIL_H

#include <sys/types.h>

typedef struct dyn_etcd_test {
    pid_t pid;            /* the etcd we started; 0 when none */
    int client_port, peer_port;
    char endpoint[64];    /* "127.0.0.1:<client_port>" */
    char dir[512];        /* data dir and etcd.log live here; removed by stop */
} dyn_etcd_test;

/* Starts etcd (binary from env DYN_ETCD_BIN, default /usr/bin/etcd) and waits up to 15 s until
 * its /health answers true. Temporary files go under $TEST_TMPDIR (else /tmp). Returns
 * e->endpoint (borrowed, valid until stop), or NULL after printing why (and etcd's log tail). */
const char *dyn_etcd_test_start(dyn_etcd_test *e);
/* SIGTERM (SIGKILL after 5 s) to exactly the PID that start spawned, reaps it, removes the
 * directory. Safe to call twice. */
void dyn_etcd_test_stop(dyn_etcd_test *e);
/* Like stop but keeps the data dir; a later dyn_etcd_test_restart() brings the same member back
 * on the same ports (for tests of clients surviving an etcd restart). */
void dyn_etcd_test_kill(dyn_etcd_test *e);
const char *dyn_etcd_test_restart(dyn_etcd_test *e);
#endif /* DYN_LIBS_META_ETCD_TESTUTIL_H */
