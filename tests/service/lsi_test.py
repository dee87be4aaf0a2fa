"""Local secondary indexes end to end: a table with three LSIs (KEYS_ONLY, INCLUDE, ALL) kept in
step with the table by every kind of write (a checker compares each index with what a Query on the
table implies, after random operations and after a kill -9 of the storage node mid-writes), sparse
indexes, order and paging on an index, Select ALL_ATTRIBUTES fetching from the table, the index
key type check, ItemCollectionMetrics, LSI write and read units, and the item-collection size limit
(lowered through DYN_STORAGE_COLLECTION_LIMIT)."""
import base64
import os
import random
import sys
import threading
import time
from decimal import Decimal

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from dyne_harness import Cluster, DyneError, run_tests, wait_active  # noqa: E402

C = None
cl = None
V = "ValidationException"
T = "lsi"
PKS = ["p%d" % i for i in range(6)]
# name -> (sort key, its type, projection, INCLUDE attributes)
LSIS = {
    "by_s": ("ls", "S", "KEYS_ONLY", []),
    "by_n": ("ln", "N", "INCLUDE", ["inc1", "inc2"]),
    "by_b": ("lb", "B", "ALL", []),
}


def expect_error(fn, etype, message=None):
    try:
        fn()
    except DyneError as e:
        assert e.type == etype, "expected %s, got %s: %s" % (etype, e.type, e.message)
        if message is not None:
            assert e.message == message, "message %r != expected %r" % (e.message, message)
        return e
    raise AssertionError("expected %s, call succeeded" % etype)


def create_lsi_table(client, name):
    client.call("CreateTable", {
        "TableName": name, "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "N"},
                                 {"AttributeName": "ls", "AttributeType": "S"},
                                 {"AttributeName": "ln", "AttributeType": "N"},
                                 {"AttributeName": "lb", "AttributeType": "B"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                      {"AttributeName": "sk", "KeyType": "RANGE"}],
        "LocalSecondaryIndexes": [
            {"IndexName": idx, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                             {"AttributeName": sk, "KeyType": "RANGE"}],
             "Projection": dict({"ProjectionType": proj},
                                **({"NonKeyAttributes": inc} if inc else {}))}
            for idx, (sk, _, proj, inc) in LSIS.items()]})
    return wait_active(client, name)


# ---- the checker: every index equals what the table implies ----

def sort_value(v):
    (t, x), = v.items()
    if t == "N":
        return Decimal(x)
    if t == "B":
        return base64.b64decode(x)
    return x.encode()


def project(idx, item):
    sk, _, proj, inc = LSIS[idx]
    if proj == "ALL":
        return item
    keep = {"pk", "sk", sk} | set(inc)
    return {k: v for k, v in item.items() if k in keep}


def query_all(client, table, pk, index=None, limit=None, forward=True, **extra):
    items, lek, pages = [], None, 0
    while True:
        req = dict({"TableName": table, "KeyConditionExpression": "pk = :p",
                    "ExpressionAttributeValues": {":p": {"S": pk}}, "ConsistentRead": True,
                    "ScanIndexForward": forward}, **extra)
        if index:
            req["IndexName"] = index
        if limit:
            req["Limit"] = limit
        if lek:
            req["ExclusiveStartKey"] = lek
        r = client.call("Query", req)
        items.extend(r.get("Items", []))
        pages += 1
        lek = r.get("LastEvaluatedKey")
        if not lek:
            return items, pages
        if index:
            assert set(lek) == {"pk", "sk", LSIS[index][0]}, lek


def expected_index(base, idx):
    sk = LSIS[idx][0]
    rows = [i for i in base if sk in i]
    rows.sort(key=lambda i: (sort_value(i[sk]), Decimal(i["sk"]["N"])))
    return [project(idx, i) for i in rows]


def check(client, table=T, pks=PKS, limit=3):
    """Each LSI, read by Query (paged, both directions) and by Scan, holds exactly the projected
    entries of the table's items that have its sort key."""
    everything, sizes = [], {idx: 0 for idx in LSIS}
    for pk in pks:
        base, _ = query_all(client, table, pk)
        everything.extend(base)
        for idx in LSIS:
            want = expected_index(base, idx)
            got, _ = query_all(client, table, pk, index=idx, limit=limit)
            assert got == want, "%s %s:\n got %s\nwant %s" % (idx, pk, got, want)
            sizes[idx] += len(got)
            back, _ = query_all(client, table, pk, index=idx, forward=False)
            assert back == list(reversed(want)), "%s %s reverse" % (idx, pk)
    for idx in LSIS:
        seen, lek = [], None
        while True:
            req = {"TableName": table, "IndexName": idx, "Limit": 5, "ConsistentRead": True}
            if lek:
                req["ExclusiveStartKey"] = lek
            r = client.call("Scan", req)
            seen.extend(r.get("Items", []))
            lek = r.get("LastEvaluatedKey")
            if not lek:
                break
        want = [project(idx, i) for i in everything if LSIS[idx][0] in i]
        key = lambda i: (i["pk"]["S"], i["sk"]["N"])
        assert sorted(seen, key=key) == sorted(want, key=key), "scan of %s" % idx
    return sizes


def random_item(rng, pk, sk):
    item = {"pk": {"S": pk}, "sk": {"N": str(sk)}}
    if rng.random() < 0.7:
        item["ls"] = {"S": rng.choice(["a", "b", "c", "ab", "b\u00e9", "zz"]) + str(rng.randint(0, 3))}
    if rng.random() < 0.7:
        item["ln"] = {"N": str(rng.randint(-5, 5))}
    if rng.random() < 0.6:
        item["lb"] = {"B": base64.b64encode(bytes([rng.randint(0, 3), rng.randint(0, 255)])).decode()}
    for a in ("inc1", "inc2", "o1"):
        if rng.random() < 0.5:
            item[a] = {"S": "%s-%d" % (a, rng.randint(0, 99))}
    return item


def random_op(client, rng, table=T):
    pk, sk = rng.choice(PKS), rng.randint(0, 11)
    key = {"pk": {"S": pk}, "sk": {"N": str(sk)}}
    op = rng.random()
    if op < 0.4:
        client.call("PutItem", {"TableName": table, "Item": random_item(rng, pk, sk)})
    elif op < 0.7:
        sets, removes, vals = [], [], {}
        for a, gen in (("ls", lambda: {"S": "u%d" % rng.randint(0, 5)}),
                       ("ln", lambda: {"N": str(rng.randint(-3, 9))}),
                       ("lb", lambda: {"B": base64.b64encode(bytes([rng.randint(0, 9)])).decode()}),
                       ("inc1", lambda: {"S": "i%d" % rng.randint(0, 9)}),
                       ("o1", lambda: {"N": str(rng.randint(0, 9))})):
            x = rng.random()
            if x < 0.3:
                sets.append("%s = :%s" % (a, a))
                vals[":" + a] = gen()
            elif x < 0.45:
                removes.append(a)
        expr = ""
        if sets:
            expr += "SET " + ", ".join(sets)
        if removes:
            expr += " REMOVE " + ", ".join(removes)
        req = {"TableName": table, "Key": key}
        if expr:
            req["UpdateExpression"] = expr.strip()
        if vals:
            req["ExpressionAttributeValues"] = vals
        client.call("UpdateItem", req)
    elif op < 0.85:
        client.call("DeleteItem", {"TableName": table, "Key": key})
    else:
        reqs, used = [], set()
        for _ in range(rng.randint(1, 5)):
            p, s = rng.choice(PKS), rng.randint(0, 11)
            if (p, s) in used:
                continue
            used.add((p, s))
            if rng.random() < 0.7:
                reqs.append({"PutRequest": {"Item": random_item(rng, p, s)}})
            else:
                reqs.append({"DeleteRequest": {"Key": {"pk": {"S": p}, "sk": {"N": str(s)}}}})
        client.call("BatchWriteItem", {"RequestItems": {table: reqs}})


# ---- tests ----

def test_describe():
    d = cl.call("DescribeTable", {"TableName": T})["Table"]
    assert sorted(x["IndexName"] for x in d["LocalSecondaryIndexes"]) == sorted(LSIS)


def test_random_ops_keep_indexes():
    rng = random.Random(20240611)
    for i in range(400):
        random_op(cl, rng)
        if i % 100 == 99:
            check(cl)
    sizes = check(cl)
    assert all(n >= 10 for n in sizes.values()), sizes   # the indexes were really exercised


def test_sparse():
    t = "lsi_sparse"
    create_lsi_table(cl, t)
    key = {"pk": {"S": "s"}, "sk": {"N": "1"}}
    cl.call("PutItem", {"TableName": t, "Item": dict(key, o1={"S": "x"})})
    for idx in LSIS:
        got, _ = query_all(cl, t, "s", index=idx)
        assert got == [], (idx, got)
    cl.call("UpdateItem", {"TableName": t, "Key": key, "UpdateExpression": "SET ls = :v",
                           "ExpressionAttributeValues": {":v": {"S": "k"}}})
    got, _ = query_all(cl, t, "s", index="by_s")
    assert got == [{"pk": {"S": "s"}, "sk": {"N": "1"}, "ls": {"S": "k"}}], got
    assert query_all(cl, t, "s", index="by_n")[0] == []
    cl.call("UpdateItem", {"TableName": t, "Key": key, "UpdateExpression": "REMOVE ls"})
    assert query_all(cl, t, "s", index="by_s")[0] == []
    r = cl.call("Scan", {"TableName": t, "IndexName": "by_s"})
    assert r["Count"] == 0 and r["ScannedCount"] == 0, r


def test_order_and_paging():
    t = "lsi_order"
    create_lsi_table(cl, t)
    # ln descends as sk ascends; two items share ln = 5 (then ordered by the table's sort key)
    lns = [9, 7, 5, 5, 3, -1, -20, 100]
    for sk, ln in enumerate(lns):
        cl.call("PutItem", {"TableName": t, "Item": {"pk": {"S": "o"}, "sk": {"N": str(sk)},
                                                     "ln": {"N": str(ln)}, "inc1": {"S": "i"},
                                                     "o1": {"S": "o"}}})
    items, pages = query_all(cl, t, "o", index="by_n", limit=3)
    assert [int(i["ln"]["N"]) for i in items] == sorted(lns)
    assert [i["sk"]["N"] for i in items if i["ln"]["N"] == "5"] == ["2", "3"]
    assert pages == 3, pages
    assert all(set(i) == {"pk", "sk", "ln", "inc1"} for i in items), items[0]
    items, _ = query_all(cl, t, "o", index="by_n", limit=2, forward=False)
    assert [int(i["ln"]["N"]) for i in items] == sorted(lns, reverse=True)
    # a key condition on the index's sort key
    r = cl.call("Query", {"TableName": t, "IndexName": "by_n",
                          "KeyConditionExpression": "pk = :p AND ln BETWEEN :a AND :b",
                          "ExpressionAttributeValues": {":p": {"S": "o"}, ":a": {"N": "3"},
                                                        ":b": {"N": "7"}}})
    assert [i["ln"]["N"] for i in r["Items"]] == ["3", "5", "5", "7"], r
    for op, want in (("=", ["5", "5"]), ("<", ["-20", "-1", "3"]), ("<=", ["-20", "-1", "3", "5", "5"]),
                     (">", ["7", "9", "100"]), (">=", ["5", "5", "7", "9", "100"])):
        r = cl.call("Query", {"TableName": t, "IndexName": "by_n", "ConsistentRead": True,
                              "KeyConditionExpression": "pk = :p AND ln %s :v" % op,
                              "ExpressionAttributeValues": {":p": {"S": "o"}, ":v": {"N": "5"}}})
        assert [i["ln"]["N"] for i in r["Items"]] == want, (op, r)
    # LastEvaluatedKey holds the table's keys and the index's; it resumes exactly there
    r = cl.call("Query", {"TableName": t, "IndexName": "by_n", "Limit": 3,
                          "KeyConditionExpression": "pk = :p",
                          "ExpressionAttributeValues": {":p": {"S": "o"}}})
    assert r["LastEvaluatedKey"] == {"pk": {"S": "o"}, "sk": {"N": "4"}, "ln": {"N": "3"}}, r
    r2 = cl.call("Query", {"TableName": t, "IndexName": "by_n", "Limit": 1,
                           "KeyConditionExpression": "pk = :p",
                           "ExpressionAttributeValues": {":p": {"S": "o"}},
                           "ExclusiveStartKey": r["LastEvaluatedKey"]})
    assert r2["Items"][0]["sk"] == {"N": "2"}, r2
    # the key condition is checked against the index's key schema
    expect_error(lambda: cl.call("Query", {"TableName": t, "IndexName": "by_n",
                                           "KeyConditionExpression": "pk = :p AND sk = :v",
                                           "ExpressionAttributeValues": {":p": {"S": "o"},
                                                                         ":v": {"N": "1"}}}), V,
                 "Query condition missed key schema element: ln")
    # ExclusiveStartKey on an index needs the table's keys and the index's sort key
    expect_error(lambda: cl.call("Query", {"TableName": t, "IndexName": "by_n",
                                           "KeyConditionExpression": "pk = :p",
                                           "ExpressionAttributeValues": {":p": {"S": "o"}},
                                           "ExclusiveStartKey": {"pk": {"S": "o"}, "sk": {"N": "1"}}}),
                 V, "The provided starting key is invalid")
    expect_error(lambda: cl.call("Query", {"TableName": t, "IndexName": "by_n",
                                           "KeyConditionExpression": "pk = :p",
                                           "ExpressionAttributeValues": {":p": {"S": "o"}},
                                           "ExclusiveStartKey": {"pk": {"S": "o"}, "sk": {"N": "1"},
                                                                 "ln": {"S": "x"}}}),
                 V, "The provided key element does not match the schema")
    expect_error(lambda: cl.call("Query", {"TableName": t, "IndexName": "nope",
                                           "KeyConditionExpression": "pk = :p",
                                           "ExpressionAttributeValues": {":p": {"S": "o"}}}),
                 V, "The table does not have the specified index: nope")
    # Select on the table still refuses ALL_PROJECTED_ATTRIBUTES
    expect_error(lambda: cl.call("Query", {"TableName": t, "Select": "ALL_PROJECTED_ATTRIBUTES",
                                           "KeyConditionExpression": "pk = :p",
                                           "ExpressionAttributeValues": {":p": {"S": "o"}}}), V)
    r = cl.call("Query", {"TableName": t, "IndexName": "by_n", "Select": "COUNT",
                          "KeyConditionExpression": "pk = :p",
                          "ExpressionAttributeValues": {":p": {"S": "o"}}})
    assert r["Count"] == len(lns) and "Items" not in r


def test_all_attributes_fetch():
    t = "lsi_fetch"
    create_lsi_table(cl, t)
    big = "x" * 9000
    for sk in range(3):
        cl.call("PutItem", {"TableName": t, "Item": {"pk": {"S": "f"}, "sk": {"N": str(sk)},
                                                     "ls": {"S": "k%d" % sk}, "big": {"S": big},
                                                     "inc1": {"S": "i"}}})
    q = lambda **kw: cl.call("Query", dict({"TableName": t, "KeyConditionExpression": "pk = :p",
                                            "ExpressionAttributeValues": {":p": {"S": "f"}},
                                            "ReturnConsumedCapacity": "INDEXES",
                                            "ConsistentRead": True}, **kw))
    # the projection alone: keys only, charged on the index entries only
    r = q(IndexName="by_s")
    assert all(set(i) == {"pk", "sk", "ls"} for i in r["Items"]), r
    cc = r["ConsumedCapacity"]
    assert cc["LocalSecondaryIndexes"] == {"by_s": {"CapacityUnits": 1.0, "ReadCapacityUnits": 1.0}}, cc
    assert cc["Table"]["CapacityUnits"] == 0.0 and cc["CapacityUnits"] == 1.0, cc
    # ALL_ATTRIBUTES fetches every item from the table, charged on the whole items (3 x 9 KB)
    r = q(IndexName="by_s", Select="ALL_ATTRIBUTES")
    assert [i["big"]["S"] for i in r["Items"]] == [big] * 3, r
    assert set(r["Items"][0]) == {"pk", "sk", "ls", "big", "inc1"}
    cc = r["ConsumedCapacity"]
    assert cc["Table"]["CapacityUnits"] == 7.0, cc   # ceil(27 KB / 4 KB)
    assert cc["CapacityUnits"] == 8.0, cc
    # an unprojected attribute in the projection (or the filter) fetches too
    r = q(IndexName="by_s", ProjectionExpression="ls, inc1")
    assert [i for i in r["Items"]] == [{"ls": {"S": "k%d" % s}, "inc1": {"S": "i"}} for s in range(3)], r
    r = q(IndexName="by_s", FilterExpression="inc1 = :i",
          ExpressionAttributeValues={":p": {"S": "f"}, ":i": {"S": "i"}})
    assert r["Count"] == 3 and set(r["Items"][0]) == {"pk", "sk", "ls"}, r
    r = q(IndexName="by_s", ProjectionExpression="ls")
    assert r["ConsumedCapacity"]["Table"]["CapacityUnits"] == 0.0
    # INCLUDE projects inc1; ALL needs no fetch at all
    r = q(IndexName="by_b", Select="ALL_ATTRIBUTES")
    assert r["Count"] == 0
    r = cl.call("Scan", {"TableName": t, "IndexName": "by_s", "Select": "ALL_ATTRIBUTES"})
    assert r["Count"] == 3 and all("big" in i for i in r["Items"]), r
    r = cl.call("Scan", {"TableName": t, "IndexName": "by_s", "Select": "ALL_PROJECTED_ATTRIBUTES"})
    assert all("big" not in i for i in r["Items"]), r


def test_type_mismatch():
    t = "lsi_types"
    create_lsi_table(cl, t)
    key = {"pk": {"S": "t"}, "sk": {"N": "1"}}
    msg = ("One or more parameter values were invalid: Type mismatch for Index Key ls Expected: S "
           "Actual: N IndexName: by_s")
    expect_error(lambda: cl.call("PutItem", {"TableName": t, "Item": dict(key, ls={"N": "1"})}), V, msg)
    expect_error(lambda: cl.call("BatchWriteItem", {"RequestItems": {t: [
        {"PutRequest": {"Item": dict(key, ls={"N": "1"})}}]}}), V, msg)
    cl.call("PutItem", {"TableName": t, "Item": dict(key, ls={"S": "ok"})})
    expect_error(lambda: cl.call("UpdateItem", {"TableName": t, "Key": key,
                                                "UpdateExpression": "SET ln = :v",
                                                "ExpressionAttributeValues": {":v": {"S": "x"}}}), V,
                 "One or more parameter values were invalid: Type mismatch for Index Key ln "
                 "Expected: N Actual: S IndexName: by_n")
    expect_error(lambda: cl.call("PutItem", {"TableName": t, "Item": dict(key, ls={"S": ""})}), V,
                 "One or more parameter values are not valid. A value specified for a secondary "
                 "index key is not supported. The AttributeValue for a key attribute cannot contain "
                 "an empty string value. IndexName: by_s, IndexKey: ls")
    # nothing was written by the failed writes
    got = cl.call("GetItem", {"TableName": t, "Key": key, "ConsistentRead": True})["Item"]
    assert got == dict(key, ls={"S": "ok"}), got
    check(cl, t, ["t"])


def test_collection_metrics_and_write_units():
    t = "lsi_metrics"
    create_lsi_table(cl, t)
    key = {"pk": {"S": "m"}, "sk": {"N": "1"}}
    metrics = {"ItemCollectionKey": {"pk": {"S": "m"}}, "SizeEstimateRangeGB": [0.0, 1.0]}
    r = cl.call("PutItem", {"TableName": t, "Item": dict(key, ls={"S": "a"}, ln={"N": "1"}),
                            "ReturnItemCollectionMetrics": "SIZE", "ReturnConsumedCapacity": "INDEXES"})
    assert r["ItemCollectionMetrics"] == metrics, r
    cc = r["ConsumedCapacity"]
    # a new item with two index keys: one write on each of those indexes
    assert cc["CapacityUnits"] == 3.0 and cc["Table"]["CapacityUnits"] == 1.0, cc
    assert cc["LocalSecondaryIndexes"] == {"by_s": {"CapacityUnits": 1.0, "WriteCapacityUnits": 1.0},
                                           "by_n": {"CapacityUnits": 1.0, "WriteCapacityUnits": 1.0}}, cc
    # changing an index key: delete + put on that index (2); a projected attribute: 1 (ALL-less
    # by_s does not project inc1, so it costs nothing there)
    r = cl.call("UpdateItem", {"TableName": t, "Key": key, "UpdateExpression": "SET ls = :v, inc1 = :i",
                               "ExpressionAttributeValues": {":v": {"S": "b"}, ":i": {"S": "i"}},
                               "ReturnItemCollectionMetrics": "SIZE", "ReturnConsumedCapacity": "INDEXES"})
    assert r["ItemCollectionMetrics"] == metrics, r
    lsi = r["ConsumedCapacity"]["LocalSecondaryIndexes"]
    assert lsi["by_s"]["CapacityUnits"] == 2.0 and lsi["by_n"]["CapacityUnits"] == 1.0, r
    # an attribute no index projects: no index write
    r = cl.call("UpdateItem", {"TableName": t, "Key": key, "UpdateExpression": "SET o1 = :o",
                               "ExpressionAttributeValues": {":o": {"S": "o"}},
                               "ReturnConsumedCapacity": "TOTAL"})
    assert r["ConsumedCapacity"]["CapacityUnits"] == 1.0, r
    assert "ItemCollectionMetrics" not in r
    r = cl.call("DeleteItem", {"TableName": t, "Key": key, "ReturnItemCollectionMetrics": "SIZE",
                               "ReturnConsumedCapacity": "TOTAL"})
    assert r["ItemCollectionMetrics"] == metrics and r["ConsumedCapacity"]["CapacityUnits"] == 3.0, r
    r = cl.call("BatchWriteItem", {"ReturnItemCollectionMetrics": "SIZE", "RequestItems": {t: [
        {"PutRequest": {"Item": {"pk": {"S": "m"}, "sk": {"N": "2"}}}},
        {"PutRequest": {"Item": {"pk": {"S": "n"}, "sk": {"N": "2"}}}}]}})
    got = r["ItemCollectionMetrics"][t]
    assert sorted(m["ItemCollectionKey"]["pk"]["S"] for m in got) == ["m", "n"], r
    # a table without LSIs never answers ItemCollectionMetrics
    cl.call("CreateTable", {"TableName": "lsi_none", "BillingMode": "PAY_PER_REQUEST",
                            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]})
    wait_active(cl, "lsi_none")
    r = cl.call("PutItem", {"TableName": "lsi_none", "Item": {"pk": {"S": "x"}},
                            "ReturnItemCollectionMetrics": "SIZE"})
    assert "ItemCollectionMetrics" not in r, r


def test_kill9_then_checker_agrees():
    stop = threading.Event()
    errors, acked = [], [0]

    def writer(seed):
        wc = C.client()
        rng = random.Random(seed)
        while not stop.is_set():
            try:
                random_op(wc, rng)
                acked[0] += 1
            except DyneError:
                pass   # not acknowledged: the storage node is down or restarting
            except Exception as e:  # noqa: BLE001 - surfaced below
                errors.append(e)
                return
        wc.close()

    threads = [threading.Thread(target=writer, args=(s,)) for s in range(6)]
    for th in threads:
        th.start()
    time.sleep(1.5)
    C.procs["storage"].kill9()
    time.sleep(0.3)
    C.start_storage()
    time.sleep(1.0)
    stop.set()
    for th in threads:
        th.join()
    assert not errors, errors
    assert acked[0] > 50, acked
    check(cl)


def test_collection_limit():
    os.environ["DYN_STORAGE_COLLECTION_LIMIT"] = "20000"
    try:
        small = Cluster().start()
    finally:
        del os.environ["DYN_STORAGE_COLLECTION_LIMIT"]
    try:
        c = small.client()
        t = "lsi_limit"
        create_lsi_table(c, t)
        pad = "x" * 1500
        n = 0
        with_err = None
        for sk in range(40):
            try:
                c.call("PutItem", {"TableName": t, "Item": {"pk": {"S": "big"}, "sk": {"N": str(sk)},
                                                            "lb": {"B": "AQ=="}, "pad": {"S": pad}}})
                n += 1
            except DyneError as e:
                with_err = e
                break
        assert with_err is not None and with_err.type == "ItemCollectionSizeLimitExceededException", with_err
        assert with_err.message == "Collection size exceeded", with_err.message
        assert 3 <= n < 10, n   # each item counts ~3 KB (itself and its ALL entry)
        # the failed write left nothing behind, other collections are unaffected, shrinking works
        got = c.call("GetItem", {"TableName": t, "Key": {"pk": {"S": "big"}, "sk": {"N": str(n)}},
                                 "ConsistentRead": True})
        assert "Item" not in got
        c.call("PutItem", {"TableName": t, "Item": {"pk": {"S": "o1"}, "sk": {"N": "0"},
                                                    "pad": {"S": pad}}})
        c.call("DeleteItem", {"TableName": t, "Key": {"pk": {"S": "big"}, "sk": {"N": "0"}}})
        c.call("PutItem", {"TableName": t, "Item": {"pk": {"S": "big"}, "sk": {"N": str(n)},
                                                    "lb": {"B": "AQ=="}, "pad": {"S": pad}}})
        check(c, t, ["big", "o1"])
        c.close()
    finally:
        small.stop()


def main():
    global C, cl
    C = Cluster().start()
    cl = C.client()
    try:
        create_lsi_table(cl, T)
        return run_tests([
            ("describe", test_describe),
            ("random writes keep every index equal to the table", test_random_ops_keep_indexes),
            ("sparse indexes", test_sparse),
            ("order and paging on an index", test_order_and_paging),
            ("ALL_ATTRIBUTES and unprojected attributes fetch", test_all_attributes_fetch),
            ("index key type check", test_type_mismatch),
            ("ItemCollectionMetrics and LSI write units", test_collection_metrics_and_write_units),
            ("kill -9 mid-writes, then the checker agrees", test_kill9_then_checker_agrees),
            ("item collection size limit", test_collection_limit),
        ])
    finally:
        cl.close()
        for p in C.procs.values():
            sys.stderr.write("---- %s log tail\n%s\n" % (p.name, p.tail(15)))
        C.stop()


if __name__ == "__main__":
    sys.exit(main())
