"""Write capacity of global secondary indexes (reference §2.2) through boto3 on the router's
DynamoDB endpoint, with a whole cluster (etcd, storage, controller, indexer, router): a new
entry costs 1 write, a removed one 1, a key change 2 (delete + put), a change of projected
attributes 1, anything else 0, each in 1 KB units of the index entry; the units are charged to
the index (ReturnConsumedCapacity INDEXES lists them under GlobalSecondaryIndexes) and
CapacityUnits adds them to the table's (TOTAL shows only that sum). PutItem, UpdateItem,
DeleteItem and BatchWriteItem, on-demand and provisioned tables, an index being added
(charged) and one deleted (not charged)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from dyne_harness import Cluster, run_tests, wait_for  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

C = None
ddb = None
TABLE = "GsiCap"
PROV = "GsiCapProv"
PLAIN = "GsiCapPlain"


def client():
    return boto3.session.Session().client(
        "dynamodb", endpoint_url=C.ddb_endpoint(), region_name="us-east-1",
        aws_access_key_id="dev", aws_secret_access_key="dev",
        config=Config(retries={"max_attempts": 5}))


def wait_active(name):
    wait_for(lambda: ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE",
             60, "table %s ACTIVE" % name)


def units(cc):
    """A ConsumedCapacity as {"total": n, "table": n, "gsi": {name: n}} (INDEXES shape)."""
    return {"total": cc["CapacityUnits"],
            "table": cc["Table"]["CapacityUnits"],
            "gsi": {k: v["CapacityUnits"] for k, v in cc.get("GlobalSecondaryIndexes", {}).items()}}


def check(cc, total, table, gsi):
    assert cc["TableName"] in (TABLE, PROV, PLAIN), cc
    got = units(cc)
    want = {"total": float(total), "table": float(table),
            "gsi": {k: float(v) for k, v in gsi.items()}}
    assert got == want, "got %r want %r (%r)" % (got, want, cc)
    # the sum holds whatever the split
    assert cc["CapacityUnits"] == cc["Table"]["CapacityUnits"] + sum(got["gsi"].values()), cc
    for v in cc.get("GlobalSecondaryIndexes", {}).values():
        assert v.get("WriteCapacityUnits", v["CapacityUnits"]) == v["CapacityUnits"], cc
        assert "ReadCapacityUnits" not in v, cc


def check_total(cc, total):
    assert cc["CapacityUnits"] == float(total), cc
    assert "Table" not in cc and "GlobalSecondaryIndexes" not in cc, cc
    assert "LocalSecondaryIndexes" not in cc, cc


def put(item, mode="INDEXES", table=TABLE):
    return ddb.put_item(TableName=table, Item=item, ReturnConsumedCapacity=mode)["ConsumedCapacity"]


def update(key, expr, values=None, mode="INDEXES", table=TABLE):
    kw = {"ExpressionAttributeValues": values} if values else {}
    return ddb.update_item(TableName=table, Key=key, UpdateExpression=expr,
                           ReturnConsumedCapacity=mode, **kw)["ConsumedCapacity"]


def delete(key, mode="INDEXES", table=TABLE):
    return ddb.delete_item(TableName=table, Key=key,
                           ReturnConsumedCapacity=mode)["ConsumedCapacity"]


def S(v):
    return {"S": v}


def K(pk):
    return {"pk": S(pk)}


GSIS = [
    {"IndexName": "ByAll",
     "KeySchema": [{"AttributeName": "g1", "KeyType": "HASH"}],
     "Projection": {"ProjectionType": "ALL"}},
    {"IndexName": "ByKeys",
     "KeySchema": [{"AttributeName": "g2", "KeyType": "HASH"},
                   {"AttributeName": "r2", "KeyType": "RANGE"}],
     "Projection": {"ProjectionType": "KEYS_ONLY"}},
    {"IndexName": "ByInc",
     "KeySchema": [{"AttributeName": "g3", "KeyType": "HASH"}],
     "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["p1"]}},
]
ATTRS = [{"AttributeName": a, "AttributeType": t} for a, t in (
    ("pk", "S"), ("g1", "S"), ("g2", "S"), ("r2", "N"), ("g3", "S"))]


# ---- cases ----

def test_create_provisioned():
    pt = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    ddb.create_table(TableName=PROV, AttributeDefinitions=ATTRS[:2],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     ProvisionedThroughput=pt,
                     GlobalSecondaryIndexes=[dict(GSIS[0], ProvisionedThroughput=pt)])
    wait_active(PROV)


def test_create():
    ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST", AttributeDefinitions=ATTRS,
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     GlobalSecondaryIndexes=GSIS)
    ddb.create_table(TableName=PLAIN, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    for t in (TABLE, PLAIN):
        wait_active(t)


def test_put_new_item():
    # every index gains an entry: 1 write each, the table 1
    item = {"pk": S("a"), "g1": S("x"), "g2": S("y"), "r2": {"N": "1"}, "g3": S("z"),
            "p1": S("i"), "o1": S("o")}
    check(put(item), 4, 1, {"ByAll": 1, "ByKeys": 1, "ByInc": 1})
    # the same item again changes nothing: no index write, the table still pays
    check(put(item), 1, 1, {})
    # TOTAL: the sum only
    item2 = dict(item, pk=S("a2"))
    check_total(put(item2, mode="TOTAL"), 4)
    assert "ConsumedCapacity" not in ddb.put_item(TableName=TABLE, Item=dict(item, pk=S("a3")),
                                                  ReturnConsumedCapacity="NONE")


def test_put_big_item():
    # ~3.5 KB: 4 units on the table and on the ALL index (its entry is the whole item); the
    # KEYS_ONLY entry is a few bytes (1); ByInc has no entry (no g3)
    big = {"pk": S("big"), "g1": S("x"), "g2": S("y"), "r2": {"N": "2"}, "blob": S("b" * 3500)}
    check(put(big), 9, 4, {"ByAll": 4, "ByKeys": 1})
    check_total(put(dict(big, pk=S("big2")), mode="TOTAL"), 9)
    # overwriting with a small item: the table pays the larger image (4); ByAll's entry changed
    # (sized on the new entry: 1); ByKeys' entry is the same
    small = {"pk": S("big2"), "g1": S("x"), "g2": S("y"), "r2": {"N": "2"}}
    check(put(small), 5, 4, {"ByAll": 1})


def test_update_index_key():
    # g1 moves: ByAll deletes the old entry and puts the new one (2); ByKeys and ByInc do not
    # project g1 (0)
    check(update(K("a"), "SET g1 = :v", {":v": S("x2")}), 3, 1, {"ByAll": 2})
    # both keys of ByKeys move at once: still one delete + one put
    check(update(K("a"), "SET g2 = :v, r2 = :n", {":v": S("y2"), ":n": {"N": "9"}}), 4, 1,
          {"ByAll": 1, "ByKeys": 2})
    check_total(update(K("a"), "SET g1 = :v", {":v": S("x3")}, mode="TOTAL"), 3)


def test_update_unprojected():
    # "o1" is projected only by ByAll: ByKeys and ByInc cost nothing
    check(update(K("a"), "SET o1 = :v", {":v": S("o2")}), 2, 1, {"ByAll": 1})
    # "p1" is projected by ByInc (INCLUDE) and ByAll
    check(update(K("a"), "SET p1 = :v", {":v": S("i2")}), 3, 1, {"ByAll": 1, "ByInc": 1})
    # an attribute no index but ALL projects, removed
    check(update(K("a"), "REMOVE o1"), 2, 1, {"ByAll": 1})


def test_sparse():
    # no index key attributes: no entry anywhere
    check(put({"pk": S("s"), "d1": S("d")}), 1, 1, {})
    check(update(K("s"), "SET d1 = :v", {":v": S("e")}), 1, 1, {})
    # the range key of ByKeys alone is not enough for an entry; its hash key completes it
    check(update(K("s"), "SET r2 = :n", {":n": {"N": "3"}}), 1, 1, {})
    check(update(K("s"), "SET g2 = :v", {":v": S("y")}), 2, 1, {"ByKeys": 1})
    # the hash key removed: the entry goes (1)
    check(update(K("s"), "REMOVE g2"), 2, 1, {"ByKeys": 1})


def test_delete():
    # "a" is in all three indexes: each loses its entry (1), the table 1
    check(delete(K("a")), 4, 1, {"ByAll": 1, "ByKeys": 1, "ByInc": 1})
    # the big item: 4 on the table and on ByAll, 1 on ByKeys
    check(delete(K("big")), 9, 4, {"ByAll": 4, "ByKeys": 1})
    check_total(delete(K("a2"), mode="TOTAL"), 4)
    # nothing to delete: the table's minimum, no index write
    check(delete(K("nothing")), 1, 1, {})
    check(delete(K("s")), 1, 1, {})


def test_batch_write():
    items = [
        {"pk": S("b1"), "g1": S("x"), "d1": S("d" * 1500)},   # ByAll: 2 (1.5 KB entry)
        {"pk": S("b2"), "g2": S("y"), "r2": {"N": "1"}, "g3": S("z"), "p1": S("i")},
        {"pk": S("b3"), "d1": S("sparse")},
    ]
    ddb.put_item(TableName=TABLE, Item={"pk": S("b4"), "g1": S("x"), "g3": S("w")})
    reqs = [{"PutRequest": {"Item": it}} for it in items]
    reqs.append({"DeleteRequest": {"Key": K("b4")}})
    r = ddb.batch_write_item(RequestItems={
        TABLE: reqs,
        PLAIN: [{"PutRequest": {"Item": {"pk": S("p1"), "g1": S("x")}}}]},
        ReturnConsumedCapacity="INDEXES")
    assert not r.get("UnprocessedItems"), r
    by = {c["TableName"]: c for c in r["ConsumedCapacity"]}
    assert set(by) == {TABLE, PLAIN}, r
    # table: 2 + 1 + 1 + 1 (each item rounded apart); ByAll: b1 put 2 + b4 delete 1;
    # ByKeys: b2 1; ByInc: b2 1 + b4 delete 1
    check(by[TABLE], 5 + 3 + 1 + 2, 5, {"ByAll": 3, "ByKeys": 1, "ByInc": 2})
    check(by[PLAIN], 1, 1, {})
    # TOTAL: the sums
    reqs = [{"DeleteRequest": {"Key": K(it["pk"]["S"])}} for it in items]
    r = ddb.batch_write_item(RequestItems={TABLE: reqs}, ReturnConsumedCapacity="TOTAL")
    assert len(r["ConsumedCapacity"]) == 1, r
    # table 2 + 1 + 1, ByAll 2 (b1), ByKeys 1 and ByInc 1 (b2)
    check_total(r["ConsumedCapacity"][0], 4 + 2 + 1 + 1)


def test_provisioned():
    # a provisioned table's index reports its units the same way (its own capacity)
    check(put({"pk": S("p"), "g1": S("x")}, table=PROV), 2, 1, {"ByAll": 1})
    check(update(K("p"), "SET g1 = :v", {":v": S("y")}, table=PROV), 3, 1, {"ByAll": 2})
    check(delete(K("p"), table=PROV), 2, 1, {"ByAll": 1})


def describe_gsi(table, name):
    for g in ddb.describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes", []):
        if g["IndexName"] == name:
            return g
    return None


def test_index_added_and_deleted():
    # one index created or deleted at a time: the table's first must be built
    wait_for(lambda: (describe_gsi(PROV, "ByAll") or {}).get("IndexStatus") == "ACTIVE", 90,
             "ByAll ACTIVE")
    ddb.put_item(TableName=PROV, Item={"pk": S("q"), "g1": S("x"), "g4": S("n")})
    pt = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    ddb.update_table(
        TableName=PROV,
        AttributeDefinitions=[{"AttributeName": "g4", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": {
            "IndexName": "ByG4", "KeySchema": [{"AttributeName": "g4", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"}, "ProvisionedThroughput": pt}}])
    # charged from the moment it exists, CREATING (backfilling or not) or ACTIVE
    assert describe_gsi(PROV, "ByG4")["IndexStatus"] in ("CREATING", "ACTIVE")
    # (ByAll projects everything: g4 changed its entry, 1)
    check(update(K("q"), "SET g4 = :v", {":v": S("m")}, table=PROV), 4, 1,
          {"ByAll": 1, "ByG4": 2})
    wait_for(lambda: (describe_gsi(PROV, "ByG4") or {}).get("IndexStatus") == "ACTIVE", 90,
             "ByG4 ACTIVE")
    check(update(K("q"), "SET g4 = :v", {":v": S("k")}, table=PROV), 4, 1,
          {"ByAll": 1, "ByG4": 2})
    # deleted: no longer charged
    ddb.update_table(TableName=PROV,
                     GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "ByG4"}}])
    wait_for(lambda: describe_gsi(PROV, "ByG4") is None, 30, "ByG4 gone")
    check(update(K("q"), "SET g4 = :v", {":v": S("j")}, table=PROV), 2, 1, {"ByAll": 1})
    check(update(K("q"), "SET g1 = :v", {":v": S("j")}, table=PROV), 3, 1, {"ByAll": 2})


def main():
    global C, ddb
    C = Cluster().start()
    try:
        ddb = client()
        # the index lifecycle first, while the indexer has little else to do
        rc = run_tests([
            ("a provisioned table with a GSI", test_create_provisioned),
            ("an index being added is charged, a deleted one is not",
             test_index_added_and_deleted),
            ("an on-demand table with three GSIs and one without", test_create),
            ("PutItem of a new item: 1 per index, TOTAL the sum, an identical put 0",
             test_put_new_item),
            ("PutItem of a 3.5 KB item: the ALL entry 4 units, KEYS_ONLY 1", test_put_big_item),
            ("UpdateItem moving an index key: 2 writes on that index", test_update_index_key),
            ("UpdateItem of attributes an index does not project: 0 for it",
             test_update_unprojected),
            ("sparse items: no entry, no units", test_sparse),
            ("DeleteItem: each entry removed 1 (sized), nothing deleted 0", test_delete),
            ("BatchWriteItem: ConsumedCapacity per table with the GSIs' sums", test_batch_write),
            ("provisioned table: the index's units reported the same way", test_provisioned),
        ])
        if rc:   # what the services said, for the failure's diagnosis
            for p in C.procs.values():
                sys.stderr.write("---- %s log tail\n%s\n" % (p.name, p.tail(40)))
        return rc
    finally:
        C.stop()


if __name__ == "__main__":
    sys.exit(main())
