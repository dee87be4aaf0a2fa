"""The controller service with real processes: etcd, three storage nodes and two controllers; the
tests write TableMeta records into etcd as the router does since it hands table lifecycles over (a
router joins only to serve one controller-made table). Covers the election (one leader, hand-over
on SIGTERM, take-over after kill -9 in the middle of work), CREATING -> ACTIVE with partitions
spread over the nodes and present on them, UPDATING -> ACTIVE, DELETING -> partitions dropped and
the key gone, re-placement off a dead node, orphans dropped when their node comes back, and a new
node taking new partitions."""
import os
import sys
import threading
import time
import uuid

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from dyne_harness import (Cluster, has_partition, internal_stubs, run_tests,  # noqa: E402
                          scrape, stubs, wait_for)

C = None
E = None            # etcd client
CTLS = ["c1", "c2"]
NODES = ["storage", "s2", "s3"]
TAKEOVER_S = 15     # generous: the leader lease is 5 s
TABLES = "/dyne/tables/"
ORPHANS = "/dyne/controller/orphans/"


# ---- the cluster's parts ----

def node_port(name):
    return C.storage_port if name == "storage" else C.nodes[name]["port"]


def node_id_of(name):
    """The node id a storage node registered under (the default node is self-named)."""
    if name != "storage":
        return C.nodes[name]["node_id"]
    for kv in E.range("/dyne/nodes/"):
        nm = internal_stubs().catalog.NodeMeta.FromString(kv["value"])
        if nm.addr == "127.0.0.1:%d" % C.storage_port:
            return nm.node_id
    raise AssertionError("the default storage node is not registered")


def live_nodes():
    out = {}
    for kv in E.range("/dyne/nodes/"):
        nm = internal_stubs().catalog.NodeMeta.FromString(kv["value"])
        out[nm.node_id] = nm.addr
    return out


def create_partition(addr, pid, table):
    i = internal_stubs()
    with grpc.insecure_channel(addr) as ch:
        i.storage_grpc.StorageStub(ch).CreatePartition(i.storage.CreatePartitionRequest(
            partition_id=pid, table_name=table,
            key_schema=i.storage.KeySchema(pk_name="pk", pk_type="S")), timeout=10)


def leader_gauge(name):
    if name not in C.procs or C.procs[name].p.poll() is not None:
        return 0
    return int(scrape(C.controllers[name]["http"], timeout=1).get("dyn_controller_leader", 0))


def leaders():
    return [n for n in CTLS if leader_gauge(n) == 1]


def the_leader():
    """The one controller leading (waits up to TAKEOVER_S); checks the key names it."""
    ls = wait_for(lambda: leaders() if len(leaders()) == 1 else None, TAKEOVER_S, "one leader")
    kv = E.get("/dyne/controller/leader")
    assert kv is not None and kv["value"].decode() == C.controllers[ls[0]]["node_id"], (ls, kv)
    return ls[0]


class LeaderSampler(threading.Thread):
    """Polls every controller's leader gauge in turn for the whole run. Two instances overlap
    only if one reads 1 before and after a read of 1 from the other."""

    def __init__(self):
        threading.Thread.__init__(self, daemon=True)
        self.stop_ev = threading.Event()
        self.samples = 0
        self.overlaps = []

    def run(self):
        seq = []
        while not self.stop_ev.is_set():
            for n in CTLS:
                seq.append((n, leader_gauge(n)))
                seq = seq[-3:]
                if len(seq) == 3 and seq[0][0] == seq[2][0] != seq[1][0] and \
                        seq[0][1] == seq[1][1] == seq[2][1] == 1:
                    self.overlaps.append(list(seq))
                self.samples += 1
            time.sleep(0.05)


SAMPLER = None


# ---- catalog records ----

def table_meta(name, status="CREATING", billing="PAY_PER_REQUEST", rcu=0, wcu=0, sk=False,
               lsi=False, table_class=None, ttl=None, partitions=()):
    i, t = internal_stubs(), stubs().types
    tid = str(uuid.uuid4())
    d = t.TableDescription(TableName=name, TableStatus=status, TableId=tid,
                           CreationDateTime=time.time())
    if billing == "PAY_PER_REQUEST":
        d.BillingModeSummary.BillingMode = "PAY_PER_REQUEST"
    else:
        d.ProvisionedThroughput.ReadCapacityUnits = rcu
        d.ProvisionedThroughput.WriteCapacityUnits = wcu
    if table_class:
        d.TableClassSummary.TableClass = table_class
    m = i.catalog.TableMeta(table_name=name, table_id=tid, status=status,
                            creation_time=time.time(), description=d.SerializeToString())
    m.key_schema.pk_name, m.key_schema.pk_type = "pk", "S"
    if sk:
        m.key_schema.sk_name, m.key_schema.sk_type = "sk", "N"
    if lsi:
        m.lsis.add(name="byv", sk_name="v", sk_type="S", projection_type="ALL")
    if ttl:
        m.ttl_attribute, m.ttl_enabled = ttl, True
    for p in partitions:
        m.partitions.add(**p)
    return m


def put_table(m):
    E.put(TABLES + m.table_name, m.SerializeToString())


def get_table(name):
    kv = E.get(TABLES + name)
    if kv is None:
        return None, 0
    return internal_stubs().catalog.TableMeta.FromString(kv["value"]), kv["mod_revision"]


def set_status(name, status):
    while True:
        m, rev = get_table(name)
        m.status = status
        if E.cas(TABLES + name, rev, m.SerializeToString()):
            return


def wait_status(name, status, timeout=30):
    return wait_for(lambda: (get_table(name)[0] if get_table(name)[0] is not None and
                             get_table(name)[0].status == status else None),
                    timeout, "%s %s" % (name, status))


def check_map(m, n):
    """m's partition map: n partitions "<table id>.<i>" tiling 2^64 in order, each on a live
    node, present there and on no other node."""
    assert len(m.partitions) == n, (m.table_name, len(m.partitions), n)
    nodes = live_nodes()
    nxt = 0
    for i, p in enumerate(m.partitions):
        assert p.partition_id == "%s.%d" % (m.table_id, i), p.partition_id
        assert p.hash_start == nxt, (m.table_name, i, p.hash_start, nxt)
        assert p.hash_end >= p.hash_start
        nxt = p.hash_end + 1
        assert p.node_id in nodes and nodes[p.node_id] == p.node_addr, (p, nodes)
        for nid, addr in nodes.items():
            assert has_partition(addr, p.partition_id) == (nid == p.node_id), \
                (p.partition_id, nid, p.node_id)
    assert nxt == 2 ** 64, (m.table_name, nxt)


def catalog_counts():
    counts = {}
    for kv in E.range(TABLES):
        m = internal_stubs().catalog.TableMeta.FromString(kv["value"])
        for p in m.partitions:
            counts[p.node_id] = counts.get(p.node_id, 0) + 1
    return counts


# ---- tests ----

def test_one_leader():
    ldr = the_leader()
    other = [n for n in CTLS if n != ldr][0]
    end = time.time() + 2
    while time.time() < end:
        assert leader_gauge(other) == 0
        time.sleep(0.1)
    assert leader_gauge(ldr) == 1
    h = stubs()
    for n in CTLS:   # both serve grpc.health.v1 and /metrics
        assert "dyn_controller_leader" in scrape(C.controllers[n]["http"])
        with grpc.insecure_channel("127.0.0.1:%d" % C.controllers[n]["port"]) as ch:
            r = h.health_grpc.HealthStub(ch).Check(h.health.HealthCheckRequest(service=""),
                                                   timeout=5)
            assert r.status == h.health.HealthCheckResponse.SERVING


def test_create_spreads_partitions():
    want = {"od": 4, "p9000r": 3, "p5": 1, "p2500w": 3}
    put_table(table_meta("od"))
    put_table(table_meta("p9000r", billing="PROVISIONED", rcu=9000, wcu=10))
    put_table(table_meta("p5", billing="PROVISIONED", rcu=5, wcu=5))
    put_table(table_meta("p2500w", billing="PROVISIONED", rcu=10, wcu=2500))
    for name, n in want.items():
        m = wait_status(name, "ACTIVE")
        check_map(m, n)
        assert m.config_epoch == 1
    counts = catalog_counts()
    ids = [node_id_of(n) for n in NODES]
    assert sorted(counts) == sorted(ids), (counts, ids)
    assert max(counts.values()) - min(counts.values()) <= 1, counts
    # the first table's partitions went one per node before any node got a second
    od = get_table("od")[0]
    assert len({p.node_id for p in od.partitions}) == 3, od.partitions


def test_create_carries_table_settings():
    m = table_meta("lsittl", billing="PROVISIONED", rcu=1, wcu=1, sk=True, lsi=True,
                   table_class="STANDARD_INFREQUENT_ACCESS", ttl="exp")
    put_table(m)
    m = wait_status("lsittl", "ACTIVE")
    check_map(m, 1)
    p = m.partitions[0]
    name = [n for n in NODES if node_id_of(n) == p.node_id][0]
    with open(C.procs[name].log_path, "rb") as f:
        log = f.read().decode(errors="replace")
    assert ("partition=%s table=lsittl lsis=1 class=STANDARD_INFREQUENT_ACCESS" %
            p.partition_id) in log, log[-2000:]


def test_router_serves_controller_tables():
    # the partition map is what the router routes by: items land on every node, and come back
    m = table_meta("routed")
    d = stubs().types.TableDescription.FromString(m.description)
    d.AttributeDefinitions.add(AttributeName="pk", AttributeType="S")
    d.KeySchema.add(AttributeName="pk", KeyType="HASH")
    m.description = d.SerializeToString()
    put_table(m)
    check_map(wait_status("routed", "ACTIVE"), 4)
    C.start_router()
    cl = C.client()
    try:
        wait_for(lambda: cl.call("DescribeTable", {"TableName": "routed"})["Table"]
                 ["TableStatus"] == "ACTIVE", 15, "the router sees routed ACTIVE")
        for k in range(200):
            cl.call("PutItem", {"TableName": "routed", "Item": {"pk": {"S": "k%03d" % k},
                                                                "v": {"N": str(k)}}})
        for k in range(0, 200, 7):
            got = cl.call("GetItem", {"TableName": "routed", "Key": {"pk": {"S": "k%03d" % k}}})
            assert got["Item"]["v"] == {"N": str(k)}
        seen, start = [], None
        while True:
            r = cl.call("Scan", dict({"TableName": "routed"},
                                     **({"ExclusiveStartKey": start} if start else {})))
            seen += [i["pk"]["S"] for i in r.get("Items", [])]
            start = r.get("LastEvaluatedKey")
            if not start:
                break
        assert sorted(seen) == ["k%03d" % k for k in range(200)]
        assert cl.call("DescribeTable", {"TableName": "routed"})["Table"]["ItemCount"] == 200
    finally:
        cl.close()
    i = internal_stubs()
    for p in get_table("routed")[0].partitions:   # every partition got some of them
        with grpc.insecure_channel(p.node_addr) as ch:
            st = i.storage_grpc.StorageStub(ch).PartitionStats(
                i.storage.PartitionStatsRequest(partition_id=p.partition_id), timeout=10)
        assert st.item_count > 0, p.partition_id


def test_updating_becomes_active():
    before = get_table("p5")[0]
    set_status("p5", "UPDATING")
    m = wait_status("p5", "ACTIVE")
    assert list(m.partitions) == list(before.partitions)


def test_deleting_drops_partitions():
    m = get_table("p9000r")[0]
    set_status("p9000r", "DELETING")
    wait_for(lambda: get_table("p9000r")[0] is None, 30, "p9000r gone")
    for p in m.partitions:
        assert not has_partition(p.node_addr, p.partition_id), p.partition_id
    assert not E.range(ORPHANS)


def test_replace_off_dead_node():
    # a plan left on a node that is gone (a crashed leader planned it; the node died)
    m = table_meta("ghostplan", billing="PROVISIONED", rcu=6000, wcu=1)
    tid = m.table_id
    live = live_nodes()
    first = sorted(live)[0]
    m.partitions.add(partition_id=tid + ".0", hash_start=0, hash_end=2 ** 63 - 1, node_id="ghost",
                     node_addr="127.0.0.1:1")
    m.partitions.add(partition_id=tid + ".1", hash_start=2 ** 63, hash_end=2 ** 64 - 1,
                     node_id=first, node_addr=live[first])
    m.config_epoch = 1
    put_table(m)
    m = wait_status("ghostplan", "ACTIVE")
    check_map(m, 2)
    assert m.partitions[0].node_id != "ghost" and m.partitions[1].node_id == first
    assert m.config_epoch == 2
    orphans = [kv["key"] for kv in E.range(ORPHANS)]
    assert orphans == [ORPHANS + "ghost/" + tid + ".0"], orphans


def test_new_node_takes_new_partitions_and_orphans():
    # the node comes back (empty): its orphan record is dropped (absent is fine) and forgotten
    C.add_storage("ghost", node_id="ghost")
    wait_for(lambda: not E.range(ORPHANS), 30, "orphan record dropped")
    # the new node has no partitions: a new table's go there
    put_table(table_meta("fresh", billing="PROVISIONED", rcu=6000, wcu=1))
    m = wait_status("fresh", "ACTIVE")
    check_map(m, 2)
    assert [p.node_id for p in m.partitions] == ["ghost", "ghost"], m.partitions


def test_delete_with_node_away_leaves_orphans():
    m = get_table("fresh")[0]
    gport = C.nodes["ghost"]["port"]
    assert C.procs.pop("ghost").stop() == 0   # deregisters: not live any more
    wait_for(lambda: "ghost" not in live_nodes(), 30, "ghost deregistered")
    set_status("fresh", "DELETING")
    wait_for(lambda: get_table("fresh")[0] is None, 30, "fresh gone")
    orphans = sorted(kv["key"] for kv in E.range(ORPHANS))
    assert orphans == sorted(ORPHANS + "ghost/" + p.partition_id for p in m.partitions), orphans
    C.add_storage("ghost")   # same data: the partitions are still there until dropped
    wait_for(lambda: not E.range(ORPHANS), 30, "orphans dropped")
    for p in m.partitions:
        assert not has_partition("127.0.0.1:%d" % gport, p.partition_id)


def test_graceful_handover():
    ldr = the_leader()
    t0 = time.time()
    assert C.procs.pop(ldr).stop() == 0
    new = the_leader()
    took = time.time() - t0
    assert new != ldr
    print("     hand-over after SIGTERM took %.2fs" % took)
    assert took < TAKEOVER_S
    C.start_controller(ldr)   # back as a follower
    time.sleep(1)
    assert the_leader() == new


def test_kill9_mid_work():
    names = ["bulk%02d" % i for i in range(20)]
    for n in names:   # 10 partitions each: 200 CreatePartition calls
        put_table(table_meta(n, billing="PROVISIONED", rcu=30000, wcu=1))
    ldr = the_leader()
    wait_for(lambda: any(get_table(n)[0].status == "ACTIVE" for n in names), 60,
             "the leader at work")
    done_before = sum(get_table(n)[0].status == "ACTIVE" for n in names)
    t0 = time.time()
    C.procs[ldr].kill9()
    new = the_leader()
    took = time.time() - t0
    print("     kill -9 with %d/%d tables ACTIVE; %s took over after %.2fs" %
          (done_before, len(names), new, took))
    assert new != ldr and took < TAKEOVER_S
    for n in names:
        check_map(wait_status(n, "ACTIVE", timeout=120), 10)
    assert not E.range(ORPHANS)
    C.procs.pop(ldr).stop()
    C.start_controller(ldr)
    assert the_leader() == new


def test_never_two_leaders():
    SAMPLER.stop_ev.set()
    SAMPLER.join(5)
    assert SAMPLER.samples > 50, SAMPLER.samples
    assert not SAMPLER.overlaps, SAMPLER.overlaps[:3]
    won = sum(scrape(C.controllers[n]["http"]).get("dyn_controller_elections_won_total", 0)
              for n in CTLS)
    assert won >= 1


def test_adopt_after():
    # a controller next to routers that still drive table states leaves fresh ones alone
    for n in CTLS:
        assert C.procs.pop(n).stop() == 0
    C.start_controller("c3", args=["--adopt-after-ms=3000"])
    put_table(table_meta("late", billing="PROVISIONED", rcu=1, wcu=1))
    time.sleep(1)
    assert get_table("late")[0].status == "CREATING"
    check_map(wait_status("late", "ACTIVE", timeout=30), 1)


def main():
    global C, E, SAMPLER
    C = Cluster()
    try:
        C.start_etcd()
        C.start_storage()
        C.add_storage("s2")
        C.add_storage("s3")
        E = C.etcd()
        for n in CTLS:
            C.start_controller(n)
        SAMPLER = LeaderSampler()
        SAMPLER.start()
        return run_tests([
            ("one leader", test_one_leader),
            ("CREATING -> ACTIVE, partitions spread", test_create_spreads_partitions),
            ("CreatePartition carries the table's settings", test_create_carries_table_settings),
            ("the router serves a controller-made table", test_router_serves_controller_tables),
            ("UPDATING -> ACTIVE", test_updating_becomes_active),
            ("DELETING drops partitions, then the key", test_deleting_drops_partitions),
            ("a plan on a dead node is moved", test_replace_off_dead_node),
            ("a new node takes new partitions; orphans dropped",
             test_new_node_takes_new_partitions_and_orphans),
            ("DELETING with a node away leaves orphans, dropped on return",
             test_delete_with_node_away_leaves_orphans),
            ("SIGTERM hands leadership over", test_graceful_handover),
            ("kill -9 of the leader mid-work", test_kill9_mid_work),
            ("never two leaders", test_never_two_leaders),
            ("--adopt-after-ms waits for a state to stand", test_adopt_after),
        ])
    finally:
        if SAMPLER is not None:
            SAMPLER.stop_ev.set()
        for p in C.procs.values():
            sys.stderr.write("---- %s log tail\n%s\n" % (p.name, p.tail(15)))
        C.stop()


if __name__ == "__main__":
    sys.exit(main())
