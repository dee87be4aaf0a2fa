"""Dyne with 1 and with N storage nodes, the same router and load: bench/loadgen (C gRPC async
client, closed loop) against the router's gRPC API. Each round starts a fresh cluster per node
count (etcd, the storage nodes with --sync=false on tmpfs, a controller, a router), creates an
on-demand table (4 partitions, spread over the nodes), preloads it, and runs every workload;
rounds alternate 1 node, N nodes, 1 node, ... Ratios are N nodes / 1 node within a round, and the
table gives their median. CPU per operation is router + all storage nodes (utime + stime from
/proc). On a 2-core machine the nodes share the cores the router and the load generator use:
more nodes cannot add CPU here; the figure shows what the fan-out costs, not what it buys."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))
import dyne_harness as H  # noqa: E402


def loadgen(argv, echo):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    text = p.stdout.decode(errors="replace")
    if echo:
        sys.stderr.write(text)
    if p.returncode not in (0, 3):   # 3: loadgen saw errors; they are counted in the table
        raise RuntimeError("%s exited %d:\n%s" % (argv[0], p.returncode, text))
    lines = [l for l in text.splitlines() if l.startswith("LOADGEN ")]
    if not lines:
        raise RuntimeError("no LOADGEN line in:\n" + text)
    return json.loads(lines[-1][8:])


def one_round(a, nodes):
    c = H.Cluster(tmp=tempfile.mkdtemp(prefix="dyne-scale-", dir=a.data_parent),
                  storage_nodes=nodes, storage_args=["--sync=false"])
    try:
        c.start()
        names = ["storage"] + ["s%d" % i for i in range(2, nodes + 1)]
        pids = ["router=%d" % c.procs["router"].pid] + [
            "%s=%d" % (n, c.procs[n].pid) for n in names]
        base = [a.loadgen, "--target=router", "--addr=127.0.0.1:%d" % c.router_port,
                "--items=%d" % a.items, "--item-size=%d" % a.size,
                "--concurrency=%d" % a.concurrency, "--threads=%d" % a.threads,
                "--pids=" + ",".join(pids)]
        loadgen(base + ["--load"], a.verbose)
        out = {}
        for w in a.workloads.split(","):
            r = loadgen(base + ["--setup=false", "--workload=" + w, "--warmup=%g" % a.warmup,
                                "--duration=%g" % a.seconds], a.verbose)
            cpu = r["cpu_us_per_op"]
            out[w] = {"ops": r["ops_per_s"], "p99_us": r["ops_by"]["all"]["p99_us"],
                      "p50_us": r["ops_by"]["all"]["p50_us"], "errors": r["errors"],
                      "cpu": sum(v for k, v in cpu.items() if k != "client"),
                      "router_cpu": cpu.get("router", 0.0)}
        return out
    finally:
        c.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--items", type=int, default=20000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workloads", default="get,put,query")
    ap.add_argument("--data-parent", default="/dev/shm")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    H.binary = lambda b: os.path.join(a.bin_dir, "services", b, b)
    a.loadgen = os.path.join(a.bin_dir, "bench", "loadgen", "loadgen")
    rounds = []
    for i in range(a.rounds):
        rd = {}
        for n in (1, a.nodes):
            rd[n] = one_round(a, n)
            for w, r in rd[n].items():
                print("round %d nodes %d %-6s %9.0f ops/s  p50 %7.0f us  p99 %7.0f us  "
                      "CPU %6.1f us/op (router %5.1f)  errors %d" %
                      (i + 1, n, w, r["ops"], r["p50_us"], r["p99_us"], r["cpu"], r["router_cpu"],
                       r["errors"]), flush=True)
        rounds.append(rd)
    print()
    print("| workload | 1 node ops/s | %d nodes ops/s | throughput ratio (rounds; median) | "
          "p99 µs 1 / %d | CPU µs/op 1 / %d | CPU/op ratio (median) |" % (a.nodes, a.nodes, a.nodes))
    print("|---|---:|---:|---|---:|---:|---:|")
    for w in a.workloads.split(","):
        tr = [rd[a.nodes][w]["ops"] / rd[1][w]["ops"] for rd in rounds]
        cr = [rd[a.nodes][w]["cpu"] / rd[1][w]["cpu"] for rd in rounds]
        med = lambda k, n: statistics.median(rd[n][w][k] for rd in rounds)
        print("| %s %d B | %.0f | %.0f | %s; **%.2f** | %.0f / %.0f | %.1f / %.1f | %.2f |" %
              (w, a.size, med("ops", 1), med("ops", a.nodes), " ".join("%.2f" % x for x in tr),
               statistics.median(tr), med("p99_us", 1), med("p99_us", a.nodes), med("cpu", 1),
               med("cpu", a.nodes), statistics.median(cr)))


if __name__ == "__main__":
    main()
