"""Scale-out through real processes: etcd, three storage nodes, two controllers and a router.
A provisioned table of 24,000 RCU gets 8 partitions spread over the three nodes; items land on
every node (the nodes' own dyn_storage_partition_items gauges), full Scans across pages and
parallel Scan segments return every item exactly once, Query goes to one partition, BatchGetItem
and BatchWriteItem fan out under DynamoDB's limits (100 keys, 25 writes, 16 MB answers), and table
lifecycles (CREATING -> ACTIVE, DELETING -> gone with partitions dropped) complete across a
controller failover (kill -9 of the leader)."""
import os
import re
import signal
import sys
import threading
import time

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from dyne_harness import (Cluster, DyneError, has_partition, internal_stubs,  # noqa: E402
                          run_tests, scrape, wait_active, wait_for)

C = None
cl = None
E = None
NODES = ["storage", "s2", "s3"]
CTLS = ["controller", "c2"]
PKS = 200        # partition-key values in "big"
PER_PK = 5       # items per partition-key value
SERIES = re.compile(r'^dyn_storage_partition_items\{(.*)\}$')


def expect_error(fn, etype, message=None):
    try:
        fn()
    except DyneError as e:
        assert e.type == etype, "expected %s, got %s: %s" % (etype, e.type, e.message)
        if message is not None:
            assert e.message == message, "message %r, expected %r" % (e.message, message)
        return
    raise AssertionError("expected %s, call succeeded" % etype)


def http_port(name):
    return C.storage_http if name == "storage" else C.nodes[name]["http"]


def table_meta(name):
    kv = E.get("/dyne/tables/" + name)
    return None if kv is None else internal_stubs().catalog.TableMeta.FromString(kv["value"])


def node_items(name, table):
    """{partition: items} from node `name`'s metrics for `table`."""
    out = {}
    for series, v in scrape(http_port(name)).items():
        m = SERIES.match(series)
        if m is None:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if labels.get("table") == table:
            out[labels["partition"]] = v
    return out


def leader():
    def one():
        ls = [n for n in CTLS if n in C.procs and C.procs[n].p.poll() is None and
              scrape(C.controllers[n]["http"], timeout=1).get("dyn_controller_leader", 0) == 1]
        return ls[0] if len(ls) == 1 else None
    return wait_for(one, 15, "one leading controller")


def key(pk, sk):
    return {"pk": {"S": "p%03d" % pk}, "sk": {"N": str(sk)}}


def item(pk, sk):
    return dict(key(pk, sk), v={"S": "x" * (20 + (pk * 7 + sk) % 50)})


def ident(it):
    return (it["pk"]["S"], it["sk"]["N"])


ALL = {("p%03d" % p, str(s)) for p in range(PKS) for s in range(PER_PK)}


# ---- tests ----

def test_create_spreads():
    d = cl.call("CreateTable", {
        "TableName": "big",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "N"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                      {"AttributeName": "sk", "KeyType": "RANGE"}],
        "ProvisionedThroughput": {"ReadCapacityUnits": 24000, "WriteCapacityUnits": 100}})
    assert d["TableDescription"]["TableStatus"] == "CREATING"
    wait_active(cl, "big")
    m = table_meta("big")
    assert m.status == "ACTIVE" and len(m.partitions) == 8, m
    assert len({p.node_id for p in m.partitions}) == 3, [p.node_id for p in m.partitions]
    # the ranges cover the hash space, in order, without gaps
    parts = sorted(m.partitions, key=lambda p: p.hash_start)
    assert parts[0].hash_start == 0 and parts[-1].hash_end == 2 ** 64 - 1
    for a, b in zip(parts, parts[1:]):
        assert b.hash_start == a.hash_end + 1
    for p in m.partitions:
        assert has_partition(p.node_addr, p.partition_id), p


def test_batch_write_fans_out():
    reqs = [{"PutRequest": {"Item": item(p, s)}} for p in range(PKS) for s in range(PER_PK)]
    for i in range(0, len(reqs), 25):
        r = cl.call("BatchWriteItem", {"RequestItems": {"big": reqs[i:i + 25]}})
        assert not r.get("UnprocessedItems"), r
    # the limits' exact texts are the slice and HTTP tests' business; here: they hold
    expect_error(lambda: cl.call("BatchWriteItem", {"RequestItems": {"big": reqs[:26]}}),
                 "ValidationException")
    expect_error(lambda: cl.call("BatchWriteItem", {"RequestItems": {"big": [
        {"PutRequest": {"Item": item(1, 1)}}, {"DeleteRequest": {"Key": key(1, 1)}}]}}),
        "ValidationException", "Provided list of item keys contains duplicates")


def test_items_on_every_node():
    m = table_meta("big")
    want = {p.partition_id for p in m.partitions}

    def counts():
        per = {n: node_items(n, "big") for n in NODES}
        seen = {pid for d in per.values() for pid in d}
        total = sum(v for d in per.values() for v in d.values())
        return per if seen == want and total == len(ALL) else None
    per = wait_for(counts, 20, "every partition's item gauge to add up to %d" % len(ALL))
    for n in NODES:
        assert per[n] and sum(per[n].values()) > 0, (n, per)
        assert all(v > 0 for v in per[n].values()), (n, per[n])
    # each node reports only the partitions the catalog placed on it
    for p in m.partitions:
        name = [n for n in NODES if p.node_addr.endswith(":%d" % (
            C.storage_port if n == "storage" else C.nodes[n]["port"]))][0]
        assert p.partition_id in per[name], (p.partition_id, name)


def scan_all(**extra):
    got, start, pages = [], None, 0
    while True:
        req = dict({"TableName": "big"}, **extra)
        if start:
            req["ExclusiveStartKey"] = start
        r = cl.call("Scan", req)
        got += [ident(i) for i in r.get("Items", [])]
        assert r["Count"] == len(r.get("Items", []))
        pages += 1
        start = r.get("LastEvaluatedKey")
        if not start:
            return got, pages
        assert pages < 10000


def test_full_scan_exactly_once():
    for limit in (None, 1, 37, 333):
        got, pages = scan_all(**({"Limit": limit} if limit else {}))
        assert len(got) == len(ALL) and set(got) == ALL, (limit, len(got), len(set(got)))
        if limit:
            assert pages >= len(ALL) // limit, (limit, pages)
    # a small page size in bytes: the 1 MB cut is the same logic; Select COUNT counts all
    r, total, start = None, 0, None
    while True:
        req = {"TableName": "big", "Select": "COUNT", "Limit": 150}
        if start:
            req["ExclusiveStartKey"] = start
        r = cl.call("Scan", req)
        total += r["Count"]
        start = r.get("LastEvaluatedKey")
        if not start:
            break
    assert total == len(ALL)


def test_parallel_scan_exactly_once():
    for total in (2, 3, 8, 13, 64):
        got = []
        for seg in range(total):
            items, _ = scan_all(Segment=seg, TotalSegments=total, Limit=41)
            got += items
        assert len(got) == len(ALL) and set(got) == ALL, (total, len(got), len(set(got)))


def test_query_one_partition():
    for p in (0, 57, 199):
        r = cl.call("Query", {"TableName": "big", "KeyConditionExpression": "pk = :p",
                              "ExpressionAttributeValues": {":p": {"S": "p%03d" % p}}})
        assert [ident(i) for i in r["Items"]] == [("p%03d" % p, str(s)) for s in range(PER_PK)]
        r = cl.call("Query", {"TableName": "big", "ScanIndexForward": False, "Limit": 2,
                              "KeyConditionExpression": "pk = :p AND sk >= :s",
                              "ExpressionAttributeValues": {":p": {"S": "p%03d" % p},
                                                            ":s": {"N": "1"}}})
        assert [i["sk"]["N"] for i in r["Items"]] == ["4", "3"], r


def test_batch_get_fans_out():
    keys = [key(p, p % PER_PK) for p in range(100)]
    r = cl.call("BatchGetItem", {"RequestItems": {"big": {"Keys": keys}}})
    assert not r.get("UnprocessedKeys"), r
    got = sorted(ident(i) for i in r["Responses"]["big"])
    assert got == sorted(("p%03d" % p, str(p % PER_PK)) for p in range(100))
    # every item's whole content came back
    for i in r["Responses"]["big"]:
        p, s = int(i["pk"]["S"][1:]), int(i["sk"]["N"])
        assert i == item(p, s), i
    expect_error(lambda: cl.call("BatchGetItem", {"RequestItems": {"big": {
        "Keys": keys + [key(150, 0)]}}}), "ValidationException")
    expect_error(lambda: cl.call("BatchGetItem", {"RequestItems": {"big": {
        "Keys": [key(1, 1), key(1, 1)]}}}), "ValidationException",
        "Provided list of item keys contains duplicates")


def test_batch_get_16mb():
    # 50 items of ~380 KB on every node: one BatchGetItem answers at most 16 MB, the rest come
    # back as UnprocessedKeys, and asking again for those finishes the set
    big = "y" * (380 * 1024)
    for k in range(50):
        cl.call("PutItem", {"TableName": "big", "Item": {"pk": {"S": "big%02d" % k},
                                                         "sk": {"N": "0"}, "v": {"S": big}}})
    keys = [{"pk": {"S": "big%02d" % k}, "sk": {"N": "0"}} for k in range(50)]
    got, rounds, ask = set(), 0, keys
    while ask:
        rounds += 1
        r = cl.call("BatchGetItem", {"RequestItems": {"big": {"Keys": ask}}}, timeout=60)
        items = r["Responses"].get("big", [])
        assert sum(len(i["v"]["S"]) for i in items) <= 16 * 1024 * 1024
        got |= {i["pk"]["S"] for i in items}
        ask = r.get("UnprocessedKeys", {}).get("big", {}).get("Keys", [])
        assert rounds < 10
    assert rounds >= 2 and got == {"big%02d" % k for k in range(50)}, (rounds, len(got))
    for k in range(0, 50, 25):
        cl.call("BatchWriteItem", {"RequestItems": {"big": [
            {"DeleteRequest": {"Key": kk}} for kk in keys[k:k + 25]]}})
    got, _ = scan_all()
    assert set(got) == ALL and len(got) == len(ALL)


def test_lifecycle_across_failover():
    # CREATING: the leader dies right after the table is recorded; the other one finishes it
    ldr = leader()
    cl.call("CreateTable", {"TableName": "fover", "BillingMode": "PAY_PER_REQUEST",
                            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]})
    C.procs[ldr].kill9()
    wait_active(cl, "fover", timeout=40)
    other = leader()
    assert other != ldr
    m = table_meta("fover")
    assert len(m.partitions) == 4 and len({p.node_id for p in m.partitions}) == 3, m
    for k in range(40):
        cl.call("PutItem", {"TableName": "fover", "Item": {"pk": {"S": "k%d" % k}}})
    got = cl.call("Scan", {"TableName": "fover"})
    assert got["Count"] == 40
    # UPDATING -> ACTIVE with only the new leader
    d = cl.call("UpdateTable", {"TableName": "fover", "BillingMode": "PROVISIONED",
                                "ProvisionedThroughput": {"ReadCapacityUnits": 5,
                                                          "WriteCapacityUnits": 5}})
    assert d["TableDescription"]["TableStatus"] == "UPDATING"
    wait_active(cl, "fover")
    # DELETING: the killed controller comes back as the follower; the leader dies mid-delete
    C.start_controller(ldr)
    time.sleep(0.5)
    assert leader() == other
    cl.call("DeleteTable", {"TableName": "fover"})
    C.procs[other].kill9()

    def gone():
        try:
            cl.call("DescribeTable", {"TableName": "fover"})
            return False
        except DyneError as e:
            assert e.type == "ResourceNotFoundException", e
            return True
    wait_for(gone, 40, "fo deleted")
    assert leader() == ldr
    for p in m.partitions:
        assert not has_partition(p.node_addr, p.partition_id), p
    C.start_controller(other)


def test_deleted_table_leaves_nothing():
    m = table_meta("big")
    cl.call("DeleteTable", {"TableName": "big"})
    wait_for(lambda: table_meta("big") is None, 30, "big's catalog entry to go")
    for p in m.partitions:
        assert not has_partition(p.node_addr, p.partition_id), p
    expect_error(lambda: cl.call("GetItem", {"TableName": "big", "Key": key(1, 1)}),
                 "ResourceNotFoundException", "Requested resource not found")


def storage_stub(addr):
    i = internal_stubs()
    ch = grpc.insecure_channel(addr)
    return ch, i.storage_grpc.StorageStub(ch), i.storage


def test_stale_route_retried():
    # A partition moves while the router is frozen (SIGSTOP): created on another node, the map
    # in etcd changed, dropped from the first node. Requests already waiting at the router when
    # it resumes may be routed by the old map; storage answers that it has no such partition, and
    # the router sends them again where the map (cached, or read from etcd) now says. No client
    # sees an error, and the writes land on the new node.
    cl.call("CreateTable", {"TableName": "moving", "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}})
    wait_active(cl, "moving")
    kv = E.get("/dyne/tables/moving")
    m = internal_stubs().catalog.TableMeta.FromString(kv["value"])
    assert len(m.partitions) == 1
    p = m.partitions[0]
    ids = {}   # addr -> node id, as the nodes registered
    for nkv in E.range("/dyne/nodes/"):
        nm = internal_stubs().catalog.NodeMeta.FromString(nkv["value"])
        ids[nm.addr] = nm.node_id
    from_addr = p.node_addr
    to_addr = sorted(a for a in ids if a != from_addr)[0]
    for k in range(20):   # empty after the move: the test moves the partition, not its data
        cl.call("PutItem", {"TableName": "moving", "Item": {"pk": {"S": "old%d" % k}}})
    router = C.procs["router"]
    results, threads = [], []

    def one(k):
        c2 = C.client()
        try:
            c2.call("PutItem", {"TableName": "moving", "Item": {"pk": {"S": "new%d" % k}}})
            got = c2.call("GetItem", {"TableName": "moving", "Key": {"pk": {"S": "new%d" % k}}})
            results.append(("ok", got.get("Item")))
        except DyneError as e:
            results.append(("error", e.type + ": " + e.message))
        finally:
            c2.close()
    os.kill(router.pid, signal.SIGSTOP)
    try:
        ch, st, msgs = storage_stub(to_addr)
        st.CreatePartition(msgs.CreatePartitionRequest(
            partition_id=p.partition_id, table_name="moving",
            key_schema=msgs.KeySchema(pk_name="pk", pk_type="S")), timeout=10)
        ch.close()
        p.node_addr = to_addr
        p.node_id = ids[to_addr]
        m.config_epoch += 1
        assert E.cas("/dyne/tables/moving", kv["mod_revision"], m.SerializeToString())
        ch, st, msgs = storage_stub(from_addr)
        st.DropPartition(msgs.DropPartitionRequest(partition_id=p.partition_id), timeout=10)
        ch.close()
        for k in range(16):
            t = threading.Thread(target=one, args=(k,))
            t.start()
            threads.append(t)
        time.sleep(0.5)   # the requests wait at the frozen router
    finally:
        os.kill(router.pid, signal.SIGCONT)
    for t in threads:
        t.join(60)
    errors = [r for r in results if r[0] == "error"]
    assert len(results) == 16 and not errors, errors
    assert all(r[1] is not None for r in results), results
    assert has_partition(to_addr, p.partition_id)
    assert not has_partition(from_addr, p.partition_id)
    retries = scrape(C.router_http).get("dyn_router_route_retries_total", 0)
    print("    stale routes retried: %d" % retries)
    got = cl.call("Scan", {"TableName": "moving"})
    assert sorted(i["pk"]["S"] for i in got["Items"]) == sorted("new%d" % k for k in range(16))


def main():
    global C, cl, E
    C = Cluster(storage_nodes=3, storage_args=["--stats-interval-s=1"])
    try:
        C.start()
        C.start_controller("c2")
        E = C.etcd()
        cl = C.client()
        return run_tests([
            ("8 partitions over 3 nodes", test_create_spreads),
            ("BatchWriteItem fans out, limits", test_batch_write_fans_out),
            ("items on every node (metrics)", test_items_on_every_node),
            ("full Scan: every item once, across pages", test_full_scan_exactly_once),
            ("parallel Scan: every item once across segments", test_parallel_scan_exactly_once),
            ("Query routes to one partition", test_query_one_partition),
            ("BatchGetItem fans out, limits", test_batch_get_fans_out),
            ("BatchGetItem 16 MB answers, UnprocessedKeys", test_batch_get_16mb),
            ("lifecycle across a controller failover", test_lifecycle_across_failover),
            ("DeleteTable drops every partition", test_deleted_table_leaves_nothing),
            ("a stale route is retried where the map says", test_stale_route_retried),
        ])
    finally:
        if cl is not None:
            cl.close()
        for p in C.procs.values():
            sys.stderr.write("---- %s log tail\n%s\n" % (p.name, p.tail(15)))
        C.stop()


if __name__ == "__main__":
    sys.exit(main())
