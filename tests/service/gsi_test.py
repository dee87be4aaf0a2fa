"""Global secondary indexes end to end: etcd, 2 storage nodes, the controller, the indexer and the
router as real processes. Tables and items go in through the DynamoDB HTTP endpoint with boto3;
indexes are read through both boto3 and the gRPC API. A checker compares every index with what a
Scan of the base table implies (projection, sparse items, items whose index key moves), after
random writes, after kill -9 of the indexer mid-stream, and for an index added to a populated
table while writes continue."""
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from dyne_harness import (Cluster, has_partition, internal_stubs, run_tests, scrape,  # noqa: E402
                          wait_for)

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

C = None
ddb = None   # boto3 on the DynamoDB endpoint
rpc = None   # the harness's gRPC client
TABLE = "GsiOrders"
KEY_ATTRS = ("customer", "order")


def client():
    return boto3.session.Session().client(
        "dynamodb", endpoint_url=C.ddb_endpoint(), region_name="us-east-1",
        aws_access_key_id="dev", aws_secret_access_key="dev",
        config=Config(retries={"max_attempts": 5}))


def describe_index(name):
    t = ddb.describe_table(TableName=TABLE)["Table"]
    for g in t.get("GlobalSecondaryIndexes", []):
        if g["IndexName"] == name:
            return g
    return None


def index_id(name):
    tm = internal_stubs().catalog.TableMeta()
    tm.ParseFromString(C.etcd().get("/dyne/tables/" + TABLE)["value"])
    return [g.index_id for g in tm.gsis if g.index_name == name][0]


def wait_index_active(name, timeout=90):
    wait_for(lambda: (describe_index(name) or {}).get("IndexStatus") == "ACTIVE", timeout,
             "index %s ACTIVE" % name)


# ---- the model: what a scan of the base table implies for an index ----

INDEXES = {
    # name: (hash attr, range attr or None, projection type, non-key attributes)
    "ByStatus": ("status", "placed", "ALL", []),
    "ByCity": ("city", None, "KEYS_ONLY", []),
}


def entry_of(item, index):
    h, r, proj, nonkey = INDEXES[index]
    if h not in item or "S" not in item[h] or (r and (r not in item or "N" not in item[r])):
        return None   # sparse: no entry
    if proj == "ALL":
        return dict(item)
    keep = set(KEY_ATTRS) | {h} | ({r} if r else set()) | set(nonkey)
    return {k: v for k, v in item.items() if k in keep}


def scan_all():
    items, kw = [], {}
    while True:
        r = ddb.scan(TableName=TABLE, **kw)
        items += r["Items"]
        if "LastEvaluatedKey" not in r:
            return items
        kw["ExclusiveStartKey"] = r["LastEvaluatedKey"]


def expected(index, base):
    want = {}
    for it in base:
        e = entry_of(it, index)
        if e is not None:
            want.setdefault(e[INDEXES[index][0]]["S"], []).append(e)
    return want


def query_index(index, hv, grpc=False, limit=None):
    """Every entry of index value hv, through boto3 (or the gRPC API), paging with Limit."""
    h = INDEXES[index][0]
    out, start = [], None
    while True:
        if grpc:
            req = {"TableName": TABLE, "IndexName": index,
                   "KeyConditionExpression": "#h = :v",
                   "ExpressionAttributeNames": {"#h": h},
                   "ExpressionAttributeValues": {":v": {"S": hv}}}
            if limit:
                req["Limit"] = limit
            if start:
                req["ExclusiveStartKey"] = start
            r = rpc.call("Query", req)
        else:
            kw = {"Limit": limit} if limit else {}
            if start:
                kw["ExclusiveStartKey"] = start
            r = ddb.query(TableName=TABLE, IndexName=index, KeyConditionExpression="#h = :v",
                          ExpressionAttributeNames={"#h": h},
                          ExpressionAttributeValues={":v": {"S": hv}}, **kw)
        out += r.get("Items", [])
        start = r.get("LastEvaluatedKey")
        if not start:
            return out


def canon(entries):
    return sorted(repr(sorted((k, repr(v)) for k, v in e.items())) for e in entries)


def index_matches(index, grpc=False):
    """(True, None) when every index value's Query equals the model from a base Scan."""
    base = scan_all()
    want = expected(index, base)
    values = set(want) | {it[INDEXES[index][0]]["S"] for it in base
                          if INDEXES[index][0] in it and "S" in it[INDEXES[index][0]]}
    got_total = 0
    for hv in sorted(values):
        got = query_index(index, hv, grpc=grpc, limit=7)
        got_total += len(got)
        g, w = canon(got), canon(want.get(hv, []))
        if g != w:
            return False, "value %s: %d entries, want %d; extra %s; missing %s" % (
                hv, len(got), len(w), sorted(set(g) - set(w))[:3], sorted(set(w) - set(g))[:3])
    # nothing beyond what the model has: a Scan of the index counts every entry
    n, kw = 0, {}
    while True:
        r = ddb.scan(TableName=TABLE, IndexName=index, Select="COUNT", **kw)
        n += r["Count"]
        if "LastEvaluatedKey" not in r:
            break
        kw["ExclusiveStartKey"] = r["LastEvaluatedKey"]
    want_total = sum(len(v) for v in want.values())
    if n != want_total:
        return False, "index scan counts %d entries, the model %d" % (n, want_total)
    return True, None


def wait_converged(index, timeout=60, grpc=False):
    last = [None]

    def ok():
        good, why = index_matches(index, grpc=grpc)
        last[0] = why
        return good
    try:
        wait_for(ok, timeout, "index %s converged" % index)
    except Exception:
        raise AssertionError("index %s did not converge: %s" % (index, last[0]))


# ---- writes ----

STATUSES = ["NEW", "PAID", "SHIPPED", "DONE"]
CITIES = ["Oslo", "Lima", "Pune", "Kyiv", "Cork"]


def random_item(rng, i):
    it = {"customer": {"S": "c%03d" % (i % 37)}, "order": {"N": str(i)},
          "total": {"N": str(rng.randint(1, 999))}, "note": {"S": "x" * rng.randint(0, 40)}}
    if rng.random() < 0.85:   # the rest are sparse in ByStatus
        it["status"] = {"S": rng.choice(STATUSES)}
        it["placed"] = {"N": str(rng.randint(1, 10 ** 6))}
    if rng.random() < 0.7:    # and in ByCity
        it["city"] = {"S": rng.choice(CITIES)}
    if rng.random() < 0.05:   # the index key of the wrong type: no entry
        it["city"] = {"N": "7"}
    return it


def write_batch(rng, n, start=0):
    for off in range(0, n, 25):
        reqs = [{"PutRequest": {"Item": random_item(rng, start + i)}}
                for i in range(off, min(off + 25, n))]
        r = ddb.batch_write_item(RequestItems={TABLE: reqs})
        while r.get("UnprocessedItems"):
            r = ddb.batch_write_item(RequestItems=r["UnprocessedItems"])


def mutate(rng, n, universe):
    """n random updates (index keys move), overwrites and deletes over items 0..universe-1."""
    for _ in range(n):
        i = rng.randrange(universe)
        key = {"customer": {"S": "c%03d" % (i % 37)}, "order": {"N": str(i)}}
        x = rng.random()
        if x < 0.4:
            ddb.update_item(TableName=TABLE, Key=key,
                            UpdateExpression="SET #s = :s, placed = :p",
                            ExpressionAttributeNames={"#s": "status"},
                            ExpressionAttributeValues={":s": {"S": rng.choice(STATUSES)},
                                                       ":p": {"N": str(rng.randint(1, 10 ** 6))}})
        elif x < 0.55:
            ddb.update_item(TableName=TABLE, Key=key, UpdateExpression="REMOVE city")
        elif x < 0.8:
            ddb.put_item(TableName=TABLE, Item=random_item(rng, i))
        else:
            ddb.delete_item(TableName=TABLE, Key=key)


# ---- cases ----

def test_create():
    ddb.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": t} for a, t in (
            ("customer", "S"), ("order", "N"), ("status", "S"), ("placed", "N"),
            ("city", "S"))],
        KeySchema=[{"AttributeName": "customer", "KeyType": "HASH"},
                   {"AttributeName": "order", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {"IndexName": "ByStatus",
             "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"},
                           {"AttributeName": "placed", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "ALL"}},
            {"IndexName": "ByCity",
             "KeySchema": [{"AttributeName": "city", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "KEYS_ONLY"}}])
    wait_for(lambda: ddb.describe_table(TableName=TABLE)["Table"]["TableStatus"] == "ACTIVE",
             60, "table ACTIVE")
    for name in INDEXES:
        wait_index_active(name)
        g = describe_index(name)
        assert "Backfilling" not in g, g   # made by CreateTable: never shown, ACTIVE either


def test_random_writes_converge():
    rng = random.Random(7)
    write_batch(rng, 400)
    mutate(rng, 250, 400)
    for name in INDEXES:
        wait_converged(name)
    # the same answers through the gRPC API
    wait_converged("ByStatus", grpc=True)


def test_reads():
    # sort order on the index range key, forward and reverse
    items = query_index("ByStatus", "PAID")
    placed = [int(i["placed"]["N"]) for i in items]
    assert placed == sorted(placed), placed[:10]
    r = ddb.query(TableName=TABLE, IndexName="ByStatus", KeyConditionExpression="#s = :s",
                  ExpressionAttributeNames={"#s": "status"},
                  ExpressionAttributeValues={":s": {"S": "PAID"}}, ScanIndexForward=False)
    rev = [int(i["placed"]["N"]) for i in r["Items"]]
    assert rev == sorted(placed, reverse=True)[:len(rev)], rev[:10]
    # KEYS_ONLY: table keys and index key only
    for it in query_index("ByCity", "Oslo"):
        assert set(it) <= {"customer", "order", "city"}, it
    # eventually consistent only
    try:
        ddb.query(TableName=TABLE, IndexName="ByCity", ConsistentRead=True,
                  KeyConditionExpression="city = :c",
                  ExpressionAttributeValues={":c": {"S": "Oslo"}})
        raise AssertionError("ConsistentRead on a GSI accepted")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "ValidationException", e.response
        assert "Consistent reads are not supported on global secondary indexes" in \
            e.response["Error"]["Message"], e.response


def start_writer(rng, n):
    """A thread running mutate(rng, n, 400) until the event is set: (event, errors, thread)."""
    stop = threading.Event()
    errors = []

    def writer():
        try:
            while not stop.is_set():
                mutate(rng, n, 400)
        except Exception as e:   # noqa: BLE001
            errors.append(e)
    t = threading.Thread(target=writer)
    t.start()
    return stop, errors, t


def test_indexer_kill9_mid_stream():
    stop, errors, t = start_writer(random.Random(11), 20)
    try:
        for _ in range(2):
            time.sleep(1.0)
            C.procs["indexer"].kill9()
            time.sleep(0.5)
            C.start_indexer()
    finally:
        stop.set()
        t.join()
    assert not errors, errors
    for name in INDEXES:
        wait_converged(name)


def test_add_index_while_writing():
    """UpdateTable adds an INCLUDE index to the populated table while writes go on: CREATING
    with Backfilling, then ACTIVE, and its contents converge."""
    INDEXES["ByTotal"] = ("customer", "total", "INCLUDE", ["note"])
    C.procs.pop("indexer").stop()
    C.start_indexer(args=["--scan-page=10"])
    stop, errors, t = start_writer(random.Random(13), 10)
    try:
        ddb.update_table(
            TableName=TABLE,
            AttributeDefinitions=[{"AttributeName": "customer", "AttributeType": "S"},
                                  {"AttributeName": "total", "AttributeType": "N"}],
            GlobalSecondaryIndexUpdates=[{"Create": {
                "IndexName": "ByTotal",
                "KeySchema": [{"AttributeName": "customer", "KeyType": "HASH"},
                              {"AttributeName": "total", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["note"]}}}])
        g = describe_index("ByTotal")
        assert g["IndexStatus"] == "CREATING", g
        # kill -9 of the indexer in the middle of the backfill (small scan pages make it long
        # enough), then a restart: the backfill resumes and still converges
        wait_for(lambda: scrape(C.indexers["indexer"]["http"]).get(
            'dyn_indexer_backfill_items_total{index="%s"}' % index_id("ByTotal"), 0) > 0,
            30, "the ByTotal backfill under way")
        assert describe_index("ByTotal")["IndexStatus"] == "CREATING"
        C.procs["indexer"].kill9()
        C.start_indexer(args=["--scan-page=10"])
        wait_index_active("ByTotal")
        assert describe_index("ByTotal")["Backfilling"] is False   # added by UpdateTable
        time.sleep(1.0)
    finally:
        stop.set()
        t.join()
    assert not errors, errors
    wait_converged("ByTotal")
    for it in query_index("ByTotal", "c001"):
        assert set(it) <= {"customer", "order", "total", "note"}, it


def test_delete_index():
    meta_before = C.etcd().get("/dyne/tables/" + TABLE)
    assert meta_before is not None
    i = internal_stubs()
    tm = i.catalog.TableMeta()
    tm.ParseFromString(meta_before["value"])
    parts = [p for g in tm.gsis if g.index_name == "ByCity" for p in g.partitions]
    assert parts, "ByCity has no partitions in the catalog"
    ddb.update_table(TableName=TABLE,
                     GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "ByCity"}}])
    wait_for(lambda: describe_index("ByCity") is None, 60, "ByCity gone")
    for p in parts:
        wait_for(lambda p=p: not has_partition(p.node_addr, p.partition_id), 60,
                 "partition %s dropped" % p.partition_id)
    del INDEXES["ByCity"]
    wait_converged("ByStatus")


def main():
    global C, ddb, rpc
    C = Cluster(storage_nodes=2).start()
    try:
        ddb = client()
        rpc = C.client()
        return run_tests([
            ("CreateTable with two GSIs turns ACTIVE with its indexes", test_create),
            ("random puts, updates, deletes: indexes equal the base scan (HTTP and gRPC)",
             test_random_writes_converge),
            ("index reads: order, KEYS_ONLY, no consistent reads", test_reads),
            ("kill -9 of the indexer mid-stream: indexes converge", test_indexer_kill9_mid_stream),
            ("an index added while writes continue: backfill, ACTIVE, converged",
             test_add_index_while_writing),
            ("an index deleted: gone, its partitions dropped", test_delete_index),
        ], on_failure=C.diagnose)
    finally:
        C.stop()


if __name__ == "__main__":
    sys.exit(main())
