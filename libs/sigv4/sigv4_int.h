/* libs/sigv4 -- private: the key table shared by creds.c and sigv4.c. */
#ifndef DYN_LIBS_SIGV4_SIGV4_INT_H
#define DYN_LIBS_SIGV4_SIGV4_INT_H

#include "libs/sigv4/sigv4.h"

typedef struct sigv4_key {
    char *akid, *secret, *token;   /* owned; token NULL when the key has none */
    size_t akid_len, token_len;
    struct sigv4_key *next;        /* hash chain */
} sigv4_key;

/* The key with this id, or NULL. Read-only: safe from many threads. */
const sigv4_key *sigv4_creds_find(const dyn_sigv4_creds *c, const char *akid, size_t len);

/* kSigning for (k, date8 "YYYYMMDD", region, service) into out[32], from the cache when it is
 * there; computed and cached otherwise. */
void sigv4_signing_key(dyn_sigv4_creds *c, const sigv4_key *k, const char *date8,
                       const char *region, const char *service, unsigned char out[32]);

/* The HMAC-SHA256 chain of AWS's step 3, uncached. */
void sigv4_derive_key(const char *secret, const char *date8, const char *region,
                      const char *service, unsigned char out[32]);
#endif /* DYN_LIBS_SIGV4_SIGV4_INT_H */
