/* services/router -- capacity units by DynamoDB's rules (reference §2.2): reads in 4 KB units
 * (half for eventually consistent reads), writes in 1 KB units, at least one unit each, and the
 * ConsumedCapacity shapes of ReturnConsumedCapacity TOTAL and INDEXES. */
#include <string.h>

#include "proto/dyne/v1/types.pb-c.h"
#include "services/router/router.h"

double
router_read_units(int64_t bytes, bool consistent)
{
    int64_t units = bytes <= 0 ? 1 : (bytes + 4095) / 4096;
    return consistent ? (double)units : (double)units / 2.0;
}

double
router_write_units(int64_t bytes)
{
    return bytes <= 0 ? 1.0 : (double)((bytes + 1023) / 1024);
}

Dyne__V1__ConsumedCapacity *
router_consumed(dyn_arena *a, const char *mode, const char *table, double units, bool read)
{
    Dyne__V1__ConsumedCapacity *c;

    if (mode == NULL || strcmp(mode, "NONE") == 0)
        return NULL;
    if ((c = dyn_arena_alloc(a, sizeof *c)) == NULL)
        return NULL;
    dyne__v1__consumed_capacity__init(c);
    c->tablename = (char *)table;
    c->has_capacityunits = true;
    c->capacityunits = units;
    if (read) {
        c->has_readcapacityunits = true;
        c->readcapacityunits = units;
    } else {
        c->has_writecapacityunits = true;
        c->writecapacityunits = units;
    }
    if (strcmp(mode, "INDEXES") == 0) {
        /* no index is maintained yet, so the table carries every unit */
        Dyne__V1__Capacity *t = dyn_arena_alloc(a, sizeof *t);
        if (t != NULL) {
            dyne__v1__capacity__init(t);
            t->has_capacityunits = true;
            t->capacityunits = units;
            if (read) {
                t->has_readcapacityunits = true;
                t->readcapacityunits = units;
            } else {
                t->has_writecapacityunits = true;
                t->writecapacityunits = units;
            }
            c->table = t;
        }
    }
    return c;
}
