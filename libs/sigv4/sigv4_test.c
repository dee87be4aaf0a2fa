/* libs/sigv4 -- tests: the AWS SigV4 test-suite vectors (aws-c-auth's aws-signing-test-suite/v4
 * and the older aws4_testsuite), a DynamoDB GetItem signed by botocore, every rejection path with
 * DynamoDB's message, the credential loaders, the key cache under threads, and a speed check. */
#include "libs/sigv4/sigv4.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libs/testing/dyn_test.h"

#define SUITE_NOW 1440938160   /* 20150830T123600Z, the suite's clock */
#define SUITE_AKID "AKIDEXAMPLE"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_TOKEN "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"
#define AUTH_PREFIX                                                                            \
    "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"       \
    "aws4_request, "

/* A request parsed from the suite's text form: "METHOD target\nName:value\n...". Values keep
 * their raw leading blanks, as a server would hand them over. */
typedef struct vt_req {
    char buf[4096];
    dyn_sigv4_header h[24];
    dyn_sigv4_request r;
} vt_req;

static void
vt_build(vt_req *v, const char *text, const char *body)
{
    memset(v, 0, sizeof *v);
    snprintf(v->buf, sizeof v->buf, "%s", text);
    char *line = v->buf, *nl = strchr(line, '\n');
    if (nl)
        *nl = '\0';
    char *sp = strchr(line, ' ');
    *sp = '\0';
    v->r.method = line;
    v->r.path = sp + 1;
    char *qm = strchr(sp + 1, '?');
    v->r.query = "";
    if (qm) {
        *qm = '\0';
        v->r.query = qm + 1;
    }
    size_t n = 0;
    for (line = nl ? nl + 1 : NULL; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *colon = strchr(line, ':');
        v->h[n].name = line;
        v->h[n].name_len = (size_t)(colon - line);
        v->h[n].value = colon + 1;
        v->h[n].value_len = strlen(colon + 1);
        n++;
    }
    v->r.headers = v->h;
    v->r.nheaders = n;
    v->r.body = body ? body : "";
    v->r.body_len = body ? strlen(body) : 0;
    v->r.now = SUITE_NOW;
    v->r.service = "service";
}

static dyn_sigv4_creds *
suite_creds(const char *token)
{
    dyn_sigv4_creds *c = dyn_sigv4_creds_new();
    DT_OK(dyn_sigv4_creds_add(c, SUITE_AKID, SUITE_SECRET, token));
    DT_OK(dyn_sigv4_creds_add(c, "AKIDOTHER", "other-secret", NULL));
    return c;
}

/* Verifies text/body against c; returns the code, with *msg the message (static storage). */
static dyn_err
vt_verify_at(dyn_sigv4_creds *c, const char *text, const char *body, int64_t now, const char **msg)
{
    static char msgbuf[2048];
    vt_req v;
    dyn_arena a;
    const char *akid = NULL, *m = NULL;

    vt_build(&v, text, body);
    v.r.now = now;
    dyn_arena_init(&a, 1 << 20);
    dyn_err rc = dyn_sigv4_verify(c, &v.r, &a, &akid, &m);
    snprintf(msgbuf, sizeof msgbuf, "%s", m ? m : "");
    if (rc == DYN_OK && (akid == NULL || strcmp(akid, SUITE_AKID) != 0))
        DT_FAIL_("verified but access key is %s", akid ? akid : "(null)");
    if (rc != DYN_OK && m == NULL)
        DT_FAIL_("error %d without a message", rc);
    dyn_arena_fini(&a);
    if (msg)
        *msg = msgbuf;
    return rc;
}

static dyn_err
vt_verify(dyn_sigv4_creds *c, const char *text, const char *body, const char **msg)
{
    return vt_verify_at(c, text, body, SUITE_NOW, msg);
}

/* ---- the AWS test suite, header-signed ---- */

typedef struct vector {
    const char *name, *text, *body;
} vector;

#define VH(sh, sig) AUTH_PREFIX "SignedHeaders=" sh ", Signature=" sig "\n"
#define VANILLA "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
#define HOST "Host:example.amazonaws.com\n"
#define DATE "X-Amz-Date:20150830T123600Z\n"

static const vector suite[] = {
    { "get-vanilla", "GET /\n" HOST VH("host;x-amz-date", VANILLA) DATE, NULL },
    { "post-vanilla",
      "POST /\n" HOST VH("host;x-amz-date",
                         "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b") DATE,
      NULL },
    { "get-vanilla-query-order-key-case",
      "GET /?Param2=value2&Param1=value1\n" HOST VH(
          "host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500") DATE,
      NULL },
    { "get-vanilla-empty-query-key",
      "GET /?Param1=value1\n" HOST VH(
          "host;x-amz-date", "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb") DATE,
      NULL },
    { "post-vanilla-query",
      "POST /?Param1=value1\n" HOST VH(
          "host;x-amz-date", "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11") DATE,
      NULL },
    { "get-vanilla-query-unreserved",
      "GET /?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789"
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n" HOST
          VH("host;x-amz-date", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197")
              DATE,
      NULL },
    { "get-vanilla-utf8-query",
      "GET /?\xe1\x88\xb4=bar\n" HOST VH(
          "host;x-amz-date", "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04") DATE,
      NULL },
    { "get-vanilla-query-order-encoded",
      "GET /?Param-3=Value3&Param=Value2&%E1%88%B4=Value1\n" HOST VH(
          "host;x-amz-date", "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac") DATE,
      NULL },
    { "get-unreserved",
      "GET /-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n" HOST VH(
          "host;x-amz-date", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f") DATE,
      NULL },
    { "get-utf8",
      "GET /\xe1\x88\xb4\n" HOST VH(
          "host;x-amz-date", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85") DATE,
      NULL },
    { "get-space",
      "GET /example space/\n" HOST VH(
          "host;x-amz-date", "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741") DATE,
      NULL },
    { "get-slashes (normalize-path)",
      "GET //example//\n" HOST VH(
          "host;x-amz-date", "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84") DATE,
      NULL },
    { "get-slash (normalize-path)", "GET //\n" HOST VH("host;x-amz-date", VANILLA) DATE, NULL },
    { "get-slash-dot-slash (normalize-path)", "GET /./\n" HOST VH("host;x-amz-date", VANILLA) DATE,
      NULL },
    { "get-slash-pointless-dot (normalize-path)",
      "GET /./example\n" HOST VH(
          "host;x-amz-date", "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5") DATE,
      NULL },
    { "get-relative (normalize-path)", "GET /example/..\n" HOST VH("host;x-amz-date", VANILLA) DATE,
      NULL },
    { "get-relative-relative (normalize-path)",
      "GET /example1/example2/../..\n" HOST VH("host;x-amz-date", VANILLA) DATE, NULL },
    { "get-header-value-trim",
      "GET /\n" HOST "My-Header1: value1\nMy-Header2: \"a   b   c\"\n" VH(
          "host;my-header1;my-header2;x-amz-date",
          "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736") DATE,
      NULL },
    { "get-header-key-duplicate",
      "GET /\n" HOST "My-Header1:value2\nMy-Header1:value2\nMy-Header1:value1\n" VH(
          "host;my-header1;x-amz-date",
          "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea") DATE,
      NULL },
    { "get-header-value-order",
      "GET /\n" HOST "My-Header1:value4\nMy-Header1:value1\nMy-Header1:value3\nMy-Header1:value2\n" VH(
          "host;my-header1;x-amz-date",
          "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01") DATE,
      NULL },
    { "post-header-key-sort",
      "POST /\n" HOST "My-Header1:value1\n" VH(
          "host;my-header1;x-amz-date",
          "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c") DATE,
      NULL },
    { "post-header-value-case",
      "POST /\n" HOST "My-Header1:VALUE1\n" VH(
          "host;my-header1;x-amz-date",
          "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d") DATE,
      NULL },
    { "post-x-www-form-urlencoded",
      "POST /\nContent-Type:application/x-www-form-urlencoded\n" HOST VH(
          "content-type;host;x-amz-date",
          "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a") DATE,
      "Param1=value1" },
    { "post-x-www-form-urlencoded-parameters",
      "POST /\nContent-Type:application/x-www-form-urlencoded; charset=utf8\n" HOST VH(
          "content-type;host;x-amz-date",
          "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe") DATE,
      "Param1=value1" },
    /* Lower-case names and the Date-only form (signature computed by hand with Python hmac). */
    { "lowercase header names",
      "GET /\nhost:example.amazonaws.com\nauthorization:AWS4-HMAC-SHA256 "
      "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
      "SignedHeaders=host;x-amz-date, Signature=" VANILLA "\nx-amz-date:20150830T123600Z\n",
      NULL },
    { "Date header instead of X-Amz-Date",
      "POST /\nDate: Sun, 30 Aug 2015 12:36:00 GMT\n" HOST VH(
          "date;host", "e401e1aece3cf7fc22c6867f8f46ae529db2569f6b72f22d44ed47a0f4d31533"),
      "{}" },
    /* Presigned (query) form: aws-c-auth query-signed-request.txt, X-Amz-Expires=3600. */
    { "presigned get-vanilla-query-order-key-case",
      "GET /?Param2=value2&Param1=value1&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
      "AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&"
      "X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature="
      "86012e2c9ad4d77369f5d81c11f75158aae4f895a085212cc6d3f923d300bed5\n" HOST DATE,
      NULL },
    { "presigned get-header-value-trim",
      "GET /?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2F"
      "service%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host%3Bmy-header1%3B"
      "my-header2&X-Amz-Expires=3600&X-Amz-Signature="
      "e7bb0fd515e125e1aec2ecc4c0c17484fb06f6846b927c35e46005dd3df3acd4\n" HOST
      "My-Header1: value1\nMy-Header2: \"a   b   c\"\n" DATE,
      NULL },
};
#define NSUITE (sizeof suite / sizeof suite[0])

static void
test_suite_vectors(void)
{
    dyn_sigv4_creds *c = suite_creds(NULL);
    for (size_t i = 0; i < NSUITE; i++) {
        const char *msg;
        dyn_err rc = vt_verify(c, suite[i].text, suite[i].body, &msg);
        if (rc != DYN_OK)
            DT_FAIL_("%s: rc=%d msg=%s", suite[i].name, rc, msg);
    }
    uint64_t hits, misses;
    dyn_sigv4_creds_cache_stats(c, &hits, &misses);
    DT_EQ_INT(misses, 1);   /* one scope for the whole suite */
    DT_EQ_INT(hits, NSUITE - 1);
    dyn_sigv4_creds_free(c);
}

static void
test_suite_session_token(void)
{
    const char *text = "GET /\n" HOST VH("host;x-amz-date;x-amz-security-token",
                                            "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66d"
                                            "d9f74e7f8") DATE "X-Amz-Security-Token:" SUITE_TOKEN
                                                              "\n";
    const char *msg;
    dyn_sigv4_creds *with = suite_creds(SUITE_TOKEN), *without = suite_creds(NULL),
                    *other = suite_creds("some-other-token");
    DT_OK(vt_verify(with, text, NULL, NULL));
    DT_OK(vt_verify(without, text, NULL, NULL));   /* a key without a token ignores it */
    DT_ERR(vt_verify(other, text, NULL, &msg), DYN_EUNRECOGNIZED);
    DT_EQ_STR(msg, "The security token included in the request is invalid.");
    /* A key that has a token rejects a request that carries none. */
    DT_ERR(vt_verify(with, suite[0].text, NULL, &msg), DYN_EUNRECOGNIZED);
    DT_EQ_STR(msg, "The security token included in the request is invalid.");
    dyn_sigv4_creds_free(with);
    dyn_sigv4_creds_free(without);
    dyn_sigv4_creds_free(other);
}

static void
test_canonical_request(void)
{
    dyn_arena a;
    vt_req v;
    dyn_arena_init(&a, 1 << 20);

    vt_build(&v, suite[22].text, suite[22].body);   /* post-x-www-form-urlencoded */
    DT_EQ_STR(dyn_sigv4_canonical_request(&v.r, "content-type;host;x-amz-date", NULL, false, &a),
              "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws."
              "com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n"
              "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
    vt_build(&v, suite[17].text, NULL);   /* get-header-value-trim */
    DT_EQ_STR(dyn_sigv4_canonical_request(&v.r, "host;my-header1;my-header2;x-amz-date", NULL,
                                          false, &a),
              "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\n"
              "x-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n"
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* aws-c-auth get-slashes-normalized query-canonical-request.txt */
    vt_build(&v,
             "GET //example//?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830"
             "%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&"
             "X-Amz-SignedHeaders=host&X-Amz-Signature=abc\n" HOST,
             NULL);
    DT_EQ_STR(dyn_sigv4_canonical_request(&v.r, "host", NULL, true, &a),
              "GET\n/example/\nX-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F"
              "20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&"
              "X-Amz-SignedHeaders=host\nhost:example.amazonaws.com\n\nhost\n"
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* Wire paths are encoded once already, so non-S3 signing encodes them again. */
    vt_build(&v, "GET /a%20b/c/./../d/\n" HOST, NULL);
    DT_EQ_STR(dyn_sigv4_canonical_request(&v.r, "host", "x", false, &a),
              "GET\n/a%2520b/d/\n\nhost:example.amazonaws.com\n\nhost\nx");
    vt_build(&v, "GET /?b=2&a=&a=1&c\n" HOST, NULL);
    DT_EQ_STR(dyn_sigv4_canonical_request(&v.r, "host", "x", false, &a),
              "GET\n/\na=&a=1&b=2&c=\nhost:example.amazonaws.com\n\nhost\nx");
    dyn_arena_fini(&a);
}

static void
test_sign_round_trip(void)
{
    dyn_arena a;
    vt_req v;
    const char *authz;
    dyn_arena_init(&a, 1 << 20);

    vt_build(&v, "POST /\nContent-Type:application/x-www-form-urlencoded\n" HOST DATE,
             "Param1=value1");
    DT_OK(dyn_sigv4_sign(&v.r, SUITE_AKID, SUITE_SECRET, "us-east-1", "service",
                         "20150830T123600Z", NULL, &a, &authz));
    DT_EQ_STR(authz, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
                     "aws4_request, SignedHeaders=content-type;host;x-amz-date, "
                     "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
    vt_build(&v, "GET /?Param2=value2&Param1=value1\n" HOST DATE, NULL);
    DT_OK(dyn_sigv4_sign(&v.r, SUITE_AKID, SUITE_SECRET, "us-east-1", "service",
                         "20150830T123600Z", "host;x-amz-date", &a, &authz));
    DT_TRUE(strstr(authz, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500") !=
            NULL);
    DT_ERR(dyn_sigv4_sign(&v.r, SUITE_AKID, SUITE_SECRET, "us-east-1", "service", "2015-08-30",
                          NULL, &a, &authz),
           DYN_EVALIDATION);
    dyn_arena_fini(&a);
}

/* ---- a DynamoDB GetItem signed by botocore 1.43 (SigV4Auth, clock pinned to 2024-01-15
 * 10:20:30Z, endpoint http://localhost:8000, region us-west-2) ---- */

#define BOTO_NOW 1705314030
#define BOTO_AKID "AKIADYNETESTKEY00001"
#define BOTO_SECRET "dyne/Secret+Key0123456789abcdefghijklmnopq"
#define BOTO_TOKEN "FwoGZXIvYXdzEJr//////////wEaDDyneSessionTokenExample=="
#define BOTO_BODY                                                                              \
    "{\"TableName\":\"Music\",\"Key\":{\"Artist\":{\"S\":\"No One You Know\"},\"SongTitle\":{" \
    "\"S\":\"Call Me Today\"}}}"
#define BOTO_HDRS                                                                              \
    "POST /\nHost:localhost:8000\nContent-Type:application/x-amz-json-1.0\n"                  \
    "X-Amz-Target:DynamoDB_20120810.GetItem\n"                                                 \
    "User-Agent:Boto3/1.34.0 Python/3.11.6 Linux/6.5.0 Botocore/1.34.0\n"                      \
    "X-Amz-Date:20240115T102030Z\nContent-Length:96\n"
#define BOTO_AUTH                                                                              \
    "Authorization:AWS4-HMAC-SHA256 Credential=AKIADYNETESTKEY00001/20240115/us-west-2/dynamodb/" \
    "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, "                  \
    "Signature=20f3f0fd8592fcecc17ea58f6e9aca5cfb117bb6d058bf168e861104d71d5302\n"
#define BOTO_TOKEN_AUTH                                                                        \
    "X-Amz-Security-Token:" BOTO_TOKEN "\n"                                                    \
    "Authorization:AWS4-HMAC-SHA256 Credential=AKIADYNETESTKEY00001/20240115/us-west-2/dynamodb/" \
    "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;"           \
    "x-amz-target, Signature=cd73aa70c6318758e1426cade7955479b1399f3b447bffc3dab5859d7d31a76f\n"

static dyn_err
boto_verify(dyn_sigv4_creds *c, const char *text, const char *body, const char *region,
            const char **msg)
{
    vt_req v;
    dyn_arena a;
    const char *akid = NULL, *m = NULL;
    static char buf[1024];

    vt_build(&v, text, body);
    v.r.now = BOTO_NOW;
    v.r.service = NULL;   /* "dynamodb" */
    v.r.region = region;
    dyn_arena_init(&a, 1 << 20);
    dyn_err rc = dyn_sigv4_verify(c, &v.r, &a, &akid, &m);
    if (rc == DYN_OK)
        DT_EQ_STR(akid, BOTO_AKID);
    snprintf(buf, sizeof buf, "%s", m ? m : "");
    *msg = buf;
    dyn_arena_fini(&a);
    return rc;
}

static void
test_botocore_dynamodb(void)
{
    dyn_sigv4_creds *c = dyn_sigv4_creds_new(), *ct = dyn_sigv4_creds_new();
    const char *msg;
    DT_OK(dyn_sigv4_creds_add(c, BOTO_AKID, BOTO_SECRET, NULL));
    DT_OK(dyn_sigv4_creds_add(ct, BOTO_AKID, BOTO_SECRET, BOTO_TOKEN));

    DT_OK(boto_verify(c, BOTO_HDRS BOTO_AUTH, BOTO_BODY, NULL, &msg));
    DT_OK(boto_verify(c, BOTO_HDRS BOTO_AUTH, BOTO_BODY, "us-west-2", &msg));
    DT_OK(boto_verify(ct, BOTO_HDRS BOTO_TOKEN_AUTH, BOTO_BODY, NULL, &msg));
    DT_ERR(boto_verify(ct, BOTO_HDRS BOTO_AUTH, BOTO_BODY, NULL, &msg), DYN_EUNRECOGNIZED);
    /* An unsigned header may change; a signed one, the body or the region may not. */
    char text[2048];
    snprintf(text, sizeof text, "%s", BOTO_HDRS BOTO_AUTH);
    memcpy(strstr(text, "Boto3/1.34.0"), "Boto3/9.99.9", 12);
    DT_OK(boto_verify(c, text, BOTO_BODY, NULL, &msg));
    snprintf(text, sizeof text, "%s", BOTO_HDRS BOTO_AUTH);
    memcpy(strstr(text, ".GetItem"), ".PutItem", 8);
    DT_ERR(boto_verify(c, text, BOTO_BODY, NULL, &msg), DYN_EBADSIG);
    DT_EQ_STR(msg, "The request signature we calculated does not match the signature you "
                   "provided. Check your AWS Secret Access Key and signing method. Consult the "
                   "service documentation for details.");
    char body[] = BOTO_BODY;
    memcpy(strstr(body, "Today"), "Never", 5);
    DT_ERR(boto_verify(c, BOTO_HDRS BOTO_AUTH, body, NULL, &msg), DYN_EBADSIG);
    DT_ERR(boto_verify(c, BOTO_HDRS BOTO_AUTH, BOTO_BODY, "eu-west-1", &msg), DYN_EBADSIG);
    DT_EQ_STR(msg, "Credential should be scoped to a valid region, not 'us-west-2'.");
    /* X-Amz-Content-Sha256 (unsigned here) must still be the body's hash. */
    DT_ERR(boto_verify(c,
                       BOTO_HDRS BOTO_AUTH "X-Amz-Content-Sha256:e3b0c44298fc1c149afbf4c8996fb92427"
                                           "ae41e4649b934ca495991b7852b855\n",
                       BOTO_BODY, NULL, &msg),
           DYN_EBADSIG);
    DT_EQ_STR(msg, "The provided 'x-amz-content-sha256' header does not match what was computed.");
    DT_OK(boto_verify(c,
                      BOTO_HDRS BOTO_AUTH "X-Amz-Content-Sha256:54ca31bd69dcf886cd9206d68f4be0edc6"
                                          "4754241ff1d21b9b4ff58ac96bb753\n",
                      BOTO_BODY, NULL, &msg));
    dyn_sigv4_creds_free(c);
    dyn_sigv4_creds_free(ct);
}

/* ---- rejections, with DynamoDB's messages ---- */

static void
test_missing_authentication(void)
{
    dyn_sigv4_creds *c = suite_creds(NULL);
    const char *msg;
    DT_ERR(vt_verify(c, "POST /\n" HOST DATE, "{}", &msg), DYN_ENOAUTH);
    DT_EQ_STR(msg, "Request is missing Authentication Token");
    DT_ERR(vt_verify(c, "POST /\n" HOST "Authorization:Basic dXNlcjpwYXNz\n" DATE, "{}", &msg),
           DYN_ENOAUTH);
    DT_EQ_STR(msg, "Request is missing Authentication Token");
    DT_ERR(vt_verify(c, "GET /?X-Amz-Algorithm=AWS4-HMAC-SHA256\n" HOST VH("host", "00") DATE, NULL,
                     &msg),
           DYN_EBADSIG);
    DT_EQ_STR(msg, "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as "
                   "HTTP header.");
    dyn_sigv4_creds_free(c);
}

static void
test_incomplete_signature(void)
{
    dyn_sigv4_creds *c = suite_creds(NULL);
    const char *msg;
    DT_ERR(vt_verify(c, "POST /\n" HOST "Authorization:AWS4-HMAC-SHA256 \n", "{}", &msg),
           DYN_EINCOMPLETESIG);
    DT_EQ_STR(msg, "Authorization header requires 'Credential' parameter. Authorization header "
                   "requires 'Signature' parameter. Authorization header requires "
                   "'SignedHeaders' parameter. Authorization header requires existence of either "
                   "a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256");
    DT_ERR(vt_verify(c,
                     "POST /\n" HOST "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/"
                     "us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date\n" DATE,
                     "{}", &msg),
           DYN_EINCOMPLETESIG);
    DT_EQ_STR(msg, "Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC-"
                   "SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                   "SignedHeaders=host;x-amz-date");
    DT_ERR(vt_verify(c, "POST /\n" HOST "Authorization:AWS4-HMAC-SHA256 Signature=b,    Credential,"
                                        "    SignedHeaders\n" DATE,
                     "{}", &msg),
           DYN_EINCOMPLETESIG);
    DT_EQ_STR(msg, "'Credential' not a valid key=value pair (missing equal-sign) in Authorization "
                   "header: 'AWS4-HMAC-SHA256 Signature=b,    Credential,    SignedHeaders'.");
    DT_ERR(vt_verify(c, "GET /\n" HOST VH("host;x-amz-date", VANILLA) "X-Amz-Date:201\n", NULL, &msg),
           DYN_EINCOMPLETESIG);
    DT_EQ_STR(msg, "Date must be in ISO-8601 'basic format'. Got '201'. See "
                   "http://en.wikipedia.org/wiki/ISO_8601");
    DT_ERR(vt_verify(c,
                     "GET /\n" HOST "Authorization:AWS4-HMAC-SHA25 Credential=a/b/c/d/e, "
                     "SignedHeaders=host, Signature=00\n" DATE,
                     NULL, &msg),
           DYN_EINCOMPLETESIG);
    DT_EQ_STR(msg, "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA25' (only AWS4-HMAC-SHA256 for "
                   "now). ");
    DT_ERR(vt_verify(c,
                     "GET /\n" HOST "Authorization:AWS4-HMAC-SHA256 Credential=a/b/c/d//, "
                     "SignedHeaders=host, Signature=00\n" DATE,
                     NULL, &msg),
           DYN_EINCOMPLETESIG);
    DT_EQ_STR(msg, "Credential must have exactly 5 slash-delimited elements, e.g. "
                   "keyid/date/region/service/term, got 'a/b/c/d//'");
    /* Presigned form: every missing parameter named. */
    DT_ERR(vt_verify(c, "GET /?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20150830T123600Z\n" HOST,
                     NULL, &msg),
           DYN_EINCOMPLETESIG);
    DT_EQ_STR(msg, "AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string "
                   "parameters must include 'X-Amz-Signature'. AWS query-string parameters must "
                   "include 'X-Amz-SignedHeaders'. Re-examine the query-string parameters.");
    dyn_sigv4_creds_free(c);
}

static void
test_clock_skew(void)
{
    dyn_sigv4_creds *c = suite_creds(NULL);
    const char *msg;
    const char *get = suite[0].text, *presigned = suite[26].text;
    DT_ERR(vt_verify_at(c, get, NULL, SUITE_NOW + 20 * 60, &msg), DYN_EBADSIG);
    DT_EQ_STR(msg, "Signature expired: 20150830T123600Z is now earlier than 20150830T124100Z "
                   "(20150830T125600Z - 15 min.)");
    DT_ERR(vt_verify_at(c, get, NULL, SUITE_NOW - 20 * 60, &msg), DYN_EBADSIG);
    DT_EQ_STR(msg, "Signature not yet current: 20150830T123600Z is still later than "
                   "20150830T123100Z (20150830T121600Z + 15 min.)");
    DT_OK(vt_verify_at(c, get, NULL, SUITE_NOW + 15 * 60, &msg));
    DT_OK(vt_verify_at(c, get, NULL, SUITE_NOW - 15 * 60, &msg));
    DT_ERR(vt_verify_at(c, get, NULL, SUITE_NOW + 15 * 60 + 1, &msg), DYN_EBADSIG);
    DT_ERR(vt_verify_at(c, get, NULL, SUITE_NOW - 15 * 60 - 1, &msg), DYN_EBADSIG);
    /* The skew check comes before the credential is even looked at (as DynamoDB does). */
    DT_ERR(vt_verify_at(c,
                        "GET /\n" HOST "Authorization:AWS4-HMAC-SHA256 Credential=x/2/3/4/aws4_request "
                        "SignedHeaders=x-amz-date;host Signature=123\nX-Amz-Date:20170101T010101Z\n",
                        NULL, SUITE_NOW, &msg),
           DYN_EBADSIG);
    DT_TRUE(strncmp(msg, "Signature not yet current: 20170101T010101Z", 43) == 0);
    /* Presigned: good for X-Amz-Expires (3600 s), not one second more. */
    DT_OK(vt_verify_at(c, presigned, NULL, SUITE_NOW + 3600, &msg));
    DT_ERR(vt_verify_at(c, presigned, NULL, SUITE_NOW + 3601, &msg), DYN_EBADSIG);
    DT_EQ_STR(msg, "Signature expired: 20150830T133600Z is now earlier than 20150830T133601Z");
    dyn_sigv4_creds_free(c);
}

static void
test_invalid_signature(void)
{
    dyn_sigv4_creds *c = suite_creds(NULL), *wrong = dyn_sigv4_creds_new();
    const char *msg;
    char text[1024];

    DT_OK(dyn_sigv4_creds_add(wrong, SUITE_AKID, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEz", NULL));
    DT_ERR(vt_verify(wrong, suite[0].text, NULL, &msg), DYN_EBADSIG);
    DT_EQ_STR(msg, "The request signature we calculated does not match the signature you "
                   "provided. Check your AWS Secret Access Key and signing method. Consult the "
                   "service documentation for details.");
    /* Tampered body (post-x-www-form-urlencoded), header value, method, path, query. */
    DT_ERR(vt_verify(c, suite[22].text, "Param1=value2", &msg), DYN_EBADSIG);
    snprintf(text, sizeof text, "%s", suite[20].text);   /* post-header-key-sort */
    *strstr(text, "value1") = 'V';
    DT_ERR(vt_verify(c, text, NULL, &msg), DYN_EBADSIG);
    DT_ERR(vt_verify(c, suite[1].text + 1, NULL, &msg), DYN_EBADSIG);   /* "OST /" */
    snprintf(text, sizeof text, "%s", suite[2].text);
    *strstr(text, "value2") = 'V';
    DT_ERR(vt_verify(c, text, NULL, &msg), DYN_EBADSIG);
    /* Signature as upper-case hex or truncated does not verify either. */
    snprintf(text, sizeof text, "%s", suite[0].text);
    memcpy(strstr(text, "5fa00fa"), "5FA00FA", 7);
    DT_ERR(vt_verify(c, text, NULL, &msg), DYN_EBADSIG);
    DT_ERR(vt_verify(c,
                     "GET /\n" HOST VH("host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a"
                                                          "2260956d9b8aae1d763fbf3") DATE,
                     NULL, &msg),
           DYN_EBADSIG);
    /* Host must be signed. */
    DT_ERR(vt_verify(c, "GET /\n" HOST VH("x-amz-date", VANILLA) DATE, NULL, &msg), DYN_EBADSIG);
    DT_EQ_STR(msg, "'Host' must be a 'SignedHeader' in the AWS Authorization.");
    /* Scope pieces, all reported at once (dynalite's recorded AWS text). */
    DT_ERR(vt_verify(c,
                     "GET /\n" HOST "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/b/C/d/e, "
                     "SignedHeaders=host;x-amz-date, Signature=" VANILLA "\n" DATE,
                     NULL, &msg),
           DYN_EBADSIG);
    DT_EQ_STR(msg, "Credential should be scoped to a valid region, not 'C'. Credential should be "
                   "scoped to correct service: 'service'. Credential should be scoped with a "
                   "valid terminator: 'aws4_request', not 'e'. Date in Credential scope does not "
                   "match YYYYMMDD from ISO-8601 version of date from HTTP: 'b' != '20150830', "
                   "from '20150830T123600Z'.");
    dyn_sigv4_creds_free(c);
    dyn_sigv4_creds_free(wrong);
}

static void
test_unknown_key(void)
{
    dyn_sigv4_creds *c = dyn_sigv4_creds_new();
    const char *msg;
    DT_OK(dyn_sigv4_creds_add(c, "AKIDSOMEONEELSE", SUITE_SECRET, NULL));
    DT_ERR(vt_verify(c, suite[0].text, NULL, &msg), DYN_EUNRECOGNIZED);
    DT_EQ_STR(msg, "The security token included in the request is invalid.");
    dyn_sigv4_creds_free(c);
}

static void
test_arena_exhausted(void)
{
    dyn_sigv4_creds *c = suite_creds(NULL);
    vt_req v;
    dyn_arena a;
    const char *akid, *msg;
    vt_build(&v, suite[22].text, suite[22].body);
    dyn_arena_init(&a, 64);
    DT_ERR(dyn_sigv4_verify(c, &v.r, &a, &akid, &msg), DYN_ENOMEM);
    DT_TRUE(msg != NULL);
    dyn_arena_fini(&a);
    dyn_sigv4_creds_free(c);
}

/* ---- credential loading ---- */

static const char *
tmp_file(const char *name, const char *content)
{
    static char path[512];
    const char *dir = getenv("TEST_TMPDIR");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "/tmp", name);
    FILE *f = fopen(path, "w");
    fputs(content, f);
    fclose(f);
    return path;
}

static void
test_creds_files(void)
{
    dyn_sigv4_creds *c = NULL;
    int line = 0;

    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    DT_OK(dyn_sigv4_creds_load(tmp_file("plain", "# keys\n\nAKIDEXAMPLE " SUITE_SECRET "\n"
                                                 "  AKID2\tsecret2   token2  \n"),
                               true, &c));
    DT_EQ_INT(dyn_sigv4_creds_count(c), 2);
    DT_OK(vt_verify(c, suite[0].text, NULL, NULL));
    dyn_sigv4_creds_free(c);

    DT_OK(dyn_sigv4_creds_load(
        tmp_file("ini", "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = " SUITE_SECRET
                        "\n\n; a role profile has no keys\n[profile ops]\nrole_arn = arn:aws:iam::1:role/x\n"
                        "region=us-east-1\n[tok]\naws_access_key_id=AKIDTOK\naws_secret_access_key=s\n"
                        "aws_session_token=tttt\n"),
        false, &c));
    DT_EQ_INT(dyn_sigv4_creds_count(c), 2);
    DT_OK(vt_verify(c, suite[0].text, NULL, NULL));
    dyn_sigv4_creds_free(c);

    c = dyn_sigv4_creds_new();
    DT_ERR(dyn_sigv4_creds_load_file(c, tmp_file("bad1", "AKID1 s1\nAKID2\n"), &line),
           DYN_EVALIDATION);
    DT_EQ_INT(line, 2);
    DT_ERR(dyn_sigv4_creds_load_file(c, tmp_file("bad2", "a b c d\n"), &line), DYN_EVALIDATION);
    DT_ERR(dyn_sigv4_creds_load_file(c, tmp_file("bad3", "[p]\naws_access_key_id=x\n[q]\n"), &line),
           DYN_EVALIDATION);
    DT_EQ_INT(line, 1);
    DT_ERR(dyn_sigv4_creds_load_file(c, tmp_file("bad4", "[p]\njunk\n"), &line), DYN_EVALIDATION);
    DT_EQ_INT(line, 2);
    dyn_sigv4_creds_free(c);

    c = (dyn_sigv4_creds *)1;
    DT_ERR(dyn_sigv4_creds_load("/nonexistent/dyne/creds", false, &c), DYN_ENOTFOUND);
    DT_TRUE(c == NULL);
    DT_ERR(dyn_sigv4_creds_load(tmp_file("empty", "# nothing\n"), false, &c), DYN_ENOTFOUND);
    DT_ERR(dyn_sigv4_creds_load(NULL, true, &c), DYN_ENOTFOUND);
}

static void
test_creds_env(void)
{
    dyn_sigv4_creds *c = NULL;
    const char *msg;

    setenv("AWS_ACCESS_KEY_ID", SUITE_AKID, 1);
    setenv("AWS_SECRET_ACCESS_KEY", SUITE_SECRET, 1);
    setenv("AWS_SESSION_TOKEN", SUITE_TOKEN, 1);
    /* The file's entry for the same id is replaced by the environment's. */
    DT_OK(dyn_sigv4_creds_load(tmp_file("envfile", "AKIDEXAMPLE wrong\nAKIDX y\n"), true, &c));
    DT_EQ_INT(dyn_sigv4_creds_count(c), 2);
    DT_ERR(vt_verify(c, suite[0].text, NULL, &msg), DYN_EUNRECOGNIZED);   /* token required */
    dyn_sigv4_creds_free(c);
    unsetenv("AWS_SESSION_TOKEN");
    DT_OK(dyn_sigv4_creds_load(NULL, true, &c));
    DT_OK(vt_verify(c, suite[0].text, NULL, NULL));
    dyn_sigv4_creds_free(c);
    unsetenv("AWS_SECRET_ACCESS_KEY");
    DT_ERR(dyn_sigv4_creds_load(NULL, true, &c), DYN_EVALIDATION);
    unsetenv("AWS_ACCESS_KEY_ID");
    c = dyn_sigv4_creds_new();
    DT_ERR(dyn_sigv4_creds_add(c, "", "s", NULL), DYN_EVALIDATION);
    DT_ERR(dyn_sigv4_creds_add(c, "a b", "s", NULL), DYN_EVALIDATION);
    DT_ERR(dyn_sigv4_creds_add(c, "a", "s", "t t"), DYN_EVALIDATION);
    dyn_sigv4_creds_free(c);
}

/* ---- threads and speed ---- */

#define THREADS 8
#define PER_THREAD 4000

typedef struct worker {
    dyn_sigv4_creds *c;
    int failures;
} worker;

static void *
worker_run(void *arg)
{
    worker *w = arg;
    dyn_arena a;
    dyn_arena_init(&a, 1 << 20);
    for (int i = 0; i < PER_THREAD; i++) {
        vt_req v;
        const char *akid, *msg;
        const vector *t = &suite[(size_t)i % 24];   /* header-signed vectors */
        vt_build(&v, t->text, t->body);
        if (dyn_sigv4_verify(w->c, &v.r, &a, &akid, &msg) != DYN_OK)
            w->failures++;
        dyn_arena_reset(&a);
    }
    dyn_arena_fini(&a);
    return NULL;
}

static void
test_threads(void)
{
    dyn_sigv4_creds *c = suite_creds(NULL);
    pthread_t th[THREADS];
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){ c, 0 };
        pthread_create(&th[i], NULL, worker_run, &w[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        DT_EQ_INT(w[i].failures, 0);
    }
    dyn_sigv4_creds_free(c);
}

static double
now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void
test_speed(void)
{
    dyn_sigv4_creds *c = dyn_sigv4_creds_new();
    vt_req v;
    dyn_arena a;
    const char *akid, *msg;
    int n = 20000, bad = 0;
    uint64_t hits, misses;

    DT_OK(dyn_sigv4_creds_add(c, BOTO_AKID, BOTO_SECRET, NULL));
    vt_build(&v, BOTO_HDRS BOTO_AUTH, BOTO_BODY);
    v.r.now = BOTO_NOW;
    v.r.service = NULL;
    dyn_arena_init(&a, 1 << 20);
    double t0 = now_us();
    for (int i = 0; i < n; i++) {
        bad += dyn_sigv4_verify(c, &v.r, &a, &akid, &msg) != DYN_OK;
        dyn_arena_reset(&a);
    }
    double warm = (now_us() - t0) / n;
    dyn_sigv4_creds_cache_stats(c, &hits, &misses);
    DT_EQ_INT(bad, 0);
    DT_EQ_INT(misses, 1);
    DT_EQ_INT(hits, n - 1);
    /* For comparison: the key derivation alone, which the cache saves. */
    dyn_sigv4_creds *cold = dyn_sigv4_creds_new();
    DT_OK(dyn_sigv4_creds_add(cold, BOTO_AKID, BOTO_SECRET, NULL));
    t0 = now_us();
    for (int i = 0; i < 2000; i++) {
        DT_OK(dyn_sigv4_creds_add(cold, BOTO_AKID, BOTO_SECRET, NULL));   /* clears the cache */
        bad += dyn_sigv4_verify(cold, &v.r, &a, &akid, &msg) != DYN_OK;
        dyn_arena_reset(&a);
    }
    double coldus = (now_us() - t0) / 2000;
    fprintf(stderr, "  speed: %.2f us/verify with a warm key cache, %.2f us cold (botocore "
                    "GetItem, %d-byte body)\n",
            warm, coldus, (int)strlen(BOTO_BODY));
    DT_TRUE(warm < 100.0);
    dyn_arena_fini(&a);
    dyn_sigv4_creds_free(cold);
    dyn_sigv4_creds_free(c);
}

DT_MAIN({ "AWS suite vectors (header, presigned, Date)", test_suite_vectors },
        { "AWS suite: session token", test_suite_session_token },
        { "canonical request", test_canonical_request },
        { "sign reproduces the suite", test_sign_round_trip },
        { "botocore DynamoDB GetItem fixture", test_botocore_dynamodb },
        { "MissingAuthenticationToken", test_missing_authentication },
        { "IncompleteSignature", test_incomplete_signature },
        { "clock skew", test_clock_skew },
        { "InvalidSignature", test_invalid_signature },
        { "UnrecognizedClient", test_unknown_key },
        { "arena exhausted", test_arena_exhausted },
        { "credential files", test_creds_files },
        { "credential env", test_creds_env },
        { "threads share one store", test_threads },
        { "speed", test_speed })
