"""The admin endpoint: Prometheus metrics with go-grpc-prometheus names that
match the calls made, promtool's linting, the probes, and a strict HTTP/1.1
reader that answers bad input with 400/431/405 and keeps serving."""

import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request

import grpc
import pytest

import todo_harness as h


def scrape(port, path="/metrics"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=h.CALL_TIMEOUT) as r:
        return r.status, r.read().decode()


def samples(text):
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


@pytest.fixture
def admin_server(start_server):
    port = h.free_port()
    srv = start_server(env={"ADMIN_PORT": str(port)})
    assert h.wait_until(lambda: h.port_accepts(port), h.START_TIMEOUT)
    return srv, port


def lab(method, code=None):
    s = f'grpc_type="unary",grpc_service="grpc.Todos",grpc_method="{method}"'
    return s + (f',grpc_code="{code}"' if code else "")


def test_metrics_count_the_calls(pb, admin_server):
    srv, port = admin_server
    stub = pb[1].TodosStub(srv.channel())
    for _ in range(7):
        stub.GetTodos(pb[0].Request(), timeout=h.CALL_TIMEOUT)
    for _ in range(3):
        with pytest.raises(grpc.RpcError) as e:
            stub.GetTodo(pb[0].GetTodoRequest(id="0123456789abcdef01234567"), timeout=h.CALL_TIMEOUT)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as e:
        srv.channel().unary_unary("/grpc.Todos/Nope")(b"", timeout=h.CALL_TIMEOUT)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED

    status, text = scrape(port)
    assert status == 200
    m = samples(text)
    assert m["grpc_server_started_total{%s}" % lab("GetTodos")] == 7
    assert m["grpc_server_handled_total{%s}" % lab("GetTodos", "OK")] == 7
    assert m["grpc_server_msg_received_total{%s}" % lab("GetTodos")] == 7
    assert m["grpc_server_msg_sent_total{%s}" % lab("GetTodos")] == 7
    assert m["grpc_server_handled_total{%s}" % lab("GetTodo", "NOT_FOUND")] == 3
    unknown = 'grpc_type="unary",grpc_service="unknown",grpc_method="unknown"'
    assert m['grpc_server_handled_total{%s,grpc_code="UNIMPLEMENTED"}' % unknown] == 1

    # Histograms: cumulative buckets ending in +Inf == count.
    for method in ("GetTodos", "GetTodo"):
        buckets = [(k, v) for k, v in m.items()
                   if k.startswith("grpc_server_handling_seconds_bucket{%s," % lab(method))]
        values = [v for _, v in buckets]
        assert values == sorted(values), buckets
        assert buckets[-1][0].endswith('le="+Inf"}')
        assert values[-1] == m["grpc_server_handling_seconds_count{%s}" % lab(method)]
    assert m["process_resident_memory_bytes"] > 0 and m["process_open_fds"] > 0

    # Counters never go backwards.
    stub.GetTodos(pb[0].Request(), timeout=h.CALL_TIMEOUT)
    m2 = samples(scrape(port)[1])
    for k, v in m.items():
        if k.split("{")[0].endswith(("_total", "_count", "_bucket", "_sum")):
            assert m2[k] >= v, k
    assert m2["grpc_server_handled_total{%s}" % lab("GetTodos", "OK")] == 8


def test_promtool_accepts_the_scrape(pb, admin_server):
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found (Debian package prometheus; third_party/deps.sh test)"
    srv, port = admin_server
    pb[1].TodosStub(srv.channel()).GetTodos(pb[0].Request(), timeout=h.CALL_TIMEOUT)
    text = scrape(port)[1]
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def raw(port, data):
    with socket.create_connection(("127.0.0.1", port), timeout=h.CALL_TIMEOUT) as s:
        s.sendall(data)
        buf = b""
        while True:
            d = s.recv(65536)
            if not d:
                return buf
            buf += d


def test_probes_and_bad_requests(admin_server):
    srv, port = admin_server
    assert scrape(port, "/healthz") == (200, "ok\n")
    assert scrape(port, "/readyz") == (200, "ready\n")
    assert raw(port, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 404")
    assert raw(port, b"HEAD /healthz HTTP/1.1\r\n\r\n").endswith(b"\r\n\r\n")
    assert raw(port, b"POST /metrics HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 405")
    for bad in (b"GARBAGE\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                b"get / HTTP/1.1\r\n\r\n", b"GET noslash HTTP/1.1\r\n\r\n",
                b"GET /a\x01b HTTP/1.1\r\n\r\n"):
        assert raw(port, bad).startswith(b"HTTP/1.1 400"), bad
    assert raw(port, b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 431")
    # Still serving after all that.
    assert scrape(port, "/healthz")[0] == 200
    assert srv.alive()


def test_connections_over_the_limit_are_closed_and_the_port_recovers(admin_server):
    """64 admin connections at most (src/app/admin.c MAX_CONNS): with 64
    held open and idle, further ones are accepted and closed at once
    (several of them, so the one-at-a-time refusal path is taken back to
    back), and once the held ones go the port answers again."""
    srv, port = admin_server
    fd_dir = f"/proc/{srv.proc.pid}/fd"

    def settled_fds():
        """The server's fd count once it holds still for 0.3 s (the
        fixture's probe connection may still be closing, and it counts)."""
        last = None
        while True:
            n = len(os.listdir(fd_dir))
            if n == last:
                return n
            last = n
            time.sleep(0.3)
    fds0 = settled_fds()
    held = [socket.create_connection(("127.0.0.1", port), timeout=h.CALL_TIMEOUT) for _ in range(64)]
    try:
        # Every held one is really open: a byte of a request keeps it waiting.
        for s in held:
            s.sendall(b"G")
        # And accepted by the server before the extras come: the listen
        # backlog is 64, and a handshake completed past a full backlog waits
        # for the kernel's SYN-ACK retries (1 s, 3 s, ...) to be queued.
        assert h.wait_until(lambda: len(os.listdir(fd_dir)) >= fds0 + 64, h.START_TIMEOUT), \
            f"the server holds {len(os.listdir(fd_dir)) - fds0} of the 64 connections"
        extra = [socket.create_connection(("127.0.0.1", port), timeout=h.CALL_TIMEOUT) for _ in range(5)]
        for s in extra:
            # At once: well before the 5 s that drops a silent client anyway.
            s.settimeout(2.0)
            try:
                got = s.recv(100)
            except ConnectionResetError:
                got = b""
            except socket.timeout:
                got = "still open after 2 s"
            assert got == b"", got
            s.close()
        assert srv.alive()
    finally:
        for s in held:
            s.close()
    def healthy():
        try:  # refused (closed or reset) while the held ones are still closing
            return scrape(port, "/healthz") == (200, "ok\n")
        except OSError:
            return False
    assert h.wait_until(healthy, h.START_TIMEOUT)
    # The held ones finish their request and are answered.
    assert raw(port, b"GET /healthz HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 200")
