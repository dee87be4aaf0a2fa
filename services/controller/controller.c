/* services/controller -- the controller thread: campaigns, and while it leads runs a reconcile
 * pass on every change of the catalog or the node set (watched) and every pass_ms; storage
 * clients; the leader gauge. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libs/arena/arena.h"
#include "libs/log/log.h"
#include "libs/rpc/rpc.h"
#include "services/controller/controller_int.h"

#define CAMPAIGN_MS 1000   /* a follower campaigns at least this often (and at once on a delete) */
#define PASS_GAP_MS 100    /* changes are acted on at once, but passes never run back to back */

int64_t
controller_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

dyn_rpc_client *
controller_storage(controller *c, const char *addr)
{
    controller_client *e;

    for (e = c->clients; e != NULL; e = e->next)
        if (strcmp(e->addr, addr) == 0)
            return e->client;
    e = dyn_xcalloc(1, sizeof *e);
    e->addr = dyn_xstrdup(addr);
    /* not wait-for-ready: a node that is down fails the step at once, and the pass goes on to
     * other tables; the step is retried with back-off */
    e->client = dyn_rpc_client_new(addr, 1);
    e->next = c->clients;
    c->clients = e;
    return e->client;
}

void
controller_mark_dirty(controller *c)
{
    pthread_mutex_lock(&c->mu);
    c->dirty = true;
    pthread_mutex_unlock(&c->mu);
}

static void leader_gauge(int64_t epoch);

/* meta's threads: the election may have changed. A lost lease or key shows at once. */
static void
wake(void *arg, bool leading)
{
    controller *c = arg;

    if (!leading)
        leader_gauge(0);
    pthread_mutex_lock(&c->mu);
    c->woken = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* meta's watch thread: a table or a node changed; the pass re-lists, so the event itself is not
 * needed. */
static void
changed(void *arg, const dyn_meta_event *ev)
{
    controller *c = arg;

    (void)ev;
    pthread_mutex_lock(&c->mu);
    c->dirty = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void
leader_gauge(int64_t epoch)
{
    dyn_rpc_gauge_set(dyn_rpc_counter_get("dyn_controller_leader", "",
                                          "1 while this instance is the acting controller"),
                      epoch != 0);
}

static void *
controller_main(void *arg)
{
    controller *c = arg;
    int64_t led = 0, next_pass = 0, last_pass = INT64_MIN / 2;

    pthread_mutex_lock(&c->mu);
    while (!c->stopping) {
        c->woken = false;
        bool dirty = c->dirty;
        pthread_mutex_unlock(&c->mu);

        int64_t epoch = dyn_elect_step(c->elect);
        leader_gauge(dyn_elect_epoch(c->elect));
        if (epoch != led) {
            if (epoch != 0)
                dyn_rpc_counter_add(dyn_rpc_counter_get("dyn_controller_elections_won_total", "",
                                                        "Times this instance became leader"),
                                    1);
            else
                controller_tables_gauge_clear();
            led = epoch;
            next_pass = 0;   /* a new leader looks at everything at once */
        }
        int64_t now = controller_now_ms();
        if (epoch != 0 && (now >= next_pass || (dirty && now >= last_pass + PASS_GAP_MS))) {
            pthread_mutex_lock(&c->mu);
            c->dirty = false;   /* before the pass: a change during it brings another */
            pthread_mutex_unlock(&c->mu);
            controller_pass(c, epoch);
            last_pass = controller_now_ms();
            next_pass = last_pass + c->opts.pass_ms;
        }

        /* sleep until the next campaign or pass, a change of the election, or (leading) a
         * change of the catalog -- but no more than one pass per PASS_GAP_MS */
        pthread_mutex_lock(&c->mu);
        int64_t until = controller_now_ms() + CAMPAIGN_MS;
        if (led != 0 && next_pass < until)
            until = next_pass;
        for (;;) {
            int64_t u = until;
            if (led != 0 && c->dirty && last_pass + PASS_GAP_MS < u)
                u = last_pass + PASS_GAP_MS;
            if (c->stopping || c->woken || controller_now_ms() >= u)
                break;
            struct timespec ts = { .tv_sec = u / 1000, .tv_nsec = (u % 1000) * 1000000 };
            (void)pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        }
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

dyn_err
controller_new(dyn_meta *meta, const controller_opts *o, controller **out)
{
    controller *c = dyn_xcalloc(1, sizeof *c);
    pthread_condattr_t ca;

    c->meta = meta;
    c->opts = *o;
    c->opts.node_id = dyn_xstrdup(o->node_id != NULL ? o->node_id : "controller");
    if (c->opts.lease_ttl_s <= 0)
        c->opts.lease_ttl_s = 5;
    if (c->opts.pass_ms <= 0)
        c->opts.pass_ms = 2000;
    if (c->opts.max_partitions <= 0)
        c->opts.max_partitions = 256;
    if (c->opts.storage_deadline_ms <= 0)
        c->opts.storage_deadline_ms = 10000;
    if (c->opts.stats_refresh_s <= 0)
        c->opts.stats_refresh_s = 30;
    if (c->opts.adopt_after_ms < 0)
        c->opts.adopt_after_ms = 0;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    leader_gauge(0);
    controller_tables_gauge_clear();
    c->elect = dyn_elect_new(meta, CONTROLLER_LEADER_KEY, c->opts.node_id,
                                    c->opts.lease_ttl_s, wake, c);
    c->tables_watch = dyn_meta_watch_start(meta, CONTROLLER_TABLES_PREFIX, 0, changed, c);
    c->nodes_watch = dyn_meta_watch_start(meta, CONTROLLER_NODES_PREFIX, 0, changed, c);
    if (pthread_create(&c->thread, NULL, controller_main, c) != 0)
        abort();   /* as dyn_xmalloc: no thread, no controller */
    *out = c;
    return DYN_OK;
}

void
controller_free(controller *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    dyn_meta_watch_stop(c->tables_watch);
    dyn_meta_watch_stop(c->nodes_watch);
    leader_gauge(0);   /* before the key goes: never two instances reporting 1 */
    dyn_elect_free(c->elect);
    for (controller_client *e = c->clients, *next; e != NULL; e = next) {
        next = e->next;
        dyn_rpc_client_free(e->client);
        free(e->addr);
        free(e);
    }
    for (controller_track *t = c->tracks, *next; t != NULL; t = next) {
        next = t->next;
        free(t->name);
        free(t->table_id);
        free(t);
    }
    for (controller_size *s = c->sizes, *next; s != NULL; s = next) {
        next = s->next;
        free(s->node_id);
        free(s);
    }
    for (controller_made *x = c->made, *next; x != NULL; x = next) {
        next = x->next;
        free(x->key);
        free(x);
    }
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free((char *)c->opts.node_id);
    free(c);
}
