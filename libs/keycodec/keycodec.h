/* libs/keycodec -- storage keys (DESIGN.md §2): be64(hash(pk)) || enc(pk) || enc(sk), where enc
 * is an order-preserving, self-delimiting encoding of one S, N or B key value, so one partition
 * key's items are contiguous and sorted by sort key in DynamoDB's order.
 *
 * enc(S), enc(B): the bytes with 0x00 escaped as 0x00 0xFF, then 0x00 0x01 (S orders by UTF-8
 * bytes, B by unsigned bytes, a prefix first). enc(N): tag 0x01 negative / 0x02 zero /
 * 0x03 positive; for non-zero, one byte of leading-digit exponent + 130 (0..255), then the
 * significant digits as nibbles digit+1, a 0 nibble ending them, padded to a byte; every byte
 * after the tag inverted for negatives. Every N value has exactly one encoding ("1000", "1E3",
 * "1.000E3" encode alike), at most 1 + 1 + 20 bytes. */
#ifndef DYN_LIBS_KEYCODEC_KEYCODEC_H
#define DYN_LIBS_KEYCODEC_KEYCODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libs/arena/arena.h"
#include "libs/err/err.h"
#include "proto/dyne/v1/attribute.pb-c.h"

/* DynamoDB key types */
typedef enum { DYN_KEY_S = 'S', DYN_KEY_N = 'N', DYN_KEY_B = 'B' } dyn_key_type;

#define DYN_KEYCODEC_HASH_LEN 8    /* the be64 hash prefix of every item key */
#define DYN_KEYCODEC_N_MAX 22      /* longest enc(N) */

/* XXH3_64bits (seed 0) of the key value's canonical bytes: S -> its UTF-8 bytes, N -> canonical
 * text (libs/num), B -> raw bytes. pk must be validated already (an N that does not parse is
 * hashed as sent; any other value type hashes as empty). Places partitions. */
uint64_t dyn_keycodec_hash(const Dyne__V1__AttributeValue *pk);

/* Appends enc(v) to the buffer *buf (*len bytes used of *cap), growing it in arena a: a new,
 * larger block is allocated and the old bytes copied, so *buf may move; start with *buf = NULL,
 * *len = *cap = 0. v must be S, N or B. DYN_EVALIDATION (with *msg from dyn_num_parse when
 * msg != NULL) for an N that does not parse or another value type, DYN_ENOMEM past the arena
 * cap; the buffer is unchanged on error. */
dyn_err dyn_keycodec_append(dyn_arena *a, unsigned char **buf, size_t *len, size_t *cap,
                            const Dyne__V1__AttributeValue *v);
dyn_err dyn_keycodec_append_msg(dyn_arena *a, unsigned char **buf, size_t *len, size_t *cap,
                                const Dyne__V1__AttributeValue *v, const char **msg);

/* Appends enc(v) of an S or B value *without* its terminator: every enc(x) where x starts with
 * v's bytes starts with these bytes (a sort-key begins_with range). DYN_EVALIDATION for N. */
dyn_err dyn_keycodec_append_prefix(dyn_arena *a, unsigned char **buf, size_t *len, size_t *cap,
                                   const Dyne__V1__AttributeValue *v);

/* Full storage key be64(hash(pk)) || enc(pk) || enc(sk) in arena a (sk NULL for hash-only tables;
 * also the prefix shared by all items of pk). *key is owned by the arena. Errors as append. */
dyn_err dyn_keycodec_item_key(dyn_arena *a, const Dyne__V1__AttributeValue *pk,
                              const Dyne__V1__AttributeValue *sk, unsigned char **key,
                              size_t *len);

/* Decodes one enc(v) of type t from buf[*off..len) into a new AttributeValue in arena a (N in
 * canonical text, S NUL-terminated, B with its own copy) and advances *off past it.
 * DYN_EINTERNAL for bytes that are not a well-formed encoding, DYN_ENOMEM past the arena cap. */
dyn_err dyn_keycodec_decode_value(dyn_arena *a, const unsigned char *buf, size_t len, size_t *off,
                                  dyn_key_type t, Dyne__V1__AttributeValue **out);

/* Inverse of dyn_keycodec_item_key: decodes pk (and sk when has_sk) back into AttributeValues
 * allocated in the arena (N comes back in canonical text). *sk is set to NULL when !has_sk.
 * DYN_EINTERNAL if the key is malformed, has bytes left over, or its hash prefix does not match
 * the decoded pk. */
dyn_err dyn_keycodec_item_key_decode(dyn_arena *a, const unsigned char *key, size_t len,
                                     dyn_key_type pk_type, bool has_sk, dyn_key_type sk_type,
                                     Dyne__V1__AttributeValue **pk,
                                     Dyne__V1__AttributeValue **sk);
/* A global secondary index entry's key (docs/decisions.md, "Global secondary indexes"):
 * be64(hash(ipk)) || enc(ipk) [|| enc(isk)] || enc(tpk) [|| enc(tsk)], i.e.
 * dyn_keycodec_item_key(ipk, isk) followed by the base item's table key, so it is unique per base
 * item and grouped and ordered by the index key. isk NULL: a hash-only index; tsk NULL: a
 * hash-only table. *key is owned by the arena. Errors as dyn_keycodec_append. */
dyn_err dyn_keycodec_gsi_key(dyn_arena *a, const Dyne__V1__AttributeValue *ipk,
                             const Dyne__V1__AttributeValue *isk,
                             const Dyne__V1__AttributeValue *tpk,
                             const Dyne__V1__AttributeValue *tsk, unsigned char **key,
                             size_t *len);

/* Inverse of dyn_keycodec_gsi_key: decodes the index keys (isk when has_isk) and the table keys
 * (tsk when has_tsk) into AttributeValues in arena a (N in canonical text); *isk / *tsk are set
 * to NULL when absent (isk and tsk may be NULL pointers then). DYN_EINTERNAL if the key is
 * malformed, has bytes left over, or its hash prefix does not match the decoded ipk; DYN_ENOMEM
 * past the arena cap. The outputs are set only on DYN_OK. */
dyn_err dyn_keycodec_gsi_key_decode(dyn_arena *a, const unsigned char *key, size_t len,
                                    dyn_key_type ipk_t, bool has_isk, dyn_key_type isk_t,
                                    dyn_key_type tpk_t, bool has_tsk, dyn_key_type tsk_t,
                                    Dyne__V1__AttributeValue **ipk,
                                    Dyne__V1__AttributeValue **isk,
                                    Dyne__V1__AttributeValue **tpk,
                                    Dyne__V1__AttributeValue **tsk);
#endif /* DYN_LIBS_KEYCODEC_KEYCODEC_H */
