#!/usr/bin/env python3
"""The benchmark driver (issue #6): `make bench` / `make bench-quick`.

Builds the peers, then runs each server in turn, pinned to core 0 (taskset),
and drives it from core 1 with h2load and ghz. For every run it reads the
server's CPU time (utime+stime of /proc/PID/stat, all threads) and memory
(VmRSS, VmHWM of /proc/PID/status). Correctness is checked separately with a
real grpcio call (h2load only counts HTTP 2xx). Results go to
OUT/results.json, OUT/results.md and OUT/*.png.

  run.py [--quick] [--out DIR] [--scenarios echo,memory,todos,locust]
         [--servers ugrpc,grpc-go,tonic,cpp,nghttpd] [--duration S]

Every loop is bounded: fixed matrices, fixed durations, timeouts on every
child process. Load stays on 127.0.0.1.
"""

import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TOOLS = ROOT / ".tools" / "bin"
PY = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVER_CPU, CLIENT_CPU = "0", "1"
ECHO_PATH = "/helloworld.Greeter/SayHello"
ALL_SERVERS = ["ugrpc", "grpc-go", "tonic", "cpp", "nghttpd"]


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} not open after {timeout}s")


class Server:
    """A server process pinned to SERVER_CPU."""

    def __init__(self, name, argv, port, env=None, logdir=None):
        self.name, self.port = name, port
        e = dict(os.environ)
        e.update(env or {})
        self.log = open(Path(logdir or tempfile.gettempdir()) / f"{name}.log", "w")
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, *argv], env=e,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        wait_port(port, self.proc)

    def cpu_seconds(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime

    def status_kib(self, key):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return 0

    def rss_kib(self):
        return self.status_kib("VmRSS")

    def hwm_kib(self):
        return self.status_kib("VmHWM")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


def run(argv, timeout, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def client(argv):
    return ["taskset", "-c", CLIENT_CPU, *argv]


# ---------------------------------------------------------------- builds

def build(out, servers, scen):
    """Builds what the chosen servers and scenarios need; returns their argv."""
    out.mkdir(parents=True, exist_ok=True)
    bins = {}
    if os.environ.get("BENCH_NO_MAKE") != "1":  # `make bench` has built `all` already
        log("building the library and todo-api (make all)")
        if subprocess.run(["make", "-s", "-C", str(ROOT), "all"], timeout=900).returncode != 0:
            # Other work in progress may break the app; the library alone may still build.
            log("WARNING: make all failed; building the library alone and using the existing todo-api")
            subprocess.run(["make", "-s", "-C", str(ROOT), "build/libugrpc.a", "build/ugrpc.pc"],
                           check=True, timeout=900)
    if "ugrpc" in servers or "memory" in scen:
        subprocess.run([str(HERE / "peers/ugrpc/build.sh"), str(out)], check=True, timeout=300)
        bins["ugrpc"] = [str(out / "ugrpc-echo")]
    need_go = ("grpc-go" in servers and ({"echo", "memory"} & set(scen))) or ({"todos", "locust"} & set(scen))
    if need_go and shutil.which("go"):
        log("building the Go peers (echo and the todos mirror)")
        subprocess.run([str(HERE / "peers/go/build.sh"), str(out)], check=True, timeout=900)
        bins["grpc-go"] = [str(out / "grpc-go-echo")]
        bins["todos-mirror"] = [str(out / "todos-mirror")]
    if "echo" in scen and "tonic" in servers and shutil.which("cargo"):
        log("building the tonic peer (cargo build --release --locked)")
        target = out / "tonic-target"
        subprocess.run(["cargo", "build", "--release", "--locked", "-q", "--target-dir", str(target)],
                       cwd=HERE / "peers/tonic", check=True, timeout=1800)
        bins["tonic"] = [str(target / "release/tonic-echo")]
    if "echo" in scen and "cpp" in servers and shutil.which("grpc_cpp_plugin"):
        log("building the gRPC C++ peer")
        subprocess.run([str(HERE / "peers/cpp/build.sh"), str(out)], check=True, timeout=600)
        bins["cpp"] = [str(out / "cpp-echo")]
    return bins


def gen_python(out):
    """grpcio stubs for helloworld and todos into out/py."""
    from grpc_tools import protoc
    import grpc_tools
    py = out / "py"
    py.mkdir(parents=True, exist_ok=True)
    inc = Path(grpc_tools.__file__).parent / "_proto"
    for d, name in ((HERE / "proto", "helloworld.proto"), (ROOT / "proto", "todos.proto")):
        rc = protoc.main(["protoc", f"-I{d}", f"-I{inc}", f"--python_out={py}",
                          f"--grpc_python_out={py}", str(d / name)])
        if rc != 0:
            raise RuntimeError(f"protoc {name} failed")
    sys.path.insert(0, str(py))
    return py


def echo_payload():
    """The grpc_bench complex_proto request (its published payload values)."""
    import helloworld_pb2 as hw
    hello = hw.Hello(name="a name", d=4.55332, f=232.3, b=True, n=32, l=444325235223, c1="ofcouse",
                     pets=[hw.Pet(name="Bof the dog", color=hw.Pet.BLUE),
                           hw.Pet(name="Kim the cat", color=hw.Pet.RED)])
    return hw.HelloRequest(request=hello)


def grpc_frame(msg_bytes):
    return b"\x00" + len(msg_bytes).to_bytes(4, "big") + msg_bytes


# ---------------------------------------------------------------- clients

def h2load(port, conns, streams, duration, body, path=ECHO_PATH, logfile=None):
    threads = 1
    argv = ["h2load", "-D", str(max(1, int(round(duration)))), "-c", str(conns), "-m", str(streams), "-t", str(threads),
            "-d", str(body), "-H", "content-type: application/grpc", "-H", "te: trailers",
            f"http://127.0.0.1:{port}{path}"]
    if logfile:
        argv.insert(1, f"--log-file={logfile}")
    r = run(client(argv), timeout=duration + 60)
    out = r.stdout
    res = {"conns": conns, "streams": streams, "duration_s": duration}
    m = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", out)
    if not m:
        raise RuntimeError(f"h2load output not understood:\n{out}\n{r.stderr}")
    res["rps"] = float(m.group(3))
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored, (\d+) timeout", out)
    res.update(done=int(m.group(3)), succeeded=int(m.group(4)), failed=int(m.group(5)),
               errored=int(m.group(6)))
    m = re.search(r"status codes: (\d+) 2xx", out)
    res["http_2xx"] = int(m.group(1)) if m else 0
    if logfile and Path(logfile).exists():
        lat = []
        with open(logfile) as f:
            for line in f:
                p = line.split("\t")
                if len(p) >= 3:
                    lat.append(int(p[2]))
        Path(logfile).unlink()
        if lat:
            lat.sort()
            res["p50_ms"] = lat[len(lat) // 2] / 1000.0
            res["p99_ms"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))] / 1000.0
    return res


def ghz(port, call, conc, duration, data=None, proto=None, import_paths=(), extra=(), total=None):
    """ghz for `duration` seconds, or for `total` calls when given. With a
    duration, ghz cancels the calls in flight when time is up: those are
    counted as "canceled", not as errors."""
    load = ["-n", str(total)] if total else ["-z", f"{duration}s"]
    argv = [str(TOOLS / "ghz"), "--insecure", "--call", call, "-c", str(conc), *load,
            "--connections", str(min(conc, 10)), "-O", "json"]
    if proto:
        argv += ["--proto", str(proto)] + ([f"--import-paths={','.join(map(str, import_paths))}"] if import_paths else [])
    if data is not None:
        argv += ["-d", json.dumps(data)]
    argv += [*extra, f"127.0.0.1:{port}"]
    r = run(client(argv), timeout=duration + 60)
    try:
        rep = json.loads(r.stdout)
    except json.JSONDecodeError as e:
        raise RuntimeError(f"ghz output not JSON: {r.stdout[:500]} {r.stderr[:500]}") from e
    pct = {int(p["percentage"]): p["latency"] / 1e6 for p in rep.get("latencyDistribution") or []}
    codes = rep.get("statusCodeDistribution") or {}
    errors = sum(v for k, v in codes.items() if k not in ("OK", "Canceled"))
    if total:
        errors += codes.get("Canceled", 0)
    return {"rps": rep.get("rps", 0.0), "count": rep.get("count", 0), "errors": errors,
            "canceled_at_end": 0 if total else codes.get("Canceled", 0),
            "status": rep.get("statusCodeDistribution"), "p50_ms": pct.get(50), "p99_ms": pct.get(99),
            "conc": conc, "duration_s": duration}


def check_echo(port, req):
    import grpc
    import helloworld_pb2_grpc
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        rep = helloworld_pb2_grpc.GreeterStub(ch).SayHello(req, timeout=5)
    return rep.response == req.request


def measure(srv, fn):
    """Runs fn() and returns its result with the server's CPU per request."""
    c0, t0 = srv.cpu_seconds(), time.monotonic()
    res = fn()
    cpu, wall = srv.cpu_seconds() - c0, time.monotonic() - t0
    n = res.get("done") or res.get("count") or 0
    res["server_cpu_s"] = round(cpu, 3)
    res["server_cpu_share"] = round(cpu / wall, 3) if wall > 0 else None
    res["cpu_us_per_req"] = round(cpu * 1e6 / n, 2) if n else None
    res["rss_kib"] = srv.rss_kib()
    return res


# ---------------------------------------------------------------- scenarios

def scenario_echo(bins, servers, quick, work, duration):
    req = echo_payload()
    body = work / "echo-request.bin"
    body.write_bytes(grpc_frame(req.SerializeToString()))
    import helloworld_pb2 as hw
    reply = hw.HelloReply(response=req.request).SerializeToString()
    htdocs = work / "htdocs"
    (htdocs / "helloworld.Greeter").mkdir(parents=True, exist_ok=True)
    # nghttpd's static answer: the bytes of the framed gRPC reply (same size).
    (htdocs / "helloworld.Greeter/SayHello").write_bytes(grpc_frame(reply))
    matrix = [(1, 1), (10, 10), (100, 10)] if quick else [(c, m) for c in (1, 10, 100) for m in (1, 10, 100)]
    out = {"request_bytes": len(req.SerializeToString()), "reply_bytes": len(reply), "matrix": matrix,
           "servers": {}}
    for name in servers:
        if name == "nghttpd":
            if not shutil.which("nghttpd"):
                log("skip nghttpd: not installed (Debian nghttp2-server)")
                continue
            argv = ["nghttpd", "--no-tls", "-d", str(htdocs)]
        elif name in bins:
            argv = list(bins[name])
        else:
            log(f"skip {name}: not built")
            continue
        port = free_port()
        log(f"echo: {name} on :{port}")
        srv = Server(name, argv + [str(port)], port, logdir=work)
        try:
            entry = {"idle_rss_kib": None, "runs": []}
            time.sleep(0.3)
            entry["idle_rss_kib"] = srv.rss_kib()
            if name == "nghttpd":
                r = h2load(port, 1, 1, 1, body)
                entry["correct"] = r["http_2xx"] > 0
            else:
                entry["correct"] = check_echo(port, req)
            h2load(port, 10, 10, 1, body)  # warm-up
            for c, m in matrix:
                lf = work / f"h2load-{name}.log"
                r = measure(srv, lambda: h2load(port, c, m, duration, body, logfile=lf))
                log(f"  c={c} m={m}: {r['rps']:.0f} req/s, {r['cpu_us_per_req']} us/req, p99 {r.get('p99_ms')} ms")
                entry["runs"].append(r)
            if name != "nghttpd" and (TOOLS / "ghz").exists():
                g = measure(srv, lambda: ghz(port, "helloworld.Greeter.SayHello", 50, max(2, duration),
                                             data=json.loads(_to_json(req)), proto=HERE / "proto/helloworld.proto",
                                             import_paths=[HERE / "proto"], total=int(3000 * duration)))
                log(f"  ghz c=50: {g['rps']:.0f} req/s, errors {g['errors']}, p99 {g['p99_ms']} ms")
                entry["ghz"] = g
            entry["peak_rss_kib"] = srv.hwm_kib()
        finally:
            srv.stop()
        out["servers"][name] = entry
    return out


def _to_json(msg):
    from google.protobuf import json_format
    return json_format.MessageToJson(msg, preserving_proto_field_name=True)


def scenario_memory(bins, work, conns):
    out = {}
    for name in ("ugrpc", "grpc-go"):
        if name not in bins:
            continue
        port = free_port()
        srv = Server(f"mem-{name}", bins[name] + [str(port)], port, logdir=work)
        try:
            time.sleep(0.5)
            idle = srv.rss_kib()
            p = subprocess.Popen(client([PY, str(HERE / "idle_conns.py"), str(port), str(conns), "60"]),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            line = p.stdout.readline().strip()
            opened = int(line.split()[1]) if line.startswith("open ") else 0
            time.sleep(2.0)
            alive = p.poll() is None
            held = srv.rss_kib()
            p.terminate()
            p.wait(timeout=30)
            per = (held - idle) / opened if opened else None
            out[name] = {"idle_rss_kib": idle, "conns": opened, "rss_with_conns_kib": held,
                         "kib_per_conn": round(per, 2) if per else None, "client_alive": alive}
            log(f"memory: {name}: idle {idle} KiB, {opened} conns -> {held} KiB ({out[name]['kib_per_conn']} KiB/conn)")
        finally:
            srv.stop()
    return out


class FerretDB:
    def __init__(self, work):
        self.dir = Path(tempfile.mkdtemp(prefix="ferret_", dir=work))
        self.port = free_port()
        self.log = open(work / "ferretdb.log", "w")
        self.proc = subprocess.Popen(
            ["taskset", "-c", CLIENT_CPU, str(TOOLS / "ferretdb"), "--handler=sqlite",
             f"--sqlite-url=file:{self.dir}/", f"--state-dir={self.dir}",
             f"--listen-addr=127.0.0.1:{self.port}", "--debug-addr=-", "--telemetry=disable",
             "--log-level=warn"], stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc)
        self.uri = f"mongodb://127.0.0.1:{self.port}/"

    def seed(self, n):
        import pymongo
        with pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=10000) as c:
            coll = c["TodosDB"]["todos"]
            coll.delete_many({})
            docs = [{"title": "Add my todos", "tag": "default", "priority": 1}]
            docs += [{"title": f"todo {i}", "tag": "bench", "priority": i % 5} for i in range(1, n)]
            coll.insert_many(docs)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def todo_servers(bins, db):
    todo_api = str(ROOT / "build/todo-api")
    return [
        ("todo-api (single flight on)", [todo_api, "--store", "mongo", "--mongo-uri", db.uri,
                                         "--single-flight", "true", "--log-level", "warn", "--port"], {}),
        ("todo-api (single flight off)", [todo_api, "--store", "mongo", "--mongo-uri", db.uri,
                                          "--single-flight", "false", "--log-level", "warn", "--port"], {}),
        ("go-mirror", bins["todos-mirror"], {"MONGO_URI": db.uri}),
    ]


def check_todos(port):
    import grpc
    import todos_pb2
    import todos_pb2_grpc
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        rep = todos_pb2_grpc.TodosStub(ch).GetTodos(todos_pb2.Request(token="xyz"), timeout=10)
    return len(rep.todos), any(t.title == "Add my todos" for t in rep.todos)


def scenario_todos(bins, work, duration, ndocs):
    db = FerretDB(work)
    out = {"concurrency": 64, "documents": ndocs, "servers": {}}
    try:
        db.seed(ndocs)
        for name, argv, env in todo_servers(bins, db):
            port = free_port()
            if name.startswith("go-mirror"):
                env = dict(env, SERVER_PORT=str(port))
                a = argv
            else:
                a = argv + [str(port)]
            srv = Server(re.sub(r"\W+", "-", name), a, port, env=env, logdir=work)
            try:
                n, seeded = check_todos(port)
                r = measure(srv, lambda: ghz(port, "grpc.Todos.GetTodos", 64, duration, data={"token": "xyz"},
                                             proto=ROOT / "proto/todos.proto", import_paths=[ROOT / "proto", "/usr/include"]))
                r.update(todos_returned=n, seed_present=seeded, peak_rss_kib=srv.hwm_kib())
                log(f"todos: {name}: {r['rps']:.0f} req/s, errors {r['errors']}, p99 {r['p99_ms']} ms, "
                    f"{r['cpu_us_per_req']} us/req")
                out["servers"][name] = r
            finally:
                srv.stop()
    finally:
        db.stop()
    return out


def scenario_locust(bins, work, users, run_time, py_gen):
    """The walkthrough's scenario (GetTodos only, wait 0.1..1 s) against
    todo-api and the Go mirror, both on FerretDB."""
    locust = ROOT / ".venv/bin/locust"
    if not locust.exists():
        log("skip locust: .venv/bin/locust missing")
        return {}
    db = FerretDB(work)
    out = {"users": users, "run_time_s": run_time, "servers": {}}
    try:
        db.seed(10)
        for name, argv, env in todo_servers(bins, db):
            if "off" in name:
                continue
            port = free_port()
            if name.startswith("go-mirror"):
                env = dict(env, SERVER_PORT=str(port))
                a = argv
            else:
                a = argv + [str(port)]
            srv = Server(re.sub(r"\W+", "-", name) + "-locust", a, port, env=env, logdir=work)
            rep = work / f"locust-{re.sub(r'[^a-z]+', '-', name)}"
            try:
                def go():
                    e = dict(os.environ, LOCUST_MODE="headless", TARGET_HOST=f"127.0.0.1:{port}", USERS=str(users),
                             SPAWN_RATE=str(max(10, users // 5)), RUN_TIME=f"{run_time}s", TAGS="walkthrough",
                             REPORT_DIR=str(rep), LOCUST=str(locust), PY_GEN=str(py_gen))
                    t0 = time.monotonic()
                    p = subprocess.Popen(client(["bash", str(HERE / "locust/run.sh")]), env=e,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                    cpu_client = 0.0
                    try:
                        _, err = p.communicate(timeout=run_time + 120)
                    finally:
                        if p.poll() is None:
                            p.kill()
                    # the client's CPU (children of run.sh) from getrusage
                    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
                    cpu_client = ru.ru_utime + ru.ru_stime
                    return {"rc": p.returncode, "wall_s": time.monotonic() - t0, "client_cpu_total": cpu_client}
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                r = measure(srv, go)
                r["client_cpu_share"] = round((r.pop("client_cpu_total") - before.ru_utime - before.ru_stime)
                                              / r["wall_s"], 3)
                r.update(parse_locust_csv(rep / "locust_stats.csv"))
                r["cpu_us_per_req"] = round(r["server_cpu_s"] * 1e6 / r["requests"], 2) if r.get("requests") else None
                r["peak_rss_kib"] = srv.hwm_kib()
                log(f"locust: {name}: {r.get('requests')} reqs, {r.get('failures')} failures, "
                    f"{r.get('rps')} req/s, p99 {r.get('p99_ms')} ms, server CPU share {r['server_cpu_share']}, "
                    f"client CPU share {r['client_cpu_share']}")
                out["servers"][name] = r
            finally:
                srv.stop()
    finally:
        db.stop()
    return out


def parse_locust_csv(path):
    import csv
    if not Path(path).exists():
        return {"requests": 0, "failures": None}
    with open(path) as f:
        for row in csv.DictReader(f):
            if row["Name"] == "Aggregated":
                return {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                        "rps": round(float(row["Requests/s"]), 1), "p50_ms": float(row["50%"]),
                        "p99_ms": float(row["99%"])}
    return {"requests": 0, "failures": None}


# ---------------------------------------------------------------- report

def best_of(runs):
    return max(runs, key=lambda r: r["rps"]) if runs else None


def targets(res):
    t = []
    echo = res.get("echo", {}).get("servers", {})
    ours = echo.get("ugrpc")
    peers = {k: v for k, v in echo.items() if k in ("grpc-go", "tonic", "cpp") and v.get("runs")}
    if ours and peers:
        ob = best_of(ours["runs"])
        pname, pent = max(peers.items(), key=lambda kv: best_of(kv[1]["runs"])["rps"])
        pb = best_of(pent["runs"])
        cell = next(r for r in pent["runs"] if (r["conns"], r["streams"]) == (ob["conns"], ob["streams"]))
        ratio = ob["rps"] / pb["rps"]
        cpu_ratio = ob["cpu_us_per_req"] / pb["cpu_us_per_req"] if pb["cpu_us_per_req"] else None
        ok = ratio >= 2 and (cpu_ratio or 9) <= 0.5 and (ob.get("p99_ms") or 0) <= (cell.get("p99_ms") or 0)
        t.append({"target": "1 echo: >=2x req/s of best peer, <=1/2 its CPU/req, p99 no worse", "met": ok,
                  "measured": f"ugrpc best {ob['rps']:.0f} req/s (c={ob['conns']} m={ob['streams']}) vs "
                              f"{pname} best {pb['rps']:.0f} req/s = {ratio:.2f}x; CPU/req "
                              f"{ob['cpu_us_per_req']} vs {pb['cpu_us_per_req']} us = {cpu_ratio:.2f}x; p99 "
                              f"{ob.get('p99_ms')} ms vs {pname} {cell.get('p99_ms')} ms at the same cell"})
    ng = echo.get("nghttpd")
    if ours and ng and ng.get("runs"):
        ratios = [o["rps"] / n["rps"] for o, n in zip(ours["runs"], ng["runs"]) if n["rps"]]
        ob, nb = best_of(ours["runs"]), best_of(ng["runs"])
        t.append({"target": "2 >= 0.8x nghttpd's req/s", "met": ob["rps"] >= 0.8 * nb["rps"],
                  "measured": f"best {ob['rps']:.0f} vs {nb['rps']:.0f} = {ob['rps'] / nb['rps']:.2f}x; "
                              f"per cell min {min(ratios):.2f}x, median {statistics.median(ratios):.2f}x"})
    mem = res.get("memory", {})
    if "ugrpc" in mem:
        m = mem["ugrpc"]
        go_peak = (echo.get("grpc-go") or {}).get("peak_rss_kib")
        our_peak = (ours or {}).get("peak_rss_kib")
        load_ok = bool(go_peak and our_peak and our_peak * 4 <= go_peak)
        ok = m["idle_rss_kib"] <= 4096 and (m["kib_per_conn"] or 99) <= 12 and load_ok
        t.append({"target": "3 idle RSS <=4 MiB, <=12 KiB/idle conn, RSS under load <=1/4 grpc-go's", "met": ok,
                  "measured": f"idle {m['idle_rss_kib']} KiB; {m['kib_per_conn']} KiB/conn over {m['conns']} conns "
                              f"(grpc-go {mem.get('grpc-go', {}).get('kib_per_conn')}); peak under load "
                              f"{our_peak} KiB vs grpc-go {go_peak} KiB"
                              + (f" = {our_peak / go_peak:.2f}x" if go_peak and our_peak else "")})
    todos = res.get("todos", {}).get("servers", {})
    if todos.get("go-mirror"):
        g = todos["go-mirror"]["rps"]
        on = todos.get("todo-api (single flight on)", {}).get("rps", 0)
        off = todos.get("todo-api (single flight off)", {}).get("rps", 0)
        errs = sum(v.get("errors", 0) for v in todos.values())
        t.append({"target": "4 GetTodos via FerretDB >= 3x the Go mirror (64 concurrent)", "met": on >= 3 * g and errs == 0,
                  "measured": f"single flight on {on:.0f} req/s = {on / g:.2f}x, off {off:.0f} = {off / g:.2f}x, "
                              f"mirror {g:.0f} req/s; errors {errs}"})
    loc = res.get("locust", {}).get("servers", {})
    if loc:
        fails = {k: v.get("failures") for k, v in loc.items()}
        t.append({"target": "5 Locust walkthrough: zero failures", "met": all(f == 0 for f in fails.values()),
                  "measured": f"{res['locust']['users']} users: " + ", ".join(
                      f"{k} {v.get('requests')} reqs / {v.get('failures')} failures, p99 {v.get('p99_ms')} ms, "
                      f"server CPU share {v.get('server_cpu_share')}" for k, v in loc.items())})
    return t


def markdown(res):
    L = [f"Run: {res['meta']['date']} on {res['meta']['machine']} ({res['meta']['mode']}); servers on core "
         f"{SERVER_CPU}, clients on core {CLIENT_CPU}.", ""]
    L += ["### Targets", "", "| Target | Met | Measured |", "|---|---|---|"]
    for t in res.get("targets", []):
        L.append(f"| {t['target']} | {'yes' if t['met'] else '**no**'} | {t['measured']} |")
    echo = res.get("echo")
    if echo:
        L += ["", f"### Echo (h2load, {echo['request_bytes']}-byte request, {echo['reply_bytes']}-byte reply)", "",
              "| Server | c x m | req/s | p50 ms | p99 ms | CPU us/req | 2xx | failed |", "|---|---|---|---|---|---|---|---|"]
        for name, e in echo["servers"].items():
            for r in e["runs"]:
                L.append(f"| {name} | {r['conns']} x {r['streams']} | {r['rps']:.0f} | {r.get('p50_ms')} | "
                         f"{r.get('p99_ms')} | {r['cpu_us_per_req']} | {r['http_2xx']} | {r['failed'] + r['errored']} |")
        L += ["", "| Server | correct answer | idle RSS KiB | peak RSS KiB | ghz c=50 req/s | ghz p99 ms | ghz errors |",
              "|---|---|---|---|---|---|---|"]
        for name, e in echo["servers"].items():
            g = e.get("ghz") or {}
            L.append(f"| {name} | {e.get('correct')} | {e['idle_rss_kib']} | {e.get('peak_rss_kib')} | "
                     f"{g.get('rps', 0):.0f} | {g.get('p99_ms')} | {g.get('errors')} |")
    mem = res.get("memory")
    if mem:
        L += ["", "### Idle connections", "", "| Server | idle RSS KiB | conns | RSS with conns KiB | KiB/conn |",
              "|---|---|---|---|---|"]
        for name, m in mem.items():
            L.append(f"| {name} | {m['idle_rss_kib']} | {m['conns']} | {m['rss_with_conns_kib']} | {m['kib_per_conn']} |")
    todos = res.get("todos")
    if todos:
        L += ["", f"### GetTodos through FerretDB ({todos['concurrency']} concurrent, ghz, {todos['documents']} documents)",
              "", "| Server | req/s | p50 ms | p99 ms | CPU us/req | server CPU share | errors | peak RSS KiB |",
              "|---|---|---|---|---|---|---|---|"]
        for name, r in todos["servers"].items():
            L.append(f"| {name} | {r['rps']:.0f} | {_f(r['p50_ms'])} | {_f(r['p99_ms'])} | {r['cpu_us_per_req']} | "
                     f"{r['server_cpu_share']} | {r['errors']} | {r['peak_rss_kib']} |")
    loc = res.get("locust")
    if loc and loc.get("servers"):
        L += ["", f"### Locust walkthrough (GetTodos, wait 0.1-1 s, {loc['users']} users, {loc['run_time_s']} s, FerretDB)",
              "", "| Server | requests | failures | req/s | p50 ms | p99 ms | server CPU share | CPU us/req | client CPU share |",
              "|---|---|---|---|---|---|---|---|---|"]
        for name, r in loc["servers"].items():
            L.append(f"| {name} | {r.get('requests')} | {r.get('failures')} | {r.get('rps')} | {r.get('p50_ms')} | "
                     f"{r.get('p99_ms')} | {r.get('server_cpu_share')} | {r.get('cpu_us_per_req')} | {r.get('client_cpu_share')} |")
    return "\n".join(L) + "\n"


def _f(x):
    return f"{x:.2f}" if isinstance(x, (int, float)) else str(x)


def charts(res, out):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("no matplotlib: charts skipped")
        return []
    files = []
    echo = res.get("echo", {}).get("servers", {})
    if echo:
        names = list(echo)
        cells = [f"{c}x{m}" for c, m in res["echo"]["matrix"]]
        for key, label, fname in (("rps", "requests/s", "echo-rps.png"), ("cpu_us_per_req", "server CPU us per request", "echo-cpu.png"),
                                  ("p99_ms", "p99 latency (ms)", "echo-p99.png")):
            fig, ax = plt.subplots(figsize=(8, 3.2), dpi=72)
            w = 0.8 / len(names)
            for i, n in enumerate(names):
                vals = [r.get(key) or 0 for r in echo[n]["runs"]]
                ax.bar([j + i * w for j in range(len(vals))], vals, w, label=n)
            ax.set_xticks([j + 0.4 - w / 2 for j in range(len(cells))], cells)
            ax.set_xlabel("h2load connections x streams")
            ax.set_ylabel(label)
            if key == "p99_ms":
                ax.set_yscale("log")
            ax.legend(fontsize=7, ncol=len(names))
            fig.tight_layout()
            fig.savefig(out / fname)
            plt.close(fig)
            files.append(fname)
    mem = res.get("memory", {})
    if echo or mem:
        fig, ax = plt.subplots(figsize=(8, 3.2), dpi=72)
        labels, vals = [], []
        for n, e in echo.items():
            labels += [f"{n}\nidle", f"{n}\npeak"]
            vals += [e["idle_rss_kib"] / 1024, (e.get("peak_rss_kib") or 0) / 1024]
        for n, m in mem.items():
            labels.append(f"{n}\n{m['conns']} conns")
            vals.append(m["rss_with_conns_kib"] / 1024)
        ax.bar(range(len(vals)), vals, color="tab:purple")
        ax.set_xticks(range(len(vals)), labels, fontsize=6)
        ax.set_ylabel("RSS (MiB)")
        fig.tight_layout()
        fig.savefig(out / "rss.png")
        plt.close(fig)
        files.append("rss.png")
    todos = res.get("todos", {}).get("servers", {})
    if todos:
        fig, ax = plt.subplots(figsize=(6, 2.6), dpi=72)
        ax.barh(list(todos), [r["rps"] for r in todos.values()], color="tab:green")
        ax.set_xlabel("GetTodos req/s via FerretDB (64 concurrent)")
        fig.tight_layout()
        fig.savefig(out / "todos-rps.png")
        plt.close(fig)
        files.append("todos-rps.png")
    return files


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a short run: small matrix, 1 s runs")
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--work", default=str(ROOT / "build/bench"))
    ap.add_argument("--scenarios", default="echo,memory,todos,locust")
    ap.add_argument("--servers", default=",".join(ALL_SERVERS))
    ap.add_argument("--duration", type=int, default=None, help="seconds per h2load/ghz run")
    ap.add_argument("--idle-conns", type=int, default=10000)
    ap.add_argument("--locust-users", type=int, default=None)
    a = ap.parse_args()
    if (os.cpu_count() or 1) < 2:
        sys.exit("bench: needs 2 cores (server on core 0, client on core 1)")
    for tool in ("taskset", "h2load"):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} not found")
    # Absolute: the peers' build scripts run in their own directories.
    out, work = Path(a.out).resolve(), Path(a.work).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    scen = [s for s in a.scenarios.split(",") if s]
    servers = [s for s in a.servers.split(",") if s]
    duration = a.duration or (1 if a.quick else 5)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by the servers and clients

    bins = build(work / "bin", servers, scen)
    py_gen = gen_python(work)
    res = {"meta": {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": f"{platform.node()} "
                    f"{os.cpu_count()} cores {platform.machine()}", "mode": "quick" if a.quick else "full",
                    "duration_s": duration, "cmd": " ".join(sys.argv)}}
    if "echo" in scen:
        res["echo"] = scenario_echo(bins, servers, a.quick, work, duration)
    if "memory" in scen:
        res["memory"] = scenario_memory(bins, work, min(a.idle_conns, max(100, hard - 200)) if not a.quick
                                        else min(a.idle_conns, 1000))
    if "todos" in scen and (TOOLS / "ferretdb").exists() and (TOOLS / "ghz").exists():
        res["todos"] = scenario_todos(bins, work, 2 if a.quick else 10, 10)
    if "locust" in scen and (TOOLS / "ferretdb").exists():
        res["locust"] = scenario_locust(bins, work, a.locust_users or (20 if a.quick else 300),
                                        8 if a.quick else 30, py_gen)
    res["targets"] = targets(res)
    res["charts"] = charts(res, out)
    (out / "results.json").write_text(json.dumps(res, indent=1) + "\n")
    (out / "results.md").write_text(markdown(res))
    log(f"wrote {out}/results.json, results.md, {', '.join(res['charts'])}")
    print(markdown(res))
    bad = [s for s, e in res.get("echo", {}).get("servers", {}).items() if not e.get("correct")]
    if bad:
        log(f"WRONG ANSWERS from: {', '.join(bad)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
