"""Metrics seen from the outside: a real Prometheus server scraping todo-api,
histograms and counters over several scrapes under traffic, the server's own
metrics (worker queue wait, store latency, single flight, GOAWAYs by reason),
and the Grafana dashboard's queries against a real scrape."""

import json
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import grpc
import pytest

import todo_harness as h
from observ_helpers import MISSING_ID, make_calls

PROMETHEUS = "/usr/bin/prometheus"
DASHBOARD = h.REPO / "deploy" / "grafana-dashboard.json"


def http_get(url, timeout=None):
    with urllib.request.urlopen(url, timeout=timeout or h.CALL_TIMEOUT) as r:
        return r.status, r.read().decode()


def scrape(port):
    status, text = http_get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    return text


def parse(text):
    """{series: value} and {family: type} of an exposition."""
    values, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
        elif line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            assert series not in values, f"duplicate series {series}"
            values[series] = float(value)
    return values, types


def split_series(series):
    """('name', 'labels without le', le or None)."""
    name, _, rest = series.partition("{")
    labels = rest.rstrip("}")
    le = None
    m = re.search(r'(?:^|,)le="([^"]*)"', labels)
    if m:
        le = m.group(1)
        labels = (labels[:m.start()] + labels[m.end():]).strip(",")
    return name, labels, le


def check_histograms(values, types):
    """Every histogram series: buckets cumulative in le order, +Inf == _count.
    Returns the number of histogram series checked."""
    groups = {}
    for series, v in values.items():
        name, labels, le = split_series(series)
        if name.endswith("_bucket") and types.get(name[:-7]) == "histogram":
            groups.setdefault((name[:-7], labels), []).append((le, v))
    for (fam, labels), buckets in groups.items():
        assert buckets[-1][0] == "+Inf", (fam, labels)
        bounds = [float(le) for le, _ in buckets[:-1]]
        assert bounds == sorted(bounds) and len(set(bounds)) == len(bounds), (fam, bounds)
        counts = [v for _, v in buckets]
        assert counts == sorted(counts), f"{fam}{{{labels}}} not cumulative: {counts}"
        count_key = f"{fam}_count{{{labels}}}" if labels else f"{fam}_count"
        assert values[count_key] == counts[-1], (fam, labels, counts[-1], values[count_key])
        sum_key = f"{fam}_sum{{{labels}}}" if labels else f"{fam}_sum"
        assert values[sum_key] >= 0
    return len(groups)


def start_admin(start_server, **env):
    port = h.free_port()
    srv = start_server(env={"ADMIN_PORT": str(port), **env})
    assert h.wait_until(lambda: h.port_accepts(port), h.START_TIMEOUT)
    return srv, port


# ---- a real Prometheus server -------------------------------------------------------


class Prometheus:
    def __init__(self, tmp_path, target_port):
        self.port = h.free_port()
        cfg = tmp_path / "prometheus.yml"
        cfg.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: todo-api\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{target_port}']\n")
        self.log = tmp_path / "prometheus.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1h",
                 "--log.level=warn"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)

    def url(self, path, **params):
        q = f"?{urllib.parse.urlencode(params)}" if params else ""
        return f"http://127.0.0.1:{self.port}{path}{q}"

    def ready(self):
        try:
            return http_get(self.url("/-/ready"), timeout=1)[0] == 200
        except OSError:
            return False

    def api(self, path, **params):
        try:
            _, body = http_get(self.url(path, **params))
        except urllib.error.HTTPError as e:  # 400 for bad queries: the body says why
            body = e.read().decode()
        return json.loads(body)

    def query(self, expr):
        r = self.api("/api/v1/query", query=expr)
        assert r["status"] == "success", (expr, r)
        return r["data"]["result"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def describe(self):
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture
def prometheus_for(tmp_path):
    started = []

    def start(target_port):
        assert Path(PROMETHEUS).is_file(), "prometheus not found (Debian package prometheus)"
        p = Prometheus(tmp_path, target_port)
        started.append(p)
        assert h.wait_until(p.ready, 20), f"prometheus not ready\n{p.describe()}"
        return p

    yield start
    for p in started:
        p.stop()


def by_code(prom):
    rows = prom.query('sum by (grpc_code) (grpc_server_handled_total{job="todo-api"})')
    return {r["metric"]["grpc_code"]: float(r["value"][1]) for r in rows}


def test_prometheus_scrapes_handled_calls_by_code(pb, start_server, prometheus_for):
    srv, admin = start_admin(start_server)
    prom = prometheus_for(admin)
    make_calls(pb, srv, ok=6, not_found=4, unimplemented=3)
    want = {"OK": 6, "NOT_FOUND": 4, "UNIMPLEMENTED": 3}

    # Wait for a scrape taken after the last call (1 s interval).
    got = {}

    def settled():
        nonlocal got
        got = {k: v for k, v in by_code(prom).items() if v}
        return got == want

    assert h.wait_until(settled, 15, interval=0.25), (got, prom.describe())
    up = prom.query('up{job="todo-api"}')
    assert [float(r["value"][1]) for r in up] == [1.0]
    # Per method and per code, as go-grpc-prometheus labels them.
    rows = prom.query('grpc_server_handled_total{grpc_method="GetTodo",grpc_code="NOT_FOUND"}')
    assert [(r["metric"]["grpc_service"], r["metric"]["grpc_type"], float(r["value"][1]))
            for r in rows] == [("grpc.Todos", "unary", 4.0)]
    rows = prom.query('grpc_server_handled_total{grpc_service="unknown",grpc_code="UNIMPLEMENTED"}')
    assert [float(r["value"][1]) for r in rows] == [3.0]
    started = prom.query('sum(grpc_server_started_total{grpc_service="grpc.Todos"})')
    assert float(started[0]["value"][1]) == 10  # unknown methods are not started on grpc.Todos

    # More calls show up in a later scrape: the numbers follow the calls.
    make_calls(pb, srv, ok=2, not_found=1)
    want = {"OK": 8, "NOT_FOUND": 5, "UNIMPLEMENTED": 3}
    assert h.wait_until(settled, 15, interval=0.25), got

    # Every query of the dashboard is valid PromQL that Prometheus evaluates.
    for expr in dashboard_exprs(promql_ready=True):
        r = prom.api("/api/v1/query", query=expr)
        assert r["status"] == "success", (expr, r)


# ---- histograms and counters over several scrapes -------------------------------------


def test_histograms_cumulative_and_counters_monotonic_under_traffic(pb, start_server):
    # STORE_DELAY_MS sends every store operation through the worker pool, so
    # the queue-wait and store histograms fill too.
    srv, admin = start_admin(start_server, STORE_DELAY_MS="2", SINGLE_FLIGHT="false")
    stop = threading.Event()
    errors = []
    done = Counter()

    def traffic(i):
        stub = pb[1].TodosStub(srv.channel())
        try:
            while not stop.is_set():
                if i % 2:
                    stub.GetTodos(pb[0].Request(), timeout=h.CALL_TIMEOUT)
                    done["ok"] += 1
                else:
                    try:
                        stub.GetTodo(pb[0].GetTodoRequest(id=MISSING_ID), timeout=h.CALL_TIMEOUT)
                    except grpc.RpcError as e:
                        assert e.code() == grpc.StatusCode.NOT_FOUND
                        done["nf"] += 1
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=traffic, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    scrapes = []
    try:
        for _ in range(6):
            time.sleep(0.3)
            scrapes.append(parse(scrape(admin)))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors
    scrapes.append(parse(scrape(admin)))

    for values, types in scrapes:
        assert check_histograms(values, types) >= 3 + 6  # handling (per method), wait, store ops
    monotonic = ("counter", "histogram")
    for (prev, types), (cur, _) in zip(scrapes, scrapes[1:]):
        for series, v in prev.items():
            fam = split_series(series)[0]
            base = re.sub(r"_(bucket|count|sum)$", "", fam)
            if types.get(fam) in monotonic or types.get(base) == "histogram":
                assert cur[series] >= v, f"{series} went back: {v} -> {cur[series]}"
    first, last = scrapes[0][0], scrapes[-1][0]
    lab = 'grpc_type="unary",grpc_service="grpc.Todos",grpc_method="GetTodos"'
    assert last[f'grpc_server_handled_total{{{lab},grpc_code="OK"}}'] == done["ok"] > 0
    assert last[f'grpc_server_handled_total{{{lab},grpc_code="OK"}}'] > \
        first[f'grpc_server_handled_total{{{lab},grpc_code="OK"}}']
    # Every store operation went through the pool: waits counted once each.
    ops = done["ok"] + done["nf"]
    assert last["todo_store_operations_total"] == ops
    assert last["ugrpc_worker_queue_wait_seconds_count"] == ops
    assert last['todo_store_query_duration_seconds_count{operation="list"}'] == done["ok"]
    assert last['todo_store_query_duration_seconds_count{operation="get"}'] == done["nf"]
    # A NOT_FOUND is an answer, not a database error.
    assert last['todo_store_errors_total{operation="get"}'] == 0
    assert last["todo_single_flight_hits_total"] == 0
    assert last["ugrpc_worker_queue_depth"] == 0 and last["ugrpc_streams_active"] == 0


def test_single_flight_hits_and_store_latency(pb, start_server):
    # A 300 ms store: concurrent identical reads share one operation.
    srv, admin = start_admin(start_server, STORE_DELAY_MS="300")
    stub = pb[1].TodosStub(srv.channel())
    futures = [stub.GetTodos.future(pb[0].Request(), timeout=h.CALL_TIMEOUT) for _ in range(12)]
    for f in futures:
        assert f.result().todos
    m, _ = parse(scrape(admin))
    ops = m["todo_store_operations_total"]
    assert ops >= 1 and m["todo_single_flight_hits_total"] == 12 - ops
    assert m["todo_single_flight_hits_total"] >= 6  # 12 calls within far less than 300 ms
    assert m['todo_store_query_duration_seconds_count{operation="list"}'] == ops
    # The simulated delay runs on a worker before the memory store answers on
    # the loop thread: each shared operation waited in the queue once.
    assert m["ugrpc_worker_queue_wait_seconds_count"] == ops


def test_goaways_counted_by_reason(pb, start_server):
    srv, admin = start_admin(start_server, MAX_CONNECTION_IDLE="300ms")
    # A connection left idle gets the graceful GOAWAY (max_idle).
    ch = srv.channel()
    pb[1].TodosStub(ch).GetTodos(pb[0].Request(), timeout=h.CALL_TIMEOUT)

    def goaways():
        m, _ = parse(scrape(admin))
        return {k: v for k, v in m.items() if k.startswith("ugrpc_goaways_sent_total")}

    key = 'ugrpc_goaways_sent_total{reason="%s"}'
    assert h.wait_until(lambda: goaways()[key % "max_idle"] >= 1, 10 * h.SLOW, interval=0.1), \
        goaways()
    ch.close()
    before = goaways()[key % "protocol_error"]
    # A DATA frame on stream 0 is a connection error: GOAWAY(PROTOCOL_ERROR).
    with socket.create_connection(("127.0.0.1", srv.port), timeout=h.CALL_TIMEOUT) as s:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
                  + b"\x00\x00\x01\x00\x00\x00\x00\x00\x00" + b"x")
        got = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
    frames = []
    while len(got) >= 9:
        n = int.from_bytes(got[:3], "big")
        frames.append((got[3], got[9:9 + n]))
        got = got[9 + n:]
    goaway = [payload for typ, payload in frames if typ == 7]
    assert len(goaway) == 1 and int.from_bytes(goaway[0][4:8], "big") == 1, frames  # PROTOCOL_ERROR
    assert h.wait_until(lambda: goaways()[key % "protocol_error"] == before + 1, 5)
    g = goaways()
    assert g[key % "shutdown"] == 0 and g[key % "max_age"] == 0
    assert set(g) == {key % r for r in ("shutdown", "max_age", "max_idle", "too_many_pings",
                                        "enhance_your_calm", "protocol_error", "other")}


# ---- the dashboard -------------------------------------------------------------------

PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
    "unless", "offset", "inf", "nan",
}


def dashboard_exprs(promql_ready=False):
    """Every PromQL expression of the dashboard (targets and template queries);
    with promql_ready, Grafana's variables are replaced by values Prometheus
    accepts."""
    dash = json.loads(DASHBOARD.read_text())
    exprs = []

    def walk(o):
        if isinstance(o, dict):
            if isinstance(o.get("expr"), str):
                exprs.append(o["expr"])
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(dash["panels"])
    if promql_ready:
        exprs = [e.replace("$__rate_interval", "1m").replace("$namespace", ".*")
                 .replace("$pod", ".*") for e in exprs]
    return exprs


def metric_names(expr):
    """The metric names an expression selects: identifiers that are not
    functions, keywords, label names, or inside label matchers and strings."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", "", e)
    e = re.sub(r"\[[^\]]*\]", "", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        word = m.group(0)
        rest = e[m.end():].lstrip()
        if word.lower() in PROMQL_WORDS or rest.startswith("("):
            continue
        if re.fullmatch(r"\d*e\d+", word) or m.start() and e[m.start() - 1].isdigit():
            continue
        names.add(word)
    return names


def test_metric_names_parser():
    assert metric_names('histogram_quantile(0.9, sum by (le, x) (rate(a_bucket{y="b c"}[5m])))') \
        == {"a_bucket"}
    assert metric_names('sum(rate(a{c!="OK"}[1m])) / clamp_min(sum(rate(b[1m])), 1e-9)') \
        == {"a", "b"}


def test_dashboard_queries_exist_in_a_real_scrape(pb, start_server):
    dash = json.loads(DASHBOARD.read_text())
    assert dash["title"] and dash["panels"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    srv, admin = start_admin(start_server, STORE_DELAY_MS="1")
    make_calls(pb, srv, ok=2, not_found=1, unimplemented=1)
    values, _ = parse(scrape(admin))
    scraped = {split_series(s)[0] for s in values}
    exprs = dashboard_exprs()
    assert len(exprs) >= 13
    used = set()
    for expr in exprs:
        names = metric_names(expr)
        assert names, expr
        missing = names - scraped
        assert not missing, f"{expr}: {sorted(missing)} not in the scrape"
        used |= names
    # What the dashboard must show (issue #7).
    for needed in ("grpc_server_handled_total", "grpc_server_handling_seconds_bucket",
                   "ugrpc_connections_open", "ugrpc_streams_active", "ugrpc_worker_queue_depth",
                   "ugrpc_worker_queue_wait_seconds_bucket",
                   "todo_store_query_duration_seconds_bucket"):
        assert needed in used, needed
    assert any(e.startswith("histogram_quantile(0.99") for e in exprs)
    # Template variables query metrics that exist too.
    for var in dash["templating"]["list"]:
        q = var.get("definition")
        if q:
            assert re.match(r"label_values\((\w+)", q).group(1) in scraped, q
