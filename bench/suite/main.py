"""bench/run's driver (bench/run builds, installs what is missing, then runs this with
/usr/bin/python3 --bin-dir <bazel-bin>).

Sections: compare (every workload: Dyne gRPC, Dyne HTTP, echo 1/2 hops, dynalite, in memory),
durable (PutItem with fsync vs raw WiredTiger), footprint (memory and disk per million items),
scale (1-4 storage nodes x 1-2 routers), model (1M requests/s, computed). Each measured
section's results go to data/bench-suite/results.json as soon as it finishes; docs/benchmarks.md's
region between `<!-- bench/run:begin -->` and `<!-- bench/run:end -->` is rebuilt from those
(sections not run this time keep their last results), plots go to docs/img/. Every process
started is stopped by PID at the end, whatever happens."""
import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lg  # noqa: E402
import procs as P  # noqa: E402
import report as R  # noqa: E402
import sections as S  # noqa: E402

ROOT = P.ROOT
MEASURED = ["compare", "durable", "footprint", "scale"]
ALL = MEASURED + ["model"]
BEGIN, END = "<!-- bench/run:begin -->", "<!-- bench/run:end -->"
SECTION = "<!-- bench/run:section %s -->"
BLOCKS = ["skipped", "targets", "compare", "durable", "footprint", "scale", "model"]
TITLES = {
    "skipped": "Skipped",
    "targets": "Against the issue's targets",
    "compare": "Workloads in memory: Dyne gRPC and HTTP vs echo vs dynalite",
    "durable": "Durable PutItem: Dyne `--sync=true` vs raw WiredTiger",
    "footprint": "Memory and disk per million 1 KB items",
    "scale": "Scale curve: 1–4 storage nodes, 1 and 2 routers",
    "model": "What 1,000,000 requests/s needs (model from the measured CPU per operation)",
}


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="bench/run",
        description="Dyne's benchmark suite: Dyne vs gRPC echo, raw WiredTiger and dynalite, "
                    "all driven by bench/loadgen in interleaved rounds; writes the generated "
                    "region of docs/benchmarks.md and PNG plots in docs/img/.")
    ap.add_argument("--quick", action="store_true",
                    help="a few seconds per point, 1 round, fewer points, small loads (< ~5 min)")
    ap.add_argument("--rounds", type=int, help="rounds per point (full: 3, quick: 1)")
    ap.add_argument("--seconds", type=float, help="measured seconds per run (full: 3, quick: 1)")
    ap.add_argument("--warmup", type=float, help="warm-up seconds per run (full: 1, quick: 0.5)")
    ap.add_argument("--only", default=",".join(ALL),
                    help="comma list of sections: %s (default: all)" % ",".join(ALL))
    ap.add_argument("--items", type=int, help="preloaded items for compare/durable "
                                              "(full: 20000, quick: 2000)")
    ap.add_argument("--items-footprint", type=int, default=0,
                    help="items loaded for the memory/disk figures (full: 200000, quick: 20000)")
    ap.add_argument("--items-scale", type=int, default=0, help="items for the scale curve")
    ap.add_argument("--footprint-cache", default="2GiB",
                    help="storage --cache-size for the footprint load (big enough to hold it)")
    ap.add_argument("--lg-threads", type=int, default=1, help="loadgen client threads")
    ap.add_argument("--read-fraction", type=float, default=0.8, help="model: share of GetItem")
    ap.add_argument("--cores-per-node", type=int, default=16, help="model: cores per storage node")
    ap.add_argument("--target-util", type=float, default=0.7, help="model: planned CPU busy share")
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--no-doc", action="store_true", help="do not write docs/ (results and "
                                                          "summary only)")
    ap.add_argument("--bin-dir", help="bazel-bin of a -c opt build (bench/run passes it)")
    ap.add_argument("--no-echo", metavar="REASON", default="",
                    help="skip the echo parts (bench/run passes this when //bench/echo:echo "
                         "is missing or does not build)")
    ap.add_argument("--verbose", action="store_true", help="echo every loadgen command and report")
    a = ap.parse_args(argv)
    a.sections = [s.strip() for s in a.only.split(",") if s.strip()]
    for s in a.sections:
        if s not in ALL:
            ap.error("unknown section %s (sections: %s)" % (s, ",".join(ALL)))
    if not a.bin_dir and any(s in MEASURED for s in a.sections):
        ap.error("--bin-dir is required (run through bench/run)")
    return a


def profile(a):
    prof = dict(S.PROFILES["quick" if a.quick else "full"])
    for k in ("rounds", "seconds", "warmup", "items"):
        v = getattr(a, k)
        if v is not None:
            prof[k] = v
    if prof["rounds"] < 1 or prof["seconds"] <= 0:
        raise SystemExit("bench/run: --rounds must be >= 1 and --seconds > 0")
    return prof


def stash_path():
    return os.path.join(ROOT, "data", "bench-suite", "results.json")


def load_stash():
    try:
        with open(stash_path()) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def save_stash(st):
    p = stash_path()
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p + ".tmp", "w") as f:
        json.dump(st, f)
    os.replace(p + ".tmp", p)


def sh(argv):
    try:
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              cwd=ROOT).stdout.decode().strip()
    except OSError:
        return ""


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%d cores (%s)" % (os.cpu_count() or 0, model or "?")


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def revision():
    rev = sh(["git", "rev-parse", "--short", "HEAD"]) or "?"
    if sh(["git", "status", "--porcelain", "--untracked-files=no"]):
        rev += " + uncommitted changes"
    return rev


# ---- the region in docs/benchmarks.md --------------------------------------------------------

def split_blocks(region):
    """{block name: its text (without the marker)} from a previous region."""
    out, name, buf = {}, None, []
    for line in region.splitlines():
        s = line.strip()
        if s.startswith("<!-- bench/run:section ") and s.endswith("-->"):
            if name:
                out[name] = "\n".join(buf).strip("\n")
            name, buf = s[len("<!-- bench/run:section "):-3].strip(), []
        elif name:
            buf.append(line)
    if name:
        out[name] = "\n".join(buf).strip("\n")
    return out


def read_region(doc):
    with open(doc) as f:
        text = f.read()
    b = text.find(BEGIN)
    e = text.find(END, b + len(BEGIN)) if b >= 0 else -1
    if b < 0 or e < 0:
        return ""
    return text[b + len(BEGIN):e]


def write_region(doc, region):
    """Re-reads doc and replaces only what lies between the markers (appending the markers at
    the end of the file if they are missing)."""
    with open(doc) as f:
        text = f.read()
    b = text.find(BEGIN)
    e = text.find(END, b + len(BEGIN)) if b >= 0 else -1
    if b < 0 or e < 0:
        if b >= 0 or text.find(END) >= 0:
            raise RuntimeError("%s has only one of the markers %s / %s: fix it by hand" %
                               (doc, BEGIN, END))
        if not text.endswith("\n"):
            text += "\n"
        text += "\n" + BEGIN + "\n" + END + "\n"
        b = text.find(BEGIN)
        e = text.find(END, b)
    new = text[:b + len(BEGIN)] + "\n" + region.strip("\n") + "\n" + text[e:]
    with open(doc + ".tmp", "w") as f:
        f.write(new)
    os.replace(doc + ".tmp", doc)


def measured_line(ent):
    m = ent["meta"]
    return ("_Measured %s by `%s`: %s; %d round(s) × %g s (+ %g s warm-up) per point; "
            "load average %s → %s; %s; built from %s._" % (
                m["when"], m["cmd"], m["profile"], m["rounds"], m["seconds"], m["warmup"],
                m["load_before"], m["load_after"], m["machine"], m["rev"]))


def build_region(stash, old_region, plot, a):
    old = split_blocks(old_region)
    blocks = {}
    cmp_ = stash.get("compare", {}).get("data")
    dur = stash.get("durable", {}).get("data")
    render = {"compare": lambda d: R.compare_block(d, plot),
              "durable": lambda d: R.durable_block(d, plot),
              "footprint": R.footprint_block,
              "scale": lambda d: R.scale_block(d, plot)}

    def safely(name, fn):
        # results stashed by an older bench/run may not fit this one: keep the old text then
        try:
            blocks[name] = fn()
        except Exception as e:  # noqa: BLE001
            S.say("bench/run: warning: cannot render %s from the stashed results (%r); keeping "
                  "its previous text" % (name, e))

    for name in ("compare", "durable", "footprint", "scale"):
        ent = stash.get(name)
        if ent:
            safely(name, lambda: [measured_line(ent), ""] + render[name](ent["data"]))
    if cmp_ or dur:
        lines = ["From the `compare` and `durable` sections below (each ratio: Dyne ÷ the "
                 "reference, per round, then the median over rounds; rounds interleave the "
                 "systems on the same point)."]
        if cmp_ and cmp_["runs"] and stash["compare"]["meta"]["rounds"] < 3:
            lines.append("")
            lines.append("**Fewer than 3 rounds (a `--quick` run?): development figures, not "
                         "results.**")
        safely("targets", lambda: lines + [""] + R.targets_block(cmp_, dur))
    if cmp_:
        safely("model", lambda: R.model_block(cmp_, dur, a))
    skips = []
    for name in MEASURED:
        ent = stash.get(name)
        if ent:
            skips += [tuple(x) for x in ent.get("skips", [])]
    if any(stash.get(n) for n in MEASURED):
        blocks["skipped"] = R.skips_block(skips)

    out = ["## One-command suite (`bench/run`)", "",
           "_Generated by `bench/run` (bench/suite/): everything between the `bench/run` markers "
           "is rewritten on each run; sections a run did not measure keep their previous "
           "figures, each with its own \"Measured\" line. `bench/run [--quick] [--rounds N] "
           "[--seconds S] [--only %s]`; the default run takes up to about an hour, `--quick` a "
           "few minutes (1 round: development figures only)._" % ",".join(ALL), ""]
    for name in BLOCKS:
        out.append(SECTION % name)
        out.append("### " + TITLES[name])
        out.append("")
        if name in blocks:
            out += blocks[name]
        elif name in old:
            prev = old[name].splitlines()
            if prev and prev[0].startswith("### "):
                prev = prev[1:]
            while prev and not prev[0].strip():
                prev = prev[1:]
            out += prev
            out.append("")
        else:
            out += ["Not measured yet: `bench/run --only %s`." % (
                name if name in ALL else "compare,durable"), ""]
    return "\n".join(out).rstrip("\n") + "\n"


# ---- main ------------------------------------------------------------------------------------

def on_signal(signum, _frame):
    sys.stderr.write("bench/run: signal %d: stopping every process it started\n" % signum)
    raise SystemExit(128 + signum)


def main(argv):
    a = parse_args(argv)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    prof = profile(a)
    t_start = time.time()
    stash = load_stash()
    ran = []
    ctx = None
    user = []
    skip = False
    for x in argv:
        if skip:
            skip = False
        elif x in ("--bin-dir", "--no-echo"):
            skip = True
        elif not x.startswith("--bin-dir=") and not x.startswith("--no-echo="):
            user.append(x)
    cmd = " ".join(["bench/run"] + user)
    try:
        if any(s in MEASURED for s in a.sections):
            P.set_bin_dir(a.bin_dir)
            tools = lg.Tools(a.bin_dir, a.verbose, no_echo=a.no_echo)
            ctx = S.Ctx(a, tools, prof)
            ctx.features()
            for what, why in ctx.feature_skips.values():
                S.say("bench/run: skipping %s: %s" % (what, why))
            for name in MEASURED:
                if name not in a.sections:
                    continue
                t0 = time.time()
                la = loadavg()
                skips0 = len(ctx.skips)
                feats = {"compare": ["F", "hot", "echo"], "durable": ["echo"]}.get(name, [])
                S.say("bench/run: section %s (load average %s)" % (name, la))
                data = getattr(S, name)(ctx)
                stash[name] = {
                    "data": data,
                    "skips": [ctx.feature_skips[f] for f in feats if f in ctx.feature_skips] +
                             [tuple(x) for x in ctx.skips[skips0:]],
                    "meta": {"when": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
                             "cmd": cmd, "profile": "quick" if a.quick else "full",
                             "rounds": prof["rounds"], "seconds": prof["seconds"],
                             "warmup": prof["warmup"], "load_before": la,
                             "load_after": loadavg(), "machine": machine(),
                             "rev": revision(), "took_s": time.time() - t0}}
                if not a.no_doc:   # --no-doc leaves the results the report is built from
                    save_stash(stash)
                ran.append(name)
                S.say("bench/run: section %s done in %.0f s" % (name, time.time() - t0))
    finally:
        P.stop_all()
    # the report: from the stash (this run's sections and the last results of the others)
    imgdir = os.path.join(os.path.dirname(os.path.abspath(a.doc)), "img")
    if a.no_doc:   # nothing under docs/: the plots go to a temporary directory
        imgdir = tempfile.mkdtemp(prefix="bench-run-img-")
    plot = R.Plotter(imgdir)
    try:
        if a.no_doc:
            region = build_region(stash, "", plot, a)
        else:
            region = build_region(stash, read_region(a.doc), plot, a)
            write_region(a.doc, region)
    finally:
        plot.close()
    if ctx:
        S.cleanup_dirs(ctx)
    blocks = split_blocks(region)
    print("bench/run: sections measured: %s; took %.0f s" % (", ".join(ran) or "none",
                                                            time.time() - t_start))
    for name in ("skipped", "targets", "model"):
        if name in blocks:
            print("\n" + blocks[name].strip())
    if plot.made:
        print("\nplots: %s" % ", ".join(p if a.no_doc else os.path.relpath(p, ROOT)
                                         for p in plot.made))
    if plot.failed:
        print("\nplots that failed: %s" % "; ".join(plot.failed))
    if not a.no_doc:
        print("\nwrote %s (the bench/run region)" % os.path.relpath(a.doc, ROOT))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.stderr.write("bench/run: interrupted; every process it started was stopped\n")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001
        if not isinstance(e, RuntimeError) or "--verbose" in sys.argv:
            import traceback
            traceback.print_exc()
        sys.stderr.write("\nbench/run: FAILED: %s\n" % e)
        sys.exit(1)
