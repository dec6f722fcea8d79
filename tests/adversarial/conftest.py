"""Fixtures for the hostile-client tests: the real todo-api binary started
through tests/integration's harness (todo_harness.py), whose fixtures are
reused here rather than written again.

`make integration` runs this directory with TODO_API_BIN, PY_GEN and
SANITIZER set (see todo_harness.py); `make integration
PYTEST_DIRS=tests/adversarial` runs it alone.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
INTEGRATION = HERE.parent / "integration"
for p in (INTEGRATION, HERE):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import adv  # noqa: E402
import todo_harness as h  # noqa: E402

# tests/integration/conftest.py under another module name: its fixtures
# (todo_api_bin, pb, server_factory, start_server) are the ones we need.
_spec = importlib.util.spec_from_file_location("integration_fixtures", INTEGRATION / "conftest.py")
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)
todo_api_bin = _fixtures.todo_api_bin
pb = _fixtures.pb
server_factory = _fixtures.server_factory
start_server = _fixtures.start_server


def pytest_configure(config):
    if not config.pluginmanager.hasplugin("timeout"):
        raise pytest.UsageError("tests/adversarial needs pytest-timeout (pip install pytest-timeout)")


def pytest_collection_modifyitems(config, items):
    # Each attack is bounded; the pytest-timeout limit only catches a hang.
    for item in items:
        if Path(str(item.fspath)).resolve().parent != HERE:
            continue
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(int(60 * h.SLOW)))


def pytest_report_header(config):
    return [f"adversarial: todo-api {h.binary_path()} (sanitizer: {h.SANITIZER or 'none'}, "
            f"latency bound p99 < {adv.P99_BOUND:g}s)"]


@pytest.fixture
def hostile_server(start_server):
    """hostile_server(**env) -> Server with an admin port (for /metrics), no
    access log, and ASan's quarantine kept small so that RSS measures live
    memory rather than freed memory held back for use-after-free detection."""

    def start(**env):
        full = adv.server_env(env)
        srv = start_server(env=full)
        srv.admin_port = int(full["ADMIN_PORT"])
        assert h.wait_until(lambda: adv.metrics(srv) is not None, h.START_TIMEOUT), (
            f"admin port {srv.admin_port} does not answer\n{srv.describe()}")
        return srv

    return start
