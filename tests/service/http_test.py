"""The router's DynamoDB-compatible HTTP endpoint, driven by unmodified AWS clients: boto3 /
botocore (which checks x-amz-crc32 on every DynamoDB response) and the AWS CLI, plus raw
http.client requests for what the SDKs never send (malformed JSON, bad targets, tampered
signatures). First with --auth=dev, then the router restarted with --auth=sigv4 and a
credentials file."""
import base64
import datetime
import decimal
import gzip
import hashlib
import hmac
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from dyne_harness import Cluster, run_tests  # noqa: E402

# no proxy between us and loopback, no user config leaking into the clients
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
    os.environ.pop(k, None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

import boto3  # noqa: E402
import botocore  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

REGION = "us-east-1"
AKID, SECRET = "AKIDDYNETEST", "dyne-test-secret-key"
C = None
ddb = None       # a boto3 client on the endpoint
crc_seen = []    # (header, crc of the raw body) for every response boto3 parsed


def client(service="dynamodb", akid="dev", secret="dev", **cfg):
    # parameter_validation off: the server's own ValidationException messages are under test
    c = boto3.session.Session().client(
        service, endpoint_url=C.ddb_endpoint(), region_name=REGION, aws_access_key_id=akid,
        aws_secret_access_key=secret,
        config=Config(parameter_validation=False, retries={"max_attempts": 1}, **cfg))

    def check_crc(http_response, **kw):
        h = http_response.headers.get("x-amz-crc32")
        crc_seen.append((h, zlib.crc32(http_response.content) & 0xffffffff))
    c.meta.events.register("after-call", check_crc)
    return c


def expect(fn, code, message=None, status=400):
    try:
        fn()
    except ClientError as e:
        err = e.response["Error"]
        assert err["Code"] == code, "expected %s, got %s: %s" % (code, err["Code"], err.get("Message"))
        if message is not None:
            assert err.get("Message") == message, "message %r != %r" % (err.get("Message"), message)
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == status
        return e
    raise AssertionError("expected %s, call succeeded" % code)


def raw(body, target="DynamoDB_20120810.ListTables", headers=None, method="POST",
        ctype="application/x-amz-json-1.0"):
    """One request over http.client: (status, headers dict lower-cased, raw body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", C.router_ddb, timeout=10)
    h = {}
    if ctype:
        h["Content-Type"] = ctype
    if target:
        h["X-Amz-Target"] = target
    for k, v in (headers or {}).items():   # replaces ours whatever the case
        for mine in [m for m in h if m.lower() == k.lower()]:
            del h[mine]
        h[k] = v
    conn.request(method, "/", body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    conn.close()
    return r.status, hdrs, data


def wait_active(name, c=None):
    c = c or ddb
    end = time.time() + 30
    while time.time() < end:
        t = c.describe_table(TableName=name)["Table"]
        if t["TableStatus"] == "ACTIVE":
            return t
        time.sleep(0.05)
    raise AssertionError("table %s not ACTIVE" % name)


def create(name, pk=("pk", "S"), sk=None, c=None):
    c = c or ddb
    ad = [{"AttributeName": pk[0], "AttributeType": pk[1]}]
    ks = [{"AttributeName": pk[0], "KeyType": "HASH"}]
    if sk:
        ad.append({"AttributeName": sk[0], "AttributeType": sk[1]})
        ks.append({"AttributeName": sk[0], "KeyType": "RANGE"})
    d = c.create_table(TableName=name, AttributeDefinitions=ad, KeySchema=ks,
                       BillingMode="PAY_PER_REQUEST")["TableDescription"]
    assert d["TableStatus"] == "CREATING", d
    return wait_active(name, c)


# ---- --auth=dev -----------------------------------------------------------------------------

def test_health_get():
    st, h, body = raw(None, target=None, method="GET", ctype=None)
    assert st == 200
    assert body == b"healthy: dynamodb.local.amazonaws.com ", body
    assert int(h["x-amz-crc32"]) == zlib.crc32(body)


def test_tables():
    t = create("Music", pk=("Artist", "S"), sk=("Song", "S"))
    assert t["TableName"] == "Music" and t["ItemCount"] == 0
    assert t["KeySchema"] == [{"AttributeName": "Artist", "KeyType": "HASH"},
                              {"AttributeName": "Song", "KeyType": "RANGE"}]
    assert t["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert isinstance(t["CreationDateTime"], datetime.datetime)   # a timestamp botocore parsed
    create("Other")
    names = ddb.list_tables()["TableNames"]
    assert "Music" in names and "Other" in names, names
    page = ddb.list_tables(Limit=1)
    assert len(page["TableNames"]) == 1 and "LastEvaluatedTableName" in page
    expect(lambda: ddb.create_table(
        TableName="Other", AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST"),
        "ResourceInUseException", "Table already exists: Other")
    d = ddb.delete_table(TableName="Other")["TableDescription"]
    assert d["TableStatus"] == "DELETING"
    end = time.time() + 30
    while time.time() < end:
        try:
            ddb.describe_table(TableName="Other")
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ResourceNotFoundException"
            break
        time.sleep(0.05)
    else:
        raise AssertionError("table not deleted")
    # the waiter the SDK ships works too
    ddb.get_waiter("table_exists").wait(TableName="Music", WaiterConfig={"Delay": 1})


ALL_TYPES = {
    "Artist": {"S": "No One You Know"},
    "Song": {"S": "Call Me Today"},
    "n": {"N": "-12.5e3"},
    "b": {"B": b"\x00\x01\xffbinary"},
    "t": {"BOOL": True},
    "f": {"BOOL": False},
    "z": {"NULL": True},
    "l": {"L": [{"S": "x"}, {"N": "1"}, {"L": [{"BOOL": False}]}, {"M": {"k": {"S": "v"}}}]},
    "m": {"M": {"nested": {"M": {"deep": {"NS": ["1", "2"]}}}, "s": {"S": "é✓"}}},
    "ss": {"SS": ["a", "b", "c"]},
    "ns": {"NS": ["1", "2.5", "-3"]},
    "bs": {"BS": [b"\x01", b"\x02\x03"]},
}


def norm(v):
    """Sets compare as sets; numbers by value (the server answers canonical text)."""
    (t, x), = v.items()
    if t == "N":
        return ("N", decimal.Decimal(x))
    if t in ("SS", "BS"):
        return (t, frozenset(x))
    if t == "NS":
        return (t, frozenset(decimal.Decimal(e) for e in x))
    if t == "L":
        return ("L", tuple(norm(e) for e in x))
    if t == "M":
        return ("M", tuple(sorted((k, norm(e)) for k, e in x.items())))
    return (t, x)


def test_items_all_types():
    key = {"Artist": ALL_TYPES["Artist"], "Song": ALL_TYPES["Song"]}
    out = ddb.put_item(TableName="Music", Item=ALL_TYPES)
    assert "Attributes" not in out
    got = ddb.get_item(TableName="Music", Key=key, ConsistentRead=True)["Item"]
    assert {k: norm(v) for k, v in got.items()} == {k: norm(v) for k, v in ALL_TYPES.items()}, got
    assert got["b"]["B"] == b"\x00\x01\xffbinary"   # base64 on the wire, bytes again in boto3
    assert got["n"]["N"] == "-12500"
    proj = ddb.get_item(TableName="Music", Key=key, ProjectionExpression="m.nested, l[0]")["Item"]
    assert proj == {"m": {"M": {"nested": {"M": {"deep": {"NS": proj["m"]["M"]["nested"]["M"]["deep"]["NS"]}}}}},
                    "l": {"L": [{"S": "x"}]}}, proj
    old = ddb.delete_item(TableName="Music", Key=key, ReturnValues="ALL_OLD")["Attributes"]
    assert norm({"M": old}) == norm({"M": ALL_TYPES})
    assert "Item" not in ddb.get_item(TableName="Music", Key=key, ConsistentRead=True)
    # the resource layer (Python types <-> DynamoDB JSON, done by boto3 itself)
    res = boto3.session.Session().resource(
        "dynamodb", endpoint_url=C.ddb_endpoint(), region_name=REGION, aws_access_key_id="x",
        aws_secret_access_key="y")
    tab = res.Table("Music")
    tab.put_item(Item={"Artist": "A", "Song": "S", "year": 2015, "rating": decimal.Decimal("4.5"),
                       "tags": {"pop", "indie"}, "raw": boto3.dynamodb.types.Binary(b"\x00z"),
                       "meta": {"x": [1, "two", None, True]}})
    item = tab.get_item(Key={"Artist": "A", "Song": "S"})["Item"]
    assert item["year"] == 2015 and item["rating"] == decimal.Decimal("4.5")
    assert item["tags"] == {"pop", "indie"} and item["raw"].value == b"\x00z"
    assert item["meta"] == {"x": [1, "two", None, True]}


def test_update_query_batch():
    ddb.put_item(TableName="Music", Item={"Artist": {"S": "Q"}, "Song": {"S": "1"}, "c": {"N": "1"}})
    out = ddb.update_item(TableName="Music", Key={"Artist": {"S": "Q"}, "Song": {"S": "1"}},
                          UpdateExpression="SET c = c + :one", ExpressionAttributeValues={":one": {"N": "1"}},
                          ReturnValues="UPDATED_NEW")
    assert out["Attributes"] == {"c": {"N": "2"}}
    ddb.batch_write_item(RequestItems={"Music": [
        {"PutRequest": {"Item": {"Artist": {"S": "Q"}, "Song": {"S": str(i)}}}} for i in range(2, 12)]})
    q = ddb.query(TableName="Music", KeyConditionExpression="Artist = :a",
                  ExpressionAttributeValues={":a": {"S": "Q"}}, Limit=4)
    assert q["Count"] == 4 and "LastEvaluatedKey" in q
    q2 = ddb.query(TableName="Music", KeyConditionExpression="Artist = :a",
                   ExpressionAttributeValues={":a": {"S": "Q"}}, ExclusiveStartKey=q["LastEvaluatedKey"])
    assert q["Count"] + q2["Count"] == 11
    paginator = ddb.get_paginator("scan")
    n = sum(p["Count"] for p in paginator.paginate(TableName="Music", PaginationConfig={"PageSize": 3}))
    assert n >= 11
    got = ddb.batch_get_item(RequestItems={"Music": {"Keys": [
        {"Artist": {"S": "Q"}, "Song": {"S": str(i)}} for i in range(1, 6)]}})
    assert len(got["Responses"]["Music"]) == 5 and not got.get("UnprocessedKeys")


def test_conditions():
    put = lambda **kw: ddb.put_item(TableName="Music", Item={"Artist": {"S": "C"}, "Song": {"S": "c"},
                                                             "v": {"N": "1"}}, **kw)
    put(ConditionExpression="attribute_not_exists(Artist)")
    e = expect(lambda: put(ConditionExpression="attribute_not_exists(Artist)"),
               "ConditionalCheckFailedException", "The conditional request failed")
    # botocore maps the __type to the modeled exception class
    assert isinstance(e, ddb.exceptions.ConditionalCheckFailedException)
    expect(lambda: ddb.delete_item(TableName="Music", Key={"Artist": {"S": "C"}, "Song": {"S": "c"}},
                                   ConditionExpression="v > :n", ExpressionAttributeValues={":n": {"N": "5"}}),
           "ConditionalCheckFailedException")
    # ReturnValuesOnConditionCheckFailure ALL_OLD: the item comes back in the error body, as
    # {"__type": ..., "message": ..., "Item": {...}} (raw: Debian's botocore predates the member)
    put()
    req = {"TableName": "Music", "Item": {"Artist": {"S": "C"}, "Song": {"S": "c"}},
           "ConditionExpression": "attribute_not_exists(Artist)",
           "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
    st, _, body = raw(json.dumps(req).encode(), target="DynamoDB_20120810.PutItem")
    assert st == 400, (st, body)
    assert json.loads(body) == {
        "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
        "message": "The conditional request failed",
        "Item": {"Artist": {"S": "C"}, "Song": {"S": "c"}, "v": {"N": "1"}}}, body
    req["ReturnValuesOnConditionCheckFailure"] = "NONE"
    st, _, body = raw(json.dumps(req).encode(), target="DynamoDB_20120810.PutItem")
    assert st == 400 and "Item" not in json.loads(body), body
    ddb.delete_item(TableName="Music", Key={"Artist": {"S": "C"}, "Song": {"S": "c"}},
                    ConditionExpression="v < :n", ExpressionAttributeValues={":n": {"N": "5"}})


def test_validation_and_not_found():
    V = "ValidationException"
    expect(lambda: ddb.list_tables(Limit=0), V,
           "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
           "Member must have value greater than or equal to 1")
    expect(lambda: ddb.get_item(TableName="x", Key={"pk": {"S": "a"}}), V,
           "1 validation error detected: Value 'x' at 'tableName' failed to satisfy constraint: "
           "Member must have length greater than or equal to 3")
    expect(lambda: ddb.get_item(TableName="Music", Key={"Artist": {"S": "a"}}), V,
           "The provided key element does not match the schema")
    expect(lambda: ddb.put_item(TableName="Music", Item={"Artist": {"N": "1"}, "Song": {"S": "a"}}), V,
           "One or more parameter values were invalid: Type mismatch for key Artist expected: S actual: N")
    expect(lambda: ddb.put_item(TableName="Music", Item={"Artist": {"S": "a"}, "Song": {"S": "b"},
                                                         "n": {"N": "dog"}}), V)
    e = expect(lambda: ddb.describe_table(TableName="nosuch"), "ResourceNotFoundException",
               "Requested resource not found: Table: nosuch not found")
    assert isinstance(e, ddb.exceptions.ResourceNotFoundException)
    expect(lambda: ddb.get_item(TableName="nosuch", Key={"pk": {"S": "a"}}),
           "ResourceNotFoundException", "Requested resource not found")
    # an AttributeValue with two types: ValidationException from the decoder, in coral.validate
    st, h, body = raw(json.dumps({"TableName": "Music", "Key": {"Artist": {"S": "a", "N": "1"},
                                                                "Song": {"S": "b"}}}),
                      target="DynamoDB_20120810.GetItem")
    assert st == 400 and json.loads(body)["__type"] == "com.amazon.coral.validate#ValidationException", body


def test_unknown_operations():
    e = expect(lambda: ddb.create_backup(TableName="Music", BackupName="b1"),
               "UnknownOperationException", "CreateBackup is not implemented yet")
    streams = client("dynamodbstreams")
    expect(lambda: streams.list_streams(), "UnknownOperationException",
           "ListStreams is not implemented yet")
    for target in ("DynamoDB_20120810.NoSuchOp", "DynamoDB_20111205.ListTables", "Bogus", None):
        st, h, body = raw("{}", target=target)
        assert st == 400, (target, st)
        assert json.loads(body) == {"__type": "com.amazon.coral.service#UnknownOperationException"}, body
        assert int(h["x-amz-crc32"]) == zlib.crc32(body)
        assert len(h["x-amzn-requestid"]) == 52


def test_serialization_and_protocol():
    for bad, op in ((b"{bad", "ListTables"), (b"", "ListTables"), (b"[1,2]", "ListTables"),
                    (b'{"TableName": 5}', "DescribeTable"), (b'{"Limit": "x"}', "ListTables"),
                    (b'{"TableName": "Music", "Key": []}', "GetItem"), (b"\xff\xfe", "ListTables")):
        st, h, body = raw(bad, target="DynamoDB_20120810." + op)
        assert st == 400, (bad, st, body)
        assert json.loads(body)["__type"] == "com.amazon.coral.service#SerializationException", (bad, body)
        assert int(h["x-amz-crc32"]) == zlib.crc32(body)
        assert h["content-type"] == "application/x-amz-json-1.0"
    # application/json is accepted and echoed
    st, h, body = raw("{}", ctype="application/json")
    assert st == 200 and h["content-type"] == "application/json" and "TableNames" in json.loads(body)
    # another content type with a body, or another method: DynamoDB's 404
    st, h, body = raw("{}", ctype="text/plain")
    assert st == 404 and body == b"<UnknownOperationException/>\n"
    st, h, body = raw("{}", method="PUT")
    assert st == 404
    # over 16 MB by Content-Length: refused before the body is sent
    conn = http.client.HTTPConnection("127.0.0.1", C.router_ddb, timeout=10)
    conn.putrequest("POST", "/")
    conn.putheader("Content-Type", "application/x-amz-json-1.0")
    conn.putheader("X-Amz-Target", "DynamoDB_20120810.ListTables")
    conn.putheader("Content-Length", str(16 * 1024 * 1024 + 1))
    conn.endheaders()
    r = conn.getresponse()
    assert r.status == 413, r.status
    conn.close()
    # a body in several pieces (chunked, so it cannot come in one read) decodes the same
    conn = http.client.HTTPConnection("127.0.0.1", C.router_ddb, timeout=10)
    pieces = [b'{"TableName":', b' "Music", "Key": {"Artist": {"S": "A"}, ', b'"Song": {"S": "S"}}}']
    conn.request("POST", "/", body=iter(pieces), encode_chunked=True,
                 headers={"Content-Type": "application/x-amz-json-1.0",
                          "X-Amz-Target": "DynamoDB_20120810.GetItem"})
    r = conn.getresponse()
    body = r.read()
    assert r.status == 200 and json.loads(body)["Item"]["year"] == {"N": "2015"}, body
    conn.close()
    # a malformed signature is refused even in dev mode
    st, h, body = raw("{}", headers={"Authorization": "AWS4-HMAC-SHA256 Credential=x"})
    assert st == 400 and json.loads(body)["__type"] == \
        "com.amazon.coral.service#IncompleteSignatureException", body


def test_crc32_and_gzip():
    assert len(crc_seen) > 20
    for h, crc in crc_seen:   # botocore checks these itself; every response carried one
        assert h is not None and int(h) == crc, (h, crc)
    big = {"Artist": {"S": "G"}, "Song": {"S": "g"}, "blob": {"S": "abc" * 5000}}
    ddb.put_item(TableName="Music", Item=big)
    req = json.dumps({"TableName": "Music", "Key": {"Artist": {"S": "G"}, "Song": {"S": "g"}}})
    st, h, body = raw(req, target="DynamoDB_20120810.GetItem", headers={"Accept-Encoding": "gzip"})
    assert st == 200 and h.get("content-encoding") == "gzip", h
    assert int(h["x-amz-crc32"]) == zlib.crc32(body)   # over the bytes as sent, like DynamoDB
    assert json.loads(gzip.decompress(body))["Item"]["blob"]["S"] == "abc" * 5000
    st, h, plain = raw(req, target="DynamoDB_20120810.GetItem")
    assert "content-encoding" not in h and len(plain) > len(body)
    st, h, small = raw("{}", headers={"Accept-Encoding": "gzip"})   # small: not worth it
    assert "content-encoding" not in h and json.loads(small)


def test_concurrent_clients():
    errors = []

    def worker(n):
        try:
            c = client()
            for i in range(40):
                item = {"Artist": {"S": "conc%d" % n}, "Song": {"S": str(i)}, "v": {"N": str(i)}}
                c.put_item(TableName="Music", Item=item)
                got = c.get_item(TableName="Music", Key={"Artist": item["Artist"], "Song": item["Song"]},
                                 ConsistentRead=True)["Item"]
                assert got["v"] == {"N": str(i)}
        except Exception as e:  # reported below
            errors.append(e)
    ts = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors[:3]


def aws_cli(*args, akid="dev", secret="dev", check=True):
    aws = shutil.which("aws", path="/usr/bin") or "aws"
    env = dict(os.environ, AWS_ACCESS_KEY_ID=akid, AWS_SECRET_ACCESS_KEY=secret,
               AWS_DEFAULT_REGION=REGION, HOME=tempfile.mkdtemp(prefix="aws-home-"),
               AWS_PAGER="")
    p = subprocess.run([aws, "dynamodb", *args, "--endpoint-url", C.ddb_endpoint(),
                        "--no-cli-pager", "--output", "json"],
                       env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, "aws %s: rc=%d\n%s" % (args[0], p.returncode, p.stderr)
    return p


def test_aws_cli():
    out = json.loads(aws_cli("list-tables").stdout)
    assert "Music" in out["TableNames"]
    aws_cli("put-item", "--table-name", "Music", "--item",
            json.dumps({"Artist": {"S": "cli"}, "Song": {"S": "s1"}, "n": {"N": "7"}}))
    got = json.loads(aws_cli("get-item", "--table-name", "Music", "--key",
                             json.dumps({"Artist": {"S": "cli"}, "Song": {"S": "s1"}})).stdout)
    assert got["Item"]["n"] == {"N": "7"}
    d = json.loads(aws_cli("describe-table", "--table-name", "Music").stdout)
    assert d["Table"]["TableStatus"] == "ACTIVE"
    p = aws_cli("put-item", "--table-name", "Music", "--condition-expression",
                "attribute_not_exists(Artist)", "--item",
                json.dumps({"Artist": {"S": "cli"}, "Song": {"S": "s1"}}), check=False)
    assert p.returncode != 0 and "ConditionalCheckFailedException" in p.stderr, p.stderr


# ---- --auth=sigv4 ---------------------------------------------------------------------------

def restart_router(args):
    rc = C.procs.pop("router").stop()
    assert rc == 0, "router exited %s" % rc
    C.router_args = args
    C.start_router()


def sign(body, target, akid=AKID, secret=SECRET, when=None, region=REGION):
    """Our own SigV4 (independent of botocore's): the headers of a signed POST /."""
    when = when or datetime.datetime.now(datetime.timezone.utc)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    h = {"content-type": "application/x-amz-json-1.0", "host": "127.0.0.1:%d" % C.router_ddb,
         "x-amz-date": amz_date, "x-amz-target": target}
    signed = ";".join(sorted(h))
    creq = "\n".join(["POST", "/", ""] + ["%s:%s" % (k, h[k]) for k in sorted(h)] +
                     ["", signed, hashlib.sha256(body).hexdigest()])
    scope = "%s/%s/dynamodb/aws4_request" % (day, region)
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (day, region, "dynamodb", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    h["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        akid, scope, signed, sig)
    del h["host"]   # http.client sends the same Host itself
    return h


def raw_signed(body, target="DynamoDB_20120810.ListTables", send=None, **kw):
    h = sign(body, target, **kw)
    return raw(send if send is not None else body, target=target, headers=h)


def test_sigv4_boto3():
    global ddb
    ddb = client(akid=AKID, secret=SECRET)
    assert "Music" in ddb.list_tables()["TableNames"]   # the catalog survived the restart
    got = ddb.get_item(TableName="Music", Key={"Artist": {"S": "A"}, "Song": {"S": "S"}})["Item"]
    assert got["year"] == {"N": "2015"}
    e = expect(lambda: client(akid=AKID, secret="wrong").list_tables(), "InvalidSignatureException")
    assert e.response["Error"]["Message"].startswith(
        "The request signature we calculated does not match the signature you provided"), e.response
    expect(lambda: client(akid="AKIDUNKNOWN", secret=SECRET).list_tables(),
           "UnrecognizedClientException", "The security token included in the request is invalid.")
    unsigned = client(signature_version=botocore.UNSIGNED)
    expect(lambda: unsigned.list_tables(), "MissingAuthenticationTokenException",
           "Request is missing Authentication Token")


def test_sigv4_raw():
    body = b"{}"
    st, h, out = raw_signed(body)
    assert st == 200 and "TableNames" in json.loads(out), out
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
    st, h, out = raw_signed(body, when=old)
    err = json.loads(out)
    assert st == 400 and err["__type"] == "com.amazon.coral.service#InvalidSignatureException", out
    assert err["message"].startswith("Signature expired: "), err
    assert "is now earlier than" in err["message"] and err["message"].endswith(" - 15 min.)"), err
    req = json.dumps({"TableName": "Music", "Key": {"Artist": {"S": "A"}, "Song": {"S": "S"}}}).encode()
    st, h, out = raw_signed(req, target="DynamoDB_20120810.GetItem")
    assert st == 200 and json.loads(out)["Item"]["year"] == {"N": "2015"}
    tampered = req.replace(b'"S"}}', b'"T"}}')
    st, h, out = raw_signed(req, target="DynamoDB_20120810.GetItem", send=tampered)
    assert st == 400 and json.loads(out)["__type"] == \
        "com.amazon.coral.service#InvalidSignatureException", out
    st, h, out = raw(b"{}")
    assert st == 400 and json.loads(out) == {
        "__type": "com.amazon.coral.service#MissingAuthenticationTokenException",
        "message": "Request is missing Authentication Token"}, out
    # the target is checked before the signature, as DynamoDB does
    st, h, out = raw(b"{}", target="DynamoDB_20120810.Nope")
    assert json.loads(out)["__type"].endswith("#UnknownOperationException"), out


def test_sigv4_cli():
    out = json.loads(aws_cli("list-tables", akid=AKID, secret=SECRET).stdout)
    assert "Music" in out["TableNames"]
    p = aws_cli("list-tables", akid=AKID, secret="nope", check=False)
    assert p.returncode != 0 and "InvalidSignatureException" in p.stderr, p.stderr


def test_graceful_stop():
    # idle keep-alive connections from the clients above must not hold the drain
    rc = C.procs.pop("router").stop()
    assert rc == 0, "router exited %s" % rc
    log = open(os.path.join(C.tmp, "router.log")).read()
    assert "ROUTER-DDB-STOPPED" in log and "RPC-DRAINED" in log


def main():
    global C, ddb
    tmp = tempfile.mkdtemp(prefix="dyne-http-", dir=os.environ.get("TEST_TMPDIR"))
    creds = os.path.join(tmp, "credentials")
    with open(creds, "w") as f:
        f.write("# test keys\n%s %s\n" % (AKID, SECRET))
    C = Cluster().start()
    try:
        log = open(os.path.join(C.tmp, "router.log")).read()
        assert "ROUTER-AUTH-DEV" in log and "ROUTER-DDB-READY port=%d" % C.router_ddb in log, log
        ddb = client()
        return run_tests([
            ("GET / health", test_health_get),
            ("tables", test_tables),
            ("items of every type", test_items_all_types),
            ("update, query, batches", test_update_query_batch),
            ("conditions", test_conditions),
            ("validation and not found", test_validation_and_not_found),
            ("unknown operations", test_unknown_operations),
            ("serialization and protocol", test_serialization_and_protocol),
            ("crc32 and gzip", test_crc32_and_gzip),
            ("concurrent clients", test_concurrent_clients),
            ("AWS CLI", test_aws_cli),
            ("restart with --auth=sigv4", lambda: restart_router(
                ["--auth=sigv4", "--credentials-file=" + creds])),
            ("sigv4 through boto3", test_sigv4_boto3),
            ("sigv4 raw: expired, tampered, missing", test_sigv4_raw),
            ("sigv4 through the AWS CLI", test_sigv4_cli),
            ("graceful stop", test_graceful_stop),
        ])
    finally:
        for p in C.procs.values():
            sys.stderr.write("---- %s log tail\n%s\n" % (p.name, p.tail(15)))
        C.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
