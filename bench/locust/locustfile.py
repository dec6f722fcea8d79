"""Locust load for todo-api over gRPC (current Locust, gevent-compatible grpcio).

Every simulated user owns one gRPC channel. Each call is reported through
Locust's request event (request_type "grpc"); a failed call is reported with
its gRPC status code name in the failure ("UNAVAILABLE: ...").

Tasks and weights:
  GetTodos   10  (tag "walkthrough": the original walkthrough's only task)
  ListTodos   4  (a page of 20)
  GetTodo     4  (one of the user's own todos)
  CreateTodo  2  (kept to at most 20 live todos per user)
  UpdateTodo  1  (priority, with a field mask)
  DeleteTodo  1
`--tags walkthrough` runs the walkthrough's scenario alone (GetTodos, which
the original service and the Go mirror in bench/peers/go also serve).

The host is gRPC's "host:port" (an "http://" or "grpc://" prefix is
dropped), as the original's TARGET_HOST=todo-api.default.svc.cluster.local:80.

Stubs: imported from $PY_GEN when it holds todos_pb2, else generated at start
from $TODOS_PROTO (default: ../../proto/todos.proto next to this file, or
./todos.proto as in the container image) with grpc_tools.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

import grpc.experimental.gevent as grpc_gevent

grpc_gevent.init_gevent()

import grpc  # noqa: E402
from locust import User, between, events, tag, task  # noqa: E402

HERE = Path(__file__).resolve().parent
CALL_TIMEOUT = float(os.environ.get("GRPC_TIMEOUT", "10"))
TOKEN = os.environ.get("TODO_TOKEN", "xyz")  # the walkthrough's token


def _load_stubs():
    gen = os.environ.get("PY_GEN")
    if gen and (Path(gen) / "todos_pb2.py").exists():
        sys.path.insert(0, gen)
    else:
        proto = Path(os.environ.get("TODOS_PROTO", "")) if os.environ.get("TODOS_PROTO") else None
        if proto is None:
            for cand in (HERE.parent.parent / "proto" / "todos.proto", HERE / "todos.proto"):
                if cand.exists():
                    proto = cand
                    break
        if proto is None or not proto.exists():
            raise RuntimeError("todos.proto not found: set TODOS_PROTO or PY_GEN")
        from grpc_tools import protoc
        import grpc_tools

        out = tempfile.mkdtemp(prefix="locust_todos_")
        inc = Path(grpc_tools.__file__).parent / "_proto"
        rc = protoc.main(["protoc", f"-I{proto.parent}", f"-I{inc}", f"--python_out={out}",
                          f"--grpc_python_out={out}", str(proto)])
        if rc != 0:
            raise RuntimeError(f"protoc failed on {proto}")
        sys.path.insert(0, out)
    import todos_pb2
    import todos_pb2_grpc

    return todos_pb2, todos_pb2_grpc


pb, pb_grpc = _load_stubs()


class GrpcFailure(Exception):
    """A call that ended with a non-OK gRPC status; str() starts with the code."""


def target_of(host):
    host = host or os.environ.get("TARGET_HOST", "127.0.0.1:8000")
    for prefix in ("http://", "https://", "grpc://"):
        if host.startswith(prefix):
            host = host[len(prefix):]
    return host.rstrip("/")


class TodoUser(User):
    wait_time = between(0.1, 1)

    def on_start(self):
        self.channel = grpc.insecure_channel(target_of(self.host))
        self.stub = pb_grpc.TodosStub(self.channel)
        self.ids = []

    def on_stop(self):
        self.channel.close()

    def call(self, name, method, request):
        start = time.perf_counter()
        response, exc, length = None, None, 0
        try:
            response = method(request, timeout=CALL_TIMEOUT)
            length = response.ByteSize()
        except grpc.RpcError as e:
            exc = GrpcFailure(f"{e.code().name}: {e.details()}")
        except Exception as e:  # noqa: BLE001 - any client-side error is a failure too
            exc = e
        self.environment.events.request.fire(
            request_type="grpc", name=name, response_time=(time.perf_counter() - start) * 1000.0,
            response_length=length, exception=exc, context={}, response=response)
        return response

    @tag("walkthrough")
    @task(10)
    def get_todos(self):
        self.call("GetTodos", self.stub.GetTodos, pb.Request(token=TOKEN))

    @task(4)
    def list_todos(self):
        self.call("ListTodos", self.stub.ListTodos, pb.ListTodosRequest(token=TOKEN, page_size=20))

    @task(2)
    def create_todo(self):
        if len(self.ids) >= 20:
            return self.delete_todo()
        r = self.call("CreateTodo", self.stub.CreateTodo,
                      pb.CreateTodoRequest(token=TOKEN, title="load test", tag="locust", priority=2))
        if r is not None:
            self.ids.append(r.id)

    @task(4)
    def get_todo(self):
        if not self.ids:
            return self.create_todo()
        self.call("GetTodo", self.stub.GetTodo, pb.GetTodoRequest(token=TOKEN, id=self.ids[-1]))

    @task(1)
    def update_todo(self):
        if not self.ids:
            return self.create_todo()
        req = pb.UpdateTodoRequest(token=TOKEN, todo=pb.Response.Todo(id=self.ids[0], priority=3))
        req.update_mask.paths.append("priority")
        self.call("UpdateTodo", self.stub.UpdateTodo, req)

    @task(1)
    def delete_todo(self):
        if not self.ids:
            return
        if self.call("DeleteTodo", self.stub.DeleteTodo,
                     pb.DeleteTodoRequest(token=TOKEN, id=self.ids[0])) is not None:
            self.ids.pop(0)


@events.init_command_line_parser.add_listener
def _args(parser):
    parser.add_argument("--grpc-timeout", type=float, default=CALL_TIMEOUT, env_var="GRPC_TIMEOUT",
                        help="Deadline of each gRPC call in seconds")
