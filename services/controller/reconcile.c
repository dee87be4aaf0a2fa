/* services/controller -- one reconcile pass: every table in the catalog is driven one step
 * further by its status, from whatever state a previous (possibly crashed) leader left:
 *   CREATING, no partitions   -> plan (count, ranges, nodes) written first, still CREATING
 *   CREATING with partitions  -> partitions on dead nodes re-placed; CreatePartition on each
 *                                (idempotent); then ACTIVE
 *   UPDATING                  -> ACTIVE (the settings are already in the catalog)
 *   DELETING                  -> DropPartition on each live node (absent is fine), partitions
 *                                on dead nodes recorded as orphans; then the key is deleted
 * and, once the table's own partitions exist (ACTIVE, UPDATING), each global secondary index:
 *   CREATING, no partitions   -> its plan written (count from the index's capacity)
 *   CREATING with partitions  -> re-placed off dead nodes while nothing is backfilled;
 *                                CreatePartition{gsi} on each (the indexer makes it ACTIVE)
 *   DELETING                  -> its partitions dropped (orphans as above), then its GsiMeta
 * and orphans are dropped once their node is live again. Every catalog write is a transaction
 * fenced on the leader epoch and on the table's mod revision. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "libs/arena/arena.h"
#include "libs/log/log.h"
#include "libs/rpc/rpc.h"
#include "proto/dyne/internal/catalog.pb-c.h"
#include "proto/dyne/internal/storage.pb-c.h"
#include "proto/dyne/v1/types.pb-c.h"
#include "services/controller/controller_int.h"

#define PASS_ARENA (256u << 20)   /* one pass's listings and messages */
#define RETRY_MIN_MS 500
#define RETRY_MAX_MS 30000

typedef Dyne__Internal__TableMeta table_meta;
typedef Dyne__Internal__PartitionMeta part_meta;
typedef Dyne__Internal__GsiMeta gsi_meta;

typedef struct pass {
    controller *c;
    int64_t epoch;
    dyn_arena a;
    ProtobufCAllocator al;
    controller_node *nodes;   /* the live storage nodes */
    size_t nn;
    bool sized;               /* nodes[].bytes loaded */
    table_meta **tables;      /* the whole catalog: partition counts and sizes per node */
    size_t nt;
} pass;

/* Catalog writes of one step: the table's own put or delete first, then orphan records. */
typedef struct writes {
    dyn_meta_op *ops;
    size_t n;
} writes;

static const char *const statuses[] = { "CREATING", "UPDATING", "ACTIVE", "DELETING" };
#define NSTATUS (sizeof statuses / sizeof statuses[0])

static void
count(const char *name, const char *label, const char *value, const char *help)
{
    char labels[64];

    snprintf(labels, sizeof labels, "%s=\"%s\"", label, value);
    dyn_rpc_counter_add(dyn_rpc_counter_get(name, labels, help), 1);
}

static void
count_partition_op(const char *op)
{
    count("dyn_controller_partition_ops_total", "op", op,
          "Storage partition calls that succeeded (create, drop, orphan_drop)");
}

static void
tables_gauge_set(const size_t *n)
{
    char labels[64];

    for (size_t i = 0; i < NSTATUS; i++) {
        snprintf(labels, sizeof labels, "status=\"%s\"", statuses[i]);
        dyn_rpc_gauge_set(dyn_rpc_counter_get("dyn_controller_tables", labels,
                                              "Tables in the catalog by status (leader only)"),
                          n != NULL ? (int64_t)n[i] : 0);
    }
}

void
controller_tables_gauge_clear(void)
{
    tables_gauge_set(NULL);
}

static bool
leading(const pass *p)
{
    return dyn_elect_epoch(p->c->elect) == p->epoch;
}

static ssize_t
node_find(const pass *p, const char *id)
{
    for (size_t j = 0; id != NULL && j < p->nn; j++)
        if (strcmp(p->nodes[j].id, id) == 0)
            return (ssize_t)j;
    return -1;
}

static const char *
table_key(pass *p, const char *name)
{
    return dyn_arena_printf(&p->a, CONTROLLER_TABLES_PREFIX "%s", name);
}

static const char *
orphan_key(pass *p, const char *node_id, const char *partition_id)
{
    return dyn_arena_printf(&p->a, CONTROLLER_ORPHANS_PREFIX "%s/%s", node_id, partition_id);
}

/* ---- etcd and storage, both refused once we no longer lead ---- */

/* Applies ws if we still lead with p->epoch and `key` is still at mod revision rev. *new_rev
 * (may be NULL): the revision after. DYN_ECONDFAIL if either moved. */
static dyn_err
fenced(pass *p, const char *key, int64_t rev, const writes *ws, int64_t *new_rev)
{
    dyn_meta_cmp cmps[2] = {
        dyn_elect_fence(p->c->elect, p->epoch),
        { .key = key, .target = DYN_META_CMP_MOD, .op = DYN_META_EQ, .rev = rev },
    };
    bool ok = false;
    dyn_err rc;

    if (!leading(p))
        return DYN_ENOTLEADER;
    rc = dyn_meta_txn(p->c->meta, cmps, 2, ws->ops, ws->n, NULL, 0, &ok, new_rev);
    return rc != DYN_OK ? rc : ok ? DYN_OK : DYN_ECONDFAIL;
}

static dyn_err
writes_init(pass *p, writes *ws, size_t cap)
{
    ws->n = 0;
    return (ws->ops = dyn_arena_zalloc(&p->a, cap * sizeof *ws->ops)) == NULL ? DYN_ENOMEM : DYN_OK;
}

static void
writes_add(writes *ws, dyn_meta_op_type type, const char *key, const void *val, size_t len)
{
    ws->ops[ws->n++] = (dyn_meta_op){ .type = type, .key = key, .val = val, .val_len = len };
}

/* Writes table m (packed) first in ws, then the rest of ws, fenced on the table's revision
 * *rev, which becomes the new one. */
static dyn_err
table_write(pass *p, table_meta *m, int64_t *rev, writes *ws)
{
    size_t len = dyne__internal__table_meta__get_packed_size(m);
    uint8_t *buf = dyn_arena_alloc(&p->a, len ? len : 1);
    const char *key = table_key(p, m->table_name);

    if (buf == NULL || key == NULL)
        return DYN_ENOMEM;
    dyne__internal__table_meta__pack(m, buf);
    ws->ops[0] = (dyn_meta_op){ .type = DYN_META_OP_PUT, .key = key, .val = buf, .val_len = len };
    return fenced(p, key, *rev, ws, rev);
}

static dyn_err
storage_call(pass *p, const char *addr, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, const char **errmsg)
{
    ProtobufCMessage *resp = NULL;

    *errmsg = NULL;
    if (!leading(p))
        return DYN_ENOTLEADER;
    return dyn_rpc_client_call(controller_storage(p->c, addr), method, req, resp_desc,
                               p->c->opts.storage_deadline_ms, &p->a, &resp, errmsg);
}

/* ---- the pass's view: live nodes, their load, the catalog ---- */

static dyn_err
nodes_load(pass *p)
{
    dyn_meta_kv *kvs = NULL;
    size_t n = 0;
    dyn_err rc;

    if ((rc = dyn_meta_range(p->c->meta, CONTROLLER_NODES_PREFIX, 0, &p->a, &kvs, &n, NULL,
                             NULL)) != DYN_OK)
        return rc;
    if ((p->nodes = dyn_arena_zalloc(&p->a, (n ? n : 1) * sizeof *p->nodes)) == NULL)
        return DYN_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        Dyne__Internal__NodeMeta *nm =
            dyne__internal__node_meta__unpack(&p->al, kvs[i].val_len, kvs[i].val);
        if (nm == NULL || nm->node_id == NULL || nm->addr == NULL || nm->node_id[0] == '\0')
            continue;
        p->nodes[p->nn++] = (controller_node){ .id = nm->node_id, .addr = nm->addr };
    }
    dyn_rpc_gauge_set(dyn_rpc_counter_get("dyn_controller_storage_nodes", "",
                                          "Storage nodes registered with a live lease"),
                      (int64_t)p->nn);
    return DYN_OK;
}

/* Every partition the catalog puts on a live node counts towards it: DELETING tables hold
 * their data until dropped, CREATING ones will soon. */
static void
parts_count(pass *p, part_meta *const *parts, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        ssize_t j = node_find(p, parts[k]->node_id);
        if (j >= 0)
            p->nodes[j].partitions++;
    }
}

static void
nodes_count(pass *p)
{
    for (size_t t = 0; t < p->nt; t++) {
        parts_count(p, p->tables[t]->partitions, p->tables[t]->n_partitions);
        for (size_t g = 0; g < p->tables[t]->n_gsis; g++)
            parts_count(p, p->tables[t]->gsis[g]->partitions, p->tables[t]->gsis[g]->n_partitions);
    }
}

/* The bytes of the partitions among parts that node n holds. */
static int64_t
parts_size(pass *p, const controller_node *n, part_meta *const *parts, size_t np)
{
    int64_t sum = 0;

    for (size_t k = 0; k < np; k++) {
        const part_meta *pm = parts[k];
        Dyne__Internal__PartitionStatsRequest q = DYNE__INTERNAL__PARTITION_STATS_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        if (pm->node_id == NULL || strcmp(pm->node_id, n->id) != 0)
            continue;
        q.partition_id = pm->partition_id;
        if (dyn_rpc_client_call(controller_storage(p->c, n->addr),
                                "/dyne.internal.Storage/PartitionStats", &q.base,
                                &dyne__internal__partition_stats_response__descriptor,
                                p->c->opts.storage_deadline_ms, &p->a, &resp, NULL) == DYN_OK)
            sum += ((Dyne__Internal__PartitionStatsResponse *)resp)->size_bytes;
    }
    return sum;
}

static controller_size *
size_entry(controller *c, const char *node_id)
{
    controller_size *s;

    for (s = c->sizes; s != NULL; s = s->next)
        if (strcmp(s->node_id, node_id) == 0)
            return s;
    s = dyn_xcalloc(1, sizeof *s);
    s->node_id = dyn_xstrdup(node_id);   /* at_ms 0: never measured */
    s->next = c->sizes;
    c->sizes = s;
    return s;
}

/* nodes[].bytes, for placement's tie-break: each node's partitions summed from PartitionStats,
 * at most stats_refresh_s old (PartitionStats reads a whole partition). Best effort: a partition
 * that cannot be measured counts 0. */
static void
nodes_size(pass *p)
{
    int64_t now = controller_now_ms();

    if (p->sized)
        return;
    p->sized = true;
    for (size_t j = 0; j < p->nn; j++) {
        controller_node *n = &p->nodes[j];
        controller_size *s = size_entry(p->c, n->id);
        if (s->at_ms > 0 && now - s->at_ms < (int64_t)p->c->opts.stats_refresh_s * 1000) {
            n->bytes = s->bytes;
            continue;
        }
        int64_t sum = 0;
        for (size_t t = 0; t < p->nt; t++) {
            const table_meta *m = p->tables[t];
            sum += parts_size(p, n, m->partitions, m->n_partitions);
            for (size_t g = 0; g < m->n_gsis; g++)
                sum += parts_size(p, n, m->gsis[g]->partitions, m->gsis[g]->n_partitions);
        }
        s->bytes = n->bytes = sum;
        s->at_ms = now;
    }
}

/* ---- what is remembered of unfinished tables: back-off, and how long a state has stood ---- */

static controller_track *
track_get(controller *c, const table_meta *m, bool create)
{
    const char *id = m->table_id != NULL ? m->table_id : "";
    controller_track *t;

    for (t = c->tracks; t != NULL; t = t->next)
        if (strcmp(t->name, m->table_name) == 0 && strcmp(t->table_id, id) == 0)
            return t;
    if (!create)
        return NULL;
    t = dyn_xcalloc(1, sizeof *t);
    t->name = dyn_xstrdup(m->table_name);
    t->table_id = dyn_xstrdup(id);
    t->next = c->tracks;
    c->tracks = t;
    return t;
}

static void
track_failed(controller_track *t)
{
    int64_t wait = RETRY_MIN_MS;

    for (int i = 0; i < t->fails && wait < RETRY_MAX_MS; i++)
        wait *= 2;
    t->fails++;
    t->next_ms = controller_now_ms() + (wait < RETRY_MAX_MS ? wait : RETRY_MAX_MS);
}

/* Forgets tables not marked seen at this pass (gone, finished, or no longer waited on); clears
 * the marks for the next. */
static void
track_sweep(controller *c)
{
    for (controller_track **pp = &c->tracks; *pp != NULL;) {
        controller_track *t = *pp;
        if (!t->seen) {
            *pp = t->next;
            free(t->name);
            free(t->table_id);
            free(t);
            continue;
        }
        t->seen = false;
        pp = &t->next;
    }
}

/* ---- CREATING ---- */

/* A table id fit for partition ids "<table id>.<n>" (storage allows [A-Za-z0-9._-], 80 bytes). */
static bool
table_id_ok(const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;

    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
              (id[i] >= '0' && id[i] <= '9') || id[i] == '_' || id[i] == '-'))
            return false;
    return true;
}

static Dyne__V1__TableDescription *
description(pass *p, const table_meta *m)
{
    if (!m->has_description)
        return NULL;
    return dyne__v1__table_description__unpack(&p->al, m->description.len, m->description.data);
}

/* n partitions "<prefix>.<i>" with even hash ranges, each on a live node by controller_place,
 * in the arena. */
static dyn_err
plan_parts(pass *p, const char *prefix, uint32_t n, part_meta ***out)
{
    size_t *where;
    part_meta **parts;

    if (p->nn == 0)
        return DYN_EUNAVAIL;
    nodes_size(p);
    where = dyn_arena_alloc(&p->a, n * sizeof *where);
    parts = dyn_arena_alloc(&p->a, n * sizeof *parts);
    if (where == NULL || parts == NULL)
        return DYN_ENOMEM;
    controller_place(p->nodes, p->nn, n, where);
    for (uint32_t i = 0; i < n; i++) {
        part_meta *pm = dyn_arena_alloc(&p->a, sizeof *pm);
        if (pm == NULL)
            return DYN_ENOMEM;
        dyne__internal__partition_meta__init(pm);
        pm->partition_id = dyn_arena_printf(&p->a, "%s.%" PRIu32, prefix, i);
        pm->has_hash_start = pm->has_hash_end = true;
        controller_hash_range(n, i, &pm->hash_start, &pm->hash_end);
        pm->node_id = (char *)p->nodes[where[i]].id;
        pm->node_addr = (char *)p->nodes[where[i]].addr;
        parts[i] = pm;
    }
    *out = parts;
    return DYN_OK;
}

/* The partition map of a table that has none: count from its capacity, even hash ranges, each
 * on a live node by controller_place. Only m (in the arena) changes. */
static dyn_err
plan(pass *p, table_meta *m)
{
    controller_capacity cap;
    uint32_t n;
    part_meta **parts;
    dyn_err rc;

    controller_capacity_of(description(p, m), &cap);
    n = controller_partition_count(&cap, (uint32_t)p->c->opts.max_partitions);
    if ((rc = plan_parts(p, m->table_id, n, &parts)) != DYN_OK)
        return rc;
    m->partitions = parts;
    m->n_partitions = n;
    m->has_config_epoch = true;
    m->config_epoch = 1;
    dyn_log(DYN_LOG_INFO, "CONTROLLER-PLAN",
            "table=%s table_id=%s partitions=%" PRIu32 " read_units=%" PRId64
            " write_units=%" PRId64 " on_demand=%d",
            m->table_name, m->table_id, n, cap.read_units, cap.write_units, cap.on_demand);
    return DYN_OK;
}

/* Moves the partitions among parts planned on nodes that are no longer live (they hold nothing
 * yet) to live ones when `move`, recording each as an orphan of its old node in ws in case it
 * was created there; also refreshes the address of nodes that came back on another one.
 * *changed: the entry needs writing; *moved counts the moves. */
static dyn_err
replan_parts(pass *p, const char *table, part_meta **parts, size_t np, bool move, writes *ws,
             bool *changed, size_t *moved)
{
    for (size_t k = 0; k < np; k++) {
        part_meta *pm = parts[k];
        ssize_t j = node_find(p, pm->node_id);
        size_t to;
        if (j >= 0) {
            if (pm->node_addr == NULL || strcmp(pm->node_addr, p->nodes[j].addr) != 0) {
                pm->node_addr = (char *)p->nodes[j].addr;
                *changed = true;
            }
            continue;
        }
        if (!move)
            continue;
        if (p->nn == 0)
            return DYN_EUNAVAIL;
        nodes_size(p);
        controller_place(p->nodes, p->nn, 1, &to);
        if (pm->node_id != NULL && pm->node_id[0] != '\0')
            writes_add(ws, DYN_META_OP_PUT, orphan_key(p, pm->node_id, pm->partition_id),
                       pm->partition_id, strlen(pm->partition_id));
        /* an orphan record of the new node for this id would drop the partition we create */
        writes_add(ws, DYN_META_OP_DELETE, orphan_key(p, p->nodes[to].id, pm->partition_id), NULL,
                   0);
        dyn_log(DYN_LOG_WARN, "CONTROLLER-REPLACE", "table=%s partition=%s from=%s to=%s",
                table, pm->partition_id, pm->node_id ? pm->node_id : "", p->nodes[to].id);
        pm->node_id = (char *)p->nodes[to].id;
        pm->node_addr = (char *)p->nodes[to].addr;
        (*moved)++;
        *changed = true;
    }
    return DYN_OK;
}

/* replan_parts over a CREATING table's own partitions (they hold nothing yet); a move is a new
 * config epoch. */
static dyn_err
replan_dead(pass *p, table_meta *m, writes *ws, bool *changed)
{
    size_t moved = 0;
    dyn_err rc;

    if ((rc = replan_parts(p, m->table_name, m->partitions, m->n_partitions, true, ws, changed,
                           &moved)) != DYN_OK)
        return rc;
    if (moved > 0) {
        m->has_config_epoch = true;
        m->config_epoch++;
        *changed = true;
    }
    return DYN_OK;
}

static bool gsis_pending(pass *p, const table_meta *m);
static dyn_err gsis_step(pass *p, table_meta *m, int64_t *rev);

static const char *
table_class(pass *p, const table_meta *m)
{
    const Dyne__V1__TableDescription *d = description(p, m);

    return d != NULL && d->tableclasssummary != NULL ? d->tableclasssummary->tableclass : NULL;
}

static dyn_err
table_create(pass *p, table_meta *m, int64_t rev)
{
    writes ws;
    bool changed = false;
    const char *err;
    dyn_err rc;

    if (m->key_schema == NULL || m->key_schema->pk_name == NULL || m->key_schema->pk_type == NULL)
        return DYN_EVALIDATION;
    for (size_t k = 0; k < m->n_partitions; k++)
        if (m->partitions[k]->partition_id == NULL)
            return DYN_EVALIDATION;
    if ((rc = writes_init(p, &ws, 1 + 2 * m->n_partitions)) != DYN_OK)
        return rc;
    ws.n = 1;   /* ops[0]: the table itself */
    if (m->n_partitions == 0) {
        if (!table_id_ok(m->table_id))
            return DYN_EVALIDATION;
        if ((rc = plan(p, m)) != DYN_OK)
            return rc;
        changed = true;
    } else if ((rc = replan_dead(p, m, &ws, &changed)) != DYN_OK) {
        return rc;
    }
    /* the plan is durable before any partition exists: a successor creates the same ones */
    if (changed && (rc = table_write(p, m, &rev, &ws)) != DYN_OK)
        return rc;

    Dyne__Internal__CreatePartitionRequest cp = DYNE__INTERNAL__CREATE_PARTITION_REQUEST__INIT;
    cp.key_schema = m->key_schema;
    cp.table_name = m->table_name;
    if (m->has_ttl_enabled && m->ttl_enabled)
        cp.ttl_attribute = m->ttl_attribute;
    cp.n_lsis = m->n_lsis;
    cp.lsis = m->lsis;
    cp.table_class = (char *)table_class(p, m);
    for (size_t k = 0; k < m->n_partitions; k++) {
        cp.partition_id = m->partitions[k]->partition_id;
        rc = storage_call(p, m->partitions[k]->node_addr, "/dyne.internal.Storage/CreatePartition",
                          &cp.base, &dyne__internal__create_partition_response__descriptor, &err);
        if (rc != DYN_OK) {
            dyn_log(DYN_LOG_WARN, "CONTROLLER-PARTITION-CREATE",
                    "table=%s partition=%s node=%s err=%s msg=%s", m->table_name,
                    cp.partition_id, m->partitions[k]->node_id, dyn_err_name(rc), err ? err : "");
            return rc;
        }
        count_partition_op("create");
    }
    /* ACTIVE with its own partitions: its indexes may still be CREATING (the indexer makes
     * them ACTIVE), their partitions planned and created next */
    m->status = "ACTIVE";
    ws.n = 1;
    if ((rc = table_write(p, m, &rev, &ws)) != DYN_OK)
        return rc;
    dyn_log(DYN_LOG_INFO, "CONTROLLER-TABLE-ACTIVE", "table=%s table_id=%s partitions=%zu",
            m->table_name, m->table_id ? m->table_id : "", m->n_partitions);
    return gsis_pending(p, m) ? gsis_step(p, m, &rev) : DYN_OK;
}

/* ---- UPDATING, DELETING ---- */

static dyn_err
table_update(pass *p, table_meta *m, int64_t rev)
{
    writes ws;
    dyn_err rc;

    /* an index created or deleted: its partitions planned or dropped before the table is
     * ACTIVE again */
    if (gsis_pending(p, m) && (rc = gsis_step(p, m, &rev)) != DYN_OK)
        return rc;
    if ((rc = writes_init(p, &ws, 1)) != DYN_OK)
        return rc;
    ws.n = 1;
    m->status = "ACTIVE";
    if ((rc = table_write(p, m, &rev, &ws)) == DYN_OK)
        dyn_log(DYN_LOG_INFO, "CONTROLLER-TABLE-ACTIVE", "table=%s table_id=%s updated",
                m->table_name, m->table_id ? m->table_id : "");
    return rc;
}

static dyn_err
drop_partition(pass *p, const char *addr, const char *partition_id, const char *node_id)
{
    Dyne__Internal__DropPartitionRequest q = DYNE__INTERNAL__DROP_PARTITION_REQUEST__INIT;
    const char *err;
    dyn_err rc;

    q.partition_id = (char *)partition_id;
    rc = storage_call(p, addr, "/dyne.internal.Storage/DropPartition", &q.base,
                      &dyne__internal__drop_partition_response__descriptor, &err);
    if (rc != DYN_OK)
        dyn_log(DYN_LOG_WARN, "CONTROLLER-PARTITION-DROP", "partition=%s node=%s err=%s msg=%s",
                partition_id, node_id, dyn_err_name(rc), err ? err : "");
    return rc;
}

/* ---- global secondary indexes ---- */

static bool
is(const char *status, const char *want)
{
    return status != NULL && strcmp(status, want) == 0;
}

static controller_made *
made_find(controller *c, const part_meta *pm)
{
    const char *node = pm->node_id != NULL ? pm->node_id : "";
    size_t lp = strlen(pm->partition_id), ln = strlen(node);

    for (controller_made *x = c->made; x != NULL; x = x->next)
        if (strncmp(x->key, pm->partition_id, lp) == 0 && x->key[lp] == '@' &&
            strcmp(x->key + lp + 1, node) == 0 && strlen(x->key) == lp + 1 + ln)
            return x;
    return NULL;
}

static void
made_add(controller *c, const part_meta *pm)
{
    controller_made *x = dyn_xcalloc(1, sizeof *x);
    size_t n = strlen(pm->partition_id) + strlen(pm->node_id ? pm->node_id : "") + 2;

    x->key = dyn_xmalloc(n);
    snprintf(x->key, n, "%s@%s", pm->partition_id, pm->node_id ? pm->node_id : "");
    x->seen = true;
    x->next = c->made;
    c->made = x;
}

/* Marks the created partitions of m's CREATING indexes as still wanted (made_sweep forgets the
 * others). */
static void
made_mark(pass *p, const table_meta *m)
{
    for (size_t g = 0; g < m->n_gsis; g++)
        for (size_t k = 0; is(m->gsis[g]->status, "CREATING") && k < m->gsis[g]->n_partitions;
             k++) {
            controller_made *x = m->gsis[g]->partitions[k]->partition_id != NULL
                                     ? made_find(p->c, m->gsis[g]->partitions[k])
                                     : NULL;
            if (x != NULL)
                x->seen = true;
        }
}

static void
made_sweep(controller *c)
{
    for (controller_made **pp = &c->made; *pp != NULL;) {
        controller_made *x = *pp;
        if (!x->seen) {
            *pp = x->next;
            free(x->key);
            free(x);
            continue;
        }
        x->seen = false;
        pp = &x->next;
    }
}

/* Whether an index of m needs a step: DELETING, or CREATING with partitions unplanned, on a node
 * that is gone or moved, or not yet created by this instance. */
static bool
gsis_pending(pass *p, const table_meta *m)
{
    for (size_t g = 0; g < m->n_gsis; g++) {
        const gsi_meta *x = m->gsis[g];
        if (is(x->status, "DELETING"))
            return true;
        if (!is(x->status, "CREATING"))
            continue;
        if (x->n_partitions == 0)
            return true;
        for (size_t k = 0; k < x->n_partitions; k++) {
            const part_meta *pm = x->partitions[k];
            ssize_t j = node_find(p, pm->node_id);
            if (pm->partition_id == NULL)
                continue;
            if (j < 0 ? x->n_backfilled == 0
                      : pm->node_addr == NULL || strcmp(pm->node_addr, p->nodes[j].addr) != 0)
                return true;
            if (j >= 0 && made_find(p->c, pm) == NULL)
                return true;
        }
    }
    return false;
}

/* An index id fit for partition ids "<index id>.<n>" (storage: [A-Za-z0-9._-], 80 bytes). */
static bool
index_id_ok(const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;

    if (n == 0 || n > 72)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
              (id[i] >= '0' && id[i] <= '9') || id[i] == '_' || id[i] == '-' || id[i] == '.'))
            return false;
    return true;
}

/* The partition map of an index that has none: count from the index's own capacity. */
static dyn_err
gsi_plan(pass *p, table_meta *m, gsi_meta *g)
{
    controller_capacity cap;
    part_meta **parts;
    uint32_t n;
    dyn_err rc;

    if (!index_id_ok(g->index_id))
        return DYN_EVALIDATION;
    controller_gsi_capacity_of(description(p, m), g->index_name, &cap);
    n = controller_partition_count(&cap, (uint32_t)p->c->opts.max_partitions);
    if ((rc = plan_parts(p, g->index_id, n, &parts)) != DYN_OK)
        return rc;
    g->partitions = parts;
    g->n_partitions = n;
    dyn_log(DYN_LOG_INFO, "CONTROLLER-GSI-PLAN",
            "table=%s index=%s index_id=%s partitions=%" PRIu32 " read_units=%" PRId64
            " write_units=%" PRId64 " on_demand=%d",
            m->table_name, g->index_name ? g->index_name : "", g->index_id, n, cap.read_units,
            cap.write_units, cap.on_demand);
    return DYN_OK;
}

/* Drops the partitions of an index being deleted: from live nodes now, from the others once
 * they are back (orphan records added to ws). */
static dyn_err
gsi_drop(pass *p, const table_meta *m, const gsi_meta *g, writes *ws)
{
    size_t orphans = 0;
    dyn_err rc;

    for (size_t k = 0; k < g->n_partitions; k++) {
        const part_meta *pm = g->partitions[k];
        ssize_t j = node_find(p, pm->node_id);
        if (pm->partition_id == NULL)
            continue;
        if (j >= 0) {
            if ((rc = drop_partition(p, p->nodes[j].addr, pm->partition_id, pm->node_id)) !=
                DYN_OK)
                return rc;
            count_partition_op("drop");
        } else if (pm->node_id != NULL && pm->node_id[0] != '\0') {
            writes_add(ws, DYN_META_OP_PUT, orphan_key(p, pm->node_id, pm->partition_id),
                       pm->partition_id, strlen(pm->partition_id));
            orphans++;
        }
    }
    dyn_log(DYN_LOG_INFO, "CONTROLLER-GSI-GONE",
            "table=%s index=%s index_id=%s partitions=%zu orphans=%zu", m->table_name,
            g->index_name ? g->index_name : "", g->index_id ? g->index_id : "", g->n_partitions,
            orphans);
    return DYN_OK;
}

/* Drives m's indexes one step (the table's own partitions exist): deleted ones dropped and
 * removed, new ones planned (and moved off dead nodes while nothing is backfilled), all in one
 * fenced write on *rev (which becomes the new one); then CreatePartition for each partition of
 * a CREATING index this instance has not created yet. The indexer turns an index ACTIVE. */
static dyn_err
gsis_step(pass *p, table_meta *m, int64_t *rev)
{
    Dyne__Internal__CreatePartitionRequest cp = DYNE__INTERNAL__CREATE_PARTITION_REQUEST__INIT;
    size_t cap = 1, keep = 0, moved = 0;
    bool changed = false;
    const char *err;
    writes ws;
    dyn_err rc;

    for (size_t g = 0; g < m->n_gsis; g++)
        cap += 2 * m->gsis[g]->n_partitions;
    if ((rc = writes_init(p, &ws, cap)) != DYN_OK)
        return rc;
    ws.n = 1;   /* ops[0]: the table itself */
    for (size_t g = 0; g < m->n_gsis; g++) {
        gsi_meta *x = m->gsis[g];
        if (is(x->status, "DELETING")) {
            if ((rc = gsi_drop(p, m, x, &ws)) != DYN_OK)
                return rc;
            changed = true;
            continue;   /* the GsiMeta goes with the write */
        }
        m->gsis[keep++] = x;
        if (!is(x->status, "CREATING"))
            continue;
        for (size_t k = 0; k < x->n_partitions; k++)
            if (x->partitions[k]->partition_id == NULL)
                return DYN_EVALIDATION;
        if (x->n_partitions == 0) {
            if ((rc = gsi_plan(p, m, x)) != DYN_OK)
                return rc;
            changed = true;
        } else if ((rc = replan_parts(p, m->table_name, x->partitions, x->n_partitions,
                                      x->n_backfilled == 0, &ws, &changed, &moved)) != DYN_OK) {
            return rc;
        }
    }
    m->n_gsis = keep;
    /* the plan is durable before any partition exists: a successor creates the same ones */
    if (changed && (rc = table_write(p, m, rev, &ws)) != DYN_OK)
        return rc;

    cp.table_name = m->table_name;
    cp.table_class = (char *)table_class(p, m);
    cp.has_gsi = cp.gsi = true;
    for (size_t g = 0; g < m->n_gsis; g++) {
        gsi_meta *x = m->gsis[g];
        if (!is(x->status, "CREATING"))
            continue;
        cp.key_schema = x->key_schema;
        for (size_t k = 0; k < x->n_partitions; k++) {
            part_meta *pm = x->partitions[k];
            if (node_find(p, pm->node_id) < 0 || made_find(p->c, pm) != NULL)
                continue;   /* a dead node's (kept: its index is backfilling) waits for it */
            cp.partition_id = pm->partition_id;
            rc = storage_call(p, pm->node_addr, "/dyne.internal.Storage/CreatePartition",
                              &cp.base, &dyne__internal__create_partition_response__descriptor,
                              &err);
            if (rc != DYN_OK) {
                dyn_log(DYN_LOG_WARN, "CONTROLLER-PARTITION-CREATE",
                        "table=%s index=%s partition=%s node=%s err=%s msg=%s", m->table_name,
                        x->index_name ? x->index_name : "", cp.partition_id, pm->node_id,
                        dyn_err_name(rc), err ? err : "");
                return rc;
            }
            count_partition_op("create");
            made_add(p->c, pm);
        }
    }
    return DYN_OK;
}

/* An ACTIVE table whose indexes need a step. */
static dyn_err
table_gsis(pass *p, table_meta *m, int64_t rev)
{
    return gsis_step(p, m, &rev);
}

static dyn_err
table_delete(pass *p, table_meta *m, int64_t rev)
{
    const char *key = table_key(p, m->table_name);
    writes ws;
    size_t orphans = 0, cap = 1 + m->n_partitions;
    dyn_err rc;

    for (size_t g = 0; g < m->n_gsis; g++)
        cap += m->gsis[g]->n_partitions;
    if ((rc = writes_init(p, &ws, cap)) != DYN_OK)
        return rc;
    writes_add(&ws, DYN_META_OP_DELETE, key, NULL, 0);
    /* the indexes go with the table */
    for (size_t g = 0; g < m->n_gsis; g++)
        if ((rc = gsi_drop(p, m, m->gsis[g], &ws)) != DYN_OK)
            return rc;
    for (size_t k = 0; k < m->n_partitions; k++) {
        const part_meta *pm = m->partitions[k];
        ssize_t j = node_find(p, pm->node_id);
        if (pm->partition_id == NULL)
            continue;   /* nothing could have been created under no name */
        if (j >= 0) {
            if ((rc = drop_partition(p, p->nodes[j].addr, pm->partition_id, pm->node_id)) !=
                DYN_OK)
                return rc;
            count_partition_op("drop");
        } else if (pm->node_id != NULL && pm->node_id[0] != '\0') {
            /* the node is away: drop it when it is back rather than keep the table forever */
            writes_add(&ws, DYN_META_OP_PUT, orphan_key(p, pm->node_id, pm->partition_id),
                       pm->partition_id, strlen(pm->partition_id));
            orphans++;
        }
    }
    if ((rc = fenced(p, key, rev, &ws, NULL)) == DYN_OK)
        dyn_log(DYN_LOG_INFO, "CONTROLLER-TABLE-GONE",
                "table=%s table_id=%s partitions=%zu orphans=%zu", m->table_name,
                m->table_id ? m->table_id : "", m->n_partitions, orphans);
    return rc;
}

/* ---- the pass ---- */

typedef dyn_err (*table_step)(pass *p, table_meta *m, int64_t rev);

/* Drives one table; false once we no longer lead (the pass stops). */
static bool
table_reconcile(pass *p, table_meta *m, int64_t rev)
{
    const char *status = m->status != NULL ? m->status : "";
    table_step step = strcmp(status, "CREATING") == 0   ? table_create
                      : strcmp(status, "UPDATING") == 0 ? table_update
                      : strcmp(status, "DELETING") == 0 ? table_delete
                      : strcmp(status, "ACTIVE") == 0 && gsis_pending(p, m) ? table_gsis
                                                        : NULL;
    int64_t now = controller_now_ms(), grace = p->c->opts.adopt_after_ms;
    controller_track *t;
    dyn_err rc;

    if (step == NULL)
        return true;
    if ((t = track_get(p->c, m, grace > 0)) != NULL) {
        t->seen = true;
        if (t->rev != rev) {
            t->rev = rev;
            t->rev_ms = now;
        }
        if (now - t->rev_ms < grace || now < t->next_ms)
            return true;
    }
    rc = step(p, m, rev);
    if (rc == DYN_OK) {
        if (t != NULL)
            t->seen = false;   /* done: forgotten at the sweep */
        count("dyn_controller_reconcile_total", "status", status,
              "Table steps completed, by the status they started from");
    } else if (rc == DYN_ECONDFAIL) {
        /* changed under us (or the epoch moved): look again with the new state */
        count("dyn_controller_reconcile_conflicts_total", "status", status,
              "Table steps whose fenced write found the table or the leader changed");
        controller_mark_dirty(p->c);
    } else if (rc != DYN_ENOTLEADER) {
        count("dyn_controller_reconcile_errors_total", "status", status,
              "Table steps that failed and will be retried with back-off");
        if (t == NULL)
            (t = track_get(p->c, m, true))->seen = true;
        track_failed(t);
        dyn_log(DYN_LOG_WARN, "CONTROLLER-RECONCILE", "table=%s status=%s err=%s",
                m->table_name, status, dyn_err_name(rc));
    }
    return rc != DYN_ENOTLEADER && leading(p);
}

/* Drops recorded orphans from nodes that are live again, then forgets them. */
static void
orphans_reconcile(pass *p)
{
    dyn_meta_kv *kvs = NULL;
    size_t n = 0;

    if (dyn_meta_range(p->c->meta, CONTROLLER_ORPHANS_PREFIX, 0, &p->a, &kvs, &n, NULL, NULL) !=
        DYN_OK)
        return;   /* the next pass tries again */
    for (size_t i = 0; i < n && leading(p); i++) {
        const char *rest = kvs[i].key + strlen(CONTROLLER_ORPHANS_PREFIX);
        const char *slash = strrchr(rest, '/');
        if (slash == NULL)
            continue;
        const char *node_id = dyn_arena_strndup(&p->a, rest, (size_t)(slash - rest));
        ssize_t j = node_find(p, node_id);
        if (j < 0 || drop_partition(p, p->nodes[j].addr, slash + 1, node_id) != DYN_OK)
            continue;
        writes ws = { .ops = &(dyn_meta_op){ .type = DYN_META_OP_DELETE, .key = kvs[i].key },
                      .n = 1 };
        if (fenced(p, kvs[i].key, kvs[i].mod_rev, &ws, NULL) == DYN_OK) {
            count_partition_op("orphan_drop");
            dyn_log(DYN_LOG_INFO, "CONTROLLER-ORPHAN-DROP", "node=%s partition=%s", node_id,
                    slash + 1);
        }
    }
}

void
controller_pass(controller *c, int64_t epoch)
{
    pass p = { .c = c, .epoch = epoch };
    dyn_meta_kv *kvs = NULL;
    int64_t *revs = NULL;
    size_t n = 0, by_status[NSTATUS] = { 0 };
    dyn_err rc;

    dyn_arena_init(&p.a, PASS_ARENA);
    p.al = dyn_arena_pb_allocator(&p.a);
    dyn_rpc_counter_add(dyn_rpc_counter_get("dyn_controller_passes_total", "",
                                            "Reconcile passes run as leader"),
                        1);
    if ((rc = nodes_load(&p)) != DYN_OK ||
        (rc = dyn_meta_range(c->meta, CONTROLLER_TABLES_PREFIX, 0, &p.a, &kvs, &n, NULL, NULL)) !=
            DYN_OK) {
        dyn_log(DYN_LOG_WARN, "CONTROLLER-LIST", "err=%s", dyn_err_name(rc));
        goto out;
    }
    p.tables = dyn_arena_zalloc(&p.a, (n ? n : 1) * sizeof *p.tables);
    revs = dyn_arena_zalloc(&p.a, (n ? n : 1) * sizeof *revs);
    if (p.tables == NULL || revs == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        table_meta *m = dyne__internal__table_meta__unpack(&p.al, kvs[i].val_len, kvs[i].val);
        if (m == NULL || m->table_name == NULL) {
            dyn_log(DYN_LOG_ERROR, "CONTROLLER-CATALOG-CORRUPT", "key=%s", kvs[i].key);
            continue;
        }
        for (size_t s = 0; s < NSTATUS; s++)
            if (m->status != NULL && strcmp(m->status, statuses[s]) == 0)
                by_status[s]++;
        revs[p.nt] = kvs[i].mod_rev;
        p.tables[p.nt++] = m;
    }
    tables_gauge_set(by_status);
    nodes_count(&p);
    for (size_t t = 0; t < p.nt; t++)
        made_mark(&p, p.tables[t]);
    for (size_t t = 0; t < p.nt; t++)
        if (!table_reconcile(&p, p.tables[t], revs[t]))
            goto out;
    track_sweep(c);
    made_sweep(c);
    orphans_reconcile(&p);
out:
    dyn_arena_fini(&p.a);
}
