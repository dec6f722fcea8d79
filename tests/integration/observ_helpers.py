"""Shared by test_observability*.py: calls with known outcomes."""

import grpc
import pytest

import todo_harness as h

MISSING_ID = "0123456789abcdef01234567"


def make_calls(pb, srv, ok=0, not_found=0, unimplemented=0):
    """`ok` GetTodos, `not_found` GetTodo of a missing id, `unimplemented`
    calls to a method the server does not have; asserts each outcome."""
    ch = srv.channel()
    stub = pb[1].TodosStub(ch)
    for _ in range(ok):
        stub.GetTodos(pb[0].Request(), timeout=h.CALL_TIMEOUT)
    for _ in range(not_found):
        with pytest.raises(grpc.RpcError) as e:
            stub.GetTodo(pb[0].GetTodoRequest(id=MISSING_ID), timeout=h.CALL_TIMEOUT)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    for _ in range(unimplemented):
        with pytest.raises(grpc.RpcError) as e:
            ch.unary_unary("/grpc.Todos/Nope")(b"", timeout=h.CALL_TIMEOUT)
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    ch.close()
