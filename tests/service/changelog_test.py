"""The per-partition change log and the TTL expiry index of a storage node, driven through the
public API (writes, UpdateTimeToLive/DescribeTimeToLive) and read back through the internal
Storage RPCs (ReadChanges, RegisterConsumer, ScanExpired): records with consecutive LSNs and the
right images, no record for writes that change nothing, logging only while a consumer is
registered, paging, trimming by consumers and the retention floor, durability across kill -9, and
the expiry index kept in step with every write."""
import os
import re
import subprocess
import sys
import threading
import time

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from dyne_harness import (Cluster, DyneError, internal_stubs, run_tests,  # noqa: E402
                          to_json, wait_active, wt_command)


def create(cl, name, sk=False):
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    ks = [{"AttributeName": "pk", "KeyType": "HASH"}]
    if sk:
        attrs.append({"AttributeName": "sk", "AttributeType": "N"})
        ks.append({"AttributeName": "sk", "KeyType": "RANGE"})
    # 5 RCU / 5 WCU: one partition (on-demand would start with four), whose log the tests read
    cl.call("CreateTable", {"TableName": name, "AttributeDefinitions": attrs, "KeySchema": ks,
                            "ProvisionedThroughput": {"ReadCapacityUnits": 5,
                                                      "WriteCapacityUnits": 5}})
    wait_active(cl, name)


def partition_of(c, table):
    """The partition id of a one-partition table, from the storage node's creation log line."""
    with open(c.procs["storage"].log_path, "rb") as f:
        text = f.read().decode(errors="replace")
    for m in re.finditer(r"id=STORAGE-PARTITION-CREATE partition=(\S+) table=(\S+)", text):
        if m.group(2) == table:
            return m.group(1)
    raise AssertionError("no partition for %s" % table)


class Storage:
    """The internal dyne.internal.Storage API of the cluster's storage node."""

    def __init__(self, c):
        self.i = internal_stubs()
        self.c = c
        self.ch = grpc.insecure_channel("127.0.0.1:%d" % c.storage_port)
        self.stub = self.i.storage_grpc.StorageStub(self.ch)

    def read(self, pid, after=0, max_records=0, max_bytes=0):
        r = self.i.storage.ReadChangesRequest(partition_id=pid, after_lsn=after)
        if max_records:
            r.max_records = max_records
        if max_bytes:
            r.max_bytes = max_bytes
        return self.stub.ReadChanges(r, timeout=10)

    def read_all(self, pid):
        out, after = [], 0
        while True:
            resp = self.read(pid, after)
            if not resp.records:
                return out, resp
            out.extend(resp.records)
            after = resp.records[-1].lsn

    def register(self, pid, consumer, lsn):
        self.stub.RegisterConsumer(self.i.storage.RegisterConsumerRequest(
            partition_id=pid, consumer=consumer, lsn=lsn), timeout=10)

    def expired(self, pid, now, limit=0):
        r = self.i.storage.ScanExpiredRequest(partition_id=pid, now=now)
        if limit:
            r.limit = limit
        return self.stub.ScanExpired(r, timeout=10)

    def close(self):
        self.ch.close()


def log_on(c, st, table, consumer="test"):
    """The partition of a one-partition table, with a consumer registered at 0 so that its
    writes are logged from now on (a partition logs only while something consumes it)."""
    pid = partition_of(c, table)
    st.register(pid, consumer, 0)
    return pid


def img(m, field):
    """A record's image as DynamoDB JSON, or None when absent."""
    return to_json(getattr(m, field)) if m.HasField(field) else None


def check_consecutive(recs, first=1):
    lsns = [r.lsn for r in recs]
    assert lsns == list(range(first, first + len(recs))), lsns
    hlcs = [r.hlc for r in recs]
    assert hlcs == sorted(hlcs) and len(set(hlcs)) == len(hlcs), "hlc not increasing"


# ---- one cluster with the default retention (records are young: nothing is trimmed) ----

def test_records(c, st):
    cl = c.client()
    create(cl, "clog")
    pid = log_on(c, st, "clog")
    t = "clog"
    cl.call("PutItem", {"TableName": t, "Item": {"pk": {"S": "a"}, "v": {"N": "1"}}})
    cl.call("PutItem", {"TableName": t, "Item": {"pk": {"S": "a"}, "v": {"N": "2"}}})
    cl.call("UpdateItem", {"TableName": t, "Key": {"pk": {"S": "a"}},
                           "UpdateExpression": "SET w = :w", "ExpressionAttributeValues":
                           {":w": {"S": "x"}}})
    # writes that change nothing: no record
    cl.call("PutItem", {"TableName": t, "Item": {"pk": {"S": "a"}, "v": {"N": "2.0"},
                                                 "w": {"S": "x"}}})
    cl.call("DeleteItem", {"TableName": t, "Key": {"pk": {"S": "nobody"}}})
    try:
        cl.call("PutItem", {"TableName": t, "Item": {"pk": {"S": "a"}},
                            "ConditionExpression": "attribute_not_exists(pk)"})
        raise AssertionError("condition should fail")
    except DyneError as e:
        assert e.type == "ConditionalCheckFailedException", e
    try:
        cl.call("DeleteItem", {"TableName": t, "Key": {"pk": {"S": "a"}},
                               "ConditionExpression": "v = :x",
                               "ExpressionAttributeValues": {":x": {"N": "9"}}})
        raise AssertionError("condition should fail")
    except DyneError as e:
        assert e.type == "ConditionalCheckFailedException", e
    cl.call("UpdateItem", {"TableName": t, "Key": {"pk": {"S": "a"}},
                           "UpdateExpression": "SET w = :w", "ExpressionAttributeValues":
                           {":w": {"S": "x"}}})   # same value: nothing changes
    cl.call("DeleteItem", {"TableName": t, "Key": {"pk": {"S": "a"}}})
    cl.call("UpdateItem", {"TableName": t, "Key": {"pk": {"S": "b"}},
                           "UpdateExpression": "SET n = :n", "ExpressionAttributeValues":
                           {":n": {"N": "1E3"}}})
    recs, resp = st.read_all(pid)
    assert len(recs) == 5, [r.event for r in recs]
    check_consecutive(recs)
    assert resp.last_lsn == 5 and resp.first_lsn == 1, resp
    ev = [(r.event, img(r, "keys"), img(r, "old_image"), img(r, "new_image")) for r in recs]
    a = {"pk": {"S": "a"}}
    assert ev[0] == ("INSERT", a, None, {"pk": {"S": "a"}, "v": {"N": "1"}}), ev[0]
    assert ev[1] == ("MODIFY", a, {"pk": {"S": "a"}, "v": {"N": "1"}},
                     {"pk": {"S": "a"}, "v": {"N": "2"}}), ev[1]
    assert ev[2] == ("MODIFY", a, {"pk": {"S": "a"}, "v": {"N": "2"}},
                     {"pk": {"S": "a"}, "v": {"N": "2"}, "w": {"S": "x"}}), ev[2]
    assert ev[3] == ("REMOVE", a, {"pk": {"S": "a"}, "v": {"N": "2"}, "w": {"S": "x"}},
                     None), ev[3]
    assert ev[4] == ("INSERT", {"pk": {"S": "b"}}, None,
                     {"pk": {"S": "b"}, "n": {"N": "1000"}}), ev[4]
    assert all(r.principal == "" for r in recs)
    assert len({r.key for r in recs[:4]}) == 1 and recs[4].key != recs[0].key
    # a hash+range table: keys carry both attributes
    create(cl, "clog2", sk=True)
    pid2 = log_on(c, st, "clog2")
    cl.call("PutItem", {"TableName": "clog2",
                        "Item": {"pk": {"S": "p"}, "sk": {"N": "7"}, "x": {"BOOL": True}}})
    recs2, _ = st.read_all(pid2)
    assert len(recs2) == 1 and recs2[0].lsn == 1
    assert img(recs2[0], "keys") == {"pk": {"S": "p"}, "sk": {"N": "7"}}
    # unknown partition
    try:
        st.read("nosuch.0")
        raise AssertionError("expected NOT_FOUND")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND, e
    cl.close()


def test_paging(c, st):
    cl = c.client()
    create(cl, "page")
    pid = log_on(c, st, "page")
    for i in range(25):
        cl.call("PutItem", {"TableName": "page",
                            "Item": {"pk": {"S": "k%02d" % i}, "pad": {"S": "x" * 300}}})
    r1 = st.read(pid, 0, max_records=10)
    assert [r.lsn for r in r1.records] == list(range(1, 11)) and r1.last_lsn == 25
    r2 = st.read(pid, 10, max_records=10)
    assert [r.lsn for r in r2.records] == list(range(11, 21))
    r3 = st.read(pid, 20, max_records=10)
    assert [r.lsn for r in r3.records] == list(range(21, 26))
    assert len(st.read(pid, 25).records) == 0
    # a byte cap: at least one record, never more than fit (each is > 300 bytes)
    r4 = st.read(pid, 0, max_bytes=1)
    assert [r.lsn for r in r4.records] == [1]
    r5 = st.read(pid, 3, max_bytes=1000)
    assert 1 <= len(r5.records) <= 3 and r5.records[0].lsn == 4, [r.lsn for r in r5.records]
    cl.close()


def test_consumer_keeps_young_records(c, st):
    cl = c.client()
    create(cl, "young")
    pid = log_on(c, st, "young", "streams")
    for i in range(6):
        cl.call("PutItem", {"TableName": "young", "Item": {"pk": {"S": "k%d" % i}}})
    st.register(pid, "streams", 5)
    time.sleep(3)   # a background pass or two: the retention floor (1 day) keeps them all
    recs, resp = st.read_all(pid)
    assert resp.first_lsn == 1 and len(recs) == 6, resp
    try:
        st.register(pid, "", 1)
        raise AssertionError("empty consumer accepted")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
    cl.close()


def test_log_only_while_consumed(c, st):
    cl = c.client()
    create(cl, "gated")
    pid = partition_of(c, "gated")

    n = [0]

    def put(k):   # every put changes the item (an identical put is no change, no record)
        n[0] += 1
        cl.call("PutItem", {"TableName": "gated", "Item": {"pk": {"S": k}, "n": {"N": str(n[0])}}})

    def lsns(after=0):
        resp = st.read(pid, after)
        return [r.lsn for r in resp.records], resp.first_lsn, resp.last_lsn

    for k in ("a", "b", "c"):
        put(k)
    assert lsns() == ([], 0, 0), lsns()           # nothing consumes the log: nothing written
    st.register(pid, "one", 0)                     # switched on at LSN 1
    assert lsns() == ([], 1, 0), lsns()
    put("d")
    put("a")
    assert lsns() == ([1, 2], 1, 2), lsns()
    recs, _ = st.read_all(pid)
    assert img(recs[1], "old_image") == {"pk": {"S": "a"}, "n": {"N": "1"}}, recs[1]
    st.register(pid, "two", 0)                     # a second consumer changes nothing
    put("e")
    st.register(pid, "one", 2**64 - 1)             # one of two goes: still on
    put("f")
    assert lsns() == ([1, 2, 3, 4], 1, 4), lsns()
    st.register(pid, "nobody", 2**64 - 1)          # forgetting an unknown consumer: no change
    put("g")
    assert lsns()[2] == 5, lsns()
    st.register(pid, "two", 2**64 - 1)             # the last one goes: off
    put("h")
    put("a")
    assert lsns()[2] == 5, lsns()
    # on again: the records before the unlogged writes read as trimmed, numbering goes on
    st.register(pid, "three", 0)
    assert lsns() == ([], 6, 5), lsns()
    put("i")
    assert lsns() == ([6], 6, 6), lsns()
    assert lsns(2) == ([6], 6, 6), lsns(2)
    recs, _ = st.read_all(pid)
    assert img(recs[0], "keys") == {"pk": {"S": "i"}}, recs[0]
    cl.close()


def test_kill9_keeps_records(c, st):
    cl = c.client()
    create(cl, "crashlog")
    pid = log_on(c, st, "crashlog")
    acked = {}
    lock = threading.Lock()
    progress = threading.Semaphore(0)
    writers, per = 6, 200

    def writer(w):
        wc = c.client()
        for i in range(per):
            key = "w%d-%d" % (w, i)
            try:
                wc.call("PutItem", {"TableName": "crashlog",
                                    "Item": {"pk": {"S": key}, "v": {"N": str(i)}}}, timeout=5)
            except DyneError:
                continue
            with lock:
                acked[key] = str(i)
            progress.release()
        wc.close()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for _ in range(writers * per // 4):
        progress.acquire()
    c.procs["storage"].kill9()
    killed_at = len(acked)
    time.sleep(0.3)
    c.start_storage()
    for t in threads:
        t.join()
    st2 = Storage(c)
    recs, resp = st2.read_all(pid)
    st2.close()
    check_consecutive(recs)
    assert resp.last_lsn == len(recs)
    by_key = {}
    for r in recs:
        assert r.event == "INSERT", r.event
        k = img(r, "keys")["pk"]["S"]
        by_key.setdefault(k, []).append(img(r, "new_image")["v"]["N"])
    missing = [k for k, v in acked.items() if by_key.get(k) != [v]]
    print("acknowledged %d writes (%d before the kill), %d records; missing %d"
          % (len(acked), killed_at, len(recs), len(missing)))
    assert killed_at > 0 and not missing, missing[:10]
    # writes after the restart continue the sequence
    cl.call("PutItem", {"TableName": "crashlog", "Item": {"pk": {"S": "after"}}})
    st3 = Storage(c)
    last = st3.read(pid, len(recs))
    st3.close()
    assert [r.lsn for r in last.records] == [len(recs) + 1], last
    cl.close()


def expect_error(cl, op, req, etype, msg=None):
    try:
        cl.call(op, req)
    except DyneError as e:
        assert e.type == etype, (e.type, e.message)
        if msg is not None:
            assert e.message == msg, e.message
        return e
    raise AssertionError("%s succeeded, expected %s" % (op, etype))


def test_ttl_api(c, st):
    cl = c.client()
    create(cl, "ttlapi")
    create(cl, "ttlapi2")
    d = cl.call("DescribeTimeToLive", {"TableName": "ttlapi"})
    assert d == {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}, d
    out = cl.call("UpdateTimeToLive", {"TableName": "ttlapi", "TimeToLiveSpecification":
                                       {"Enabled": True, "AttributeName": "exp"}})
    assert out == {"TimeToLiveSpecification": {"Enabled": True, "AttributeName": "exp"}}, out
    d = cl.call("DescribeTimeToLive", {"TableName": "ttlapi"})
    assert d == {"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED",
                                           "AttributeName": "exp"}}, d
    expect_error(cl, "UpdateTimeToLive", {"TableName": "ttlapi", "TimeToLiveSpecification":
                                          {"Enabled": True, "AttributeName": "exp"}},
                 "ValidationException", "TimeToLive is already enabled")
    expect_error(cl, "UpdateTimeToLive", {"TableName": "ttlapi", "TimeToLiveSpecification":
                                          {"Enabled": True, "AttributeName": "other"}},
                 "ValidationException", "TimeToLive is already enabled")
    # a change after a change within the hour
    expect_error(cl, "UpdateTimeToLive", {"TableName": "ttlapi", "TimeToLiveSpecification":
                                          {"Enabled": False, "AttributeName": "exp"}},
                 "ValidationException",
                 "Time to live has been modified multiple times within a fixed interval")
    expect_error(cl, "UpdateTimeToLive", {"TableName": "ttlapi2", "TimeToLiveSpecification":
                                          {"Enabled": False, "AttributeName": "exp"}},
                 "ValidationException", "TimeToLive is already disabled")
    expect_error(cl, "UpdateTimeToLive", {"TableName": "nosuch", "TimeToLiveSpecification":
                                          {"Enabled": True, "AttributeName": "exp"}},
                 "ResourceNotFoundException",
                 "Requested resource not found: Table: nosuch not found")
    expect_error(cl, "DescribeTimeToLive", {"TableName": "nosuch"}, "ResourceNotFoundException",
                 "Requested resource not found: Table: nosuch not found")
    expect_error(cl, "UpdateTimeToLive", {"TableName": "ttlapi2", "TimeToLiveSpecification":
                                          {"Enabled": True, "AttributeName": ""}},
                 "ValidationException", "TimeToLiveSpecification.AttributeName must be non empty")
    expect_error(cl, "UpdateTimeToLive", {"TableName": "ttlapi2"}, "ValidationException",
                 "1 validation error detected: Value null at 'timeToLiveSpecification' failed to "
                 "satisfy constraint: Member must not be null")
    expect_error(cl, "UpdateTimeToLive", {"TableName": "ttlapi2", "TimeToLiveSpecification":
                                          {"AttributeName": "exp"}}, "ValidationException",
                 "1 validation error detected: Value null at 'timeToLiveSpecification.enabled' "
                 "failed to satisfy constraint: Member must not be null")
    e = expect_error(cl, "UpdateTimeToLive", {"TableName": "ab", "TimeToLiveSpecification":
                                              {"Enabled": True, "AttributeName": "x" * 256}},
                     "ValidationException")
    assert e.message.startswith("2 validation errors detected: Value 'ab' at 'tableName'"), e.message
    assert "Member must have length less than or equal to 255" in e.message, e.message
    expect_error(cl, "DescribeTimeToLive", {}, "ValidationException",
                 "1 validation error detected: Value null at 'tableName' failed to satisfy "
                 "constraint: Member must not be null")
    # the storage node learned the attribute: items with 'exp' in the past are found
    pid = partition_of(c, "ttlapi")
    cl.call("PutItem", {"TableName": "ttlapi", "Item": {"pk": {"S": "old"}, "exp": {"N": "100"}}})
    assert len(st.expired(pid, int(time.time())).keys) == 1
    cl.close()


def test_expiry_index(c, st):
    cl = c.client()
    create(cl, "ttlidx")
    t = "ttlidx"
    pid = log_on(c, st, t)   # the records name the keys ScanExpired returns
    cl.call("UpdateTimeToLive", {"TableName": t, "TimeToLiveSpecification":
                                 {"Enabled": True, "AttributeName": "exp"}})
    now = int(time.time())

    def put(k, exp):
        item = {"pk": {"S": k}}
        if exp is not None:
            item["exp"] = exp
        cl.call("PutItem", {"TableName": t, "Item": item})

    put("a", {"N": str(now - 100)})
    put("b", {"N": str(now + 1000)})
    put("c", {"S": str(now - 100)})           # not a number: ignored
    put("d", None)
    put("e", {"N": "%d.75" % (now - 50)})     # fractions are cut
    put("f", {"N": str(now)})                 # not below now
    put("g", {"N": "1E3"})                    # long ago (an exponent)
    put("h", {"N": "-5"})                     # negative: never indexed
    recs, _ = st.read_all(pid)
    names = {r.key: img(r, "keys")["pk"]["S"] for r in recs}

    def expired(at=None):
        resp = st.expired(pid, now if at is None else at)
        got = [names[k] for k in resp.keys]
        return got, list(resp.expires)

    got, exps = expired()
    assert got == ["g", "a", "e"], got           # in expiry order
    assert exps == [1000, now - 100, now - 50], exps
    assert expired(now + 1)[0] == ["g", "a", "e", "f"]
    assert [names[k] for k in st.expired(pid, now, limit=2).keys] == ["g", "a"]
    # an update moves the entry, in both directions
    cl.call("UpdateItem", {"TableName": t, "Key": {"pk": {"S": "b"}},
                           "UpdateExpression": "SET exp = :e",
                           "ExpressionAttributeValues": {":e": {"N": str(now - 10)}}})
    cl.call("UpdateItem", {"TableName": t, "Key": {"pk": {"S": "a"}},
                           "UpdateExpression": "SET exp = :e",
                           "ExpressionAttributeValues": {":e": {"N": str(now + 5000)}}})
    assert expired()[0] == ["g", "e", "b"], expired()
    assert expired(now + 5001)[0] == ["g", "e", "b", "f", "a"]
    # a put replacing the item, a removed attribute, a type change and a delete
    put("e", {"N": str(now + 10)})
    cl.call("UpdateItem", {"TableName": t, "Key": {"pk": {"S": "b"}}, "UpdateExpression":
                           "REMOVE exp"})
    cl.call("UpdateItem", {"TableName": t, "Key": {"pk": {"S": "g"}},
                           "UpdateExpression": "SET exp = :e",
                           "ExpressionAttributeValues": {":e": {"S": "soon"}}})
    cl.call("DeleteItem", {"TableName": t, "Key": {"pk": {"S": "f"}}})
    assert expired()[0] == [], expired()
    assert expired(now + 5001)[0] == ["e", "a"], expired(now + 5001)
    # disabling TTL empties what ScanExpired reports
    cl.close()


def test_ttl_rebuild_after_enable(c, st):
    """Items written before TTL is enabled are indexed by the background rebuild."""
    cl = c.client()
    create(cl, "ttlpre")
    pid = partition_of(c, "ttlpre")
    now = int(time.time())
    for i in range(1200):   # more than one rebuild batch
        exp = now - 2000 + i if i % 3 == 0 else now + 1000
        cl.call("PutItem", {"TableName": "ttlpre",
                            "Item": {"pk": {"S": "k%04d" % i}, "ts": {"N": str(exp)}}})
    assert len(st.expired(pid, now).keys) == 0   # TTL is off: nothing reported
    cl.call("UpdateTimeToLive", {"TableName": "ttlpre", "TimeToLiveSpecification":
                                 {"Enabled": True, "AttributeName": "ts"}})
    want = sum(1 for i in range(1200) if i % 3 == 0)
    end = time.time() + 20
    while time.time() < end:
        n = len(st.expired(pid, now).keys)
        if n == want:
            break
        time.sleep(0.2)
    assert n == want, (n, want)
    cl.close()


def test_partition_ttl_change(c, st):
    """SetPartitionTtl to another attribute: old entries stop counting at once, items with the
    new attribute are found once the background rebuild has passed; '' turns TTL off."""
    cl = c.client()
    create(cl, "ttlchg")
    pid = partition_of(c, "ttlchg")
    i = st.i.storage
    now = int(time.time())
    st.stub.SetPartitionTtl(i.SetPartitionTtlRequest(partition_id=pid, attribute_name="a1"))
    for k in range(20):
        cl.call("PutItem", {"TableName": "ttlchg", "Item": {
            "pk": {"S": "k%d" % k}, "a1": {"N": str(now - 10)},
            "a2": {"N": str(now - 10 if k % 2 else now + 10)}}})
    assert len(st.expired(pid, now).keys) == 20
    st.stub.SetPartitionTtl(i.SetPartitionTtlRequest(partition_id=pid, attribute_name="a2"))
    end = time.time() + 15
    while time.time() < end and len(st.expired(pid, now).keys) != 10:
        time.sleep(0.1)
    assert len(st.expired(pid, now).keys) == 10
    st.stub.SetPartitionTtl(i.SetPartitionTtlRequest(partition_id=pid, attribute_name=""))
    assert len(st.expired(pid, now).keys) == 0
    try:
        st.stub.SetPartitionTtl(i.SetPartitionTtlRequest(partition_id="nosuch.0",
                                                         attribute_name="x"))
        raise AssertionError("expected NOT_FOUND")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND, e
    cl.close()


def test_ttl_survives_restart(c, st):
    """Runs after the kill -9 case: the partition registry kept the TTL attribute."""
    st2 = Storage(c)
    pid = partition_of(c, "ttlapi")
    assert len(st2.expired(pid, int(time.time())).keys) == 1
    st2.close()


# ---- a cluster with no retention floor: the log is trimmed as soon as consumers allow ----

def test_table_classes(c, st):
    """CreateTable's TableClass reaches the storage node: the partition's item table is zlib for
    STANDARD_INFREQUENT_ACCESS and snappy for STANDARD, as WiredTiger's own metadata says."""
    cl = c.client()
    for name, tc in (("cls_std", "STANDARD"), ("cls_ia", "STANDARD_INFREQUENT_ACCESS")):
        cl.call("CreateTable", {"TableName": name, "TableClass": tc,
                                "ProvisionedThroughput": {"ReadCapacityUnits": 5,
                                                          "WriteCapacityUnits": 5},
                                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]})
        wait_active(cl, name)
        cl.call("PutItem", {"TableName": name, "Item": {"pk": {"S": "a"}, "v": {"S": "x" * 500}}})
        d = cl.call("DescribeTable", {"TableName": name})["Table"]
        assert d.get("TableClassSummary", {}).get("TableClass", "STANDARD") == tc, d
    want = {"cls_std": "snappy", "cls_ia": "zlib"}
    parts = {partition_of(c, t): t for t in want}
    c.procs["storage"].stop()
    try:
        out = subprocess.run(wt_command(os.path.join(c.tmp, "storage", "wt")) + ["list", "-v"],
                             capture_output=True, text=True, check=True).stdout.splitlines()
    finally:
        c.start_storage()
    for pid, table in parts.items():
        uri = "file:p_%s.wt" % pid
        conf = [out[i + 1] for i, line in enumerate(out[:-1]) if line.strip() == uri]
        assert conf, "%s not in wt list -v" % uri
        got = re.search(r"block_compressor=(\w*)", conf[0])
        assert got and got.group(1) == want[table], (table, conf[0][:300])
    cl.close()


def test_trim():
    os.environ["DYN_STORAGE_LOG_RETENTION_S"] = "0"
    try:
        c = Cluster().start()
    finally:
        del os.environ["DYN_STORAGE_LOG_RETENTION_S"]
    try:
        st = Storage(c)
        cl = c.client()
        create(cl, "trimmed")
        pid = partition_of(c, "trimmed")
        st.register(pid, "indexer", 0)     # holds everything
        for i in range(10):
            cl.call("PutItem", {"TableName": "trimmed", "Item": {"pk": {"S": "k%d" % i}}})
        time.sleep(2.5)
        assert st.read(pid).records[0].lsn == 1

        def wait_first(want):
            end = time.time() + 15
            while time.time() < end:
                resp = st.read(pid)
                if resp.first_lsn == want:
                    return resp
                time.sleep(0.1)
            raise AssertionError("first_lsn %d, want %d" % (resp.first_lsn, want))

        st.register(pid, "indexer", 4)
        resp = wait_first(5)
        assert [r.lsn for r in resp.records] == list(range(5, 11)) and resp.last_lsn == 10
        st.register(pid, "streams", 6)      # a second consumer: the lower position rules
        st.register(pid, "indexer", 9)
        wait_first(7)
        st.register(pid, "streams", 10)
        resp = wait_first(10)               # the newest record is always kept
        assert [r.lsn for r in resp.records] == [10]
        cl.call("PutItem", {"TableName": "trimmed", "Item": {"pk": {"S": "next"}}})
        assert [r.lsn for r in st.read(pid, 10).records] == [11]
        # the consumers go: whatever the retention, only the newest record stays
        st.register(pid, "indexer", 2**64 - 1)
        st.register(pid, "streams", 2**64 - 1)
        resp = wait_first(11)
        assert [r.lsn for r in resp.records] == [11] and resp.last_lsn == 11, resp
        # no consumer at all: nothing is logged
        create(cl, "free")
        pid2 = partition_of(c, "free")
        for i in range(5):
            cl.call("PutItem", {"TableName": "free", "Item": {"pk": {"S": "k%d" % i}}})
        resp = st.read(pid2)
        assert resp.first_lsn == 0 and resp.last_lsn == 0 and not resp.records, resp
        # dropping the table drops its log
        cl.call("DeleteTable", {"TableName": "free"})
        end = time.time() + 15
        while time.time() < end:
            try:
                st.read(pid2)
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.NOT_FOUND
                break
            time.sleep(0.1)
        else:
            raise AssertionError("partition still readable after DeleteTable")
        cl.close()
        st.close()
    finally:
        c.stop()


def main():
    c = Cluster().start()
    try:
        st = Storage(c)
        cases = [(name, (lambda f: lambda: f(c, st))(f)) for name, f in [
            ("records: consecutive LSNs, images, events; no-op writes write none", test_records),
            ("ReadChanges paging by records and bytes", test_paging),
            ("a partition logs only while a consumer is registered", test_log_only_while_consumed),
            ("a consumer position does not trim young records", test_consumer_keeps_young_records),
            ("UpdateTimeToLive / DescribeTimeToLive and their errors", test_ttl_api),
            ("expiry index follows puts, updates and deletes", test_expiry_index),
            ("expiry index rebuilt for items written before TTL was enabled",
             test_ttl_rebuild_after_enable),
            ("SetPartitionTtl: another attribute, then off", test_partition_ttl_change),
            ("kill -9 keeps the records of acknowledged writes", test_kill9_keeps_records),
            ("the TTL attribute survives a restart", test_ttl_survives_restart),
            ("TableClass chooses the partition's WiredTiger compression", test_table_classes),
        ]]
        cases.append(("trim by consumers and the retention floor; drop with the table", test_trim))
        return run_tests(cases)
    finally:
        c.stop()


if __name__ == "__main__":
    sys.exit(main())
