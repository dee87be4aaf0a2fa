"""Durability: every PutItem acknowledged before a `kill -9` of the storage node is there after it
restarts on the same data directory. Writers keep going while the node dies, so some writes fail
(not acknowledged) and the acknowledged ones are spread over group commits."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from dyne_harness import Cluster, DyneError, run_tests, wait_active  # noqa: E402

WRITERS = 8
PER_WRITER = 400


def test_kill9_keeps_acknowledged_writes():
    with Cluster() as c:
        cl = c.client()
        cl.call("CreateTable", {
            "TableName": "durable", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]})
        wait_active(cl, "durable")
        acked = {}
        lock = threading.Lock()
        progress = threading.Semaphore(0)

        def writer(w):
            wc = c.client()
            for i in range(PER_WRITER):
                key = "w%d-%d" % (w, i)
                try:
                    wc.call("PutItem", {"TableName": "durable",
                                        "Item": {"pk": {"S": key}, "v": {"N": str(i)},
                                                 "pad": {"S": "x" * 200}}}, timeout=5)
                except DyneError:
                    continue   # not acknowledged: no promise was made
                with lock:
                    acked[key] = str(i)
                progress.release()
            wc.close()

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
        for t in threads:
            t.start()
        for _ in range(WRITERS * PER_WRITER // 4):   # let a quarter land first
            progress.acquire()
        c.procs["storage"].kill9()
        killed_at = len(acked)
        time.sleep(0.3)
        c.start_storage()
        for t in threads:
            t.join()
        assert killed_at > 0
        assert len(acked) >= killed_at
        missing = []
        for key, v in sorted(acked.items()):
            got = cl.call("GetItem", {"TableName": "durable", "Key": {"pk": {"S": key}},
                                      "ConsistentRead": True})
            if got.get("Item", {}).get("v") != {"N": v}:
                missing.append(key)
        print("acknowledged %d writes (%d before the kill); missing after restart: %d"
              % (len(acked), killed_at, len(missing)))
        assert not missing, missing[:10]
        cl.close()


if __name__ == "__main__":
    sys.exit(run_tests([("kill -9 keeps acknowledged writes", test_kill9_keeps_acknowledged_writes)]))
