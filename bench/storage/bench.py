"""The storage node's own gRPC API (dyne.internal.Storage) against raw WiredTiger doing the same
writes and reads with the same durability, in interleaved rounds. Run through bench/storage/run.sh
(which builds with Bazel).

Per item size: etcd + one storage node on free loopback ports (data on disk under --data-dir),
the partition created and --items items preloaded through bench/loadgen; the same items preloaded
into a raw WiredTiger database by bench/storage/wt_bench. Then per workload (put, get, query),
rounds alternate: storage node (loadgen, closed loop, --concurrency calls in flight), raw WT as
"threads" (--concurrency threads for writes, one per core for reads, each committing its own
transaction), raw WT as "batch" (writes only: one thread, --concurrency puts per synced commit:
the group commit libs/kv does, done ideally). Ratios are storage / raw WT within a round, against
the better raw WT mode; the table gives each round's ratio and the median.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))
import dyne_harness as H  # noqa: E402

PARTITION = "bench.0"


def parse_line(text, prefix):
    lines = [l for l in text.splitlines() if l.startswith(prefix + " ")]
    if not lines:
        raise RuntimeError("no %s line in:\n%s" % (prefix, text))
    return json.loads(lines[-1][len(prefix) + 1:])


def run(argv, prefix, echo):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    text = p.stdout.decode(errors="replace")
    if echo:
        sys.stderr.write(text)
    if p.returncode not in (0, 3):   # 3: loadgen saw errors; they are in the table
        raise RuntimeError("%s exited %d:\n%s" % (argv[0], p.returncode, text))
    return parse_line(text, prefix)


class Node:
    """etcd + one storage node, started and stopped by PID."""

    def __init__(self, binary, data, sync, retention):
        os.makedirs(data, exist_ok=True)
        self.etcd_port, self.etcd_peer = H.free_port(), H.free_port()
        self.port, self.http = H.free_port(), H.free_port()
        c = "http://127.0.0.1:%d" % self.etcd_port
        pu = "http://127.0.0.1:%d" % self.etcd_peer
        self.etcd = H.Proc("etcd", ["etcd", "--name", "default", "--data-dir",
                                    os.path.join(data, "etcd"), "--listen-client-urls", c,
                                    "--advertise-client-urls", c, "--listen-peer-urls", pu,
                                    "--initial-advertise-peer-urls", pu, "--initial-cluster",
                                    "default=" + pu, "--log-level", "error"],
                           os.path.join(data, "etcd.log"))
        H._wait_http(c + "/health", self.etcd.p, what="etcd")
        self.storage = H.Proc("storage", [
            binary,
            "--listen=127.0.0.1:%d" % self.port, "--http-listen=127.0.0.1:%d" % self.http,
            "--data-dir=" + os.path.join(data, "storage"), "--etcd=127.0.0.1:%d" % self.etcd_port,
            "--sync=%s" % ("true" if sync else "false"), "--log-retention-s=%d" % retention],
            os.path.join(data, "storage.log"))
        H._wait_http("http://127.0.0.1:%d/healthz" % self.http, self.storage.p, what="storage")

    def stop(self):
        self.storage.stop()
        self.etcd.stop()


def fmt_int(x):
    return format(int(x), ",")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--data-dir", default=os.path.join(ROOT, "data", "bench-storage"))
    ap.add_argument("--sizes", default="1024", help="item sizes, comma list (e.g. 1024,100)")
    ap.add_argument("--workloads", default="put,get,query")
    ap.add_argument("--items", type=int, default=50000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--read-threads", type=int, default=os.cpu_count() or 2,
                    help="raw WT reader threads (default: one per core)")
    ap.add_argument("--sync", default="true", help="true: fsync at commit on both sides")
    ap.add_argument("--retention", type=int, default=30,
                    help="storage --log-retention-s: the change log is trimmed after this")
    ap.add_argument("--batches", default="1,16",
                    help="storage runs per round: 1 = one call per operation; N > 1 = Storage/Batch "
                         "calls of N operations (the router's coalescing), concurrency/N calls in "
                         "flight so the same number of operations is")
    ap.add_argument("--baseline-bin", default="",
                    help="another storage binary (e.g. built from the last commit), run in the "
                         "same rounds: the new / baseline ratio")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the data directories")
    a = ap.parse_args()
    sync = a.sync == "true"
    loadgen = os.path.join(a.bin_dir, "bench", "loadgen", "loadgen")
    wtb = os.path.join(a.bin_dir, "bench", "storage", "wt_bench")
    os.makedirs(a.data_dir, exist_ok=True)
    results = []   # (size, workload, [round dicts])

    for size in [int(s) for s in a.sizes.split(",")]:
        data = tempfile.mkdtemp(prefix="run-%d-" % size, dir=a.data_dir)
        nodes = {"storage": Node(os.path.join(a.bin_dir, "services", "storage", "storage"),
                                 os.path.join(data, "dyne"), sync, a.retention)}
        if a.baseline_bin:
            nodes["baseline"] = Node(a.baseline_bin, os.path.join(data, "base"), sync, a.retention)
        try:
            common = ["--items=%d" % a.items, "--item-size=%d" % size]
            lg = {k: [loadgen, "--target=storage", "--addr=127.0.0.1:%d" % n.port,
                      "--partition=" + PARTITION, "--concurrency=%d" % a.concurrency,
                      "--pids=storage=%d,etcd=%d" % (n.storage.pid, n.etcd.pid)] + common
                  for k, n in nodes.items()}
            batched = {}   # "storage_b16": the storage node's loadgen with Batch calls of 16
            for b in [int(x) for x in a.batches.split(",") if int(x) > 1]:
                n = nodes["storage"]
                batched["storage_b%d" % b] = [
                    loadgen, "--target=storage", "--addr=127.0.0.1:%d" % n.port,
                    "--partition=" + PARTITION, "--concurrency=%d" % max(2, a.concurrency // b),
                    "--batch=%d" % b,
                    "--pids=storage=%d,etcd=%d" % (n.storage.pid, n.etcd.pid)] + common
            wt = [wtb, "--home=" + os.path.join(data, "wt"), "--sync=%s" % a.sync] + common
            t0 = time.time()
            loads = {k: run(cmd + ["--load"], "LOADGEN", a.verbose) for k, cmd in lg.items()}
            wl = run(wt + ["--load", "--threads=1", "--batch=%d" % a.concurrency], "WTBENCH",
                     a.verbose)
            print("size %d: preloaded %d items: %s, raw WT %.0f/s (%.0f s)" %
                  (size, a.items, ", ".join("%s %.0f/s" % (k, v["ops_per_s"])
                                            for k, v in loads.items()),
                   wl["ops_per_s"], time.time() - t0), file=sys.stderr)
            for w in a.workloads.split(","):
                rounds = []
                for r in range(a.rounds):
                    win = ["--warmup=%g" % a.warmup, "--duration=%g" % a.seconds,
                           "--seed=%d" % (r + 1)]
                    rd = {}
                    for k, cmd in list(lg.items()) + list(batched.items()):
                        rd[k] = run(cmd + ["--workload=" + w, "--setup=false"] + win, "LOADGEN",
                                    a.verbose)
                    threads = a.concurrency if w == "put" else a.read_threads
                    rd["wt_threads"] = run(wt + ["--workload=" + w, "--threads=%d" % threads] + win,
                                           "WTBENCH", a.verbose)
                    rd["wt_batch"] = None
                    if w == "put":
                        rd["wt_batch"] = run(wt + ["--workload=put", "--threads=1",
                                                   "--batch=%d" % a.concurrency] + win,
                                             "WTBENCH", a.verbose)
                    for k in ["storage"] + list(batched):
                        st = rd[k]["ops_per_s"]
                        rd[k]["vs_threads"] = st / max(1e-9, rd["wt_threads"]["ops_per_s"])
                        rd[k]["vs_batch"] = (st / max(1e-9, rd["wt_batch"]["ops_per_s"])
                                             if rd["wt_batch"] else None)
                    st = rd["storage"]["ops_per_s"]
                    rd["vs_threads"] = rd["storage"]["vs_threads"]
                    rd["vs_batch"] = rd["storage"]["vs_batch"]
                    rd["vs_base"] = (st / max(1e-9, rd["baseline"]["ops_per_s"])
                                     if "baseline" in rd else None)
                    rounds.append(rd)
                    print("size %d %s round %d: storage %.0f/s (p99 %.2f ms, errors %d)%s, raw WT "
                          "threads %.0f/s%s -> %.3f of threads%s%s" %
                          (size, w, r, st, rd["storage"]["ops_by"]["all"]["p99_us"] / 1000,
                           rd["storage"]["errors"],
                           ", baseline %.0f/s" % rd["baseline"]["ops_per_s"]
                           if "baseline" in rd else "",
                           rd["wt_threads"]["ops_per_s"],
                           ", batch %.0f/s" % rd["wt_batch"]["ops_per_s"] if rd["wt_batch"] else "",
                           rd["vs_threads"],
                           ", %.3f of batch" % rd["vs_batch"] if rd["vs_batch"] else "",
                           ", %.3f of baseline" % rd["vs_base"] if rd["vs_base"] else ""),
                          file=sys.stderr)
                    for k in batched:
                        print("size %d %s round %d: %s %.0f/s (p99 %.2f ms, errors %d) -> %.3f of "
                              "threads%s" % (size, w, r, k, rd[k]["ops_per_s"],
                                             rd[k]["ops_by"]["all"]["p99_us"] / 1000,
                                             rd[k]["errors"], rd[k]["vs_threads"],
                                             ", %.3f of batch" % rd[k]["vs_batch"]
                                             if rd[k]["vs_batch"] else ""), file=sys.stderr)
                results.append((size, w, rounds))
        finally:
            for n in nodes.values():
                n.stop()
            if not a.keep:
                shutil.rmtree(data, ignore_errors=True)

    def med(rounds, f):
        return statistics.median(f(r) for r in rounds)

    def per_round(rounds, f):
        return "%s; **%.2f**" % (" ".join("%.2f" % f(r) for r in rounds), med(rounds, f))

    print()
    print("| item | workload | storage calls | storage ops/s | raw WT ops/s threads / batch | "
          "storage ÷ raw WT threads (rounds; **median**) | storage ÷ raw WT batch (rounds; "
          "**median**) | p99 ms storage / raw WT threads / batch | CPU µs/op storage (+client) / "
          "raw WT threads / batch | errors |")
    print("|---|---|---|---:|---:|---|---|---:|---:|---:|")
    for size, w, rounds in results:
        b = rounds[0]["wt_batch"] is not None
        p99 = lambda k: med(rounds, lambda r: r[k]["ops_by"]["all"]["p99_us"]) / 1000  # noqa: E731
        cpu = lambda k: med(rounds, lambda r: r[k]["cpu_us_per_op"]["wt"])  # noqa: E731
        for k in [k for k in rounds[0] if k == "storage" or k.startswith("storage_b")]:
            print("| %s | %s | %s | %s | %s | %s | %s | %.2f / %s | %.1f (+%.1f) / %s | %d |" % (
                "1 KB" if size == 1024 else "%d B" % size, w,
                "one per op" if k == "storage" else "Batch of %s" % k[len("storage_b"):],
                fmt_int(med(rounds, lambda r: r[k]["ops_per_s"])),
                fmt_int(med(rounds, lambda r: r["wt_threads"]["ops_per_s"])) +
                (" / " + fmt_int(med(rounds, lambda r: r["wt_batch"]["ops_per_s"])) if b else ""),
                per_round(rounds, lambda r: r[k]["vs_threads"]),
                per_round(rounds, lambda r: r[k]["vs_batch"]) if b else "-",
                p99(k), "%.2f" % p99("wt_threads") + (" / %.2f" % p99("wt_batch") if b else ""),
                med(rounds, lambda r: r[k]["cpu_us_per_op"]["storage"]),
                med(rounds, lambda r: r[k]["cpu_us_per_op"]["client"]),
                "%.1f" % cpu("wt_threads") + (" / %.1f" % cpu("wt_batch") if b else ""),
                sum(r[k]["errors"] for r in rounds)))
    if a.baseline_bin:
        print()
        print("| item | workload | new ÷ baseline ops/s (rounds; **median**) | p99 ms new / baseline | "
              "storage CPU µs/op new / baseline |")
        print("|---|---|---|---:|---:|")
        for size, w, rounds in results:
            print("| %s | %s | %s | %.2f / %.2f | %.1f / %.1f |" % (
                "1 KB" if size == 1024 else "%d B" % size, w,
                per_round(rounds, lambda r: r["vs_base"]),
                med(rounds, lambda r: r["storage"]["ops_by"]["all"]["p99_us"]) / 1000,
                med(rounds, lambda r: r["baseline"]["ops_by"]["all"]["p99_us"]) / 1000,
                med(rounds, lambda r: r["storage"]["cpu_us_per_op"]["storage"]),
                med(rounds, lambda r: r["baseline"]["cpu_us_per_op"]["storage"])))


if __name__ == "__main__":
    main()
