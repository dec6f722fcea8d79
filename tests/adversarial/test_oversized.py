"""Requests bigger than the limits: a header list over MAX_HEADER_LIST_SIZE
(plain, and as an HPACK amplification bomb), a gRPC length prefix of 4 GiB,
and a gzip bomb. Each is answered on its own stream (HTTP 431, or
RESOURCE_EXHAUSTED) without buffering the oversized thing, the connection
stays usable, and a well-behaved client is served normally meanwhile."""

import zlib

import pytest

import h2raw as w
import todo_harness as h
import adv
from h2raw import Conn

GET_TODOS = "/grpc.Todos/GetTodos"
MAX_FRAME = 16384


def block_frames(stream_id, block, end_stream=False):
    """A header block as HEADERS plus CONTINUATION frames of at most 16 KiB."""
    parts = [block[i:i + MAX_FRAME] for i in range(0, len(block), MAX_FRAME)] or [b""]
    out = w.frame(w.HEADERS, (w.END_STREAM if end_stream else 0)
                  | (w.END_HEADERS if len(parts) == 1 else 0), stream_id, parts[0])
    for i, part in enumerate(parts[1:], 2):
        out += w.frame(w.CONTINUATION, w.END_HEADERS if i == len(parts) else 0, stream_id, part)
    return out


def ends(stream_id):
    return lambda f: f.type == w.HEADERS and f.stream == stream_id and f.flags & w.END_STREAM


def assert_ok_call_on(c, stream_id):
    """A normal GetTodos on the same connection still succeeds."""
    c.send(w.headers(stream_id, w.grpc_request_fields(GET_TODOS))
           + w.data(stream_id, w.grpc_message(b""), end_stream=True))
    t = c.read_until(ends(stream_id), 5 * h.SLOW)
    assert t is not None and t.header("grpc-status") == "0", c.frames[-10:]
    assert c.goaway() is None and not c.closed


def test_header_list_over_limit_gets_431(pb, hostile_server):
    """A 20 KiB metadata value (HEADERS + CONTINUATION) against the default
    16 KiB MAX_HEADER_LIST_SIZE: HTTP 431 on that stream, nothing stored,
    the connection carries on."""
    srv = hostile_server()
    block = w.header_block(w.grpc_request_fields(GET_TODOS, extra=[("x-big", "a" * 20000)]))
    n = 0
    with adv.Prober(pb, srv) as p:
        for _ in adv.rounds(most=300):
            with Conn(srv.port) as c:
                c.handshake()
                c.send(block_frames(1, block) + w.data(1, w.grpc_message(b""), end_stream=True))
                c.read_until(lambda f: f.stream == 1 and (f.flags & w.END_STREAM
                                                          or f.type == w.RST_STREAM), 5 * h.SLOW)
                hd = c.response_headers(1)
                assert hd.get(":status") == "431", c.frames[-10:]
                assert_ok_call_on(c, 3)
                n += 1
    s = p.check()
    adv.report("header list 20 KiB > 16 KiB", connections=n, status=hd.get(":status"),
               prober_p99_ms=f"{s['p99_ms']:.1f}")


def test_hpack_bomb_gets_rst_stream_internal_error(pb, hostile_server):
    """HPACK bomb: one 4000-byte header enters the dynamic table, then 16,000
    one-byte references to it make a 64 MB header list out of 20 KB on the
    wire. The server counts the list as it is decoded and, at twice the
    limit, stops taking fields: nghttp2 resets the stream with
    RST_STREAM(INTERNAL_ERROR) and skips validating the rest (which was all
    the CPU the bomb cost: about 60 ms each before, 1-2 ms now). The
    connection carries on."""
    srv = hostile_server()
    rss0 = adv.rss_kib(srv)
    block = (w.header_block(w.grpc_request_fields(GET_TODOS))
             + w.literal("x-amp", "b" * 4000, index=True) + w.indexed(62) * 16000)
    n = 0
    with adv.Prober(pb, srv) as p:
        for _ in adv.rounds(most=1000):
            with Conn(srv.port) as c:
                c.handshake()
                c.send(block_frames(1, block) + w.data(1, w.grpc_message(b""), end_stream=True))
                r = c.read_until(lambda f: f.stream == 1 and (f.flags & w.END_STREAM
                                                              or f.type == w.RST_STREAM),
                                 10 * h.SLOW)
                assert r is not None and r.type == w.RST_STREAM, c.frames[-10:]
                assert r.error_code == w.INTERNAL_ERROR, r
                assert_ok_call_on(c, 3)
                n += 1
    rss1 = adv.rss_kib(srv)
    s = p.check()
    adv.report("HPACK bomb (64 MB list from 20 KB)", connections=n, reaction=r,
               rss_kib=f"{rss0}->{rss1}", prober_p99_ms=f"{s['p99_ms']:.1f}")
    # Cheap now: hundreds of bombs in the attack's two seconds, not dozens.
    assert n >= 100, f"only {n} bombs in {adv.ATTACK_SECONDS}s: the server is slow to refuse them"
    assert rss1 - rss0 < adv.mem_bound(8 * adv.MIB)


def test_length_prefix_of_4_gib_gets_resource_exhausted(pb, hostile_server):
    """A message announcing 0xFFFFFFFF bytes: RESOURCE_EXHAUSTED as soon as
    the prefix arrives (Trailers-Only), then RST_STREAM(NO_ERROR) since the
    client had not finished; nothing of it is allocated, and the megabytes
    that follow on that stream are dropped."""
    srv = hostile_server()
    rss0 = adv.rss_kib(srv)
    junk = w.data(1, b"\xAA" * 16000)
    n = 0
    with adv.Prober(pb, srv) as p:
        for _ in adv.rounds(most=200):
            with Conn(srv.port) as c:
                c.handshake()
                c.send(w.headers(1, w.grpc_request_fields(GET_TODOS))
                       + w.data(1, w.grpc_message(b"\x0a\x00" * 100, length=0xFFFFFFFF)))
                t = c.read_until(ends(1), 5 * h.SLOW)
                assert t is not None, c.frames[-10:]
                assert t.header("grpc-status") == "8", t  # RESOURCE_EXHAUSTED
                assert "larger than max" in (t.header("grpc-message") or ""), t
                r = c.read_until(lambda f: f.type == w.RST_STREAM and f.stream == 1, 5 * h.SLOW)
                assert r is not None and r.error_code == w.NO_ERROR, c.frames[-10:]
                c.send(junk * 8)  # the rest of "the message" goes nowhere
                assert_ok_call_on(c, 3)
                n += 1
    rss1 = adv.rss_kib(srv)
    s = p.check()
    adv.report("4 GiB length prefix", connections=n, status=t.header("grpc-status"),
               message=t.header("grpc-message"), rss_kib=f"{rss0}->{rss1}",
               prober_p99_ms=f"{s['p99_ms']:.1f}")
    assert rss1 - rss0 < adv.mem_bound(4 * adv.MIB)


@pytest.fixture(scope="module")
def gzip_bomb():
    """256 MiB of zeros, gzip-compressed to about 250 KiB."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\0" * (1 << 20)
    out = b"".join(z.compress(chunk) for _ in range(256)) + z.flush()
    assert len(out) < 512 * 1024 and zlib.decompressobj(31).decompress(out, 4096) == b"\0" * 4096
    return out


def test_gzip_bomb_gets_resource_exhausted(pb, hostile_server, gzip_bomb):
    """grpc-encoding gzip, a 250 KiB message that inflates to 256 MiB: the
    server inflates at most MAX_RECV_MSG_SIZE (4 MiB) + 1 byte, then answers
    RESOURCE_EXHAUSTED; its memory does not follow the bomb."""
    srv = hostile_server()
    rss0 = adv.rss_kib(srv)
    fields = w.grpc_request_fields(GET_TODOS, extra=[("grpc-encoding", "gzip")])
    msg = w.grpc_message(gzip_bomb, compressed=True)
    body = b"".join(w.data(1, msg[i:i + MAX_FRAME]) for i in range(0, len(msg), MAX_FRAME))
    n = 0
    peak = rss0
    with adv.Prober(pb, srv) as p:
        for _ in adv.rounds(most=100):
            with Conn(srv.port) as c:
                c.handshake()
                c.send(w.headers(1, fields) + body + w.data(1, b"", end_stream=True))
                t = c.read_until(ends(1), 10 * h.SLOW)
                assert t is not None, c.frames[-10:]
                assert t.header("grpc-status") == "8", t  # RESOURCE_EXHAUSTED
                assert "decompressed message larger than max" in t.header("grpc-message"), t
                assert_ok_call_on(c, 3)
                n += 1
            peak = max(peak, adv.rss_kib(srv))
    rss1 = adv.rss_kib(srv)
    s = p.check()
    adv.report("gzip bomb 250 KiB -> 256 MiB", connections=n, compressed_bytes=len(gzip_bomb),
               status=t.header("grpc-status"), message=t.header("grpc-message"),
               rss_kib=f"{rss0}->{rss1} (peak {peak})", prober_p99_ms=f"{s['p99_ms']:.1f}")
    # One inflation buffer (4 MiB + 1) at a time, plus the compressed message.
    assert peak - rss0 < adv.mem_bound(16 * adv.MIB)


def goaway_per_connection(pb, srv, payload, code, what):
    """Sends `payload` on fresh connections for the attack's duration; each
    must get GOAWAY(code) and be closed."""
    n = 0
    with adv.Prober(pb, srv) as p:
        for _ in adv.rounds(most=300):
            with Conn(srv.port) as c:
                c.handshake()
                c.send(payload)
                assert c.read_until_closed(3 * h.SLOW), f"connection still open: {c.frames[-5:]}"
                g = c.goaway()
                assert g is not None and g.error_code == code, c.frames[-5:]
                n += 1
    s = p.check()
    adv.report(what, connections=n, goaway=g, prober_p99_ms=f"{s['p99_ms']:.1f}")


def test_frame_over_max_frame_size_gets_goaway_frame_size_error(pb, hostile_server):
    """A 1 MiB DATA frame where SETTINGS_MAX_FRAME_SIZE is 16 KiB: nghttp2
    refuses it from its header alone, GOAWAY(FRAME_SIZE_ERROR), close."""
    srv = hostile_server()
    payload = (w.headers(1, w.grpc_request_fields(GET_TODOS))
               + w.data(1, b"\0" * (1 << 20)))
    goaway_per_connection(pb, srv, payload, w.FRAME_SIZE_ERROR, "1 MiB frame")


def test_header_field_over_64_kib_gets_goaway_compression_error(pb, hostile_server):
    """One 70 KB header value, spread over CONTINUATION frames: nghttp2's
    HPACK decoder refuses a field over 64 KiB, GOAWAY(COMPRESSION_ERROR)."""
    srv = hostile_server()
    block = w.header_block(w.grpc_request_fields(GET_TODOS, extra=[("x-big", "a" * 70000)]))
    goaway_per_connection(pb, srv, block_frames(1, block), w.COMPRESSION_ERROR,
                          "70 KB header field")
