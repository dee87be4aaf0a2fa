"""Observability through real processes: the router's and the storage node's /metrics carry
dyn_requests_total and the dyn_request_duration_seconds histogram by operation, table and
outcome (gRPC and the DynamoDB HTTP endpoint alike), and the storage node its per-partition item
and byte gauges, refreshed by its stats pass and gone once the table is deleted. Names:
docs/metrics.md."""
import http.client
import json
import os
import re
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from dyne_harness import Cluster, DyneError, run_tests, wait_active  # noqa: E402

C = cl = None


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        return r.read().decode()


SERIES = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """[(name, {labels}, value)] of every sample; checks the text format's shape on the way."""
    out, typed = [], {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, fam, kind = line.split(" ", 3)
            typed[fam] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = SERIES.match(line)
        assert m, "not a sample line: %r" % line
        labels = dict(LABEL.findall(m.group(2) or ""))
        out.append((m.group(1), labels, float(m.group(3))))
    return out, typed


def value(samples, name, **labels):
    got = [v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in labels.items())]
    return sum(got) if got else None


def create(name):
    cl.call("CreateTable", {"TableName": name, "BillingMode": "PAY_PER_REQUEST",
                            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]})
    wait_active(cl, name)


def http_put(table, pk):
    c = http.client.HTTPConnection("127.0.0.1", C.router_ddb, timeout=10)
    c.request("POST", "/", body=json.dumps({"TableName": table, "Item": {"pk": {"S": pk}}}), headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.PutItem",
        "Authorization": "AWS4-HMAC-SHA256 Credential=dev/20240101/us-east-1/dynamodb/aws4_request, "
                         "SignedHeaders=host, Signature=0", "X-Amz-Date": "20240101T000000Z"})
    r = c.getresponse()
    body = r.read()
    c.close()
    assert r.status == 200, body


def test_request_metrics():
    create("met1")
    create("met2")
    for i in range(5):
        cl.call("PutItem", {"TableName": "met1", "Item": {"pk": {"S": "k%d" % i}, "v": {"S": "x" * 100}}})
    http_put("met1", "h1")   # the HTTP endpoint's local calls count the same way
    for i in range(3):
        cl.call("PutItem", {"TableName": "met2", "Item": {"pk": {"S": "k%d" % i}}})
    try:
        cl.call("PutItem", {"TableName": "met1", "Item": {"pk": {"S": "k0"}},
                            "ConditionExpression": "attribute_not_exists(pk)"})
        raise AssertionError("the condition must fail")
    except DyneError as e:
        assert e.type == "ConditionalCheckFailedException", e
    cl.call("GetItem", {"TableName": "met2", "Key": {"pk": {"S": "k1"}}})
    try:
        cl.call("GetItem", {"TableName": "nope", "Key": {"pk": {"S": "k1"}}})
    except DyneError as e:
        assert e.type == "ResourceNotFoundException", e

    s, typed = parse(scrape(C.router_http))
    assert typed.get("dyn_requests_total") == "counter", typed
    assert typed.get("dyn_request_duration_seconds") == "histogram", typed
    ok = dict(method="PutItem", table="met1", outcome="OK")
    assert value(s, "dyn_requests_total", **ok) == 6, [x for x in s if x[0] == "dyn_requests_total"]
    assert value(s, "dyn_requests_total", method="PutItem", table="met1",
                 outcome="ConditionalCheckFailedException") == 1
    assert value(s, "dyn_requests_total", method="PutItem", table="met2", outcome="OK") == 3
    assert value(s, "dyn_requests_total", method="GetItem", table="met2", outcome="OK") == 1
    assert value(s, "dyn_requests_total", method="GetItem", table="nope",
                 outcome="ResourceNotFoundException") == 1
    # the histogram: cumulative buckets ending in +Inf = _count, a positive _sum
    buckets = sorted(((float(l["le"]), v) for n, l, v in s if n == "dyn_request_duration_seconds_bucket"
                      and all(l.get(k) == w for k, w in ok.items())), key=lambda x: x[0])
    assert buckets and buckets[-1][0] == float("inf") and buckets[-1][1] == 6, buckets
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), buckets
    assert value(s, "dyn_request_duration_seconds_count", **ok) == 6
    assert value(s, "dyn_request_duration_seconds_sum", **ok) > 0
    # the storage node names the table too (its internal Put)
    st, _ = parse(scrape(C.storage_http))
    assert value(st, "dyn_requests_total", method="Put", table="met1", outcome="OK") == 6, \
        [x for x in st if x[0] == "dyn_requests_total"]
    assert value(st, "dyn_requests_total", method="Put", table="met1",
                 outcome="ConditionalCheckFailedException") == 1


def partition_gauges(table):
    s, typed = parse(scrape(C.storage_http))
    items = {l["partition"]: v for n, l, v in s if n == "dyn_storage_partition_items" and l.get("table") == table}
    size = {l["partition"]: v for n, l, v in s if n == "dyn_storage_partition_bytes" and l.get("table") == table}
    return items, size, typed


def test_partition_gauges():
    # the stats pass runs every second here (DYN_STORAGE_STATS_INTERVAL_S=1)
    end = time.time() + 20
    while True:
        items, size, typed = partition_gauges("met1")
        if sum(items.values()) == 6 or time.time() > end:
            break
        time.sleep(0.2)
    assert sum(items.values()) == 6, items
    assert typed.get("dyn_storage_partition_items") == "gauge", typed
    assert set(size) == set(items) and sum(size.values()) > 5 * 100, size
    cl.call("DeleteItem", {"TableName": "met1", "Key": {"pk": {"S": "k0"}}})
    end = time.time() + 20
    while sum(partition_gauges("met1")[0].values()) != 5 and time.time() < end:
        time.sleep(0.2)
    assert sum(partition_gauges("met1")[0].values()) == 5
    # a deleted table's partitions leave /metrics
    assert partition_gauges("met2")[0], "met2 has gauges before it is deleted"
    cl.call("DeleteTable", {"TableName": "met2"})
    end = time.time() + 30
    while partition_gauges("met2")[0] and time.time() < end:
        time.sleep(0.2)
    assert not partition_gauges("met2")[0], partition_gauges("met2")


def main():
    global C, cl
    os.environ["DYN_STORAGE_STATS_INTERVAL_S"] = "1"
    C = Cluster().start()
    cl = C.client()
    try:
        return run_tests([
            ("request counts and latency histograms by operation, table, outcome", test_request_metrics),
            ("per-partition item and byte gauges", test_partition_gauges),
        ])
    finally:
        cl.close()
        for p in C.procs.values():
            sys.stderr.write("---- %s log tail\n%s\n" % (p.name, p.tail(15)))
        C.stop()


if __name__ == "__main__":
    sys.exit(main())
