"""One load generator (bench/loadgen), three ways in: Dyne's DynamoDB HTTP endpoint, Dyne's gRPC
API (the same router and storage node), and dynalite's HTTP endpoint. Closed loop, --concurrency
connections (HTTP) or calls in flight (gRPC), 100 B items by default, rounds interleaved
Dyne HTTP, Dyne gRPC, dynalite. Ratios within a round; medians printed as a markdown table.
Dyne: storage on tmpfs with --sync=false; dynalite in memory.
  bench/http/paths.sh [--rounds 3 --seconds 8 --size 100 --workloads get,put]"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench as B  # noqa: E402  (bench/http/bench.py: Dyne and Dynalite processes)


def loadgen(argv):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    text = p.stdout.decode(errors="replace")
    if p.returncode not in (0, 3):
        raise RuntimeError("%s exited %d:\n%s" % (argv[0], p.returncode, text))
    return json.loads([l for l in text.splitlines() if l.startswith("LOADGEN ")][-1][8:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--items", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--workloads", default="get,put")
    a = ap.parse_args()
    lg = os.path.join(a.bin_dir, "bench", "loadgen", "loadgen")
    dyne = B.Dyne(a.bin_dir, "/dev/shm", sync=False)
    dl = B.Dynalite(None)
    ways = {
        "dyne_http": ["--target=http", "--addr=127.0.0.1:%d" % dyne.port],
        "dyne_grpc": ["--target=router", "--addr=127.0.0.1:%d" % dyne.c.router_port],
        "dynalite": ["--target=http", "--addr=127.0.0.1:%d" % dl.port],
    }
    pids = {"dyne_http": "router=%d,storage=%d" % (dyne.c.procs["router"].pid,
                                                   dyne.c.procs["storage"].pid),
            "dynalite": "dynalite=%d" % dl.p.pid}
    pids["dyne_grpc"] = pids["dyne_http"]
    common = ["--items=%d" % a.items, "--item-size=%d" % a.size,
              "--concurrency=%d" % a.concurrency]
    try:
        for w in ("dyne_http", "dynalite"):   # Dyne's two ways share one table
            loadgen([lg] + ways[w] + common + ["--load"])
        rows = {}
        for wl in a.workloads.split(","):
            per = {w: [] for w in ways}
            for rnd in range(a.rounds):
                for w in ways:
                    r = loadgen([lg] + ways[w] + common + [
                        "--setup=false", "--workload=" + wl, "--warmup=1",
                        "--duration=%g" % a.seconds, "--pids=" + pids[w]])
                    cpu = sum(v for k, v in r["cpu_us_per_op"].items() if k != "client")
                    m = {"ops": r["ops_per_s"], "p99": r["ops_by"]["all"]["p99_us"], "cpu": cpu,
                         "errors": r["errors"], "cpus": r["cpu_us_per_op"]}
                    per[w].append(m)
                    print("%-4s round %d %-10s %8.0f ops/s  p99 %6.0f us  CPU %5.1f us/op %s  "
                          "errors %d" % (wl, rnd + 1, w, m["ops"], m["p99"], cpu,
                                         json.dumps(r["cpu_us_per_op"]), m["errors"]),
                          flush=True)
            rows[wl] = per
        print()
        print("| workload | Dyne HTTP ops/s | Dyne gRPC ops/s | dynalite ops/s | HTTP / gRPC "
              "(rounds; median) | HTTP / dynalite throughput (rounds; median) | CPU µs/op HTTP / "
              "gRPC / dynalite | HTTP / dynalite CPU/op (median) | p99 µs HTTP / gRPC / dynalite |")
        print("|---|---:|---:|---:|---|---|---:|---:|---:|")
        for wl, per in rows.items():
            med = lambda w, k: statistics.median(x[k] for x in per[w])  # noqa: E731
            hg = [h["ops"] / g["ops"] for h, g in zip(per["dyne_http"], per["dyne_grpc"])]
            hd = [h["ops"] / d["ops"] for h, d in zip(per["dyne_http"], per["dynalite"])]
            cd = [h["cpu"] / d["cpu"] for h, d in zip(per["dyne_http"], per["dynalite"])]
            print("| %s %d B | %.0f | %.0f | %.0f | %s; **%.2f** | %s; **%.2f** | %.1f / %.1f / "
                  "%.1f | %s; **%.2f** | %.0f / %.0f / %.0f |" % (
                      wl, a.size, med("dyne_http", "ops"), med("dyne_grpc", "ops"),
                      med("dynalite", "ops"), " ".join("%.2f" % x for x in hg),
                      statistics.median(hg), " ".join("%.2f" % x for x in hd),
                      statistics.median(hd), med("dyne_http", "cpu"), med("dyne_grpc", "cpu"),
                      med("dynalite", "cpu"), " ".join("%.2f" % x for x in cd),
                      statistics.median(cd), med("dyne_http", "p99"), med("dyne_grpc", "p99"),
                      med("dynalite", "p99")))
    finally:
        dyne.stop()
        dl.stop()


if __name__ == "__main__":
    main()
