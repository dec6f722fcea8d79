"""Connection management and shutdown, seen by real clients: max connection
age with a reconnecting client, SIGTERM with calls in flight, keepalive
enforcement, the concurrent-stream limit, mutual TLS, and a deadline that
expires while the call waits on the worker pool."""

import concurrent.futures
import re
import signal
import socket
import struct
import subprocess
import time

import grpc
import pytest

import todo_harness as h


def test_max_connection_age_reconnects_without_failures(pb, start_server):
    srv = start_server(env={"MAX_CONNECTION_AGE": "1s", "MAX_CONNECTION_AGE_GRACE": "2s",
                            "LOG_LEVEL": "debug"})
    stub = pb[1].TodosStub(srv.channel())
    calls = 0
    end = time.monotonic() + 4.0
    while time.monotonic() < end:
        stub.GetTodos(pb[0].Request(), timeout=h.CALL_TIMEOUT)  # any failure raises
        calls += 1
    assert calls > 100
    goaways = len(re.findall(r"GOAWAY \(max_age\)", srv.stderr()))
    assert goaways >= 2, srv.stderr()[-2000:]


def test_sigterm_with_200_calls_in_flight(pb, start_server):
    srv = start_server(env={"STORE_DELAY_MS": "500", "WORKER_QUEUE_MAX": "1000",
                            "MAX_CONCURRENT_STREAMS": "300"})
    channels = [srv.channel() for _ in range(4)]
    for ch in channels:  # calls on connections the server accepted
        grpc.channel_ready_future(ch).result(timeout=h.CALL_TIMEOUT)
    futures = [pb[1].TodosStub(channels[i % 4]).GetTodos.future(pb[0].Request(),
                                                                 timeout=h.CALL_TIMEOUT)
               for i in range(200)]
    time.sleep(0.2)
    srv.proc.send_signal(signal.SIGTERM)
    failures = []
    for f in futures:
        try:
            assert f.result().todos[0].title == "Add my todos"
        except grpc.RpcError as e:
            failures.append((e.code(), e.details()))
    assert failures == []
    assert srv.proc.wait(timeout=h.STOP_TIMEOUT) == 0


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def read_frames(sock, seconds):
    sock.settimeout(seconds)
    buf = b""
    try:
        while True:
            d = sock.recv(65536)
            if not d:
                break
            buf += d
    except socket.timeout:
        pass
    frames, i = [], 0
    while i + 9 <= len(buf):
        n = int.from_bytes(buf[i:i + 3], "big")
        frames.append((buf[i + 3], int.from_bytes(buf[i + 5:i + 9], "big") & 0x7FFFFFFF,
                       buf[i + 9:i + 9 + n]))
        i += 9 + n
    return frames


def open_h2(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0))
    return s


def test_ping_flood_gets_too_many_pings(start_server):
    srv = start_server()
    with open_h2(srv.port) as s:
        for _ in range(5):
            s.sendall(frame(6, 0, 0, b"12345678"))
        frames = read_frames(s, 2 * h.SLOW)
    goaways = [f for f in frames if f[0] == 7]
    assert goaways, frames
    code = int.from_bytes(goaways[-1][2][4:8], "big")
    assert code == 0xB and goaways[-1][2][8:] == b"too_many_pings"
    # The server is fine afterwards.
    assert h.port_accepts(srv.port)


def test_stream_limit_with_a_grpc_client(pb, start_server):
    """MAX_CONCURRENT_STREAMS is advertised; a gRPC client queues its calls
    behind it and every one succeeds."""
    srv = start_server(env={"MAX_CONCURRENT_STREAMS": "2", "STORE_DELAY_MS": "50"})
    stub = pb[1].TodosStub(srv.channel())
    futures = [stub.GetTodos.future(pb[0].Request(), timeout=h.CALL_TIMEOUT) for _ in range(40)]
    assert all(len(f.result().todos) == 1 for f in futures)


def test_stream_limit_exceeded_by_a_raw_client(start_server):
    """A client that opens more streams than the SETTINGS it acknowledged
    allow gets the extra stream refused (RST_STREAM REFUSED_STREAM, RFC 9113
    5.1.2); the streams within the limit and the connection carry on."""
    srv = start_server(env={"MAX_CONCURRENT_STREAMS": "2"})
    with open_h2(srv.port) as s:
        settings = [f for f in read_frames(s, 0.5 * h.SLOW) if f[0] == 4]
        entries = {int.from_bytes(p[i:i + 2], "big"): int.from_bytes(p[i + 2:i + 6], "big")
                   for _, _, p in settings for i in range(0, len(p), 6)}
        assert entries.get(0x3) == 2, settings  # SETTINGS_MAX_CONCURRENT_STREAMS
        s.sendall(frame(4, 1, 0))  # ACK the server's SETTINGS

        def lit(n, v):
            return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v
        block = (b"\x83\x86" + lit(b":path", b"/grpc.Todos/GetTodos") + lit(b":authority", b"x")
                 + lit(b"content-type", b"application/grpc") + lit(b"te", b"trailers"))
        for sid in (1, 3, 5):
            s.sendall(frame(1, 4, sid, block))  # HEADERS without END_STREAM
        frames = read_frames(s, 0.5 * h.SLOW)
        resets = {f[1]: int.from_bytes(f[2], "big") for f in frames if f[0] == 3}
        assert resets == {5: 0x7}, frames  # only stream 5, REFUSED_STREAM
        # The two accepted calls complete: an empty request each.
        for sid in (1, 3):
            s.sendall(frame(0, 1, sid, b"\x00\x00\x00\x00\x00"))
        frames = read_frames(s, 0.5 * h.SLOW)
    assert not [f for f in frames if f[0] == 7], frames  # no GOAWAY
    ends = {f[1] for f in frames if f[0] == 1 and f[1] in (1, 3)}
    assert ends == {1, 3}, frames  # response HEADERS/trailers on both
    assert h.port_accepts(srv.port)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "1", "-subj", "/CN=test-ca", cwd=d)
    for name, cn in (("server", "localhost"), ("client", "client")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
        ext = d / f"{name}.ext"
        ext.write_text("subjectAltName=DNS:localhost\n" if name == "server" else
                       "extendedKeyUsage=clientAuth\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "1", "-extfile", ext.name,
                cwd=d)
    return d


def test_mtls_requires_a_client_certificate(pb, start_server, pki):
    srv = start_server(env={"TLS_CERT": str(pki / "server.pem"), "TLS_KEY": str(pki / "server.key"),
                            "TLS_CLIENT_CA": str(pki / "ca.pem")})
    ca = (pki / "ca.pem").read_bytes()
    target = f"localhost:{srv.port}"
    opts = (("grpc.enable_http_proxy", 0),)
    with grpc.secure_channel(target, grpc.ssl_channel_credentials(ca), options=opts) as ch:
        with pytest.raises(grpc.RpcError) as e:
            pb[1].TodosStub(ch).GetTodos(pb[0].Request(), timeout=h.CALL_TIMEOUT)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    creds = grpc.ssl_channel_credentials(ca, (pki / "client.key").read_bytes(),
                                         (pki / "client.pem").read_bytes())
    with grpc.secure_channel(target, creds, options=opts) as ch:
        res = pb[1].TodosStub(ch).GetTodos(pb[0].Request(), timeout=h.CALL_TIMEOUT)
        assert res.todos[0].title == "Add my todos"


def test_deadline_expires_while_on_the_worker_pool(start_server, nghttp, tmp_path):
    """The server itself answers DEADLINE_EXCEEDED when the deadline passes
    while the job still sleeps on the pool (seen with a raw client, which
    does not enforce deadlines itself)."""
    srv = start_server(env={"STORE_DELAY_MS": "2000"})
    body = tmp_path / "req.bin"
    body.write_bytes(b"\x00\x00\x00\x00\x00")
    t0 = time.monotonic()
    out = subprocess.run([nghttp, "-v", "-d", str(body), "-H", ":method: POST", "-H",
                          "content-type: application/grpc", "-H", "te: trailers", "-H",
                          "grpc-timeout: 300m", f"http://127.0.0.1:{srv.port}/grpc.Todos/GetTodos"],
                         capture_output=True, text=True, timeout=30)
    elapsed = time.monotonic() - t0
    assert "grpc-status: 4" in out.stdout, out.stdout[-2000:]
    assert elapsed < 1.5 * h.SLOW
