/* libs/ddbjson -- ns per decode and encode of a typical PutItem (about 1 KB, 10 attributes),
 * next to cJSON parsing (DOM only, no protobuf) the same body: the reason the decoder is a
 * hand-written single pass. Usage: ddbjson_bench [iterations] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>

#include "libs/ddbjson/ddbjson.h"
#include "proto/dyne/v1/dynamodb.pb-c.h"

static const char body[] =
    "{\"TableName\":\"Music\",\"Item\":{"
    "\"Artist\":{\"S\":\"No One You Know\"},"
    "\"SongTitle\":{\"S\":\"Call Me Today - the extended remix, recorded live in 2015\"},"
    "\"AlbumTitle\":{\"S\":\"Somewhat Famous, deluxe edition with bonus tracks\"},"
    "\"Year\":{\"N\":\"2015\"},"
    "\"Price\":{\"N\":\"2.14\"},"
    "\"Genres\":{\"SS\":[\"pop\",\"indie\",\"dance\",\"electronic\"]},"
    "\"Awards\":{\"L\":[{\"S\":\"Best New Artist\"},{\"N\":\"3\"},{\"BOOL\":true}]},"
    "\"Cover\":{\"B\":\"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6k"
    "gAAAABJRU5ErkJggg==\"},"
    "\"Details\":{\"M\":{\"Label\":{\"S\":\"Independent Records of the North\"},\"Length\":{\"N\":"
    "\"213\"},\"Explicit\":{\"BOOL\":false},\"Producer\":{\"S\":\"A. Nonymous and friends\"},"
    "\"Notes\":{\"S\":\"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod "
    "tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
    "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.\"}}},"
    "\"Deleted\":{\"NULL\":true}},"
    "\"ConditionExpression\":\"attribute_not_exists(Artist) AND #y > :min\","
    "\"ExpressionAttributeNames\":{\"#y\":\"Year\"},"
    "\"ExpressionAttributeValues\":{\":min\":{\"N\":\"2000\"}},"
    "\"ReturnValues\":\"NONE\",\"ReturnConsumedCapacity\":\"TOTAL\"}";

static double
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int
main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 200000;
    size_t len = strlen(body), olen = 0;
    dyn_arena a;
    ProtobufCMessage *m = NULL;
    const char *msg;
    char *out;
    double t0, t_dec, t_enc, t_cjson;

    dyn_arena_init(&a, 64 << 20);
    if (dyn_ddbjson_decode(&dyne__v1__put_item_input__descriptor, body, len, &a, &m, &msg) != DYN_OK) {
        fprintf(stderr, "decode failed: %s\n", msg);
        return 1;
    }
    t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        dyn_arena_reset(&a);
        dyn_ddbjson_decode(&dyne__v1__put_item_input__descriptor, body, len, &a, &m, &msg);
    }
    t_dec = (now_ns() - t0) / (double)iters;

    dyn_arena_reset(&a);
    dyn_ddbjson_decode(&dyne__v1__put_item_input__descriptor, body, len, &a, &m, &msg);
    dyn_arena b;
    dyn_arena_init(&b, 64 << 20);
    t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        dyn_arena_reset(&b);
        dyn_ddbjson_encode(m, &b, &out, &olen);
    }
    t_enc = (now_ns() - t0) / (double)iters;

    t0 = now_ns();
    for (long i = 0; i < iters; i++)
        cJSON_Delete(cJSON_ParseWithLength(body, len));
    t_cjson = (now_ns() - t0) / (double)iters;

    printf("PutItem body %zu bytes, encoded %zu bytes, %ld iterations\n", len, olen, iters);
    printf("decode  %7.0f ns  (%.0f MB/s)\n", t_dec, len / t_dec * 1e3);
    printf("encode  %7.0f ns  (%.0f MB/s)\n", t_enc, olen / t_enc * 1e3);
    printf("cJSON_Parse+Delete alone (no protobuf) %7.0f ns\n", t_cjson);
    dyn_arena_fini(&a);
    dyn_arena_fini(&b);
    return 0;
}
