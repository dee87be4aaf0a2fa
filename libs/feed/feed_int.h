/* libs/feed -- private helpers shared by the publisher, the cursor server and the consumer. */
#ifndef DYN_LIBS_FEED_FEED_INT_H
#define DYN_LIBS_FEED_FEED_INT_H

#include <stdint.h>
#include <nng/nng.h>

#include "libs/err/err.h"

#define FEED_NOTICE_MAX 128                 /* partition ids are at most 80 bytes */
#define FEED_REQUEST_MAX (64 * 1024)        /* a cursor request is a few dozen bytes */
#define FEED_REPLY_MAX (64 * 1024 * 1024)   /* a page: max_bytes plus one record */

/* NNG_* -> dyn_err, at the edge only. */
dyn_err feed_nng_err(int rv);
/* Monotonic milliseconds. */
int64_t feed_mono_ms(void);
/* The url a listener actually bound: a tcp url whose port is 0 gets the bound port. Heap. */
char *feed_bound_url(const char *url, nng_listener l);
/* Opens sock's listener on url (started), *bound as feed_bound_url. */
dyn_err feed_listen(nng_socket sock, const char *url, char **bound);
void feed_be64_put(uint8_t *b, uint64_t v);
uint64_t feed_be64_get(const uint8_t *b);
/* Writes all n bytes of p to fd (retrying short writes and EINTR); 0, or -1 with errno set. */
int feed_write_all(int fd, const char *p, size_t n);
#endif /* DYN_LIBS_FEED_FEED_INT_H */
