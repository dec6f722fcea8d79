"""GetTodos through real clients: generated stubs, a hand-built descriptor, load."""

import re
import time

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

import todo_harness as h

ID_RE = re.compile(r"^[0-9a-f]{24}$")
METHOD = "/grpc.Todos/GetTodos"


def check_seed(response):
    assert len(response.todos) == 1, response
    todo = response.todos[0]
    assert todo.title == "Add my todos"
    assert todo.tag == "default"
    assert todo.priority == 1
    assert ID_RE.match(todo.id), f"id {todo.id!r} is not 24 lowercase hex chars"
    return todo


def test_get_todos_generated_stub(pb, stub):
    todos_pb2, _ = pb
    res = stub.GetTodos(todos_pb2.Request(token="anything"), timeout=h.CALL_TIMEOUT)
    first = check_seed(res)
    # The store is stable: a second call returns the same todo (same id).
    again = stub.GetTodos(todos_pb2.Request(), timeout=h.CALL_TIMEOUT)
    assert check_seed(again).id == first.id


def original_message_classes():
    """Request and Response built from a FileDescriptorProto written out by
    hand, field for field as the original Go service's todos.proto declares
    them (no generated module involved)."""
    fdp = descriptor_pb2.FileDescriptorProto()
    fdp.name = "original/todos.proto"
    fdp.package = "grpc"
    fdp.syntax = "proto3"
    F = descriptor_pb2.FieldDescriptorProto

    req = fdp.message_type.add(name="Request")
    req.field.add(name="token", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL,
                  json_name="token")

    res = fdp.message_type.add(name="Response")
    todo = res.nested_type.add(name="Todo")
    for name, number, ftype in (("id", 1, F.TYPE_STRING), ("title", 2, F.TYPE_STRING),
                                ("tag", 3, F.TYPE_STRING), ("priority", 4, F.TYPE_INT32)):
        todo.field.add(name=name, number=number, type=ftype, label=F.LABEL_OPTIONAL,
                       json_name=name)
    res.field.add(name="todos", number=1, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
                  type_name=".grpc.Response.Todo", json_name="todos")

    svc = fdp.service.add(name="Todos")
    svc.method.add(name="GetTodos", input_type=".grpc.Request", output_type=".grpc.Response")

    pool = descriptor_pool.DescriptorPool()  # private: no clash with todos_pb2
    pool.Add(fdp)
    request_cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("grpc.Request"))
    response_cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("grpc.Response"))
    assert pool.FindServiceByName("grpc.Todos").methods_by_name["GetTodos"]
    return request_cls, response_cls


def test_get_todos_original_layout_without_generated_module(server):
    request_cls, response_cls = original_message_classes()
    with server.channel() as ch:
        get_todos = ch.unary_unary(METHOD, request_serializer=request_cls.SerializeToString,
                                   response_deserializer=response_cls.FromString)
        res = get_todos(request_cls(token="t0ken"), timeout=h.CALL_TIMEOUT)
    assert isinstance(res, response_cls)
    check_seed(res)


def test_response_metadata_shape(pb, stub):
    todos_pb2, _ = pb
    res, call = stub.GetTodos.with_call(todos_pb2.Request(), timeout=h.CALL_TIMEOUT,
                                        metadata=(("x-test", "1"),))
    check_seed(res)
    assert call.code() == grpc.StatusCode.OK
    assert call.details() in (None, "")
    initial = dict(call.initial_metadata())
    trailing = dict(call.trailing_metadata())
    # grpc consumes the reserved headers; none may leak into metadata.
    for md in (initial, trailing):
        assert not [k for k in md if k.startswith("grpc-") or k.startswith(":")], md
        assert "content-type" not in md


def test_thousand_concurrent_calls_over_ten_channels(pb, server):
    todos_pb2, todos_pb2_grpc = pb
    channels = [server.channel() for _ in range(10)]
    try:
        stubs = [todos_pb2_grpc.TodosStub(ch) for ch in channels]
        timeout = 30 * h.SLOW
        futures = [stubs[i % 10].GetTodos.future(todos_pb2.Request(token=str(i)), timeout=timeout)
                   for i in range(1000)]
        deadline = time.monotonic() + timeout + 10
        for f in futures:  # grpc futures are not concurrent.futures: wait one by one
            f.exception(timeout=max(0.0, deadline - time.monotonic()))
        assert all(f.done() for f in futures)
        codes = {}
        ids = set()
        for f in futures:
            code = f.code()
            codes[code] = codes.get(code, 0) + 1
            if code == grpc.StatusCode.OK:
                ids.add(check_seed(f.result()).id)
        assert codes == {grpc.StatusCode.OK: 1000}, codes
        assert len(ids) == 1
    finally:
        for ch in channels:
            ch.close()
    assert server.alive()
