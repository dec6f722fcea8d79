"""The official gRPC interop clients against build/interop-server (tests/interop/server.c).

Three clients, each against a fresh server per test (conftest.py checks that it
exits 0 on SIGTERM with no sanitizer report):

* grpc-go's interop client (.tools/bin/grpc-interop-client, pinned in
  third_party/tools/go.mod): every test case it offers that needs no Google
  credentials; plaintext and TLS.
* Ruby's interop client from Debian's ruby-grpc (pb/test/client.rb): its core
  cases plus client_compressed_unary and client_compressed_streaming, which
  the Go client lacks; plaintext and TLS.
* Python grpcio (the project's .venv) and raw HTTP/2 through nghttp, for what
  neither suite checks: the compressed flag of each response message
  (server_compressed_*), the exact percent-encoding of grpc-message, a gzip
  bomb, an unknown grpc-encoding, -bin metadata padded and unpadded, the
  interval_us timers and their cancellation, flow control, HalfDuplexCall, and
  shutdown with calls in flight.

A client that is not installed is skipped with the command that installs it.
"""

import base64
import glob
import gzip
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from interop_harness import (CALL_TIMEOUT, CLIENT_TIMEOUT, REPO, SLOW, STOP_TIMEOUT, TESTDATA,
                             TLS_HOST_OVERRIDE, TOOLS_BIN)

GRPC_PROTO = Path("/usr/share/grpc-proto")

# ---------------------------------------------------------------------------
# grpc-go interop client
# ---------------------------------------------------------------------------

GO_CLIENT_NAMES = ("grpc-interop-client", "client")

SOAK_ARGS = [
    "--soak_iterations=10",
    "--soak_max_failures=0",
    f"--soak_per_iteration_max_acceptable_latency_ms={int(1000 * SLOW)}",
    f"--soak_overall_timeout_seconds={int(30 * SLOW)}",
]
# orca_per_rpc checks the per-call load report (trailer endpoint-load-metrics-bin)
# through the client's test LB policy, which only this service config selects.
ORCA_SERVICE_CONFIG = '{"loadBalancingConfig": [{"test_backend_metrics_load_balancer": {}}]}'

# Every case of the pinned client that a single plaintext/TLS server can serve,
# with its extra flags.
GO_CASES = {
    "empty_unary": [],
    "large_unary": [],
    "client_streaming": [],
    "server_streaming": [],
    "ping_pong": [],
    "empty_stream": [],
    "timeout_on_sleeping_server": [],
    "cancel_after_begin": [],
    "cancel_after_first_response": [],
    "status_code_and_message": [],
    "special_status_message": [],
    "custom_metadata": [],
    "unimplemented_method": [],
    "unimplemented_service": [],
    "pick_first_unary": [],  # one backend: every reply carries the same server_id
    "rpc_soak": SOAK_ARGS,  # large_unary x10 on one channel
    "channel_soak": SOAK_ARGS,  # large_unary x10, a new channel each
    "orca_per_rpc": [f"--service_config_json={ORCA_SERVICE_CONFIG}"],
}
# The cases its --help offers that cannot run here, and why.
GO_NOT_APPLICABLE = {
    "compute_engine_creds": "needs Google Compute Engine credentials",
    "service_account_creds": "needs a Google service account key",
    "jwt_token_creds": "needs a Google service account key",
    "per_rpc_creds": "needs a Google service account key",
    "oauth2_auth_token": "needs a Google service account key",
    "google_default_credentials": "needs Google default credentials",
    "compute_engine_channel_credentials": "needs Google Compute Engine credentials",
    "orca_oob": "needs the xds.service.orca.v3.OpenRcaService out-of-band stream, "
                "which is not part of grpc.testing",
}


def go_client():
    for name in GO_CLIENT_NAMES:
        p = TOOLS_BIN / name
        if p.is_file() and os.access(p, os.X_OK):
            return p
    return None


@pytest.fixture(scope="session")
def go_client_bin():
    p = go_client()
    if p is None:
        pytest.skip("grpc-go interop client not installed: run third_party/deps.sh test")
    return p


def run_client(cmd, name):
    """Runs one interop client invocation; fails the test on timeout or a
    non-zero exit, with the client's output."""
    try:
        r = subprocess.run([str(c) for c in cmd], stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=CLIENT_TIMEOUT, cwd=REPO)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") + (e.stderr or b"").decode(
            errors="replace")
        pytest.fail(f"{name}: client still running after {CLIENT_TIMEOUT:g} s\n{out[-4000:]}",
                    pytrace=False)
    out = r.stdout.decode(errors="replace")
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 0, (f"{name}: exit status {r.returncode}\n--- stdout\n{out[-4000:]}"
                               f"\n--- stderr\n{err[-4000:]}")
    return out, err


def test_go_client_cases_all_classified(go_client_bin):
    """Every case the pinned client's --help offers is either run or listed as
    not applicable, so a new case in a newer client is not silently missed."""
    r = subprocess.run([str(go_client_bin), "--help"], capture_output=True, timeout=30)
    text = (r.stdout + r.stderr).decode(errors="replace")
    m = re.search(r"-test_case string\n(.*?)\n  -\w", text, re.S)
    assert m, f"no -test_case section in --help:\n{text}"
    offered = set(re.findall(r"^\s+(\w+)\s*:", m.group(1), re.M))
    assert len(offered) >= 14, f"parsed only {sorted(offered)} from --help"
    unknown = offered - set(GO_CASES) - set(GO_NOT_APPLICABLE)
    assert not unknown, f"test cases of the Go client not classified here: {sorted(unknown)}"


@pytest.mark.parametrize("case", sorted(GO_CASES))
def test_go(go_client_bin, server, case):
    run_client([go_client_bin, f"--server_host={server.host}", f"--server_port={server.port}",
                f"--test_case={case}", *GO_CASES[case]], f"grpc-go {case}")


@pytest.mark.parametrize("case", sorted(GO_CASES))
def test_go_tls(go_client_bin, tls_server, case):
    run_client([go_client_bin, f"--server_host={tls_server.host}",
                f"--server_port={tls_server.port}", f"--test_case={case}", "--use_tls=true",
                "--use_test_ca=true", f"--ca_file={TESTDATA / 'ca.pem'}",
                f"--server_host_override={TLS_HOST_OVERRIDE}", *GO_CASES[case]],
               f"grpc-go TLS {case}")


# ---------------------------------------------------------------------------
# Ruby interop client (Debian ruby-grpc)
# ---------------------------------------------------------------------------

RUBY_CLIENT = Path("/usr/lib/x86_64-linux-gnu/rubygems-integration/3.1.0/gems/grpc-1.51.1/"
                   "src/ruby/pb/test/client.rb")
RUBY_CASES = [
    "empty_unary",
    "large_unary",
    "client_compressed_unary",
    "client_streaming",
    "client_compressed_streaming",
    "server_streaming",
    "ping_pong",
    "empty_stream",
    "timeout_on_sleeping_server",
    "cancel_after_begin",
    "cancel_after_first_response",
    "status_code_and_message",
    "custom_metadata",
    "unimplemented_method",
    "unimplemented_service",
]


@pytest.fixture(scope="session")
def ruby_client():
    ruby = shutil.which("ruby")
    client = RUBY_CLIENT
    if not client.is_file():
        found = sorted(glob.glob("/usr/lib/*/rubygems-integration/*/gems/grpc-*/"
                                 "src/ruby/pb/test/client.rb"))
        client = Path(found[-1]) if found else None
    if ruby is None or client is None:
        pytest.skip("Ruby interop client not installed: run third_party/deps.sh test "
                    "(apt-get install ruby-grpc ruby-googleauth)")
    return [ruby, str(client)]


def run_ruby(ruby_client, srv, case, *extra):
    out, _ = run_client([*ruby_client, f"--server_host={srv.host}",
                         f"--server_port={srv.port}", f"--test_case={case}", *extra],
                        f"ruby {case}")
    assert f'"OK: {case}"' in out, f"ruby {case}: no OK line in its output:\n{out[-4000:]}"


@pytest.mark.parametrize("case", RUBY_CASES)
def test_ruby(ruby_client, server, case):
    run_ruby(ruby_client, server, case, "--use_tls=false")


@pytest.mark.parametrize("case", RUBY_CASES)
def test_ruby_tls(ruby_client, tls_server, case):
    run_ruby(ruby_client, tls_server, case, "--use_tls=true", "--use_test_ca=true",
             f"--server_host_override={TLS_HOST_OVERRIDE}")


# ---------------------------------------------------------------------------
# Python grpcio and raw HTTP/2 (nghttp)
# ---------------------------------------------------------------------------

SPECIAL_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
MAX_MESSAGE = 4 << 20  # the library's default max_recv_message_size


@pytest.fixture(scope="session")
def grpc_mod():
    return pytest.importorskip(
        "grpc", reason="Python grpcio not installed: run third_party/deps.sh test (.venv)")


@pytest.fixture(scope="session")
def pb(tmp_path_factory):
    """grpc.testing messages (empty.proto, messages.proto) compiled by
    grpc_tools.protoc from Debian's grpc-proto. They are loaded as
    interop_pb.* because "grpc.testing" would collide with the grpc package."""
    protoc = pytest.importorskip(
        "grpc_tools.protoc",
        reason="grpcio-tools not installed: run third_party/deps.sh test (.venv)")
    src = GRPC_PROTO / "grpc" / "testing"
    if not (src / "messages.proto").is_file():
        pytest.skip(f"{src}/messages.proto missing: apt-get install grpc-proto")
    out = tmp_path_factory.mktemp("pb")
    pkg = out / "interop_pb"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    rc = protoc.main(["grpc_tools.protoc", f"-I{src}", f"--python_out={pkg}",
                      str(src / "empty.proto"), str(src / "messages.proto")])
    assert rc == 0, "grpc_tools.protoc failed on grpc/testing/{empty,messages}.proto"
    sys.path.insert(0, str(out))
    from interop_pb import empty_pb2, messages_pb2

    class PB:
        pass

    p = PB()
    p.Empty = empty_pb2.Empty
    for name in ("SimpleRequest", "SimpleResponse", "StreamingOutputCallRequest",
                 "StreamingOutputCallResponse", "StreamingInputCallRequest",
                 "StreamingInputCallResponse", "ResponseParameters", "Payload", "BoolValue",
                 "EchoStatus"):
        setattr(p, name, getattr(messages_pb2, name))
    return p


SVC = "/grpc.testing.TestService/"


class Stub:
    """The TestService methods used here, without generated service code."""

    def __init__(self, pb, channel):
        def mk(kind, name, req, resp):
            return getattr(channel, kind)(SVC + name, request_serializer=req.SerializeToString,
                                          response_deserializer=resp.FromString)

        self.EmptyCall = mk("unary_unary", "EmptyCall", pb.Empty, pb.Empty)
        self.UnaryCall = mk("unary_unary", "UnaryCall", pb.SimpleRequest, pb.SimpleResponse)
        self.StreamingOutputCall = mk("unary_stream", "StreamingOutputCall",
                                      pb.StreamingOutputCallRequest,
                                      pb.StreamingOutputCallResponse)
        self.StreamingInputCall = mk("stream_unary", "StreamingInputCall",
                                     pb.StreamingInputCallRequest,
                                     pb.StreamingInputCallResponse)
        self.FullDuplexCall = mk("stream_stream", "FullDuplexCall",
                                 pb.StreamingOutputCallRequest, pb.StreamingOutputCallResponse)
        self.HalfDuplexCall = mk("stream_stream", "HalfDuplexCall",
                                 pb.StreamingOutputCallRequest, pb.StreamingOutputCallResponse)


CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0)]


@pytest.fixture
def stub(grpc_mod, pb, server):
    ch = grpc_mod.insecure_channel(server.address, options=CHANNEL_OPTIONS)
    yield Stub(pb, ch)
    ch.close()


def out_req(pb, sizes, interval_us=0, compressed=None, **kw):
    params = []
    for s in sizes:
        p = pb.ResponseParameters(size=s, interval_us=interval_us)
        if compressed is not None:
            p.compressed.value = compressed
        params.append(p)
    return pb.StreamingOutputCallRequest(response_parameters=params, **kw)


# ---- raw HTTP/2 through nghttp ----


def grpc_frame(msg: bytes, compressed=False) -> bytes:
    return struct.pack(">BI", 1 if compressed else 0, len(msg)) + msg


def parse_frames(body: bytes):
    """[(compressed flag, message bytes)] of a gRPC response body."""
    frames, i = [], 0
    while i < len(body):
        assert len(body) - i >= 5, f"truncated message prefix at {i} of {len(body)}"
        flag, n = struct.unpack(">BI", body[i:i + 5])
        assert flag in (0, 1), f"bad compressed flag {flag}"
        assert len(body) - i - 5 >= n, f"truncated message at {i}: {n} bytes announced"
        frames.append((flag, body[i + 5:i + 5 + n]))
        i += 5 + n
    return frames


class RawResponse:
    def __init__(self, blocks, rst, body):
        self.blocks = blocks  # [(fields [(name, value)], end_stream)], in order
        self.rst = rst  # RST_STREAM error codes received
        self.body = body

    def fields(self):
        return [f for fields, _ in self.blocks for f in fields]

    def get(self, name, block=None):
        blocks = self.blocks if block is None else [self.blocks[block]]
        for fields, _ in blocks:
            for n, v in fields:
                if n == name:
                    return v
        return None

    @property
    def headers(self):
        return dict(self.blocks[0][0]) if self.blocks else {}

    @property
    def trailers(self):
        """The block that ended the stream (the only one when Trailers-Only)."""
        ends = [dict(f) for f, end in self.blocks if end]
        return ends[-1] if ends else {}

    @property
    def status(self):
        s = self.trailers.get("grpc-status")
        return int(s) if s is not None else None

    def describe(self):
        return f"blocks={self.blocks} rst={self.rst} body={len(self.body)} bytes"


_FIELD = re.compile(r"\] recv \(stream_id=(\d+)\) (:?[^:\s]+): (.*)")
_HEADERS = re.compile(r"\] recv HEADERS frame <length=\d+, flags=0x([0-9a-f]+), stream_id=(\d+)>")
_RST = re.compile(r"\] recv RST_STREAM frame <[^>]*stream_id=(\d+)>\s*\n\s*\(error_code=(\w+)")


@pytest.fixture(scope="session")
def nghttp():
    path = shutil.which("nghttp")
    if path is None:
        pytest.skip("nghttp not installed: run third_party/deps.sh test "
                    "(apt-get install nghttp2-client)")
    return path


@pytest.fixture
def raw_call(nghttp, tmp_path):
    """raw_call(server, method, body, *headers) -> RawResponse: one POST through
    nghttp, run twice (the frame log with -v, then the exact body bytes)."""
    counter = [0]

    def call(srv, method, body: bytes, *headers, content_type="application/grpc"):
        counter[0] += 1
        f = tmp_path / f"raw-{counter[0]}.bin"
        f.write_bytes(body)
        args = [f"--timeout={CALL_TIMEOUT:g}", "-d", str(f), "-H", ":method: POST", "-H",
                f"content-type: {content_type}", "-H", "te: trailers"]
        for h in headers:
            args += ["-H", h]
        url = f"http://{srv.address}{SVC}{method}"
        log = subprocess.run([nghttp, "-v", "-n", *args, url], capture_output=True,
                             timeout=CALL_TIMEOUT + 10)
        text = log.stdout.decode(errors="replace")
        blocks, fields = [], []
        for line in text.splitlines():
            m = _FIELD.search(line)
            if m:
                fields.append((m.group(2), m.group(3)))
                continue
            m = _HEADERS.search(line)
            if m:
                blocks.append((fields, bool(int(m.group(1), 16) & 0x1)))
                fields = []
        rst = [m.group(2) for m in _RST.finditer(text)]
        got = subprocess.run([nghttp, *args, url], capture_output=True, timeout=CALL_TIMEOUT + 10)
        resp = RawResponse(blocks, rst, got.stdout)
        assert blocks, (f"nghttp got no response headers (rc={log.returncode}):\n{text[-3000:]}"
                        f"\n{log.stderr.decode(errors='replace')}")
        return resp

    return call


def unpercent(s: str) -> str:
    return re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]),
                  s.encode("ascii")).decode("utf-8")


# ---- server_compressed_unary / server_compressed_streaming ----

RESPONSE_SIZE = 314159


@pytest.mark.parametrize("want,accept,expect_flag", [
    (True, "identity,gzip", 1),
    (True, "gzip", 1),
    (False, "identity,gzip", 0),
    (True, "identity", 0),  # never compress with what the client does not accept
    (True, None, 0),
])
def test_server_compressed_unary_flag(pb, server, raw_call, want, accept, expect_flag):
    req = pb.SimpleRequest(response_size=RESPONSE_SIZE, payload=pb.Payload(body=b"\0" * 10))
    req.response_compressed.value = want
    headers = [f"grpc-accept-encoding: {accept}"] if accept else []
    r = raw_call(server, "UnaryCall", grpc_frame(req.SerializeToString()), *headers)
    assert r.status == 0, r.describe()
    frames = parse_frames(r.body)
    assert len(frames) == 1, r.describe()
    flag, data = frames[0]
    assert flag == expect_flag, f"compressed flag {flag}, want {expect_flag}: {r.describe()}"
    if flag:
        assert r.headers.get("grpc-encoding") == "gzip", r.describe()
        assert len(data) < RESPONSE_SIZE // 10, "a compressed body of zeros should be small"
        data = gzip.decompress(data)
    elif accept is None or "gzip" not in accept:
        assert r.headers.get("grpc-encoding") in (None, "identity"), r.describe()
    resp = pb.SimpleResponse.FromString(data)
    assert resp.payload.body == b"\0" * RESPONSE_SIZE


def test_server_compressed_streaming_flags(pb, server, raw_call):
    """The interop case server_compressed_streaming: per-message compression."""
    req = pb.StreamingOutputCallRequest(response_parameters=[
        pb.ResponseParameters(size=31415, compressed=pb.BoolValue(value=True)),
        pb.ResponseParameters(size=92653, compressed=pb.BoolValue(value=False)),
        pb.ResponseParameters(size=58979, compressed=pb.BoolValue(value=True)),
    ])
    r = raw_call(server, "StreamingOutputCall", grpc_frame(req.SerializeToString()),
                 "grpc-accept-encoding: identity,gzip")
    assert r.status == 0, r.describe()
    assert r.headers.get("grpc-encoding") == "gzip", r.describe()
    frames = parse_frames(r.body)
    assert [f for f, _ in frames] == [1, 0, 1], r.describe()
    sizes = []
    for flag, data in frames:
        msg = pb.StreamingOutputCallResponse.FromString(gzip.decompress(data) if flag else data)
        assert msg.payload.body.count(0) == len(msg.payload.body)
        sizes.append(len(msg.payload.body))
    assert sizes == [31415, 92653, 58979]


def test_server_compressed_grpcio(pb, stub):
    """The same through grpcio, which decompresses: the payloads survive."""
    req = pb.SimpleRequest(response_size=RESPONSE_SIZE,
                           response_compressed=pb.BoolValue(value=True))
    resp = stub.UnaryCall(req, timeout=CALL_TIMEOUT)
    assert resp.payload.body == b"\0" * RESPONSE_SIZE
    got = [len(m.payload.body) for m in stub.StreamingOutputCall(
        pb.StreamingOutputCallRequest(response_parameters=[
            pb.ResponseParameters(size=31415, compressed=pb.BoolValue(value=True)),
            pb.ResponseParameters(size=92653, compressed=pb.BoolValue(value=False)),
        ]), timeout=CALL_TIMEOUT)]
    assert got == [31415, 92653]


def test_client_compressed_grpcio(grpc_mod, pb, stub):
    """expect_compressed, from a second client implementation than Ruby's."""
    req = pb.SimpleRequest(response_size=10, payload=pb.Payload(body=b"\0" * 271828),
                           expect_compressed=pb.BoolValue(value=True))
    with pytest.raises(grpc_mod.RpcError) as e:
        stub.UnaryCall(req, timeout=CALL_TIMEOUT)  # sent uncompressed: the probe fails
    assert e.value.code() == grpc_mod.StatusCode.INVALID_ARGUMENT
    resp = stub.UnaryCall(req, timeout=CALL_TIMEOUT, compression=grpc_mod.Compression.Gzip)
    assert len(resp.payload.body) == 10
    req.expect_compressed.value = False
    with pytest.raises(grpc_mod.RpcError) as e:
        stub.UnaryCall(req, timeout=CALL_TIMEOUT, compression=grpc_mod.Compression.Gzip)
    assert e.value.code() == grpc_mod.StatusCode.INVALID_ARGUMENT
    # (grpc core sends a message uncompressed when gzip would not shrink it,
    # as for 8 bytes: only sizes that compress.)
    sizes = [27182, 1828, 45904]
    reqs = [pb.StreamingInputCallRequest(payload=pb.Payload(body=b"\0" * n),
                                         expect_compressed=pb.BoolValue(value=True))
            for n in sizes]
    resp = stub.StreamingInputCall(iter(reqs), timeout=CALL_TIMEOUT,
                                   compression=grpc_mod.Compression.Gzip)
    assert resp.aggregated_payload_size == sum(sizes)


# ---- status messages ----


def test_special_status_message_grpcio(grpc_mod, pb, stub):
    req = pb.SimpleRequest(response_status=pb.EchoStatus(code=2, message=SPECIAL_MESSAGE))
    with pytest.raises(grpc_mod.RpcError) as e:
        stub.UnaryCall(req, timeout=CALL_TIMEOUT)
    assert e.value.code() == grpc_mod.StatusCode.UNKNOWN
    assert e.value.details() == SPECIAL_MESSAGE


def test_special_status_message_on_the_wire(pb, server, raw_call):
    """grpc-message is percent-encoded: printable ASCII only, and it decodes
    back to the UTF-8 message."""
    req = pb.SimpleRequest(response_status=pb.EchoStatus(code=2, message=SPECIAL_MESSAGE))
    r = raw_call(server, "UnaryCall", grpc_frame(req.SerializeToString()))
    assert r.status == 2, r.describe()
    msg = r.trailers.get("grpc-message")
    assert msg is not None, r.describe()
    assert all(0x20 <= ord(c) <= 0x7e for c in msg), f"not percent-encoded: {msg!r}"
    assert "%09%0A" in msg.upper() and "%F0%9F%98%88" in msg.upper(), msg
    assert unpercent(msg) == SPECIAL_MESSAGE


def test_status_in_duplex_after_pending_responses(grpc_mod, pb, stub):
    """A response_status in a later request ends the stream after the responses
    already asked for, with that status."""

    def reqs():
        yield out_req(pb, [10, 20])
        yield pb.StreamingOutputCallRequest(response_status=pb.EchoStatus(code=9, message="m"))
        yield out_req(pb, [30])  # after the status: ignored

    call = stub.FullDuplexCall(reqs(), timeout=CALL_TIMEOUT)
    got = []
    with pytest.raises(grpc_mod.RpcError) as e:
        for m in call:
            got.append(len(m.payload.body))
    assert got == [10, 20]
    assert e.value.code() == grpc_mod.StatusCode.FAILED_PRECONDITION
    assert e.value.details() == "m"


def test_negative_response_size(grpc_mod, pb, stub):
    with pytest.raises(grpc_mod.RpcError) as e:
        stub.UnaryCall(pb.SimpleRequest(response_size=-1), timeout=CALL_TIMEOUT)
    assert e.value.code() == grpc_mod.StatusCode.INVALID_ARGUMENT


def test_response_over_send_limit(grpc_mod, pb, stub):
    """A response_size past the 4 MiB max_send_message_size: the library
    refuses to send it and the call ends RESOURCE_EXHAUSTED."""
    with pytest.raises(grpc_mod.RpcError) as e:
        stub.UnaryCall(pb.SimpleRequest(response_size=MAX_MESSAGE + 1), timeout=CALL_TIMEOUT)
    assert e.value.code() == grpc_mod.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(grpc_mod.RpcError) as e:
        list(stub.StreamingOutputCall(out_req(pb, [5, MAX_MESSAGE + 1]), timeout=CALL_TIMEOUT))
    assert e.value.code() == grpc_mod.StatusCode.RESOURCE_EXHAUSTED


# ---- request compression limits ----


def test_gzip_bomb_is_resource_exhausted(grpc_mod, pb, server, raw_call, stub):
    """A few KiB of gzip that inflate past the 4 MiB receive limit."""
    req = pb.SimpleRequest(payload=pb.Payload(body=b"\0" * (MAX_MESSAGE + (1 << 20))))
    bomb = gzip.compress(req.SerializeToString(), 9)
    assert len(bomb) < 16 << 10
    r = raw_call(server, "UnaryCall", grpc_frame(bomb, compressed=True), "grpc-encoding: gzip")
    assert r.status == 8, r.describe()  # RESOURCE_EXHAUSTED
    assert not parse_frames(r.body)
    # The server is fine afterwards.
    stub.EmptyCall(pb.Empty(), timeout=CALL_TIMEOUT)


def test_compressed_just_under_limit_is_accepted(pb, server, raw_call):
    body = b"\0" * (MAX_MESSAGE - 64)
    req = pb.SimpleRequest(response_size=7, payload=pb.Payload(body=body))
    raw = req.SerializeToString()
    assert len(raw) <= MAX_MESSAGE
    r = raw_call(server, "UnaryCall", grpc_frame(gzip.compress(raw, 9), compressed=True),
                 "grpc-encoding: gzip")
    assert r.status == 0, r.describe()
    (flag, data), = parse_frames(r.body)
    assert len(pb.SimpleResponse.FromString(data).payload.body) == 7


def test_gzip_bomb_in_a_stream(pb, server, raw_call, stub):
    """The bomb as the second message of a client stream: the library fails
    the call while the handler runs, and the handler's state is released
    (teardown: no leak)."""
    ok = pb.StreamingInputCallRequest(payload=pb.Payload(body=b"\0" * 1000))
    bomb = pb.StreamingInputCallRequest(payload=pb.Payload(body=b"\0" * (MAX_MESSAGE + 4096)))
    body = (grpc_frame(gzip.compress(ok.SerializeToString()), compressed=True) +
            grpc_frame(gzip.compress(bomb.SerializeToString(), 9), compressed=True))
    r = raw_call(server, "StreamingInputCall", body, "grpc-encoding: gzip")
    assert r.status == 8, r.describe()
    stub.EmptyCall(pb.Empty(), timeout=CALL_TIMEOUT)


def test_bad_message_while_a_timer_runs(pb, server, raw_call, stub):
    """A bidi call waits on a 30 s interval when its next request does not
    parse: the call fails with INTERNAL and its timer is stopped and closed at
    once (otherwise it would fire later on a dead call, or hold up shutdown)."""
    first = out_req(pb, [1], interval_us=30_000_000)
    body = grpc_frame(first.SerializeToString()) + grpc_frame(b"\xff\xff\xff\xff")
    t0 = time.monotonic()
    r = raw_call(server, "FullDuplexCall", body)
    assert r.status == 13, r.describe()  # INTERNAL
    assert time.monotonic() - t0 < 10 * SLOW
    stub.EmptyCall(pb.Empty(), timeout=CALL_TIMEOUT)


def test_unknown_grpc_encoding_is_unimplemented(pb, server, raw_call):
    req = pb.SimpleRequest(response_size=1)
    r = raw_call(server, "UnaryCall", grpc_frame(b"\x8b\x07\x80" + req.SerializeToString(),
                                                 compressed=True), "grpc-encoding: br")
    assert r.status == 12, r.describe()  # UNIMPLEMENTED
    accept = r.get("grpc-accept-encoding")
    assert accept is not None, f"no grpc-accept-encoding in the answer: {r.describe()}"
    assert "gzip" in [a.strip() for a in accept.split(",")], accept


# ---- metadata ----

BIN_VALUES = [
    b"\x0a\x0b\x0a\x0b\x0a\x0b",  # the interop value: no padding either way
    b"\x0a\x0b\x0a\x0b\x0a",  # one '='
    b"\x00\x01\x02\x03",  # two '='
    b"\xff\xfe\x00\x80\x7f",
]


def b64decode_any(v: str) -> bytes:
    return base64.b64decode(v + "=" * (-len(v) % 4), validate=True)


@pytest.mark.parametrize("padded", [True, False], ids=["padded", "unpadded"])
@pytest.mark.parametrize("value", BIN_VALUES, ids=lambda v: v.hex())
def test_bin_metadata_echo_raw(pb, server, raw_call, value, padded):
    enc = base64.b64encode(value).decode()
    if not padded:
        enc = enc.rstrip("=")
    req = pb.SimpleRequest(response_size=1)
    r = raw_call(server, "UnaryCall", grpc_frame(req.SerializeToString()),
                 f"x-grpc-test-echo-trailing-bin: {enc}", "x-grpc-test-echo-initial: hello")
    assert r.status == 0, r.describe()
    assert r.headers.get("x-grpc-test-echo-initial") == "hello", r.describe()
    got = r.trailers.get("x-grpc-test-echo-trailing-bin")
    assert got is not None, r.describe()
    assert b64decode_any(got) == value, f"sent {enc!r}, got back {got!r}"


def test_malformed_bin_metadata(pb, server, raw_call):
    req = pb.SimpleRequest(response_size=1)
    r = raw_call(server, "UnaryCall", grpc_frame(req.SerializeToString()),
                 "x-grpc-test-echo-trailing-bin: not*base64!")
    assert r.status not in (None, 0), r.describe()


def test_bin_metadata_echo_grpcio(pb, stub):
    value = bytes(range(256))
    resp, call = stub.UnaryCall.with_call(
        pb.SimpleRequest(response_size=3), timeout=CALL_TIMEOUT,
        metadata=(("x-grpc-test-echo-initial", "v a l"), ("x-grpc-test-echo-trailing-bin", value)))
    assert len(resp.payload.body) == 3
    assert ("x-grpc-test-echo-initial", "v a l") in tuple(call.initial_metadata())
    assert ("x-grpc-test-echo-trailing-bin", value) in tuple(call.trailing_metadata())


def test_echo_metadata_with_error_status(grpc_mod, pb, stub):
    """Metadata the handler added is not lost when the call ends with an error
    and no message (a Trailers-Only response): grpc-go sends the initial
    metadata in its own HEADERS frame then."""
    req = pb.SimpleRequest(response_status=pb.EchoStatus(code=5, message="nope"))
    with pytest.raises(grpc_mod.RpcError) as e:
        stub.UnaryCall(req, timeout=CALL_TIMEOUT,
                       metadata=(("x-grpc-test-echo-initial", "init"),
                                 ("x-grpc-test-echo-trailing-bin", b"\x01\x02")))
    err = e.value
    assert err.code() == grpc_mod.StatusCode.NOT_FOUND
    assert ("x-grpc-test-echo-trailing-bin", b"\x01\x02") in tuple(err.trailing_metadata())
    md = tuple(err.initial_metadata() or ()) + tuple(err.trailing_metadata() or ())
    assert ("x-grpc-test-echo-initial", "init") in md, (
        f"initial metadata lost: initial={err.initial_metadata()} "
        f"trailing={err.trailing_metadata()}")


# ---- streaming: intervals, cancellation, deadlines, flow control ----


def test_interval_us_is_honoured(pb, stub):
    t0 = time.monotonic()
    arrivals = []
    for m in stub.StreamingOutputCall(out_req(pb, [5, 6, 7], interval_us=200_000),
                                      timeout=CALL_TIMEOUT):
        arrivals.append((time.monotonic() - t0, len(m.payload.body)))
    assert [n for _, n in arrivals] == [5, 6, 7]
    assert arrivals[0][0] >= 0.18, arrivals
    assert arrivals[2][0] >= 0.55, arrivals
    assert arrivals[2][0] - arrivals[0][0] >= 0.37, arrivals


def test_cancel_during_interval(grpc_mod, pb, stub):
    """The client cancels while the server's interval timer runs: the timer is
    stopped and closed (teardown: no leak, no use after free)."""
    call = stub.StreamingOutputCall(
        pb.StreamingOutputCallRequest(response_parameters=[
            pb.ResponseParameters(size=1),
            pb.ResponseParameters(size=2, interval_us=30_000_000)]),
        timeout=CALL_TIMEOUT)
    assert len(next(call).payload.body) == 1
    call.cancel()
    with pytest.raises(grpc_mod.RpcError) as e:
        next(call)
    assert e.value.code() == grpc_mod.StatusCode.CANCELLED
    stub.EmptyCall(pb.Empty(), timeout=CALL_TIMEOUT)


def test_deadline_during_interval(grpc_mod, pb, stub):
    for method in (stub.StreamingOutputCall, stub.FullDuplexCall):
        req = out_req(pb, [1, 1], interval_us=30_000_000)
        arg = req if method is stub.StreamingOutputCall else iter([req])
        call = method(arg, timeout=0.3 * SLOW)
        with pytest.raises(grpc_mod.RpcError) as e:
            list(call)
        assert e.value.code() == grpc_mod.StatusCode.DEADLINE_EXCEEDED
    stub.EmptyCall(pb.Empty(), timeout=CALL_TIMEOUT)


def test_flow_control_slow_reader(pb, stub):
    """16 MiB of responses to a client that reads slowly at first: the server
    waits for writable instead of buffering (max_send_queue) and delivers all."""
    n, size = 64, 256 << 10
    call = stub.StreamingOutputCall(out_req(pb, [size] * n), timeout=CALL_TIMEOUT * 3)
    got = 0
    for i, m in enumerate(call):
        assert len(m.payload.body) == size
        got += 1
        if i < 8:
            time.sleep(0.05)
    assert got == n


def test_flow_control_duplex_big_messages(pb, stub):
    sizes = [1 << 20, 3 << 20, 17, 2 << 20, 0, 4 << 19]

    def reqs():
        for s in sizes:
            yield out_req(pb, [s, s // 2])

    got = [len(m.payload.body) for m in stub.FullDuplexCall(reqs(), timeout=CALL_TIMEOUT * 3)]
    assert got == [x for s in sizes for x in (s, s // 2)]


def test_abandoned_slow_reader(grpc_mod, pb, server):
    """A client that stops reading a large stream and then vanishes (its
    connection closes while the server waits for writable)."""
    ch = grpc_mod.insecure_channel(server.address, options=CHANNEL_OPTIONS)
    call = Stub(pb, ch).StreamingOutputCall(out_req(pb, [1 << 20] * 32), timeout=CALL_TIMEOUT)
    assert len(next(call).payload.body) == 1 << 20
    time.sleep(0.3)
    ch.close()
    # A new client still gets answers.
    ch2 = grpc_mod.insecure_channel(server.address, options=CHANNEL_OPTIONS)
    try:
        Stub(pb, ch2).EmptyCall(pb.Empty(), timeout=CALL_TIMEOUT)
    finally:
        ch2.close()


def test_half_duplex_answers_after_half_close(pb, stub):
    half_closed_at = []

    def reqs():
        yield out_req(pb, [3, 4])
        yield out_req(pb, [5])
        time.sleep(0.3)
        half_closed_at.append(time.monotonic())

    first = None
    got = []
    for m in stub.HalfDuplexCall(reqs(), timeout=CALL_TIMEOUT):
        if first is None:
            first = time.monotonic()
        got.append(len(m.payload.body))
    assert got == [3, 4, 5]
    assert half_closed_at and first >= half_closed_at[0], "answered before the half-close"


def test_ping_pong_interleaves(pb, stub):
    """Each response arrives before the next request is sent (true ping-pong)."""
    import queue

    q = queue.Queue()
    sizes = [31415, 9, 2653, 58979]

    def reqs():
        for s in sizes:
            yield out_req(pb, [s], payload=pb.Payload(body=b"\0" * 100))
            assert q.get(timeout=CALL_TIMEOUT) == s

    for m in stub.FullDuplexCall(reqs(), timeout=CALL_TIMEOUT):
        q.put(len(m.payload.body))


# ---- TLS through grpcio ----


def test_tls_grpcio(grpc_mod, pb, tls_server):
    creds = grpc_mod.ssl_channel_credentials(root_certificates=(TESTDATA / "ca.pem").read_bytes())
    ch = grpc_mod.secure_channel(tls_server.address, creds, options=CHANNEL_OPTIONS + [
        ("grpc.ssl_target_name_override", TLS_HOST_OVERRIDE)])
    try:
        s = Stub(pb, ch)
        resp = s.UnaryCall(pb.SimpleRequest(response_size=RESPONSE_SIZE), timeout=CALL_TIMEOUT)
        assert len(resp.payload.body) == RESPONSE_SIZE
        got = [len(m.payload.body) for m in s.FullDuplexCall(
            iter([out_req(pb, [1, 2 << 20])]), timeout=CALL_TIMEOUT)]
        assert got == [1, 2 << 20]
    finally:
        ch.close()


# ---- shutdown with calls in flight ----


def test_sigterm_with_calls_in_flight(grpc_mod, pb, server, stub):
    """SIGTERM while a server stream waits on a long interval and a bidi call
    is open: the server cancels them (closing their timers) and exits 0
    within the grace period, with no leak (checked at teardown)."""
    s1 = stub.StreamingOutputCall(
        pb.StreamingOutputCallRequest(response_parameters=[
            pb.ResponseParameters(size=1), pb.ResponseParameters(size=1, interval_us=60_000_000)]),
        timeout=60)
    assert len(next(s1).payload.body) == 1
    release = threading.Event()

    def reqs():
        yield out_req(pb, [2])
        release.wait(30)

    s2 = stub.FullDuplexCall(reqs(), timeout=60)
    assert len(next(s2).payload.body) == 2
    t0 = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    rc = server.proc.wait(STOP_TIMEOUT)
    elapsed = time.monotonic() - t0
    release.set()
    assert rc == 0
    assert elapsed < 2.0 + 3.0 * SLOW, f"shutdown took {elapsed:.1f} s (grace is 2 s)"
    for call in (s1, s2):
        with pytest.raises(grpc_mod.RpcError) as e:
            list(call)
        assert e.value.code() in (grpc_mod.StatusCode.UNAVAILABLE,
                                  grpc_mod.StatusCode.CANCELLED,
                                  grpc_mod.StatusCode.INTERNAL), e.value


# ---- the server's command line ----


@pytest.mark.parametrize("args", [
    ["--use_tls=maybe"],
    ["--port=70000"],
    ["--port=abc"],
    ["--no_such_flag"],
    ["--use_tls=true", "--tls_cert_file=/nonexistent.pem", "--tls_key_file=/nonexistent.key"],
])
def test_cli_rejects_bad_arguments(interop_server_bin, args):
    r = subprocess.run([str(interop_server_bin), *args], capture_output=True, timeout=30 * SLOW)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.startswith(b"interop-server: "), r.stderr
    assert not r.stdout


def test_cli_help(interop_server_bin):
    r = subprocess.run([str(interop_server_bin), "--help"], capture_output=True, timeout=30 * SLOW)
    assert r.returncode == 0
    assert b"--use_tls" in r.stdout and b"--port" in r.stdout
