"""The router's DynamoDB-compatible HTTP endpoint driven by the AWS SDK for JavaScript v3
(@aws-sdk/client-dynamodb, pinned in tests/js/package-lock.json): starts a Cluster (--auth=dev)
and runs `node tests/js/smoke.mjs` against cluster.ddb_endpoint(). The script prints its own
per-case lines and "N passed, M failed", which this wrapper passes through.

node_modules is installed by tests/run (`npm ci` in tests/js) before Bazel runs. Under `bazel
test` the runfile tests/js/smoke.mjs is a symlink into the source tree; we run the script at its
real path so that node finds tests/js/node_modules next to it (DYNE_JS_DIR overrides the
directory)."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from dyne_harness import Cluster  # noqa: E402


def js_dir():
    """The source directory tests/js (with node_modules), found through the runfile's real path."""
    if os.environ.get("DYNE_JS_DIR"):
        return os.environ["DYNE_JS_DIR"]
    here = os.path.dirname(os.path.abspath(__file__))
    cands = []
    if os.environ.get("TEST_SRCDIR"):
        cands.append(os.path.join(os.environ["TEST_SRCDIR"], os.environ.get("TEST_WORKSPACE", "dyne"),
                                  "tests", "js", "smoke.mjs"))
    cands.append(os.path.join(here, "..", "js", "smoke.mjs"))
    for c in cands:
        if os.path.exists(c):
            return os.path.dirname(os.path.realpath(c))
    raise RuntimeError("cannot find tests/js/smoke.mjs")


def fail(msg):
    print("FAIL %s" % msg, flush=True)
    print("0 passed, 1 failed", flush=True)
    return 1


def main():
    node = shutil.which("node")
    if not node:
        return fail("node is not installed")
    d = js_dir()
    if not os.path.isdir(os.path.join(d, "node_modules", "@aws-sdk", "client-dynamodb")):
        return fail("%s/node_modules is missing: run (cd tests/js && npm ci) (tests/run does)" % d)
    C = Cluster().start()
    try:
        env = dict(os.environ)
        for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            env.pop(k, None)
        env.update({
            "DYNE_ENDPOINT": C.ddb_endpoint(),
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
            "AWS_ACCESS_KEY_ID": "dev", "AWS_SECRET_ACCESS_KEY": "dev", "AWS_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        })
        try:
            r = subprocess.run([node, os.path.join(d, "smoke.mjs")], cwd=d, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=240)
        except subprocess.TimeoutExpired as e:
            sys.stdout.write((e.stdout or b"").decode(errors="replace"))
            return fail("node smoke.mjs timed out")
        out = r.stdout.decode(errors="replace")
        sys.stdout.write(out)
        sys.stdout.flush()
        m = re.findall(r"^(\d+) passed, (\d+) failed$", out, re.M)
        if not m:
            return fail("node smoke.mjs printed no summary (exit %d)" % r.returncode)
        if r.returncode != 0 and int(m[-1][1]) == 0:
            return fail("node smoke.mjs exited %d" % r.returncode)
        return 1 if r.returncode != 0 else 0
    finally:
        for p in C.procs.values():
            sys.stderr.write("---- %s log tail\n%s\n" % (p.name, p.tail(15)))
        C.stop()


if __name__ == "__main__":
    sys.exit(main())
