"""The measurements of bench/run, one function per section. Each returns a JSON-able dict that
bench/suite/report.py turns into markdown; per-round figures are kept so ratios are taken within
a round (the machine is shared and noisy: absolute figures move between runs, ratios of
neighbouring runs much less).

Run keys are "workload|size|dist|concurrency|system"; a run's value is a list with one record
per round (None where it did not run)."""
import os
import shutil
import sys
import tempfile
import time

import procs as P
from lg import Rejected

# workload key -> (label, loadgen arguments)
WORKLOADS = {
    "put": ("load: PutItem (put 100%)", ["--workload=put"]),
    "A": ("YCSB A: GetItem 50% / PutItem 50%", ["--workload=A"]),
    "B": ("YCSB B: GetItem 95% / PutItem 5%", ["--workload=B"]),
    "C": ("YCSB C: GetItem 100%", ["--workload=C"]),
    "E": ("YCSB E: Query of 10 items 95% / new-key PutItem 5%", ["--workload=E"]),
    "F": ("YCSB F: GetItem 50% / read-modify-write 50%", ["--workload=F"]),
    "hot": ("hot key: the A mix, every operation on one key", ["--workload=A"]),
}
WORKLOAD_ORDER = ["put", "A", "B", "C", "E", "F", "hot"]


def dist_of(wl):
    """The key distribution of a workload's main points ("hot" runs with --dist=hot)."""
    return "hot" if wl == "hot" else "uniform"

SYSTEMS = {
    "dyne_grpc": "Dyne gRPC",
    "dyne_http": "Dyne HTTP",
    "echo1": "echo, 1 hop",
    "echo2": "echo, 2 hops",
    "dynalite": "dynalite",
    "wt1": "raw WT, 1 put per fsync",
    "wtC": "raw WT, C threads",
}

# the settings of a full run, and of --quick
PROFILES = {
    "full": {
        "rounds": 3, "seconds": 3.0, "warmup": 1.0, "items": 20000,
        "curve_conc": [1, 4, 16, 64], "curve_workloads": WORKLOAD_ORDER, "table_conc": 64,
        "small_workloads": WORKLOAD_ORDER, "zipf_workloads": ["A", "B", "C"],
        "http_conns": 32, "http_sizes": [100, 1024],
        "durable_conc": [1, 4, 16, 64], "footprint_items": 200000,
        "scale_nodes": [1, 2, 3, 4], "scale_routers": [1, 2], "scale_items": 20000,
    },
    "quick": {
        "rounds": 1, "seconds": 1.0, "warmup": 0.5, "items": 2000,
        "curve_conc": [1, 64], "curve_workloads": ["put", "C"], "table_conc": 64,
        "small_workloads": ["put", "C"], "zipf_workloads": ["C"],
        "http_conns": 32, "http_sizes": [1024],
        "durable_conc": [64], "footprint_items": 20000,
        "scale_nodes": [1, 2, 3, 4], "scale_routers": [1, 2], "scale_items": 2000,
    },
}

LOAD_CONC = 64   # calls in flight (HTTP: connections) when preloading


def key(wl, size, dist, conc, system):
    return "%s|%d|%s|%d|%s" % (wl, size, dist, conc, system)


def say(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


class Ctx:
    """What every section needs: options, tools, directories, feature probes."""

    def __init__(self, opts, tools, prof):
        self.o, self.tools, self.prof = opts, tools, prof
        self.disk_parent = os.path.join(P.ROOT, "data", "bench-suite")
        os.makedirs(self.disk_parent, exist_ok=True)
        self.mem_parent = "/dev/shm" if os.path.isdir("/dev/shm") else self.disk_parent
        self.logdir = tempfile.mkdtemp(prefix="bench-run-logs-")
        self.rounds, self.seconds, self.warmup = prof["rounds"], prof["seconds"], prof["warmup"]
        self.items = prof["items"]
        self.timeout = self.warmup + self.seconds + 120
        self.lg_threads = opts.lg_threads
        self.skips = []           # (what, why) met while measuring: shown in the report
        self.feature_skips = {}   # feature -> (what, why): what this build lacks
        self._features = None

    def features(self):
        """What this loadgen / echo build offers: {"F": bool, "hot": bool, "echo": bool}, notes
        in self.skips for what is missing."""
        if self._features is not None:
            return self._features
        t = self.tools
        f = {}
        ok, why = t.supports(["--target=router", "--workload=F"])
        f["F"] = ok
        if not ok:
            self.feature_skips["F"] = ("workload F (get 50 / rmw 50)",
                                       "this loadgen rejects --workload=F (%s)" % why)
        ok, why = t.supports(["--target=router", "--workload=A", "--dist=hot"])
        f["hot"] = ok
        if not ok:
            self.feature_skips["hot"] = ("hot-key workload",
                                         "this loadgen rejects --dist=hot (%s)" % why)
        if t.echo is None:
            f["echo"] = False
            self.feature_skips["echo"] = (
                "echo 1 hop / 2 hops (and the targets measured against echo)",
                t.no_echo)
        else:
            ok, why = t.supports(["--target=echo", "--workload=get"])
            f["echo"] = ok
            if not ok:
                self.feature_skips["echo"] = (
                    "echo 1 hop / 2 hops (and the targets measured against echo)",
                    "this loadgen has no --target=echo (%s)" % why)
        self._features = f
        return f

    def workloads(self, names):
        f = self.features()
        return [w for w in names if w in WORKLOADS and f.get(w, True)]

    def window(self, rnd):
        return ["--warmup=%g" % self.warmup, "--duration=%g" % self.seconds,
                "--seed=%d" % (rnd + 1), "--threads=%d" % self.lg_threads]


def pids_arg(pairs):
    return "--pids=" + ",".join("%s=%d" % (n, p) for n, p in pairs)


def table_name(size):
    return "bench%d" % size


def run_points(ctx, points, runners, title):
    """Rounds over points; in each point its systems run one after another, in reverse order on
    odd rounds (Dyne, reference, Dyne, reference, ... so neighbours share the machine's state).
    runners[system](point, rnd) -> record, or raises Rejected (then that system is skipped at
    that workload from then on, with a note)."""
    runs, rejected = {}, {}
    total = sum(len(p["systems"]) for p in points) * ctx.rounds
    done, t0 = 0, time.time()
    for rnd in range(ctx.rounds):
        for pt in points:
            order = pt["systems"] if rnd % 2 == 0 else list(reversed(pt["systems"]))
            for s in order:
                k = key(pt["wl"], pt["size"], pt["dist"], pt["conc"], s)
                runs.setdefault(k, [None] * ctx.rounds)
                rk = (s, pt["wl"], pt["dist"])
                done += 1
                if rk in rejected:
                    continue
                try:
                    r = runners[s](pt, rnd)
                except Rejected as e:
                    rejected[rk] = str(e)
                    ctx.skips.append(("%s, %s (%s keys)" % (SYSTEMS[s], pt["wl"], pt["dist"]),
                                      "loadgen rejected it: %s" % e))
                    say("%s: skip %s %s: %s" % (title, s, pt["wl"], e))
                    continue
                runs[k][rnd] = r
                say("%s r%d %-4s %5dB %-7s c=%-3d %-9s %9.0f ops/s p50 %7.0f p99 %8.0f us  "
                    "cpu %6.1f us/op  err %d   [%d/%d, %.0fs]" % (
                        title, rnd + 1, pt["wl"], pt["size"], pt["dist"], pt["conc"], s,
                        r["ops"], r["p50"], r["p99"], r["cpu"], r["errors"], done, total,
                        time.time() - t0))
    return runs


# ---- (1), (2): workloads against the references, in memory --------------------------------

def compare(ctx):
    """Dyne (router + 1 storage node, tmpfs, --sync=false) over gRPC and HTTP, echo 1 and 2
    hops, dynalite in memory: every workload, curves over concurrency at 1 KB, table points at
    100 B, zipf keys, and the HTTP point at 32 connections."""
    prof, f = ctx.prof, ctx.features()
    sizes = [100, 1024]
    tc = prof["table_conc"]
    base = ["dyne_grpc", "dynalite", "dyne_http"]
    with_echo = ["dyne_grpc", "echo1", "dyne_http", "dynalite", "echo2"] if f["echo"] else base
    points = []

    def add(wl, size, dist, conc, systems):
        points.append({"wl": wl, "size": size, "dist": dist, "conc": conc, "systems": systems})

    for wl in ctx.workloads(WORKLOAD_ORDER):
        concs = prof["curve_conc"] if wl in prof["curve_workloads"] else [tc]
        for c in concs:
            add(wl, 1024, dist_of(wl), c, with_echo if wl == "C" else base)
    for wl in ctx.workloads(prof["small_workloads"]):
        for c in ([1, tc] if wl == "C" else [tc]):
            add(wl, 100, dist_of(wl), c, with_echo if wl == "C" else base)
    for wl in ctx.workloads(prof["zipf_workloads"]):
        add(wl, 1024, "zipf", tc, base)
    hc = prof["http_conns"]
    for wl in ("C", "put"):
        for size in prof["http_sizes"]:
            add(wl, size, "uniform", hc, ["dyne_http", "dynalite"])

    dyne = P.Dyne(ctx.mem_parent, sync=False, name="mem")
    dl = P.Dynalite(ctx.logdir)
    echo1 = echo2 = None
    try:
        if f["echo"]:
            echo1 = P.Echo(ctx.tools.echo, ctx.logdir)
            echo2 = P.Echo(ctx.tools.echo, ctx.logdir, backend_port=echo1.port)
        dpids = pids_arg([("router", dyne.pid("router")), ("storage", dyne.pid("storage")),
                          ("etcd", dyne.pid("etcd"))])
        addr = {"dyne_grpc": ["--target=router", "--addr=127.0.0.1:%d" % dyne.router_port, dpids],
                "dyne_http": ["--target=http", "--addr=127.0.0.1:%d" % dyne.router_ddb, dpids],
                "dynalite": ["--target=http", "--addr=127.0.0.1:%d" % dl.port,
                             pids_arg([("dynalite", dl.pid)])]}
        if echo1:
            addr["echo1"] = ["--target=echo", "--addr=127.0.0.1:%d" % echo1.port,
                             pids_arg([("echo", echo1.pid)])]
            addr["echo2"] = ["--target=echo", "--addr=127.0.0.1:%d" % echo2.port,
                             pids_arg([("proxy", echo2.pid), ("echo", echo1.pid)])]

        t0 = time.time()
        for size in sizes:
            common = ["--items=%d" % ctx.items, "--item-size=%d" % size,
                      "--table=" + table_name(size), "--concurrency=%d" % LOAD_CONC, "--load"]
            ctx.tools.loadgen_run(addr["dyne_grpc"] + common, ctx.timeout + 600)
            ctx.tools.loadgen_run(addr["dynalite"] + common, ctx.timeout + 600)
        say("compare: preloaded %d items of 100 B and 1 KB into Dyne and dynalite (%.0f s)"
            % (ctx.items, time.time() - t0))

        def runner(system):
            def run(pt, rnd):
                a = list(addr[system]) + ["--items=%d" % ctx.items, "--item-size=%d" % pt["size"],
                                          "--concurrency=%d" % pt["conc"], "--setup=false"]
                if system.startswith("echo"):
                    a.append("--workload=get")
                else:
                    a += ["--table=" + table_name(pt["size"])] + WORKLOADS[pt["wl"]][1]
                    if pt["dist"] != "uniform":
                        a.append("--dist=" + pt["dist"])   # zipf, or hot (--hot-keys=1)
                return ctx.tools.loadgen_run(a + ctx.window(rnd), ctx.timeout)
            return run

        runs = run_points(ctx, points, {s: runner(s) for s in addr}, "compare")
    finally:
        for x in (echo2, echo1):
            if x:
                x.stop()
        dl.stop()
        dyne.stop()
    return {"runs": runs, "table_conc": tc, "http_conns": hc, "items": ctx.items,
            "curve_conc": prof["curve_conc"], "echo": f["echo"]}


# ---- durable PutItem -----------------------------------------------------------------------

def durable(ctx):
    """Dyne on disk with --sync=true (a put is acknowledged after its group's fsync) against
    raw WiredTiger with one put per synced commit (and C threads each committing their own),
    dynalite --path (LevelDB, no fsync) and the 1-hop echo: PutItem of 1 KB items."""
    f = ctx.features()
    size = 1024
    dyne = P.Dyne(ctx.disk_parent, sync=True, name="durable")
    dl = P.Dynalite(ctx.logdir, path=os.path.join(dyne.tmp, "dynalite"))
    wt_home = os.path.join(dyne.tmp, "wt")
    echo1 = None
    try:
        if f["echo"]:
            echo1 = P.Echo(ctx.tools.echo, ctx.logdir)
        dpids = pids_arg([("router", dyne.pid("router")), ("storage", dyne.pid("storage")),
                          ("etcd", dyne.pid("etcd"))])
        addr = {"dyne_grpc": ["--target=router", "--addr=127.0.0.1:%d" % dyne.router_port, dpids],
                "dyne_http": ["--target=http", "--addr=127.0.0.1:%d" % dyne.router_ddb, dpids],
                "dynalite": ["--target=http", "--addr=127.0.0.1:%d" % dl.port,
                             pids_arg([("dynalite", dl.pid)])]}
        if echo1:
            addr["echo1"] = ["--target=echo", "--addr=127.0.0.1:%d" % echo1.port,
                             pids_arg([("echo", echo1.pid)])]
        t0 = time.time()
        common = ["--items=%d" % ctx.items, "--item-size=%d" % size,
                  "--table=" + table_name(size), "--concurrency=%d" % LOAD_CONC, "--load"]
        ctx.tools.loadgen_run(addr["dyne_grpc"] + common, ctx.timeout + 600)
        ctx.tools.loadgen_run(addr["dynalite"] + common, ctx.timeout + 600)
        wt = ["--home=" + wt_home, "--sync=true", "--items=%d" % ctx.items,
              "--item-size=%d" % size]
        ctx.tools.wt_run(wt + ["--load", "--threads=1", "--batch=%d" % LOAD_CONC],
                         ctx.timeout + 600)
        say("durable: preloaded %d items of 1 KB (%.0f s)" % (ctx.items, time.time() - t0))

        def lg_runner(system):
            def run(pt, rnd):
                a = list(addr[system]) + ["--items=%d" % ctx.items, "--item-size=%d" % size,
                                          "--concurrency=%d" % pt["conc"], "--setup=false"]
                a += ["--workload=get"] if system == "echo1" else \
                    ["--table=" + table_name(size), "--workload=put"]
                return ctx.tools.loadgen_run(a + ctx.window(rnd), ctx.timeout)
            return run

        def wt_runner(threads_of):
            def run(pt, rnd):
                return ctx.tools.wt_run(wt + ["--workload=put", "--batch=1",
                                              "--threads=%d" % threads_of(pt),
                                              "--warmup=%g" % ctx.warmup,
                                              "--duration=%g" % ctx.seconds,
                                              "--seed=%d" % (rnd + 1)], ctx.timeout)
            return run

        runners = {s: lg_runner(s) for s in addr}
        runners["wt1"] = wt_runner(lambda pt: 1)
        runners["wtC"] = wt_runner(lambda pt: pt["conc"])
        points = []
        for c in ctx.prof["durable_conc"]:
            systems = ["dyne_grpc", "wt1", "dyne_http", "dynalite"]
            if echo1:
                systems.append("echo1")
            if c > 1:
                systems.append("wtC")
            points.append({"wl": "put", "size": size, "dist": "uniform", "conc": c,
                           "systems": systems})
        runs = run_points(ctx, points, runners, "durable")
    finally:
        if echo1:
            echo1.stop()
        dl.stop()
        dyne.stop()
    return {"runs": runs, "items": ctx.items, "conc": ctx.prof["durable_conc"],
            "echo": f["echo"]}


# ---- (3) memory and disk per million 1 KB items ----------------------------------------------

def footprint(ctx):
    """A fresh Dyne on disk (--sync=false: the bytes are the same, the load faster), a storage
    cache big enough to hold the load (--footprint-cache), N items of 1 KB loaded through the
    router; RSS of router + storage before and after; then the storage node stopped cleanly
    (WiredTiger checkpoints and closes) and its data dir measured with du."""
    n = ctx.o.items_footprint or ctx.prof["footprint_items"]
    dyne = P.Dyne(ctx.disk_parent, sync=False, name="footprint",
                  storage_extra=["--cache-size=%s" % ctx.o.footprint_cache])
    try:
        base = ["--target=router", "--addr=127.0.0.1:%d" % dyne.router_port, "--item-size=1024",
                "--table=footprint", "--concurrency=%d" % LOAD_CONC, "--load"]
        ctx.tools.loadgen_run(base + ["--items=1"], ctx.timeout + 60)   # creates the table
        time.sleep(1)
        rss0 = {n_: P.rss_bytes(dyne.pid(n_)) for n_ in ("router", "storage")}
        t0 = time.time()
        r = ctx.tools.loadgen_run(base + ["--items=%d" % n], max(600, n / 200))
        load_s = time.time() - t0
        time.sleep(1)
        rss1 = {n_: P.rss_bytes(dyne.pid(n_)) for n_ in ("router", "storage")}
        say("footprint: loaded %d items in %.0f s (%.0f/s), RSS router %.0f -> %.0f MiB, storage "
            "%.0f -> %.0f MiB" % (n, load_s, r["ops"], rss0["router"] / 2**20,
                                  rss1["router"] / 2**20, rss0["storage"] / 2**20,
                                  rss1["storage"] / 2**20))
        t0 = time.time()
        rc = dyne.stop_proc("storage", timeout=600)
        close_s = time.time() - t0
        if rc != 0:
            raise RuntimeError("storage node exited %s on SIGTERM (footprint): not a clean close"
                               % rc)
        du = P.du_split(dyne.storage_dir())
        files = {}
        for d, _, fs in os.walk(dyne.storage_dir()):
            for f_ in fs:
                p = os.path.join(d, f_)
                files[os.path.relpath(p, dyne.storage_dir())] = os.lstat(p).st_blocks * 512
        say("footprint: clean stop in %.1f s; du tables %.1f MiB, log %.1f MiB, other %.1f MiB"
            % (close_s, du["tables"] / 2**20, du["log"] / 2**20, du["other"] / 2**20))
    finally:
        dyne.stop()
    return {"items": n, "load_ops": r["ops"], "errors": r["errors"], "rss0": rss0, "rss1": rss1,
            "du": du, "files": dict(sorted(files.items(), key=lambda kv: -kv[1])[:12]),
            "cache": ctx.o.footprint_cache, "close_s": close_s}


# ---- (4) the scale curve ---------------------------------------------------------------------

def scale(ctx):
    """1..4 storage nodes (tmpfs, --sync=false), 1 and 2 routers on the same etcd; GetItem and
    PutItem of 1 KB items, 64 calls in flight in total, split over the routers (one loadgen per
    router, run at the same time, summed). A fresh cluster per node count and round; the order
    of node counts and router counts alternates between rounds."""
    prof = ctx.prof
    items = ctx.o.items_scale or prof["scale_items"]
    total_c = 64
    runs = {}
    wls = ["C", "put"]
    for rnd in range(ctx.rounds):
        nodes = prof["scale_nodes"] if rnd % 2 == 0 else list(reversed(prof["scale_nodes"]))
        for n in nodes:
            t0 = time.time()
            dyne = P.Dyne(ctx.mem_parent, sync=False, storage_nodes=n, name="scale%d" % n)
            try:
                base = ["--item-size=1024", "--items=%d" % items, "--table=scale"]
                ctx.tools.loadgen_run(["--target=router", "--addr=127.0.0.1:%d" % dyne.router_port,
                                       "--concurrency=%d" % LOAD_CONC, "--load"] + base,
                                      ctx.timeout + 600)
                say("scale r%d: %d storage node(s) up and loaded (%.0f s)" %
                    (rnd + 1, n, time.time() - t0))
                rcounts = prof["scale_routers"] if rnd % 2 == 0 else \
                    list(reversed(prof["scale_routers"]))
                for rc in rcounts:
                    ports = [dyne.router_port]
                    names = ["router"]
                    for i in range(2, rc + 1):
                        dyne.add_router("router%d" % i)
                        ports.append(dyne.routers["router%d" % i]["port"])
                        names.append("router%d" % i)
                    allp = [(nm, dyne.pid(nm)) for nm in names] + \
                        [(s, dyne.pid(s)) for s in dyne.storage_names()]
                    for wl in wls:
                        argss = []
                        for i, port in enumerate(ports):
                            a = ["--target=router", "--addr=127.0.0.1:%d" % port, "--setup=false",
                                 "--concurrency=%d" % (total_c // rc)] + base + \
                                WORKLOADS[wl][1] + ctx.window(rnd)
                            if i == 0:   # the first loadgen samples every server process
                                a.append(pids_arg(allp))
                            argss.append(a)
                        rs = ctx.tools.loadgen_many(argss, ctx.timeout)
                        r = combine(rs)
                        k = "%s|%d|%d" % (wl, n, rc)
                        runs.setdefault(k, [None] * ctx.rounds)[rnd] = r
                        say("scale r%d %-4s nodes %d routers %d: %9.0f ops/s p99 %8.0f us cpu "
                            "%6.1f us/op (routers %.1f) err %d" % (
                                rnd + 1, wl, n, rc, r["ops"], r["p99"], r["cpu"],
                                r["router_cpu"], r["errors"]))
                    for i in range(2, rc + 1):
                        dyne.stop_proc("router%d" % i)
            finally:
                dyne.stop()
    return {"runs": runs, "items": items, "conc": total_c, "nodes": prof["scale_nodes"],
            "routers": prof["scale_routers"]}


def combine(rs):
    """One figure from loadgens run at the same time: ops/s summed; server CPU per op from the
    first one's sampling (all server processes over its window) over every loadgen's operations
    in that window; p50/p99: the worse of the loadgens."""
    first = rs[0]
    win = first["elapsed"] or 1.0
    ops_in_win = first["n"] + sum(r["ops"] * win for r in rs[1:])
    cpu_s = {k: v * first["n"] / 1e6 for k, v in first["cpu_by"].items() if k != "client"}
    per = {k: v * 1e6 / max(1.0, ops_in_win) for k, v in cpu_s.items()}
    return {
        "ops": sum(r["ops"] for r in rs),
        "p50": max(r["p50"] for r in rs),
        "p99": max(r["p99"] for r in rs),
        "cpu": sum(per.values()),
        "router_cpu": sum(v for k, v in per.items() if k.startswith("router")),
        "storage_cpu": sum(v for k, v in per.items() if not k.startswith("router")),
        "cpu_by": per,
        "errors": sum(r["errors"] for r in rs),
        "loadgens": len(rs),
    }


def cleanup_dirs(ctx):
    shutil.rmtree(ctx.logdir, ignore_errors=True)
