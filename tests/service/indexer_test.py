"""The indexer (services/indexer) through real processes, without router or controller: etcd,
two storage nodes, base and index partitions created here with CreatePartition (gsi=true for the
index ones), the table's catalog entry with its GSIs written straight into etcd, writes through
the storage nodes' internal Put/Delete. A checker scans the base partitions and compares what
their items imply (projections, sparse items, items whose index key moved) with the index
partitions' contents. Cases: maintenance under random writes; kill -9 of the indexer mid-stream
and a restart; a backfill of an index added to a populated table while writes go on (ACTIVE,
every base partition listed in backfilled); a storage node restart (new feed ports); an index
turned DELETING is forgotten (its position file goes); metrics."""
import json
import os
import random
import sys
import threading
import time
import zlib

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from dyne_harness import (Cluster, binary, free_port, from_json, internal_stubs,  # noqa: E402
                          run_tests, scrape, to_json, wait_for)

TABLE = "gt"
TABLE_ID = "gt1"
HALF = 1 << 63
MAX = (1 << 64) - 1


class World:
    """The cluster, its two storage nodes, the table's catalog entry and the indexer."""

    def __init__(self):
        self.i = internal_stubs()
        self.c = Cluster(storage_args=["--log-retention-s=0"])
        self.c.start_etcd()
        self.c.start_storage()
        self.c.add_storage("s2", node_id="s2")
        self.etcd = self.c.etcd()
        self.addr = {"storage": "127.0.0.1:%d" % self.c.storage_port,
                     "s2": "127.0.0.1:%d" % self.c.nodes["s2"]["port"]}
        self.node_id = {n: self.node_record(a).node_id for n, a in self.addr.items()}
        self.chans = {n: grpc.insecure_channel(a) for n, a in self.addr.items()}
        self.stubs = {n: self.i.storage_grpc.StorageStub(ch) for n, ch in self.chans.items()}
        self.base = [(TABLE_ID + ".0", "storage", 0, HALF - 1), (TABLE_ID + ".1", "s2", HALF, MAX)]
        for pid, node, _, _ in self.base:
            self.create(node, pid, self.i.storage.KeySchema(pk_name="pk", pk_type="S",
                                                           sk_name="sk", sk_type="N"), False)
        self.indexer_http = free_port()
        self.indexer_port = free_port()
        self.indexer_dir = os.path.join(self.c.tmp, "indexer")
        self.gsis = []

    def node_record(self, addr):
        def find():
            for rec in self.c.etcd().range("/dyne/nodes/"):
                nm = self.i.catalog.NodeMeta()
                nm.ParseFromString(rec["value"])
                if nm.addr == addr:
                    return nm
            return None
        return wait_for(find, 15, "registration of %s" % addr)

    def create(self, node, pid, ks, gsi):
        self.stubs[node].CreatePartition(self.i.storage.CreatePartitionRequest(
            partition_id=pid, table_name=TABLE, key_schema=ks, gsi=gsi), timeout=10,
            wait_for_ready=True)

    # ---- the catalog ----

    def gsi(self, name, pk, pk_type, sk=None, sk_type=None, proj="ALL", include=(), n=1,
            status="CREATING", backfilling=False):
        """Creates the index partitions (over both nodes) and returns its GsiMeta."""
        index_id = "%s-%s-%d" % (TABLE_ID, name, n)
        ks = self.i.storage.KeySchema(pk_name=pk, pk_type=pk_type)
        if sk:
            ks.sk_name, ks.sk_type = sk, sk_type
        g = self.i.catalog.GsiMeta(index_name=name, index_id=index_id, key_schema=ks,
                                   projection_type=proj, non_key_attributes=list(include),
                                   status=status, backfilling=backfilling)
        for k, (node, lo, hi) in enumerate([("s2", 0, HALF - 1), ("storage", HALF, MAX)]):
            pid = "%s.%d" % (index_id, k)
            self.create(node, pid, ks, True)
            g.partitions.add(partition_id=pid, hash_start=lo, hash_end=hi,
                             node_id=self.node_id[node], node_addr=self.addr[node])
        return g

    def table(self):
        t = self.i.catalog.TableMeta(
            table_name=TABLE, table_id=TABLE_ID, status="ACTIVE",
            key_schema=self.i.storage.KeySchema(pk_name="pk", pk_type="S", sk_name="sk",
                                                sk_type="N"))
        for pid, node, lo, hi in self.base:
            t.partitions.add(partition_id=pid, hash_start=lo, hash_end=hi,
                             node_id=self.node_id[node], node_addr=self.addr[node])
        return t

    def put_table(self, gsis):
        t = self.table()
        for g in gsis:
            t.gsis.add().CopyFrom(g)
        self.etcd.put("/dyne/tables/" + TABLE, t.SerializeToString())

    def meta(self):
        rec = self.etcd.get("/dyne/tables/" + TABLE)
        t = self.i.catalog.TableMeta()
        t.ParseFromString(rec["value"])
        return t, rec["mod_revision"]

    def update_table(self, fn):
        """Read-modify-write of the entry (the indexer writes it too)."""
        for _ in range(20):
            t, rev = self.meta()
            fn(t)
            if self.etcd.cas("/dyne/tables/" + TABLE, rev, t.SerializeToString()):
                return
        raise AssertionError("catalog entry kept changing")

    def gsi_meta(self, index_id):
        t, _ = self.meta()
        for g in t.gsis:
            if g.index_id == index_id:
                return g
        return None

    def wait_active(self, index_id, timeout=60):
        want = sorted(p[0] for p in self.base)

        def active():
            g = self.gsi_meta(index_id)
            return (g is not None and g.status == "ACTIVE" and not g.backfilling and
                    sorted(g.backfilled) == want)
        wait_for(active, timeout, "%s ACTIVE with every base partition backfilled" % index_id)

    # ---- the indexer ----

    def start_indexer(self):
        return self.c._spawn("indexer", [binary("indexer"),
                                         "--listen=127.0.0.1:%d" % self.indexer_port,
                                         "--http-listen=127.0.0.1:%d" % self.indexer_http,
                                         "--data-dir=" + self.indexer_dir,
                                         "--node-id=ix1", "--lease-ttl=2", "--poll-ms=200",
                                         "--scan-page=37",
                                         "--etcd=127.0.0.1:%d" % self.c.etcd_port],
                             self.indexer_http)

    # ---- base writes ----

    def base_of(self, pk):
        return self.base[zlib.crc32(pk.encode()) % 2]

    def put(self, it):
        pid, node, _, _ = self.base_of(it["pk"]["S"])
        req = self.i.storage.PutRequest(partition_id=pid,
                                        key=("%s#%s" % (it["pk"]["S"], it["sk"]["N"])).encode())
        from_json(req.item, it)
        self.stubs[node].Put(req, timeout=20, wait_for_ready=True)

    def delete(self, pk, sk):
        pid, node, _, _ = self.base_of(pk)
        self.stubs[node].Delete(self.i.storage.DeleteRequest(
            partition_id=pid, key=("%s#%s" % (pk, sk)).encode()), timeout=20,
            wait_for_ready=True)

    def scan(self, node, pid):
        out, start = [], b""
        while True:
            r = self.stubs[node].Range(self.i.storage.RangeRequest(
                partition_id=pid, start=start, start_exclusive=bool(start), limit=200),
                timeout=20, wait_for_ready=True)
            out += [to_json(x) for x in r.items]
            if not r.last_key:
                return out
            start = r.last_key

    def close(self):
        for ch in self.chans.values():
            ch.close()
        self.c.stop()


# ---- what the index should hold ----

def key_ok(v, t):
    if v is None or t not in v:
        return False
    return t == "N" or v[t] != ""


def entry(it, g):
    ks = g.key_schema
    if not key_ok(it.get(ks.pk_name), ks.pk_type):
        return None
    if ks.sk_name and not key_ok(it.get(ks.sk_name), ks.sk_type):
        return None
    if g.projection_type == "ALL":
        return it
    names = {"pk", "sk", ks.pk_name} | ({ks.sk_name} if ks.sk_name else set())
    if g.projection_type == "INCLUDE":
        names |= set(g.non_key_attributes)
    return {k: v for k, v in it.items() if k in names}


def canon(it):
    return json.dumps(it, sort_keys=True)


def diff(w, g):
    """What differs between the index and what the base implies: "" when they agree."""
    items = []
    for pid, node, _, _ in w.base:
        items += w.scan(node, pid)
    want = sorted(canon(e) for e in (entry(it, g) for it in items) if e is not None)
    got, where = [], {}
    for p in g.partitions:
        node = "s2" if p.node_addr == w.addr["s2"] else "storage"
        for e in w.scan(node, p.partition_id):
            got.append(canon(e))
            # one index key value lives in one index partition
            k = canon(e.get(g.key_schema.pk_name))
            if where.setdefault(k, p.partition_id) != p.partition_id:
                return "index key %s in two partitions" % k
    got.sort()
    if got == want:
        return ""
    extra = sorted(set(got) - set(want))[:3]
    missing = sorted(set(want) - set(got))[:3]
    return "index %s: %d entries, want %d; extra %s missing %s" % (
        g.index_name, len(got), len(want), extra, missing)


def converge(w, gs, timeout=60):
    last = [""]

    def ok():
        for g in gs:
            d = diff(w, g)
            if d:
                last[0] = d
                return False
        return True
    try:
        wait_for(ok, timeout, "index contents to converge")
    except AssertionError:
        raise AssertionError("not converged: " + last[0])


def rand_item(rnd, pks):
    pk = rnd.choice(pks)
    it = {"pk": {"S": pk}, "sk": {"N": str(rnd.randrange(3))}, "v": {"N": str(rnd.randrange(1000))}}
    r = rnd.random()
    if r < 0.75:
        it["g"] = {"S": rnd.choice("abcdefgh")}
    elif r < 0.85:
        it["g"] = {"N": "5"}   # the wrong type: not in the index
    if rnd.random() < 0.8:
        it["r"] = {"N": str(rnd.randrange(-5, 5))}
    if rnd.random() < 0.7:
        it["h"] = {"N": str(rnd.randrange(10))}
    if rnd.random() < 0.3:
        it["x"] = {"S": "extra %d" % rnd.randrange(100)}
    return it


class Writer:
    """Random puts (overwrites) and deletes in a thread until stopped."""

    def __init__(self, w, seed, pks, pause=0.002):
        self.w, self.rnd, self.pks, self.pause = w, random.Random(seed), pks, pause
        self.n, self.err = 0, None
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        try:
            while not self.stop_ev.is_set():
                self.step()
                time.sleep(self.pause)
        except Exception as e:  # reported by stop()
            self.err = e

    def step(self):
        if self.rnd.random() < 0.15:
            op = (self.w.delete, self.rnd.choice(self.pks), str(self.rnd.randrange(3)))
        else:
            op = (self.w.put, rand_item(self.rnd, self.pks))
        # a call in flight when its node is killed fails; puts and deletes are idempotent
        for attempt in range(50):
            try:
                op[0](*op[1:])
                break
            except grpc.RpcError as e:
                if attempt == 49 or e.code() not in (grpc.StatusCode.UNAVAILABLE,
                                                     grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise
                time.sleep(0.1)
        self.n += 1

    def start(self):
        self.t.start()
        return self

    def stop(self):
        self.stop_ev.set()
        self.t.join(60)
        assert self.err is None, self.err
        return self.n


# ---- cases ----

W = None
PKS = ["p%02d" % i for i in range(40)]


def test_gsi_partitions():
    """A gsi=true partition takes Put/Delete/Get/Range/PartitionStats but has no change log."""
    i = W.i
    ks = i.storage.KeySchema(pk_name="g", pk_type="S")
    W.create("storage", "plain-gsi.0", ks, True)
    st = W.stubs["storage"]
    req = i.storage.PutRequest(partition_id="plain-gsi.0", key=b"k1")
    from_json(req.item, {"g": {"S": "x"}, "pk": {"S": "a"}})
    r = st.Put(req, timeout=10)
    assert r.lsn == 0, r
    assert st.Get(i.storage.GetRequest(partition_id="plain-gsi.0", key=b"k1"), timeout=10).item
    assert st.PartitionStats(i.storage.PartitionStatsRequest(partition_id="plain-gsi.0"),
                             timeout=10).item_count == 1
    try:
        st.ReadChanges(i.storage.ReadChangesRequest(partition_id="plain-gsi.0"), timeout=10)
        raise AssertionError("ReadChanges on a GSI partition answered")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
    st.Delete(i.storage.DeleteRequest(partition_id="plain-gsi.0", key=b"k1"), timeout=10)
    assert len(W.scan("storage", "plain-gsi.0")) == 0
    st.DropPartition(i.storage.DropPartitionRequest(partition_id="plain-gsi.0"), timeout=10)


def test_maintained():
    """Indexes of a new (empty) table turn ACTIVE; random puts, overwrites and deletes are
    reflected with the right projections; sparse items have no entry; moved entries move."""
    byg = W.gsi("byg", "g", "S", "r", "N", proj="ALL")
    byh = W.gsi("byh", "h", "N", proj="KEYS_ONLY")
    W.gsis = [byg, byh]
    W.put_table(W.gsis)
    W.start_indexer()
    W.wait_active(byg.index_id)
    W.wait_active(byh.index_id)
    wr = Writer(W, 1, PKS).start()
    time.sleep(3)
    n = wr.stop()
    assert n > 100, n
    gs = [W.gsi_meta(byg.index_id), W.gsi_meta(byh.index_id)]
    converge(W, gs)
    # both index partitions hold entries: routing spreads them
    for p in gs[0].partitions:
        node = "s2" if p.node_addr == W.addr["s2"] else "storage"
        assert W.scan(node, p.partition_id), p.partition_id


def test_kill9_restart():
    """kill -9 of the indexer while writes go on, a restart: the indexes converge."""
    wr = Writer(W, 2, PKS).start()
    time.sleep(1.5)
    W.c.procs["indexer"].kill9()
    W.c.procs.pop("indexer").log.close()
    time.sleep(1)
    W.start_indexer()
    time.sleep(1.5)
    wr.stop()
    converge(W, [W.gsi_meta(g.index_id) for g in W.gsis])


def test_backfill_while_writing():
    """An INCLUDE index added to the populated table while writes go on: it is backfilled,
    turns ACTIVE with every base partition listed, and converges."""
    byi = W.gsi("byi", "g", "S", proj="INCLUDE", include=["v", "x"], backfilling=True)
    wr = Writer(W, 3, PKS).start()
    time.sleep(0.5)
    W.update_table(lambda t: t.gsis.add().CopyFrom(byi))
    W.wait_active(byi.index_id, timeout=60)
    time.sleep(1)
    wr.stop()
    W.gsis.append(byi)
    converge(W, [W.gsi_meta(g.index_id) for g in W.gsis])
    m = scrape(W.indexer_http)
    assert m.get('dyn_indexer_backfill_items_total{index="%s"}' % byi.index_id, 0) > 0, m


def test_storage_restart():
    """A storage node restarts (kill -9; its feed comes back on new ports) while writes go on:
    the indexer follows the new urls and the indexes converge."""
    wr = Writer(W, 4, PKS).start()
    time.sleep(1)
    W.c.procs["s2"].kill9()
    W.c.procs.pop("s2").log.close()
    time.sleep(0.5)
    W.c.add_storage("s2", node_id="s2")
    time.sleep(2)
    wr.stop()
    converge(W, [W.gsi_meta(g.index_id) for g in W.gsis], timeout=90)


def test_metrics():
    m = scrape(W.indexer_http)
    assert m.get("dyn_indexer_leader") == 1, m
    g = W.gsis[0].index_id
    assert m.get('dyn_indexer_records_applied_total{index="%s"}' % g, 0) > 0, m
    assert m.get('dyn_indexer_entries_put_total{index="%s"}' % g, 0) > 0, m
    assert m.get('dyn_indexer_entries_deleted_total{index="%s"}' % g, 0) > 0, m
    wait_for(lambda: scrape(W.indexer_http).get('dyn_indexer_lag_records{index="%s"}' % g) == 0,
             20, "lag 0")


def test_deleting_forgotten():
    """An index turned DELETING: its consumer stops and its position file goes."""
    byh = W.gsis[1]
    pos = os.path.join(W.indexer_dir, "indexer.%s.pos" % byh.index_id)
    assert os.path.exists(pos), os.listdir(W.indexer_dir)

    def mark(t):
        for g in t.gsis:
            if g.index_id == byh.index_id:
                g.status = "DELETING"
    W.update_table(mark)
    wait_for(lambda: not os.path.exists(pos), 20, "the position file removed")
    assert os.path.exists(os.path.join(W.indexer_dir, "indexer.%s.pos" % W.gsis[0].index_id))


def main():
    global W
    W = World()
    try:
        return run_tests([
            ("gsi partitions", test_gsi_partitions),
            ("maintained under random writes", test_maintained),
            ("kill -9 of the indexer, restart", test_kill9_restart),
            ("backfill while writing", test_backfill_while_writing),
            ("storage node restart", test_storage_restart),
            ("metrics", test_metrics),
            ("DELETING index forgotten", test_deleting_forgotten),
        ], on_failure=W.c.diagnose)
    finally:
        W.close()


if __name__ == "__main__":
    sys.exit(main())
