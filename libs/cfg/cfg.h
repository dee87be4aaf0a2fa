/* libs/cfg -- service configuration: each option has a default, and is overridden in turn by the
 * config file (/etc/dyn/<svc>.conf or --config), the environment (DYN_<SVC>_<OPT>, dashes as
 * underscores, upper case) and the command line (--opt=value or --opt value). The effective
 * configuration is logged once at startup. */
#ifndef DYN_LIBS_CFG_CFG_H
#define DYN_LIBS_CFG_CFG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { DYN_CFG_T_STR, DYN_CFG_T_INT, DYN_CFG_T_SIZE, DYN_CFG_T_BOOL } dyn_cfg_type;

typedef struct dyn_cfg_opt {
    const char *name;    /* "data-dir" */
    dyn_cfg_type type;
    const char *def;     /* default, as text */
    const char *help;
    void *dst;           /* char ** (owned, heap), int *, size_t *, bool * */
} dyn_cfg_opt;

#define DYN_CFG_STR(n, d, h, p) { n, DYN_CFG_T_STR, d, h, (void *)(p) }
#define DYN_CFG_INT(n, d, h, p) { n, DYN_CFG_T_INT, d, h, (void *)(p) }
#define DYN_CFG_SIZE(n, d, h, p) { n, DYN_CFG_T_SIZE, d, h, (void *)(p) }
#define DYN_CFG_BOOL(n, d, h, p) { n, DYN_CFG_T_BOOL, d, h, (void *)(p) }

/* Fills every dst. Returns 0, or prints the problem (or --help) to stderr and returns 2 (bad
 * option or value) / 1 (help shown): main() exits with it. */
int dyn_cfg_load(const char *svc, const dyn_cfg_opt *opts, size_t n, int argc, char **argv);

/* Parses "64MiB", "1GiB", "4096", "10k": bytes. false on garbage. */
bool dyn_cfg_parse_size(const char *s, size_t *out);

/* One line with every option's effective value, for the <SVC>-CONFIG log event. */
void dyn_cfg_log(const char *svc, const dyn_cfg_opt *opts, size_t n);
#endif /* DYN_LIBS_CFG_CFG_H */
