"""Fixtures for the interop tests (helpers: interop_harness.py).

Every test gets its own interop-server on a free port. At teardown the server
gets SIGTERM and a bounded wait; the test fails unless it exited 0 with no
sanitizer report on stderr (kept in the test's tmp_path for diagnostics).
"""

import os
from pathlib import Path

import pytest

import interop_harness as h

HERE = Path(__file__).resolve().parent


def pytest_configure(config):
    if not config.pluginmanager.hasplugin("timeout"):
        raise pytest.UsageError("tests/interop needs pytest-timeout (pip install pytest-timeout)")


def pytest_collection_modifyitems(config, items):
    # No test can hang forever: each gets a pytest-timeout limit unless it set its own.
    for item in items:
        if Path(str(item.fspath)).resolve().parent != HERE:
            continue
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(h.TEST_TIMEOUT))


def pytest_report_header(config):
    return [f"interop-server: {h.server_bin()} (sanitizer: {h.SANITIZER or 'none'}, "
            f"timeouts x{h.SLOW:g})"]


@pytest.fixture(scope="session")
def interop_server_bin():
    path = h.server_bin()
    assert path.is_file() and os.access(path, os.X_OK), (
        f"interop-server not found at {path} (make all, or set INTEROP_SERVER_BIN)")
    return path


@pytest.fixture
def start_server(interop_server_bin, tmp_path):
    """start_server(*args) -> InteropServer. Every server started is stopped and
    checked at teardown (exit 0, no sanitizer report)."""
    servers = []

    def start(*args):
        try:
            s = h.InteropServer(interop_server_bin, tmp_path, args)
        except h.StartError as e:
            pytest.fail(str(e), pytrace=False)
        servers.append(s)
        return s

    yield start
    problems = []
    for s in servers:
        problems += s.problems()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def server(start_server):
    """A plaintext (h2c) interop server."""
    return start_server()


@pytest.fixture
def tls_server(start_server):
    """An interop server speaking TLS with the interop test certificate."""
    for name in ("ca.pem", "server1.pem", "server1.key"):
        if not (h.TESTDATA / name).is_file():
            pytest.skip(f"interop test certificates missing ({h.TESTDATA / name}): "
                        f"apt-get install ruby-grpc")
    return start_server("--use_tls=true", f"--tls_cert_file={h.TESTDATA / 'server1.pem'}",
                        f"--tls_key_file={h.TESTDATA / 'server1.key'}")
