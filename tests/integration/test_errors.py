"""Error statuses: unknown methods, undecodable and oversized messages."""

import grpc
import pytest

import todo_harness as h


def identity_call(channel, method):
    """A raw-bytes unary caller: no serialization on either side."""
    return channel.unary_unary(method, request_serializer=None, response_deserializer=None)


def expect_rpc_error(fn, *args, **kw):
    kw.setdefault("timeout", h.CALL_TIMEOUT)
    with pytest.raises(grpc.RpcError) as ei:
        fn(*args, **kw)
    return ei.value


def still_serving(pb, channel):
    todos_pb2, todos_pb2_grpc = pb
    res = todos_pb2_grpc.TodosStub(channel).GetTodos(todos_pb2.Request(), timeout=h.CALL_TIMEOUT)
    assert len(res.todos) == 1 and res.todos[0].title == "Add my todos"


def test_unknown_method(pb, channel):
    err = expect_rpc_error(identity_call(channel, "/grpc.Todos/Nope"), b"")
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED, err
    assert "Nope" in err.details() and "grpc.Todos" in err.details(), err.details()
    still_serving(pb, channel)


def test_unknown_service(pb, channel):
    err = expect_rpc_error(identity_call(channel, "/nope.Svc/M"), b"")
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED, err
    assert "nope.Svc" in err.details(), err.details()
    still_serving(pb, channel)


def test_undecodable_request_is_internal(pb, channel):
    err = expect_rpc_error(identity_call(channel, "/grpc.Todos/GetTodos"), b"\xff\xff\xff")
    assert err.code() == grpc.StatusCode.INTERNAL, err
    assert err.details(), "INTERNAL without a message"
    still_serving(pb, channel)


def request_bytes(pb, token_len):
    return pb[0].Request(token="x" * token_len).SerializeToString()


def test_message_over_configured_limit(pb, start_server):
    srv = start_server(env={"MAX_RECV_MSG_SIZE": "1024"})
    with srv.channel() as ch:
        call = identity_call(ch, "/grpc.Todos/GetTodos")
        # Exactly at the limit: accepted (1 tag byte + 2 length bytes + 1021).
        at_limit = request_bytes(pb, 1021)
        assert len(at_limit) == 1024
        assert pb[0].Response.FromString(call(at_limit, timeout=h.CALL_TIMEOUT)).todos
        # One byte over, and a 2000-byte token: RESOURCE_EXHAUSTED.
        for n in (1022, 2000):
            err = expect_rpc_error(call, request_bytes(pb, n))
            assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, (n, err)
            assert err.details(), err
        still_serving(pb, ch)


def test_message_over_default_limit(pb, server):
    with server.channel() as ch:
        call = identity_call(ch, "/grpc.Todos/GetTodos")
        big = request_bytes(pb, 5 * 1024 * 1024)
        for _ in range(2):  # twice: the connection's flow control must survive the first
            err = expect_rpc_error(call, big, timeout=30 * h.SLOW)
            assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
            assert "larger than max" in err.details(), err.details()
        still_serving(pb, ch)
    assert server.alive()
