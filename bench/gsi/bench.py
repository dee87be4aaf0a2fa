"""Global secondary indexes: how long a write takes to show up in an index, and what indexes cost
a write. One cluster from the test harness (etcd, one storage node with --sync=false on tmpfs, the
controller, the indexer, the router), three on-demand tables keyed like bench/loadgen's (pk S,
sk N) with 0, 1 and 5 GSIs on the attributes loadgen's items carry (pk, sk, n; n is a fresh number
on every put, so each overwrite moves the item's entry in an index keyed on n), preloaded.

(1) Propagation lag. The maximum PutItem rate of the 1-GSI table is measured closed loop
    (--max-concurrency calls in flight, loadgen over gRPC); then loadgen writes open loop at
    --load-fraction (50%) of it while a prober thread (http.client on the DynamoDB endpoint)
    writes items whose index key n is a value nothing else uses and Queries the index for it
    every --poll-ms until it appears. The lag is from the PutItem's answer to the answer of the
    first Query that returned the item (an upper bound: at most one poll interval plus one Query
    round trip late). The indexer's dyn_indexer_lag_records gauge is sampled meanwhile.
(2) Write cost. PutItem throughput (closed loop) on the 0-, 1- and 5-GSI tables, rounds
    interleaved 0, 1, 5, 0, 1, 5, ...; ratios vs 0 GSIs within a round, medians. CPU per op two
    ways: loadgen's (router + storage + indexer over the measured window only), and over the whole
    run until the indexer has applied every write ("incl. catch-up": the index work the indexer
    left for after the window is charged too), divided by the PutItems the router counted.

Human lines go to stderr; the markdown section for docs/benchmarks.md to stdout. On a 2-core
machine shared with other work, compare ratios within a round, not absolute numbers."""
import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))
import dyne_harness as H  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
LAG_INDEX = "ByN"
LAG_GSIS = 1

# name: (hash attr, range attr or None, projection); the 1-GSI table has the first, 5-GSI all
GSIS = [
    ("ByN", "n", None, "ALL"),
    ("ByPkN", "pk", "n", "KEYS_ONLY"),
    ("ByNSk", "n", "sk", "ALL"),
    ("BySkN", "sk", "n", "KEYS_ONLY"),
    ("BySkPk", "sk", "pk", "KEYS_ONLY"),
]
ATTR_TYPE = {"pk": "S", "sk": "N", "n": "N"}


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def pct(xs, q):
    """The q-quantile (0..1) of xs, nearest rank."""
    s = sorted(xs)
    if not s:
        return float("nan")
    return s[min(len(s) - 1, max(0, int(round(q * len(s) + 0.5)) - 1))]


def cpu_s(pid):
    """utime + stime of pid, seconds."""
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rpartition(")")[2].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


class BenchCluster(H.Cluster):
    """The harness's cluster with the indexer's feed poll interval set (the harness uses 200 ms;
    the service's default is 500 ms). Notices from the storage node wake the indexer sooner."""
    poll_ms = 500

    def start_indexer(self, name="indexer", node_id=None, args=None):
        return super().start_indexer(name, node_id,
                                     ["--poll-ms=%d" % self.poll_ms] + list(args or []))


class Bench:
    def __init__(self, a):
        self.a = a
        self.c = None
        self.lg = os.path.join(a.bin_dir, "bench", "loadgen", "loadgen")
        self.tables = {g: "gsibench%d" % g for g in (0, 1, 5)}
        self.index_ids = {}   # table -> [index id]
        self.seed = 0         # every loadgen run has its own seed: a run that repeated an
        #                       earlier one's (key, n) pairs would write items unchanged

    # ---- cluster and tables ----

    def start(self):
        BenchCluster.poll_ms = self.a.indexer_poll_ms
        storage_args = [] if self.a.sync else ["--sync=false"]
        self.c = BenchCluster(tmp=tempfile.mkdtemp(prefix="dyne-gsi-", dir=self.a.data_parent),
                              storage_args=storage_args)
        self.c.start()
        self.ddb = boto3.session.Session().client(
            "dynamodb", endpoint_url=self.c.ddb_endpoint(), region_name="us-east-1",
            aws_access_key_id="dev", aws_secret_access_key="dev",
            config=Config(retries={"max_attempts": 5}))
        self.pids = {"router": self.c.procs["router"].pid,
                     "storage": self.c.procs["storage"].pid,
                     "indexer": self.c.procs["indexer"].pid}

    def create_table(self, name, ngsi):
        attrs = {"pk", "sk"}
        kw = {}
        if ngsi:
            gsis = []
            for iname, h, r, proj in GSIS[:ngsi]:
                ks = [{"AttributeName": h, "KeyType": "HASH"}]
                attrs.add(h)
                if r:
                    ks.append({"AttributeName": r, "KeyType": "RANGE"})
                    attrs.add(r)
                gsis.append({"IndexName": iname, "KeySchema": ks,
                             "Projection": {"ProjectionType": proj}})
            kw["GlobalSecondaryIndexes"] = gsis
        self.ddb.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": x, "AttributeType": ATTR_TYPE[x]}
                                  for x in sorted(attrs)],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                       {"AttributeName": "sk", "KeyType": "RANGE"}], **kw)
        end = time.time() + 120
        while time.time() < end:
            t = self.ddb.describe_table(TableName=name)["Table"]
            if t["TableStatus"] == "ACTIVE" and all(
                    g["IndexStatus"] == "ACTIVE" for g in t.get("GlobalSecondaryIndexes", [])):
                self.index_ids[name] = ["%s-%s-" % (t["TableId"], g["IndexName"])
                                        for g in t.get("GlobalSecondaryIndexes", [])]
                return
            time.sleep(0.05)
        raise RuntimeError("table %s (or its indexes) not ACTIVE in 120 s" % name)

    # ---- metrics ----

    def router_puts(self, table):
        m = H.scrape(self.c.router_http)
        return m.get('dyn_requests_total{method="PutItem",table="%s",outcome="OK"}' % table, 0.0)

    def indexer_series(self, metric, table):
        """{index id prefix: value} of an indexer metric, for the table's indexes."""
        m = H.scrape(self.c.indexers["indexer"]["http"])
        out = {}
        for prefix in self.index_ids.get(table, []):
            for k, v in m.items():
                if k.startswith(metric + '{index="' + prefix):
                    out[prefix] = v
        return out

    def drained(self, table, since):
        """Whether the indexer has applied every write to the table made before `since`
        (monotonic): every index has applied as many change records as the router answered
        PutItems (re-deliveries would count twice; there are none without crashes), or, as a
        fallback (a put that leaves the item as it was makes no change record), each index's
        lag gauge reads 0 at least 1.1 s after `since` (it is refreshed every second)."""
        ids = self.index_ids.get(table, [])
        if not ids:
            return True
        puts = self.router_puts(table)
        applied = self.indexer_series("dyn_indexer_records_applied_total", table)
        if len(applied) == len(ids) and min(applied.values()) >= puts:
            return True
        if time.monotonic() - since < 1.1:
            return False
        lag = self.indexer_series("dyn_indexer_lag_records", table)
        if len(lag) == len(ids) and max(lag.values()) == 0:
            log("  (%s: caught up by the lag gauge; %d PutItems made no change record)" % (
                table, puts - min(applied.values()) if applied else -1))
            return True
        return False

    def wait_drained(self, table, timeout=300):
        """Seconds until the indexer has caught up with the writes made so far."""
        t0 = time.monotonic()
        while not self.drained(table, t0):
            if time.monotonic() - t0 > timeout:
                raise RuntimeError("indexer did not catch up on %s in %d s" % (table, timeout))
            time.sleep(0.02)
        return time.monotonic() - t0

    def cpu_now(self):
        return {k: cpu_s(p) for k, p in self.pids.items()}

    # ---- loadgen ----

    def next_seed(self):
        self.seed += 1
        return self.seed

    def lg_argv(self, table, extra):
        return [self.lg, "--target=router", "--addr=127.0.0.1:%d" % self.c.router_port,
                "--setup=false", "--table=" + table, "--items=%d" % self.a.items,
                "--item-size=%d" % self.a.size, "--seed=%d" % self.next_seed(),
                "--pids=" + ",".join("%s=%d" % kv for kv in self.pids.items())] + extra

    @staticmethod
    def lg_parse(text, rc, argv):
        if rc not in (0, 3):   # 3: loadgen saw errors; they are reported
            raise RuntimeError("%s exited %d:\n%s" % (argv[0], rc, text))
        lines = [ln for ln in text.splitlines() if ln.startswith("LOADGEN ")]
        if not lines:
            raise RuntimeError("no LOADGEN line in:\n" + text)
        return json.loads(lines[-1][8:])

    def loadgen(self, argv):
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        text = p.stdout.decode(errors="replace")
        if self.a.verbose:
            sys.stderr.write(text)
        return self.lg_parse(text, p.returncode, argv)

    def preload(self, table):
        t0 = time.monotonic()
        r = self.loadgen(self.lg_argv(table, ["--load", "--concurrency=32"]))
        d = self.wait_drained(table)
        log("preload %-10s %d items in %.1f s (%.0f puts/s), indexer caught up %.2f s later" %
            (table, self.a.items, time.monotonic() - t0 - d, r["ops_per_s"], d))

    def closed_put(self, table, concurrency):
        """One closed-loop put run; the loadgen result plus CPU until the index caught up."""
        c0, p0 = self.cpu_now(), self.router_puts(table)
        r = self.loadgen(self.lg_argv(table, [
            "--workload=put", "--concurrency=%d" % concurrency, "--warmup=%g" % self.a.warmup,
            "--duration=%g" % self.a.seconds]))
        lag_end = sum(self.indexer_series("dyn_indexer_lag_records", table).values())
        drain = self.wait_drained(table)
        c1, p1 = self.cpu_now(), self.router_puts(table)
        ops = max(1.0, p1 - p0)
        cpu = r["cpu_us_per_op"]
        return {"ops": r["ops_per_s"], "p50": r["ops_by"]["all"]["p50_us"],
                "p99": r["ops_by"]["all"]["p99_us"], "errors": r["errors"],
                "cpu": sum(cpu.get(k, 0.0) for k in self.pids),
                "cpu_by": {k: cpu.get(k, 0.0) for k in self.pids},
                "cpu_all": sum(c1[k] - c0[k] for k in self.pids) * 1e6 / ops,
                "cpu_all_by": {k: (c1[k] - c0[k]) * 1e6 / ops for k in self.pids},
                "drain_s": drain, "lag_end": lag_end}

    # ---- (1) propagation lag ----

    def lag_phase(self, max_rate):
        a = self.a
        table = self.tables[LAG_GSIS]
        rate = max_rate * a.load_fraction
        window = a.lag_seconds
        argv = self.lg_argv(table, ["--workload=put", "--rate=%.0f" % rate,
                                    "--concurrency=%d" % a.open_concurrency,
                                    "--warmup=%g" % a.warmup, "--duration=%g" % window])
        idx = [p for p in self.index_ids[table] if p.split("-")[-2] == LAG_INDEX][0]
        stop = threading.Event()
        gauge = []

        def sample_gauge():
            while not stop.is_set():
                v = self.indexer_series("dyn_indexer_lag_records", table).get(idx)
                if v is not None:
                    gauge.append(v)
                stop.wait(0.25)

        p0 = self.router_puts(table)
        lg = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = []
        reader = threading.Thread(target=lambda: out.append(lg.stdout.read()), daemon=True)
        reader.start()
        prober = Prober(self.c.router_ddb, table, LAG_INDEX, a.samples, window - 0.5,
                        a.poll_ms / 1000.0, a.probe_timeout, lambda: lg.poll() is not None)
        time.sleep(a.warmup + 0.25)   # the background load is at its rate before probing
        gt = threading.Thread(target=sample_gauge, daemon=True)
        gt.start()
        prober.run()
        stop.set()
        gt.join()
        lg.wait()
        reader.join()
        r = self.lg_parse(out[0].decode(errors="replace") if out else "", lg.returncode, argv)
        if a.verbose:
            sys.stderr.write(out[0].decode(errors="replace"))
        drain = self.wait_drained(table)
        log("lag: background %.0f puts/s (target %.0f, %d late, %d errors, p99 %.0f us), "
            "%d samples, %d not seen in %g s, %d probe errors" %
            (r["ops_per_s"], rate, r["late"], r["errors"], r["ops_by"]["all"]["p99_us"],
             len(prober.lags), prober.missing, a.probe_timeout, prober.errors))
        return {"rate": rate, "bg": r, "lags": prober.lags, "first": prober.first_hit,
                "missing": prober.missing, "probe_errors": prober.errors,
                "qrtt": prober.query_rtts, "ack": prober.put_rtts, "gauge": gauge,
                "drain_s": drain, "puts": self.router_puts(table) - p0}


class Prober:
    """Writes items whose n is unused elsewhere and polls Query on the index until each
    appears; lags in seconds from the PutItem's answer to the answer of the Query that saw it."""

    def __init__(self, port, table, index, samples, window, poll_s, timeout, done):
        self.port, self.table, self.index = port, table, index
        self.samples, self.window, self.poll_s, self.timeout = samples, window, poll_s, timeout
        self.done = done
        self.lags, self.query_rtts, self.put_rtts = [], [], []
        self.first_hit = self.missing = self.errors = 0
        self.conn = None
        self.base = 900000000000000 + random.randrange(1000000) * 1000000

    def call(self, op, body):
        data = json.dumps(body)
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                self.conn.request("POST", "/", data, {
                    "Content-Type": "application/x-amz-json-1.0",
                    "X-Amz-Target": "DynamoDB_20120810." + op})
                resp = self.conn.getresponse()
                text = resp.read()
                if resp.status != 200:
                    raise RuntimeError("%s: HTTP %d %s" % (op, resp.status, text[:200]))
                return json.loads(text)
            except (OSError, http.client.HTTPException):
                self.conn = None
                if attempt:
                    raise

    def run(self):
        spacing = self.window / max(1, self.samples)
        for i in range(self.samples):
            if self.done():
                break
            t_sample = time.monotonic()
            val = str(self.base + i)
            try:
                t0 = time.monotonic()
                self.call("PutItem", {"TableName": self.table, "Item": {
                    "pk": {"S": "probe-%s" % val}, "sk": {"N": "0"}, "n": {"N": val},
                    "v": {"S": "probe"}}})
                t_ack = time.monotonic()
                self.put_rtts.append(t_ack - t0)
                polls = 0
                while True:
                    tq = time.monotonic()
                    r = self.call("Query", {
                        "TableName": self.table, "IndexName": self.index,
                        "KeyConditionExpression": "#k = :v", "Select": "COUNT",
                        "ExpressionAttributeNames": {"#k": "n"},
                        "ExpressionAttributeValues": {":v": {"N": val}}})
                    tr = time.monotonic()
                    self.query_rtts.append(tr - tq)
                    polls += 1
                    if r.get("Count", 0) >= 1:
                        self.lags.append(tr - t_ack)
                        self.first_hit += polls == 1
                        break
                    if tr - t_ack > self.timeout:
                        self.missing += 1
                        break
                    time.sleep(self.poll_s)
            except Exception as e:  # counted; the run goes on
                self.errors += 1
                if self.errors <= 3:
                    log("probe error: %s" % e)
            # spread the samples over the window, jittered (the feed batches notices every 5 ms)
            nxt = t_sample + spacing * random.uniform(0.5, 1.5)
            while time.monotonic() < nxt and not self.done():
                time.sleep(min(0.01, max(0.0, nxt - time.monotonic())))


def fmt_int(x):
    return "{:,.0f}".format(x)


def ms(x):
    return "%.1f" % (x * 1000.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--rounds", type=int, default=3, help="write-cost rounds (0, 1, 5 GSIs each)")
    ap.add_argument("--seconds", type=float, default=8, help="measured seconds per put run")
    ap.add_argument("--samples", type=int, default=300, help="propagation lag samples")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 1 round of 3 s, 40 samples over 6 s, 2,000 items")
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--items", type=int, default=20000, help="preloaded items per table")
    ap.add_argument("--size", type=int, default=1024, help="item size (DynamoDB's count)")
    ap.add_argument("--concurrency", type=int, default=32,
                    help="calls in flight for the write-cost runs")
    ap.add_argument("--max-concurrency", type=int, default=32,
                    help="calls in flight when measuring the maximum write rate")
    ap.add_argument("--open-concurrency", type=int, default=256,
                    help="cap on calls in flight of the open-loop background load")
    ap.add_argument("--load-fraction", type=float, default=0.5,
                    help="background load as a fraction of the measured maximum")
    ap.add_argument("--lag-seconds", type=float, default=0,
                    help="background load window for the lag samples (0: samples x 60 ms, "
                         "at least 10 s)")
    ap.add_argument("--poll-ms", type=float, default=2, help="prober's pause between Queries")
    ap.add_argument("--probe-timeout", type=float, default=10,
                    help="seconds after which a probe item counts as not seen")
    ap.add_argument("--indexer-poll-ms", type=int, default=500,
                    help="indexer --poll-ms (its default; the test harness uses 200)")
    ap.add_argument("--sync", action="store_true", help="storage --sync=true (default false)")
    ap.add_argument("--data-parent", default="/dev/shm")
    ap.add_argument("--verbose", action="store_true", help="echo loadgen's output")
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.seconds, a.samples, a.items, a.warmup = 1, 3, 40, 2000, 1
        a.lag_seconds = a.lag_seconds or 6
    if not a.lag_seconds:
        a.lag_seconds = max(10.0, a.samples * 0.06)
    H.binary = lambda b: os.path.join(a.bin_dir, "services", b, b)
    t_start = time.time()
    b = Bench(a)
    try:
        b.start()
        log("cluster up: router gRPC %d, DynamoDB %s, indexer metrics %d (poll %d ms)" % (
            b.c.router_port, b.c.ddb_endpoint(), b.c.indexers["indexer"]["http"],
            a.indexer_poll_ms))
        for g, t in b.tables.items():
            b.create_table(t, g)
        for t in b.tables.values():
            b.preload(t)

        # (1) max write rate of the 1-GSI table, then the lag at a fraction of it
        mx = b.closed_put(b.tables[LAG_GSIS], a.max_concurrency)
        log("max rate (%d GSI, %d in flight): %.0f puts/s, p99 %.0f us, errors %d; indexer lag "
            "%d records at the end, caught up %.2f s after" % (
                LAG_GSIS, a.max_concurrency, mx["ops"], mx["p99"], mx["errors"], mx["lag_end"],
                mx["drain_s"]))
        lag = b.lag_phase(mx["ops"])
        L = lag["lags"]
        if L:
            log("lag: p50 %s ms  p99 %s ms  max %s ms  (seen by the first Query: %d of %d; "
                "Query RTT p50 %s ms; gauge samples %d, max %d records)" % (
                    ms(pct(L, .5)), ms(pct(L, .99)), ms(max(L)), lag["first"], len(L),
                    ms(pct(lag["qrtt"], .5)), len(lag["gauge"]),
                    max(lag["gauge"]) if lag["gauge"] else -1))

        # (2) write cost: 0, 1, 5 GSIs interleaved
        rounds = []
        for i in range(a.rounds):
            rd = {}
            for g in (0, 1, 5):
                r = rd[g] = b.closed_put(b.tables[g], a.concurrency)
                log("round %d  %d GSIs  %7.0f puts/s  p50 %6.0f us  p99 %6.0f us  CPU %6.1f us/op "
                    "(%s)  incl. catch-up %6.1f us/op (%s)  lag at end %d, caught up %.2f s  "
                    "errors %d" % (
                        i + 1, g, r["ops"], r["p50"], r["p99"], r["cpu"],
                        " ".join("%s %.1f" % kv for kv in r["cpu_by"].items()), r["cpu_all"],
                        " ".join("%s %.1f" % kv for kv in r["cpu_all_by"].items()),
                        r["lag_end"], r["drain_s"], r["errors"]))
            rounds.append(rd)
            log("round %d ratios vs 0 GSIs: throughput 1: %.2f 5: %.2f; CPU/op incl. catch-up "
                "1: %.2f 5: %.2f" % (i + 1, rd[1]["ops"] / rd[0]["ops"],
                                     rd[5]["ops"] / rd[0]["ops"],
                                     rd[1]["cpu_all"] / rd[0]["cpu_all"],
                                     rd[5]["cpu_all"] / rd[0]["cpu_all"]))
    finally:
        if b.c is not None:
            b.c.stop()
    took = time.time() - t_start
    log("took %.0f s" % took)
    report(a, mx, lag, rounds, took)


def report(a, mx, lag, rounds, took):
    L = lag["lags"]
    bg = lag["bg"]
    gauge = lag["gauge"]
    p99 = pct(L, .99) if L else float("inf")
    met = bool(L) and p99 < 1.0 and lag["missing"] == 0
    args = "--rounds %d --seconds %g --samples %d" % (a.rounds, a.seconds, a.samples)
    if a.quick:
        args = "--quick"
    P = print
    P("## Global secondary indexes: propagation lag and write cost (`bench/gsi/run.sh`)")
    P()
    P("`bench/gsi/run.sh %s` (%.0f s in all; %s B items, %s preloaded per table; %d cores). One "
      "cluster from the test harness: etcd, one storage node (`--sync=%s`, data on tmpfs), the "
      "controller, the indexer (`--poll-ms=%d`; storage's feed notices wake it sooner), the "
      "router. Tables are on-demand, keyed pk (S) / sk (N) as bench/loadgen writes them; their "
      "GSIs are on loadgen's own attributes, so the load feeds them: 1 GSI = ByN (hash n, ALL); "
      "5 GSIs = ByN, ByPkN (pk, n; KEYS_ONLY), ByNSk (n, sk; ALL), BySkN (sk, n; KEYS_ONLY), "
      "BySkPk (sk, pk; KEYS_ONLY). loadgen gives every put a fresh n, so an overwrite moves the "
      "item's entry in every index keyed on n (a delete and a put)." % (
          args, took, fmt_int(a.size), fmt_int(a.items), os.cpu_count(),
          "true" if a.sync else "false", a.indexer_poll_ms))
    P()
    P("**Propagation lag** (1 GSI). Maximum PutItem rate, closed loop, %d in flight over gRPC: "
      "**%s puts/s** (p99 %s µs; the indexer was %s records behind when the run ended and caught "
      "up %.2f s later). Background load: loadgen open loop at %d%% of it, %s puts/s asked, %s "
      "done (put p99 %s µs, %d errors; %d calls started over 1 ms behind schedule: the "
      "client's own scheduling on a busy machine). A prober on the DynamoDB HTTP endpoint "
      "writes an item with an unused n and Queries ByN for it every %g ms; the lag runs from "
      "the PutItem's answer to the answer of the first Query that returned the item (an upper "
      "bound, by at most a poll interval and a Query round trip: Query p50 %s ms)." % (
          a.max_concurrency, fmt_int(mx["ops"]), fmt_int(mx["p99"]), fmt_int(mx["lag_end"]),
          mx["drain_s"], round(a.load_fraction * 100), fmt_int(lag["rate"]),
          fmt_int(bg["ops_per_s"]), fmt_int(bg["ops_by"]["all"]["p99_us"]), bg["errors"],
          bg["late"],
          a.poll_ms, ms(pct(lag["qrtt"], .5)) if lag["qrtt"] else "-"))
    P()
    P("| background puts/s | samples | lag p50 ms | lag p99 ms | lag max ms | seen by the first "
      "Query | not seen in %g s | `dyn_indexer_lag_records` samples: p50 / p99 / max |" %
      a.probe_timeout)
    P("|---:|---:|---:|---:|---:|---:|---:|---:|")
    P("| %s | %d | %s | %s | %s | %d of %d | %d | %s |" % (
        fmt_int(bg["ops_per_s"]), len(L), ms(pct(L, .5)) if L else "-",
        ms(pct(L, .99)) if L else "-", ms(max(L)) if L else "-", lag["first"], len(L),
        lag["missing"],
        ("%s / %s / %s (max ≈ %s ms of writes; %d samples every 250 ms, the gauge is refreshed "
         "each second)" % (fmt_int(pct(gauge, .5)), fmt_int(pct(gauge, .99)), fmt_int(max(gauge)),
                           fmt_int(1000.0 * max(gauge) / max(1.0, bg["ops_per_s"])), len(gauge)))
        if gauge else "-"))
    P()
    P("Target \"lag p99 < 1 s at half of the cluster's maximum write rate\": **%s** (p99 %s ms "
      "at %s puts/s, %d%% of %s%s)." % (
          "met" if met else "not met", ms(p99) if L else "-", fmt_int(bg["ops_per_s"]),
          round(100 * bg["ops_per_s"] / mx["ops"]) if mx["ops"] else 0, fmt_int(mx["ops"]),
          "" if not lag["missing"] else "; %d items not seen in %g s" % (lag["missing"],
                                                                          a.probe_timeout)))
    P()
    if not rounds:
        return
    P("**Write cost** of 0, 1 and 5 GSIs: PutItem closed loop, %d in flight over gRPC, %g s "
      "measured after %g s of warm-up, rounds interleaved 0, 1, 5, ... (%d rounds); ratios vs "
      "0 GSIs within a round, then medians. CPU/op is router + storage + indexer: \"window\" is "
      "loadgen's (the measured seconds only), \"incl. catch-up\" runs from the start of the run "
      "until the indexer has applied every write, over the PutItems the router counted. "
      "\"behind\" is `dyn_indexer_lag_records` (summed over the table's indexes) as the run "
      "ended." % (a.concurrency, a.seconds, a.warmup, len(rounds)))
    P()
    P("| GSIs | puts/s (median) | throughput vs 0 (rounds; median) | p99 µs | CPU µs/op window: "
      "router / storage / indexer | CPU µs/op incl. catch-up (median) | CPU/op vs 0 (rounds; "
      "median) | behind at end / caught up after |")
    P("|---:|---:|---|---:|---|---:|---|---|")
    for g in (0, 1, 5):
        med = lambda k: statistics.median(rd[g][k] for rd in rounds)  # noqa: E731
        medby = lambda k, p: statistics.median(rd[g][k][p] for rd in rounds)  # noqa: E731
        tr = [rd[g]["ops"] / rd[0]["ops"] for rd in rounds]
        cr = [rd[g]["cpu_all"] / rd[0]["cpu_all"] for rd in rounds]
        P("| %d | %s | %s | %s | %.1f / %.1f / %.1f | %.1f | %s | %s records / %.2f s |" % (
            g, fmt_int(med("ops")),
            "—" if g == 0 else "%s; **%.2f**" % (" ".join("%.2f" % x for x in tr),
                                                   statistics.median(tr)),
            fmt_int(med("p99")), medby("cpu_by", "router"), medby("cpu_by", "storage"),
            medby("cpu_by", "indexer"), med("cpu_all"),
            "—" if g == 0 else "%s; **%.2f**" % (" ".join("%.2f" % x for x in cr),
                                                   statistics.median(cr)),
            fmt_int(med("lag_end")), med("drain_s")))
    errs = sum(rd[g]["errors"] for rd in rounds for g in rd) + bg["errors"] + mx["errors"]
    P()
    P("(%s.)" % ("0 errors in every run" if errs == 0 else "%d errors in all" % errs))


if __name__ == "__main__":
    main()
