"""Logs: JSON line by line, the access log (one line per call with method,
code, duration, peer and bytes) matching the calls made, its sampling (every
error still logged) and its off switch, and its configuration keys."""

import json
import re
from collections import Counter

import grpc
import pytest

import todo_harness as h
from observ_helpers import MISSING_ID, make_calls as calls


def json_lines(srv):
    """Every stderr line parsed as JSON (a line that is not fails the test)."""
    out = []
    for n, line in enumerate(srv.stderr().splitlines(), 1):
        try:
            obj = json.loads(line)
        except ValueError:
            pytest.fail(f"stderr line {n} is not JSON: {line!r}\n{srv.describe()}")
        assert isinstance(obj, dict), line
        assert {"ts", "level", "msg"} <= set(obj), line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", obj["ts"]), obj
        out.append(obj)
    return out


def access(srv):
    return [o for o in json_lines(srv) if o["msg"] == "access"]


def settle(srv, n):
    """Waits until n access lines are written (the line follows the reply)."""
    h.wait_until(lambda: srv.stderr().count('"msg":"access"') >= n, 5 * h.SLOW)


def test_access_log_json_matches_the_calls(pb, start_server):
    srv = start_server(env={"LOG_FORMAT": "json"})
    calls(pb, srv, ok=4, not_found=3, unimplemented=2)
    # And one invalid argument, to see a fourth code.
    with pytest.raises(grpc.RpcError) as e:
        pb[1].TodosStub(srv.channel()).GetTodo(pb[0].GetTodoRequest(id="nope"),
                                                timeout=h.CALL_TIMEOUT)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    settle(srv, 10)
    lines = access(srv)
    got = Counter((o["method"], o["code"]) for o in lines)
    assert got == Counter({("/grpc.Todos/GetTodos", "OK"): 4,
                           ("/grpc.Todos/GetTodo", "NOT_FOUND"): 3,
                           ("/grpc.Todos/Nope", "UNIMPLEMENTED"): 2,
                           ("/grpc.Todos/GetTodo", "INVALID_ARGUMENT"): 1}), lines
    reply = pb[1].TodosStub(srv.channel()).GetTodos(pb[0].Request(), timeout=h.CALL_TIMEOUT)
    req_in = 5 + len(pb[0].GetTodoRequest(id=MISSING_ID).SerializeToString())
    for o in lines:
        assert o["level"] == "info"
        assert set(o) == {"ts", "level", "msg", "method", "code", "duration_ms", "peer",
                          "bytes_in", "bytes_out"}, o
        assert isinstance(o["duration_ms"], float) and 0 <= o["duration_ms"] < 10000 * h.SLOW
        assert re.fullmatch(r"127\.0\.0\.1:\d+", o["peer"]), o
        if o["code"] == "OK":
            # A 5-byte prefix and the message, each way.
            assert o["bytes_in"] == 5 + len(pb[0].Request().SerializeToString())
            assert o["bytes_out"] == 5 + len(reply.SerializeToString())
        elif o["code"] == "NOT_FOUND":
            assert (o["bytes_in"], o["bytes_out"]) == (req_in, 0)
        elif o["code"] == "UNIMPLEMENTED":
            assert o["bytes_out"] == 0


def test_sampling_keeps_every_error(pb, start_server):
    srv = start_server(env={"LOG_FORMAT": "json", "ACCESS_LOG_SAMPLE": "10"})
    calls(pb, srv, ok=45, not_found=3)
    calls(pb, srv, ok=45, unimplemented=2)
    settle(srv, 14)
    lines = access(srv)
    codes = Counter(o["code"] for o in lines)
    # 1 in 10 of the 90 OK calls (the first, then every tenth): 9 lines.
    assert codes["OK"] == 9, codes
    assert codes["NOT_FOUND"] == 3 and codes["UNIMPLEMENTED"] == 2, codes
    assert all(o["sample"] == 10 for o in lines if o["code"] == "OK")


def test_access_log_off(pb, start_server):
    srv = start_server(env={"LOG_FORMAT": "json", "ACCESS_LOG": "off"})
    calls(pb, srv, ok=3, not_found=2, unimplemented=1)
    lines = json_lines(srv)
    assert lines and not [o for o in lines if o["msg"] == "access"], lines
    assert any("listening on" in o["msg"] for o in lines)


def test_access_log_text_format(pb, start_server):
    srv = start_server()
    calls(pb, srv, ok=1, not_found=1)
    h.wait_until(lambda: srv.stderr().count(" access ") >= 2, 5 * h.SLOW)
    text = [ln for ln in srv.stderr().splitlines() if " access " in ln]
    assert len(text) == 2, text
    pat = (r"\d{4}-\d\d-\d\dT[\d:.]+Z info  access /grpc\.Todos/%s %s \d+\.\d{3}ms "
           r"peer=127\.0\.0\.1:\d+ in=\d+ out=\d+")
    assert re.fullmatch(pat % ("GetTodos", "OK"), text[0]), text
    assert re.fullmatch(pat % ("GetTodo", "NOT_FOUND"), text[1]), text


@pytest.mark.parametrize("key,value", [("ACCESS_LOG", "yes"), ("ACCESS_LOG", ""),
                                       ("ACCESS_LOG_SAMPLE", "0"), ("ACCESS_LOG_SAMPLE", "x"),
                                       ("ACCESS_LOG_SAMPLE", "0.5")])
def test_bad_access_log_keys_exit_2(todo_api_bin, key, value):
    res = h.run_todo_api(todo_api_bin, env={key: value})
    assert res.returncode == 2, res
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and f"invalid {key}=" in lines[0], res.stderr


def test_many_concurrent_calls_each_get_one_whole_line(pb, start_server):
    # Lines are gathered per loop turn (past the 32 KiB buffer they are written
    # early): none may be lost, torn or duplicated, and all are out by exit.
    srv = start_server(env={"LOG_FORMAT": "json"})
    stub = pb[1].TodosStub(srv.channel())
    long_id = "f" * 24
    futures = [stub.GetTodo.future(pb[0].GetTodoRequest(id=long_id), timeout=h.CALL_TIMEOUT)
               for _ in range(600)]
    futures += [stub.GetTodos.future(pb[0].Request(), timeout=h.CALL_TIMEOUT) for _ in range(400)]
    codes = Counter()
    for f in futures:
        try:
            f.result()
            codes["OK"] += 1
        except grpc.RpcError as e:
            codes[e.code().name] += 1
    assert codes == {"NOT_FOUND": 600, "OK": 400}, codes
    assert srv.stop() == 0
    lines = json_lines(srv)
    got = Counter((o["method"], o["code"]) for o in lines if o["msg"] == "access")
    assert got == {("/grpc.Todos/GetTodo", "NOT_FOUND"): 600,
                   ("/grpc.Todos/GetTodos", "OK"): 400}, got
    assert lines[-1]["msg"] == "shutdown complete"
