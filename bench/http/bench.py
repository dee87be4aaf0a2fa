"""Dyne's DynamoDB-compatible HTTP endpoint vs dynalite, same load generator (wrk + ddb.lua),
interleaved rounds. Run through bench/http/run.sh (which builds, installs wrk and dynalite).

Per mode (mem: Dyne on tmpfs with --sync=false vs dynalite in memory; disk: Dyne on disk with
--sync=false vs dynalite --path, LevelDB without fsync; disksync: Dyne --sync=true vs dynalite
--path), per workload (GetItem/PutItem x item size), rounds alternate Dyne, dynalite, Dyne, ...
Each round reports throughput, p99 and server CPU per operation (utime+stime of the server
processes from /proc/<pid>/stat, deltas over the round, divided by requests). Dyne's CPU is
router + storage; etcd's is shown separately (it idles during the load).
"""
import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))
import dyne_harness as H  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
TABLE = "bench"


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK   # utime, stime (fields 14, 15)


def call(port, op, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", "/", body=json.dumps(body), headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810." + op,
        "Authorization": "AWS4-HMAC-SHA256 Credential=dev/20240101/us-east-1/dynamodb/aws4_request, "
                         "SignedHeaders=host, Signature=0", "X-Amz-Date": "20240101T000000Z"})
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status != 200:
        raise RuntimeError("%s -> %d %s" % (op, r.status, data[:300]))
    return json.loads(data or b"{}")


def setup_table(port, n, size):
    try:
        call(port, "DeleteTable", {"TableName": TABLE})
        while True:
            call(port, "DescribeTable", {"TableName": TABLE})
            time.sleep(0.1)
    except RuntimeError:
        pass
    call(port, "CreateTable", {
        "TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]})
    end = time.time() + 60
    while call(port, "DescribeTable", {"TableName": TABLE})["Table"]["TableStatus"] != "ACTIVE":
        if time.time() > end:
            raise RuntimeError("table not ACTIVE")
        time.sleep(0.05)
    pad = "x" * max(1, size - 20)
    for i in range(0, n, 25):
        reqs = [{"PutRequest": {"Item": {"pk": {"S": "k%08d" % k}, "v": {"S": pad}, "n": {"N": str(k)}}}}
                for k in range(i, min(n, i + 25))]
        items = {TABLE: reqs}
        while items:
            items = call(port, "BatchWriteItem", {"RequestItems": items}).get("UnprocessedItems") or {}
    # a spot check: a preloaded item is there
    got = call(port, "GetItem", {"TableName": TABLE, "Key": {"pk": {"S": "k%08d" % (n - 1)}}})
    assert got.get("Item", {}).get("n", {}).get("N") == str(n - 1), got


def wrk(port, op, n, size, secs, conns, threads):
    env = dict(os.environ, BENCH_OP=op, BENCH_N=str(n), BENCH_SIZE=str(size), BENCH_TABLE=TABLE)
    out = subprocess.run(["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % secs, "--latency",
                          "-s", os.path.join(HERE, "ddb.lua"), "http://127.0.0.1:%d/" % port],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=True)
    text = out.stdout.decode()
    line = [l for l in text.splitlines() if l.startswith("BENCH ")]
    if not line:
        raise RuntimeError("wrk printed no summary:\n" + text)
    return json.loads(line[-1][6:])


class Dyne:
    name = "dyne"

    def __init__(self, bindir, data_parent, sync):
        H.binary = lambda b: os.path.join(bindir, "services", b, b)
        self.sync = sync
        self.c = H.Cluster(tmp=tempfile.mkdtemp(prefix="dyne-bench-", dir=data_parent))
        c = self.c
        orig_argv = H.Proc.__init__

        def proc_init(p, name, argv, log_path):
            if name == "storage":
                argv = argv + ["--sync=%s" % ("true" if sync else "false")]
            orig_argv(p, name, argv, log_path)
        H.Proc.__init__ = proc_init
        try:
            c.start()
        finally:
            H.Proc.__init__ = orig_argv
        self.port = c.router_ddb

    def pids(self):
        return [self.c.procs["router"].pid, self.c.procs["storage"].pid]

    def extra_pids(self):
        # etcd is outside the CPU/op figure (it idles under load); router and storage are shown
        # apart too, for where Dyne's CPU goes
        return {"etcd": self.c.procs["etcd"].pid, "router": self.c.procs["router"].pid,
                "storage": self.c.procs["storage"].pid}

    def stop(self):
        self.c.stop()


class Dynalite:
    name = "dynalite"

    def __init__(self, path):
        self.port = H.free_port()
        self.path = path
        argv = ["node", os.path.join(HERE, "node_modules", "dynalite", "cli.js"), "--port",
                str(self.port), "--host", "127.0.0.1", "--createTableMs", "0", "--deleteTableMs", "0"]
        if path:
            argv += ["--path", path]
        self.log = open(os.path.join(tempfile.gettempdir(), "dynalite-bench.log"), "ab")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        end = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                break
            except OSError:
                if self.p.poll() is not None or time.time() > end:
                    raise RuntimeError("dynalite did not start")
                time.sleep(0.05)

    def pids(self):
        return [self.p.pid]

    def extra_pids(self):
        return {}

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.log.close()
        if self.path:
            shutil.rmtree(self.path, ignore_errors=True)


def measure(srv, op, n, size, args):
    pids = srv.pids()
    extra = srv.extra_pids()
    c0 = sum(cpu_s(p) for p in pids)
    e0 = {k: cpu_s(p) for k, p in extra.items()}
    r = wrk(srv.port, op, n, size, args.seconds, args.connections, args.threads)
    c1 = sum(cpu_s(p) for p in pids)
    e1 = {k: cpu_s(p) for k, p in extra.items()}
    reqs = max(1, r["requests"])
    res = {
        "rps": r["requests"] / (r["duration_us"] / 1e6),
        "p99_ms": r["p99_us"] / 1000.0,
        "cpu_us_op": (c1 - c0) * 1e6 / reqs,
        "errors": r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"],
        "requests": r["requests"],
    }
    for k in extra:
        res[k + "_cpu_us_op"] = (e1[k] - e0[k]) * 1e6 / reqs
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True, help="bazel-bin of a -c opt build")
    ap.add_argument("--modes", default="mem", help="comma list of mem, disk, disksync")
    ap.add_argument("--workloads", default="GetItem:100,PutItem:100,GetItem:1024,PutItem:1024")
    ap.add_argument("--items", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--disk-dir", default=os.path.join(ROOT, "data", "bench-http"))
    args = ap.parse_args()

    rows = []
    for mode in args.modes.split(","):
        if mode == "mem":
            dyne = Dyne(args.bin_dir, "/dev/shm", sync=False)
            dl = Dynalite(None)
        else:
            os.makedirs(args.disk_dir, exist_ok=True)
            dyne = Dyne(args.bin_dir, args.disk_dir, sync=(mode == "disksync"))
            dl = Dynalite(tempfile.mkdtemp(prefix="dynalite-", dir=args.disk_dir))
        try:
            for wl in args.workloads.split(","):
                op, size = wl.split(":")
                size = int(size)
                for srv in (dyne, dl):
                    setup_table(srv.port, args.items, size)
                per = {"dyne": [], "dynalite": []}
                # a short warm-up each (JIT for node, caches for both), not counted
                for srv in (dyne, dl):
                    wrk(srv.port, op, args.items, size, 2, args.connections, args.threads)
                for rnd in range(args.rounds):
                    for srv in (dyne, dl):
                        m = measure(srv, op, args.items, size, args)
                        per[srv.name].append(m)
                        print("%-8s %-8s %5d B round %d  %-8s %9.0f req/s  p99 %7.2f ms  "
                              "cpu %6.1f us/op%s  errors %d" % (
                                  mode, op, size, rnd + 1, srv.name, m["rps"], m["p99_ms"],
                                  m["cpu_us_op"],
                                  ("  (router %.1f, storage %.1f; etcd %.2f us/op)" % (
                                      m["router_cpu_us_op"], m["storage_cpu_us_op"], m["etcd_cpu_us_op"]))
                                  if "etcd_cpu_us_op" in m else "",
                                  m["errors"]), flush=True)
                ratios = {
                    "tput": [a["rps"] / b["rps"] for a, b in zip(per["dyne"], per["dynalite"])],
                    "p99": [a["p99_ms"] / b["p99_ms"] for a, b in zip(per["dyne"], per["dynalite"])],
                    "cpu": [a["cpu_us_op"] / b["cpu_us_op"] for a, b in zip(per["dyne"], per["dynalite"])],
                }
                med = lambda k, who: statistics.median(x[k] for x in per[who])  # noqa: E731
                row = {
                    "mode": mode, "op": op, "size": size,
                    "dyne_rps": med("rps", "dyne"), "dl_rps": med("rps", "dynalite"),
                    "dyne_p99": med("p99_ms", "dyne"), "dl_p99": med("p99_ms", "dynalite"),
                    "dyne_cpu": med("cpu_us_op", "dyne"), "dl_cpu": med("cpu_us_op", "dynalite"),
                    "etcd_cpu": med("etcd_cpu_us_op", "dyne"),
                    "errors": sum(x["errors"] for w in per.values() for x in w),
                    "tput_ratios": ratios["tput"], "p99_ratios": ratios["p99"],
                    "cpu_ratios": ratios["cpu"],
                }
                rows.append(row)
                print("  ratios per round: throughput %s  p99 %s  cpu/op %s" % (
                    " ".join("%.2f" % x for x in ratios["tput"]),
                    " ".join("%.2f" % x for x in ratios["p99"]),
                    " ".join("%.2f" % x for x in ratios["cpu"])), flush=True)
        finally:
            dyne.stop()
            dl.stop()

    print()
    print("| mode | workload | Dyne req/s | dynalite req/s | throughput ratio (rounds; median) "
          "| p99 Dyne / dynalite ms | p99 ratio (median) | CPU µs/op Dyne (+etcd) / dynalite "
          "| CPU/op ratio (rounds; median) | errors |")
    print("|---|---|---:|---:|---|---:|---:|---:|---|---:|")
    for r in rows:
        print("| %s | %s %s B | %.0f | %.0f | %s; **%.2f** | %.2f / %.2f | %.2f | %.1f (+%.2f) / %.1f "
              "| %s; **%.2f** | %d |" % (
                  r["mode"], r["op"], r["size"], r["dyne_rps"], r["dl_rps"],
                  " ".join("%.2f" % x for x in r["tput_ratios"]), statistics.median(r["tput_ratios"]),
                  r["dyne_p99"], r["dl_p99"], statistics.median(r["p99_ratios"]),
                  r["dyne_cpu"], r["etcd_cpu"], r["dl_cpu"],
                  " ".join("%.2f" % x for x in r["cpu_ratios"]), statistics.median(r["cpu_ratios"]),
                  r["errors"]))


if __name__ == "__main__":
    main()
