/* tests/fuzz -- shared pieces of the fuzz targets: the libFuzzer entry point every target
 * defines, a property check that aborts (libFuzzer and the replay test both report an abort as a
 * crash), and a tiny DynamoDB-JSON reader for fixed items and expression values. */
#ifndef DYN_TESTS_FUZZ_FUZZ_H
#define DYN_TESTS_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "libs/arena/arena.h"
#include "proto/dyne/v1/attribute.pb-c.h"

/* Defined once per target; libFuzzer's driver (clang build) or replay_main.c (gcc build) calls it.
 * Must return 0; a violated property aborts. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(c)                                                                            \
    do {                                                                                       \
        if (!(c)) {                                                                            \
            fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #c);         \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

/* Parses a DynamoDB-JSON item ({"a":{"N":"1"},"m":{"M":{...}}}, B and BS given as raw text) into
 * arena a. Only what our fixed test data uses: no escapes inside strings. Aborts on malformed
 * input or arena exhaustion: the text is always a constant of the caller's. */
Dyne__V1__AttributeValueMap *fz_item_json(dyn_arena *a, const char *json);

/* The same for one attribute value ({"S":"x"}). */
Dyne__V1__AttributeValue *fz_value_json(dyn_arena *a, const char *json);
#endif /* DYN_TESTS_FUZZ_FUZZ_H */
