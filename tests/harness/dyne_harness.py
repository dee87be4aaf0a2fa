"""Test harness for Dyne's service tests: starts real etcd, storage and router processes on free
loopback ports, generates Python gRPC stubs from our protos at test time (protoc +
grpc_python_plugin), and offers a client that speaks DynamoDB-shaped JSON over dyne.v1's gRPC API.

Processes are started by this harness and stopped by PID; nothing else is touched.
"""
import base64
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import grpc

ROOT = None


def _root():
    """The source tree: Bazel runfiles when under `bazel test`, else the repository."""
    global ROOT
    if ROOT:
        return ROOT
    cands = []
    if os.environ.get("TEST_SRCDIR"):
        cands.append(os.path.join(os.environ["TEST_SRCDIR"], os.environ.get("TEST_WORKSPACE", "dyne")))
    here = os.path.dirname(os.path.abspath(__file__))
    cands.append(os.path.dirname(os.path.dirname(here)))
    for c in cands:
        if os.path.exists(os.path.join(c, "proto", "dyne", "v1", "dynamodb.proto")):
            ROOT = c
            return c
    raise RuntimeError("cannot find the source tree (proto/dyne/v1)")


def binary(name):
    """Path of a service binary: runfiles first, then bazel-bin."""
    root = _root()
    for p in (os.path.join(root, "services", name, name),
              os.path.join(root, "bazel-bin", "services", name, name)):
        if os.path.exists(p):
            return p
    raise RuntimeError("binary %s not built" % name)


_STUBS = None


def stubs():
    """Generates and imports dyne.v1 + health Python modules (once per process)."""
    global _STUBS
    if _STUBS:
        return _STUBS
    root = _root()
    out = tempfile.mkdtemp(prefix="dyne-stubs-")
    protos = ["proto/dyne/v1/attribute.proto", "proto/dyne/v1/types.proto",
              "proto/dyne/v1/dynamodb.proto", "proto/dyne/v1/streams.proto",
              "proto/grpc/health/v1/health.proto"]
    plugin = shutil.which("grpc_python_plugin") or "/usr/bin/grpc_python_plugin"
    subprocess.check_call(["protoc", "--proto_path=" + root, "--python_out=" + out,
                           "--grpc_python_out=" + out, "--plugin=protoc-gen-grpc_python=" + plugin]
                          + protos, cwd=root)
    for d, _, _ in os.walk(out):
        open(os.path.join(d, "__init__.py"), "a").close()
    sys.path.insert(0, out)
    import importlib
    mods = {
        "ddb": importlib.import_module("proto.dyne.v1.dynamodb_pb2"),
        "ddb_grpc": importlib.import_module("proto.dyne.v1.dynamodb_pb2_grpc"),
        "attr": importlib.import_module("proto.dyne.v1.attribute_pb2"),
        "types": importlib.import_module("proto.dyne.v1.types_pb2"),
        "health": importlib.import_module("proto.grpc.health.v1.health_pb2"),
        "health_grpc": importlib.import_module("proto.grpc.health.v1.health_pb2_grpc"),
    }
    _STUBS = type("Stubs", (), mods)
    return _STUBS


_INTERNAL = None


def internal_stubs():
    """Generates and imports the dyne.internal modules (storage, catalog) next to the dyne.v1 ones
    of stubs(), so both share one `proto` package (once per process)."""
    global _INTERNAL
    if _INTERNAL:
        return _INTERNAL
    s = stubs()
    root = _root()
    out = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(s.ddb.__file__))))
    plugin = shutil.which("grpc_python_plugin") or "/usr/bin/grpc_python_plugin"
    subprocess.check_call(["protoc", "--proto_path=" + root, "--python_out=" + out,
                           "--grpc_python_out=" + out, "--plugin=protoc-gen-grpc_python=" + plugin,
                           "proto/dyne/internal/storage.proto", "proto/dyne/internal/catalog.proto"],
                          cwd=root)
    for d, _, _ in os.walk(out):
        open(os.path.join(d, "__init__.py"), "a").close()
    import importlib
    importlib.invalidate_caches()
    mods = {
        "storage": importlib.import_module("proto.dyne.internal.storage_pb2"),
        "storage_grpc": importlib.import_module("proto.dyne.internal.storage_pb2_grpc"),
        "catalog": importlib.import_module("proto.dyne.internal.catalog_pb2"),
    }
    _INTERNAL = type("InternalStubs", (), mods)
    return _INTERNAL


# ---- DynamoDB JSON <-> dyne.v1 protobuf, generic over descriptors ----

def _is_wrapper(desc):
    """A message whose only field is `repeated ... values` renders as a bare JSON array."""
    return len(desc.fields) == 1 and desc.fields[0].name == "values" and \
        desc.fields[0].label == desc.fields[0].LABEL_REPEATED and \
        desc.full_name not in ("dyne.v1.AttributeValueMap",)


def _is_map_field(f):
    return f.message_type is not None and f.message_type.GetOptions().map_entry


def _set_attr_value(msg, v):
    if not isinstance(v, dict) or len(v) != 1:
        raise ValueError("AttributeValue must have exactly one type: %r" % (v,))
    (t, x), = v.items()
    if t in ("S", "N"):
        setattr(msg, t, x)
    elif t == "B":
        msg.B = base64.b64decode(x) if isinstance(x, str) else x
    elif t in ("BOOL", "NULL"):
        setattr(msg, t, bool(x))
    elif t == "L":
        msg.L.SetInParent()
        for e in x:
            _set_attr_value(msg.L.values.add(), e)
    elif t == "M":
        msg.M.SetInParent()
        for k, e in x.items():
            _set_attr_value(msg.M.values[k], e)
    elif t in ("SS", "NS"):
        getattr(msg, t).SetInParent()
        getattr(msg, t).values.extend(x)
    elif t == "BS":
        msg.BS.SetInParent()
        msg.BS.values.extend([base64.b64decode(e) if isinstance(e, str) else e for e in x])
    else:
        raise ValueError("unknown AttributeValue type %s" % t)


def from_json(msg, obj):
    """Fills protobuf message `msg` from a DynamoDB-shaped JSON object."""
    d = msg.DESCRIPTOR
    if d.full_name == "dyne.v1.AttributeValue":
        _set_attr_value(msg, obj)
        return msg
    if d.full_name == "dyne.v1.AttributeValueMap":
        msg.SetInParent()
        for k, v in obj.items():
            _set_attr_value(msg.values[k], v)
        return msg
    if _is_wrapper(d):
        f = d.fields[0]
        for e in obj:
            if f.message_type is not None:
                from_json(getattr(msg, "values").add(), e)
            else:
                getattr(msg, "values").append(e)
        return msg
    for k, v in obj.items():
        f = d.fields_by_name.get(k)
        if f is None:
            raise ValueError("unknown field %s in %s" % (k, d.full_name))
        if _is_map_field(f):
            vf = f.message_type.fields_by_name["value"]
            m = getattr(msg, k)
            for mk, mv in v.items():
                if vf.message_type is not None:
                    from_json(m[mk], mv)
                else:
                    m[mk] = mv
        elif f.label == f.LABEL_REPEATED:
            r = getattr(msg, k)
            for e in v:
                if f.message_type is not None:
                    from_json(r.add(), e)
                else:
                    r.append(e)
        elif f.message_type is not None:
            sub = getattr(msg, k)
            sub.SetInParent()
            from_json(sub, v)
        else:
            setattr(msg, k, v)
    return msg


def _attr_to_json(m):
    t = m.WhichOneof("value")
    if t in ("S", "N"):
        return {t: getattr(m, t)}
    if t == "B":
        return {"B": base64.b64encode(m.B).decode()}
    if t in ("BOOL", "NULL"):
        return {t: getattr(m, t)}
    if t == "L":
        return {"L": [_attr_to_json(e) for e in m.L.values]}
    if t == "M":
        return {"M": {k: _attr_to_json(v) for k, v in m.M.values.items()}}
    if t in ("SS", "NS"):
        return {t: list(getattr(m, t).values)}
    if t == "BS":
        return {"BS": [base64.b64encode(e).decode() for e in m.BS.values]}
    return {}


def to_json(msg):
    """DynamoDB-shaped JSON (dicts/lists) of a protobuf message; unset fields are omitted."""
    d = msg.DESCRIPTOR
    if d.full_name == "dyne.v1.AttributeValue":
        return _attr_to_json(msg)
    if d.full_name == "dyne.v1.AttributeValueMap":
        return {k: _attr_to_json(v) for k, v in msg.values.items()}
    if _is_wrapper(d):
        vals = msg.values
        return [to_json(e) if d.fields[0].message_type is not None else e for e in vals]
    out = {}
    for f, v in msg.ListFields():
        if _is_map_field(f):
            vf = f.message_type.fields_by_name["value"]
            out[f.name] = {k: (to_json(x) if vf.message_type is not None else x) for k, x in v.items()}
        elif f.label == f.LABEL_REPEATED:
            out[f.name] = [to_json(e) if f.message_type is not None else e for e in v]
        elif f.message_type is not None:
            out[f.name] = to_json(v)
        else:
            out[f.name] = v
    return out


class DyneError(Exception):
    def __init__(self, code, etype, message, detail=None):
        Exception.__init__(self, "%s (%s): %s" % (etype, code, message))
        self.code = code          # grpc.StatusCode
        self.type = etype         # DynamoDB error type, e.g. ValidationException
        self.message = message
        self.detail = detail      # dyne.v1.ErrorDetail from "dyn-error-bin" as JSON, or None


class Client:
    """Calls dyne.v1.DynamoDB with DynamoDB-shaped JSON requests and responses."""

    def __init__(self, target):
        s = stubs()
        self.s = s
        # answers reach 16 MB (BatchGetItem) plus framing: gRPC's default cap is 4 MB
        self.channel = grpc.insecure_channel(target, options=[
            ("grpc.max_receive_message_length", 64 << 20)])
        self.stub = s.ddb_grpc.DynamoDBStub(self.channel)

    def call(self, op, req=None, timeout=30):
        s = self.s
        msg = from_json(getattr(s.ddb, op + "Input")(), req or {})
        try:
            resp = getattr(self.stub, op)(msg, timeout=timeout)
        except grpc.RpcError as e:
            md = dict(e.trailing_metadata() or ())
            detail = None
            if md.get("dyn-error-bin") is not None:
                d = s.ddb.ErrorDetail()
                d.ParseFromString(md["dyn-error-bin"])
                detail = to_json(d)
            raise DyneError(e.code(), md.get("dyn-err-type", ""), e.details(), detail)
        return to_json(resp)

    def raw(self, op, payload, timeout=10):
        """Sends raw bytes as the request of `op` (malformed-input tests)."""
        fn = self.channel.unary_unary("/dyne.v1.DynamoDB/" + op,
                                      request_serializer=lambda b: b,
                                      response_deserializer=lambda b: b)
        try:
            return fn(payload, timeout=timeout)
        except grpc.RpcError as e:
            md = dict(e.trailing_metadata() or ())
            raise DyneError(e.code(), md.get("dyn-err-type", ""), e.details())

    def close(self):
        self.channel.close()


# ---- processes ----

def wt_command(home):
    """The `wt` utility on a storage node's database, with the compressors libs/kv loads (Debian's
    libwiredtiger0 puts them beside libwiredtiger.so.0)."""
    exts = []
    for name in ("snappy", "zlib"):
        found = glob.glob("/usr/lib/*/libwiredtiger_%s.so" % name) + glob.glob("/usr/lib/libwiredtiger_%s.so" % name)
        assert found, "libwiredtiger_%s.so missing" % name
        exts.append('"%s"' % found[0])
    return ["wt", "-C", "extensions=[%s]" % ",".join(exts), "-h", home]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def _wait_http(url, proc, timeout=30, what="service"):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s" % (what, proc.returncode))
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.05)
    raise RuntimeError("%s did not become healthy at %s" % (what, url))


def terminate(p, timeout=10):
    """SIGTERM to subprocess p (if it still runs), SIGKILL after timeout seconds; waits."""
    if p.poll() is None:
        os.kill(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()


class Proc:
    def __init__(self, name, argv, log_path):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)

    @property
    def pid(self):
        return self.p.pid

    def kill9(self):
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGKILL)
        self.p.wait()

    def stop(self, timeout=10):
        terminate(self.p, timeout)
        self.log.close()
        return self.p.returncode

    def stacks(self):
        """Every thread's stack (gdb, when the machine has it): what a process that stopped
        making progress is waiting on."""
        if self.p.poll() is not None:
            return "(exited with %s)" % self.p.returncode
        gdb = shutil.which("gdb")
        if gdb is None:
            return "(no gdb here)"
        try:
            r = subprocess.run([gdb, "-batch", "-p", str(self.p.pid), "-ex",
                                "thread apply all bt"], capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            return "(gdb: %s)" % e
        return r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")[-2000:]

    def tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""


class Cluster:
    """etcd + storage nodes + a controller + an indexer + one router on free loopback ports, data under a
    temp dir. router_args: extra router flags (e.g. ["--auth=sigv4", "--credentials-file=..."]),
    after the harness's own so they win. storage_nodes: how many storage nodes start() starts
    (the first is "storage", the others "s2", "s3", ...); storage_args: extra flags for each."""

    def __init__(self, tmp=None, router_args=None, storage_nodes=1, storage_args=None):
        self.tmp = tmp or tempfile.mkdtemp(prefix="dyne-test-", dir=os.environ.get("TEST_TMPDIR"))
        self.procs = {}
        self.etcd_port = free_port()
        self.etcd_peer = free_port()
        self.storage_port = free_port()
        self.storage_http = free_port()
        self.router_port = free_port()
        self.router_http = free_port()
        self.router_ddb = free_port()      # the DynamoDB-compatible HTTP endpoint
        self.router_args = list(router_args or [])
        self.nodes = {}         # extra storage nodes: name -> {"port", "http", "node_id"}
        self.controllers = {}   # controllers: name -> {"port", "http", "node_id"}
        self.indexers = {}      # indexers: name -> {"port", "http", "node_id"}
        self.storage_nodes = storage_nodes
        self.storage_args = list(storage_args or [])

    def start(self):
        """etcd, the storage nodes, the controller (it drives table lifecycles: CreateTable
        answers CREATING and the controller makes the table ACTIVE), the indexer (it fills
        global secondary indexes), then the router."""
        self.start_etcd()
        self.start_storage()
        for i in range(2, self.storage_nodes + 1):
            self.add_storage("s%d" % i, args=self.storage_args)
        self.start_controller()
        self.start_indexer()
        self.start_router()
        return self

    def start_etcd(self):
        d = os.path.join(self.tmp, "etcd")
        c = "http://127.0.0.1:%d" % self.etcd_port
        pu = "http://127.0.0.1:%d" % self.etcd_peer
        p = Proc("etcd", ["etcd", "--name", "default", "--data-dir", d,
                          "--listen-client-urls", c, "--advertise-client-urls", c,
                          "--listen-peer-urls", pu, "--initial-advertise-peer-urls", pu,
                          "--initial-cluster", "default=" + pu, "--log-level", "error"],
                 os.path.join(self.tmp, "etcd.log"))
        self.procs["etcd"] = p
        _wait_http(c + "/health", p.p, what="etcd")

    def start_storage(self):
        p = Proc("storage", [binary("storage"),
                             "--listen=127.0.0.1:%d" % self.storage_port,
                             "--http-listen=127.0.0.1:%d" % self.storage_http,
                             "--data-dir=" + os.path.join(self.tmp, "storage"),
                             "--etcd=127.0.0.1:%d" % self.etcd_port] + self.storage_args,
                 os.path.join(self.tmp, "storage.log"))
        self.procs["storage"] = p
        try:
            _wait_http("http://127.0.0.1:%d/healthz" % self.storage_http, p.p, what="storage")
        except RuntimeError:
            sys.stderr.write(p.tail())
            raise

    def start_router(self):
        p = Proc("router", [binary("router"),
                            "--listen=127.0.0.1:%d" % self.router_port,
                            "--http-listen=127.0.0.1:%d" % self.router_http,
                            "--ddb-listen=127.0.0.1:%d" % self.router_ddb,
                            "--etcd=127.0.0.1:%d" % self.etcd_port] + self.router_args,
                 os.path.join(self.tmp, "router.log"))
        self.procs["router"] = p
        try:
            _wait_http("http://127.0.0.1:%d/healthz" % self.router_http, p.p, what="router")
        except RuntimeError:
            sys.stderr.write(p.tail())
            raise

    def _spawn(self, name, argv, http_port):
        """Starts argv as process `name` (a key of self.procs, log <tmp>/<name>.log) and waits
        for /healthz on http_port."""
        p = Proc(name, argv, os.path.join(self.tmp, name + ".log"))
        self.procs[name] = p
        try:
            _wait_http("http://127.0.0.1:%d/healthz" % http_port, p.p, what=name)
        except RuntimeError:
            sys.stderr.write(p.tail())
            raise
        return p

    def add_storage(self, name, node_id=None, args=None):
        """Starts another storage node `name` (a key of self.procs) on free loopback ports with
        its data under <tmp>/<name>, and waits for its health. Starting a name again (after it
        stopped) reuses its ports, data dir and node id: a restart. Returns its Proc."""
        n = self.nodes.get(name)
        if n is None:
            n = self.nodes[name] = {"port": free_port(), "http": free_port(),
                                    "node_id": node_id or name}
        return self._spawn(name, [binary("storage"),
                                  "--listen=127.0.0.1:%d" % n["port"],
                                  "--http-listen=127.0.0.1:%d" % n["http"],
                                  "--data-dir=" + os.path.join(self.tmp, name),
                                  "--node-id=" + n["node_id"],
                                  "--etcd=127.0.0.1:%d" % self.etcd_port] + list(args or []),
                           n["http"])

    def start_controller(self, name="controller", node_id=None, args=None):
        """Starts a controller `name` (a key of self.procs) on free loopback ports, its leader-key
        name node_id (default: name), and waits for its health. Starting a name again reuses its
        ports. Returns its Proc; its /metrics port is self.controllers[name]["http"]."""
        n = self.controllers.get(name)
        if n is None:
            n = self.controllers[name] = {"port": free_port(), "http": free_port(),
                                          "node_id": node_id or name}
        return self._spawn(name, [binary("controller"),
                                  "--listen=127.0.0.1:%d" % n["port"],
                                  "--http-listen=127.0.0.1:%d" % n["http"],
                                  "--node-id=" + n["node_id"],
                                  "--etcd=127.0.0.1:%d" % self.etcd_port] + list(args or []),
                           n["http"])

    def start_indexer(self, name="indexer", node_id=None, args=None):
        """Starts an indexer `name` (a key of self.procs) on free loopback ports with its
        position files under <tmp>/<name>, its leader-key name node_id (default: name), and
        waits for its health. Starting a name again reuses its ports and data. Returns its Proc;
        its /metrics port is self.indexers[name]["http"]."""
        n = self.indexers.get(name)
        if n is None:
            n = self.indexers[name] = {"port": free_port(), "http": free_port(),
                                       "node_id": node_id or name}
        return self._spawn(name, [binary("indexer"),
                                  "--listen=127.0.0.1:%d" % n["port"],
                                  "--http-listen=127.0.0.1:%d" % n["http"],
                                  "--node-id=" + n["node_id"],
                                  "--data-dir=" + os.path.join(self.tmp, name),
                                  "--poll-ms=200",
                                  "--etcd=127.0.0.1:%d" % self.etcd_port] + list(args or []),
                           n["http"])

    def etcd(self):
        """A small client of the cluster's etcd (its JSON gateway)."""
        return Etcd(self.etcd_port)

    def client(self):
        return Client("127.0.0.1:%d" % self.router_port)

    def ddb_endpoint(self):
        """URL of the router's DynamoDB-compatible HTTP endpoint (for boto3 / the AWS CLI)."""
        return "http://127.0.0.1:%d" % self.router_ddb

    def diagnose(self, stacks=("indexer",), lines=40):
        """Prints every process's log tail, and the thread stacks of those named in stacks:
        run_tests' on_failure for suites whose failures are timing-dependent."""
        for name, p in self.procs.items():
            if name != "etcd":
                sys.stdout.write("---- %s log tail ----\n%s\n" % (name, p.tail(lines)))
        for name in stacks:
            if name in self.procs:
                sys.stdout.write("---- %s stacks ----\n%s\n" % (name, self.procs[name].stacks()))
        sys.stdout.flush()

    def stop(self):
        for name in [n for n in self.procs if n not in ("router", "storage", "etcd")]:
            self.procs.pop(name).stop()
        for name in ("router", "storage", "etcd"):
            p = self.procs.pop(name, None)
            if p is not None:
                p.stop()
        if not os.environ.get("DYNE_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ---- etcd (through its JSON gateway, /v3/kv/...) and /metrics ----

class Etcd:
    """Reads and writes etcd keys over etcd's HTTP/JSON gateway. Values are bytes; revisions
    ints. A key is returned as {"value", "mod_revision", "create_revision", "lease"}."""

    def __init__(self, port):
        self.url = "http://127.0.0.1:%d/v3/kv/" % port

    @staticmethod
    def _b64(b):
        return base64.b64encode(b.encode() if isinstance(b, str) else b).decode()

    def _call(self, op, body):
        import json
        req = urllib.request.Request(self.url + op, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read().decode())

    @staticmethod
    def _kv(kv):
        return {"key": base64.b64decode(kv["key"]).decode(),
                "value": base64.b64decode(kv.get("value", "")),
                "mod_revision": int(kv.get("mod_revision", 0)),
                "create_revision": int(kv.get("create_revision", 0)),
                "lease": int(kv.get("lease", 0))}

    def get(self, key):
        kvs = self._call("range", {"key": self._b64(key)}).get("kvs", [])
        return self._kv(kvs[0]) if kvs else None

    def range(self, prefix):
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        r = self._call("range", {"key": self._b64(prefix), "range_end": self._b64(end)})
        return [self._kv(kv) for kv in r.get("kvs", [])]

    def put(self, key, value):
        self._call("put", {"key": self._b64(key), "value": self._b64(value)})

    def delete(self, key):
        return int(self._call("deleterange", {"key": self._b64(key)}).get("deleted", 0))

    def cas(self, key, mod_revision, value):
        """Writes value only if key is still at mod_revision; True if it did."""
        r = self._call("txn", {
            "compare": [{"key": self._b64(key), "result": "EQUAL", "target": "MOD",
                         "mod_revision": str(mod_revision)}],
            "success": [{"request_put": {"key": self._b64(key), "value": self._b64(value)}}]})
        return bool(r.get("succeeded"))


def scrape(http_port, timeout=2):
    """A service's /metrics as {series (with its labels, as printed): float}; {} if it does
    not answer."""
    out = {}
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % http_port,
                                    timeout=timeout) as r:
            text = r.read().decode()
    except Exception:
        return out
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, v = line.rpartition(" ")
            try:
                out[name] = float(v)
            except ValueError:
                pass
    return out


# ---- a tiny test runner: prints per-case results and the "N passed, M failed" line ----

def run_tests(cases, on_failure=None):
    """Runs (name, fn) cases in order. on_failure(): called after a failed case, to print what
    explains it (log tails, stacks)."""
    passed = failed = 0
    for name, fn in cases:
        t0 = time.time()
        try:
            fn()
            passed += 1
            print("ok   %s (%.2fs)" % (name, time.time() - t0), flush=True)
        except Exception as e:  # a failed assertion or an unexpected error
            failed += 1
            import traceback
            print("FAIL %s: %s" % (name, e), flush=True)
            traceback.print_exc()
            if on_failure is not None:
                try:
                    on_failure()
                except Exception as d:   # noqa: BLE001 -- a diagnostic must not hide the failure
                    print("(on_failure: %s)" % d, flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


def wait_for(fn, timeout, what):
    """fn()'s first true value, polled every 50 ms; AssertionError after timeout seconds."""
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


def has_partition(addr, pid):
    """Whether the storage node at addr holds partition pid (its PartitionStats answers)."""
    i = internal_stubs()
    with grpc.insecure_channel(addr) as ch:
        try:
            i.storage_grpc.StorageStub(ch).PartitionStats(
                i.storage.PartitionStatsRequest(partition_id=pid), timeout=10)
            return True
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise


def wait_active(client, table, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        d = client.call("DescribeTable", {"TableName": table})["Table"]
        if d["TableStatus"] == "ACTIVE":
            return d
        time.sleep(0.05)
    raise AssertionError("table %s not ACTIVE in %ss" % (table, timeout))
