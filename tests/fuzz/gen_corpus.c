/* tests/fuzz -- writes the generated part of the seed corpora into <dir>/{num,item,expr,keycodec}/
 * (existing directories; files named gen-*): numbers, items encoded by dyn_item_encode and packed
 * by protobuf-c, expressions of every kind with their kind byte, storage keys and key values.
 * Usage: bazel run //tests/fuzz:gen_corpus -- $PWD/tests/fuzz/corpus */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libs/arena/arena.h"
#include "libs/item/item.h"
#include "libs/keycodec/keycodec.h"
#include "tests/fuzz/fuzz.h"

static const char *root;
static dyn_arena arena;

static void
put(const char *target, const char *name, const void *p, size_t n)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s/gen-%s", root, target, name);
    if ((f = fopen(path, "wb")) == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "gen_corpus: cannot write %s\n", path);
        exit(1);
    }
}

static const char *const numbers[] = {
    "0", "1", "-1", "+3", ".5", "5.", "0001.23", "1e+5", "-17.4E37", "1E3", "1E-5", "-0",
    "0.000", "0e99999", "123456789012345678901234567890.12345678",
    "99999999999999999999999999999999999999", "9.9999999999999999999999999999999999999E+125",
    "1E-130", "-1E-130", "1E+126", "1E-131", "123456789012345678901234567890123456789",
    "1e99999999999", "3.14159", "-2.5e-3", "100", "1,1", "1E50,1", "10,-10", "0.1,0.2",
    "9.9999999999999999999999999999999999999E+125,9.9999999999999999999999999999999999999E+125",
    "1.0000000000000000000000000000000000001E-130,1E-130", "-5,3", "1e-130,-1e-130",
    "12345678901234567890123456789012345678,1", "NaN", "Infinity", "0x10", "1.2.3", "1e",
    " 1", "",
};

static const char *const items[] = {
    "{}",
    "{\"pk\":{\"S\":\"user#1\"}}",
    "{\"pk\":{\"S\":\"user#1\"},\"sk\":{\"N\":\"42\"},\"status\":{\"S\":\"active\"},"
    "\"price\":{\"N\":\"19.99\"}}",
    "{\"n\":{\"N\":\"0\"},\"m\":{\"N\":\"-1E-130\"},\"x\":{\"N\":\"1E+125\"},"
    "\"y\":{\"N\":\"12345678901234567890123456789012345678\"}}",
    "{\"b\":{\"B\":\"\"},\"c\":{\"B\":\"bytes\"},\"s\":{\"S\":\"\"}}",
    "{\"t\":{\"BOOL\":true},\"f\":{\"BOOL\":false},\"z\":{\"NULL\":true}}",
    "{\"ss\":{\"SS\":[\"b\",\"a\",\"c\"]},\"ns\":{\"NS\":[\"10\",\"-1\",\"2.5\"]},"
    "\"bs\":{\"BS\":[\"y\",\"x\"]}}",
    "{\"l\":{\"L\":[]},\"m\":{\"M\":{}}}",
    "{\"l\":{\"L\":[{\"N\":\"1\"},{\"S\":\"x\"},{\"L\":[{\"NULL\":true}]},"
    "{\"M\":{\"k\":{\"SS\":[\"v\"]}}}]}}",
    "{\"m\":{\"M\":{\"a\":{\"M\":{\"b\":{\"M\":{\"c\":{\"N\":\"9\"}}}}},\"z\":{\"BOOL\":false}}}}",
    "{\"\xc3\xa9t\xc3\xa9\":{\"S\":\"\xe2\x82\xac\"},\"a.b\":{\"S\":\"dotted\"}}",
};

/* Items that do not validate: protobuf seeds only. */
static const char *const bad_items[] = {
    "{\"ss\":{\"SS\":[]}}",
    "{\"ns\":{\"NS\":[\"1\",\"1.0\"]}}",
    "{\"n\":{\"N\":\"abc\"}}",
    "{\"z\":{\"NULL\":false}}",
    "{\"\":{\"S\":\"x\"}}",
    "{\"a\":{\"S\":\"x\"},\"a\":{\"S\":\"y\"}}",
};

static void
gen_num(void)
{
    char name[32];

    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        snprintf(name, sizeof name, "%02zu", i);
        put("num", name, numbers[i], strlen(numbers[i]));
    }
}

static void
put_packed(const char *prefix, size_t i, const Dyne__V1__AttributeValueMap *m)
{
    size_t n = dyne__v1__attribute_value_map__get_packed_size(m);
    uint8_t *pb = dyn_arena_alloc(&arena, n + 1);
    char name[32];

    dyne__v1__attribute_value_map__pack(m, pb);
    snprintf(name, sizeof name, "%s-%02zu", prefix, i);
    put("item", name, pb, n);
}

static void
gen_item(void)
{
    char name[32];

    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        Dyne__V1__AttributeValueMap *m = fz_item_json(&arena, items[i]);
        unsigned char *enc;
        size_t len;

        if (dyn_item_encode(m, &arena, &enc, &len) != DYN_OK) {
            fprintf(stderr, "gen_corpus: cannot encode %s\n", items[i]);
            exit(1);
        }
        snprintf(name, sizeof name, "enc-%02zu", i);
        put("item", name, enc, len);
        put_packed("pb", i, m);
    }
    for (size_t i = 0; i < sizeof bad_items / sizeof bad_items[0]; i++)
        put_packed("pb-bad", i, fz_item_json(&arena, bad_items[i]));
}

/* kind byte: 0 condition, 1 filter, 2 key condition, 3 update, 4 projection */
static const struct {
    unsigned char kind;
    const char *text;
} exprs[] = {
    { 0, "attribute_exists(pk) AND #s = :active AND price BETWEEN :lo AND :hi" },
    { 0, "attribute_not_exists(pk)" },
    { 0, "a = :v" },
    { 0, "a <> :v OR NOT (b < :n)" },
    { 0, "b <= :n AND c >= :neg AND price > :z" },
    { 0, "a IN (:v, :w, :e)" },
    { 0, "begins_with(#n, :v) OR contains(ss, :v) OR contains(l, :n)" },
    { 0, "size(ss) = :n OR size(#l) > :z OR size(bin) < :hi" },
    { 0, "attribute_type(nul, :type) AND attribute_type(#a, :S)" },
    { 0, "#m.a.b.c = :n AND l[2].b = :n AND l[3][0] = :one" },
    { 0, "(a = :v) AND ((b = :n) OR c = :neg)" },
    { 0, "#dot = :v AND #sp BETWEEN :z AND :big" },
    { 0, "contains(bs, :b) AND bin = :b AND tmp = :t AND nul = :nul" },
    { 0, "m = :m OR l = :l OR ss = :ss OR ns = :ns OR bs = :bs" },
    { 0, "NOT attribute_exists(d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d)" },
    { 0, "((a)) = :v" },
    { 0, "a = a" },
    { 0, "a BETWEEN :hi AND :lo" },
    { 0, "status = :v" },
    { 1, "price BETWEEN :lo AND :hi AND NOT contains(#n, :w)" },
    { 1, "size(#m) >= :one" },
    { 2, "pk = :v" },
    { 2, "#pk = :v AND #sk BETWEEN :lo AND :hi" },
    { 2, "pk = :v AND begins_with(sk, :w)" },
    { 2, "pk = :v AND sk <= :n" },
    { 2, "pk = :v OR sk = :n" },
    { 3, "SET #c = #c + :one, updated = :now REMOVE tmp" },
    { 3, "SET a = :v, b = a" },
    { 3, "SET a = b - :n" },
    { 3, "SET l = list_append(l, :l), x = list_append(:l, if_not_exists(y, :l))" },
    { 3, "SET c = if_not_exists(c, :z) + :one" },
    { 3, "REMOVE a, #m.a.b, l[1], l[7]" },
    { 3, "ADD count :n, ss :ss, newset :ns" },
    { 3, "DELETE ss :ss, ns :ns, bs :bs" },
    { 3, "SET #m.s = :v, #m.l[5] = :n, l[0] = :m REMOVE b ADD c :n DELETE ss :ss" },
    { 3, "SET pk = :v" },
    { 3, "SET d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.x = :m" },
    { 3, "SET price = price + :big, count = count - :tiny" },
    { 3, "SET a.b = :v, a = :v" },
    { 4, "a, b.c, l[0], l[2].b, #m.a.b" },
    { 4, "#n, #s, #dot, #sp, ss, ns, bs, nul" },
    { 4, "d.d.d.d.d, l[0][0][0][0]" },
    { 4, "pk" },
};

static void
gen_expr(void)
{
    char name[32], buf[512];

    for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
        size_t n = strlen(exprs[i].text);
        buf[0] = (char)exprs[i].kind;
        memcpy(buf + 1, exprs[i].text, n);
        snprintf(name, sizeof name, "%02zu", i);
        put("expr", name, buf, n + 1);
    }
}

/* selector byte for keycodec_fuzz: bits 0..1 pk type, 2..3 (/3) sk type, 5..6 encode type,
 * bit 7 has_sk */
static void
gen_keycodec(void)
{
    static const char *const kv[][2] = {
        { "{\"S\":\"user#1\"}", "{\"N\":\"42\"}" },
        { "{\"S\":\"a\"}", "{\"S\":\"\"}" },
        { "{\"N\":\"-17.5\"}", "{\"B\":\"\"}" },
        { "{\"N\":\"0\"}", "{\"N\":\"1E-130\"}" },
        { "{\"B\":\"x\"}", "{\"N\":\"-9.9999999999999999999999999999999999999E+125\"}" },
        { "{\"S\":\"\xe2\x82\xac\"}", "{\"S\":\"zz\"}" },
        { "{\"N\":\"12345678901234567890123456789012345678\"}", "{\"S\":\"q\"}" },
    };
    char name[32];
    unsigned char buf[256];

    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        Dyne__V1__AttributeValue *pk = fz_value_json(&arena, kv[i][0]);
        Dyne__V1__AttributeValue *sk = fz_value_json(&arena, kv[i][1]);
        int pt = pk->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_S   ? 0
                 : pk->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_N ? 1
                                                                         : 2;
        int st = sk->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_S   ? 0
                 : sk->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_N ? 1
                                                                         : 2;
        unsigned char *key;
        size_t len;

        for (int with_sk = 0; with_sk < 2; with_sk++) {
            if (dyn_keycodec_item_key(&arena, pk, with_sk ? sk : NULL, &key, &len) != DYN_OK ||
                len + 1 > sizeof buf) {
                fprintf(stderr, "gen_corpus: cannot encode key %zu\n", i);
                exit(1);
            }
            buf[0] = (unsigned char)(pt + 3 * st + (with_sk ? 0x80 : 0));
            memcpy(buf + 1, key, len);
            snprintf(name, sizeof name, "key-%02zu-%d", i, with_sk);
            put("keycodec", name, buf, len + 1);
            /* the values alone, without the hash (decode_value path) */
            buf[0] = (unsigned char)(pt + 3 * st);
            memcpy(buf + 1, key + DYN_KEYCODEC_HASH_LEN, len - DYN_KEYCODEC_HASH_LEN);
            snprintf(name, sizeof name, "val-%02zu-%d", i, with_sk);
            put("keycodec", name, buf, len + 1 - DYN_KEYCODEC_HASH_LEN);
        }
    }
    /* raw pairs for the encode path: selector (type in bits 5..6) then two equal halves */
    {
        static const struct {
            int type;   /* 0 S, 1 N, 2 B */
            const char *a, *b;
            size_t half;   /* bytes of each; 0: strlen(a) */
        } pairs[] = {
            { 0, "abc", "abd", 0 }, { 0, "ab\xff", "abc", 0 }, { 0, "", "", 0 },
            { 0, "x", "\xe2", 0 }, { 2, "ab", "a\x00", 2 }, { 2, "\x00\x00", "\x00\xff", 2 },
            { 2, "abc", "abc", 0 }, { 1, "1.5", "-20", 0 }, { 1, "010", "1E1", 0 },
            { 1, "-1E-130", "0.50000", 0 }, { 1, "99", "1e2", 0 }, { 1, "-0", "+0", 0 },
        };
        for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
            size_t half = pairs[i].half ? pairs[i].half : strlen(pairs[i].a);
            buf[0] = (unsigned char)(pairs[i].type << 5);
            memcpy(buf + 1, pairs[i].a, half);
            memcpy(buf + 1 + half, pairs[i].b, half);
            snprintf(name, sizeof name, "enc-%02zu", i);
            put("keycodec", name, buf, 1 + 2 * half);
        }
    }
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_corpus <corpus dir>\n");
        return 2;
    }
    root = argv[1];
    dyn_arena_init(&arena, 64u << 20);
    gen_num();
    gen_item();
    gen_expr();
    gen_keycodec();
    dyn_arena_fini(&arena);
    return 0;
}
