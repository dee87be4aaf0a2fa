"""The table API (issue 6, item 2) through real etcd + storage + router processes: CreateTable
with every member, UpdateTable, DescribeTable, DeleteTable with deletion protection, the tag
operations, DescribeLimits and DescribeEndpoints, with DynamoDB's error types and texts. Mostly
through boto3 against the DynamoDB HTTP endpoint; the same handlers over gRPC where exact numbers
(timestamps as doubles) matter. A second cluster runs with lowered account quotas."""
import datetime
import http.client
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from dyne_harness import Cluster, DyneError, run_tests, wait_for  # noqa: E402

os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
    os.environ.pop(k, None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROUTER_ARGS = ["--region=" + REGION, "--account=" + ACCOUNT]
C = None       # the main cluster
ddb = None     # boto3 on its DynamoDB endpoint
cl = None      # its gRPC client
V, L, RNF, INUSE = ("ValidationException", "LimitExceededException", "ResourceNotFoundException",
                    "ResourceInUseException")
INVALID = "One or more parameter values were invalid: "
REFER = ("Refer to the Amazon DynamoDB Developer Guide for current limits and how to request "
         "higher limits.")


class HttpError(Exception):
    def __init__(self, etype, message):
        Exception.__init__(self, "%s: %s" % (etype, message))
        self.type, self.message = etype, message


def raw(op, cluster=None, **req):
    """One DynamoDB JSON call over plain HTTP: for the members newer than Debian's botocore
    (DeletionProtectionEnabled, OnDemandThroughput, WarmThroughput, ...), which it can neither send
    nor parse. Returns the answer; raises HttpError with the error's type and message."""
    cluster = cluster or C
    conn = http.client.HTTPConnection("127.0.0.1", cluster.router_ddb, timeout=30)
    conn.request("POST", "/", body=json.dumps(req),
                 headers={"Content-Type": "application/x-amz-json-1.0",
                          "X-Amz-Target": "DynamoDB_20120810." + op})
    r = conn.getresponse()
    out = json.loads(r.read() or b"{}")
    conn.close()
    if r.status != 200:
        raise HttpError(out["__type"].split("#")[-1], out.get("message"))
    return out


def boto(cluster):
    # parameter_validation off: the server's own ValidationException texts are under test
    return boto3.session.Session().client(
        "dynamodb", endpoint_url=cluster.ddb_endpoint(), region_name=REGION,
        aws_access_key_id="dev", aws_secret_access_key="dev",
        config=Config(parameter_validation=False, retries={"max_attempts": 1}))


def expect(fn, code, message=None):
    """fn raises DynamoDB error `code` (boto3 ClientError or our gRPC DyneError) with exactly
    `message` (a compiled regex matches instead)."""
    try:
        fn()
    except ClientError as e:
        got, msg = e.response["Error"]["Code"], e.response["Error"].get("Message")
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    except (DyneError, HttpError) as e:
        got, msg = e.type, e.message
    else:
        raise AssertionError("expected %s, the call succeeded" % code)
    assert got == code, "expected %s, got %s: %s" % (code, got, msg)
    if isinstance(message, re.Pattern):
        assert message.fullmatch(msg), "message %r !~ %r" % (msg, message.pattern)
    elif message is not None:
        assert msg == message, "message\n  %r !=\n  %r" % (msg, message)
    return msg


def arn(table):
    return "arn:aws:dynamodb:%s:%s:table/%s" % (REGION, ACCOUNT, table)


def describe(name, cluster=None):
    """DescribeTable over raw HTTP: every member, timestamps as numbers."""
    return raw("DescribeTable", cluster, TableName=name)["Table"]


def wait_active(name, cluster=None):
    end = time.time() + 30
    while time.time() < end:
        t = describe(name, cluster)
        if t["TableStatus"] == "ACTIVE":
            return t
        time.sleep(0.05)
    raise AssertionError("table %s not ACTIVE" % name)


def wait_gone(name, cluster=None):
    end = time.time() + 30
    while time.time() < end:
        try:
            describe(name, cluster)
        except HttpError as e:
            assert e.type == RNF
            return
        time.sleep(0.05)
    raise AssertionError("table %s not deleted" % name)


def keys(pk="pk", sk=None):
    ad = [{"AttributeName": pk, "AttributeType": "S"}]
    ks = [{"AttributeName": pk, "KeyType": "HASH"}]
    if sk:
        ad.append({"AttributeName": sk, "AttributeType": "S"})
        ks.append({"AttributeName": sk, "KeyType": "RANGE"})
    return {"AttributeDefinitions": ad, "KeySchema": ks}


def create(name, cluster=None, ppr=True, **extra):
    req = dict(keys(), TableName=name)
    if ppr:
        req["BillingMode"] = "PAY_PER_REQUEST"
    else:
        req["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    req.update(extra)
    d = raw("CreateTable", cluster, **req)["TableDescription"]
    assert d["TableStatus"] == "CREATING", d
    return wait_active(name, cluster)


def update(name, cluster=None, wait=True, **kw):
    """UpdateTable's answer; with wait, returns once the controller has made the table ACTIVE
    again (the changes DynamoDB makes in the background leave it UPDATING until then)."""
    d = raw("UpdateTable", cluster, TableName=name, **kw)["TableDescription"]
    if wait:
        wait_active(name, cluster)
    return d


def gsi(name, key, pt=None, proj="ALL", **extra):
    g = {"IndexName": name, "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
         "Projection": {"ProjectionType": proj}}
    if pt:
        g["ProvisionedThroughput"] = {"ReadCapacityUnits": pt[0], "WriteCapacityUnits": pt[1]}
    g.update(extra)
    return g


def ts(x):
    """A boto3 timestamp (datetime) or a gRPC double, as seconds."""
    return x.timestamp() if isinstance(x, datetime.datetime) else x


# ---- CreateTable ----------------------------------------------------------------------------

def test_create_every_member():
    req = {
        "TableName": "Full",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "N"},
                                 {"AttributeName": "lsk", "AttributeType": "S"},
                                 {"AttributeName": "gpk", "AttributeType": "B"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                      {"AttributeName": "sk", "KeyType": "RANGE"}],
        "LocalSecondaryIndexes": [{"IndexName": "byL", "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "lsk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a", "b"]}}],
        "GlobalSecondaryIndexes": [gsi("byG", "gpk", pt=(3, 4), proj="KEYS_ONLY")],
        "ProvisionedThroughput": {"ReadCapacityUnits": 7, "WriteCapacityUnits": 8},
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        "SSESpecification": {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": "alias/app"},
        "Tags": [{"Key": "team", "Value": "storage"}, {"Key": "env", "Value": ""}],
        "TableClass": "STANDARD_INFREQUENT_ACCESS",
        "DeletionProtectionEnabled": True,
        "WarmThroughput": {"ReadUnitsPerSecond": 50},
    }
    d = raw("CreateTable", **req)["TableDescription"]
    assert d["TableStatus"] == "CREATING" and d["TableName"] == "Full"
    assert d["TableArn"] == arn("Full") and len(d["TableId"]) == 36
    assert "BillingModeSummary" not in d   # a table created PROVISIONED has none
    pt = d["ProvisionedThroughput"]
    assert (pt["ReadCapacityUnits"], pt["WriteCapacityUnits"], pt["NumberOfDecreasesToday"]) == (7, 8, 0)
    assert "LastIncreaseDateTime" not in pt and "LastDecreaseDateTime" not in pt
    assert d["WarmThroughput"] == {"ReadUnitsPerSecond": 50, "WriteUnitsPerSecond": 8,
                                   "Status": "UPDATING"}
    t = wait_active("Full")
    assert t["TableId"] == d["TableId"] and t["CreationDateTime"] == d["CreationDateTime"]
    assert t["ItemCount"] == 0 and t["TableSizeBytes"] == 0
    assert t["WarmThroughput"] == {"ReadUnitsPerSecond": 50, "WriteUnitsPerSecond": 8,
                                   "Status": "ACTIVE"}
    lsi, = t["LocalSecondaryIndexes"]
    assert lsi == {"IndexName": "byL", "KeySchema": req["LocalSecondaryIndexes"][0]["KeySchema"],
                   "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a", "b"]},
                   "IndexSizeBytes": 0, "ItemCount": 0, "IndexArn": arn("Full") + "/index/byL"}
    g, = t["GlobalSecondaryIndexes"]
    # the indexer builds it (an empty table: at once) and makes it ACTIVE; an index made by
    # CreateTable never shows Backfilling
    assert g["IndexStatus"] in ("CREATING", "ACTIVE") and "Backfilling" not in g
    assert g["IndexArn"] == arn("Full") + "/index/byG"
    assert g["ProvisionedThroughput"] == {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 3,
                                          "WriteCapacityUnits": 4}
    # the index's warm throughput shows the index's own status (whichever it has reached)
    assert g["WarmThroughput"] == {"ReadUnitsPerSecond": 3, "WriteUnitsPerSecond": 4,
                                   "Status": g["IndexStatus"]}
    assert t["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    label = t["LatestStreamLabel"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", label), label
    assert t["LatestStreamArn"] == arn("Full") + "/stream/" + label
    assert t["SSEDescription"] == {"Status": "ENABLED", "SSEType": "KMS",
                                   "KMSMasterKeyArn": "arn:aws:kms:%s:%s:alias/app" % (REGION, ACCOUNT)}
    assert t["TableClassSummary"] == {"TableClass": "STANDARD_INFREQUENT_ACCESS"}
    assert t["DeletionProtectionEnabled"] is True
    tags = ddb.list_tags_of_resource(ResourceArn=arn("Full"))["Tags"]
    assert tags == req["Tags"], tags
    # the same description over gRPC
    gd = cl.call("DescribeTable", {"TableName": "Full"})["Table"]
    assert gd["TableId"] == t["TableId"]
    assert gd["GlobalSecondaryIndexes"][0]["IndexStatus"] in ("CREATING", "ACTIVE")


def test_create_on_demand():
    d = raw("CreateTable", TableName="Ppr", BillingMode="PAY_PER_REQUEST",
            OnDemandThroughput={"MaxReadRequestUnits": 100}, **keys())["TableDescription"]
    # CreateTable's answer names the mode only; DescribeTable adds when it was set
    assert d["BillingModeSummary"] == {"BillingMode": "PAY_PER_REQUEST"}
    assert "WarmThroughput" not in d and "SSEDescription" not in d
    t = wait_active("Ppr")
    assert t["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert t["BillingModeSummary"]["LastUpdateToPayPerRequestDateTime"] == t["CreationDateTime"]
    assert t["ProvisionedThroughput"] == {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 0,
                                          "WriteCapacityUnits": 0}
    assert t["OnDemandThroughput"] == {"MaxReadRequestUnits": 100}
    assert t["WarmThroughput"] == {"ReadUnitsPerSecond": 12000, "WriteUnitsPerSecond": 4000,
                                   "Status": "ACTIVE"}
    assert t["DeletionProtectionEnabled"] is False
    for absent in ("StreamSpecification", "LatestStreamArn", "TableClassSummary", "SSEDescription",
                   "LocalSecondaryIndexes", "GlobalSecondaryIndexes"):
        assert absent not in t, absent
    assert ddb.list_tags_of_resource(ResourceArn=arn("Ppr"))["Tags"] == []
    # a stream asked off has no StreamSpecification; an empty tag list is fine at create
    t = create("PprOff", StreamSpecification={"StreamEnabled": False}, Tags=[])
    assert "StreamSpecification" not in t and "LatestStreamArn" not in t


def bad_create(name, code, message, **req):
    """CreateTable fails with exactly code/message over HTTP and over gRPC (one handler), and
    leaves nothing behind."""
    expect(lambda: raw("CreateTable", TableName=name, **req), code, message)
    expect(lambda: cl.call("CreateTable", dict(req, TableName=name)), code, message)
    expect(lambda: describe(name), RNF)


def test_create_validation():
    ppr = dict(keys(), BillingMode="PAY_PER_REQUEST")
    prov = dict(keys(), ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1})
    bad_create("c0x", V, INVALID + "Neither ReadCapacityUnits nor WriteCapacityUnits can be "
               "specified when BillingMode is PAY_PER_REQUEST",
               **dict(ppr, ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}))
    bad_create("c1x", V, INVALID + "ReadCapacityUnits and WriteCapacityUnits must both be specified "
               "when BillingMode is PROVISIONED", **keys())
    bad_create("c2x", V, "2 validation errors detected: Value '0' at "
               "'provisionedThroughput.writeCapacityUnits' failed to satisfy constraint: Member must "
               "have value greater than or equal to 1; Value '0' at "
               "'provisionedThroughput.readCapacityUnits' failed to satisfy constraint: Member must "
               "have value greater than or equal to 1",
               **dict(keys(), ProvisionedThroughput={"ReadCapacityUnits": 0, "WriteCapacityUnits": 0}))
    bad_create("c3x", V, "1 validation error detected: Value null at "
               "'provisionedThroughput.writeCapacityUnits' failed to satisfy constraint: Member must "
               "not be null", **dict(keys(), ProvisionedThroughput={"ReadCapacityUnits": 4}))
    bad_create("c4x", V, "Given value 1000000000001 for ReadCapacityUnits is out of bounds",
               **dict(keys(), ProvisionedThroughput={"ReadCapacityUnits": 1000000000001,
                                                     "WriteCapacityUnits": 1}))
    bad_create("c5x", L, "The requested ReadCapacityUnits, 40001, is above the per table maximum for "
               "the account in us-east-1. Per table maximum: 40000. " + REFER,
               **dict(keys(), ProvisionedThroughput={"ReadCapacityUnits": 40001,
                                                     "WriteCapacityUnits": 1}))
    two = {"AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                    {"AttributeName": "g", "AttributeType": "S"}],
           "KeySchema": keys()["KeySchema"]}
    bad_create("c6x", V, INVALID + "ProvisionedThroughput should not be specified for index: gix "
               "when BillingMode is PAY_PER_REQUEST", BillingMode="PAY_PER_REQUEST",
               GlobalSecondaryIndexes=[gsi("gix", "g", pt=(1, 1))], **two)
    bad_create("c7x", V, INVALID + "ProvisionedThroughput is not specified for index: gix",
               ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
               GlobalSecondaryIndexes=[gsi("gix", "g")], **two)
    bad_create("c8x", L, "The requested WriteCapacityUnits for index gix, 40002, is above the per "
               "index maximum for the account in us-east-1. Per index maximum: 40000. " + REFER,
               ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
               GlobalSecondaryIndexes=[gsi("gix", "g", pt=(1, 40002))], **two)
    bad_create("c9x", V, INVALID + "ProjectionType is INCLUDE, but NonKeyAttributes is not specified",
               BillingMode="PAY_PER_REQUEST",
               GlobalSecondaryIndexes=[gsi("gix", "g", proj="INCLUDE")], **two)
    three = {"AttributeDefinitions": two["AttributeDefinitions"] + [
        {"AttributeName": "x", "AttributeType": "N"}], "KeySchema": keys()["KeySchema"]}
    bad_create("c10x", V, INVALID + "Some AttributeDefinitions are not used. AttributeDefinitions: "
               "[pk, g, x], keys used: [pk, g]", BillingMode="PAY_PER_REQUEST",
               GlobalSecondaryIndexes=[gsi("gix", "g")], **three)
    bad_create("c11x", V, "Attribute Name is duplicated: pk", BillingMode="PAY_PER_REQUEST",
               AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                     {"AttributeName": "pk", "AttributeType": "S"}],
               KeySchema=keys()["KeySchema"])
    # streams
    bad_create("c12x", V, INVALID + "Table is being created with a stream enabled, UpdateViewType "
               "is required", StreamSpecification={"StreamEnabled": True}, **ppr)
    bad_create("c13x", V, INVALID + "Table is being created with a stream disabled, UpdateViewType "
               "should not be specified",
               StreamSpecification={"StreamEnabled": False, "StreamViewType": "KEYS_ONLY"}, **ppr)
    bad_create("c14x", V, "1 validation error detected: Value null at "
               "'streamSpecification.streamEnabled' failed to satisfy constraint: Member must not be "
               "null", StreamSpecification={"StreamViewType": "KEYS_ONLY"}, **ppr)
    bad_create("c15x", V, "1 validation error detected: Value 'ALL' at "
               "'streamSpecification.streamViewType' failed to satisfy constraint: Member must "
               "satisfy enum value set: [OLD_IMAGE, KEYS_ONLY, NEW_AND_OLD_IMAGES, NEW_IMAGE]",
               StreamSpecification={"StreamEnabled": True, "StreamViewType": "ALL"}, **ppr)
    # table class, encryption
    bad_create("c16x", V, "Invalid table-class parameter provided. Please try again with a valid "
               "table-class value: [STANDARD, STANDARD_INFREQUENT_ACCESS].", TableClass="COLD", **ppr)
    bad_create("c17x", V, INVALID + "SSEType can not be specified if Enabled is false",
               SSESpecification={"Enabled": False, "SSEType": "KMS"}, **ppr)
    bad_create("c18x", V, INVALID + "SSEType KMS is required if KMSMasterKeyId is specified",
               SSESpecification={"Enabled": True, "KMSMasterKeyId": "k1"}, **ppr)
    bad_create("c19x", V, INVALID + "SSEType AES256 is not supported",
               SSESpecification={"Enabled": True, "SSEType": "AES256"}, **ppr)
    bad_create("c20x", V, "1 validation error detected: Value 'RSA' at 'sSESpecification.sSEType' "
               "failed to satisfy constraint: Member must satisfy enum value set: [AES256, KMS]",
               SSESpecification={"SSEType": "RSA"}, **ppr)
    # on-demand and warm throughput
    bad_create("c21x", V, INVALID + "MaxReadRequestUnits for OnDemandThroughput cannot be specified "
               "when table BillingMode is PROVISIONED.",
               OnDemandThroughput={"MaxReadRequestUnits": 10}, **prov)
    bad_create("c22x", V, INVALID + "Requested MaxWriteRequestUnits for OnDemandThroughput for table "
               "is outside of valid range", OnDemandThroughput={"MaxWriteRequestUnits": -1}, **ppr)
    bad_create("c23x", L, "Subscriber limit exceeded: Requested MaxReadRequestUnits for "
               "OnDemandThroughput for table exceeds TableMaxReadCapacityUnits of the account in "
               "region us-east-1", OnDemandThroughput={"MaxReadRequestUnits": 40001}, **ppr)
    bad_create("c24x", V, INVALID + "Requested ReadUnitsPerSecond for WarmThroughput for table is "
               "lower than initial throughput for OnDemand. See: https://docs.aws.amazon.com/"
               "amazondynamodb/latest/developerguide/on-demand-capacity-mode.html"
               "#on-demand-capacity-mode-initial", WarmThroughput={"ReadUnitsPerSecond": 100}, **ppr)
    bad_create("c25x", V, INVALID + "Requested WriteUnitsPerSecond for WarmThroughput for table is "
               "lower than WriteCapacityUnits of ProvisionedThroughput",
               WarmThroughput={"WriteUnitsPerSecond": 0}, **prov)
    # tags: DynamoDB's own texts, all or nothing
    bad_create("c26x", V, "Tag Key cannot be prefixed with aws:, Key: aws:foo",
               Tags=[{"Key": "ok", "Value": "1"}, {"Key": "aws:foo", "Value": "x"}], **ppr)
    bad_create("c27x", V, "The Tag Key provided is invalid, Key: " + "k" * 129,
               Tags=[{"Key": "k" * 129, "Value": "x"}], **ppr)
    bad_create("c28x", V, "The Tag Key provided is invalid, Key: a#b",
               Tags=[{"Key": "a#b", "Value": "x"}], **ppr)
    bad_create("c29x", V, "Duplicate Tag Keys provided as input: Duplicate Tag Key found dup",
               Tags=[{"Key": "dup", "Value": "1"}, {"Key": "dup", "Value": "2"}], **ppr)
    bad_create("c30x", V, "Number of Tags exceed the current limit for the provided ResourceArn",
               Tags=[{"Key": "k%d" % i, "Value": "v"} for i in range(51)], **ppr)
    bad_create("c31x", V, "The Tag Value provided is invalid, Value: null", Tags=[{"Key": "k"}], **ppr)
    # members of later issues say so
    bad_create("c32x", "UnknownOperationException", "CreateTable ResourcePolicy is not implemented yet",
               ResourcePolicy="{}", **ppr)
    t = create("Tags50", Tags=[{"Key": "k%02d" % i, "Value": "v"} for i in range(50)])
    assert len(ddb.list_tags_of_resource(ResourceArn=t["TableArn"])["Tags"]) == 50


# ---- UpdateTable ----------------------------------------------------------------------------

def test_update_nothing_and_missing():
    create("Upd0")
    everything = ("At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, "
                  "GlobalSecondaryIndexUpdates, SSESpecification, ReplicaUpdates, "
                  "MultiAccountReplicaReady, ReplicaTransitRoleArn, MultiRegionConsistency, "
                  "DeletionProtectionEnabled, OnDemandThroughput, WarmThroughput or TableClass is "
                  "required")
    expect(lambda: update("Upd0"), V, everything)
    expect(lambda: update("Upd0", AttributeDefinitions=keys()["AttributeDefinitions"]), V, everything)
    expect(lambda: cl.call("UpdateTable", {"TableName": "Upd0"}), V, everything)
    # what the request carried leaves the list
    expect(lambda: update("Upd0", MultiRegionConsistency="EVENTUAL"), V,
           everything.replace("MultiRegionConsistency, ", ""))
    expect(lambda: update("nosuch", DeletionProtectionEnabled=True), RNF,
           "Requested resource not found: Table: nosuch not found")
    # the request is checked before the table is looked for
    expect(lambda: update("nosuch", ProvisionedThroughput={"ReadCapacityUnits": 0,
                                                           "WriteCapacityUnits": 1}), V,
           "1 validation error detected: Value '0' at 'provisionedThroughput.readCapacityUnits' "
           "failed to satisfy constraint: Member must have value greater than or equal to 1")
    expect(lambda: update("Upd0", ReplicaUpdates=[{"Create": {"RegionName": "eu-west-1"}}]),
           "UnknownOperationException", "UpdateTable ReplicaUpdates is not implemented yet")


def test_update_combinations():
    create("Combo")
    only = INVALID + "%s must be the only operation in the request"
    sse = {"Enabled": True}
    expect(lambda: update("Combo", SSESpecification=sse, DeletionProtectionEnabled=True), V,
           only % "Server-Side Encryption modification")
    expect(lambda: update("Combo", TableClass="STANDARD", DeletionProtectionEnabled=True), V,
           only % "TableClass modification")
    expect(lambda: update("Combo", BillingMode="PAY_PER_REQUEST", DeletionProtectionEnabled=True),
           V, only % "DeletionProtection modification")
    expect(lambda: update("Combo", WarmThroughput={"ReadUnitsPerSecond": 20000},
                          DeletionProtectionEnabled=False), V, only % "DeletionProtection modification")
    expect(lambda: update("Combo", WarmThroughput={"ReadUnitsPerSecond": 20000},
                          BillingMode="PAY_PER_REQUEST"), V,
           INVALID + "WarmThroughput must be the only operation in the request")
    expect(lambda: update("Combo", OnDemandThroughput={"MaxReadRequestUnits": 5},
                          StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}),
           V, INVALID + "OnDemandThroughput can only be combined with BillingMode in an UpdateTable "
           "request")
    expect(lambda: update("Combo", BillingMode="PROVISIONED",
                          ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
                          StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}),
           V, INVALID + "You cannot modify stream status while updating table IOPS")
    create_g = {"Create": dict(gsi("gi1", "pk"))}
    expect(lambda: update("Combo", ProvisionedThroughput={"ReadCapacityUnits": 1,
                                                          "WriteCapacityUnits": 1},
                          GlobalSecondaryIndexUpdates=[create_g]), V,
           INVALID + "You cannot create or delete index while updating table IOPS")
    expect(lambda: update("Combo", GlobalSecondaryIndexUpdates=[create_g, {"Delete": {"IndexName": "gi2"}}]),
           L, "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously "
           "per table")
    expect(lambda: update("Combo", GlobalSecondaryIndexUpdates=[{}]), V,
           INVALID + "One of GlobalSecondaryIndexUpdate.Update, GlobalSecondaryIndexUpdate.Create, "
           "GlobalSecondaryIndexUpdate.Delete must not be null")
    expect(lambda: update("Combo", GlobalSecondaryIndexUpdates=[
        {"Delete": {"IndexName": "gi1"}, "Update": {"IndexName": "gi1"}}]), V,
        INVALID + "Only one global secondary index action is allowed per GlobalSecondaryIndexUpdate "
        "object")
    expect(lambda: update("Combo", GlobalSecondaryIndexUpdates=[
        {"Delete": {"IndexName": "gi1"}}, {"Update": {"IndexName": "gi1"}}]), V,
        INVALID + "Only one global secondary index update per index is allowed simultaneously. "
        "Index: gi1")
    expect(lambda: update("Combo", BillingMode="PROVISIONED"), V,
           INVALID + "ProvisionedThroughput must be specified when BillingMode is PROVISIONED")
    expect(lambda: update("Combo", BillingMode="PAY_PER_REQUEST",
                          ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}),
           V, INVALID + "ProvisionedThroughput cannot be specified when BillingMode is PAY_PER_REQUEST")
    expect(lambda: update("Combo", BillingMode="FREE"), V,
           "1 validation error detected: Value 'FREE' at 'billingMode' failed to satisfy "
           "constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]")
    # nothing of these was applied
    t = describe("Combo")
    assert "SSEDescription" not in t and not t["DeletionProtectionEnabled"] and "StreamSpecification" not in t


def decrease_message(pt, now):
    def long(t):
        d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
        h = d.hour % 12 or 12
        return "%s, %s %d, %d at %d:%02d:%02d %s Coordinated Universal Time" % (
            d.strftime("%A"), d.strftime("%B"), d.day, d.year, h, d.minute, d.second,
            "AM" if d.hour < 12 else "PM")
    last = pt["LastDecreaseDateTime"]
    midnight = (int(now) // 86400 + 1) * 86400
    return ("Subscriber limit exceeded: Provisioned throughput decreases are limited within a given "
            "UTC day. After the first 4 decreases, each subsequent decrease in the same UTC day can "
            "be performed at most once every 3600 seconds. Number of decreases today: %d. Last "
            "decrease at %s. Next decrease can be made at %s" % (
                pt["NumberOfDecreasesToday"], long(last), long(min(last + 3600, midnight))))


def test_update_provisioned_throughput():
    create("Thru", ppr=False)
    pt = lambda r, w: {"ReadCapacityUnits": r, "WriteCapacityUnits": w}
    expect(lambda: update("Thru", ProvisionedThroughput=pt(5, 5)), V,
           "The provisioned throughput for the table will not change. The requested value equals "
           "the current value. Current ReadCapacityUnits provisioned for the table: 5. Requested "
           "ReadCapacityUnits: 5. Current WriteCapacityUnits provisioned for the table: 5. "
           "Requested WriteCapacityUnits: 5. " + REFER)
    expect(lambda: update("Thru", BillingMode="PROVISIONED", ProvisionedThroughput=pt(5, 5)), V,
           re.compile(r"The provisioned throughput for the table will not change\. .*"))
    t0 = time.time()
    d = update("Thru", ProvisionedThroughput=pt(10, 12))
    # DynamoDB's answer: UPDATING with the old units and the new increase time
    assert d["TableStatus"] == "UPDATING"
    assert (d["ProvisionedThroughput"]["ReadCapacityUnits"],
            d["ProvisionedThroughput"]["WriteCapacityUnits"]) == (5, 5)
    assert abs(ts(d["ProvisionedThroughput"]["LastIncreaseDateTime"]) - t0) < 5
    t = describe("Thru")
    assert t["TableStatus"] == "ACTIVE"
    assert (t["ProvisionedThroughput"]["ReadCapacityUnits"],
            t["ProvisionedThroughput"]["WriteCapacityUnits"]) == (10, 12)
    assert t["WarmThroughput"]["ReadUnitsPerSecond"] == 10   # follows the highest units
    for i, units in enumerate([(9, 12), (9, 11), (8, 11), (8, 10)]):
        update("Thru", ProvisionedThroughput=pt(*units))
        g = cl.call("DescribeTable", {"TableName": "Thru"})["Table"]["ProvisionedThroughput"]
        assert g["NumberOfDecreasesToday"] == i + 1 and (g["ReadCapacityUnits"],
                                                         g["WriteCapacityUnits"]) == units, g
    # the fifth decrease of the day: 4 are free, then one an hour
    now = time.time()
    msg = expect(lambda: cl.call("UpdateTable", {"TableName": "Thru",
                                                 "ProvisionedThroughput": pt(7, 10)}), L)
    assert msg == decrease_message(g, now), msg
    expect(lambda: update("Thru", ProvisionedThroughput=pt(9, 9)), L)   # any member down is one
    d = update("Thru", ProvisionedThroughput=pt(9, 10))                  # increases still go
    assert d["ProvisionedThroughput"]["NumberOfDecreasesToday"] == 4
    t = describe("Thru")["ProvisionedThroughput"]
    assert (t["ReadCapacityUnits"], t["WriteCapacityUnits"], t["NumberOfDecreasesToday"]) == (9, 10, 4)
    assert ts(t["LastIncreaseDateTime"]) > ts(t["LastDecreaseDateTime"])
    expect(lambda: update("Thru", ProvisionedThroughput=pt(40001, 1)), L,
           "The requested ReadCapacityUnits, 40001, is above the per table maximum for the account "
           "in us-east-1. Per table maximum: 40000. " + REFER)
    create("ThruPpr")
    expect(lambda: update("ThruPpr", ProvisionedThroughput=pt(1, 1)), V,
           INVALID + "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when "
           "BillingMode is PAY_PER_REQUEST")


def test_update_billing_mode():
    create("Bill", ppr=False, AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                    {"AttributeName": "g", "AttributeType": "S"}],
           GlobalSecondaryIndexes=[gsi("gi1", "g", pt=(3, 3))])
    d = update("Bill", BillingMode="PAY_PER_REQUEST")
    assert d["TableStatus"] == "UPDATING" and d["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    t = describe("Bill")
    assert t["TableStatus"] == "ACTIVE"
    switched = ts(t["BillingModeSummary"]["LastUpdateToPayPerRequestDateTime"])
    assert abs(switched - time.time()) < 5
    assert (t["ProvisionedThroughput"]["ReadCapacityUnits"],
            t["ProvisionedThroughput"]["WriteCapacityUnits"]) == (0, 0)
    g = t["GlobalSecondaryIndexes"][0]
    assert g["ProvisionedThroughput"]["ReadCapacityUnits"] == 0
    assert g["WarmThroughput"]["ReadUnitsPerSecond"] == 12000
    assert t["WarmThroughput"]["ReadUnitsPerSecond"] == 12000
    # a re-send of the current mode is a no-op that still answers UPDATING
    assert update("Bill", BillingMode="PAY_PER_REQUEST")["TableStatus"] == "UPDATING"
    pt = {"ReadCapacityUnits": 2, "WriteCapacityUnits": 2}
    expect(lambda: update("Bill", BillingMode="PROVISIONED", ProvisionedThroughput=pt), V,
           INVALID + "ProvisionedThroughput must be specified for index: gi1")
    expect(lambda: update("Bill", GlobalSecondaryIndexUpdates=[
        {"Update": {"IndexName": "gi1", "ProvisionedThroughput": pt}}]), V,
        INVALID + "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified for index: gi1 "
        "when BillingMode is PAY_PER_REQUEST")
    expect(lambda: update("Bill", GlobalSecondaryIndexUpdates=[{"Update": {"IndexName": "gi1"}}]), V,
           INVALID + "The only Updates for index: gi1 when TableThroughputMode is PAY_PER_REQUEST "
           "can be to OnDemandThroughput, WarmThroughput")
    expect(lambda: update("Bill", GlobalSecondaryIndexUpdates=[
        {"Update": {"IndexName": "gi1", "WarmThroughput": {}}}]), V,
        INVALID + "WarmThroughput must have at least one of ReadUnitsPerSecond or WriteUnitsPerSecond "
        "specified for index: gi1")
    # on-demand maxima: with the mode or alone, -1 removes one
    update("Bill", BillingMode="PAY_PER_REQUEST",
           OnDemandThroughput={"MaxReadRequestUnits": 300, "MaxWriteRequestUnits": 200})
    assert describe("Bill")["OnDemandThroughput"] == {
        "MaxReadRequestUnits": 300, "MaxWriteRequestUnits": 200}
    d = update("Bill", OnDemandThroughput={"MaxReadRequestUnits": -1})
    assert d["TableStatus"] == "ACTIVE" and d["OnDemandThroughput"] == {"MaxWriteRequestUnits": 200}
    update("Bill", GlobalSecondaryIndexUpdates=[
        {"Update": {"IndexName": "gi1", "OnDemandThroughput": {"MaxReadRequestUnits": 50}}}])
    d = update("Bill", BillingMode="PROVISIONED", ProvisionedThroughput=pt,
               GlobalSecondaryIndexUpdates=[{"Update": {"IndexName": "gi1", "ProvisionedThroughput": {
                   "ReadCapacityUnits": 4, "WriteCapacityUnits": 5}}}])
    assert d["TableStatus"] == "UPDATING"
    t = describe("Bill")
    assert t["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert ts(t["BillingModeSummary"]["LastUpdateToPayPerRequestDateTime"]) == switched
    pt_t = t["ProvisionedThroughput"]
    assert (pt_t["ReadCapacityUnits"], pt_t["WriteCapacityUnits"]) == (2, 2)
    assert "LastIncreaseDateTime" not in pt_t   # a mode switch is not an increase
    g = t["GlobalSecondaryIndexes"][0]
    assert (g["ProvisionedThroughput"]["ReadCapacityUnits"],
            g["ProvisionedThroughput"]["WriteCapacityUnits"]) == (4, 5)
    assert "OnDemandThroughput" not in t and "OnDemandThroughput" not in g
    expect(lambda: update("Bill", OnDemandThroughput={"MaxWriteRequestUnits": 10}), V,
           INVALID + "MaxWriteRequestUnits for OnDemandThroughput cannot be specified when the table "
           "BillingMode is PROVISIONED")
    expect(lambda: update("Bill", GlobalSecondaryIndexUpdates=[
        {"Update": {"IndexName": "gi1", "ProvisionedThroughput": {"ReadCapacityUnits": 4,
                                                                 "WriteCapacityUnits": 5}}}]), V,
        "The provisioned throughput for the index gi1 will not change. The requested value equals "
        "the current value. Current ReadCapacityUnits provisioned for the index: 4. Requested "
        "ReadCapacityUnits: 4. Current WriteCapacityUnits provisioned for the index: 5. Requested "
        "WriteCapacityUnits: 5. " + REFER)
    d = update("Bill", GlobalSecondaryIndexUpdates=[
        {"Update": {"IndexName": "gi1", "ProvisionedThroughput": {"ReadCapacityUnits": 4,
                                                                 "WriteCapacityUnits": 1}}}])
    g = describe("Bill")["GlobalSecondaryIndexes"][0]
    assert g["ProvisionedThroughput"]["NumberOfDecreasesToday"] == 1
    assert g["ProvisionedThroughput"]["WriteCapacityUnits"] == 1


def test_update_stream():
    ddb.create_table(TableName="Strm", BillingMode="PAY_PER_REQUEST", **keys())
    wait_active("Strm")
    # boto3 knows these members: its own calls, its own parsing
    d = ddb.update_table(TableName="Strm", StreamSpecification={
        "StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})["TableDescription"]
    assert d["TableStatus"] == "UPDATING"
    wait_active("Strm")
    assert d["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    t = describe("Strm")
    first = t["LatestStreamArn"]
    assert first == arn("Strm") + "/stream/" + t["LatestStreamLabel"]
    has = "Table already has an enabled stream: TableName: Strm"
    expect(lambda: update("Strm", StreamSpecification={"StreamEnabled": True,
                                                       "StreamViewType": "NEW_IMAGE"}), V, has)
    expect(lambda: update("Strm", StreamSpecification={"StreamEnabled": True,
                                                       "StreamViewType": "KEYS_ONLY"}), V, has)
    expect(lambda: update("Strm", StreamSpecification={"StreamEnabled": True}), V,
           INVALID + "If stream is being enabled then UpdateViewType is required")
    expect(lambda: update("Strm", StreamSpecification={"StreamEnabled": False,
                                                       "StreamViewType": "NEW_IMAGE"}), V,
           INVALID + "If stream is being disabled, then UpdateViewType must not be specified")
    update("Strm", StreamSpecification={"StreamEnabled": False})
    t = describe("Strm")
    # off: no StreamSpecification, but the last stream stays described
    assert "StreamSpecification" not in t and t["LatestStreamArn"] == first
    expect(lambda: update("Strm", StreamSpecification={"StreamEnabled": False}), V,
           "Table has no stream to disable: TableName: Strm")
    time.sleep(0.002)
    update("Strm", StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    t = describe("Strm")
    assert t["LatestStreamArn"] != first and t["StreamSpecification"]["StreamViewType"] == "KEYS_ONLY"


def test_update_table_class():
    create("Cls")
    # STANDARD on a table that never set a class: a free no-op
    assert update("Cls", TableClass="STANDARD")["TableStatus"] == "UPDATING"
    assert "TableClassSummary" not in describe("Cls")
    d = ddb.update_table(TableName="Cls", TableClass="STANDARD_INFREQUENT_ACCESS")["TableDescription"]
    assert d["TableStatus"] == "UPDATING" and "TableClassSummary" not in d   # the old class
    wait_active("Cls")
    t = describe("Cls")
    assert t["TableClassSummary"]["TableClass"] == "STANDARD_INFREQUENT_ACCESS"
    assert abs(ts(t["TableClassSummary"]["LastUpdateDateTime"]) - time.time()) < 5
    update("Cls", TableClass="STANDARD_INFREQUENT_ACCESS")   # same class: no change, no quota
    update("Cls", TableClass="STANDARD")
    spent = "Subscriber limit exceeded: Updates to TableClass are limited to 2 times in 30 day(s)."
    expect(lambda: update("Cls", TableClass="STANDARD_INFREQUENT_ACCESS"), L, spent)
    expect(lambda: update("Cls", TableClass="STANDARD"), L, spent)
    expect(lambda: update("Cls", TableClass="GLACIER"), V,
           "Invalid table-class parameter provided. Please try again with a valid table-class "
           "value: [STANDARD, STANDARD_INFREQUENT_ACCESS].")
    assert describe("Cls")["TableClassSummary"]["TableClass"] == "STANDARD"


def test_update_sse_and_warm():
    create("Enc")
    expect(lambda: update("Enc", SSESpecification={"Enabled": False}), V,
           INVALID + "Table is already encrypted by default")
    d = update("Enc", SSESpecification={"Enabled": True})
    assert d["TableStatus"] == "ACTIVE" and d["SSEDescription"]["SSEType"] == "KMS"
    key = "arn:aws:kms:%s:%s:key/1234abcd-12ab-34cd-56ef-1234567890ab" % (REGION, ACCOUNT)
    update("Enc", SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key})
    assert describe("Enc")["SSEDescription"]["KMSMasterKeyArn"] == key
    expect(lambda: update("Enc", SSESpecification={"Enabled": True, "SSEType": "KMS",
                                                   "KMSMasterKeyId": key}), V,
           INVALID + "Table is already encrypted with given KMSMasterKeyId. Use KMSMasterKeyId "
           "parameter if you want to change Master Key")
    update("Enc", SSESpecification={"Enabled": False})
    assert "SSEDescription" not in describe("Enc")
    d = update("Enc", WarmThroughput={"ReadUnitsPerSecond": 13000})
    assert d["TableStatus"] == "ACTIVE"
    assert d["WarmThroughput"] == {"ReadUnitsPerSecond": 13000, "WriteUnitsPerSecond": 4000,
                                   "Status": "ACTIVE"}
    expect(lambda: update("Enc", WarmThroughput={"WriteUnitsPerSecond": 3999}), V,
           INVALID + "Requested WriteUnitsPerSecond for WarmThroughput for table is lower than "
           "current WarmThroughput, decreasing WarmThroughput is not supported")


def wait_indexes_active(table, timeout=60):
    wait_for(lambda: all(g["IndexStatus"] == "ACTIVE"
                         for g in describe(table).get("GlobalSecondaryIndexes", [])),
             timeout, "every index of %s ACTIVE" % table)


def test_update_indexes():
    base = [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "S"}, {"AttributeName": "l", "AttributeType": "S"}]
    create("Idx", ppr=False, AttributeDefinitions=base,
           KeySchema=keys(sk="sk")["KeySchema"],
           LocalSecondaryIndexes=[{"IndexName": "li1", "KeySchema": [
               {"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "l", "KeyType": "RANGE"}],
               "Projection": {"ProjectionType": "KEYS_ONLY"}}],
           GlobalSecondaryIndexes=[gsi("gi1", "g", pt=(2, 2))])
    gup = lambda *u: update("Idx", GlobalSecondaryIndexUpdates=list(u))
    pt = {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}
    expect(lambda: gup({"Update": {"IndexName": "ghost", "ProvisionedThroughput": pt}}), RNF,
           "Requested resource not found: Index ghost for table Idx")
    expect(lambda: gup({"Delete": {"IndexName": "ghost"}}), RNF,
           "Requested resource not found: Index ghost for table Idx")
    expect(lambda: gup({"Update": {"IndexName": "li1", "ProvisionedThroughput": pt}}), V,
           "Cannot update an index that is not a GlobalSecondaryIndex: li1")
    expect(lambda: gup({"Create": gsi("li1", "g", pt=(1, 1))}), V,
           "Attempting to create an index which already exists")
    expect(lambda: gup({"Create": gsi("gi2", "n", pt=(1, 1))}), V,
           INVALID + "AttributeDefinitions is not specified for index: gi2")
    new_attr = [{"AttributeName": "n", "AttributeType": "N"}]
    expect(lambda: update("Idx", AttributeDefinitions=new_attr,
                          GlobalSecondaryIndexUpdates=[{"Create": gsi("gi2", "n")}]), V,
           INVALID + "ProvisionedThroughput must be specified for index: gi2")
    expect(lambda: update("Idx", AttributeDefinitions=new_attr,
                          GlobalSecondaryIndexUpdates=[{"Create": gsi("gi2", "m", pt=(1, 1))}]), V,
           INVALID + "Some index key attributes are not defined in AttributeDefinitions. Keys: [m], "
           "AttributeDefinitions: [n]")
    wait_indexes_active("Idx")
    # the indexer held back: the new index stays CREATING, and DynamoDB's rules for a table
    # with an index being built apply
    C.procs.pop("indexer").stop()
    d = update("Idx", AttributeDefinitions=new_attr,
               GlobalSecondaryIndexUpdates=[{"Create": gsi("gi2", "n", pt=(1, 1))}])
    assert d["TableStatus"] == "UPDATING"
    g2 = [g for g in d["GlobalSecondaryIndexes"] if g["IndexName"] == "gi2"][0]
    assert g2["IndexStatus"] == "CREATING" and g2["Backfilling"] is False
    assert g2["IndexArn"] == arn("Idx") + "/index/gi2"
    t = describe("Idx")
    assert t["TableStatus"] == "ACTIVE"
    assert {"AttributeName": "n", "AttributeType": "N"} in t["AttributeDefinitions"]
    assert [g["IndexName"] for g in t["GlobalSecondaryIndexes"]] == ["gi1", "gi2"]
    one_at_a_time = "Subscriber limit exceeded: Only 1 online index can be created or deleted " \
                    "simultaneously per table"
    expect(lambda: update("Idx", AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "S"}],
                          GlobalSecondaryIndexUpdates=[{"Create": gsi("gi3", "g", pt=(1, 1))}]),
           L, one_at_a_time)
    expect(lambda: gup({"Delete": {"IndexName": "gi1"}}), L, one_at_a_time)
    expect(lambda: ddb.delete_table(TableName="Idx"), INUSE,
           "Attempt to change a resource which is still in use: Cannot delete table while "
           "indexes are being created, updated, or deleted.")
    # the index being built may itself be deleted during its backfill (DynamoDB's rule)
    d = gup({"Delete": {"IndexName": "gi2"}})
    assert [(g["IndexName"], g["IndexStatus"]) for g in d["GlobalSecondaryIndexes"]] == [
        ("gi1", "ACTIVE"), ("gi2", "DELETING")]
    C.start_indexer()
    t = describe("Idx")
    assert [g["IndexName"] for g in t["GlobalSecondaryIndexes"]] == ["gi1"]
    # the definitions only the deleted index used go with it
    assert [a["AttributeName"] for a in t["AttributeDefinitions"]] == ["pk", "sk", "g", "l"]
    # 20 GSIs at most: ValidationException at CreateTable, LimitExceededException after
    defs = [{"AttributeName": "pk", "AttributeType": "S"}] + [
        {"AttributeName": "a%d" % i, "AttributeType": "S"} for i in range(21)]
    bad_create("Many21", V, INVALID + "GlobalSecondaryIndex count exceeds the per-table limit of 20",
               BillingMode="PAY_PER_REQUEST", AttributeDefinitions=defs,
               KeySchema=keys()["KeySchema"],
               GlobalSecondaryIndexes=[gsi("ix%d" % i, "a%d" % i) for i in range(21)])
    create("Many", AttributeDefinitions=defs[:21], KeySchema=keys()["KeySchema"],
           GlobalSecondaryIndexes=[gsi("ix%d" % i, "a%d" % i) for i in range(20)])
    wait_indexes_active("Many")
    expect(lambda: update("Many", AttributeDefinitions=defs[21:],
                          GlobalSecondaryIndexUpdates=[{"Create": gsi("ix20", "a20")}]), L,
           "Subscriber limit exceeded: Number of global secondary indexes exceeds per-table limit "
           "of 20")


def test_deletion_protection():
    create("Guard")
    d = update("Guard", DeletionProtectionEnabled=True)
    assert d["TableStatus"] == "ACTIVE" and d["DeletionProtectionEnabled"] is True
    protected = ("Resource cannot be deleted as it is currently protected against deletion. "
                 "Disable deletion protection first.")
    expect(lambda: ddb.delete_table(TableName="Guard"), V, protected)
    expect(lambda: cl.call("DeleteTable", {"TableName": "Guard"}), V, protected)
    # one change per 15 s; the text names when the next may come
    msg = expect(lambda: update("Guard", DeletionProtectionEnabled=False), "ThrottlingException",
                 re.compile(r"Deletion protection setting for table Guard modified within the "
                            r"previous 15000 milliseconds\. Please try again after "
                            r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})"))
    after = datetime.datetime.strptime(msg[-23:], "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    time.sleep(max(0.0, after - time.time()) + 0.3)
    assert update("Guard", DeletionProtectionEnabled=False)["DeletionProtectionEnabled"] is False
    assert ddb.delete_table(TableName="Guard")["TableDescription"]["TableStatus"] == "DELETING"
    wait_gone("Guard")


def test_deleted_tables():
    # a table being deleted refuses changes the way DynamoDB words it
    create("Busy", Tags=[{"Key": "a", "Value": "b"}])
    ddb.delete_table(TableName="Busy")
    wait_gone("Busy")
    expect(lambda: update("Busy", DeletionProtectionEnabled=True), RNF,
           "Requested resource not found: Table: Busy not found")
    # the tags went with it: a new table of that name starts with none
    create("Busy")
    assert ddb.list_tags_of_resource(ResourceArn=arn("Busy"))["Tags"] == []


def test_lifecycle_waits_for_controller():
    # with the controller away a table stays where the router left it: CREATING, UPDATING and
    # DELETING are real states, and the changes DynamoDB refuses meanwhile are refused
    busy = "ResourceInUseException"
    create("Life")
    C.procs.pop("controller").stop()
    try:
        d = update("Life", BillingMode="PROVISIONED",
                   ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
                   wait=False)
        assert d["TableStatus"] == "UPDATING", d
        assert describe("Life")["TableStatus"] == "UPDATING"
        expect(lambda: update("Life", DeletionProtectionEnabled=True, wait=False), busy,
               "Attempt to change a resource which is still in use: Table: Life is in the "
               "process of being updated.")
        # items are served while UPDATING, as DynamoDB does
        cl.call("PutItem", {"TableName": "Life", "Item": {"pk": {"S": "a"}}})
        d = raw("CreateTable", None, TableName="Life2", BillingMode="PAY_PER_REQUEST", **keys())
        assert d["TableDescription"]["TableStatus"] == "CREATING"
        time.sleep(0.5)
        assert describe("Life2")["TableStatus"] == "CREATING"
        expect(lambda: cl.call("PutItem", {"TableName": "Life2", "Item": {"pk": {"S": "a"}}}),
               RNF, "Requested resource not found")
        expect(lambda: raw("DeleteTable", None, TableName="Life2"), busy,
               "Attempt to change a resource which is still in use: Table is being created: Life2")
    finally:
        C.start_controller()
    wait_active("Life")
    wait_active("Life2")
    assert describe("Life")["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert cl.call("GetItem", {"TableName": "Life", "Key": {"pk": {"S": "a"}}})["Item"]


# ---- tags ------------------------------------------------------------------------------------

def test_tags():
    create("Tagged")
    a = arn("Tagged")
    assert ddb.list_tags_of_resource(ResourceArn=a)["Tags"] == []
    ddb.tag_resource(ResourceArn=a, Tags=[{"Key": "b", "Value": "1"}, {"Key": "a", "Value": "2"}])
    ddb.tag_resource(ResourceArn=a, Tags=[{"Key": "b", "Value": "3"}, {"Key": "ключ", "Value": "café"},
                                          {"Key": "k:/=+-@._ x", "Value": ""}])
    tags = ddb.list_tags_of_resource(ResourceArn=a)["Tags"]
    assert tags == [{"Key": "b", "Value": "3"}, {"Key": "a", "Value": "2"},
                    {"Key": "ключ", "Value": "café"}, {"Key": "k:/=+-@._ x", "Value": ""}], tags
    ddb.untag_resource(ResourceArn=a, TagKeys=["a", "absent"])
    assert [t["Key"] for t in ddb.list_tags_of_resource(ResourceArn=a)["Tags"]] == [
        "b", "ключ", "k:/=+-@._ x"]
    # the same through gRPC
    cl.call("TagResource", {"ResourceArn": a, "Tags": [{"Key": "g", "Value": "rpc"}]})
    got = cl.call("ListTagsOfResource", {"ResourceArn": a})["Tags"]
    assert got[-1] == {"Key": "g", "Value": "rpc"} and len(got) == 4
    ok_key, ok_value = "k" * 128, "v" * 256
    ddb.tag_resource(ResourceArn=a, Tags=[{"Key": ok_key, "Value": ok_value}])
    # validation: all or nothing
    tag = lambda tags: ddb.tag_resource(ResourceArn=a, Tags=tags)
    expect(lambda: tag([]), V, "Atleast one Tag needs to be provided as Input.")
    expect(lambda: ddb.untag_resource(ResourceArn=a, TagKeys=[]), V,
           "Atleast one Tag Key needs to be provided as Input.")
    expect(lambda: tag([{"Key": "fine", "Value": "x"}, {"Key": "k" * 129, "Value": "x"}]), V,
           "The Tag Key provided is invalid, Key: " + "k" * 129)
    expect(lambda: tag([{"Key": "x", "Value": "v" * 257}]), V,
           "The Tag Value provided is invalid, Value: " + "v" * 257)
    expect(lambda: tag([{"Key": "", "Value": "x"}]), V, "The Tag Key provided is invalid, Key: ")
    expect(lambda: tag([{"Key": "x", "Value": "100%"}]), V,
           "The Tag Value provided is invalid, Value: 100%")
    expect(lambda: tag([{"Key": "\U0001f511", "Value": "x"}]), V,
           "The Tag Key provided is invalid, Key: \U0001f511")
    expect(lambda: tag([{"Key": "AWS:cost", "Value": "x"}]), V,
           "Tag Key cannot be prefixed with aws:, Key: AWS:cost")
    expect(lambda: tag([{"Key": "d", "Value": "1"}, {"Key": "d", "Value": "2"}]), V,
           "Duplicate Tag Keys provided as input: Duplicate Tag Key found d")
    assert "fine" not in [t["Key"] for t in ddb.list_tags_of_resource(ResourceArn=a)["Tags"]]
    # 50 tags after the merge; upserts of present keys are fine at 50
    have = len(ddb.list_tags_of_resource(ResourceArn=a)["Tags"])
    tag([{"Key": "f%02d" % i, "Value": "v"} for i in range(50 - have)])
    expect(lambda: tag([{"Key": "one-more", "Value": "v"}]), V,
           "Number of Tags exceed the current limit for the provided ResourceArn")
    tag([{"Key": "f00", "Value": "changed"}])
    expect(lambda: ddb.untag_resource(ResourceArn=a, TagKeys=["k%d" % i for i in range(51)]), V,
           "Number of Tags exceed the current limit for the provided ResourceArn")
    assert len(ddb.list_tags_of_resource(ResourceArn=a)["Tags"]) == 50


def test_tag_resource_arns():
    create("ArnT")
    for op, extra in (("tag_resource", {"Tags": [{"Key": "k", "Value": "v"}]}),
                      ("untag_resource", {"TagKeys": ["k"]}), ("list_tags_of_resource", {})):
        call = lambda r: getattr(ddb, op)(ResourceArn=r, **extra)
        expect(lambda: call("ArnT"), V, INVALID + "ARNs must start with 'arn:': ArnT")
        expect(lambda: call("arn:aws:s3:::bucket"), V,
               INVALID + "Provided Arn is not a DynamoDB resource arn: arn:aws:s3:::bucket")
        other = "arn:aws:dynamodb:eu-west-1:%s:table/ArnT" % ACCOUNT
        expect(lambda: call(other), V, "Invalid TableArn: Invalid ResourceArn provided as input " + other)
        expect(lambda: call("arn:aws:dynamodb:%s:999999999999:table/ArnT" % REGION),
               "AccessDeniedException", "Access is denied")
        index = arn("ArnT") + "/index/gi1"
        expect(lambda: call(index), V, INVALID + "Invalid resource arn provided, only table or stream "
               "is accepted. Provided resource arn: " + index)
        for missing in (arn("NoSuchTable"), arn("ArnT") + "/stream/2026-01-01T00:00:00.000"):
            expect(lambda: call(missing), RNF,
                   "Requested resource not found: ResourceArn: %s not found" % missing)
    expect(lambda: cl.call("ListTagsOfResource", {}), V,
           "1 validation error detected: Value null at 'resourceArn' failed to satisfy constraint: "
           "Member must not be null")


# ---- DescribeLimits, DescribeEndpoints ------------------------------------------------------

def test_limits_and_endpoints():
    assert {k: v for k, v in ddb.describe_limits().items() if k != "ResponseMetadata"} == {
        "AccountMaxReadCapacityUnits": 80000, "AccountMaxWriteCapacityUnits": 80000,
        "TableMaxReadCapacityUnits": 40000, "TableMaxWriteCapacityUnits": 40000}
    assert cl.call("DescribeLimits")["TableMaxReadCapacityUnits"] == 40000
    eps = ddb.describe_endpoints()["Endpoints"]
    assert eps == [{"Address": "127.0.0.1:%d" % C.router_ddb, "CachePeriodInMinutes": 1440}], eps
    assert cl.call("DescribeEndpoints")["Endpoints"] == [
        {"Address": "127.0.0.1:%d" % C.router_ddb, "CachePeriodInMinutes": 1440}]


def test_account_quotas():
    """A second cluster with 3 tables and 100 RCU/WCU for the whole account."""
    q = Cluster(router_args=ROUTER_ARGS + ["--max-tables=3", "--account-max-capacity=100",
                                           "--endpoint=dyne.example:8000"]).start()
    try:
        c = boto(q)
        assert c.describe_limits()["AccountMaxReadCapacityUnits"] == 100
        assert c.describe_endpoints()["Endpoints"][0]["Address"] == "dyne.example:8000"
        prov = lambda r, w: {"ReadCapacityUnits": r, "WriteCapacityUnits": w}
        create("Qa1", q, ppr=False, ProvisionedThroughput=prov(60, 10))
        expect(lambda: c.create_table(TableName="Qa2", ProvisionedThroughput=prov(50, 1), **keys()),
               L, "This request would have caused the ReadCapacityUnits limit to be exceeded for the "
               "account in us-east-1. Current ReadCapacityUnits reserved by the account: 60. Limit: "
               "100. Requested: 50. " + REFER)
        # an index's units count too
        expect(lambda: c.create_table(
            TableName="Qa2", ProvisionedThroughput=prov(1, 80),
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "g", "AttributeType": "S"}],
            KeySchema=keys()["KeySchema"], GlobalSecondaryIndexes=[gsi("gix", "g", pt=(1, 20))]),
            L, re.compile(r"This request would have caused the WriteCapacityUnits limit .* "
                          r"Current WriteCapacityUnits reserved by the account: 10\. Limit: 100\. "
                          r"Requested: 100\. .*"))
        create("Qa2", q, ppr=False, ProvisionedThroughput=prov(40, 40))
        expect(lambda: update("Qa1", q, ProvisionedThroughput=prov(61, 10)), L,
               "This request would have caused the ReadCapacityUnits limit to be exceeded for the "
               "account in us-east-1. Current ReadCapacityUnits reserved by the account: 40. Limit: "
               "100. Requested: 61. " + REFER)
        update("Qa1", q, BillingMode="PAY_PER_REQUEST")   # on-demand reserves nothing
        update("Qa2", q, ProvisionedThroughput=prov(100, 40))
        create("Qa3", q)
        expect(lambda: c.create_table(TableName="Qa4", BillingMode="PAY_PER_REQUEST", **keys()), L,
               "Subscriber limit exceeded: There is a limit of 3 tables per subscriber")
        expect(lambda: c.create_table(TableName="Qa3", BillingMode="PAY_PER_REQUEST", **keys()),
               INUSE, "Table already exists: Qa3")
        c.delete_table(TableName="Qa3")
        wait_gone("Qa3", q)
        create("Qa4", q)
    finally:
        q.stop()


def main():
    global C, ddb, cl
    C = Cluster(router_args=ROUTER_ARGS).start()
    try:
        ddb = boto(C)
        cl = C.client()
        return run_tests([
            ("CreateTable with every member", test_create_every_member),
            ("CreateTable on demand", test_create_on_demand),
            ("CreateTable validation", test_create_validation),
            ("UpdateTable: nothing to update, missing table", test_update_nothing_and_missing),
            ("UpdateTable: members that travel alone", test_update_combinations),
            ("UpdateTable: provisioned throughput and decreases", test_update_provisioned_throughput),
            ("UpdateTable: billing mode and on-demand", test_update_billing_mode),
            ("UpdateTable: streams", test_update_stream),
            ("UpdateTable: table class", test_update_table_class),
            ("UpdateTable: encryption and warm throughput", test_update_sse_and_warm),
            ("UpdateTable: global secondary indexes", test_update_indexes),
            ("deletion protection", test_deletion_protection),
            ("deleted tables", test_deleted_tables),
            ("lifecycle states wait for the controller", test_lifecycle_waits_for_controller),
            ("tags", test_tags),
            ("tag resource ARNs", test_tag_resource_arns),
            ("DescribeLimits and DescribeEndpoints", test_limits_and_endpoints),
            ("account quotas (second cluster)", test_account_quotas),
        ])
    finally:
        for p in C.procs.values():
            sys.stderr.write("---- %s log tail\n%s\n" % (p.name, p.tail(15)))
        C.stop()


if __name__ == "__main__":
    sys.exit(main())
