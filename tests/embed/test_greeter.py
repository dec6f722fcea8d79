"""The embedding example (tests/embed/greeter.c, walked through in
docs/embedding.md), built through build/ugrpc.pc like an outside program:
unary inline and offloaded, server streaming through flow control, TLS,
health, and a clean SIGTERM."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_tools import protoc

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
import todo_harness as h  # noqa: E402

GREETER = os.environ.get("GREETER_BIN", str(h.REPO / "build" / "greeter"))


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    out = tmp_path_factory.mktemp("greeter_py")
    rc = protoc.main(["protoc", f"-I{HERE}", f"--python_out={out}", f"--grpc_python_out={out}",
                      str(HERE / "greeter.proto")])
    assert rc == 0
    sys.path.insert(0, str(out))
    import greeter_pb2
    import greeter_pb2_grpc
    return greeter_pb2, greeter_pb2_grpc


def start(tmp_path, *extra):
    err = open(tmp_path / "greeter.err", "w")
    proc = subprocess.Popen([GREETER, "0", *extra], stdout=subprocess.PIPE, stderr=err,
                            env=h.clean_env(), text=True)
    line = proc.stdout.readline()
    assert line.startswith("listening on "), line
    return proc, int(line.split()[-1])


def stop(proc, tmp_path):
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=h.STOP_TIMEOUT) == 0
    text = (tmp_path / "greeter.err").read_text()
    assert not h.sanitizer_reports(text), text


def test_unary_stream_and_shutdown(pb, tmp_path):
    msgs, stubs = pb
    proc, port = start(tmp_path)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = stubs.GreeterStub(ch)
            t = h.CALL_TIMEOUT
            assert stub.SayHello(msgs.HelloRequest(name="ada"), timeout=t).message == "Hello, ada!"
            slow = stub.SayHello(msgs.HelloRequest(name="bob", slow=True), timeout=t)
            assert slow.message == "Hello, bob, slowly!"
            with pytest.raises(grpc.RpcError) as e:
                stub.SayHello(msgs.HelloRequest(), timeout=t)
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            # 20,000 replies are ~500 KB: far past the 64 KiB send queue, so the
            # handler must stop on UGRPC_EAGAIN and resume when writable.
            got = [r.message for r in stub.SayHellos(msgs.HelloRequest(name="cy", count=20000),
                                                     timeout=t * 3)]
            assert len(got) == 20000
            assert got[0] == "Hello #1, cy!" and got[-1] == "Hello #20000, cy!"
            # A client that stops reading mid-stream and cancels: no leak, no crash.
            it = stub.SayHellos(msgs.HelloRequest(name="dee", count=100000), timeout=t)
            next(it)
            it.cancel()
            from grpc_health.v1 import health_pb2, health_pb2_grpc
            hs = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=t)
            assert hs.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        stop(proc, tmp_path)


def test_tls(pb, tmp_path):
    msgs, stubs = pb
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True)
    proc, port = start(tmp_path, str(cert), str(key))
    try:
        creds = grpc.ssl_channel_credentials(cert.read_bytes())
        with grpc.secure_channel(f"localhost:{port}", creds) as ch:
            reply = stubs.GreeterStub(ch).SayHello(msgs.HelloRequest(name="eve"),
                                                   timeout=h.CALL_TIMEOUT)
            assert reply.message == "Hello, eve!"
        # Plaintext against the TLS port fails cleanly and the server lives on.
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            with pytest.raises(grpc.RpcError) as e:
                stubs.GreeterStub(ch).SayHello(msgs.HelloRequest(name="x"), timeout=2)
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        assert proc.poll() is None
    finally:
        stop(proc, tmp_path)
