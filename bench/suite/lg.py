"""Running bench/loadgen and bench/storage's wt_bench, reading their report lines, and finding out
what this loadgen build accepts (workload F, --dist=hot, --target=echo are newer than some
builds): an option loadgen rejects makes it exit 2 with "bad --..." before it connects."""
import json
import os
import subprocess
import sys

# names in --pids that are shown but not summed into "server CPU per operation"
NOT_SERVER = ("client", "etcd", "controller")


class Rejected(Exception):
    """loadgen refused an option (exit 2, "bad --...")."""


class Tools:
    def __init__(self, bindir, verbose=False, no_echo=""):
        self.bindir = bindir
        self.loadgen = os.path.join(bindir, "bench", "loadgen", "loadgen")
        self.wt_bench = os.path.join(bindir, "bench", "storage", "wt_bench")
        echo = os.path.join(bindir, "bench", "echo", "echo")
        self.echo = echo if os.access(echo, os.X_OK) and not no_echo else None
        self.no_echo = no_echo or ("" if self.echo else "%s is not built" % echo)
        self.verbose = verbose
        for b in (self.loadgen, self.wt_bench):
            if not os.access(b, os.X_OK):
                raise RuntimeError("not built: %s" % b)
        self._supports = {}

    def _run(self, argv, prefix, timeout):
        return self._run_many([argv], prefix, timeout)[0]

    def _run_many(self, argvs, prefix, timeout):
        """Runs the commands at the same time; their parsed report lines, in order."""
        procs = []
        try:
            for argv in argvs:
                if self.verbose:
                    sys.stderr.write("+ %s\n" % " ".join(argv))
                procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE,
                                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
            texts = []
            for argv, p in zip(argvs, procs):
                try:
                    out, _ = p.communicate(timeout=timeout)
                except subprocess.TimeoutExpired:
                    raise RuntimeError("%s did not finish in %.0f s: %s" % (
                        os.path.basename(argv[0]), timeout, " ".join(argv)))
                texts.append(out.decode(errors="replace"))
        finally:
            for p in procs:   # ours, by PID: only if still running (an exception above)
                if p.poll() is None:
                    p.kill()
                    p.wait()
        out = []
        for argv, p, text in zip(argvs, procs, texts):
            if self.verbose:
                sys.stderr.write(text)
            if p.returncode == 2 and "bad --" in text:
                raise Rejected(text.strip().splitlines()[-1] if text.strip() else "rejected")
            if p.returncode not in (0, 3):   # 3: the run saw errors; they are counted
                raise RuntimeError("%s exited %d: %s\n%s" % (
                    os.path.basename(argv[0]), p.returncode, " ".join(argv), text[-3000:]))
            lines = [l for l in text.splitlines() if l.startswith(prefix + " ")]
            if not lines:
                raise RuntimeError("no %s line from %s:\n%s" % (prefix, " ".join(argv),
                                                                 text[-3000:]))
            out.append(json.loads(lines[-1][len(prefix) + 1:]))
        return out

    def loadgen_run(self, args, timeout):
        return norm(self._run([self.loadgen] + args, "LOADGEN", timeout))

    def loadgen_many(self, argss, timeout):
        """Several loadgens at once (one per router): their reports, in order."""
        return [norm(r) for r in self._run_many([[self.loadgen] + a for a in argss], "LOADGEN",
                                                timeout)]

    def wt_run(self, args, timeout):
        return norm(self._run([self.wt_bench] + args, "WTBENCH", timeout))

    def supports(self, args):
        """Whether loadgen accepts args: (True, "") or (False, its complaint). Probed against a
        closed loopback port, so it parses the options and then fails to connect, quickly."""
        key = tuple(args)
        if key not in self._supports:
            import socket
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()
            argv = [self.loadgen, "--addr=127.0.0.1:%d" % port, "--setup=false", "--warmup=0",
                    "--duration=0.05", "--concurrency=1", "--deadline-ms=50",
                    "--items=10"] + list(args)
            try:
                p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   timeout=30)
                text = p.stdout.decode(errors="replace").strip()
                bad = p.returncode == 2 and "bad" in text
                self._supports[key] = (not bad, text.splitlines()[-1] if bad and text else "")
            except subprocess.TimeoutExpired:
                self._supports[key] = (True, "")
        return self._supports[key]


def norm(r):
    """The figures the suite keeps from one LOADGEN / WTBENCH report."""
    cpu = r.get("cpu_us_per_op", {})
    a = r.get("ops_by", {}).get("all", {})
    return {
        "ops": r.get("ops_per_s", 0.0),
        "n": r.get("ops", 0),
        "elapsed": r.get("elapsed_s", 0.0),
        "p50": a.get("p50_us", 0.0),
        "p99": a.get("p99_us", 0.0),
        "cpu": sum(v for k, v in cpu.items() if k not in NOT_SERVER),
        "cpu_by": cpu,
        "errors": r.get("errors", 0),
        "misses": r.get("misses", 0),
    }
