#!/usr/bin/env python3
"""The soak run (issue #8): `make soak [SOAK_SECONDS=600] [SOAK_ARGS=...]`.

Starts todo-api (in-memory store by default, FerretDB with --store mongo)
with its admin port, then drives a mixed load through grpcio for --seconds:

- W worker threads, each with its own connection (a local subchannel pool,
  so channels never share a TCP connection), calling GetTodos, CreateTodo,
  GetTodo, UpdateTodo, DeleteTodo and ListTodos (walking pages); each worker
  deletes what it created beyond a small cap, so the store stays bounded;
- some calls cancelled by the client right after they start, some with a
  deadline too short to be met, and health Watch streams (the one server
  stream todo-api serves) cancelled after their first message;
- connection churn: every worker replaces its connection every few hundred
  calls, and a churner thread opens a connection for one call and closes it.

Every second a sampler reads the server's VmRSS (/proc/PID/status), its
open fds (/proc/PID/fd) and `ugrpc_connections_open` from /metrics. After
the warm-up it checks that they are flat: the least-squares slope of RSS
over the second half of the run, fds and connections, below thresholds;
then, with every client closed, that fds and connections go back to their
baseline. Outcomes are counted by method and code; a code other than the
ones a call's kind allows (OK everywhere; CANCELLED for cancelled calls;
DEADLINE_EXCEEDED for the short deadlines) is an unexpected failure.

Writes OUT/NAME.json, OUT/NAME.md and OUT/NAME.png (matplotlib; NAME is
`soak` unless --name says otherwise); exits 0 only when the verdict is PASS.

  soak.py [--seconds S] [--store memory|mongo] [--workers W] [--out DIR]
          [--name NAME] [--work DIR] [--bin PATH] [--warmup S]
          [--max-rss-slope KIB_PER_MIN] [--max-rss-growth-kib KIB]
"""

import argparse
import json
import os
import random
import re
import sys
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402  (free_port, Server, FerretDB, gen_python, log)

CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0), ("grpc.use_local_subchannel_pool", 1)]
CALL_TIMEOUT = 10.0
SHORT_DEADLINE = 0.001  # seconds: meant to expire
OWN_CAP = 8  # todos a worker keeps before deleting its oldest
METRIC_RE = re.compile(r"^(\w+)(\{[^}]*\})? ([-+0-9.eE]+|NaN|\+Inf)$")


def log(*a):
    print("soak:", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- server side

def metrics(admin_port):
    """{name or name{labels}: value} from the admin /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        m = METRIC_RE.match(line)
        if m:
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def slope_per_min(ts, ys):
    """Least-squares slope of ys over ts (seconds), per minute."""
    n = len(ts)
    if n < 2:
        return 0.0
    mt, my = sum(ts) / n, sum(ys) / n
    den = sum((t - mt) ** 2 for t in ts)
    if den == 0:
        return 0.0
    return 60.0 * sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / den


class Sampler(threading.Thread):
    def __init__(self, srv, admin_port, stats, interval=1.0):
        super().__init__(daemon=True)
        self.srv, self.admin_port, self.stats, self.interval = srv, admin_port, stats, interval
        self.t0 = time.monotonic()
        self.samples = []
        self.stop_event = threading.Event()
        self.errors = 0

    def sample(self):
        m = metrics(self.admin_port)
        return {"t": round(time.monotonic() - self.t0, 2), "rss_kib": self.srv.rss_kib(),
                "fds": fd_count(self.srv.pid),
                "connections": int(m.get("ugrpc_connections_open", -1)),
                "accepted": int(m.get("ugrpc_connections_accepted_total", -1)),
                "streams": int(m.get("ugrpc_streams_active", -1)),
                "calls": self.stats.total()}

    def run(self):
        while not self.stop_event.wait(self.interval):
            try:
                self.samples.append(self.sample())
            except (OSError, ValueError) as e:
                self.errors += 1
                log(f"sample failed: {e}")

    def finish(self):
        self.stop_event.set()
        self.join(timeout=10)


# ---------------------------------------------------------------- client side

class Stats:
    """Outcomes by (method, kind, code); kind is normal, cancel or deadline."""

    ALLOWED = {"normal": {"OK"}, "cancel": {"OK", "CANCELLED"},
               "deadline": {"OK", "DEADLINE_EXCEEDED"}}

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.unexpected = []  # first few, for the report
        self.n_unexpected = 0
        self.n = 0

    def add(self, method, kind, code, details=""):
        with self.lock:
            key = (method, kind, code)
            self.counts[key] = self.counts.get(key, 0) + 1
            self.n += 1
            if code not in self.ALLOWED[kind]:
                self.n_unexpected += 1
                if len(self.unexpected) < 20:
                    self.unexpected.append({"method": method, "kind": kind, "code": code,
                                            "details": details})

    def total(self):
        with self.lock:
            return self.n

    def table(self):
        with self.lock:
            return [{"method": m, "kind": k, "code": c, "n": n}
                    for (m, k, c), n in sorted(self.counts.items())]


class Worker(threading.Thread):
    def __init__(self, idx, target, pb, stats, stop_event, rng_seed):
        super().__init__(daemon=True, name=f"soak-worker-{idx}")
        self.idx, self.target, self.stats, self.stop_event = idx, target, stats, stop_event
        self.P, self.G = pb
        self.rng = random.Random(rng_seed)
        self.own = []  # ids this worker created and has not deleted
        self.channel = None
        self.reconnects = 0

    def connect(self):
        import grpc
        if self.channel is not None:
            self.channel.close()
            self.reconnects += 1
        self.channel = grpc.insecure_channel(self.target, options=CHANNEL_OPTIONS)
        self.stub = self.G.TodosStub(self.channel)
        self.calls_left = self.rng.randint(150, 450)

    def call(self, method, fn, kind="normal"):
        import grpc
        try:
            res = fn()
            self.stats.add(method, kind, "OK")
            return res
        except grpc.RpcError as e:
            self.stats.add(method, kind, e.code().name, e.details() or "")
            return None

    def one(self):
        import grpc
        from google.protobuf import field_mask_pb2
        P, s, r = self.P, self.stub, self.rng.random()
        if r < 0.25:
            self.call("GetTodos", lambda: s.GetTodos(P.Request(), timeout=CALL_TIMEOUT))
        elif r < 0.40 or not self.own:
            t = self.call("CreateTodo", lambda: s.CreateTodo(P.CreateTodoRequest(
                title=f"soak {self.idx} {self.rng.getrandbits(32):08x}", tag=f"w{self.idx % 4}",
                priority=self.rng.randint(0, 9)), timeout=CALL_TIMEOUT))
            if t is not None:
                self.own.append(t.id)
            while len(self.own) > OWN_CAP:
                victim = self.own.pop(0)
                self.call("DeleteTodo", lambda: s.DeleteTodo(P.DeleteTodoRequest(id=victim),
                                                             timeout=CALL_TIMEOUT))
        elif r < 0.55:
            tid = self.rng.choice(self.own)
            self.call("GetTodo", lambda: s.GetTodo(P.GetTodoRequest(id=tid), timeout=CALL_TIMEOUT))
        elif r < 0.68:
            tid = self.rng.choice(self.own)
            req = P.UpdateTodoRequest(todo=P.Response.Todo(id=tid, title=f"upd {self.rng.random():.6f}",
                                                           priority=self.rng.randint(0, 9)))
            req.update_mask.CopyFrom(field_mask_pb2.FieldMask(paths=["title", "priority"]))
            self.call("UpdateTodo", lambda: s.UpdateTodo(req, timeout=CALL_TIMEOUT))
        elif r < 0.72:
            victim = self.own.pop(self.rng.randrange(len(self.own)))
            self.call("DeleteTodo", lambda: s.DeleteTodo(P.DeleteTodoRequest(id=victim),
                                                         timeout=CALL_TIMEOUT))
        elif r < 0.85:
            # A walk of at most 5 pages of one tag, by priority.
            token, tag = "", f"w{self.rng.randrange(4)}"
            for _ in range(5):
                page = self.call("ListTodos", lambda: s.ListTodos(P.ListTodosRequest(
                    page_size=5, tag=tag, order_by="priority", page_token=token), timeout=CALL_TIMEOUT))
                if page is None or not page.next_page_token:
                    break
                token = page.next_page_token
        elif r < 0.91:
            # Cancelled by the client right away (some reach the server, some not).
            f = s.ListTodos.future(P.ListTodosRequest(page_size=50), timeout=CALL_TIMEOUT)
            if self.rng.random() < 0.5:
                time.sleep(0.0005)
            f.cancel()
            try:
                f.result(timeout=CALL_TIMEOUT)
                self.stats.add("ListTodos", "cancel", "OK")
            except grpc.FutureCancelledError:
                self.stats.add("ListTodos", "cancel", "CANCELLED")
            except grpc.RpcError as e:
                self.stats.add("ListTodos", "cancel", e.code().name, e.details() or "")
        elif r < 0.97:
            self.call("GetTodos", lambda: s.GetTodos(P.Request(), timeout=SHORT_DEADLINE), "deadline")
        else:
            self.watch()
        self.calls_left -= 1

    def watch(self):
        """A health Watch stream: first message, then cancelled."""
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        it = health_pb2_grpc.HealthStub(self.channel).Watch(
            health_pb2.HealthCheckRequest(service=""), timeout=CALL_TIMEOUT)
        try:
            first = next(it)
            it.cancel()
            self.stats.add("Health.Watch", "cancel",
                           "OK" if first.status == health_pb2.HealthCheckResponse.SERVING else
                           f"status {first.status}")
        except grpc.RpcError as e:
            self.stats.add("Health.Watch", "cancel", e.code().name, e.details() or "")

    def run(self):
        self.connect()
        try:
            while not self.stop_event.is_set():
                if self.calls_left <= 0:
                    self.connect()
                self.one()
        finally:
            self.channel.close()


class Churner(threading.Thread):
    """One connection per call, closed right after: about `rate` per second."""

    def __init__(self, target, pb, stats, stop_event, rate=5.0):
        super().__init__(daemon=True, name="soak-churner")
        self.target, self.stats, self.stop_event, self.rate = target, stats, stop_event, rate
        self.P, self.G = pb
        self.connections = 0

    def run(self):
        import grpc
        while not self.stop_event.wait(1.0 / self.rate):
            with grpc.insecure_channel(self.target, options=CHANNEL_OPTIONS) as ch:
                self.connections += 1
                try:
                    self.G.TodosStub(ch).GetTodos(self.P.Request(), timeout=CALL_TIMEOUT)
                    self.stats.add("GetTodos(new conn)", "normal", "OK")
                except grpc.RpcError as e:
                    self.stats.add("GetTodos(new conn)", "normal", e.code().name, e.details() or "")


# ---------------------------------------------------------------- analysis

def own_fds(steady):
    """The median of the server's fds less its client connections."""
    own = sorted(s["fds"] - s["connections"] for s in steady)
    return own[len(own) // 2] if own else 0


def analyse(samples, warmup, a, baseline, after):
    steady = [s for s in samples if s["t"] >= warmup]
    half = steady[len(steady) // 2:]
    res = {"warmup_s": warmup, "samples": len(samples), "steady_samples": len(steady), "checks": []}

    def check(name, ok, detail):
        res["checks"].append({"check": name, "ok": bool(ok), "detail": detail})

    if len(half) < 5:
        check("enough samples after warm-up", False, f"{len(half)} in the second half")
        res["verdict"] = "FAIL"
        return res
    ts = [s["t"] for s in half]
    rss_slope = slope_per_min(ts, [s["rss_kib"] for s in half])
    fds_slope = slope_per_min(ts, [s["fds"] for s in half])
    conn_slope = slope_per_min(ts, [s["connections"] for s in half])
    rss_warm = steady[0]["rss_kib"]
    rss_end = samples[-1]["rss_kib"]
    res.update(rss_start_kib=samples[0]["rss_kib"], rss_after_warmup_kib=rss_warm, rss_end_kib=rss_end,
               rss_max_kib=max(s["rss_kib"] for s in samples),
               rss_slope_kib_per_min=round(rss_slope, 2), fds_slope_per_min=round(fds_slope, 3),
               connections_slope_per_min=round(conn_slope, 3),
               fds_steady_min=min(s["fds"] for s in steady), fds_steady_max=max(s["fds"] for s in steady),
               connections_steady_min=min(s["connections"] for s in steady),
               connections_steady_max=max(s["connections"] for s in steady),
               baseline=baseline, after=after)
    check("RSS slope, second half", rss_slope <= a.max_rss_slope,
          f"{rss_slope:.1f} KiB/min (limit {a.max_rss_slope:g})")
    growth = rss_end - rss_warm
    limit = max(a.max_rss_growth_kib, 0.1 * rss_warm)
    check("RSS growth after warm-up", growth <= limit,
          f"{growth:+d} KiB from {rss_warm} KiB (limit {limit:.0f})")
    check("open fds flat, second half", abs(fds_slope) <= 1.0, f"{fds_slope:+.2f} fds/min (limit 1)")
    check("connections flat, second half", abs(conn_slope) <= 1.0,
          f"{conn_slope:+.2f} connections/min (limit 1)")
    conn_cap = a.workers + 2 + a.workers  # each worker's previous connection may still linger
    check("connections bounded", res["connections_steady_max"] <= conn_cap,
          f"max {res['connections_steady_max']} with {a.workers} workers + churner (limit {conn_cap})")
    # The server's own fds (not its clients'): with MongoDB the driver's pool
    # opens its connections during the load and keeps them.
    own = own_fds(steady)
    res["fds_own_steady"] = own
    check("fds back to baseline after the load", after["fds"] <= max(baseline["fds"], own),
          f"{after['fds']} (before the load {baseline['fds']}, the server's own during it {own})")
    check("connections back to 0 after the load", after["connections"] == 0,
          f"{after['connections']} open")
    res["verdict"] = "PASS" if all(c["ok"] for c in res["checks"]) else "FAIL"
    return res


def chart(samples, warmup, out, name):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("no matplotlib: chart skipped")
        return None
    t = [s["t"] / 60 for s in samples]
    fig, axes = plt.subplots(3, 1, figsize=(8, 6.4), dpi=72, sharex=True)
    axes[0].plot(t, [s["rss_kib"] / 1024 for s in samples], color="tab:purple")
    axes[0].set_ylabel("RSS (MiB)")
    axes[1].plot(t, [s["fds"] for s in samples], label="open fds")
    axes[1].plot(t, [s["connections"] for s in samples], label="connections open")
    axes[1].legend(fontsize=7)
    axes[1].set_ylabel("count")
    rate = [0.0] + [(b["calls"] - a["calls"]) / max(b["t"] - a["t"], 1e-6)
                    for a, b in zip(samples, samples[1:])]
    axes[2].plot(t, rate, color="tab:green")
    axes[2].set_ylabel("calls/s (client)")
    axes[2].set_xlabel("minutes")
    for ax in axes:
        ax.axvline(warmup / 60, color="grey", ls=":", lw=1)
    fig.tight_layout()
    fig.savefig(out / f"{name}.png")
    plt.close(fig)
    return f"{name}.png"


def markdown(r):
    a, s = r["analysis"], r["load"]
    lines = [f"# Soak: {a['verdict']}", "",
             f"{r['meta']['date']}, {r['meta']['machine']}; `{r['meta']['cmd']}`", "",
             f"todo-api on the **{r['config']['store']}** store for {r['config']['seconds']} s "
             f"({a['warmup_s']:g} s warm-up), {r['config']['workers']} worker connections "
             f"(each replaced every 150-450 calls) and a churner opening one connection per call; "
             f"sampled every second ({a['samples']} samples).", "",
             "| Figure | Value |", "|---|---|",
             f"| calls | {s['calls']} ({s['calls_per_s']:.0f}/s) |",
             f"| unexpected failures | {s['unexpected']} |",
             f"| connections opened (server accepted) | {s['accepted']} |",
             f"| RSS start / after warm-up / end / max (KiB) | {a.get('rss_start_kib')} / "
             f"{a.get('rss_after_warmup_kib')} / {a.get('rss_end_kib')} / {a.get('rss_max_kib')} |",
             f"| RSS slope, second half | {a.get('rss_slope_kib_per_min')} KiB/min |",
             f"| open fds: before / steady min-max / after | {a['baseline']['fds']} / "
             f"{a.get('fds_steady_min')}-{a.get('fds_steady_max')} / {a['after']['fds']} |",
             f"| connections: steady min-max / after | {a.get('connections_steady_min')}-"
             f"{a.get('connections_steady_max')} / {a['after']['connections']} |",
             f"| server exit code on SIGTERM | {r['server_exit']} |", "",
             "| Check | OK | Detail |", "|---|---|---|"]
    lines += [f"| {c['check']} | {'yes' if c['ok'] else '**no**'} | {c['detail']} |" for c in a["checks"]]
    lines += ["", "Calls by method, kind and code:", "", "| Method | Kind | Code | Calls |", "|---|---|---|---|"]
    lines += [f"| {c['method']} | {c['kind']} | {c['code']} | {c['n']} |" for c in s["by_code"]]
    if s["unexpected_samples"]:
        lines += ["", "First unexpected failures:", ""]
        lines += [f"- {u['method']} ({u['kind']}): {u['code']} {u['details']!r}"
                  for u in s["unexpected_samples"]]
    if r.get("chart"):
        lines += ["", f"![RSS, fds, connections and call rate]({r['chart']})"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- main

def wait_back(srv, admin_port, fds_limit, timeout=10.0):
    """After the load: waits (bounded) for fds and connections to settle back."""
    end = time.monotonic() + timeout
    while True:
        now = {"fds": fd_count(srv.pid),
               "connections": int(metrics(admin_port).get("ugrpc_connections_open", -1))}
        if (now["connections"] == 0 and now["fds"] <= fds_limit) or time.monotonic() > end:
            return now
        time.sleep(0.2)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--store", choices=("memory", "mongo"), default="memory")
    ap.add_argument("--workers", type=int, default=24)
    ap.add_argument("--churn-rate", type=float, default=5.0, help="one-call connections per second")
    ap.add_argument("--warmup", type=float, default=None, help="default: 20%% of the run, at most 60 s")
    ap.add_argument("--max-rss-slope", type=float, default=64.0, help="KiB per minute")
    ap.add_argument("--max-rss-growth-kib", type=float, default=1024.0,
                    help="RSS growth after warm-up allowed (or 10%% of RSS, whichever is larger)")
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--name", default="soak", help="report file names: NAME.json, NAME.md, NAME.png")
    ap.add_argument("--work", default=str(ROOT / "build" / "soak"))
    ap.add_argument("--bin", default=os.environ.get("TODO_API_BIN") or str(ROOT / "build" / "todo-api"))
    a = ap.parse_args(argv)
    out, work = Path(a.out), Path(a.work)
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    warmup = a.warmup if a.warmup is not None else min(60.0, 0.2 * a.seconds)

    bench.gen_python(work)
    import todos_pb2
    import todos_pb2_grpc
    pb = (todos_pb2, todos_pb2_grpc)

    db = bench.FerretDB(work) if a.store == "mongo" else None
    port, admin = bench.free_port(), bench.free_port()
    argv_srv = [a.bin, "--host", "127.0.0.1", "--port", str(port), "--admin-port", str(admin),
                "--log-level", "warn", "--access-log", "off"]
    argv_srv += (["--store", "mongo", "--mongo-uri", db.uri, "--db-name", "SoakDB"] if db
                 else ["--store", "memory"])
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    srv = bench.Server("soak-todo-api", argv_srv, port, env=env, logdir=work)
    stats = Stats()
    stop = threading.Event()
    target = f"127.0.0.1:{port}"
    try:
        if db:  # SERVING once the database answered its first ping
            from grpc_health.v1 import health_pb2, health_pb2_grpc
            import grpc
            with grpc.insecure_channel(target, options=CHANNEL_OPTIONS) as ch:
                end = time.monotonic() + 20
                while health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5).status \
                        != health_pb2.HealthCheckResponse.SERVING:
                    if time.monotonic() > end:
                        raise RuntimeError("todo-api not SERVING on FerretDB after 20 s")
                    time.sleep(0.2)
        time.sleep(0.5)
        baseline = {"fds": fd_count(srv.pid),
                    "connections": int(metrics(admin).get("ugrpc_connections_open", -1)),
                    "rss_kib": srv.rss_kib()}
        log(f"todo-api pid {srv.pid} on :{port} ({a.store}), baseline {baseline}; "
            f"{a.seconds:g} s, {a.workers} workers, warm-up {warmup:g} s")
        sampler = Sampler(srv, admin, stats)
        workers = [Worker(i, target, pb, stats, stop, 1000 + i) for i in range(a.workers)]
        churner = Churner(target, pb, stats, stop, a.churn_rate)
        sampler.start()
        t0 = time.monotonic()
        for w in workers:
            w.start()
        churner.start()
        next_log = t0 + 60
        while time.monotonic() - t0 < a.seconds:
            time.sleep(0.5)
            if not srv.proc.poll() is None:
                raise RuntimeError(f"todo-api exited with {srv.proc.returncode} during the soak")
            if time.monotonic() >= next_log:
                next_log += 60
                last = sampler.samples[-1] if sampler.samples else {}
                log(f"{time.monotonic() - t0:.0f} s: {stats.total()} calls, {stats.n_unexpected} unexpected, "
                    f"RSS {last.get('rss_kib')} KiB, fds {last.get('fds')}, conns {last.get('connections')}")
        elapsed = time.monotonic() - t0
        sampler.finish()  # the samples cover the load only, not its wind-down
        stop.set()
        for w in workers + [churner]:
            w.join(timeout=30)
        stuck = [w.name for w in workers + [churner] if w.is_alive()]
        steady = [x for x in sampler.samples if x["t"] >= warmup]
        after = wait_back(srv, admin, max(baseline["fds"], own_fds(steady)))
        final_metrics = metrics(admin)
        analysis = analyse(sampler.samples, warmup, a, baseline, after)
        if stuck:
            analysis["checks"].append({"check": "clients stopped", "ok": False, "detail": ", ".join(stuck)})
            analysis["verdict"] = "FAIL"
    finally:
        stop.set()
        srv.stop()
        if db:
            db.stop()
    server_exit = srv.proc.returncode
    if server_exit != 0:
        analysis["checks"].append({"check": "server exits 0 on SIGTERM", "ok": False, "detail": str(server_exit)})
        analysis["verdict"] = "FAIL"
    if stats.n_unexpected:
        analysis["checks"].append({"check": "no unexpected failures", "ok": False,
                                   "detail": f"{stats.n_unexpected} calls"})
        analysis["verdict"] = "FAIL"
    handled = sum(v for k, v in final_metrics.items() if k.startswith("grpc_server_handled_total{"))
    res = {
        "meta": {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                 "machine": f"{os.uname().nodename} {os.cpu_count()} cores {os.uname().machine}",
                 "cmd": " ".join(["bench/soak.py"] + (argv if argv is not None else sys.argv[1:]))},
        "config": {"store": a.store, "seconds": a.seconds, "workers": a.workers, "churn_rate": a.churn_rate,
                   "max_rss_slope_kib_per_min": a.max_rss_slope, "max_rss_growth_kib": a.max_rss_growth_kib},
        "load": {"calls": stats.total(), "calls_per_s": stats.total() / max(elapsed, 1e-6),
                 "unexpected": stats.n_unexpected, "unexpected_samples": stats.unexpected,
                 "by_code": stats.table(), "server_handled": int(handled),
                 "accepted": int(final_metrics.get("ugrpc_connections_accepted_total", -1)),
                 "worker_reconnects": sum(w.reconnects for w in workers),
                 "churn_connections": churner.connections, "sampler_errors": sampler.errors},
        "server_exit": server_exit,
        "analysis": analysis,
        "samples": sampler.samples,
    }
    res["chart"] = chart(sampler.samples, warmup, out, a.name)
    (out / f"{a.name}.json").write_text(json.dumps(res, indent=1) + "\n")
    (out / f"{a.name}.md").write_text(markdown(res))
    log(f"verdict {analysis['verdict']}: {stats.total()} calls, {stats.n_unexpected} unexpected; "
        f"wrote {out}/{a.name}.json, {a.name}.md{', ' + res['chart'] if res['chart'] else ''}")
    for c in analysis["checks"]:
        log(f"  {'ok ' if c['ok'] else 'BAD'} {c['check']}: {c['detail']}")
    return 0 if analysis["verdict"] == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
