"""Fixtures for the store tests: the real todo-api binary (through
tests/integration/todo_harness.py) against the embedded memory store and
against a real MongoDB-wire database, FerretDB (ferret_harness.py).

`make integration` runs these with TODO_API_BIN, PY_GEN, TOOLS_BIN and
SANITIZER set (see todo_harness.py). Tests that need FerretDB are skipped,
with the reason, only when its binary is not installed.
"""

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for p in (HERE.parent / "integration", HERE):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import ferret_harness as fh  # noqa: E402
import todo_harness as h  # noqa: E402
from store_helpers import STORES, need_ferretdb, start_api, unique_db_name  # noqa: E402


def pytest_configure(config):
    if not config.pluginmanager.hasplugin("timeout"):
        raise pytest.UsageError("tests/store needs pytest-timeout (pip install pytest-timeout)")


def pytest_collection_modifyitems(config, items):
    # No test can hang forever: each gets a pytest-timeout limit unless it set its own.
    for item in items:
        if Path(str(item.fspath)).resolve().parent != HERE:
            continue
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(h.TEST_TIMEOUT))


def pytest_report_header(config):
    state = "found" if fh.available() else "NOT FOUND: mongo tests skip"
    return [f"store tests: todo-api {h.binary_path()}, ferretdb {fh.ferretdb_path()} ({state})"]


# ---- binaries and generated code ------------------------------------------

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
        import importlib.resources

        from grpc_tools import protoc

        gen = str(tmp_path_factory.mktemp("py_gen"))
        well_known = importlib.resources.files("grpc_tools") / "_proto"  # field_mask.proto
        rc = protoc.main(["grpc_tools.protoc", f"-I{h.PROTO_DIR}", f"-I{well_known}",
                          f"--python_out={gen}", f"--grpc_python_out={gen}",
                          str(h.PROTO_DIR / "todos.proto")])
        assert rc == 0, "grpc_tools.protoc failed on proto/todos.proto"
    for name in ("todos_pb2.py", "todos_pb2_grpc.py"):
        assert (Path(gen) / name).is_file(), f"no {name} in PY_GEN={gen}"
    if gen not in sys.path:
        sys.path.insert(0, gen)
    import todos_pb2
    import todos_pb2_grpc

    return todos_pb2, todos_pb2_grpc


# ---- FerretDB ------------------------------------------------------------

@pytest.fixture(scope="session")
def ferret_shared(tmp_path_factory):
    """One FerretDB for the whole session (info log level); tests isolate
    themselves with their own DB_NAME. Never stopped or frozen by a test."""
    need_ferretdb()
    db = fh.FerretDB(tmp_path_factory.mktemp("ferretdb-shared"))
    db.start()
    yield db
    db.stop()


@pytest.fixture
def ferret_factory(tmp_path):
    """ferret_factory(log_level="info", start=True) -> FerretDB of this test
    alone (free to stop, restart, freeze); stopped at teardown."""
    need_ferretdb()
    made = []

    def make(log_level="info", start=True):
        db = fh.FerretDB(tmp_path / f"ferretdb{len(made) + 1}", log_level=log_level)
        made.append(db)
        if start:
            db.start()
        return db

    yield make
    for db in made:
        db.stop()


@pytest.fixture
def ferret(ferret_factory):
    """A FerretDB of this test alone."""
    return ferret_factory()


@pytest.fixture
def db_name():
    return unique_db_name()


# ---- todo-api processes --------------------------------------------------

@pytest.fixture
def server_factory(todo_api_bin, tmp_path):
    """As tests/integration's: at teardown each server gets SIGTERM and a
    bounded wait, and the test fails unless it exited 0 with no sanitizer
    report. Request FerretDB fixtures *before* this one, so that servers stop
    while their database still runs."""
    factory = h.ServerFactory(todo_api_bin, tmp_path)
    yield factory
    problems = factory.check_all()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def start_server(server_factory):
    def start(*args, **kw):
        try:
            return server_factory.start(*args, **kw)
        except h.StartError as e:
            pytest.fail(str(e), pytrace=False)

    return start


@pytest.fixture(params=STORES)
def store_kind(request):
    if request.param == "mongo":
        need_ferretdb()
    return request.param


@pytest.fixture
def make_api(request, store_kind, pb, start_server):
    """make_api(env=None) -> Api on this test's store (memory, or the shared
    FerretDB with a fresh DB_NAME)."""
    made = []

    def make(env=None, **kw):
        ferret = request.getfixturevalue("ferret_shared") if store_kind == "mongo" else None
        api = start_api(start_server, pb, store_kind, ferret, env=env, **kw)
        made.append(api)
        return api

    yield make
    for api in made:
        api.close()


@pytest.fixture
def api(make_api):
    return make_api()
