/* libs/elect -- one leader among the instances of a service (the controller, the indexer), on
 * one etcd key: the key is created only if absent, under a lease kept alive in the background;
 * its create revision is the leader's epoch and fences the leader's writes. Followers watch the
 * key and campaign when it is deleted (resign, or the leader's lease expired). */
#ifndef DYN_LIBS_ELECT_ELECT_H
#define DYN_LIBS_ELECT_ELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libs/meta/meta.h"

typedef struct dyn_elect dyn_elect;   /* opaque */
/* Runs (on libs/meta's threads) when the election may have changed: the leader key was deleted,
 * or our lease was lost; `leading` says whether we still lead. Must not block. */
typedef void (*dyn_elect_wake_fn)(void *arg, bool leading);

/* An elector for `key` (e.g. "/dyne/controller/leader"), writing `id` as the key's value while
 * it leads, under a lease of ttl_s seconds kept alive in the background. Watches the key at
 * once; campaigns only in dyn_elect_step. m is borrowed and must outlive the elector;
 * key and id are copied. Owned: dyn_elect_free. */
dyn_elect *dyn_elect_new(dyn_meta *m, const char *key, const char *id, int ttl_s,
                                       dyn_elect_wake_fn wake, void *arg);
/* One round, blocking on etcd: takes a new lease if ours is missing or lost, and campaigns
 * (creates the key under our lease if nobody holds it) unless we already lead. Returns the
 * epoch: the leader key's create revision while we lead, 0 when we do not. One thread at a
 * time. */
int64_t dyn_elect_step(dyn_elect *e);
/* The epoch now, without etcd: 0 as soon as the lease is reported lost or the key deleted, so
 * a deposed leader stops acting at once. Thread-safe. */
int64_t dyn_elect_epoch(dyn_elect *e);
/* The compare that fences a write to this epoch: the leader key still has create revision
 * `epoch`. Put it in every catalog transaction (dyn_meta_txn); it fails once anybody else
 * could lead. */
dyn_meta_cmp dyn_elect_fence(const dyn_elect *e, int64_t epoch);
/* Our lease (0 = none); for tests. */
int64_t dyn_elect_lease(dyn_elect *e);
/* Gives leadership up at once: deletes the key if it is still ours (so a follower takes over
 * without waiting for the lease to expire) and revokes the lease. The elector may campaign
 * again in a later step. */
void dyn_elect_resign(dyn_elect *e);
/* Stops the watch, resigns, frees. NULL is fine. */
void dyn_elect_free(dyn_elect *e);

/* The name an instance campaigns under: `given` when not empty, else "<host>-<pid>" (`fallback`
 * when the host name is unknown), into out (cap bytes). */
void dyn_elect_instance_id(const char *given, const char *fallback, char *out, size_t cap);

#endif
