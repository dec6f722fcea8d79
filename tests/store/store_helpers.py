"""Helpers shared by the store tests (the fixtures are in conftest.py)."""

import time
import uuid

import grpc
import pytest

import ferret_harness as fh
import todo_harness as h

STORES = ("memory", "mongo")
SEED = ("Add my todos", "default", 1)


def need_ferretdb():
    """Skips the test, with the reason, when FerretDB is not installed."""
    if not fh.available():
        pytest.skip(fh.not_available_reason())


def unique_db_name():
    return "st_" + uuid.uuid4().hex[:16]


def health(server_or_channel, service="", timeout=2.0):
    """The health status name ("SERVING", "NOT_SERVING", ...) or the error code name."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    own = not isinstance(server_or_channel, grpc.Channel)
    ch = server_or_channel.channel() if own else server_or_channel
    try:
        res = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=service),
                                                   timeout=timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(res.status)
    except grpc.RpcError as e:
        return f"error {e.code().name}: {e.details()}"
    finally:
        if own:
            ch.close()


def wait_health(server, want, timeout, services=("", "grpc.Todos")):
    """Waits (bounded) until every service reports `want`; returns the last statuses."""
    last = {}

    def ok():
        last.update({s: health(server, s) for s in services})
        return all(v == want for v in last.values())

    h.wait_until(ok, timeout, interval=0.1)
    return last


class Api:
    """A running todo-api and a stub on it."""

    def __init__(self, kind, server, pb, db=None, db_name=None):
        self.kind = kind
        self.server = server
        self.pb = pb[0]
        self.channel = server.channel()
        self.stub = pb[1].TodosStub(self.channel)
        self.db = db  # FerretDB or None
        self.db_name = db_name

    def close(self):
        self.channel.close()

    def mongo(self):
        """pymongo collection behind this server (mongo store only)."""
        assert self.db is not None
        client = self.db.client()
        return client, client[self.db_name]["todos"]

    # Short-hands, every call with a deadline.
    def get_todos(self, **kw):
        return list(self.stub.GetTodos(self.pb.Request(**kw), timeout=h.CALL_TIMEOUT).todos)

    def create(self, title, tag="", priority=0, **kw):
        return self.stub.CreateTodo(self.pb.CreateTodoRequest(title=title, tag=tag,
                                                              priority=priority, **kw),
                                    timeout=h.CALL_TIMEOUT)

    def get(self, id, **kw):
        return self.stub.GetTodo(self.pb.GetTodoRequest(id=id, **kw), timeout=h.CALL_TIMEOUT)

    def update(self, todo, paths=None, **kw):
        from google.protobuf import field_mask_pb2

        req = self.pb.UpdateTodoRequest(todo=todo, **kw)
        if paths is not None:
            req.update_mask.CopyFrom(field_mask_pb2.FieldMask(paths=list(paths)))
        return self.stub.UpdateTodo(req, timeout=h.CALL_TIMEOUT)

    def delete(self, id, **kw):
        return self.stub.DeleteTodo(self.pb.DeleteTodoRequest(id=id, **kw), timeout=h.CALL_TIMEOUT)

    def list(self, **kw):
        return self.stub.ListTodos(self.pb.ListTodosRequest(**kw), timeout=h.CALL_TIMEOUT)


def mongo_env(db, name, **extra):
    env = {"MONGO_URI": db.uri, "DB_NAME": name}
    env.update(extra)
    return env


def start_api(start, pb, kind, ferret=None, env=None, name=None, wait_serving=True):
    """Starts todo-api on the `kind` store ("memory" or "mongo", then on
    `ferret` with a fresh DB_NAME) and, for mongo, waits until it is SERVING."""
    env = dict(env or {})
    if kind == "mongo":
        name = name or unique_db_name()
        env = {**mongo_env(ferret, name), **env}
    srv = start(env=env)
    api = Api(kind, srv, pb, db=ferret if kind == "mongo" else None, db_name=name)
    if kind == "mongo" and wait_serving:
        st = wait_health(srv, "SERVING", 15 * h.SLOW)
        assert set(st.values()) == {"SERVING"}, f"not SERVING: {st}\n{srv.describe()}"
    return api


def rpc_error(fn, *args, **kw):
    """Runs a call that must fail; returns its grpc.RpcError."""
    try:
        res = fn(*args, **kw)
    except grpc.RpcError as e:
        return e
    raise AssertionError(f"expected an error, got {res!r}")


def timed(fn, *args, **kw):
    """(result or RpcError, seconds)."""
    t0 = time.monotonic()
    try:
        res = fn(*args, **kw)
    except grpc.RpcError as e:
        res = e
    return res, time.monotonic() - t0
