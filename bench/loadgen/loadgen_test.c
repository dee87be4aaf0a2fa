/* bench/loadgen -- unit tests of the parts that decide the numbers: histogram quantiles, mixes,
 * key distributions, item sizes, the requests and reply checkers of the targets and the HTTP/1.1
 * response parser. */
#include "bench/loadgen/loadgen.h"

#include "libs/item/item.h"
#include "libs/testing/dyn_test.h"
#include "proto/dyne/internal/storage.pb-c.h"
#include "proto/dyne/v1/dynamodb.pb-c.h"

static void
test_hist_quantiles_within_bucket_error(void)
{
    lg_hist h;

    lg_hist_init(&h);
    for (uint64_t v = 1; v <= 100000; v++)
        lg_hist_add(&h, v * 1000);   /* 1 us .. 100 ms, uniform */
    DT_EQ_INT(h.n, 100000);
    double qs[] = { 0.5, 0.95, 0.99, 0.999 };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        double want = qs[i] * 1e8, got = (double)lg_hist_quantile(&h, qs[i]);
        DT_TRUE(got > want * 0.984 && got < want * 1.016);
    }
    DT_EQ_INT(lg_hist_quantile(&h, 0), 1000);
    DT_EQ_INT(lg_hist_quantile(&h, 1), 100000000);

    lg_hist_init(&h);
    for (uint64_t v = 0; v < 128; v++)
        lg_hist_add(&h, v);   /* exact below 128 */
    DT_EQ_INT(lg_hist_quantile(&h, 0.5), 63);
    DT_EQ_INT(lg_hist_quantile(&h, 0.25), 31);
}

static void
test_hist_merge_and_huge_values(void)
{
    lg_hist a, b;

    lg_hist_init(&a);
    lg_hist_init(&b);
    lg_hist_add(&a, 10);
    lg_hist_add(&b, (uint64_t)1 << 60);   /* past the last bucket: clamped, not lost */
    lg_hist_merge(&a, &b);
    DT_EQ_INT(a.n, 2);
    DT_EQ_INT(a.min_ns, 10);
    DT_TRUE(lg_hist_quantile(&a, 1) == (uint64_t)1 << 60);
    DT_TRUE(lg_hist_quantile(&a, 0.99) <= (uint64_t)1 << 60);
}

static void
test_mix_parse(void)
{
    lg_mix m;

    DT_TRUE(lg_mix_parse("A", &m));
    DT_EQ_INT(m.pct[LG_OP_GET], 50);
    DT_EQ_INT(m.pct[LG_OP_PUT], 50);
    DT_TRUE(lg_mix_parse("get:90,put:5,query:5", &m));
    DT_EQ_INT(m.pct[LG_OP_QUERY], 5);
    DT_TRUE(!lg_mix_parse("get:90", &m));     /* must sum to 100 */
    DT_TRUE(!lg_mix_parse("scan:100", &m));   /* unknown op */
    DT_TRUE(lg_mix_parse("get", &m));

    lg_rng r;
    int n[LG_OP__COUNT] = { 0 };
    lg_rng_seed(&r, 7);
    DT_TRUE(lg_mix_parse("get:80,put:20", &m));
    for (int i = 0; i < 100000; i++)
        n[lg_mix_pick(&m, &r)]++;
    DT_TRUE(n[LG_OP_GET] > 79000 && n[LG_OP_GET] < 81000);
    DT_EQ_INT(n[LG_OP_QUERY] + n[LG_OP_INSERT] + n[LG_OP_RMW], 0);
}

static void
test_mix_parse_rmw_and_f(void)
{
    lg_mix m;
    lg_rng r;
    int n[LG_OP__COUNT] = { 0 };

    DT_EQ_STR(lg_op_name(LG_OP_RMW), "rmw");
    DT_TRUE(lg_mix_parse("F", &m));
    DT_EQ_INT(m.pct[LG_OP_GET], 50);
    DT_EQ_INT(m.pct[LG_OP_RMW], 50);
    DT_EQ_INT(m.pct[LG_OP_PUT] + m.pct[LG_OP_QUERY] + m.pct[LG_OP_INSERT], 0);
    lg_mix f = m;
    DT_TRUE(lg_mix_parse("get:50,rmw:50", &m));
    DT_TRUE(memcmp(&m, &f, sizeof m) == 0);
    DT_TRUE(lg_mix_parse("rmw", &m));
    DT_EQ_INT(m.pct[LG_OP_RMW], 100);
    DT_TRUE(!lg_mix_parse("rmw:60,get:50", &m));
    DT_TRUE(!lg_mix_parse("f", &m));   /* names are upper case, as YCSB's */

    lg_rng_seed(&r, 3);
    DT_TRUE(lg_mix_parse("F", &m));
    for (int i = 0; i < 100000; i++)
        n[lg_mix_pick(&m, &r)]++;
    DT_TRUE(n[LG_OP_RMW] > 49000 && n[LG_OP_RMW] < 51000);
    DT_EQ_INT(n[LG_OP_GET] + n[LG_OP_RMW], 100000);
}

static void
test_keys_hot(void)
{
    static uint32_t seen[1000];
    lg_keys k;
    lg_dist d;
    lg_rng r;

    DT_TRUE(lg_dist_parse("hot", &d));
    DT_EQ_INT(d, LG_DIST_HOT);
    DT_TRUE(lg_dist_parse("zipf", &d) && d == LG_DIST_ZIPF);
    DT_TRUE(lg_dist_parse("uniform", &d) && d == LG_DIST_UNIFORM);
    DT_TRUE(!lg_dist_parse("latest", &d));

    lg_rng_seed(&r, 5);
    lg_keys_init(&k, 1000, 10, LG_DIST_HOT);
    for (int i = 0; i < 1000; i++)
        DT_EQ_INT(lg_keys_pick(&k, &r), 0);   /* one hot key by default: index 0 */
    lg_keys_set_hot(&k, 4);
    for (int i = 0; i < 40000; i++) {
        uint64_t x = lg_keys_pick(&k, &r);
        DT_TRUE(x < 4);
        seen[x < 1000 ? x : 999]++;
    }
    for (int i = 0; i < 4; i++)
        DT_TRUE(seen[i] > 9000 && seen[i] < 11000);   /* uniform over the hot set */
    lg_keys_set_hot(&k, 5000);   /* clamped to the items */
    DT_EQ_INT(k.hot, 1000);
    lg_keys_set_hot(&k, 0);
    DT_EQ_INT(k.hot, 1);
}

static void
test_keys_in_range_and_zipf_skewed(void)
{
    static uint32_t seen_u[1000], seen_z[1000];
    lg_keys u, z;
    lg_rng r;
    uint32_t top_u = 0, top_z = 0;

    lg_keys_init(&u, 1000, 10, LG_DIST_UNIFORM);
    lg_keys_init(&z, 1000, 10, LG_DIST_ZIPF);
    lg_rng_seed(&r, 1);
    for (int i = 0; i < 100000; i++) {
        uint64_t a = lg_keys_pick(&u, &r), b = lg_keys_pick(&z, &r);
        DT_TRUE(a < 1000 && b < 1000);
        if (a < 1000 && b < 1000) {
            seen_u[a]++;
            seen_z[b]++;
        }
    }
    for (int i = 0; i < 1000; i++) {
        top_u = seen_u[i] > top_u ? seen_u[i] : top_u;
        top_z = seen_z[i] > top_z ? seen_z[i] : top_z;
    }
    /* uniform: ~100 picks a key; YCSB's zipf(0.99) over 1000 keys: the hottest ~13% */
    DT_TRUE(top_u < 200);
    DT_TRUE(top_z > 8000 && top_z < 20000);
}

static void
test_item_size_and_layout(void)
{
    lg_keys k;
    dyn_arena a;
    char pk[32];

    dyn_arena_init(&a, 1 << 20);
    lg_keys_init(&k, 100, 10, LG_DIST_UNIFORM);
    Dyne__V1__AttributeValueMap *m = lg_item(42, 7, &k, 1024, &a);
    DT_TRUE(m != NULL);
    DT_EQ_INT(dyn_item_size(m), 1024);
    DT_EQ_STR(m->values[0]->value->s, "k0000000004");
    DT_EQ_STR(m->values[1]->value->n, "2");
    DT_EQ_STR(m->values[2]->value->n, "7");
    lg_pk_text(42, &k, pk, sizeof pk);
    DT_EQ_STR(pk, "k0000000004");
    dyn_arena_fini(&a);
}

static void
test_pb_count(void)
{
    /* field 1 (len 2), field 2 varint, field 1 (len 0) */
    const uint8_t msg[] = { 0x0a, 0x02, 'h', 'i', 0x10, 0x96, 0x01, 0x0a, 0x00 };
    const uint8_t bad[] = { 0x0a, 0x05, 'h' };

    DT_EQ_INT(lg_pb_count(msg, sizeof msg, 1), 2);
    DT_EQ_INT(lg_pb_count(msg, sizeof msg, 2), 1);
    DT_EQ_INT(lg_pb_count(msg, sizeof msg, 3), 0);
    DT_EQ_INT(lg_pb_count(msg, 0, 1), 0);
    DT_EQ_INT(lg_pb_count(bad, sizeof bad, 1), -1);
}

/* ---- HTTP ---- */

#define HTTP_OK_BODY "{\"Item\":{\"pk\":{\"S\":\"k0000000004\"}}}"
static const char http_ok[] = "HTTP/1.1 200 OK\r\n"
                              "Content-Type: application/x-amz-json-1.0\r\n"
                              "x-amzn-RequestId: 1\r\n"
                              "content-length: 35\r\n"
                              "\r\n" HTTP_OK_BODY;
static const char http_chunked[] = "HTTP/1.1 200 OK\r\n"
                                   "Transfer-Encoding: chunked\r\n"
                                   "\r\n"
                                   "5\r\n{\"Cou\r\n"
                                   "7;ext=1\r\nnt\":10}\r\n"
                                   "0\r\n"
                                   "X-Trailer: t\r\n"
                                   "\r\n";
#define HTTP_ERR_BODY                                                                          \
    "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException\","             \
    "\"message\":\"Requested resource not found\"}"

/* Parses resp as a connection receives it: the first `split` bytes, then the rest appended to
 * the same buffer; the final answer, with the parse in *r and the (de-chunked) bytes in buf. */
static lg_http_rc
ht_two_reads(const char *resp, size_t len, size_t split, uint8_t *buf, lg_http_resp *r)
{
    lg_http_rc rc;

    lg_http_resp_init(r);
    memcpy(buf, resp, split);
    rc = lg_http_resp_parse(r, buf, split, false);
    if (split == len || rc != LG_HTTP_MORE)
        return rc;
    memcpy(buf + split, resp + split, len - split);
    return lg_http_resp_parse(r, buf, len, false);
}

static bool
ht_body_is(const lg_http_resp *r, const uint8_t *buf, const char *want)
{
    return r->body_len == strlen(want) && memcmp(buf + r->body_off, want, r->body_len) == 0;
}

static void
test_http_full_response(void)
{
    uint8_t buf[512];
    lg_http_resp r;
    size_t len = strlen(http_ok);

    DT_EQ_INT(ht_two_reads(http_ok, len, len, buf, &r), LG_HTTP_DONE);
    DT_EQ_INT(r.status, 200);
    DT_TRUE(ht_body_is(&r, buf, HTTP_OK_BODY));
    DT_EQ_INT(r.pos, len);
    DT_TRUE(!r.close);
    /* a second call on a finished parse answers the same */
    DT_EQ_INT(lg_http_resp_parse(&r, buf, len, false), LG_HTTP_DONE);
}

static void
test_http_split_at_every_byte(void)
{
    const char *resps[] = { http_ok, http_chunked };
    const char *bodies[] = { HTTP_OK_BODY, "{\"Count\":10}" };
    uint8_t buf[512];
    lg_http_resp r;

    for (size_t k = 0; k < 2; k++) {
        size_t len = strlen(resps[k]);
        for (size_t split = 0; split < len; split++) {
            lg_http_resp_init(&r);
            memcpy(buf, resps[k], split);
            DT_EQ_INT(lg_http_resp_parse(&r, buf, split, false), LG_HTTP_MORE);
            DT_EQ_INT(ht_two_reads(resps[k], len, split, buf, &r), LG_HTTP_DONE);
            DT_TRUE(ht_body_is(&r, buf, bodies[k]));
            DT_EQ_INT(r.pos, len);
        }
        /* one byte per read */
        lg_http_resp_init(&r);
        for (size_t i = 1; i <= len; i++) {
            buf[i - 1] = (uint8_t)resps[k][i - 1];
            DT_EQ_INT(lg_http_resp_parse(&r, buf, i, false), i < len ? LG_HTTP_MORE : LG_HTTP_DONE);
        }
        DT_TRUE(ht_body_is(&r, buf, bodies[k]));
    }
}

static void
test_http_chunked_and_framing(void)
{
    uint8_t buf[512];
    lg_http_resp r;
    /* a 100 Continue first, a bare-LF chunked body, two responses back to back */
    const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n"
                        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\n\n"
                        "2\n{}\n0\n\n"
                        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
    const char *second = strstr(cont + 30, "HTTP/1.1 200 OK\r\nContent-Length");

    DT_EQ_INT(ht_two_reads(cont, strlen(cont), 10, buf, &r), LG_HTTP_DONE);
    DT_EQ_INT(r.status, 200);
    DT_TRUE(r.chunked);
    DT_TRUE(ht_body_is(&r, buf, "{}"));
    DT_EQ_INT(r.pos, (size_t)(second - cont));

    /* no length: the body runs to the end of the connection */
    const char eof[] = "HTTP/1.1 200 OK\r\nContent-Type: x\r\n\r\n{\"Count\":3}";
    size_t n = strlen(eof);
    DT_EQ_INT(ht_two_reads(eof, n, 20, buf, &r), LG_HTTP_MORE);
    DT_EQ_INT(lg_http_resp_parse(&r, buf, n, true), LG_HTTP_DONE);
    DT_TRUE(ht_body_is(&r, buf, "{\"Count\":3}"));
    DT_TRUE(r.close);

    /* HTTP/1.0 closes unless it keeps alive; Connection: close; 204 has no body */
    const char h10[] = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
    DT_EQ_INT(ht_two_reads(h10, strlen(h10), 0, buf, &r), LG_HTTP_DONE);
    DT_TRUE(r.close);
    const char h10ka[] = "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n";
    DT_EQ_INT(ht_two_reads(h10ka, strlen(h10ka), 0, buf, &r), LG_HTTP_DONE);
    DT_TRUE(!r.close);
    const char cl[] = "HTTP/1.1 200 OK\r\nconnection: close\r\nContent-Length: 2\r\n\r\n{}";
    DT_EQ_INT(ht_two_reads(cl, strlen(cl), 0, buf, &r), LG_HTTP_DONE);
    DT_TRUE(r.close);
    const char nc[] = "HTTP/1.1 204 No Content\r\n\r\n";
    DT_EQ_INT(ht_two_reads(nc, strlen(nc), 0, buf, &r), LG_HTTP_DONE);
    DT_EQ_INT(r.body_len, 0);
}

static void
test_http_non_200(void)
{
    uint8_t buf[512];
    lg_http_resp r;
    const char resp[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 112\r\n\r\n" HTTP_ERR_BODY;
    const uint8_t *v;
    size_t vn;

    DT_EQ_INT(strlen(HTTP_ERR_BODY), 112);
    DT_EQ_INT(ht_two_reads(resp, strlen(resp), 7, buf, &r), LG_HTTP_DONE);
    DT_EQ_INT(r.status, 400);
    DT_TRUE(ht_body_is(&r, buf, HTTP_ERR_BODY));
    DT_EQ_INT(lg_json_find(buf + r.body_off, r.body_len, "__type", &v, &vn), 1);
    const char st[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
    DT_EQ_INT(ht_two_reads(st, strlen(st), 3, buf, &r), LG_HTTP_DONE);
    DT_EQ_INT(r.status, 503);
}

static void
test_http_garbage_is_an_error(void)
{
    static const char *const bad[] = {
        "garbage\r\n",
        "HTTP/2 200\r\n\r\n",
        "HTTP/1.1 2x0 OK\r\n\r\n",
        "HTTP/1.1 200OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}xx\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: y\r\n folded\r\n\r\n",
    };
    uint8_t buf[512];
    lg_http_resp r;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lg_http_rc rc = ht_two_reads(bad[i], strlen(bad[i]), strlen(bad[i]), buf, &r);
        if (rc != LG_HTTP_BAD)
            fprintf(stderr, "  not refused: %s\n", bad[i]);
        DT_EQ_INT(rc, LG_HTTP_BAD);
    }
    /* cut short: the connection ends inside the body, or before anything came */
    const char cut[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{\"a\"";
    DT_EQ_INT(ht_two_reads(cut, strlen(cut), 5, buf, &r), LG_HTTP_MORE);
    DT_EQ_INT(lg_http_resp_parse(&r, buf, strlen(cut), true), LG_HTTP_BAD);
    lg_http_resp_init(&r);
    DT_EQ_INT(lg_http_resp_parse(&r, buf, 0, true), LG_HTTP_BAD);
    /* a header section that never ends */
    static uint8_t big[80 << 10];
    size_t n = (size_t)snprintf((char *)big, sizeof big, "HTTP/1.1 200 OK\r\n");
    while (n + 16 < sizeof big)
        n += (size_t)snprintf((char *)big + n, sizeof big - n, "X-Pad: 0123456\r\n");
    lg_http_resp_init(&r);
    DT_EQ_INT(lg_http_resp_parse(&r, big, n, false), LG_HTTP_BAD);
}

static void
test_json_find(void)
{
    const char *obj = " { \"Count\" : 10 , \"Items\":[{\"a\":\"}\\\"\"},[1,2]], \"S\":\"x\"}\n";
    const uint8_t *v;
    size_t vn;

#define JF(s, key) lg_json_find((const uint8_t *)(s), strlen(s), (key), &v, &vn)
    DT_EQ_INT(JF(obj, "Count"), 1);
    DT_TRUE(vn == 2 && memcmp(v, "10", 2) == 0);
    DT_EQ_INT(JF(obj, "S"), 1);
    DT_TRUE(vn == 3 && memcmp(v, "\"x\"", 3) == 0);
    DT_EQ_INT(JF(obj, "Item"), 0);
    DT_EQ_INT(JF("{}", "Item"), 0);
    DT_EQ_INT(JF("[]", "Item"), -1);
    DT_EQ_INT(JF("{\"a\":1", "Item"), -1);
    DT_EQ_INT(JF("{\"a\" 1}", "Item"), -1);
    DT_EQ_INT(JF("{} x", "Item"), -1);
    DT_EQ_INT(JF("<html>", "Item"), -1);
#undef JF
}

static void
test_http_target_bodies_and_checks(void)
{
    lg_keys k;
    dyn_arena a;
    lg_buf b = { 0 };
    const uint8_t *v, *it;
    size_t vn, itn;

    dyn_arena_init(&a, 1 << 20);
    lg_keys_init(&k, 100, 10, LG_DIST_UNIFORM);
    lg_target_opts o = { .keys = &k, .item_size = 100, .table = "bench" };
    lg_target *t = lg_target_http_new(&o);

    DT_EQ_STR(t->method(t, LG_OP_INSERT), "DynamoDB_20120810.PutItem");
    DT_EQ_STR(t->method(t, LG_OP_QUERY), "DynamoDB_20120810.Query");
    DT_OK(t->request(t, LG_OP_PUT, 42, 7, &a, &b));
    DT_EQ_INT(lg_json_find(b.p, b.len, "Item", &it, &itn), 1);
    DT_EQ_INT(lg_json_find(it, itn, "pk", &v, &vn), 1);
    DT_TRUE(vn == 19 && memcmp(v, "{\"S\":\"k0000000004\"}", 19) == 0);
    DT_EQ_INT(lg_json_find(it, itn, "n", &v, &vn), 1);
    DT_TRUE(vn == 9 && memcmp(v, "{\"N\":\"7\"}", 9) == 0);
    DT_EQ_INT(lg_json_find(it, itn, "v", &v, &vn), 1);
    /* the same filler length as lg_item, so the same 100-byte item as the other targets */
    Dyne__V1__AttributeValueMap *m = lg_item(42, 7, &k, 100, &a);
    DT_EQ_INT(vn, strlen("{\"S\":\"\"}") + strlen(m->values[3]->value->s));
    DT_OK(t->request(t, LG_OP_GET, 42, 0, &a, &b));
    DT_EQ_INT(lg_json_find(b.p, b.len, "Key", &v, &vn), 1);
    DT_EQ_INT(lg_json_find(v, vn, "sk", &it, &itn), 1);
    DT_TRUE(itn == 9 && memcmp(it, "{\"N\":\"2\"}", 9) == 0);
    DT_OK(t->request(t, LG_OP_QUERY, 42, 0, &a, &b));
    DT_EQ_INT(lg_json_find(b.p, b.len, "KeyConditionExpression", &v, &vn), 1);

#define CK(op, s) t->check(t, (op), (const uint8_t *)(s), strlen(s), &a)
    DT_EQ_INT(CK(LG_OP_GET, "{\"Item\":{\"pk\":{\"S\":\"k\"}}}"), LG_CHECK_OK);
    DT_EQ_INT(CK(LG_OP_GET, "{}"), LG_CHECK_MISS);
    DT_EQ_INT(CK(LG_OP_GET, "{\"Item\""), LG_CHECK_BAD);
    DT_EQ_INT(CK(LG_OP_QUERY, "{\"Count\":10,\"Items\":[],\"ScannedCount\":10}"), LG_CHECK_OK);
    DT_EQ_INT(CK(LG_OP_QUERY, "{\"Items\":[],\"Count\":3}"), LG_CHECK_MISS);
    DT_EQ_INT(CK(LG_OP_QUERY, "{\"Items\":[]}"), LG_CHECK_BAD);
    DT_EQ_INT(CK(LG_OP_PUT, "{}"), LG_CHECK_OK);
    DT_EQ_INT(CK(LG_OP_PUT, "oops"), LG_CHECK_BAD);
#undef CK
    lg_buf_fini(&b);
    lg_target_free(t);
    dyn_arena_fini(&a);
}

/* The value of entry `name` in an attribute map; NULL if none. */
static const Dyne__V1__AttributeValue *
lt_attr(const Dyne__V1__AttributeValueMap *m, const char *name)
{
    for (size_t i = 0; m != NULL && i < m->n_values; i++)
        if (strcmp(m->values[i]->key, name) == 0)
            return m->values[i]->value;
    return NULL;
}

static void
test_router_rmw_is_a_conditional_update_item(void)
{
    lg_keys k;
    dyn_arena a;
    lg_buf b = { 0 };

    dyn_arena_init(&a, 1 << 20);
    lg_keys_init(&k, 100, 10, LG_DIST_UNIFORM);
    lg_target_opts o = { .keys = &k, .item_size = 100, .table = "bench" };
    lg_target *t = lg_target_router_new(&o);

    DT_EQ_STR(t->method(t, LG_OP_RMW), "/dyne.v1.DynamoDB/UpdateItem");
    DT_OK(t->request(t, LG_OP_RMW, 42, 7, &a, &b));
    Dyne__V1__UpdateItemInput *in = dyne__v1__update_item_input__unpack(NULL, b.len, b.p);
    DT_TRUE(in != NULL);
    if (in != NULL) {
        DT_EQ_STR(in->tablename, "bench");
        DT_EQ_STR(in->updateexpression, LG_RMW_UPDATE);
        DT_EQ_STR(in->conditionexpression, LG_RMW_CONDITION);
        DT_TRUE(in->key != NULL && in->key->n_values == 2);
        DT_TRUE(lt_attr(in->key, "pk") != NULL);
        DT_EQ_STR(lt_attr(in->key, "pk")->s, "k0000000004");
        DT_EQ_STR(lt_attr(in->key, "sk")->n, "2");
        DT_EQ_INT(in->n_expressionattributenames, 2);
        for (size_t i = 0; i < in->n_expressionattributenames; i++)
            DT_EQ_STR(in->expressionattributenames[i]->value,
                      in->expressionattributenames[i]->key + 1);   /* "#n": "n", "#v": "v" */
        const Dyne__V1__AttributeValueMap *v = in->expressionattributevalues;
        DT_TRUE(lt_attr(v, ":zero") != NULL && lt_attr(v, ":one") != NULL);
        DT_EQ_STR(lt_attr(v, ":zero")->n, "0");
        DT_EQ_STR(lt_attr(v, ":one")->n, "1");
        /* :v is the item's filler, so the item keeps its size */
        Dyne__V1__AttributeValueMap *m = lg_item(42, 7, &k, 100, &a);
        DT_TRUE(lt_attr(v, ":v") != NULL);
        DT_EQ_STR(lt_attr(v, ":v")->s, m->values[3]->value->s);
        dyne__v1__update_item_input__free_unpacked(in, NULL);
    }
    /* UpdateItemOutput: empty with ReturnValues NONE */
    DT_EQ_INT(t->check(t, LG_OP_RMW, (const uint8_t *)"", 0, &a), LG_CHECK_OK);
    DT_EQ_INT(t->check(t, LG_OP_RMW, (const uint8_t *)"\x0a\x05", 2, &a), LG_CHECK_BAD);
    lg_buf_fini(&b);
    lg_target_free(t);
    dyn_arena_fini(&a);
}

static void
test_storage_rmw_is_an_update(void)
{
    lg_keys k;
    dyn_arena a;
    lg_buf b = { 0 };

    dyn_arena_init(&a, 1 << 20);
    lg_keys_init(&k, 100, 10, LG_DIST_UNIFORM);
    lg_target_opts o = { .keys = &k, .item_size = 100, .partition = "bench.0", .table = "bench",
                         .batch = 1 };
    lg_target *t = lg_target_storage_new(&o);

    DT_EQ_STR(t->method(t, LG_OP_RMW), "/dyne.internal.Storage/Update");
    DT_OK(t->request(t, LG_OP_RMW, 42, 7, &a, &b));
    Dyne__Internal__UpdateRequest *in = dyne__internal__update_request__unpack(NULL, b.len, b.p);
    DT_TRUE(in != NULL);
    if (in != NULL) {
        DT_EQ_STR(in->partition_id, "bench.0");
        DT_TRUE(in->has_key && in->key.len > 0);
        DT_TRUE(in->key_item != NULL && in->key_item->n_values == 2);
        DT_EQ_STR(in->update_expression, LG_RMW_UPDATE);
        DT_EQ_STR(in->condition_expression, LG_RMW_CONDITION);
        DT_EQ_INT(in->n_expression_attribute_names, 2);
        DT_TRUE(lt_attr(in->expression_attribute_values, ":v") != NULL);
        dyne__internal__update_request__free_unpacked(in, NULL);
    }
    lg_buf_fini(&b);
    lg_target_free(t);
    dyn_arena_fini(&a);
}

static void
test_http_rmw_is_a_conditional_update_item(void)
{
    lg_keys k;
    dyn_arena a;
    lg_buf b = { 0 };
    const uint8_t *v, *w;
    size_t vn, wn;

    dyn_arena_init(&a, 1 << 20);
    lg_keys_init(&k, 100, 10, LG_DIST_UNIFORM);
    lg_target_opts o = { .keys = &k, .item_size = 100, .table = "bench" };
    lg_target *t = lg_target_http_new(&o);

    DT_EQ_STR(t->method(t, LG_OP_RMW), "DynamoDB_20120810.UpdateItem");
    DT_OK(t->request(t, LG_OP_RMW, 42, 7, &a, &b));
#define HAS(p, n, key, want)                                                                   \
    (lg_json_find((p), (n), (key), &v, &vn) == 1 && vn == strlen(want) &&                      \
     memcmp(v, (want), vn) == 0)
    DT_TRUE(HAS(b.p, b.len, "TableName", "\"bench\""));
    DT_TRUE(HAS(b.p, b.len, "UpdateExpression", "\"" LG_RMW_UPDATE "\""));
    DT_TRUE(HAS(b.p, b.len, "ConditionExpression", "\"" LG_RMW_CONDITION "\""));
    DT_EQ_INT(lg_json_find(b.p, b.len, "Key", &w, &wn), 1);
    DT_TRUE(HAS(w, wn, "pk", "{\"S\":\"k0000000004\"}"));
    DT_TRUE(HAS(w, wn, "sk", "{\"N\":\"2\"}"));
    DT_EQ_INT(lg_json_find(w, wn, "v", &v, &vn), 0);   /* the Key only */
    DT_EQ_INT(lg_json_find(b.p, b.len, "ExpressionAttributeNames", &w, &wn), 1);
    DT_TRUE(HAS(w, wn, "#n", "\"n\""));
    DT_TRUE(HAS(w, wn, "#v", "\"v\""));
    DT_EQ_INT(lg_json_find(b.p, b.len, "ExpressionAttributeValues", &w, &wn), 1);
    DT_TRUE(HAS(w, wn, ":zero", "{\"N\":\"0\"}"));
    DT_TRUE(HAS(w, wn, ":one", "{\"N\":\"1\"}"));
    Dyne__V1__AttributeValueMap *m = lg_item(42, 7, &k, 100, &a);
    DT_EQ_INT(lg_json_find(w, wn, ":v", &v, &vn), 1);
    DT_EQ_INT(vn, strlen("{\"S\":\"\"}") + strlen(m->values[3]->value->s));
#undef HAS
    DT_EQ_INT(t->check(t, LG_OP_RMW, (const uint8_t *)"{}", 2, &a), LG_CHECK_OK);
    lg_buf_fini(&b);
    lg_target_free(t);
    dyn_arena_fini(&a);
}

static void
test_echo_target(void)
{
    lg_keys k;
    dyn_arena a;
    lg_buf b = { 0 };

    dyn_arena_init(&a, 1 << 20);
    lg_keys_init(&k, 100, 10, LG_DIST_UNIFORM);
    lg_target_opts o = { .keys = &k, .item_size = 100 };
    lg_target *t = lg_target_echo_new(&o);

    for (int op = 0; op < LG_OP__COUNT; op++)   /* every op is the one echo call */
        DT_EQ_STR(t->method(t, (lg_op)op), LG_ECHO_METHOD);
    DT_OK(t->request(t, LG_OP_GET, 42, 0, &a, &b));
    DT_EQ_INT(b.len, 100);
    DT_TRUE(memcmp(b.p, lg_filler(42, 100), 100) == 0);
    DT_OK(t->request(t, LG_OP_RMW, 43, 1, &a, &b));
    DT_EQ_INT(b.len, 100);
    DT_EQ_INT(t->check(t, LG_OP_GET, b.p, 100, &a), LG_CHECK_OK);
    DT_EQ_INT(t->check(t, LG_OP_GET, b.p, 99, &a), LG_CHECK_BAD);
    lg_buf_fini(&b);
    lg_target_free(t);
    dyn_arena_fini(&a);
}

DT_MAIN({ "hist quantiles within bucket error", test_hist_quantiles_within_bucket_error },
        { "hist merge and huge values", test_hist_merge_and_huge_values },
        { "mix parse", test_mix_parse },
        { "mix parse rmw and F", test_mix_parse_rmw_and_f },
        { "keys in range, zipf skewed", test_keys_in_range_and_zipf_skewed },
        { "keys hot", test_keys_hot },
        { "item size and layout", test_item_size_and_layout },
        { "pb count", test_pb_count },
        { "http full response", test_http_full_response },
        { "http split at every byte", test_http_split_at_every_byte },
        { "http chunked and framing", test_http_chunked_and_framing },
        { "http non-200", test_http_non_200 },
        { "http garbage is an error", test_http_garbage_is_an_error },
        { "json find", test_json_find },
        { "http target bodies and checks", test_http_target_bodies_and_checks },
        { "router rmw is a conditional UpdateItem", test_router_rmw_is_a_conditional_update_item },
        { "storage rmw is an Update", test_storage_rmw_is_an_update },
        { "http rmw is a conditional UpdateItem", test_http_rmw_is_a_conditional_update_item },
        { "echo target", test_echo_target })
