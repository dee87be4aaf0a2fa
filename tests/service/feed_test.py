"""The change feed (DESIGN.md §4, libs/feed) through real processes: etcd and a storage node with
no retention floor, writes through the node's internal gRPC API (Put), and libs/feed's
feed_tail consumer, which appends "<partition> <lsn> <event> <key hex>" per record to a file.
Checks: the node advertises its feed urls in etcd; every LSN arrives exactly once and in order;
kill -9 of the consumer mid-stream loses nothing (at-least-once: re-deliveries only right after a
restart); storage trims its log only up to the registered position; kill -9 of the storage
node while the consumer runs only delays it."""
import os
import random
import re
import sys
import threading
import time

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from dyne_harness import (Cluster, Proc, _root, free_port, from_json,  # noqa: E402
                          internal_stubs, run_tests, wait_for)


def feed_tail_binary():
    root = _root()
    for p in (os.path.join(root, "libs", "feed", "feed_tail"),
              os.path.join(root, "bazel-bin", "libs", "feed", "feed_tail")):
        if os.path.exists(p):
            return p
    raise RuntimeError("feed_tail not built")


class Node:
    """The storage node's internal API: partitions, writes, the change log."""

    def __init__(self, c):
        self.i = internal_stubs()
        self.ch = grpc.insecure_channel("127.0.0.1:%d" % c.storage_port)
        self.stub = self.i.storage_grpc.StorageStub(self.ch)

    def create(self, pid):
        self.stub.CreatePartition(self.i.storage.CreatePartitionRequest(
            partition_id=pid, table_name=pid.split(".")[0],
            key_schema=self.i.storage.KeySchema(pk_name="pk", pk_type="S")), timeout=10)

    def put(self, pid, k):
        req = self.i.storage.PutRequest(partition_id=pid, key=("k%06d" % k).encode())
        from_json(req.item, {"pk": {"S": "k%06d" % k}, "v": {"N": str(k)}})
        return self.stub.Put(req, timeout=10, wait_for_ready=True).lsn

    def read(self, pid, after=0):
        return self.stub.ReadChanges(self.i.storage.ReadChangesRequest(
            partition_id=pid, after_lsn=after, max_records=1), timeout=10)

    def close(self):
        self.ch.close()


class Tail:
    """A feed_tail process following one partition of the cluster's node."""

    def __init__(self, c, name, pid, pub, cursor, poll_ms=500):
        self.c, self.name, self.pid = c, name, pid
        self.pos_dir = os.path.join(c.tmp, "tail-" + name)
        self.out = os.path.join(c.tmp, "tail-%s.out" % name)
        self.argv = [feed_tail_binary(), "--name=" + name, "--pos-dir=" + self.pos_dir,
                     "--out=" + self.out, "--poll-ms=%d" % poll_ms,
                     "--source=%s,%s,%s" % (pid, pub, cursor)]
        self.proc = None
        self.starts = 0

    def start(self):
        self.starts += 1
        self.proc = Proc("tail-" + self.name, self.argv,
                         os.path.join(self.c.tmp, "tail-%s.log" % self.name))
        return self

    def registered(self):
        """Waits until the storage node has recorded this consumer for its partition: from then
        on the log keeps what it has not applied (before, with no retention floor, the node may
        trim everything but the newest record, and the consumer would report a gap)."""
        pat = "id=STORAGE-LOG-CONSUMER partition=%s consumer=%s " % (self.pid, self.name)

        def seen():
            with open(self.c.procs["storage"].log_path, "rb") as f:
                return pat in f.read().decode(errors="replace")
        wait_for(seen, 20, "%s registered" % self.name)
        return self

    def running(self):
        """Waits until this run has written its "# start" line."""
        def started():
            with open(self.out) as f:
                return sum(1 for line in f if line.startswith("# start")) == self.starts
        wait_for(started, 10, "%s started" % self.name)
        return self

    def kill9(self):
        self.proc.kill9()
        self.proc.log.close()

    def stop(self):
        if self.proc is not None:
            self.proc.stop()

    def stored(self):
        """The durable position from the consumer's position file (0 before the first)."""
        try:
            with open(os.path.join(self.pos_dir, self.name + ".pos")) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2 and parts[0] == self.pid:
                        return int(parts[1])
        except FileNotFoundError:
            pass
        return 0

    def segments(self):
        """The LSNs applied, one list per run of the consumer (split at "# start" lines)."""
        segs = []
        with open(self.out) as f:
            for line in f:
                if line.startswith("# start"):
                    segs.append([])
                    continue
                p, lsn, event, key = line.split()
                assert p == self.pid, line
                assert event == "INSERT", line
                assert bytes.fromhex(key) == ("k%06d" % int(lsn)).encode(), line
                segs[-1].append(int(lsn))
        return segs

    def gaps(self):
        m = re.findall(r"gaps=(\d+)", self.proc.tail(5)) if self.proc else []
        return int(m[-1]) if m else 0


def node_record(c):
    """NodeMeta of the cluster's first storage node, from etcd."""
    i = internal_stubs()

    def find():
        for rec in c.etcd().range("/dyne/nodes/"):
            nm = i.catalog.NodeMeta()
            nm.ParseFromString(rec["value"])
            if nm.addr == "127.0.0.1:%d" % c.storage_port:
                return nm
        return None
    return wait_for(find, 10, "the node's registration")


def check_segments(segs, last, kills):
    """Each run applies consecutive LSNs; a run starts at most one past where the previous run
    stopped (re-deliveries allowed, never a hole); together they reach `last`."""
    assert len(segs) == kills + 1, (len(segs), kills)
    prev_end = 0
    dups = 0
    for n, seg in enumerate(segs):
        if not seg:
            continue
        assert seg == list(range(seg[0], seg[0] + len(seg))), "run %d not consecutive" % n
        assert 1 <= seg[0] <= prev_end + 1, "run %d starts at %d after %d" % (n, seg[0], prev_end)
        if n == 0:
            assert seg[0] == 1
        dups += max(0, prev_end - seg[0] + 1)
        prev_end = max(prev_end, seg[-1])
    assert prev_end == last, (prev_end, last)
    return dups


def start_cluster():
    pub, cur = free_port(), free_port()
    c = Cluster(storage_args=["--log-retention-s=0",
                              "--feed-pub-listen=tcp://127.0.0.1:%d" % pub,
                              "--feed-listen=tcp://127.0.0.1:%d" % cur])
    c.start_etcd()
    c.start_storage()
    c.feed_pub = "tcp://127.0.0.1:%d" % pub
    c.feed_cursor = "tcp://127.0.0.1:%d" % cur
    return c


# ---- cases ----

def test_registration(c):
    """/dyne/nodes/<id> carries NodeMeta with the bound feed urls; a node with port 0
    advertises the port it got."""
    i = internal_stubs()
    nm = fm = node_record(c)
    assert nm.node_id and nm.started > 0, nm
    assert fm.feed_pub_url == c.feed_pub and fm.feed_cursor_url == c.feed_cursor, fm
    # a second node with the defaults (port 0): real ports in its record
    p = c.add_storage("s2", node_id="s2")
    try:
        rec = wait_for(lambda: c.etcd().get("/dyne/nodes/s2"), 10, "s2 registration")
        fm2 = i.catalog.NodeMeta()
        fm2.ParseFromString(rec["value"])
        for u in (fm2.feed_pub_url, fm2.feed_cursor_url):
            assert re.fullmatch(r"tcp://127\.0\.0\.1:\d+", u) and not u.endswith(":0"), fm2
        assert fm2.feed_pub_url != fm2.feed_cursor_url
    finally:
        p.stop()
        c.procs.pop("s2", None)


def test_in_order_and_trim(c):
    node = Node(c)
    pid = "feedo.0"
    node.create(pid)
    n = 300
    # a long poll interval: after the first pass, notices are what brings records quickly
    t = Tail(c, "order", pid, c.feed_pub, c.feed_cursor, poll_ms=5000).start().registered()
    try:
        for k in range(1, n + 1):
            assert node.put(pid, k) == k
        wait_for(lambda: t.stored() == n, 30, "consumer at %d" % n)
        t0 = time.time()
        assert node.put(pid, n + 1) == n + 1
        wait_for(lambda: t.stored() == n + 1, 10, "the next record")
        latency = time.time() - t0
        print("one record after catching up: %.0f ms" % (latency * 1000))
        assert latency < 2.5, latency   # well under the 5 s poll: a notice woke it
        # storage trims only what the consumer registered: first_lsn reaches its position
        # (the newest record is always kept) and never passes it
        resp = wait_for(lambda: (lambda r: r if r.first_lsn == n + 1 else None)(node.read(pid)),
                        20, "log trimmed to the consumer's position")
        assert resp.last_lsn == n + 1
        segs = t.segments()
        assert check_segments(segs, n + 1, 0) == 0
        assert segs == [list(range(1, n + 2))]
        assert t.gaps() == 0
    finally:
        t.stop()
        node.close()


def test_consumer_kill9(c):
    node = Node(c)
    pid = "feedk.0"
    node.create(pid)
    total = 1500
    done = threading.Event()
    errors = []
    trim_violations = []

    def writer():
        try:
            wn = Node(c)
            for k in range(1, total + 1):
                wn.put(pid, k)
                if k % 50 == 0:
                    time.sleep(0.02)   # a stream, not one burst
            wn.close()
        except Exception as e:   # reported below
            errors.append(e)
        finally:
            done.set()

    t = Tail(c, "kill", pid, c.feed_pub, c.feed_cursor).start().registered()
    w = threading.Thread(target=writer)
    w.start()
    kills = 0
    try:
        rnd = random.Random(7)
        for at in (100, 250, 400, 600, 800, 1000, 1200):
            wait_for(lambda: t.stored() >= at, 60, "consumer at %d" % at)
            # first the log, then the position: trimming never passed the stored position
            first = node.read(pid).first_lsn
            if first > t.stored() + 1:
                trim_violations.append((first, t.stored()))
            t.running()
            time.sleep(rnd.random() * 0.02)   # kill at different moments of a pull
            t.kill9()
            kills += 1
            time.sleep(0.2)
            t.start()
        w.join()
        assert not errors, errors
        t.running()
        wait_for(lambda: t.stored() == total, 60, "consumer at %d" % total)
        dups = check_segments(t.segments(), total, kills)
        print("%d records, %d kills, %d re-delivered" % (total, kills, dups))
        assert not trim_violations, trim_violations
        resp = wait_for(lambda: (lambda r: r if r.first_lsn == total else None)(node.read(pid)),
                        20, "log trimmed to the consumer's position")
        assert resp.last_lsn == total
        assert t.gaps() == 0
    finally:
        done.wait(60)
        t.stop()
        node.close()


def test_storage_kill9(c):
    node = Node(c)
    pid = "feeds.0"
    node.create(pid)
    total = 600
    done = threading.Event()
    errors = []

    def writer():
        # retried until acknowledged: a retry of a write that did commit puts an identical
        # item, which writes no record, so record k still holds key k
        wn = Node(c)
        try:
            for k in range(1, total + 1):
                end = time.time() + 60
                while True:
                    try:
                        wn.put(pid, k)
                        break
                    except grpc.RpcError as e:
                        if time.time() > end:
                            raise
                        if e.code() not in (grpc.StatusCode.UNAVAILABLE,
                                            grpc.StatusCode.DEADLINE_EXCEEDED,
                                            grpc.StatusCode.CANCELLED):
                            raise
                        time.sleep(0.05)
                if k % 100 == 0:
                    time.sleep(0.05)   # let the consumer follow
        except Exception as e:   # reported below
            errors.append(e)
        finally:
            wn.close()
            done.set()

    t = Tail(c, "srv", pid, c.feed_pub, c.feed_cursor).start().registered()
    w = threading.Thread(target=writer)
    w.start()
    try:
        wait_for(lambda: t.stored() >= 150, 30, "consumer at 150")
        # the node dies while writes and pulls are in flight
        c.procs["storage"].kill9()
        time.sleep(0.5)
        c.start_storage()
        node.close()
        node = Node(c)
        first = node.read(pid).first_lsn
        assert first <= t.stored() + 1, (first, t.stored())
        w.join()
        assert not errors, errors
        wait_for(lambda: t.stored() == total, 60, "consumer at %d after the node's restart" % total)
        assert node.read(pid).last_lsn == total
        segs = t.segments()
        assert check_segments(segs, total, 0) == 0
        assert segs == [list(range(1, total + 1))]
        assert t.gaps() == 0
        # the restarted node re-advertised its feed
        fm = node_record(c)
        assert fm.feed_cursor_url == c.feed_cursor and fm.feed_pub_url == c.feed_pub, fm
    finally:
        done.wait(60)
        t.stop()
        node.close()


def main():
    c = start_cluster()
    try:
        cases = [(name, (lambda f: lambda: f(c))(f)) for name, f in [
            ("the node advertises its feed urls in etcd", test_registration),
            ("every LSN in order, pushed by notices; the log trimmed to the position",
             test_in_order_and_trim),
            ("kill -9 of the consumer mid-stream loses nothing", test_consumer_kill9),
            ("kill -9 of the storage node only delays the consumer", test_storage_kill9),
        ]]
        return run_tests(cases)
    finally:
        if os.environ.get("DYNE_KEEP_TMP"):
            print("kept", c.tmp)
        c.stop()


if __name__ == "__main__":
    sys.exit(main())
