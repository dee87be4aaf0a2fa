#include "libs/cfg/cfg.h"

#include <stdlib.h>

#include "libs/testing/dyn_test.h"

static char *s_listen;
static int s_workers;
static size_t s_cache;
static bool s_sync;
static const dyn_cfg_opt opts[] = {
    DYN_CFG_STR("listen", "0.0.0.0:7001", "address", &s_listen),
    DYN_CFG_INT("workers", "4", "threads", &s_workers),
    DYN_CFG_SIZE("cache-size", "1GiB", "cache", &s_cache),
    DYN_CFG_BOOL("sync", "true", "fsync", &s_sync),
};

static void
test_defaults_env_flags(void)
{
    char *argv[] = { "x", "--workers=8", "--cache-size", "64MiB", "--sync=false", NULL };
    setenv("DYN_TESTSVC_LISTEN", "127.0.0.1:1", 1);
    setenv("DYN_TESTSVC_WORKERS", "2", 1);
    DT_OK(dyn_cfg_load("testsvc", opts, 4, 5, argv));
    DT_EQ_STR(s_listen, "127.0.0.1:1");   /* env beats default */
    DT_EQ_INT(s_workers, 8);               /* flag beats env */
    DT_EQ_INT(s_cache, 64 << 20);
    DT_TRUE(!s_sync);
    unsetenv("DYN_TESTSVC_LISTEN");
    unsetenv("DYN_TESTSVC_WORKERS");
}

static void
test_bad_input(void)
{
    char *a1[] = { "x", "--nope=1", NULL };
    char *a2[] = { "x", "--workers=abc", NULL };
    char *a3[] = { "x", "--help", NULL };
    DT_EQ_INT(dyn_cfg_load("testsvc", opts, 4, 2, a1), 2);
    DT_EQ_INT(dyn_cfg_load("testsvc", opts, 4, 2, a2), 2);
    DT_EQ_INT(dyn_cfg_load("testsvc", opts, 4, 2, a3), 1);
}

static void
test_sizes(void)
{
    size_t v;
    DT_TRUE(dyn_cfg_parse_size("10k", &v) && v == 10240);
    DT_TRUE(dyn_cfg_parse_size("1GiB", &v) && v == 1 << 30);
    DT_TRUE(dyn_cfg_parse_size("42", &v) && v == 42);
    DT_TRUE(!dyn_cfg_parse_size("k", &v));
    DT_TRUE(!dyn_cfg_parse_size("10q", &v));
    DT_TRUE(!dyn_cfg_parse_size("99999999999999999999999", &v));
}

DT_MAIN({ "defaults, env, flags", test_defaults_env_flags }, { "bad input", test_bad_input },
        { "sizes", test_sizes })
