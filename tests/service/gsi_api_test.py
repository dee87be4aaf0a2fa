"""Global secondary indexes through the table API and the read path (GSI issue: router and
controller), with real etcd + storage + controller + router processes: CreateTable with two GSIs
recorded in the catalog (GsiMeta) and described; their partitions planned from each index's own
throughput and created on the storage nodes with the index's key schema; UpdateTable adding an
index (Backfilling) and deleting one (its partitions dropped, its GsiMeta removed); Query and Scan
refusing what DynamoDB refuses (ConsistentRead, an index not ACTIVE, ALL_ATTRIBUTES on an index
that does not project everything). The data path runs without an indexer: the test writes index
entries into the GSI partitions itself through the storage node's internal Put, under
dyn_keycodec_gsi_key's keys, and flips the GsiMeta to ACTIVE in etcd. The key hash (XXH3) is not
recomputed in Python: a one-partition helper table's change log gives each value's item key
be64(hash(v)) || enc(v), the prefix of every entry key with that index partition key."""
import os
import re
import sys
import time

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from dyne_harness import (Cluster, DyneError, from_json, has_partition, internal_stubs,  # noqa
                          run_tests, wait_active, wait_for)

C = None
cl = None
V, L = "ValidationException", "LimitExceededException"
T = "gsi"
BACKFILLING = "Cannot read from backfilling global secondary index"


def expect_error(fn, etype, message=None):
    try:
        fn()
    except DyneError as e:
        assert e.type == etype, "expected %s, got %s: %s" % (etype, e.type, e.message)
        if message is not None:
            assert e.message == message, "message %r != expected %r" % (e.message, message)
        return e
    raise AssertionError("expected %s, call succeeded" % etype)


def meta(table):
    """The table's catalog entry (TableMeta) and its mod revision; (None, 0) if absent."""
    i = internal_stubs()
    kv = C.etcd().get("/dyne/tables/" + table)
    if kv is None:
        return None, 0
    m = i.catalog.TableMeta()
    m.ParseFromString(kv["value"])
    return m, kv["mod_revision"]


def gsi_meta(table, index):
    m, _ = meta(table)
    for g in (m.gsis if m is not None else []):
        if g.index_name == index:
            return g
    return None


def set_gsi_status(table, index, status):
    """What the indexer does when its backfill is over: the GsiMeta ACTIVE, Backfilling false
    (a compare-and-swap on the entry, retried)."""
    for _ in range(50):
        m, rev = meta(table)
        for g in m.gsis:
            if g.index_name == index:
                g.status = status
                if g.HasField("backfilling"):
                    g.backfilling = False
        if C.etcd().cas("/dyne/tables/" + table, rev, m.SerializeToString()):
            return
        time.sleep(0.05)
    raise AssertionError("cannot update the catalog entry of %s" % table)


def wait_gsi_partitions(table, index, n=None, timeout=30):
    """The index's partitions, once planned and present on their storage nodes."""
    def ready():
        g = gsi_meta(table, index)
        if g is None or not g.partitions or (n is not None and len(g.partitions) != n):
            return None
        if not all(has_partition(p.node_addr, p.partition_id) for p in g.partitions):
            return None
        return list(g.partitions)
    return wait_for(ready, timeout, "partitions of %s.%s" % (table, index))


def S(v):
    return {"S": v}


def enc_s(v):
    """libs/keycodec enc() of an S value: its UTF-8 bytes, 0x00 escaped as 00 FF, then 00 01."""
    return v.encode().replace(b"\x00", b"\x00\xff") + b"\x00\x01"


class Keys:
    """item_key(v) = be64(hash(v)) || enc(v) for S values, read back from the change log of a
    one-partition hash-only table (the storage node computes the hash as the keycodec does)."""

    def __init__(self):
        self.i = internal_stubs()
        cl.call("CreateTable", {
            "TableName": "hasher",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}})
        wait_active(cl, "hasher")
        m, _ = meta("hasher")
        assert len(m.partitions) == 1
        self.p = m.partitions[0]
        self.ch = grpc.insecure_channel(self.p.node_addr)
        self.stub = self.i.storage_grpc.StorageStub(self.ch)
        # a consumer, so that the partition logs its writes (it logs only while consumed)
        self.stub.RegisterConsumer(self.i.storage.RegisterConsumerRequest(
            partition_id=self.p.partition_id, consumer="keys", lsn=0), timeout=10)
        self.cache = {}

    def item_key(self, v):
        if v not in self.cache:
            cl.call("PutItem", {"TableName": "hasher", "Item": {"pk": S(v), "n": {"N": str(
                len(self.cache))}}})
            recs = self.stub.ReadChanges(self.i.storage.ReadChangesRequest(
                partition_id=self.p.partition_id, after_lsn=0), timeout=10).records
            k = [r.key for r in recs if r.keys.values["pk"].S == v][-1]
            assert k[8:] == enc_s(v), (k, v)
            self.cache[v] = bytes(k)
        return self.cache[v]

    def hash(self, v):
        return int.from_bytes(self.item_key(v)[:8], "big")

    def close(self):
        self.ch.close()


def put_entry(keys, table, index, entry, ipk, isk, tpk, tsk=None):
    """Writes one index entry (the base item projected) into the GSI partition owning
    hash(entry[ipk]), under dyn_keycodec_gsi_key's key."""
    i = internal_stubs()
    key = keys.item_key(entry[ipk]["S"])
    for name in (isk, tpk, tsk):
        if name is not None:
            key += enc_s(entry[name]["S"])
    h = keys.hash(entry[ipk]["S"])
    g = gsi_meta(table, index)
    p = [p for p in g.partitions if p.hash_start <= h <= p.hash_end][0]
    with grpc.insecure_channel(p.node_addr) as ch:
        i.storage_grpc.StorageStub(ch).Put(from_json(i.storage.PutRequest(), {
            "partition_id": p.partition_id, "key": key, "item": entry}), timeout=10)


def create_table():
    d = cl.call("CreateTable", {
        "TableName": T,
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "gpk", "AttributeType": "S"},
                                 {"AttributeName": "gsk", "AttributeType": "S"},
                                 {"AttributeName": "bpk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        "GlobalSecondaryIndexes": [
            {"IndexName": "byA",
             "KeySchema": [{"AttributeName": "gpk", "KeyType": "HASH"},
                           {"AttributeName": "gsk", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["inc"]},
             "ProvisionedThroughput": {"ReadCapacityUnits": 4, "WriteCapacityUnits": 3}},
            # 6,000 RCU: two partitions by the rule of thumb (3,000 RCU each)
            {"IndexName": "byB",
             "KeySchema": [{"AttributeName": "bpk", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "ALL"},
             "ProvisionedThroughput": {"ReadCapacityUnits": 6000, "WriteCapacityUnits": 5}}]})
    return d["TableDescription"]


def test_create_describe():
    d = create_table()
    assert d["TableStatus"] == "CREATING"
    for g in d["GlobalSecondaryIndexes"]:
        # indexes made by CreateTable never show Backfilling
        assert g["IndexStatus"] == "CREATING" and "Backfilling" not in g, g
    t = wait_active(cl, T)
    a, b = sorted(t["GlobalSecondaryIndexes"], key=lambda g: g["IndexName"])
    assert a["IndexName"] == "byA" and b["IndexName"] == "byB"
    assert a["IndexStatus"] == "CREATING" and "Backfilling" not in a, a
    assert a["ItemCount"] == 0 and a["IndexSizeBytes"] == 0
    assert a["IndexArn"].endswith(":table/gsi/index/byA"), a["IndexArn"]
    assert a["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["inc"]}
    assert [k["AttributeName"] for k in a["KeySchema"]] == ["gpk", "gsk"]
    assert a["ProvisionedThroughput"]["ReadCapacityUnits"] == 4
    assert a["ProvisionedThroughput"]["WriteCapacityUnits"] == 3
    assert b["Projection"] == {"ProjectionType": "ALL"}
    # the catalog: one GsiMeta per index, key types from AttributeDefinitions
    m, _ = meta(T)
    assert [g.index_name for g in m.gsis] == ["byA", "byB"]
    ga, gb = m.gsis
    assert ga.index_id != gb.index_id and ga.index_id.startswith(m.table_id + "-byA-"), ga
    assert (ga.key_schema.pk_name, ga.key_schema.pk_type, ga.key_schema.sk_name,
            ga.key_schema.sk_type) == ("gpk", "S", "gsk", "S")
    assert gb.key_schema.pk_name == "bpk" and not gb.key_schema.HasField("sk_name")
    assert ga.projection_type == "INCLUDE" and list(ga.non_key_attributes) == ["inc"]
    assert gb.projection_type == "ALL"
    assert ga.status == "CREATING" and not ga.HasField("backfilling")
    assert ga.creation_time > 0
    # partitions of their own, planned from each index's throughput and created on the nodes
    pa = wait_gsi_partitions(T, "byA", 1)
    pb = wait_gsi_partitions(T, "byB", 2)
    assert pa[0].partition_id == ga.index_id + ".0"
    assert sorted(p.partition_id for p in pb) == [gb.index_id + ".0", gb.index_id + ".1"]
    assert pb[0].hash_start == 0 and pb[-1].hash_end == 2 ** 64 - 1
    log = ""
    for name in ("storage", "s2"):
        with open(C.procs[name].log_path, "rb") as f:
            log += f.read().decode(errors="replace")
    # created as index partitions (CreatePartitionRequest.gsi)
    for p in pa + pb:
        assert re.search(r"STORAGE-PARTITION-CREATE partition=%s table=%s .*gsi=1" % (
            re.escape(p.partition_id), T), log), p.partition_id
    # the table's own partitions are not the index's
    assert all(not p.partition_id.startswith(ga.index_id) for p in m.partitions)


def test_read_errors():
    q = {"TableName": T, "IndexName": "byB", "KeyConditionExpression": "bpk = :v",
         "ExpressionAttributeValues": {":v": S("x")}}
    expect_error(lambda: cl.call("Query", dict(q, ConsistentRead=True)), V,
                 "Consistent reads are not supported on global secondary indexes")
    expect_error(lambda: cl.call("Scan", {"TableName": T, "IndexName": "byB",
                                          "ConsistentRead": True}), V,
                 "Consistent reads are not supported on global secondary indexes")
    # CREATING (no indexer has built it): DynamoDB's text for an index still backfilling
    expect_error(lambda: cl.call("Query", q), V, BACKFILLING)
    expect_error(lambda: cl.call("Scan", {"TableName": T, "IndexName": "byA"}), V, BACKFILLING)
    expect_error(lambda: cl.call("Scan", {"TableName": T, "IndexName": "byA",
                                          "Select": "ALL_ATTRIBUTES"}), V,
                 "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not "
                 "supported for global secondary index byA because its projection type is not ALL")
    expect_error(lambda: cl.call("Scan", {"TableName": T, "IndexName": "nope"}), V,
                 "The table does not have the specified index: nope")


def test_update_create_delete():
    # no indexer here: the indexes of CreateTable are made ACTIVE by hand first, or the rule of
    # one online index change at a time would refuse every change below
    for ix in ("byA", "byB"):
        set_gsi_status(T, ix, "ACTIVE")
    expect_error(lambda: cl.call("UpdateTable", {
        "TableName": T, "AttributeDefinitions": [{"AttributeName": "c", "AttributeType": "S"}],
        "GlobalSecondaryIndexUpdates": [
            {"Create": {"IndexName": "byC", "KeySchema": [{"AttributeName": "c",
                                                           "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "KEYS_ONLY"},
                        "ProvisionedThroughput": {"ReadCapacityUnits": 1,
                                                  "WriteCapacityUnits": 1}}},
            {"Delete": {"IndexName": "byA"}}]}), L,
        "Subscriber limit exceeded: Only 1 online index can be created or deleted "
        "simultaneously per table")
    d = cl.call("UpdateTable", {
        "TableName": T, "AttributeDefinitions": [{"AttributeName": "c", "AttributeType": "S"}],
        "GlobalSecondaryIndexUpdates": [
            {"Create": {"IndexName": "byC", "KeySchema": [{"AttributeName": "c",
                                                           "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "KEYS_ONLY"},
                        "ProvisionedThroughput": {"ReadCapacityUnits": 1,
                                                  "WriteCapacityUnits": 1}}}]})["TableDescription"]
    assert d["TableStatus"] == "UPDATING"
    c = [g for g in d["GlobalSecondaryIndexes"] if g["IndexName"] == "byC"][0]
    # the answer comes before the backfill starts (DynamoDB's resource allocation phase)
    assert c["IndexStatus"] == "CREATING" and c["Backfilling"] is False, c
    gc = gsi_meta(T, "byC")
    assert gc.status == "CREATING" and gc.HasField("backfilling") and gc.backfilling
    assert (gc.key_schema.pk_name, gc.key_schema.pk_type) == ("c", "S")
    assert gc.projection_type == "KEYS_ONLY"
    t = wait_active(cl, T)
    c = [g for g in t["GlobalSecondaryIndexes"] if g["IndexName"] == "byC"][0]
    assert c["IndexStatus"] == "CREATING" and c["Backfilling"] is True, c
    parts = wait_gsi_partitions(T, "byC", 1)
    assert parts[0].partition_id == gc.index_id + ".0"
    expect_error(lambda: cl.call("Scan", {"TableName": T, "IndexName": "byC"}), V, BACKFILLING)
    # Delete: DELETING in the catalog until the controller has dropped the partitions
    d = cl.call("UpdateTable", {"TableName": T, "GlobalSecondaryIndexUpdates": [
        {"Delete": {"IndexName": "byC"}}]})["TableDescription"]
    assert [g["IndexStatus"] for g in d["GlobalSecondaryIndexes"]
            if g["IndexName"] == "byC"] == ["DELETING"]
    wait_for(lambda: gsi_meta(T, "byC") is None, 30, "byC's GsiMeta removed")
    wait_for(lambda: not has_partition(parts[0].node_addr, parts[0].partition_id), 30,
             "byC's partition dropped")
    t = wait_active(cl, T)
    assert sorted(g["IndexName"] for g in t["GlobalSecondaryIndexes"]) == ["byA", "byB"]
    expect_error(lambda: cl.call("Scan", {"TableName": T, "IndexName": "byC"}), V,
                 "The table does not have the specified index: byC")
    # a new incarnation of the name is another index
    cl.call("UpdateTable", {
        "TableName": T, "AttributeDefinitions": [{"AttributeName": "c", "AttributeType": "S"}],
        "GlobalSecondaryIndexUpdates": [
            {"Create": {"IndexName": "byC", "KeySchema": [{"AttributeName": "c",
                                                           "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "KEYS_ONLY"},
                        "ProvisionedThroughput": {"ReadCapacityUnits": 1,
                                                  "WriteCapacityUnits": 1}}}]})
    assert gsi_meta(T, "byC").index_id != gc.index_id
    wait_active(cl, T)
    wait_gsi_partitions(T, "byC", 1)
    cl.call("UpdateTable", {"TableName": T, "GlobalSecondaryIndexUpdates": [
        {"Delete": {"IndexName": "byC"}}]})
    wait_for(lambda: gsi_meta(T, "byC") is None, 30, "byC's GsiMeta removed")
    wait_active(cl, T)


# entries: table key pk; byA (gpk, gsk) INCLUDE inc; byB (bpk) ALL
ITEMS = [{"pk": S("t%02d" % n), "gpk": S("g%d" % (n % 3)), "gsk": S("s%02d" % (20 - n)),
          "bpk": S("b%d" % (n % 4)), "inc": S("i%d" % n), "other": S("o%d" % n)}
         for n in range(12)]


def project_a(item):
    return {k: v for k, v in item.items() if k in ("pk", "gpk", "gsk", "inc")}


def test_reads(keys):
    for it in ITEMS:
        put_entry(keys, T, "byA", project_a(it), "gpk", "gsk", "pk")
        put_entry(keys, T, "byB", it, "bpk", None, "pk")
    set_gsi_status(T, "byA", "ACTIVE")
    set_gsi_status(T, "byB", "ACTIVE")

    def q(index, cond, vals, **kw):
        return cl.call("Query", dict({"TableName": T, "IndexName": index,
                                      "KeyConditionExpression": cond,
                                      "ExpressionAttributeValues": vals}, **kw))
    r = wait_for(lambda: _try(lambda: q("byB", "bpk = :v", {":v": S("b1")})), 10,
                 "the router to see byB ACTIVE")
    want = sorted([it for it in ITEMS if it["bpk"] == S("b1")], key=lambda it: it["pk"]["S"])
    assert r["Items"] == want, r["Items"]   # ALL: whole items, table-key order
    assert r["Count"] == 3 and "LastEvaluatedKey" not in r
    # paging: LastEvaluatedKey holds the index key and the table key
    got, esk = [], None
    while True:
        kw = {"Limit": 2}
        if esk:
            kw["ExclusiveStartKey"] = esk
        r = q("byB", "bpk = :v", {":v": S("b1")}, **kw)
        got += r["Items"]
        esk = r.get("LastEvaluatedKey")
        if not esk:
            break
        assert set(esk) == {"pk", "bpk"}, esk
    assert got == want
    # byA: range conditions on the index sort key, projection INCLUDE, reverse order
    g1 = sorted([project_a(it) for it in ITEMS if it["gpk"] == S("g1")],
                key=lambda e: e["gsk"]["S"])
    r = q("byA", "gpk = :g AND gsk BETWEEN :lo AND :hi",
          {":g": S("g1"), ":lo": S("s10"), ":hi": S("s19")})
    assert r["Items"] == [e for e in g1 if "s10" <= e["gsk"]["S"] <= "s19"], r["Items"]
    r = q("byA", "gpk = :g AND gsk > :lo", {":g": S("g1"), ":lo": S("s13")},
          ScanIndexForward=False, Limit=1)
    assert r["Items"] == [g1[-1]] and set(r["LastEvaluatedKey"]) == {"pk", "gpk", "gsk"}
    r2 = q("byA", "gpk = :g AND gsk > :lo", {":g": S("g1"), ":lo": S("s13")},
           ScanIndexForward=False, ExclusiveStartKey=r["LastEvaluatedKey"])
    assert r2["Items"] == list(reversed([e for e in g1 if e["gsk"]["S"] > "s13"]))[1:]
    r = q("byA", "begins_with(gsk, :p) AND gpk = :g", {":g": S("g0"), ":p": S("s1")})
    assert [e["pk"]["S"] for e in r["Items"]] == sorted(
        [it["pk"]["S"] for it in ITEMS if it["gpk"] == S("g0") and it["gsk"]["S"] < "s20"
         and it["gsk"]["S"].startswith("s1")], reverse=True)
    # what the index does not project is absent (a GSI never reads the table)
    r = q("byA", "gpk = :g", {":g": S("g2")}, ProjectionExpression="pk, #o, inc",
          ExpressionAttributeNames={"#o": "other"})
    assert r["Items"] and all(set(e) == {"pk", "inc"} for e in r["Items"]), r["Items"]
    r = q("byA", "gpk = :g", {":g": S("g2")}, FilterExpression="attribute_exists(#o)",
          ExpressionAttributeNames={"#o": "other"})
    assert r["Count"] == 0 and r["ScannedCount"] == 4
    # capacity is the index's
    r = q("byB", "bpk = :v", {":v": S("b2")}, ReturnConsumedCapacity="INDEXES")
    cc = r["ConsumedCapacity"]
    assert cc["GlobalSecondaryIndexes"]["byB"]["CapacityUnits"] == 0.5, cc
    assert cc["CapacityUnits"] == 0.5 and cc["Table"].get("CapacityUnits", 0) == 0, cc
    expect_error(lambda: q("byB", "pk = :v", {":v": S("t01")}), V)
    expect_error(lambda: q("byB", "bpk = :v", {":v": S("b1")},
                           ExclusiveStartKey={"pk": S("t01")}), V,
                 "The provided starting key is invalid")

    # Scan: every entry once, in index hash order across partitions, paged and in segments
    r = cl.call("Scan", {"TableName": T, "IndexName": "byB"})
    assert sorted(it["pk"]["S"] for it in r["Items"]) == [it["pk"]["S"] for it in ITEMS]
    got, esk = [], None
    while True:
        req = {"TableName": T, "IndexName": "byB", "Limit": 5}
        if esk:
            req["ExclusiveStartKey"] = esk
        r = cl.call("Scan", req)
        got += r["Items"]
        esk = r.get("LastEvaluatedKey")
        if not esk:
            break
    assert sorted(it["pk"]["S"] for it in got) == [it["pk"]["S"] for it in ITEMS]
    assert len(got) == len(ITEMS)
    segs = [cl.call("Scan", {"TableName": T, "IndexName": "byB", "Segment": s,
                             "TotalSegments": 3})["Items"] for s in range(3)]
    assert sorted(it["pk"]["S"] for seg in segs for it in seg) == [it["pk"]["S"] for it in ITEMS]
    r = cl.call("Scan", {"TableName": T, "IndexName": "byA", "Select": "COUNT"})
    assert r["Count"] == len(ITEMS)
    r = cl.call("Scan", {"TableName": T, "IndexName": "byA"})
    assert all(set(e) == {"pk", "gpk", "gsk", "inc"} for e in r["Items"])
    # ItemCount from the index partitions
    t = cl.call("DescribeTable", {"TableName": T})["Table"]
    counts = {g["IndexName"]: (g["IndexStatus"], g["ItemCount"])
              for g in t["GlobalSecondaryIndexes"]}
    assert counts == {"byA": ("ACTIVE", 12), "byB": ("ACTIVE", 12)}, counts
    assert all(g["IndexSizeBytes"] > 0 for g in t["GlobalSecondaryIndexes"])


def _try(fn):
    try:
        return fn()
    except DyneError as e:
        if e.message == BACKFILLING:
            return None
        raise


def test_delete_table_drops_index_partitions():
    parts = [p for g in meta(T)[0].gsis for p in g.partitions]
    assert len(parts) == 3
    cl.call("DeleteTable", {"TableName": T})
    wait_for(lambda: meta(T)[0] is None, 30, "the table gone")
    for p in parts:
        assert not has_partition(p.node_addr, p.partition_id), p.partition_id


def main():
    global C, cl
    C = Cluster(storage_nodes=2).start()
    # this test writes index entries and flips index statuses itself: no indexer (gsi_test.py
    # drives the real one)
    C.procs.pop("indexer").stop()
    try:
        cl = C.client()
        keys = Keys()
        return run_tests([
            ("CreateTable with two GSIs: catalog, description, index partitions",
             test_create_describe),
            ("Query/Scan on a GSI: ConsistentRead, CREATING, ALL_ATTRIBUTES", test_read_errors),
            ("UpdateTable creates and deletes a GSI", test_update_create_delete),
            ("Query/Scan read the index partitions: paging, segments, projection, capacity",
             lambda: test_reads(keys)),
            ("DeleteTable drops the index partitions", test_delete_table_drops_index_partitions),
        ])
    finally:
        C.stop()


if __name__ == "__main__":
    sys.exit(main())
