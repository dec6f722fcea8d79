"""A short run of the soak driver (bench/soak.py, `make soak`), so that it
cannot rot: 20 s on the memory store and 12 s on FerretDB instead of ten
minutes. Checked: the report is written (json, md, png), the mixed load ran
every kind of call with zero unexpected failures, connections churned, the
server exited 0, and fds and connections went back to their baseline after
the load. The trend checks (RSS, fds and connections flat) need minutes
after a warm-up; a run this short reports them, and only they may fail it.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("BUILD_DIR", REPO / "build"))
TODO_API = Path(os.environ.get("TODO_API_BIN", BUILD / "todo-api"))
TOOLS = Path(os.environ.get("TOOLS_BIN", REPO / ".tools" / "bin"))
# Trends over the second half of the steady state: minutes of data in a real
# soak, a few seconds here.
TREND_CHECKS = {"RSS slope, second half", "RSS growth after warm-up", "open fds flat, second half",
                "connections flat, second half"}


def run_soak(tmp_path, *args):
    if not TODO_API.exists():
        pytest.skip(f"todo-api not built at {TODO_API} (run make)")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, str(REPO / "bench/soak.py"), "--out", str(out), "--work",
                        str(tmp_path / "work"), "--bin", str(TODO_API), *args],
                       capture_output=True, text=True, timeout=120)
    assert (out / "soak.json").exists(), r.stderr[-3000:]
    res = json.loads((out / "soak.json").read_text())
    a, load = res["analysis"], res["load"]
    assert r.returncode == (0 if a["verdict"] == "PASS" else 1), r.stderr[-3000:]
    assert load["unexpected"] == 0, load["unexpected_samples"]
    failed = {c["check"]: c["detail"] for c in a["checks"] if not c["ok"]}
    assert set(failed) <= TREND_CHECKS, (failed, r.stderr[-3000:])
    assert res["server_exit"] == 0
    assert load["sampler_errors"] == 0
    md = (out / "soak.md").read_text()
    assert md.startswith(f"# Soak: {a['verdict']}") and "| RSS slope, second half |" in md
    assert (out / "soak.png").stat().st_size > 5000
    return res


def kinds(res):
    return {(c["method"], c["kind"], c["code"]) for c in res["load"]["by_code"]}


@pytest.mark.timeout(150)
def test_soak_smoke_memory(tmp_path):
    res = run_soak(tmp_path, "--seconds", "20", "--workers", "8", "--warmup", "5")
    a, load = res["analysis"], res["load"]
    assert len(res["samples"]) >= 15 and a["steady_samples"] >= 10
    assert load["calls"] > 2000, load["calls"]
    seen = kinds(res)
    for method in ("GetTodos", "CreateTodo", "GetTodo", "UpdateTodo", "DeleteTodo", "ListTodos",
                   "GetTodos(new conn)"):
        assert (method, "normal", "OK") in seen, method
    assert ("Health.Watch", "cancel", "OK") in seen
    assert ("GetTodos", "deadline", "DEADLINE_EXCEEDED") in seen
    assert any(m == "ListTodos" and k == "cancel" for m, k, _ in seen)
    # Churn: workers replaced connections, the churner opened its own.
    assert load["churn_connections"] >= 20 and load["worker_reconnects"] >= 1, load
    assert load["accepted"] >= 8 + load["churn_connections"] + load["worker_reconnects"], load
    # The server counted (at least) every call the clients saw answered by it.
    assert load["server_handled"] >= load["calls"] * 0.8, (load["server_handled"], load["calls"])
    assert a["after"]["fds"] <= a["baseline"]["fds"] and a["after"]["connections"] == 0, a


@pytest.mark.timeout(150)
def test_soak_smoke_ferretdb(tmp_path):
    if not (TOOLS / "ferretdb").exists():
        pytest.skip(f"FerretDB not installed at {TOOLS / 'ferretdb'} (third_party/deps.sh tools)")
    res = run_soak(tmp_path, "--seconds", "12", "--workers", "6", "--warmup", "3", "--store", "mongo")
    assert res["config"]["store"] == "mongo"
    assert res["load"]["calls"] > 200, res["load"]["calls"]
    assert ("CreateTodo", "normal", "OK") in kinds(res)
