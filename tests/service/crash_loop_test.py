"""Crash loop: concurrent writers (puts, updates, deletes) while the storage node is killed with
SIGKILL at random moments and restarted on the same data directory, DYNE_CRASH_CYCLES times
(10 in the test command; `DYNE_CRASH_CYCLES=200 tests/run //tests/service:crash_loop_test` for the
long run). After every restart each acknowledged write must be visible exactly (last acknowledged
value per key, deleted keys absent), and at the end `wt verify` passes on every WiredTiger table."""
import os
import random
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from dyne_harness import Cluster, DyneError, run_tests, wait_active, wt_command  # noqa: E402

CYCLES = int(os.environ.get("DYNE_CRASH_CYCLES", "10"))
WRITERS = 6
KEYS_PER_WRITER = 40


def test_crash_loop():
    rnd = random.Random(20261124)
    with Cluster() as c:
        cl = c.client()
        cl.call("CreateTable", {
            "TableName": "loop", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]})
        wait_active(cl, "loop")
        # the last acknowledged state per key: a value, or None for deleted. A write that failed
        # may or may not have happened, so its key is "uncertain" until the next acknowledged write
        # version: acknowledged writes per key, so a check can tell that the key's writes it
        # raced with have come and gone (put then delete) while it read
        state, uncertain, inflight, lock = {}, set(), set(), threading.Lock()
        version = {}
        stop = threading.Event()
        acked = [0]

        def writer(w):
            wc = c.client()
            r = random.Random(w)
            n = 0
            while not stop.is_set():
                key = "w%d-%d" % (w, r.randrange(KEYS_PER_WRITER))
                n += 1
                with lock:
                    inflight.add(key)   # a write under way may be applied before it is acknowledged
                op = r.random()
                try:
                    if op < 0.6:
                        wc.call("PutItem", {"TableName": "loop", "Item": {
                            "pk": {"S": key}, "v": {"N": str(n)}, "pad": {"S": "p" * r.randrange(1, 600)}}}, timeout=5)
                        val = str(n)
                    elif op < 0.85:
                        wc.call("UpdateItem", {"TableName": "loop", "Key": {"pk": {"S": key}},
                                               "UpdateExpression": "SET v = :n",
                                               "ExpressionAttributeValues": {":n": {"N": str(n)}}}, timeout=5)
                        val = str(n)
                    else:
                        wc.call("DeleteItem", {"TableName": "loop", "Key": {"pk": {"S": key}}}, timeout=5)
                        val = None
                except DyneError:
                    with lock:
                        uncertain.add(key)
                        inflight.discard(key)
                    continue
                with lock:
                    state[key] = val
                    version[key] = version.get(key, 0) + 1
                    uncertain.discard(key)
                    inflight.discard(key)
                    acked[0] += 1
            wc.close()

        threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(WRITERS)]
        for t in threads:
            t.start()
        checked = 0
        for cycle in range(CYCLES):
            time.sleep(rnd.uniform(0.05, 0.6))
            c.procs["storage"].kill9()
            time.sleep(rnd.uniform(0.0, 0.2))
            c.start_storage()
            # pause the writers' effect on the snapshot: copy state, then check every key in it
            with lock:
                snap = dict(state)
                snap_ver = dict(version)
                unsure = set(uncertain)
            for key, val in snap.items():
                if key in unsure:
                    continue
                with lock:
                    if key in inflight:
                        continue
                got = cl.call("GetItem", {"TableName": "loop", "Key": {"pk": {"S": key}},
                                          "ConsistentRead": True}, timeout=10).get("Item")
                # a writer may have acknowledged a newer write since the snapshot
                with lock:
                    if key in uncertain or key in inflight or version.get(key) != snap_ver.get(key):
                        continue
                have = got["v"]["N"] if got else None
                assert have == val, "cycle %d key %s: acknowledged %r, found %r" % (cycle, key, val, have)
                checked += 1
        stop.set()
        for t in threads:
            t.join()
        print("crash loop: %d cycles, %d acknowledged writes, %d key checks" % (CYCLES, acked[0], checked))
        assert acked[0] > 0 and checked > 0
        # every WiredTiger table verifies after all those crashes
        c.procs["storage"].stop()
        home = os.path.join(c.tmp, "storage", "wt")
        wt = wt_command(home)
        listing = subprocess.run(wt + ["list"], capture_output=True, text=True, check=True)
        tables = [u for u in listing.stdout.split() if u.startswith("table:")]
        assert tables, listing.stdout
        for uri in tables:
            r = subprocess.run(wt + ["verify", uri], capture_output=True, text=True)
            assert r.returncode == 0, "wt verify %s: %s %s" % (uri, r.stdout, r.stderr)
        print("wt verify: %d tables ok" % len(tables))
        c.start_storage()
        cl.close()


if __name__ == "__main__":
    sys.exit(run_tests([("crash loop (%d cycles)" % CYCLES, test_crash_loop)]))
