"""Markdown and plots from bench/run's results: the targets table, a table per workload and item
size, throughput-vs-p99 curves (gnuplot, PNG in docs/img), memory and disk per million items,
the scale curve, and the 1,000,000 requests/s model. Every ratio is the median of per-round
ratios (Dyne and the reference measured next to each other in the same round); absolute figures
are medians over rounds."""
import math
import os
import shutil
import statistics
import subprocess
import tempfile

from sections import SYSTEMS, WORKLOADS, WORKLOAD_ORDER, dist_of, key

HERE = os.path.dirname(os.path.abspath(__file__))


# ---- numbers --------------------------------------------------------------------------------

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def field(runs, k, f):
    """The median over rounds of field f of run k; None if it never ran."""
    return med([r[f] if r else None for r in runs.get(k, [])])


def ratios(runs_a, ka, runs_b, kb, f):
    """Per-round a.f / b.f, for rounds where both ran."""
    a, b = runs_a.get(ka, []), runs_b.get(kb, [])
    out = []
    for x, y in zip(a, b):
        if x and y and y[f]:
            out.append(x[f] / y[f])
    return out


def fi(x):
    return "—" if x is None else format(int(round(x)), ",")


def f1(x):
    return "—" if x is None else "%.1f" % x


def f2(x):
    return "—" if x is None else "%.2f" % x


def fsize(size):
    return "1 KB" if size == 1024 else "%d B" % size


def rounds_txt(rs):
    if not rs:
        return "—"
    if len(rs) == 1:
        return "**%.2f**" % rs[0]
    return "%s; **%.2f**" % (" ".join("%.2f" % x for x in rs), statistics.median(rs))


# ---- plots ----------------------------------------------------------------------------------

class Plotter:
    def __init__(self, imgdir):
        self.imgdir = imgdir
        self.gnuplot = shutil.which("gnuplot")
        self.tmp = tempfile.mkdtemp(prefix="bench-run-plot-")
        self.made = []
        self.failed = []

    def curves(self, name, title, xlabel, ylabel, series, logy=True, logx=False, labels=True,
               xtic=0, xmin=0):
        """series: [(title, [(x, y, label)])] -> docs/img/<name>.png; the file name, or None."""
        series = [(t, pts) for t, pts in series if pts]
        if not self.gnuplot or not series:
            return None
        data = os.path.join(self.tmp, name + ".dat")
        with open(data, "w") as f:
            for t, pts in series:
                f.write('"%s"\n' % t.replace('"', "'"))
                for x, y, lab in pts:
                    f.write("%g %g %s\n" % (x, y, lab if labels else 0))
                f.write("\n\n")
        out = os.path.join(self.imgdir, name + ".png")
        os.makedirs(self.imgdir, exist_ok=True)
        args = ("datafile='%s'; outfile='%s'; plottitle='%s'; xlab='%s'; ylab='%s'; nsets=%d; "
                "logy=%d; logx=%d; labels=%d; xtic=%g; xmin=%g" % (
                    data, out, title.replace("'", ""), xlabel, ylabel, len(series),
                    1 if logy else 0, 1 if logx else 0, 1 if labels else 0, xtic, xmin))
        p = subprocess.run([self.gnuplot, "-e", args, os.path.join(HERE, "curves.gp")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0 or not os.path.exists(out):
            self.failed.append("%s: %s" % (name, p.stdout.decode(errors="replace")[-300:]))
            return None
        self.made.append(out)
        return name + ".png"

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def img(alt, fname):
    return "![%s](img/%s)" % (alt, fname) if fname else "(plot not made: gnuplot missing)"


# ---- (1)/(2): workloads in memory ----------------------------------------------------------

ROWS = ["dyne_grpc", "dyne_http", "echo1", "echo2", "dynalite"]


def compare_block(res, plot):
    runs = res["runs"]
    tc, hc = res["table_conc"], res["http_conns"]
    out = []
    out.append("Dyne = router + 1 storage node (tmpfs, `--sync=false`), default flags; dynalite "
               "in memory; echo = `bench/echo`: gRPC C-core alone, one method answering the "
               "item-size bytes it receives (no protobuf, 2 worker threads as Dyne's "
               "services); 2 hops = an echo proxy forwarding each call to a second echo, as "
               "client → router → storage. "
               "All driven by `bench/loadgen`, closed loop, one client thread, %s items "
               "preloaded per item size (table: hash `pk` S + range `sk` N, 10 items per `pk`); "
               "server CPU = utime + stime of router + storage (dynalite: node; echo: its "
               "processes) over the measured window, per operation. Ratios are "
               "**medians of per-round ratios**. Echo is the same for every workload: its rows "
               "are the runs next to GetItem (YCSB C) at the same item size and concurrency."
               % format(res["items"], ","))
    out.append("")
    sizes = sorted({int(k.split("|")[1]) for k in runs})
    for size in sorted(sizes, reverse=True):
        for dist in ("uniform", "zipf", "hot"):
            for wl in WORKLOAD_ORDER:
                if not any(k.startswith("%s|%d|%s|%d|" % (wl, size, dist, tc)) for k in runs):
                    continue
                out += workload_table(runs, wl, size, dist, tc)
    # HTTP at hc connections
    hk = [k for k in runs if k.split("|")[3] == str(hc) and k.endswith("|dyne_http")]
    if hk:
        out.append("#### Dyne HTTP vs dynalite, %d keep-alive connections" % hc)
        out.append("")
        out.append("| workload | Dyne HTTP ops/s | dynalite ops/s | throughput ratio (rounds; "
                   "median) | p99 µs Dyne / dynalite | CPU µs/op Dyne (router + storage) / "
                   "dynalite | CPU/op ratio (rounds; median) | errors |")
        out.append("|---|---:|---:|---|---:|---:|---|---:|")
        for k in sorted(hk, key=lambda s: (s.split("|")[0], -int(s.split("|")[1]))):
            wl, size = k.split("|")[0], int(k.split("|")[1])
            kd = key(wl, size, "uniform", hc, "dynalite")
            out.append("| %s %s | %s | %s | %s | %s / %s | %s (%s + %s) / %s | %s | %d |" % (
                wl_short(wl), fsize(size), fi(field(runs, k, "ops")), fi(field(runs, kd, "ops")),
                rounds_txt(ratios(runs, k, runs, kd, "ops")), fi(field(runs, k, "p99")),
                fi(field(runs, kd, "p99")), f1(field(runs, k, "cpu")),
                f1(cpu_part(runs, k, "router")), f1(cpu_part(runs, k, "storage")),
                f1(field(runs, kd, "cpu")), rounds_txt(ratios(runs, k, runs, kd, "cpu")),
                errors(runs, k) + errors(runs, kd)))
        out.append("")
    # curves
    concs = sorted({int(k.split("|")[3]) for k in runs if k.split("|")[1] == "1024"
                    and k.split("|")[2] != "zipf"} - {hc})
    pics = []
    for wl in WORKLOAD_ORDER:
        d = dist_of(wl)
        have = [c for c in concs if any(
            field(runs, key(wl, 1024, d, c, s), "ops") for s in ROWS)]
        if len(have) < 2:
            continue
        series = []
        for s in ROWS:
            src, sd = ("C", "uniform") if s.startswith("echo") else (wl, d)
            pts = []
            for c in have:
                kk = key(src, 1024, sd, c, s)
                x, y = field(runs, kk, "ops"), field(runs, kk, "p99")
                if x and y:
                    pts.append((x, y, c))
            series.append((SYSTEMS[s], pts))
        fname = plot.curves("bench-curve-%s" % wl.lower(),
                            "%s, 1 KB items: throughput vs p99 (points: %s in flight)" % (
                                WORKLOADS[wl][0], ", ".join(str(c) for c in have)),
                            "throughput (ops/s)", "p99 latency (us)", series)
        pics.append((wl, fname))
    if pics:
        out.append("#### Throughput vs p99, 1 KB items (closed loop at %s in flight)"
                   % ", ".join(str(c) for c in concs))
        out.append("")
        for wl, fname in pics:
            out.append(img("%s: throughput vs p99" % WORKLOADS[wl][0], fname))
            out.append("")
    return out


def wl_short(wl):
    return {"put": "PutItem", "C": "GetItem"}.get(wl, wl)


def cpu_part(runs, k, name):
    return med([r["cpu_by"].get(name) if r else None for r in runs.get(k, [])])


def errors(runs, k):
    return sum(r["errors"] for r in runs.get(k, []) if r)


def workload_table(runs, wl, size, dist, tc):
    dtxt = {"zipf": "Zipfian keys (YCSB, θ 0.99)", "hot": "one hot key (`--dist=hot`)",
            "uniform": "uniform keys"}[dist]
    out = ["#### %s — %s items, %s, %d in flight" % (WORKLOADS[wl][0], fsize(size), dtxt, tc),
           ""]
    has1 = any(runs.get(key(wl, size, dist, 1, s)) for s in ROWS)
    out.append("| system | ops/s | p50 µs | p99 µs |%s server CPU µs/op | Dyne gRPC ÷ this: "
               "ops/s, p99, CPU/op | Dyne HTTP ÷ this: ops/s, p99, CPU/op | errors |"
               % (" p50 µs at 1 in flight |" if has1 else ""))
    out.append("|---|---:|---:|---:|%s---:|---|---|---:|" % ("---:|" if has1 else ""))
    g, h = key(wl, size, dist, tc, "dyne_grpc"), key(wl, size, dist, tc, "dyne_http")
    for s in ROWS:
        src = "C" if s.startswith("echo") else wl
        sd = "uniform" if s.startswith("echo") else dist
        k = key(src, size, sd, tc, s)
        if not any(runs.get(k, [])):
            continue

        def rr(a):
            if a == k or not any(runs.get(a, [])):
                return "—"
            return "%s, %s, %s" % (f2(med(ratios(runs, a, runs, k, "ops"))),
                                   f2(med(ratios(runs, a, runs, k, "p99"))),
                                   f2(med(ratios(runs, a, runs, k, "cpu"))))
        p1 = ""
        if has1:
            p1 = " %s |" % fi(field(runs, key(src, size, sd, 1, s), "p50"))
        cpu = field(runs, k, "cpu")
        if s.startswith("dyne"):
            cpu_txt = "%s (%s + %s)" % (f1(cpu), f1(cpu_part(runs, k, "router")),
                                        f1(cpu_part(runs, k, "storage")))
        else:
            cpu_txt = f1(cpu)
        out.append("| %s | %s | %s | %s |%s %s | %s | %s | %d |" % (
            SYSTEMS[s], fi(field(runs, k, "ops")), fi(field(runs, k, "p50")),
            fi(field(runs, k, "p99")), p1, cpu_txt, rr(g), rr(h), errors(runs, k)))
    out.append("")
    return out


# ---- durable ---------------------------------------------------------------------------------

DROWS = ["dyne_grpc", "dyne_http", "echo1", "dynalite", "wt1", "wtC"]


def durable_block(res, plot):
    runs = res["runs"]
    out = ["Dyne on disk with `--sync=true` (every PutItem acknowledged after the fsync of its "
           "group commit); raw WiredTiger (`bench/storage/wt_bench`, libs/kv's settings, "
           "`transaction_sync=(enabled=true,method=fsync)`, same keys and values) with one put "
           "per synced commit from one thread (**fsync per commit**), and with C threads each "
           "committing its own put (WiredTiger's log group commit only); dynalite `--path` "
           "(LevelDB, which does not fsync); the 1-hop echo. PutItem overwrites of %s "
           "preloaded 1 KB items, uniform keys; rounds interleave the systems. The "
           "one-thread raw WT rate does not depend on the in-flight count: it is measured "
           "again at every point so each ratio pairs runs of the same round (and it is left "
           "out of the plot)." %
           format(res["items"], ","), ""]
    out.append("| in flight | system | ops/s | p50 µs | p99 µs | server CPU µs/op | Dyne gRPC ÷ "
               "this: ops/s (rounds; median) | errors |")
    out.append("|---:|---|---:|---:|---:|---:|---|---:|")
    for c in res["conc"]:
        g = key("put", 1024, "uniform", c, "dyne_grpc")
        for s in DROWS:
            k = key("put", 1024, "uniform", c, s)
            if not any(runs.get(k, [])):
                continue
            name = SYSTEMS[s].replace("C threads", "%d threads" % c)
            cpu = field(runs, k, "cpu")
            cpu_txt = "%s (%s + %s)" % (f1(cpu), f1(cpu_part(runs, k, "router")),
                                        f1(cpu_part(runs, k, "storage"))) \
                if s.startswith("dyne") else f1(cpu)
            out.append("| %d | %s | %s | %s | %s | %s | %s | %d |" % (
                c, name, fi(field(runs, k, "ops")), fi(field(runs, k, "p50")),
                fi(field(runs, k, "p99")), cpu_txt,
                "—" if s == "dyne_grpc" else rounds_txt(ratios(runs, g, runs, k, "ops")),
                errors(runs, k)))
    out.append("")
    if len(res["conc"]) >= 2:
        series = []
        for s in [x for x in DROWS if x != "wt1"]:   # wt1 does not depend on C: not a curve
            pts = []
            for c in res["conc"]:
                k = key("put", 1024, "uniform", c, s)
                x, y = field(runs, k, "ops"), field(runs, k, "p99")
                if x and y:
                    pts.append((x, y, c))
            series.append((SYSTEMS[s], pts))
        fname = plot.curves("bench-curve-durable-put", "durable PutItem, 1 KB: throughput vs p99 "
                            "(points: %s in flight)" % ", ".join(map(str, res["conc"])),
                            "throughput (ops/s)", "p99 latency (us)", series)
        out.append(img("durable PutItem: throughput vs p99", fname))
        out.append("")
    return out


# ---- targets -----------------------------------------------------------------------------------

def targets_block(cmp_, dur):
    """The issue's targets, each with its per-round ratios, median, threshold and verdict."""
    out = ["| target | measured | ratio (rounds; median) | threshold | |",
           "|---|---|---|---|---|"]

    def row(name, what, rs, op, thr, why=None):
        if not rs:
            out.append("| %s | %s | not measured%s | %s %.1f | — |" % (
                name, what, ": " + why if why else "", op, thr))
            return
        m = statistics.median(rs)
        ok = m >= thr if op == "≥" else m <= thr
        out.append("| %s | %s | %s | %s %.1f | **%s** |" % (name, what, rounds_txt(rs), op, thr,
                                                           "met" if ok else "not met"))
    noecho = "no echo (see skipped)"
    if cmp_:
        r = cmp_["runs"]
        tc, hc = cmp_["table_conc"], cmp_["http_conns"]
        sizes = sorted({int(k.split("|")[1]) for k in r}, reverse=True)
        for size in sizes:
            g = key("C", size, "uniform", tc, "dyne_grpc")
            if g not in r:
                continue
            row("GetItem throughput ≥ 0.8 × 1-hop echo, %d in flight" % tc,
                "Dyne gRPC ÷ echo 1 hop, %s" % fsize(size),
                ratios(r, g, r, key("C", size, "uniform", tc, "echo1"), "ops"), "≥", 0.8,
                None if cmp_.get("echo") else noecho)
        for size in sizes:
            g1 = key("C", size, "uniform", 1, "dyne_grpc")
            if g1 not in r:
                continue
            row("p50 at 1 in flight ≤ 1.3 × 2-hop echo",
                "GetItem p50, Dyne gRPC ÷ echo 2 hops, %s" % fsize(size),
                ratios(r, g1, r, key("C", size, "uniform", 1, "echo2"), "p50"), "≤", 1.3,
                None if cmp_.get("echo") else noecho)
        for size in sizes:
            g = key("C", size, "uniform", tc, "dyne_grpc")
            if g not in r:
                continue
            row("p99 at %d in flight ≤ 1.5 × 2-hop echo" % tc,
                "GetItem p99, Dyne gRPC ÷ echo 2 hops, %s" % fsize(size),
                ratios(r, g, r, key("C", size, "uniform", tc, "echo2"), "p99"), "≤", 1.5,
                None if cmp_.get("echo") else noecho)
    if dur:
        r = dur["runs"]
        c = max(dur["conc"])
        g = key("put", 1024, "uniform", c, "dyne_grpc")
        row("durable PutItem ≥ 0.6 × 1-hop echo, %d in flight" % c,
            "Dyne gRPC `--sync=true` ÷ echo 1 hop, 1 KB",
            ratios(r, g, r, key("put", 1024, "uniform", c, "echo1"), "ops"), "≥", 0.6,
            None if dur.get("echo") else noecho)
        row("durable PutItem ≥ 4 × raw WiredTiger fsync-per-commit",
            "Dyne gRPC `--sync=true` (%d in flight) ÷ raw WT 1 put per fsync, 1 KB" % c,
            ratios(r, g, r, key("put", 1024, "uniform", c, "wt1"), "ops"), "≥", 4.0)
    if cmp_:
        r = cmp_["runs"]
        for wl in ("C", "put"):
            for size in sorted({int(k.split("|")[1]) for k in r}, reverse=True):
                h = key(wl, size, "uniform", hc, "dyne_http")
                if h not in r:
                    continue
                d = key(wl, size, "uniform", hc, "dynalite")
                row("server CPU/op ≤ 0.5 × dynalite's (in memory)",
                    "%s, Dyne HTTP ÷ dynalite, %d connections, %s" % (wl_short(wl), hc,
                                                                       fsize(size)),
                    ratios(r, h, r, d, "cpu"), "≤", 0.5)
        for wl in ("C", "put"):
            for size in sorted({int(k.split("|")[1]) for k in r}, reverse=True):
                g = key(wl, size, "uniform", tc, "dyne_grpc")
                if g not in r:
                    continue
                row("server CPU/op ≤ 0.5 × dynalite's (in memory)",
                    "%s, Dyne gRPC ÷ dynalite (HTTP), %d in flight, %s" % (wl_short(wl), tc,
                                                                            fsize(size)),
                    ratios(r, g, r, key(wl, size, "uniform", tc, "dynalite"), "cpu"), "≤", 0.5)
        for wl in ("C", "put"):
            for size in sorted({int(k.split("|")[1]) for k in r}, reverse=True):
                h = key(wl, size, "uniform", hc, "dyne_http")
                if h not in r:
                    continue
                row("HTTP throughput ≥ 2 × dynalite at %d connections" % hc,
                    "%s, Dyne HTTP ÷ dynalite, %s" % (wl_short(wl), fsize(size)),
                    ratios(r, h, r, key(wl, size, "uniform", hc, "dynalite"), "ops"), "≥", 2.0)
    out.append("")
    return out


# ---- (3) footprint ---------------------------------------------------------------------------

def footprint_block(res):
    n = res["items"]
    per = 1e6 / n
    mib = 2.0 ** 20
    d0, d1 = res["rss0"], res["rss1"]
    grow = {k: d1[k] - d0[k] for k in d0}
    du = res["du"]
    out = ["A fresh Dyne (router + 1 storage node, data on disk, `--sync=false`, storage "
           "`--cache-size=%s` so the load fits in the cache), %s items of 1 KB (hash + range "
           "key, 10 items per `pk`) loaded through the router with PutItem, %d in flight (%s "
           "items/s, %d errors). RSS from `/proc/<pid>/statm` before (table created, empty) and "
           "after the load; disk: `du` (allocated blocks) of the storage node's data dir after "
           "it was stopped with SIGTERM (WiredTiger checkpoints and closes, %.1f s). Per million "
           "items = growth ÷ %s × 1,000,000." % (
               res["cache"], format(n, ","), 64, fi(res["load_ops"]), res["errors"],
               res["close_s"], format(n, ",")), ""]
    out.append("| | before | after %s items | growth | per million 1 KB items |" %
               format(n, ","))
    out.append("|---|---:|---:|---:|---:|")
    for k in ("router", "storage"):
        out.append("| RSS %s | %.1f MiB | %.1f MiB | %.1f MiB | %.0f MiB |" % (
            k, d0[k] / mib, d1[k] / mib, grow[k] / mib, grow[k] * per / mib))
    out.append("| **RSS router + storage** | %.1f MiB | %.1f MiB | %.1f MiB | **%.0f MiB** |" % (
        sum(d0.values()) / mib, sum(d1.values()) / mib, sum(grow.values()) / mib,
        sum(grow.values()) * per / mib))
    out.append("| disk: tables (items, change log, indexes) | | %.1f MiB | | **%.0f MiB** |" % (
        du["tables"] / mib, du["tables"] * per / mib))
    for k, what in (("items", "items (`p_*` tables)"), ("changelog", "change log (`l_*`)"),
                    ("indexes", "local secondary indexes (`i_*`)")):
        if du.get(k):
            out.append("| &nbsp;&nbsp;of which %s | | %.1f MiB | | %.0f MiB |" % (
                what, du[k] / mib, du[k] * per / mib))
    out.append("| disk: WiredTiger log files (incl. preallocated) | | %.1f MiB | | (fixed, "
               "not per item) |" % (du["log"] / mib))
    out.append("| disk: other (metadata, history store) | | %.1f MiB | | %.0f MiB |" % (
        du["other"] / mib, du["other"] * per / mib))
    out.append("| disk: total data dir | | %.1f MiB | | %.0f MiB (log files counted once) |" % (
        du["total"] / mib, ((du["tables"] + du["other"]) * per + du["log"]) / mib))
    out.append("")
    big = ", ".join("`%s` %.1f MiB" % (f, b / mib) for f, b in list(res["files"].items())[:6])
    out.append("Largest files: %s. The tables hold each item once plus its change record "
               "(the change log keeps the new image of every write for `--log-retention-s`, "
               "24 h by default), snappy-compressed; WiredTiger's log files are preallocated "
               "100 MiB at a time, a fixed cost. The RSS growth is mostly WiredTiger's cache "
               "holding those pages uncompressed; with the default 256 MiB cache it would stop "
               "there and reads would go to the OS page cache and disk." % big)
    out.append("")
    return out


# ---- (4) scale ---------------------------------------------------------------------------------

def scale_block(res, plot):
    runs = res["runs"]
    nodes, routers = res["nodes"], res["routers"]
    out = ["Fresh cluster per node count and round (etcd, 1–4 storage nodes on tmpfs with "
           "`--sync=false`, a controller, 1 router; a 2nd router started on the same etcd for "
           "the 2-router runs), an on-demand table (4 partitions spread over the nodes), %s "
           "items of 1 KB; %d calls in flight in total, split evenly over the routers (one "
           "loadgen per router at the same time, throughputs summed; p99 the worse of the "
           "two). CPU/op = all routers + all storage nodes over the window ÷ all operations. "
           "Ratio = this configuration ÷ 1 node 1 router in the same round. **This machine has "
           "2 cores**: the router(s), the storage nodes and the load generators share them, so "
           "more processes add no CPU — the curve shows the overhead of fanning out (more, "
           "smaller calls; more processes polling), not the gains more machines would give."
           % (format(res["items"], ","), res["conc"]), ""]
    out.append("| workload | storage nodes | routers | ops/s | throughput ÷ 1 node 1 router "
               "(rounds; median) | p99 µs | CPU µs/op (routers + storage) | CPU/op ÷ 1 node 1 "
               "router | errors |")
    out.append("|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for wl in ("C", "put"):
        base = "%s|%d|%d" % (wl, nodes[0], routers[0])
        for rc in routers:
            for n in nodes:
                k = "%s|%d|%d" % (wl, n, rc)
                if k not in runs:
                    continue
                out.append("| %s 1 KB | %d | %d | %s | %s | %s | %s (%s + %s) | %s | %d |" % (
                    wl_short(wl), n, rc, fi(field(runs, k, "ops")),
                    rounds_txt(ratios(runs, k, runs, base, "ops")), fi(field(runs, k, "p99")),
                    f1(field(runs, k, "cpu")), f1(field(runs, k, "router_cpu")),
                    f1(field(runs, k, "storage_cpu")),
                    f2(med(ratios(runs, k, runs, base, "cpu"))), errors(runs, k)))
    out.append("")
    pics = []
    for f, ylab, title in (("ops", "throughput (ops/s)", "throughput"),
                           ("cpu", "server CPU per operation (us)", "CPU per operation")):
        series = []
        for wl in ("C", "put"):
            for rc in routers:
                pts = []
                for n in nodes:
                    y = field(runs, "%s|%d|%d" % (wl, n, rc), f)
                    if y:
                        pts.append((n, y, ""))
                series.append(("%s, %d router%s" % (wl_short(wl), rc, "s" if rc > 1 else ""),
                               pts))
        pics.append((title, plot.curves(
            "bench-scale" if f == "ops" else "bench-scale-cpu",
            "scale: %s vs storage nodes, 1 KB items, %d in flight (2 cores: overhead, not "
            "gains)" % (title, res["conc"]), "storage nodes", ylab, series, logy=False,
            labels=False, xtic=1, xmin=0.5)))
    for title, fname in pics:
        out.append(img("scale: %s vs storage nodes" % title, fname))
        out.append("")
    return out


# ---- (5) the 1M requests/s model ------------------------------------------------------------

def model_block(cmp_, dur, o):
    """What 1,000,000 requests/s needs, from the measured CPU per operation of router and
    storage (gRPC path, 1 KB items, tc in flight)."""
    if not cmp_:
        return ["Not computed: needs the `compare` section's figures (run `bench/run --only "
                "compare`).", ""]
    r = cmp_["runs"]
    tc = cmp_["table_conc"]
    g = key("C", 1024, "uniform", tc, "dyne_grpc")
    p = key("put", 1024, "uniform", tc, "dyne_grpc")
    gr, gs = cpu_part(r, g, "router"), cpu_part(r, g, "storage")
    pr, ps = cpu_part(r, p, "router"), cpu_part(r, p, "storage")
    src_put = "in memory (`--sync=false`)"
    if dur:
        c = max(dur["conc"])
        dk = key("put", 1024, "uniform", c, "dyne_grpc")
        if cpu_part(dur["runs"], dk, "router") is not None:
            pr, ps = cpu_part(dur["runs"], dk, "router"), cpu_part(dur["runs"], dk, "storage")
            src_put = "durable (`--sync=true`, %d in flight)" % c
    if None in (gr, gs, pr, ps):
        return ["Not computed: GetItem / PutItem CPU figures missing.", ""]
    rate = 1_000_000
    rf = o.read_fraction
    reads = round(rate * rf)
    writes = rate - reads
    util = o.target_util
    cpn = o.cores_per_node
    router_core_s = (reads * gr + writes * pr) / 1e6
    storage_core_s = (reads * gs + writes * ps) / 1e6
    router_cores = router_core_s / util
    storage_cores = storage_core_s / util
    nodes = math.ceil(storage_cores / cpn)
    rcu, wcu = reads * 1, writes * 1   # 1 KB: 1 RCU per strongly consistent read (<= 4 KB),
    #                                    1 WCU per write (<= 1 KB)
    parts = math.ceil(rcu / 3000 + wcu / 1000)
    out = []
    out.append("Inputs, measured above (gRPC API, 1 KB items, %d in flight, medians over rounds): "
               "GetItem router **%.1f** + storage **%.1f** µs of CPU per operation; PutItem, %s, "
               "router **%.1f** + storage **%.1f** µs. Mix: **%d%% GetItem (strongly consistent) "
               "/ %d%% PutItem**, 1 KB items, %s requests/s; cores planned at %d%% busy; "
               "%d-core storage nodes; one copy of each item (Dyne has no replication: with "
               "three replicas the storage write cost would be about ×3)." % (
                   tc, gr, gs, src_put, pr, ps, round(rf * 100), round((1 - rf) * 100),
                   format(rate, ","), round(util * 100), cpn))
    out.append("")
    out.append("- **Routers**: %s reads/s × %.1f µs + %s writes/s × %.1f µs = %.1f core-seconds "
               "per second → ÷ %.2f = **%d cores**." % (
                   format(int(reads), ","), gr, format(int(writes), ","), pr, router_core_s, util,
                   math.ceil(router_cores)))
    out.append("- **Storage**: %s × %.1f µs + %s × %.1f µs = %.1f core-seconds per second → "
               "÷ %.2f = **%d cores** = **%d storage nodes** of %d cores." % (
                   format(int(reads), ","), gs, format(int(writes), ","), ps, storage_core_s,
                   util, math.ceil(storage_cores), nodes, cpn))
    out.append("- **Partitions** (DynamoDB's rule: a partition serves at most 3,000 RCU and "
               "1,000 WCU; partitions = ⌈RCU / 3,000 + WCU / 1,000⌉): %s RCU / 3,000 + %s WCU / "
               "1,000 = %.1f + %.1f → **%d partitions**, ≈ %d per storage node." % (
                   format(int(rcu), ","), format(int(wcu), ","), rcu / 3000, wcu / 1000, parts,
                   math.ceil(parts / max(1, nodes))))
    out.append("- **Total**: ≈ %d cores (%d router + %d storage) for %s requests/s, i.e. %s "
               "requests/s per core; on this 2-core machine the same figures predict %s "
               "requests/s with nothing else running (the load generator also needs CPU)." % (
                   math.ceil(router_cores) + math.ceil(storage_cores), math.ceil(router_cores),
                   math.ceil(storage_cores), format(rate, ","),
                   fi(rate / (router_cores + storage_cores)),
                   fi(2e6 / ((rf * (gr + gs)) + (1 - rf) * (pr + ps)))))
    h = key("C", 1024, "uniform", cmp_["http_conns"], "dyne_http")
    hr = cpu_part(r, h, "router") or cpu_part(r, key("C", 1024, "uniform", tc, "dyne_http"),
                                              "router")
    if hr:
        out.append("- Through the HTTP endpoint instead, GetItem's router cost is %.1f µs "
                   "(measured): the read share of the routers becomes %s × %.1f µs → ≈ %.0f "
                   "router cores in all." % (hr, format(int(reads), ","), hr,
                                             math.ceil((reads * hr + writes * pr) / 1e6 / util)))
    out.append("")
    out.append("The CPU figures come from a 2-core machine shared by the load generator and other "
               "work, where context switches and cross-process wake-ups cost more than on an "
               "idle many-core host; they are an upper bound per operation, and the node count "
               "assumes the work spreads over a node's cores as well as over these two.")
    out.append("")
    return out


# ---- skipped ---------------------------------------------------------------------------------

def skips_block(skips):
    if not skips:
        return ["Nothing skipped.", ""]
    seen, out = set(), []
    for what, why in skips:
        if (what, why) in seen:
            continue
        seen.add((what, why))
        out.append("- %s: %s" % (what, why))
    out.append("")
    return out
