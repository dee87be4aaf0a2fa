"""The first slice end to end: a Python grpcio client (stubs generated from our protos at test
time) drives real etcd + storage + router processes. Covers the table API, PutItem/GetItem/
DeleteItem, and bad input answered with DynamoDB's error types and messages."""
import os
import time
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
import grpc  # noqa: E402
from dyne_harness import Cluster, DyneError, run_tests, stubs, wait_active  # noqa: E402

C = None
cl = None


def expect_error(fn, etype, message=None, code=None):
    try:
        fn()
    except DyneError as e:
        assert e.type == etype, "expected %s, got %s: %s" % (etype, e.type, e.message)
        if message is not None:
            assert e.message == message, "message %r != expected %r" % (e.message, message)
        if code is not None:
            assert e.code == code, "code %s != %s" % (e.code, code)
        return e
    raise AssertionError("expected %s, call succeeded" % etype)


def create(name, pk=("pk", "S"), sk=None, **extra):
    req = {"TableName": name,
           "AttributeDefinitions": [{"AttributeName": pk[0], "AttributeType": pk[1]}],
           "KeySchema": [{"AttributeName": pk[0], "KeyType": "HASH"}],
           "BillingMode": "PAY_PER_REQUEST"}
    if sk:
        req["AttributeDefinitions"].append({"AttributeName": sk[0], "AttributeType": sk[1]})
        req["KeySchema"].append({"AttributeName": sk[0], "KeyType": "RANGE"})
    req.update(extra)
    out = cl.call("CreateTable", req)["TableDescription"]
    wait_active(cl, name)
    return out


def test_health():
    s = stubs()
    h = s.health_grpc.HealthStub(cl.channel)
    r = h.Check(s.health.HealthCheckRequest(service=""), timeout=5)
    assert r.status == s.health.HealthCheckResponse.SERVING


def test_create_describe():
    d = cl.call("CreateTable", {
        "TableName": "Music",
        "AttributeDefinitions": [{"AttributeName": "Artist", "AttributeType": "S"},
                                 {"AttributeName": "Song", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "Artist", "KeyType": "HASH"},
                      {"AttributeName": "Song", "KeyType": "RANGE"}],
        "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 7},
        "Tags": [{"Key": "team", "Value": "a"}]})["TableDescription"]
    assert d["TableName"] == "Music"
    assert d["TableStatus"] == "CREATING"
    assert d["TableArn"] == "arn:aws:dynamodb:local:000000000000:table/Music"
    assert len(d["TableId"]) == 36
    assert d["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert d["ProvisionedThroughput"]["WriteCapacityUnits"] == 7
    assert d["KeySchema"][1] == {"AttributeName": "Song", "KeyType": "RANGE"}
    t = wait_active(cl, "Music")
    assert t["ItemCount"] == 0 and t["TableSizeBytes"] == 0
    assert t["TableId"] == d["TableId"]
    assert abs(t["CreationDateTime"] - d["CreationDateTime"]) < 1e-6
    expect_error(lambda: cl.call("CreateTable", {
        "TableName": "Music",
        "AttributeDefinitions": [{"AttributeName": "Artist", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "Artist", "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST"}),
        "ResourceInUseException", "Table already exists: Music", grpc.StatusCode.FAILED_PRECONDITION)


def test_create_table_validation():
    base = {"AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST"}
    V = "ValidationException"
    expect_error(lambda: cl.call("CreateTable", dict(base, TableName="ab")), V,
                 "TableName must be at least 3 characters long and at most 255 characters long",
                 grpc.StatusCode.INVALID_ARGUMENT)
    expect_error(lambda: cl.call("CreateTable", dict(base)), V,
                 "The paramater 'tableName' is required but was not present in the request")
    expect_error(lambda: cl.call("CreateTable", dict(base, TableName="bad name!")), V,
                 "1 validation error detected: Value 'bad name!' at 'tableName' failed to satisfy "
                 "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
    expect_error(lambda: cl.call("CreateTable", dict(base, TableName="t1x", BillingMode="FREE")), V,
                 "1 validation error detected: Value 'FREE' at 'billingMode' failed to satisfy "
                 "constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]")
    expect_error(lambda: cl.call("CreateTable", {
        "TableName": "t2x", "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "X"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASHY"}]}), V,
        "2 validation errors detected: Value 'X' at 'attributeDefinitions.1.member.attributeType' "
        "failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]; Value 'HASHY' "
        "at 'keySchema.1.member.keyType' failed to satisfy constraint: Member must satisfy enum "
        "value set: [HASH, RANGE]")
    expect_error(lambda: cl.call("CreateTable", {
        "TableName": "t3x", "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}), V,
        "1 validation error detected: Value null at 'keySchema' failed to satisfy constraint: "
        "Member must not be null")
    expect_error(lambda: cl.call("CreateTable", {
        "TableName": "t4x", "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "a", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}), V,
        "One or more parameter values were invalid: Some index key attributes are not defined in "
        "AttributeDefinitions. Keys: [pk], AttributeDefinitions: [a]")
    expect_error(lambda: cl.call("CreateTable", {
        "TableName": "t5x", "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "x", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}), V,
        "One or more parameter values were invalid: Number of attributes in KeySchema does not "
        "exactly match number of attributes defined in AttributeDefinitions")
    expect_error(lambda: cl.call("CreateTable", {
        "TableName": "t6x",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}), V,
        "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must "
        "both be specified when BillingMode is PROVISIONED")
    expect_error(lambda: cl.call("CreateTable", {
        "TableName": "t7x",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "RANGE"},
                      {"AttributeName": "sk", "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST"}), V,
        "Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
    expect_error(lambda: cl.call("CreateTable", dict(base, TableName="t8x", ProvisionedThroughput={
        "ReadCapacityUnits": 1, "WriteCapacityUnits": 1})), V,
        "One or more parameter values were invalid: Neither ReadCapacityUnits nor "
        "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
    # nothing was created by any of these
    names = cl.call("ListTables", {}).get("TableNames", [])
    assert not [n for n in names if n.startswith("t") and n.endswith("x")], names


def test_list_tables_paging():
    for n in ("lt_a", "lt_b", "lt_c"):
        create(n)
    allnames = cl.call("ListTables", {})["TableNames"]
    assert allnames == sorted(allnames)
    for n in ("lt_a", "lt_b", "lt_c"):
        assert n in allnames
    first = cl.call("ListTables", {"ExclusiveStartTableName": "lt_", "Limit": 2})
    assert first["TableNames"] == ["lt_a", "lt_b"], first
    assert first["LastEvaluatedTableName"] == "lt_b"
    nxt = cl.call("ListTables", {"ExclusiveStartTableName": "lt_b", "Limit": 1})
    assert nxt["TableNames"] == ["lt_c"]
    expect_error(lambda: cl.call("ListTables", {"Limit": 0}), "ValidationException",
                 "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
                 "Member must have value greater than or equal to 1")
    expect_error(lambda: cl.call("ListTables", {"Limit": 101}), "ValidationException",
                 "1 validation error detected: Value '101' at 'limit' failed to satisfy constraint: "
                 "Member must have value less than or equal to 100")


ALL_TYPES = {
    "pk": {"S": "item-1"},
    "s": {"S": "héllo"},
    "n": {"N": "-17.40E2"},
    "b": {"B": "AAEC/w=="},
    "t": {"BOOL": True},
    "z": {"NULL": True},
    "l": {"L": [{"S": "x"}, {"N": "1"}, {"L": []}]},
    "m": {"M": {"inner": {"M": {"deep": {"SS": ["a", "b"]}}}}},
    "ss": {"SS": ["b", "a"]},
    "ns": {"NS": ["1", "2.5", "-3"]},
    "bs": {"BS": ["AQ==", "Ag=="]},
}


def test_put_get_all_types():
    create("types")
    assert cl.call("PutItem", {"TableName": "types", "Item": ALL_TYPES}) == {}
    got = cl.call("GetItem", {"TableName": "types", "Key": {"pk": {"S": "item-1"}}})["Item"]
    assert got["n"] == {"N": "-1740"}, got["n"]          # stored canonical
    assert got["s"] == ALL_TYPES["s"] and got["b"] == ALL_TYPES["b"]
    assert got["l"] == ALL_TYPES["l"] and got["m"] == ALL_TYPES["m"]
    assert sorted(got["ss"]["SS"]) == ["a", "b"]
    assert sorted(got["ns"]["NS"], key=float) == ["-3", "1", "2.5"]
    assert sorted(got["bs"]["BS"]) == ["AQ==", "Ag=="]
    assert got["t"] == {"BOOL": True} and got["z"] == {"NULL": True}
    part = cl.call("GetItem", {"TableName": "types", "Key": {"pk": {"S": "item-1"}},
                               "AttributesToGet": ["s", "nope", "t"], "ConsistentRead": True})
    assert part["Item"] == {"s": ALL_TYPES["s"], "t": {"BOOL": True}}
    assert cl.call("GetItem", {"TableName": "types", "Key": {"pk": {"S": "absent"}}}) == {}


def test_number_keys_are_canonical():
    create("numkeys", pk=("id", "N"))
    cl.call("PutItem", {"TableName": "numkeys", "Item": {"id": {"N": "1E3"}, "v": {"S": "first"}}})
    for k in ("1000", "1.000E3", "+1000.0", "0001000"):
        got = cl.call("GetItem", {"TableName": "numkeys", "Key": {"id": {"N": k}}})
        assert got["Item"]["v"] == {"S": "first"}, k
        assert got["Item"]["id"] == {"N": "1000"}
    old = cl.call("PutItem", {"TableName": "numkeys", "ReturnValues": "ALL_OLD",
                              "Item": {"id": {"N": "1000.00"}, "v": {"S": "second"}}})
    assert old["Attributes"]["v"] == {"S": "first"}
    got = cl.call("GetItem", {"TableName": "numkeys", "Key": {"id": {"N": "1e3"}}})
    assert got["Item"]["v"] == {"S": "second"}


def test_hash_range_and_delete():
    create("hrt", pk=("pk", "S"), sk=("sk", "N"))
    for i in range(10):
        cl.call("PutItem", {"TableName": "hrt", "Item": {"pk": {"S": "p"}, "sk": {"N": str(i)},
                                                         "v": {"N": str(i * i)}}})
    for i in range(10):
        got = cl.call("GetItem", {"TableName": "hrt", "Key": {"pk": {"S": "p"}, "sk": {"N": str(i)}}})
        assert got["Item"]["v"] == {"N": str(i * i)}
    r = cl.call("DeleteItem", {"TableName": "hrt", "Key": {"pk": {"S": "p"}, "sk": {"N": "3"}},
                               "ReturnValues": "ALL_OLD"})
    assert r["Attributes"] == {"pk": {"S": "p"}, "sk": {"N": "3"}, "v": {"N": "9"}}
    assert cl.call("GetItem", {"TableName": "hrt", "Key": {"pk": {"S": "p"}, "sk": {"N": "3"}}}) == {}
    # deleting a missing item succeeds and returns nothing
    assert cl.call("DeleteItem", {"TableName": "hrt", "Key": {"pk": {"S": "p"}, "sk": {"N": "3"}},
                                  "ReturnValues": "ALL_OLD"}) == {}
    assert cl.call("DeleteItem", {"TableName": "hrt", "Key": {"pk": {"S": "p"}, "sk": {"N": "4"}}}) == {}
    d = cl.call("DescribeTable", {"TableName": "hrt"})["Table"]
    assert d["ItemCount"] == 8, d["ItemCount"]
    assert d["TableSizeBytes"] > 0


def test_bad_input():
    create("bad", pk=("pk", "S"), sk=("sk", "S"))
    V = "ValidationException"
    nomatch = "The provided key element does not match the schema"
    expect_error(lambda: cl.call("GetItem", {"TableName": "nosuch", "Key": {"pk": {"S": "a"}}}),
                 "ResourceNotFoundException", "Requested resource not found",
                 grpc.StatusCode.NOT_FOUND)
    expect_error(lambda: cl.call("PutItem", {"TableName": "nosuch", "Item": {"pk": {"S": "a"}}}),
                 "ResourceNotFoundException", "Requested resource not found")
    expect_error(lambda: cl.call("DescribeTable", {"TableName": "nosuch"}),
                 "ResourceNotFoundException", "Requested resource not found: Table: nosuch not found")
    expect_error(lambda: cl.call("GetItem", {"TableName": "bad", "Key": {"pk": {"N": "1"}, "sk": {"S": "a"}}}),
                 V, nomatch)
    expect_error(lambda: cl.call("GetItem", {"TableName": "bad", "Key": {"pk": {"S": "a"}}}), V, nomatch)
    expect_error(lambda: cl.call("GetItem", {"TableName": "bad", "Key": {
        "pk": {"S": "a"}, "sk": {"S": "b"}, "extra": {"S": "c"}}}), V, nomatch)
    expect_error(lambda: cl.call("PutItem", {"TableName": "bad", "Item": {"pk": {"S": "a"}}}), V,
                 "One or more parameter values were invalid: Missing the key sk in the item")
    expect_error(lambda: cl.call("PutItem", {"TableName": "bad", "Item": {"pk": {"N": "1"}, "sk": {"S": "a"}}}), V,
                 "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N")
    expect_error(lambda: cl.call("PutItem", {"TableName": "bad", "Item": {"pk": {"S": ""}, "sk": {"S": "a"}}}), V,
                 "One or more parameter values are not valid. The AttributeValue for a key attribute "
                 "cannot contain an empty string value. Key: pk")
    expect_error(lambda: cl.call("PutItem", {"TableName": "bad", "Item": {"pk": {"S": "x" * 2049}, "sk": {"S": "a"}}}), V,
                 "One or more parameter values were invalid: Size of hashkey has exceeded the maximum "
                 "size limit of2048 bytes")
    expect_error(lambda: cl.call("PutItem", {"TableName": "bad", "Item": {"pk": {"S": "a"}, "sk": {"S": "y" * 1025}}}), V,
                 "One or more parameter values were invalid: Aggregated size of all range keys has "
                 "exceeded the size limit of 1024 bytes")
    # the limits themselves are accepted
    cl.call("PutItem", {"TableName": "bad", "Item": {"pk": {"S": "x" * 2048}, "sk": {"S": "y" * 1024}}})
    expect_error(lambda: cl.call("PutItem", {"TableName": "bad", "Item": {
        "pk": {"S": "a"}, "sk": {"S": "b"}, "big": {"S": "z" * (400 * 1024)}}}), V,
        "Item size has exceeded the maximum allowed size")
    expect_error(lambda: cl.call("PutItem", {"TableName": "bad", "ReturnValues": "ALL_NEW",
                                             "Item": {"pk": {"S": "a"}, "sk": {"S": "b"}}}), V,
                 "ReturnValues can only be ALL_OLD or NONE")
    expect_error(lambda: cl.call("PutItem", {"TableName": "bad", "Item": {
        "pk": {"S": "a"}, "sk": {"S": "b"}, "n": {"N": "dog"}}}), V)
    expect_error(lambda: cl.call("PutItem", {"TableName": "bad", "Item": {
        "pk": {"S": "a"}, "sk": {"S": "b"}, "e": {"SS": []}}}), V)
    expect_error(lambda: cl.call("GetItem", {"TableName": "x", "Key": {"pk": {"S": "a"}}}), V,
                 "1 validation error detected: Value 'x' at 'tableName' failed to satisfy constraint: "
                 "Member must have length greater than or equal to 3")
    expect_error(lambda: cl.call("GetItem", {"Key": {"pk": {"S": "a"}}}), V,
                 "1 validation error detected: Value null at 'tableName' failed to satisfy "
                 "constraint: Member must not be null")
    e = expect_error(lambda: cl.raw("PutItem", b"\xff\xff\xff\x0f garbage"), "SerializationException")
    assert e.code == grpc.StatusCode.INVALID_ARGUMENT
    e = expect_error(lambda: cl.call("TransactWriteItems", {}), "UnknownOperationException")
    assert e.code == grpc.StatusCode.UNIMPLEMENTED and "TransactWriteItems" in e.message
    # the router is still serving after all of that
    cl.call("PutItem", {"TableName": "bad", "Item": {"pk": {"S": "ok"}, "sk": {"S": "ok"}}})


def test_delete_table():
    create("gone")
    cl.call("PutItem", {"TableName": "gone", "Item": {"pk": {"S": "a"}}})
    d = cl.call("DeleteTable", {"TableName": "gone"})["TableDescription"]
    assert d["TableStatus"] == "DELETING"
    assert d["ItemCount"] == 1
    # DELETING until the controller has dropped the partitions; items are not served meanwhile
    expect_error(lambda: cl.call("GetItem", {"TableName": "gone", "Key": {"pk": {"S": "a"}}}),
                 "ResourceNotFoundException")
    end = time.time() + 30
    while True:
        try:
            st = cl.call("DescribeTable", {"TableName": "gone"})["Table"]["TableStatus"]
            assert st == "DELETING", st
        except DyneError as e:
            assert e.type == "ResourceNotFoundException", e
            break
        assert time.time() < end, "table gone still DELETING after 30 s"
        time.sleep(0.05)
    expect_error(lambda: cl.call("DeleteTable", {"TableName": "gone"}), "ResourceNotFoundException",
                 "Requested resource not found: Table: gone not found")
    assert "gone" not in cl.call("ListTables", {}).get("TableNames", [])
    # the name can be used again, and the new table starts empty
    create("gone")
    assert cl.call("GetItem", {"TableName": "gone", "Key": {"pk": {"S": "a"}}}) == {}


def test_deletion_protection():
    create("guarded", DeletionProtectionEnabled=True)
    expect_error(lambda: cl.call("DeleteTable", {"TableName": "guarded"}), "ValidationException",
                 "Resource cannot be deleted as it is currently protected against deletion. "
                 "Disable deletion protection first.")
    assert cl.call("DescribeTable", {"TableName": "guarded"})["Table"]["TableStatus"] == "ACTIVE"


def test_conditions_and_projection():
    create("cond")
    put = lambda item, **kw: cl.call("PutItem", dict({"TableName": "cond", "Item": item}, **kw))
    CF = "ConditionalCheckFailedException"
    put({"pk": {"S": "a"}, "v": {"N": "1"}}, ConditionExpression="attribute_not_exists(pk)")
    expect_error(lambda: put({"pk": {"S": "a"}, "v": {"N": "2"}},
                             ConditionExpression="attribute_not_exists(pk)"),
                 CF, "The conditional request failed", grpc.StatusCode.FAILED_PRECONDITION)
    put({"pk": {"S": "a"}, "v": {"N": "2"}, "m": {"M": {"x": {"L": [{"S": "p"}, {"S": "q"}]}}}},
        ConditionExpression="#v = :one", ExpressionAttributeNames={"#v": "v"},
        ExpressionAttributeValues={":one": {"N": "1.0"}})
    # legacy Expected
    expect_error(lambda: put({"pk": {"S": "a"}}, Expected={"v": {"Exists": False}}), CF)
    put({"pk": {"S": "a"}, "v": {"N": "3"}, "m": {"M": {"x": {"L": [{"S": "p"}, {"S": "q"}]}}}},
        Expected={"v": {"Value": {"N": "2"}}})
    # projection with nested paths and a list index
    got = cl.call("GetItem", {"TableName": "cond", "Key": {"pk": {"S": "a"}},
                              "ProjectionExpression": "#v, m.x[1]",
                              "ExpressionAttributeNames": {"#v": "v"}})
    assert got["Item"] == {"v": {"N": "3"}, "m": {"M": {"x": {"L": [{"S": "q"}]}}}}, got
    # conditional delete
    expect_error(lambda: cl.call("DeleteItem", {"TableName": "cond", "Key": {"pk": {"S": "a"}},
                                                "ConditionExpression": "v > :n",
                                                "ExpressionAttributeValues": {":n": {"N": "10"}}}), CF)
    cl.call("DeleteItem", {"TableName": "cond", "Key": {"pk": {"S": "a"}},
                           "ConditionExpression": "v < :n", "ExpressionAttributeValues": {":n": {"N": "10"}}})
    assert cl.call("GetItem", {"TableName": "cond", "Key": {"pk": {"S": "a"}}}) == {}
    V = "ValidationException"
    expect_error(lambda: put({"pk": {"S": "b"}}, ConditionExpression="v = :x",
                             ExpressionAttributeValues={":x": {"N": "1"}, ":y": {"N": "2"}}), V,
                 "Value provided in ExpressionAttributeValues unused in expressions: keys: {:y}")
    expect_error(lambda: put({"pk": {"S": "b"}}, ConditionExpression="v = :x"), V,
                 "Invalid ConditionExpression: An expression attribute value used in expression is "
                 "not defined; attribute value: :x")
    expect_error(lambda: put({"pk": {"S": "b"}}, ConditionExpression="status = :x",
                             ExpressionAttributeValues={":x": {"N": "1"}}), V,
                 "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved "
                 "keyword: status")
    expect_error(lambda: put({"pk": {"S": "b"}}, ConditionExpression="v = :x",
                             Expected={"v": {"Exists": False}},
                             ExpressionAttributeValues={":x": {"N": "1"}}), V,
                 "Can not use both expression and non-expression parameters in the same request: "
                 "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}")
    expect_error(lambda: cl.call("GetItem", {"TableName": "cond", "Key": {"pk": {"S": "a"}},
                                             "ProjectionExpression": "a,, b"}), V)
    assert cl.call("GetItem", {"TableName": "cond", "Key": {"pk": {"S": "b"}}}) == {}


def test_return_values_on_condition_check_failure():
    create("rvcf")
    CF = "ConditionalCheckFailedException"
    item = {"pk": {"S": "k"}, "v": {"N": "1"}, "m": {"M": {"x": {"SS": ["a", "b"]}}}}
    cl.call("PutItem", {"TableName": "rvcf", "Item": item})
    never = {"ConditionExpression": "attribute_not_exists(pk)"}
    # ALL_OLD: the error carries the item as it was (dyn-error-bin), for each write
    for op, req in (("PutItem", {"Item": {"pk": {"S": "k"}, "v": {"N": "2"}}}),
                    ("DeleteItem", {"Key": {"pk": {"S": "k"}}}),
                    ("UpdateItem", {"Key": {"pk": {"S": "k"}}, "UpdateExpression": "SET v = :two",
                                    "ExpressionAttributeValues": {":two": {"N": "2"}}})):
        req = dict(req, TableName="rvcf", ReturnValuesOnConditionCheckFailure="ALL_OLD", **never)
        e = expect_error(lambda: cl.call(op, req), CF, "The conditional request failed")
        assert e.detail is not None and e.detail.get("Item") == item, (op, e.detail)
        assert e.detail.get("Type") == CF and e.detail.get("Message") == e.message, e.detail
        # NONE, or absent: no detail at all
        for rv in ("NONE", None):
            r2 = dict(req)
            if rv is None:
                del r2["ReturnValuesOnConditionCheckFailure"]
            else:
                r2["ReturnValuesOnConditionCheckFailure"] = rv
            e = expect_error(lambda: cl.call(op, r2), CF)
            assert e.detail is None, (op, rv, e.detail)
    # a condition that fails on a missing item: nothing to return
    e = expect_error(lambda: cl.call("PutItem", {
        "TableName": "rvcf", "Item": {"pk": {"S": "none"}}, "ConditionExpression": "attribute_exists(pk)",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}), CF)
    assert e.detail is None or "Item" not in e.detail, e.detail
    # legacy Expected takes it too
    e = expect_error(lambda: cl.call("PutItem", {
        "TableName": "rvcf", "Item": {"pk": {"S": "k"}}, "Expected": {"v": {"Exists": False}},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}), CF)
    assert e.detail["Item"] == item, e.detail
    # the item is unchanged by all of it
    assert cl.call("GetItem", {"TableName": "rvcf", "Key": {"pk": {"S": "k"}}})["Item"] == item
    expect_error(lambda: cl.call("PutItem", {"TableName": "rvcf", "Item": item,
                                             "ReturnValuesOnConditionCheckFailure": "ALL_NEW"}),
                 "ValidationException",
                 "1 validation error detected: Value 'ALL_NEW' at 'returnValuesOnConditionCheckFailure' "
                 "failed to satisfy constraint: Member must satisfy enum value set: [ALL_OLD, NONE]")


def test_no_lost_updates():
    # many clients doing read-modify-write with a condition on one counter: every success is
    # one increment, so the final value counts them exactly
    import threading
    create("counter")
    cl.call("PutItem", {"TableName": "counter", "Item": {"pk": {"S": "c"}, "n": {"N": "0"}}})
    done = []

    def worker():
        c = C.client()
        ok = 0
        while ok < 20:
            cur = c.call("GetItem", {"TableName": "counter", "Key": {"pk": {"S": "c"}},
                                     "ConsistentRead": True})["Item"]["n"]["N"]
            try:
                c.call("PutItem", {"TableName": "counter",
                                   "Item": {"pk": {"S": "c"}, "n": {"N": str(int(cur) + 1)}},
                                   "ConditionExpression": "n = :cur",
                                   "ExpressionAttributeValues": {":cur": {"N": cur}}})
                ok += 1
            except DyneError as e:
                assert e.type == "ConditionalCheckFailedException", e
        done.append(ok)
        c.close()

    ts = [threading.Thread(target=worker) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    final = cl.call("GetItem", {"TableName": "counter", "Key": {"pk": {"S": "c"}}})["Item"]["n"]
    assert final == {"N": str(sum(done))} and sum(done) == 160, (final, done)


def storage_batches():
    """Batch calls the storage node has served (its /metrics)."""
    import re
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % C.storage_http, timeout=10) as r:
        text = r.read().decode()
    return sum(float(v) for v in re.findall(r'^dyn_requests_total\{method="Batch"[^}]*\} (\S+)$', text, re.M))


def test_coalesced_calls():
    # 32 clients at once: calls to the storage node queue behind the 2 in flight and travel in
    # Batch calls; every answer must still be its own (values, errors, error details)
    import threading
    create("coal")
    before = storage_batches()
    errors = []

    def worker(w):
        c = C.client()
        try:
            for i in range(40):
                k = {"pk": {"S": "w%d-%d" % (w, i)}}
                c.call("PutItem", {"TableName": "coal", "Item": dict(k, v={"N": str(i)}),
                                   "ConditionExpression": "attribute_not_exists(pk)"})
                got = c.call("GetItem", {"TableName": "coal", "Key": k, "ConsistentRead": True})
                assert got["Item"]["v"] == {"N": str(i)}, got
                try:
                    c.call("PutItem", {"TableName": "coal", "Item": dict(k, v={"N": "-1"}),
                                       "ConditionExpression": "attribute_not_exists(pk)",
                                       "ReturnValuesOnConditionCheckFailure": "ALL_OLD"})
                    raise AssertionError("the second conditional put must fail")
                except DyneError as e:
                    assert e.type == "ConditionalCheckFailedException", e
                    assert e.detail["Item"] == dict(k, v={"N": str(i)}), e.detail
                r = c.call("UpdateItem", {"TableName": "coal", "Key": k, "UpdateExpression": "ADD v :one",
                                          "ExpressionAttributeValues": {":one": {"N": "1"}},
                                          "ReturnValues": "UPDATED_NEW"})
                assert r["Attributes"] == {"v": {"N": str(i + 1)}}, r
        except Exception as e:   # noqa: BLE001 -- reported below
            errors.append(repr(e))
        finally:
            c.close()

    ts = [threading.Thread(target=worker, args=(w,)) for w in range(32)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors[:3]
    n = cl.call("Scan", {"TableName": "coal", "Select": "COUNT"})["Count"]
    assert n == 32 * 40, n
    assert storage_batches() > before, "no Batch call: nothing was coalesced"


def test_update_item():
    create("upd", pk=("pk", "S"), sk=("sk", "N"))
    key = {"pk": {"S": "u"}, "sk": {"N": "1"}}
    up = lambda **kw: cl.call("UpdateItem", dict({"TableName": "upd", "Key": key}, **kw))
    # creates the item
    r = up(UpdateExpression="SET #c = :zero, tags = :t, l = :l", ReturnValues="ALL_NEW",
           ExpressionAttributeNames={"#c": "count"},
           ExpressionAttributeValues={":zero": {"N": "0"}, ":t": {"SS": ["a"]},
                                      ":l": {"L": [{"S": "x"}]}})
    assert r["Attributes"]["count"] == {"N": "0"} and r["Attributes"]["pk"] == {"S": "u"}
    r = up(UpdateExpression="SET #c = #c + :one ADD tags :b REMOVE l[0]", ReturnValues="UPDATED_NEW",
           ExpressionAttributeNames={"#c": "count"},
           ExpressionAttributeValues={":one": {"N": "1"}, ":b": {"SS": ["b"]}})
    assert r["Attributes"]["count"] == {"N": "1"}, r
    assert sorted(r["Attributes"]["tags"]["SS"]) == ["a", "b"]
    r = up(UpdateExpression="SET #c = #c + :one", ReturnValues="UPDATED_OLD",
           ExpressionAttributeNames={"#c": "count"}, ExpressionAttributeValues={":one": {"N": "1"}},
           ConditionExpression="#c = :one")
    assert r["Attributes"] == {"count": {"N": "1"}}, r
    expect_error(lambda: up(UpdateExpression="SET #c = :z", ExpressionAttributeNames={"#c": "count"},
                            ExpressionAttributeValues={":z": {"N": "0"}},
                            ConditionExpression="attribute_not_exists(pk)"),
                 "ConditionalCheckFailedException", "The conditional request failed")
    expect_error(lambda: up(UpdateExpression="SET pk = :z", ExpressionAttributeValues={":z": {"S": "0"}}),
                 "ValidationException", "Cannot update attribute pk. This attribute is part of the key")
    expect_error(lambda: up(UpdateExpression="SET a = b + :one", ExpressionAttributeValues={":one": {"N": "1"}}),
                 "ValidationException",
                 "The provided expression refers to an attribute that does not exist in the item")
    expect_error(lambda: up(UpdateExpression="SET big = :b", ExpressionAttributeValues={":b": {"S": "x" * (400 * 1024)}}),
                 "ValidationException", "Item size to update has exceeded the maximum allowed size")
    expect_error(lambda: up(UpdateExpression="SET a = :x", AttributeUpdates={"b": {"Action": "PUT", "Value": {"S": "1"}}},
                            ExpressionAttributeValues={":x": {"S": "1"}}), "ValidationException")
    # legacy AttributeUpdates
    r = up(AttributeUpdates={"count": {"Action": "ADD", "Value": {"N": "5"}}, "l": {"Action": "DELETE"}},
           ReturnValues="ALL_NEW")
    assert r["Attributes"]["count"] == {"N": "7"} and "l" not in r["Attributes"], r
    # no update at all still creates the item from its key
    cl.call("UpdateItem", {"TableName": "upd", "Key": {"pk": {"S": "v"}, "sk": {"N": "2"}}})
    got = cl.call("GetItem", {"TableName": "upd", "Key": {"pk": {"S": "v"}, "sk": {"N": "2"}}})
    assert got["Item"] == {"pk": {"S": "v"}, "sk": {"N": "2"}}, got


def test_query_and_scan():
    create("qst", pk=("pk", "S"), sk=("sk", "N"))
    for p in ("a", "b", "c"):
        for i in range(30):
            cl.call("PutItem", {"TableName": "qst", "Item": {
                "pk": {"S": p}, "sk": {"N": str(i)}, "even": {"BOOL": i % 2 == 0},
                "pad": {"S": "x" * 100}}})
    q = lambda **kw: cl.call("Query", dict({"TableName": "qst"}, **kw))
    r = q(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "b"}})
    assert r["Count"] == 30 and r["ScannedCount"] == 30 and "LastEvaluatedKey" not in r
    assert [int(i["sk"]["N"]) for i in r["Items"]] == list(range(30))
    r = q(KeyConditionExpression="pk = :p AND sk BETWEEN :lo AND :hi", ScanIndexForward=False,
          ExpressionAttributeValues={":p": {"S": "b"}, ":lo": {"N": "5"}, ":hi": {"N": "9"}})
    assert [int(i["sk"]["N"]) for i in r["Items"]] == [9, 8, 7, 6, 5], r
    for op, want in (("<", range(0, 3)), ("<=", range(0, 4)), (">", range(28, 30)),
                     (">=", range(27, 30)), ("=", [3])):
        v = "3" if op in ("<", "<=", "=") else ("28" if op == ">=" else "27")
        v = {"<": "3", "<=": "3", "=": "3", ">": "27", ">=": "27"}[op]
        r = q(KeyConditionExpression="pk = :p AND sk %s :v" % op,
              ExpressionAttributeValues={":p": {"S": "c"}, ":v": {"N": v}})
        assert [int(i["sk"]["N"]) for i in r["Items"]] == list(want), (op, r["Items"])
    # paging with Limit (items evaluated) and a filter applied after the read
    seen, start, pages = [], None, 0
    while True:
        kw = dict(KeyConditionExpression="pk = :p", FilterExpression="even = :t",
                  ExpressionAttributeValues={":p": {"S": "a"}, ":t": {"BOOL": True}}, Limit=7)
        if start:
            kw["ExclusiveStartKey"] = start
        r = q(**kw)
        pages += 1
        assert r["ScannedCount"] <= 7
        seen += [int(i["sk"]["N"]) for i in r["Items"]]
        start = r.get("LastEvaluatedKey")
        if not start:
            break
    assert seen == list(range(0, 30, 2)) and pages == 5, (seen, pages)
    r = q(KeyConditionExpression="pk = :p", Select="COUNT", ExpressionAttributeValues={":p": {"S": "a"}})
    assert r["Count"] == 30 and "Items" not in r
    r = q(KeyConditionExpression="pk = :p AND sk < :v", ProjectionExpression="sk",
          ExpressionAttributeValues={":p": {"S": "a"}, ":v": {"N": "2"}})
    assert r["Items"] == [{"sk": {"N": "0"}}, {"sk": {"N": "1"}}], r
    V = "ValidationException"
    expect_error(lambda: q(), V, "Either the KeyConditions or KeyConditionExpression parameter must "
                 "be specified in the request.")
    expect_error(lambda: q(KeyConditionExpression="sk = :v", ExpressionAttributeValues={":v": {"N": "1"}}),
                 V, "Query condition missed key schema element: pk")
    expect_error(lambda: q(IndexName="nope", KeyConditionExpression="pk = :p",
                           ExpressionAttributeValues={":p": {"S": "a"}}), V,
                 "The table does not have the specified index: nope")
    expect_error(lambda: q(KeyConditionExpression="pk = :p", Select="SPECIFIC_ATTRIBUTES",
                           ExpressionAttributeValues={":p": {"S": "a"}}), V,
                 "1 validation error detected: Must specify the AttributesToGet or "
                 "ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES")
    # legacy KeyConditions
    r = q(KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "c"}]},
                         "sk": {"ComparisonOperator": "GE", "AttributeValueList": [{"N": "28"}]}})
    assert [int(i["sk"]["N"]) for i in r["Items"]] == [28, 29]
    # Scan: everything, in pages, and as 4 parallel segments that partition it
    s = lambda **kw: cl.call("Scan", dict({"TableName": "qst"}, **kw))
    allkeys, start = [], None
    while True:
        r = s(Limit=25, **({"ExclusiveStartKey": start} if start else {}))
        allkeys += [(i["pk"]["S"], i["sk"]["N"]) for i in r["Items"]]
        start = r.get("LastEvaluatedKey")
        if not start:
            break
    assert len(allkeys) == 90 and len(set(allkeys)) == 90
    segs = []
    for seg in range(4):
        r = s(Segment=seg, TotalSegments=4)
        segs += [(i["pk"]["S"], i["sk"]["N"]) for i in r.get("Items", [])]
    assert sorted(segs) == sorted(allkeys)
    r = s(FilterExpression="sk = :z", ExpressionAttributeValues={":z": {"N": "0"}})
    assert r["Count"] == 3 and r["ScannedCount"] == 90
    expect_error(lambda: s(Segment=4, TotalSegments=4), V,
                 "The Segment parameter is zero-based and must be less than parameter "
                 "TotalSegments: Segment: 4 is not less than TotalSegments: 4")
    # the 1 MB page: big items end the page early with a LastEvaluatedKey
    create("big")
    for i in range(12):
        cl.call("PutItem", {"TableName": "big", "Item": {"pk": {"S": "k%02d" % i}, "v": {"S": "y" * 200000}}})
    r = s(TableName="big")
    assert 5 <= r["ScannedCount"] <= 6 and "LastEvaluatedKey" in r, r["ScannedCount"]


def test_batches():
    create("bat1")
    create("bat2", pk=("id", "N"))
    w = cl.call("BatchWriteItem", {"RequestItems": {
        "bat1": [{"PutRequest": {"Item": {"pk": {"S": "k%d" % i}, "v": {"N": str(i)}}}} for i in range(20)],
        "bat2": [{"PutRequest": {"Item": {"id": {"N": str(i)}}}} for i in range(5)]}})
    assert not w.get("UnprocessedItems"), w
    g = cl.call("BatchGetItem", {"RequestItems": {
        "bat1": {"Keys": [{"pk": {"S": "k%d" % i}} for i in (0, 5, 19, 99)], "ProjectionExpression": "v"},
        "bat2": {"Keys": [{"id": {"N": "4"}}], "ConsistentRead": True}}})
    got1 = sorted(int(i["v"]["N"]) for i in g["Responses"]["bat1"])
    assert got1 == [0, 5, 19] and all(set(i) == {"v"} for i in g["Responses"]["bat1"]), g
    assert g["Responses"]["bat2"] == [{"id": {"N": "4"}}]
    assert not g.get("UnprocessedKeys")
    w = cl.call("BatchWriteItem", {"RequestItems": {"bat1": [
        {"DeleteRequest": {"Key": {"pk": {"S": "k%d" % i}}}} for i in range(10)]}})
    g = cl.call("BatchGetItem", {"RequestItems": {"bat1": {"Keys": [{"pk": {"S": "k%d" % i}} for i in range(20)]}}})
    assert len(g["Responses"]["bat1"]) == 10
    V = "ValidationException"
    expect_error(lambda: cl.call("BatchWriteItem", {"RequestItems": {"bat1": [
        {"PutRequest": {"Item": {"pk": {"S": "same"}}}}, {"DeleteRequest": {"Key": {"pk": {"S": "same"}}}}]}}),
        V, "Provided list of item keys contains duplicates")
    expect_error(lambda: cl.call("BatchGetItem", {"RequestItems": {"bat1": {"Keys": [
        {"pk": {"S": "d"}}, {"pk": {"S": "d"}}]}}}), V, "Provided list of item keys contains duplicates")
    expect_error(lambda: cl.call("BatchWriteItem", {"RequestItems": {
        "bat1": [{"PutRequest": {"Item": {"pk": {"S": "x%d" % i}}}} for i in range(20)],
        "bat2": [{"PutRequest": {"Item": {"id": {"N": str(i)}}}} for i in range(6)]}}), V,
        "Too many items requested for the BatchWriteItem call")
    expect_error(lambda: cl.call("BatchGetItem", {"RequestItems": {"bat1": {"Keys": [
        {"pk": {"S": "d%d" % i}} for i in range(101)]}}}), V)
    expect_error(lambda: cl.call("BatchGetItem", {"RequestItems": {"nosuch": {"Keys": [
        {"pk": {"S": "d"}}]}}}), "ResourceNotFoundException")
    expect_error(lambda: cl.call("BatchWriteItem", {"RequestItems": {"bat2": [
        {"PutRequest": {"Item": {"id": {"S": "not a number key"}}}}]}}), V,
        "One or more parameter values were invalid: Type mismatch for key id expected: N actual: S")


def test_consumed_capacity():
    create("cap")
    put = lambda item, **kw: cl.call("PutItem", dict({"TableName": "cap", "Item": item,
                                                      "ReturnConsumedCapacity": "TOTAL"}, **kw))
    r = put({"pk": {"S": "a"}, "v": {"S": "x" * 3000}})   # ~3 KB: 3 WCU
    assert r["ConsumedCapacity"] == {"TableName": "cap", "CapacityUnits": 3.0,
                                     "WriteCapacityUnits": 3.0}, r
    r = put({"pk": {"S": "a"}, "v": {"S": "small"}})       # replacing 3 KB: max(old, new)
    assert r["ConsumedCapacity"]["CapacityUnits"] == 3.0
    r = put({"pk": {"S": "b"}, "v": {"S": "x" * 9000}})
    g = cl.call("GetItem", {"TableName": "cap", "Key": {"pk": {"S": "b"}},
                            "ReturnConsumedCapacity": "INDEXES", "ProjectionExpression": "pk"})
    assert g["ConsumedCapacity"]["CapacityUnits"] == 1.5, g   # 3 x 4 KB, eventually consistent
    assert g["ConsumedCapacity"]["Table"]["CapacityUnits"] == 1.5
    g = cl.call("GetItem", {"TableName": "cap", "Key": {"pk": {"S": "zz"}}, "ConsistentRead": True,
                            "ReturnConsumedCapacity": "TOTAL"})
    assert g["ConsumedCapacity"]["CapacityUnits"] == 1.0   # a miss still costs one unit
    d = cl.call("DeleteItem", {"TableName": "cap", "Key": {"pk": {"S": "nothing"}},
                               "ReturnConsumedCapacity": "TOTAL"})
    assert d["ConsumedCapacity"]["CapacityUnits"] == 1.0
    u = cl.call("UpdateItem", {"TableName": "cap", "Key": {"pk": {"S": "b"}}, "UpdateExpression": "REMOVE v",
                               "ReturnConsumedCapacity": "TOTAL"})
    assert u["ConsumedCapacity"]["CapacityUnits"] == 9.0, u   # the item before: 9 KB
    s = cl.call("Scan", {"TableName": "cap", "ReturnConsumedCapacity": "TOTAL", "ConsistentRead": True})
    assert s["ConsumedCapacity"]["CapacityUnits"] == 1.0, s
    assert "ConsumedCapacity" not in cl.call("GetItem", {"TableName": "cap", "Key": {"pk": {"S": "a"}}})
    # batches round each item on its own: 1.5 KB + 6.5 KB -> 2 + 7 write units
    w = cl.call("BatchWriteItem", {"ReturnConsumedCapacity": "TOTAL", "RequestItems": {"cap": [
        {"PutRequest": {"Item": {"pk": {"S": "p1"}, "v": {"S": "x" * 1500}}}},
        {"PutRequest": {"Item": {"pk": {"S": "p2"}, "v": {"S": "x" * 6600}}}}]}})
    assert w["ConsumedCapacity"] == [{"TableName": "cap", "CapacityUnits": 9.0,
                                      "WriteCapacityUnits": 9.0}], w
    g = cl.call("BatchGetItem", {"ReturnConsumedCapacity": "TOTAL", "RequestItems": {"cap": {
        "Keys": [{"pk": {"S": "p1"}}, {"pk": {"S": "p2"}}], "ConsistentRead": True}}})
    assert g["ConsumedCapacity"][0]["CapacityUnits"] == 3.0, g   # 1 + 2 read units


def test_graceful_stop():
    # SIGTERM drains and exits 0 for every process
    for name in ("router", "storage"):
        rc = C.procs.pop(name).stop()
        assert rc == 0, "%s exited %s" % (name, rc)


def main():
    global C, cl
    C = Cluster().start()
    cl = C.client()
    try:
        return run_tests([
            ("health", test_health),
            ("create/describe table", test_create_describe),
            ("CreateTable validation", test_create_table_validation),
            ("ListTables paging", test_list_tables_paging),
            ("put/get all ten types", test_put_get_all_types),
            ("number keys are canonical", test_number_keys_are_canonical),
            ("hash+range put/get/delete", test_hash_range_and_delete),
            ("bad input", test_bad_input),
            ("delete table", test_delete_table),
            ("deletion protection", test_deletion_protection),
            ("conditions and projection", test_conditions_and_projection),
            ("ReturnValuesOnConditionCheckFailure", test_return_values_on_condition_check_failure),
            ("no lost updates", test_no_lost_updates),
            ("coalesced storage calls", test_coalesced_calls),
            ("update item", test_update_item),
            ("query and scan", test_query_and_scan),
            ("batches", test_batches),
            ("consumed capacity", test_consumed_capacity),
            ("graceful stop", test_graceful_stop),
        ])
    finally:
        cl.close()
        for p in C.procs.values():
            sys.stderr.write("---- %s log tail\n%s\n" % (p.name, p.tail(15)))
        C.stop()


if __name__ == "__main__":
    sys.exit(main())
