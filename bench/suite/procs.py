"""Processes bench/run starts: Dyne clusters (tests/harness's Cluster, plus a second router),
dynalite, the gRPC echo server and proxy. Every one is registered on start and stopped by PID by
stop_all() (bench/suite/main.py calls it in a finally block and on SIGTERM), whatever happened.
Nothing is stopped by name."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))
import dyne_harness as H  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

_live = []   # started things with a stop(); stop_all() stops them newest first


def register(x):
    _live.append(x)
    return x


def unregister(x):
    if x in _live:
        _live.remove(x)


def stop_all():
    """Stops everything still registered (newest first); errors are printed, not raised, so one
    failure does not leave the others running."""
    while _live:
        x = _live.pop()
        try:
            x.stop()
        except Exception as e:  # noqa: BLE001  (keep stopping the rest)
            sys.stderr.write("bench/run: stopping %r: %s\n" % (x, e))


def set_bin_dir(bindir):
    """The harness finds service binaries through H.binary; point it at our -c opt build."""
    def binary(name):
        p = os.path.join(bindir, "services", name, name)
        if not os.path.exists(p):
            raise RuntimeError("binary %s not built (%s)" % (name, p))
        return p
    H.binary = binary


def rss_bytes(pid):
    with open("/proc/%d/statm" % pid) as f:
        return int(f.read().split()[1]) * PAGE


def du_bytes(path):
    """Bytes allocated on disk under path (du's figure: st_blocks, not apparent sizes, so
    WiredTiger's preallocated-but-sparse logs count as what they occupy)."""
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(d, f)).st_blocks * 512
            except OSError:
                pass
    return total


def du_split(path):
    """du of a storage node's WiredTiger home, split: tables (*.wt but WiredTiger's own; of which
    the storage node's "p_<partition>" item tables, "l_<partition>" change logs and "i_..." local
    secondary indexes), log files (WiredTigerLog.* and preallocated WiredTigerPreplog.*), the
    rest (metadata, history store)."""
    out = {"tables": 0, "items": 0, "changelog": 0, "indexes": 0, "log": 0, "other": 0}
    for d, _, files in os.walk(path):
        for f in files:
            try:
                b = os.lstat(os.path.join(d, f)).st_blocks * 512
            except OSError:
                continue
            if f.startswith("WiredTigerLog.") or f.startswith("WiredTigerPreplog."):
                out["log"] += b
            elif f.endswith(".wt") and not f.startswith("WiredTiger"):
                out["tables"] += b
                kind = {"p_": "items", "l_": "changelog", "i_": "indexes"}.get(f[:2])
                if kind:
                    out[kind] += b
            else:
                out["other"] += b
    out["total"] = out["tables"] + out["log"] + out["other"]
    return out


class Dyne(H.Cluster):
    """etcd + N storage nodes + controller + router (the harness's Cluster), storage --sync
    chosen, data under data_parent; add_router() starts more routers on the same etcd."""

    def __init__(self, data_parent, sync, storage_nodes=1, storage_extra=None, name="dyne"):
        os.makedirs(data_parent, exist_ok=True)
        H.Cluster.__init__(self, tmp=tempfile.mkdtemp(prefix="bench-run-%s-" % name,
                                                      dir=data_parent),
                           storage_nodes=storage_nodes,
                           storage_args=["--sync=%s" % ("true" if sync else "false")] +
                           list(storage_extra or []))
        self.label = name
        self.routers = {}   # extra routers: name -> {"port", "http", "ddb"}
        register(self)
        try:
            self.start()
        except Exception as e:
            tails = "".join("\n--- %s log (last lines) ---\n%s" % (n, p.tail(15))
                            for n, p in self.procs.items())
            self.stop()
            raise RuntimeError("Dyne cluster (%s) failed to start: %s%s" % (name, e, tails))

    def add_router(self, name):
        """Another router process, same etcd, its own free loopback ports; waits for /healthz."""
        r = self.routers.get(name)
        if r is None:
            r = self.routers[name] = {"port": H.free_port(), "http": H.free_port(),
                                      "ddb": H.free_port()}
        try:
            return self._spawn(name, [H.binary("router"),
                                      "--listen=127.0.0.1:%d" % r["port"],
                                      "--http-listen=127.0.0.1:%d" % r["http"],
                                      "--ddb-listen=127.0.0.1:%d" % r["ddb"],
                                      "--etcd=127.0.0.1:%d" % self.etcd_port] + self.router_args,
                               r["http"])
        except RuntimeError as e:
            raise RuntimeError("router %s failed to start: %s" % (name, e))

    def stop_proc(self, name, timeout=10):
        """Stops one process (SIGTERM, then SIGKILL after timeout) and forgets it; its exit code."""
        p = self.procs.pop(name, None)
        return p.stop(timeout) if p is not None else None

    def storage_names(self):
        return ["storage"] + ["s%d" % i for i in range(2, self.storage_nodes + 1)]

    def storage_dir(self, name="storage"):
        return os.path.join(self.tmp, name)

    def pid(self, name):
        return self.procs[name].pid

    def stop(self):
        unregister(self)
        H.Cluster.stop(self)

    def __repr__(self):
        return "<Dyne %s %s>" % (self.label, self.tmp)


class _Server:
    """A child process with its output in a log file; stopped by PID."""

    def __init__(self, name, argv, log_path):
        self.name, self.argv, self.log_path = name, argv, log_path
        self.log = open(log_path, "ab")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        register(self)

    @property
    def pid(self):
        return self.p.pid

    def tail(self, n=20):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout=10):
        unregister(self)
        H.terminate(self.p, timeout)
        self.log.close()
        return self.p.returncode

    def __repr__(self):
        return "<%s pid %d>" % (self.name, self.p.pid)


class Dynalite(_Server):
    """dynalite (bench/http/node_modules) on a free loopback port: in memory, or LevelDB under
    path (which it does not fsync)."""

    def __init__(self, logdir, path=None):
        self.port = H.free_port()
        self.path = path
        cli = os.path.join(ROOT, "bench", "http", "node_modules", "dynalite", "cli.js")
        if not os.path.exists(cli):
            raise RuntimeError("dynalite is not installed (%s); bench/run installs it with npm ci"
                               % cli)
        argv = ["node", cli, "--port", str(self.port), "--host", "127.0.0.1",
                "--createTableMs", "0", "--deleteTableMs", "0"]
        if path:
            os.makedirs(path, exist_ok=True)
            argv += ["--path", path]
        _Server.__init__(self, "dynalite", argv,
                         os.path.join(logdir, "dynalite-%d.log" % self.port))
        end = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            except OSError:
                if self.p.poll() is not None or time.time() > end:
                    tail = self.tail()
                    self.stop()
                    raise RuntimeError("dynalite failed to start (exit %s):\n%s"
                                       % (self.p.returncode, tail))
                time.sleep(0.05)

    def stop(self, timeout=10):
        rc = _Server.stop(self, timeout)
        if self.path:
            shutil.rmtree(self.path, ignore_errors=True)
        return rc


class Echo:
    """bench/echo: `echo --listen=127.0.0.1:0 [--backend=127.0.0.1:N]` prints
    "ECHO-READY port=N" once it serves. Its output goes through a pipe a thread drains into a
    log (stdbuf -oL in front, in case the binary leaves stdout block-buffered)."""

    def __init__(self, binary, logdir, backend_port=None, timeout=30):
        self.name = "echo-proxy" if backend_port else "echo"
        argv = [binary, "--listen=127.0.0.1:0"]
        if backend_port:
            argv.append("--backend=127.0.0.1:%d" % backend_port)
        if shutil.which("stdbuf"):
            argv = ["stdbuf", "-oL", "-eL"] + argv
        self.log_path = os.path.join(logdir, "%s-%d.log" % (self.name, os.getpid()))
        self.lines = []
        self.port = None
        self._ready = threading.Event()
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        register(self)
        self._t = threading.Thread(target=self._drain, daemon=True)
        self._t.start()
        end = time.time() + timeout
        while not self._ready.wait(0.05):
            if self.p.poll() is not None or time.time() > end:
                self._ready.wait(0.2)
                if self.port:
                    break
                out = "\n".join(self.lines[-20:])
                self.stop()
                raise RuntimeError("%s failed to start (exit %s, no ECHO-READY line):\n%s"
                                   % (self.name, self.p.returncode, out))

    def _drain(self):
        with open(self.log_path, "ab") as log:
            for raw in iter(self.p.stdout.readline, b""):
                log.write(raw)
                log.flush()
                line = raw.decode(errors="replace").rstrip()
                self.lines.append(line)
                if self.port is None and "ECHO-READY" in line:
                    for tok in line.split():
                        if tok.startswith("port="):
                            try:
                                self.port = int(tok[5:])
                            except ValueError:
                                pass
                    if self.port:
                        self._ready.set()

    @property
    def pid(self):
        return self.p.pid

    def stop(self, timeout=10):
        unregister(self)
        H.terminate(self.p, timeout)
        self._t.join(2)
        return self.p.returncode

    def __repr__(self):
        return "<%s pid %d>" % (self.name, self.p.pid)

