/* services/storage -- per-partition item counts and sizes as Prometheus gauges: a thread scans
 * every partition each interval (DynamoDB itself refreshes ItemCount about every six hours; a
 * scan is one snapshot read of the partition, no write) and publishes
 *   dyn_storage_partition_items{table,partition}   items
 *   dyn_storage_partition_bytes{table,partition}   bytes of the encoded items
 * Gauges of dropped partitions are hidden at the next pass. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libs/log/log.h"
#include "services/storage/storage.h"

typedef struct shown {   /* a partition whose gauges are on /metrics */
    char *id;
    dyn_rpc_counter *items, *bytes;
    bool seen;
} shown;

static struct {
    storage *st;
    int interval_s;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool running, stop;
    shown *shown;
    size_t nshown;
} g = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static shown *
shown_get(const char *id, const char *table)
{
    char labels[512];

    for (size_t i = 0; i < g.nshown; i++)
        if (strcmp(g.shown[i].id, id) == 0)
            return &g.shown[i];
    /* ids and validated table names are [A-Za-z0-9_.-]: no escaping needed */
    snprintf(labels, sizeof labels, "table=\"%s\",partition=\"%s\"", table, id);
    g.shown = dyn_xrealloc(g.shown, (g.nshown + 1) * sizeof *g.shown);
    shown *s = &g.shown[g.nshown++];
    s->id = dyn_xstrdup(id);
    s->items = dyn_rpc_counter_get("dyn_storage_partition_items", labels,
                                   "Items in a partition, as of the last stats pass");
    s->bytes = dyn_rpc_counter_get("dyn_storage_partition_bytes", labels,
                                   "Bytes of the encoded items of a partition, as of the last "
                                   "stats pass");
    return s;
}

static void
stats_pass(void)
{
    char **ids, **tables;
    size_t n = storage_partitions(g.st, &ids, &tables);

    for (size_t i = 0; i < g.nshown; i++)
        g.shown[i].seen = false;
    for (size_t i = 0; i < n; i++) {
        int64_t items, bytes;
        if (storage_partition_scan(g.st, ids[i], &items, &bytes) == DYN_OK) {
            shown *s = shown_get(ids[i], tables[i]);
            dyn_rpc_gauge_set(s->items, items);
            dyn_rpc_gauge_set(s->bytes, bytes);
            s->seen = true;
        }
        free(ids[i]);
        free(tables[i]);
    }
    free(ids);
    free(tables);
    for (size_t i = 0; i < g.nshown;) {   /* dropped partitions leave /metrics */
        if (g.shown[i].seen) {
            i++;
            continue;
        }
        dyn_rpc_gauge_hide(g.shown[i].items);
        dyn_rpc_gauge_hide(g.shown[i].bytes);
        free(g.shown[i].id);
        g.shown[i] = g.shown[--g.nshown];
    }
}

static void *
stats_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g.mu);
    while (!g.stop) {
        pthread_mutex_unlock(&g.mu);
        stats_pass();
        pthread_mutex_lock(&g.mu);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += g.interval_s;
        while (!g.stop && pthread_cond_timedwait(&g.cv, &g.mu, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&g.mu);
    return NULL;
}

dyn_err
storage_stats_start(storage *st, int interval_s)
{
    g.st = st;
    g.interval_s = interval_s > 0 ? interval_s : 1;
    g.stop = false;
    if (pthread_create(&g.thread, NULL, stats_main, NULL) != 0)
        return DYN_EINTERNAL;
    g.running = true;
    return DYN_OK;
}

void
storage_stats_stop(void)
{
    if (!g.running)
        return;
    pthread_mutex_lock(&g.mu);
    g.stop = true;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    pthread_join(g.thread, NULL);
    g.running = false;
    for (size_t i = 0; i < g.nshown; i++)
        free(g.shown[i].id);
    free(g.shown);
    g.shown = NULL;
    g.nshown = 0;
}
