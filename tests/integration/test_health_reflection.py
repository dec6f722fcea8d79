"""grpc.health.v1.Health and server reflection (v1 and v1alpha) on todo-api,
seen by the clients people actually use: grpcio-health-checking,
grpcio-reflection's ProtoReflectionDescriptorDatabase (v1alpha), raw v1
stubs generated from /usr/share/grpc-proto, and, when installed under
.tools/bin, grpcurl and grpc-health-probe.

todo-api's descriptor set holds todos.proto (which imports
google/protobuf/field_mask.proto), health, and reflection v1 and v1alpha.
Per stream, a requested file is always returned and a dependency only until
it has been sent once; tests/unit/test_reflection.c covers deeper graphs."""

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

import todo_harness as h

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN

SERVICES = [
    "grpc.Todos",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
]
FIELD_MASK = "google/protobuf/field_mask.proto"
REFLECTION_V1_PROTO = Path("/usr/share/grpc-proto/grpc/reflection/v1/reflection.proto")
TOOLS = Path(os.environ.get("TOOLS_BIN") or (h.REPO / ".tools" / "bin"))
NOT_FOUND = grpc.StatusCode.NOT_FOUND.value[0]
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]


def health_stub(channel):
    return health_pb2_grpc.HealthStub(channel)


def check(channel, service):
    return health_stub(channel).Check(health_pb2.HealthCheckRequest(service=service),
                                      timeout=h.CALL_TIMEOUT)


# ---- health: Check ----------------------------------------------------------


@pytest.mark.parametrize("service", ["", "grpc.Todos"])
def test_check_serving(channel, service):
    assert check(channel, service).status == SERVING


def test_check_unknown_is_not_found(channel):
    with pytest.raises(grpc.RpcError) as e:
        check(channel, "no.such.Service")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert "no.such.Service" in e.value.details()


# ---- health: Watch ----------------------------------------------------------


def test_watch_sends_current_status_at_once(channel):
    for service in ("", "grpc.Todos"):
        call = health_stub(channel).Watch(health_pb2.HealthCheckRequest(service=service),
                                          timeout=h.CALL_TIMEOUT)
        assert next(call).status == SERVING
        call.cancel()


def test_watch_unknown_service_stays_open(channel):
    wait = 1.5 * h.SLOW
    call = health_stub(channel).Watch(health_pb2.HealthCheckRequest(service="no.such.Service"),
                                      timeout=wait)
    t0 = time.monotonic()
    assert next(call).status == SERVICE_UNKNOWN
    # Not NOT_FOUND, not the end of the stream: nothing more until our deadline.
    with pytest.raises(grpc.RpcError) as e:
        next(call)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - t0 >= wait * 0.8


def test_many_watchers_cancelled(server, channel):
    """Watchers that go away (client cancel) are forgotten: the server keeps
    answering and exits cleanly (the fixture checks exit code and sanitizers)."""
    calls = []
    for i in range(50):
        service = ["", "grpc.Todos", f"unknown.{i}"][i % 3]
        call = health_stub(channel).Watch(health_pb2.HealthCheckRequest(service=service),
                                          timeout=h.CALL_TIMEOUT * 3)
        calls.append((service, call))
    for service, call in calls:
        assert next(call).status == (SERVICE_UNKNOWN if service.startswith("unknown") else SERVING)
    for _, call in calls:
        call.cancel()
    assert check(channel, "grpc.Todos").status == SERVING
    assert server.alive()


def drain_watch(call):
    """Reads a Watch stream to its end: (statuses, final status code)."""
    seen = []
    try:
        for res in call:
            seen.append(res.status)
    except grpc.RpcError as e:
        return seen, e.code()
    return seen, grpc.StatusCode.OK


def test_sigterm_ends_watches_and_server_exits(start_server):
    grace_s = int(4 * h.SLOW)
    srv = start_server(env={"SHUTDOWN_GRACE": f"{grace_s}s", "DRAIN_DELAY": "0s"})
    ch = srv.channel()
    try:
        stub = health_stub(ch)
        calls = {s: stub.Watch(health_pb2.HealthCheckRequest(service=s), timeout=60 * h.SLOW)
                 for s in ("", "grpc.Todos")}
        for call in calls.values():
            assert next(call).status == SERVING
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        for service, call in calls.items():
            seen, code = drain_watch(call)
            # Exactly one change (statuses are only sent when they change),
            # then the server ends the stream.
            assert seen == [NOT_SERVING], f"watch {service!r}: {seen}"
            assert code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.OK), code
        srv.proc.wait(timeout=grace_s + h.STOP_TIMEOUT)
        elapsed = time.monotonic() - t0
    finally:
        ch.close()
    assert srv.stop() == 0, srv.describe()
    assert elapsed < grace_s, f"exit took {elapsed:.1f}s, grace is {grace_s}s\n{srv.describe()}"
    assert "grace period over" not in srv.stderr(), srv.describe()


# ---- reflection through grpcio-reflection (v1alpha) ------------------------


def test_reflection_list_services(channel):
    db = ProtoReflectionDescriptorDatabase(channel)
    assert sorted(db.get_services()) == SERVICES


@pytest.mark.parametrize("symbol, kind", [
    ("grpc.Todos", "service"),
    ("grpc.Todos.GetTodos", "method"),
    ("grpc.Request", "message"),
    ("grpc.Response.Todo", "nested message"),
])
def test_reflection_symbol_in_todos_proto(channel, symbol, kind):
    # A fresh database each time, so the server is asked (no local cache).
    fd = ProtoReflectionDescriptorDatabase(channel).FindFileContainingSymbol(symbol)
    assert fd.name == "todos.proto", kind
    assert fd.package == "grpc"


def test_reflection_symbols_of_other_files(channel):
    for symbol, name in [
        ("grpc.health.v1.Health.Watch", "grpc/health/v1/health.proto"),
        ("grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc/health/v1/health.proto"),
        ("grpc.reflection.v1.ServerReflection", "grpc/reflection/v1/reflection.proto"),
        ("grpc.reflection.v1alpha.ErrorResponse", "grpc/reflection/v1alpha/reflection.proto"),
    ]:
        assert ProtoReflectionDescriptorDatabase(channel).FindFileContainingSymbol(
            symbol).name == name


def test_reflection_file_by_name(channel):
    fd = ProtoReflectionDescriptorDatabase(channel).FindFileByName("todos.proto")
    assert fd.name == "todos.proto"
    assert [s.name for s in fd.service] == ["Todos"]
    assert {"Request", "Response"} <= {m.name for m in fd.message_type}
    assert list(fd.dependency) == [FIELD_MASK]


def test_reflection_unknown_is_key_error(channel):
    db = ProtoReflectionDescriptorDatabase(channel)
    with pytest.raises(KeyError):
        db.FindFileContainingSymbol("grpc.NoSuchThing")
    with pytest.raises(KeyError):
        db.FindFileByName("nope.proto")
    # (FindFileContainingExtension never reaches the server: protobuf's local
    # base class answers None first. The raw v1 test covers that request.)
    with pytest.raises(KeyError):
        db.FindAllExtensionNumbers("grpc.Request")


def test_reflection_dynamic_call(channel):
    """What a generic client does: learn the types by reflection, build
    message classes from them, and make a real call with no generated code."""
    pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
    method = pool.FindServiceByName("grpc.Todos").methods_by_name["GetTodos"]
    assert not method.client_streaming and not method.server_streaming
    todo = pool.FindMessageTypeByName("grpc.Response.Todo")
    assert [f.name for f in todo.fields][:4] == ["id", "title", "tag", "priority"]
    req_cls = message_factory.GetMessageClass(method.input_type)
    res_cls = message_factory.GetMessageClass(method.output_type)
    get_todos = channel.unary_unary("/grpc.Todos/GetTodos",
                                    request_serializer=req_cls.SerializeToString,
                                    response_deserializer=res_cls.FromString)
    res = get_todos(req_cls(token="reflected"), timeout=h.CALL_TIMEOUT)
    assert len(res.todos) == 1
    assert res.todos[0].title == "Add my todos" and res.todos[0].priority == 1


# ---- reflection v1, raw ------------------------------------------------------


@pytest.fixture(scope="session")
def v1(tmp_path_factory):
    """(reflection_pb2, reflection_pb2_grpc) for grpc.reflection.v1, generated
    from the system proto under a name that cannot clash with the grpc
    package."""
    if not REFLECTION_V1_PROTO.is_file():
        pytest.skip(f"{REFLECTION_V1_PROTO} missing (Debian package grpc-proto)")
    out = tmp_path_factory.mktemp("reflection_v1")
    shutil.copy(REFLECTION_V1_PROTO, out / "ugrpc_test_reflection_v1.proto")
    from grpc_tools import protoc

    rc = protoc.main(["grpc_tools.protoc", f"-I{out}", f"--python_out={out}",
                      f"--grpc_python_out={out}", str(out / "ugrpc_test_reflection_v1.proto")])
    assert rc == 0, "grpc_tools.protoc failed on reflection v1"
    sys.path.insert(0, str(out))
    import ugrpc_test_reflection_v1_pb2 as pb
    import ugrpc_test_reflection_v1_pb2_grpc as pb_grpc

    return pb, pb_grpc


class Stream:
    """One ServerReflectionInfo stream driven request by request."""

    def __init__(self, v1, channel, timeout=h.CALL_TIMEOUT * 3):
        self.pb = v1[0]
        self.q = queue.Queue()
        self.call = v1[1].ServerReflectionStub(channel).ServerReflectionInfo(
            iter(self.q.get, None), timeout=timeout)

    def ask(self, **fields):
        req = self.pb.ServerReflectionRequest(**fields)
        self.q.put(req)
        res = next(self.call)
        assert res.original_request == req
        assert res.valid_host == req.host
        return res

    def close(self):
        """Half-closes; the server then ends the stream with OK."""
        self.q.put(None)
        with pytest.raises(StopIteration):
            next(self.call)
        assert self.call.code() == grpc.StatusCode.OK


def file_names(res):
    assert res.WhichOneof("message_response") == "file_descriptor_response", res
    return [descriptor_pb2.FileDescriptorProto.FromString(b).name
            for b in res.file_descriptor_response.file_descriptor_proto]


def error_of(res):
    assert res.WhichOneof("message_response") == "error_response", res
    return res.error_response.error_code, res.error_response.error_message


def test_v1_list_services(v1, channel):
    s = Stream(v1, channel)
    res = s.ask(host="todo.example", list_services="*")
    assert sorted(x.name for x in res.list_services_response.service) == SERVICES
    s.close()


def test_v1_files_and_errors_on_one_stream(v1, channel):
    s = Stream(v1, channel)
    # The requested file first, then its dependencies.
    assert file_names(s.ask(file_by_filename="todos.proto")) == ["todos.proto", FIELD_MASK]
    # Already sent on this stream, but asked for directly: returned again,
    # without the dependency the client already has.
    assert file_names(s.ask(file_containing_symbol="grpc.Response.Todo")) == ["todos.proto"]
    assert file_names(s.ask(file_by_filename=FIELD_MASK)) == [FIELD_MASK]
    assert file_names(s.ask(host="h", file_containing_symbol="grpc.health.v1.Health.Check")) == [
        "grpc/health/v1/health.proto"]
    assert file_names(s.ask(file_containing_symbol=".grpc.Request")) == ["todos.proto"]

    code, msg = error_of(s.ask(file_by_filename="nope.proto"))
    assert code == NOT_FOUND and "nope.proto" in msg
    code, msg = error_of(s.ask(file_containing_symbol="grpc.Todos.NoMethod"))
    assert code == NOT_FOUND and "grpc.Todos.NoMethod" in msg
    code, _ = error_of(s.ask(file_containing_extension=v1[0].ExtensionRequest(
        containing_type="grpc.Request", extension_number=100)))
    assert code == NOT_FOUND
    code, _ = error_of(s.ask(all_extension_numbers_of_type="grpc.Request"))
    assert code == NOT_FOUND
    code, _ = error_of(s.ask(host="only.a.host"))
    assert code == INVALID_ARGUMENT
    # Errors do not end the stream.
    assert file_names(s.ask(file_by_filename="grpc/reflection/v1/reflection.proto")) == [
        "grpc/reflection/v1/reflection.proto"]
    s.close()


def test_v1_files_are_the_embedded_descriptors(v1, channel, todo_api_bin):
    """Every file comes back as protoc wrote it into the embedded set."""
    protoset = Path(todo_api_bin).parent / "gen" / "todo_api.protoset"
    if not protoset.is_file():
        pytest.skip(f"no {protoset} next to the binary")
    want = {f.name: f for f in descriptor_pb2.FileDescriptorSet.FromString(
        protoset.read_bytes()).file}
    s = Stream(v1, channel)
    for name, fd in want.items():
        res = s.ask(file_by_filename=name)
        raw = res.file_descriptor_response.file_descriptor_proto[0]
        assert descriptor_pb2.FileDescriptorProto.FromString(raw) == fd
    s.close()


# A client window that stays at the HTTP/2 default (64 KiB): with BDP probing
# grpcio grows it so fast that the server would never have to wait.
SMALL_WINDOW = [("grpc.http2.bdp_probe", 0)]
BIG_FILES = ["grpc/reflection/v1alpha/reflection.proto", "grpc/reflection/v1/reflection.proto"]


def pipelined(v1, channel, n):
    """Sends n requests at once and reads the responses only later."""
    pb = v1[0]
    reqs = [pb.ServerReflectionRequest(host=str(i), file_by_filename=BIG_FILES[i % 2])
            for i in range(n)]
    call = v1[1].ServerReflectionStub(channel).ServerReflectionInfo(iter(reqs),
                                                                     timeout=h.CALL_TIMEOUT * 3)
    time.sleep(0.5 * h.SLOW)  # the server runs into backpressure before anything is read
    got, code = [], grpc.StatusCode.OK
    try:
        for res in call:
            got.append(res)
    except grpc.RpcError as e:
        code = e.code()
    for i, res in enumerate(got):
        assert res.original_request == reqs[i]
        assert file_names(res) == [BIG_FILES[i % 2]]
    return len(got), code


def test_v1_pipelined_requests_wait_for_the_reader(v1, start_server):
    """~1.8 KB answers, 90 of them: past the client's window plus the 64 KiB
    send queue, so the server is refused (UGRPC_EAGAIN), queues the rest of
    the requests and answers every one, in order, as the client reads."""
    srv = start_server(env={"LOG_LEVEL": "debug"})
    with srv.channel(SMALL_WINDOW) as ch:
        assert pipelined(v1, ch, 90) == (90, grpc.StatusCode.OK)
    assert "reflection: send queue full" in srv.stderr()


def test_v1_pipelined_requests_are_bounded(v1, start_server):
    """A client that keeps asking without reading: past 64 waiting requests
    the stream ends with RESOURCE_EXHAUSTED (what was answered is intact)."""
    srv = start_server()
    with srv.channel(SMALL_WINDOW) as ch:
        n, code = pipelined(v1, ch, 400)
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert 0 < n < 400
        assert check(ch, "grpc.Todos").status == SERVING  # the connection lives on


def test_v1alpha_and_v1_answer_alike(v1, channel):
    db = ProtoReflectionDescriptorDatabase(channel)
    alpha = db.FindFileContainingSymbol("grpc.Todos")
    s = Stream(v1, channel)
    res = s.ask(file_containing_symbol="grpc.Todos")
    assert file_names(res) == ["todos.proto", FIELD_MASK]
    raw = res.file_descriptor_response.file_descriptor_proto[0]
    assert descriptor_pb2.FileDescriptorProto.FromString(raw) == alpha
    s.close()


# ---- grpcurl and grpc-health-probe (pinned Go tools) -------------------------


def tool(name):
    path = TOOLS / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.skip(f"{path} not installed (third_party/deps.sh installs the pinned Go tools)")
    return str(path)


def run_tool(argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=h.CALL_TIMEOUT * 2,
                          stdin=subprocess.DEVNULL)


def test_grpcurl_list_describe_invoke(server):
    grpcurl = tool("grpcurl")
    base = [grpcurl, "-plaintext"]
    res = run_tool(base + [server.target, "list"])
    assert res.returncode == 0, res.stderr
    assert sorted(res.stdout.split()) == SERVICES
    res = run_tool(base + [server.target, "describe", "grpc.Todos"])
    assert res.returncode == 0, res.stderr
    assert "service Todos" in res.stdout and "rpc GetTodos" in res.stdout
    res = run_tool(base + [server.target, "describe", "grpc.Response.Todo"])
    assert res.returncode == 0, res.stderr
    assert "int32 priority = 4;" in res.stdout
    res = run_tool(base + ["-d", '{"token": "t"}', server.target, "grpc.Todos/GetTodos"])
    assert res.returncode == 0, res.stderr
    assert '"title": "Add my todos"' in res.stdout
    res = run_tool(base + [server.target, "describe", "grpc.NoSuchThing"])
    assert res.returncode != 0 and "not found" in res.stderr.lower()


def test_grpc_health_probe(server):
    probe = tool("grpc-health-probe")
    res = run_tool([probe, f"-addr={server.target}"])
    assert res.returncode == 0, res.stdout + res.stderr
    res = run_tool([probe, f"-addr={server.target}", "-service=grpc.Todos"])
    assert res.returncode == 0, res.stdout + res.stderr
    res = run_tool([probe, f"-addr={server.target}", "-service=no.such.Service"])
    assert res.returncode == 3, res.stdout + res.stderr  # 3: the RPC failed (NOT_FOUND)
