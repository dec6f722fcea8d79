"""Frame-level floods (rapid reset, CONTINUATION, PING, SETTINGS, empty
DATA), each repeated on fresh connections for about two seconds (as an
attacker reconnects) while a well-behaved grpcio client keeps calling on its
own connection. For each: the reaction nghttp2 and our configuration produce
(docs/security.md), the server's RSS bounded, and the other client's calls
all successful with a bounded p99 latency."""

import socket
import time

import h2raw as w
import todo_harness as h
import adv
from h2raw import Conn

GET_TODOS = "/grpc.Todos/GetTodos"
EMPTY_REQUEST = w.grpc_message(b"")


def request_block(path=GET_TODOS, extra=()):
    return w.header_block(w.grpc_request_fields(path, extra=extra))


def assert_goaway(c, code, debug=None):
    g = c.goaway()
    assert g is not None, f"no GOAWAY; frames: {c.frames[-10:]}"
    assert g.error_code == code, (
        f"GOAWAY {w.ERROR_NAMES.get(g.error_code)} instead of {w.ERROR_NAMES[code]}: {g}")
    if debug is not None:
        assert g.debug_data == debug, g
    return g


def rss_growth(srv, rss0):
    rss1 = adv.rss_kib(srv)
    return rss1, rss1 - rss0


def test_rapid_reset_flood_gets_goaway_internal_error(pb, hostile_server):
    """CVE-2023-44487: HEADERS then RST_STREAM(CANCEL), stream after stream.
    nghttp2's reset rate limit (burst 1000, then 33/s per connection)
    answers with GOAWAY(INTERNAL_ERROR) and the connection is closed."""
    srv = hostile_server()
    rss0 = adv.rss_kib(srv)
    block = request_block()
    per_conn = []
    with adv.Prober(pb, srv) as p:
        for _ in adv.rounds():
            with Conn(srv.port) as c:
                c.handshake()
                sent, sid = 0, 1
                while sent < 20000 and c.goaway() is None and not c.closed:
                    batch = b"".join(w.headers(sid + 2 * i, block) + w.rst_stream(sid + 2 * i)
                                     for i in range(100))
                    if not c.send(batch):
                        break
                    sid += 200
                    sent += 100
                    c.recv_some(0)
                c.read_until(lambda f: f.type == w.GOAWAY, 5 * h.SLOW)
                g = assert_goaway(c, w.INTERNAL_ERROR)
                assert c.read_until_closed(3 * h.SLOW), "connection still open after the GOAWAY"
                # The burst allows 1000 resets (plus 33/s): the GOAWAY names
                # the last stream processed, right after them, however many
                # more the client had sent before it noticed.
                processed = (g.last_stream_id + 1) // 2
                assert 1000 <= processed <= 1500, (processed, sent)
                per_conn.append(processed)
    rss1, grew = rss_growth(srv, rss0)
    assert adv.wait_metric(srv, "ugrpc_streams_active", lambda v: v == 0, 5 * h.SLOW) == 0
    s = p.check()
    adv.report("rapid reset", connections=len(per_conn), resets_processed=sum(per_conn),
               streams_before_goaway_max=max(per_conn), goaway=g, rss_kib=f"{rss0}->{rss1}",
               prober_p99_ms=f"{s['p99_ms']:.1f}")
    assert grew < adv.mem_bound(8 * adv.MIB)


def test_continuation_flood_gets_goaway_protocol_error(pb, hostile_server):
    """CVE-2024-27316 style: a header block that never ends, CONTINUATION
    after CONTINUATION. After 8 CONTINUATION frames nghttp2 stops the
    session; the server sends GOAWAY(PROTOCOL_ERROR) and closes."""
    srv = hostile_server()
    rss0 = adv.rss_kib(srv)
    filler = w.literal("x-flood", "a" * 1000)
    per_conn = []
    with adv.Prober(pb, srv) as p:
        for _ in adv.rounds():
            with Conn(srv.port) as c:
                c.handshake()
                c.send(w.headers(1, request_block(), end_headers=False))
                sent = 0
                while sent < 10000 and not c.closed and c.goaway() is None:
                    if not c.send(b"".join(w.frame(w.CONTINUATION, 0, 1, filler)
                                           for _ in range(10))):
                        break
                    sent += 10
                    c.recv_some(0.01)
                assert c.read_until_closed(3 * h.SLOW), "connection still open"
                g = assert_goaway(c, w.PROTOCOL_ERROR)
                per_conn.append(sent)
                assert sent <= 1000, f"server kept reading {sent} CONTINUATION frames"
    rss1, grew = rss_growth(srv, rss0)
    s = p.check()
    adv.report("CONTINUATION flood", connections=len(per_conn),
               continuations_per_connection_max=max(per_conn), goaway=g,
               rss_kib=f"{rss0}->{rss1}", prober_p99_ms=f"{s['p99_ms']:.1f}")
    assert grew < adv.mem_bound(4 * adv.MIB)


def test_ping_flood_gets_goaway_enhance_your_calm(pb, hostile_server):
    """PINGs by the thousand with no call open: keepalive enforcement
    (default KEEPALIVE_MIN_TIME 5m, and no PINGs at all without a call)
    gives GOAWAY(ENHANCE_YOUR_CALM, "too_many_pings") after 2 strikes, then
    closes."""
    srv = hostile_server()
    rss0 = adv.rss_kib(srv)
    pings = w.ping() * 1000
    per_conn = []
    with adv.Prober(pb, srv) as p:
        for _ in adv.rounds():
            with Conn(srv.port) as c:
                c.handshake()
                sent = 0
                while sent < 100000 and not c.closed and c.goaway() is None:
                    if not c.send(pings):
                        break
                    sent += 1000
                    c.recv_some(0)
                c.read_until(lambda f: f.type == w.GOAWAY, 3 * h.SLOW)
                g = assert_goaway(c, w.ENHANCE_YOUR_CALM, b"too_many_pings")
                assert c.read_until_closed(3 * h.SLOW), "connection still open after the GOAWAY"
                per_conn.append(sent)
    rss1, grew = rss_growth(srv, rss0)
    s = p.check()
    adv.report("PING flood", connections=len(per_conn), pings_sent=sum(per_conn), goaway=g,
               rss_kib=f"{rss0}->{rss1}", prober_p99_ms=f"{s['p99_ms']:.1f}")
    assert grew < adv.mem_bound(4 * adv.MIB)


def unread_ack_flood(pb, srv, unit, what):
    """Frames that each need an ACK (`unit`), 2000 per send, from clients
    that never read, one connection per round. Each connection must be
    closed by the server; returns the figures."""
    rss0 = adv.rss_kib(srv)
    burst = unit * 2000
    per_conn = []
    with adv.Prober(pb, srv) as p:
        for _ in adv.rounds():
            with Conn(srv.port, rcvbuf=4096) as c:
                c.handshake()
                sent = 0
                try:
                    while sent < 1000000 and c.send(burst):
                        sent += 2000
                except socket.timeout:
                    pass  # the server stopped reading: it must still close
                assert c.closed or c.read_until_closed(3 * h.SLOW), (
                    f"connection still open after {sent} {what} frames")
                per_conn.append(sent)
    rss1, grew = rss_growth(srv, rss0)
    s = p.check()
    adv.report(f"{what} flood, ACKs unread", connections=len(per_conn),
               frames_written_per_connection_max=max(per_conn), rss_kib=f"{rss0}->{rss1}",
               prober_p99_ms=f"{s['p99_ms']:.1f}")
    assert grew < adv.mem_bound(4 * adv.MIB)


def test_ping_flood_unread_acks_without_enforcement_closes(pb, hostile_server):
    """The PING flood with keepalive enforcement off (KEEPALIVE_MIN_TIME=0)
    from a client that never reads the PING ACKs: nghttp2's outbound-ACK
    limit (1000 queued) reports a flood and the connection is closed at once
    (no GOAWAY: the client is not reading anyway). Frames "written" include
    what the kernel's socket buffers absorbed."""
    unread_ack_flood(pb, hostile_server(KEEPALIVE_MIN_TIME="0"), w.ping(), "PING")


def test_settings_flood_closes_connection(pb, hostile_server):
    """SETTINGS frames, each needing an ACK, faster than they can be
    acknowledged: more than 1000 ACKs queued is a flood for nghttp2 and the
    connection is closed."""
    unread_ack_flood(pb, hostile_server(),
                     w.settings([(w.SETTINGS_INITIAL_WINDOW_SIZE, 65535)]), "SETTINGS")


def test_settings_with_1000_entries_gets_goaway_enhance_your_calm(pb, hostile_server):
    """One SETTINGS frame with 1000 entries (nghttp2_option_set_max_settings:
    32 per frame): GOAWAY(ENHANCE_YOUR_CALM) and close."""
    srv = hostile_server()
    n = 0
    with adv.Prober(pb, srv) as p:
        for _ in adv.rounds(seconds=1.0):
            with Conn(srv.port) as c:
                c.handshake()
                c.send(w.settings([(w.SETTINGS_INITIAL_WINDOW_SIZE, 65535)] * 1000))
                c.read_until(lambda f: f.type == w.GOAWAY, 3 * h.SLOW)
                g = assert_goaway(c, w.ENHANCE_YOUR_CALM)
                assert c.read_until_closed(3 * h.SLOW)
                n += 1
    s = p.check()
    adv.report("SETTINGS with 1000 entries", connections=n, goaway=g,
               prober_p99_ms=f"{s['p99_ms']:.1f}")


def test_empty_data_frame_flood_is_tolerated(pb, hostile_server):
    """CVE-2019-9518: empty DATA frames by the hundred thousand on an open
    call. They carry no bytes, so nothing is buffered and flow control is
    untouched; the server reads them as any input (up to 32 reads of 64 KiB
    per connection per loop turn, libuv's) and the call still completes with
    OK. Documented as tolerated: the cost is CPU that the client pays for
    with as many bytes sent; the prober's latency shows what it costs the
    others (docs/security.md, "Known limits")."""
    srv = hostile_server()
    rss0 = adv.rss_kib(srv)
    empties = w.data(1) * 10000
    total, took = 0, 0.0
    with adv.Prober(pb, srv) as p:
        for _ in adv.rounds():
            with Conn(srv.port) as c:
                c.handshake()
                c.send(w.headers(1, request_block()))
                t0 = time.monotonic()
                for _ in range(20):
                    assert c.send(empties), f"connection closed: {c.frames[-5:]}"
                    total += 10000
                    c.recv_some(0)
                c.send(w.data(1, EMPTY_REQUEST, end_stream=True))
                t = c.read_until(lambda f: f.type == w.HEADERS and f.stream == 1
                                 and f.flags & w.END_STREAM, 10 * h.SLOW)
                took += time.monotonic() - t0
                assert t is not None, f"no trailers: {c.frames[-10:]}"
                assert t.header("grpc-status") == "0", t
                assert c.goaway() is None and not c.closed
    rss1, grew = rss_growth(srv, rss0)
    s = p.check()
    adv.report("empty DATA flood", frames=total, frames_per_second=int(total / took),
               rss_kib=f"{rss0}->{rss1}", prober_p99_ms=f"{s['p99_ms']:.1f}")
    assert grew < adv.mem_bound(4 * adv.MIB)
