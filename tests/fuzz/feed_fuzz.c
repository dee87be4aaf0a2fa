/* tests/fuzz -- libs/feed's two parsers of bytes from outside: change feed notices (PUB messages
 * from any process that can reach the socket) and the consumer's position file (a disk that may
 * hand back anything after a crash). The first byte picks which. Notices: decode must never read
 * past the input, and what it accepts must re-encode to the same bytes. Position files: open
 * either refuses the file or yields positions that a rewrite and reopen give back unchanged. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "libs/feed/feed.h"
#include "tests/fuzz/fuzz.h"

static char dir[64];

static void
notice(const uint8_t *data, size_t size)
{
    const char *part;
    uint64_t lsn;
    uint8_t again[512];

    if (!dyn_feed_notice_decode(data, size, &part, &lsn))
        return;
    FZ_CHECK(strlen(part) == size - 9);
    size_t n = dyn_feed_notice_encode(part, lsn, again, sizeof again);
    FZ_CHECK(n == 0 ? size > sizeof again : n == size && memcmp(again, data, size) == 0);
}

static void
posfile(const uint8_t *data, size_t size)
{
    char path[128];
    dyn_feed_posstore *s = NULL, *t = NULL;
    FILE *f;

    if (dir[0] == '\0')   /* tmpfs: every accepted file costs an fsync */
        snprintf(dir, sizeof dir, "/dev/shm/dyne-feed-fuzz-%d", (int)getpid());
    snprintf(path, sizeof path, "%s/fz.pos", dir);
    if (dyn_feed_posstore_open(dir, "fz", &s) != DYN_OK)   /* creates the directory */
        FZ_CHECK(0);
    dyn_feed_posstore_close(s);
    FZ_CHECK((f = fopen(path, "wb")) != NULL);
    FZ_CHECK(fwrite(data, 1, size, f) == size);
    FZ_CHECK(fclose(f) == 0);
    s = NULL;
    if (dyn_feed_posstore_open(dir, "fz", &s) != DYN_OK) {
        unlink(path);
        rmdir(dir);   /* leave nothing behind in /dev/shm */
        return;
    }
    /* accepted: one more position rewrites the file; reopening must give every value back */
    FZ_CHECK(dyn_feed_posstore_set(s, "fz.extra", 7) == DYN_OK);
    FZ_CHECK(dyn_feed_posstore_open(dir, "fz", &t) == DYN_OK);
    FZ_CHECK(dyn_feed_posstore_get(t, "fz.extra") == 7);
    dyn_feed_posstore_close(t);
    dyn_feed_posstore_close(s);
    unlink(path);
    rmdir(dir);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        notice(data + 1, size - 1);
    else
        posfile(data + 1, size - 1);
    return 0;
}
