"""Fixtures for the todo-api integration tests (helpers: todo_harness.py).

`make integration` runs `pytest -q tests/integration` from the repository root
with TODO_API_BIN, PY_GEN and SANITIZER set; see todo_harness.py.
"""

import os
import shutil
import sys
from pathlib import Path

import pytest

import todo_harness as h

HERE = Path(__file__).resolve().parent


def pytest_configure(config):
    if not config.pluginmanager.hasplugin("timeout"):
        raise pytest.UsageError("tests/integration needs pytest-timeout (pip install pytest-timeout)")


def pytest_collection_modifyitems(config, items):
    # No test can hang forever: each gets a pytest-timeout limit unless it set its own.
    for item in items:
        if Path(str(item.fspath)).resolve().parent != HERE:
            continue
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(h.TEST_TIMEOUT))


def pytest_report_header(config):
    return [f"todo-api: {h.binary_path()} (sanitizer: {h.SANITIZER or 'none'}, "
            f"timeouts x{h.SLOW:g})"]


@pytest.fixture(scope="session")
def todo_api_bin():
    path = h.binary_path()
    assert path.is_file() and os.access(path, os.X_OK), (
        f"todo-api binary not found at {path} (build it, or set TODO_API_BIN)")
    return str(path)


@pytest.fixture(scope="session")
def pb(tmp_path_factory):
    """(todos_pb2, todos_pb2_grpc), generated from proto/todos.proto."""
    gen = os.environ.get("PY_GEN")
    if not gen:
        gen = str(tmp_path_factory.mktemp("py_gen"))
        from grpc_tools import protoc

        rc = protoc.main(["grpc_tools.protoc", f"-I{h.PROTO_DIR}", f"--python_out={gen}",
                          f"--grpc_python_out={gen}", str(h.PROTO_DIR / "todos.proto")])
        assert rc == 0, "grpc_tools.protoc failed on proto/todos.proto"
    for name in ("todos_pb2.py", "todos_pb2_grpc.py"):
        assert (Path(gen) / name).is_file(), f"no {name} in PY_GEN={gen}"
    if gen not in sys.path:
        sys.path.insert(0, gen)
    import todos_pb2
    import todos_pb2_grpc

    return todos_pb2, todos_pb2_grpc


@pytest.fixture
def server_factory(todo_api_bin, tmp_path):
    """Starts todo-api processes (ServerFactory.start). At teardown each one
    gets SIGTERM and a bounded wait, and the test fails unless it exited 0 with
    no sanitizer report on stderr (kept in tmp_path for diagnostics)."""
    factory = h.ServerFactory(todo_api_bin, tmp_path)
    yield factory
    problems = factory.check_all()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def start_server(server_factory):
    """start_server(args=(), env=None, **kw) -> Server; start failures fail the test."""

    def start(*args, **kw):
        try:
            return server_factory.start(*args, **kw)
        except h.StartError as e:
            pytest.fail(str(e), pytrace=False)

    return start


@pytest.fixture
def server(start_server):
    """A todo-api with the default configuration."""
    return start_server()


@pytest.fixture
def channel(server):
    ch = server.channel()
    yield ch
    ch.close()


@pytest.fixture
def stub(pb, channel):
    return pb[1].TodosStub(channel)


@pytest.fixture(scope="session")
def nghttp():
    path = shutil.which("nghttp")
    assert path, "nghttp not found (Debian package nghttp2-client)"
    return path
