"""bench/locust/run.sh in distributed mode, without containers: a headless
Locust master and two local worker processes against todo-api on the memory
store for 8 s. The master's CSV (it runs no users itself, so every request
in it came from a worker) shows zero failures, both workers took part, and
none of them outlives the run. (The same topology in containers:
tests/deploy/test_locust_image.py.)"""

import csv
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from test_bench import REPO, VENV_BIN, free_port, todo_api  # noqa: F401 (todo_api: the fixture)

pytestmark = pytest.mark.timeout(180)


def test_locust_distributed_master_and_two_workers(todo_api, tmp_path):  # noqa: F811
    locust = VENV_BIN / "locust"
    if not locust.exists() and not shutil.which("locust"):
        pytest.skip("locust is not installed (third_party/requirements.txt)")
    reports = tmp_path / "reports"
    port = free_port()  # the master's port for workers, so parallel runs do not meet
    env = dict(os.environ, LOCUST_MODE="distributed", LOCUST_WORKERS="2", MASTER_PORT=str(port),
               TARGET_HOST=f"127.0.0.1:{todo_api}", USERS="30", SPAWN_RATE="30", RUN_TIME="8s",
               LOCUST_EXPECT_WORKERS_MAX_WAIT="60",  # the master gives up rather than hangs
               REPORT_DIR=str(reports), LOCUST=str(locust if locust.exists() else shutil.which("locust")))
    r = subprocess.run(["bash", str(REPO / "bench/locust/run.sh")], env=env, capture_output=True,
                       text=True, timeout=150)
    assert r.returncode == 0, r.stderr[-3000:]
    # Both workers reached the master, and the users were shared out between them.
    assert re.search(r"reported as ready\. 2 workers connected", r.stderr), r.stderr[-3000:]
    assert re.search(r"Sending spawn jobs of 30 users .* to 2 ready workers", r.stderr), r.stderr[-3000:]
    for i in range(2):
        log = (reports / f"worker-{i}.log").read_text()
        assert "Got quit message from master" in log, log[-2000:]
    with open(reports / "locust_stats.csv", newline="") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    agg = rows["Aggregated"]
    assert int(agg["Failure Count"]) == 0, (reports / "locust_failures.csv").read_text()
    assert int(agg["Request Count"]) > 30, agg
    assert int(rows["GetTodos"]["Request Count"]) > 0, rows["GetTodos"]
    assert (reports / "report.html").stat().st_size > 1000
    # No worker is left behind (they are the only processes given this port).
    assert processes_with(f"--master-port\0{port}\0") == []


def processes_with(args):
    """The PIDs whose command line contains args (NUL-separated, as in /proc)."""
    out = []
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and args.encode() in (d / "cmdline").read_bytes():
                out.append(int(d.name))
        except OSError:
            pass
    return out
