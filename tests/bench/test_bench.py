"""Quick checks of the load and benchmark tooling (bench/, docs/benchmarks.md),
cheap enough for `make test` (about 40 s together):

- a 10-second headless Locust run (bench/locust) against todo-api on the
  memory store with a few dozen users: zero failures, read from Locust's CSV;
- ghz through server reflection (bench/ghz/get-todos.json): zero errors;
- the benchmark driver (bench/run.py --quick) on ugrpc and nghttpd, so the
  harness cannot rot: both answer correctly and h2load saw no failures.

Each test skips only when a tool it needs is not installed, and says which.
"""

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("BUILD_DIR", REPO / "build"))
TODO_API = Path(os.environ.get("TODO_API_BIN", BUILD / "todo-api"))
TOOLS = Path(os.environ.get("TOOLS_BIN", REPO / ".tools" / "bin"))
VENV_BIN = Path(sys.executable).parent

pytestmark = pytest.mark.timeout(120)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def todo_api(tmp_path):
    if not TODO_API.exists():
        pytest.skip(f"todo-api not built at {TODO_API} (run make)")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    err = open(tmp_path / "todo-api.log", "w")
    proc = subprocess.Popen([str(TODO_API), "--store", "memory", "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "warn"], env=env, stdout=err, stderr=subprocess.STDOUT,
                            cwd=tmp_path)
    end = time.monotonic() + 10
    while time.monotonic() < end:
        assert proc.poll() is None, (tmp_path / "todo-api.log").read_text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        pytest.fail("todo-api did not open its port")
    yield port
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    err.close()


def test_locust_headless_zero_failures(todo_api, tmp_path):
    locust = VENV_BIN / "locust"
    if not locust.exists() and not shutil.which("locust"):
        pytest.skip("locust is not installed (third_party/requirements.txt)")
    env = dict(os.environ, LOCUST_MODE="headless", TARGET_HOST=f"127.0.0.1:{todo_api}", USERS="40",
               SPAWN_RATE="40", RUN_TIME="10s", REPORT_DIR=str(tmp_path / "reports"),
               LOCUST=str(locust if locust.exists() else shutil.which("locust")))
    r = subprocess.run(["bash", str(REPO / "bench/locust/run.sh")], env=env, capture_output=True, text=True,
                       timeout=90)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = {row["Name"]: row for row in csv.DictReader(open(tmp_path / "reports/locust_stats.csv"))}
    agg = rows["Aggregated"]
    assert int(agg["Request Count"]) > 100, agg
    assert int(agg["Failure Count"]) == 0, open(tmp_path / "reports/locust_failures.csv").read()
    # Every task ran, the walkthrough's GetTodos the most.
    for name in ("GetTodos", "ListTodos", "GetTodo", "CreateTodo"):
        assert int(rows[name]["Request Count"]) > 0, name
    assert (tmp_path / "reports/report.html").stat().st_size > 1000


def test_ghz_reflection_zero_errors(todo_api):
    ghz = TOOLS / "ghz"
    if not ghz.exists():
        pytest.skip(f"ghz not installed at {ghz} (third_party/deps.sh tools)")
    r = subprocess.run([str(ghz), "--config", "get-todos.json", "-n", "2000", "-c", "16", "-O", "json",
                        f"127.0.0.1:{todo_api}"], cwd=REPO / "bench/ghz", capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["count"] == 2000
    assert rep["statusCodeDistribution"] == {"OK": 2000}, rep["statusCodeDistribution"]


def test_bench_quick_harness(tmp_path):
    for tool in ("taskset", "h2load", "nghttpd", "protoc-c"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (nghttp2-client, nghttp2-server, util-linux, protobuf-c-compiler)")
    if (os.cpu_count() or 1) < 2:
        pytest.skip("the driver pins server and client to two different cores")
    if not (REPO / "build/libugrpc.a").exists():
        pytest.skip("build/libugrpc.a not built (run make): the driver measures the optimised build")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, str(REPO / "bench/run.py"), "--quick", "--scenarios", "echo",
                        "--servers", "ugrpc,nghttpd", "--duration", "1", "--out", str(out),
                        "--work", str(tmp_path / "work")],
                       env=dict(os.environ, BENCH_NO_MAKE="1", BUILD=str(REPO / "build")), capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((out / "results.json").read_text())
    servers = res["echo"]["servers"]
    assert set(servers) == {"ugrpc", "nghttpd"}
    for name, e in servers.items():
        assert e["correct"], name
        for run in e["runs"]:
            assert run["rps"] > 0 and run["failed"] == 0 and run["errored"] == 0, (name, run)
            assert run["http_2xx"] == run["done"], (name, run)
            assert run["cpu_us_per_req"] and run["cpu_us_per_req"] > 0
    assert servers["ugrpc"]["ghz"]["errors"] == 0
    assert (out / "results.md").read_text().count("| ugrpc |") >= 3
    assert any(t["target"].startswith("2 ") for t in res["targets"])
