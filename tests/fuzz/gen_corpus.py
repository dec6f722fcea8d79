#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/.

Every seed is built here by hand (no captures from elsewhere), so the corpus
can be regenerated and reviewed: `python3 tests/fuzz/gen_corpus.py`.
Regression inputs found by fuzzing (regress-*) are committed next to the
seeds and are not touched by this script.

The conn seeds are whole client byte streams: the HTTP/2 preface, SETTINGS,
then HEADERS (HPACK literals without indexing, so no Huffman or table
state is needed) and DATA frames carrying gRPC length-prefixed messages.
"""
import gzip
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# ---- protobuf, by hand ----

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_bytes(num, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(num << 3 | 2) + varint(len(data)) + data


def field_varint(num, n):
    return varint(num << 3) + varint(n & 0xFFFFFFFFFFFFFFFF)


def grpc_msg(payload, compressed=False):
    if compressed:
        payload = gzip.compress(payload, mtime=0)
    return bytes([1 if compressed else 0]) + struct.pack(">I", len(payload)) + payload


# ---- HTTP/2, by hand ----

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def settings(pairs=(), ack=False):
    return frame(4, 1 if ack else 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def hpack_int(n, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if n < limit:
        return bytes([first | n])
    out = bytearray([first | limit])
    n -= limit
    while n >= 128:
        out.append(n % 128 + 128)
        n //= 128
    out.append(n)
    return bytes(out)


def hpack_literal(name, value):
    """Literal header field without indexing, new name (RFC 7541 6.2.2)."""
    name, value = name.encode(), value.encode() if isinstance(value, str) else value
    return b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value


def headers(stream, fields, end_stream=False):
    block = b"".join(hpack_literal(n, v) for n, v in fields)
    return frame(1, 0x4 | (0x1 if end_stream else 0), stream, block)


def data(stream, payload, end_stream=False):
    return frame(0, 0x1 if end_stream else 0, stream, payload)


def request_headers(path, extra=()):
    return [(":method", "POST"), (":scheme", "http"), (":path", path),
            (":authority", "localhost"), ("content-type", "application/grpc"),
            ("te", "trailers")] + list(extra)


def client_start():
    return PREFACE + settings([(2, 0), (4, 65535)]) + settings(ack=True)


def unary(stream, path, msg, extra=(), compressed=False, split=False):
    body = grpc_msg(msg, compressed)
    out = headers(stream, request_headers(path, extra))
    if split:  # the message across two DATA frames
        return out + data(stream, body[:3]) + data(stream, body[3:], end_stream=True)
    return out + data(stream, body, end_stream=True)


def conn_seeds():
    echo = "/fuzz.Echo/Unary"
    stream = "/fuzz.Echo/Stream"
    bidi = "/fuzz.Echo/Bidi"
    check = "/grpc.health.v1.Health/Check"
    watch = "/grpc.health.v1.Health/Watch"
    refl = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
    hc = field_bytes(1, "")
    s = client_start()
    # The split byte first (see fuzz_util.h): 0xff feeds whole 32 KiB reads,
    # 0x03 cuts the stream into 1..8-byte pieces.
    seeds = {
        "unary": s + unary(1, echo, hc),
        "unary-split-data": s + unary(1, echo, field_bytes(1, "svc"), split=True),
        "unary-gzip": s + unary(1, echo, field_bytes(1, "x" * 200), compressed=True,
                                extra=[("grpc-encoding", "gzip"), ("grpc-accept-encoding", "gzip")]),
        "unary-metadata": s + unary(1, echo, hc, extra=[
            ("grpc-timeout", "5S"), ("user-agent", "fuzz/1"), ("x-trace", "abc"),
            ("x-blob-bin", "AAEC"), ("x-list-bin", "AQ==,AgM"), ("grpc-accept-encoding", "identity,gzip")]),
        "deadline-expired": s + unary(1, echo, hc, extra=[("grpc-timeout", "1n")]),
        "deadline-short": s + unary(1, stream, hc, extra=[("grpc-timeout", "1m")]),
        "stream": s + unary(1, stream, field_bytes(1, "abc")),
        "stream-two-requests": s + headers(1, request_headers(stream)) + data(1, grpc_msg(hc) + grpc_msg(hc),
                                                                             end_stream=True),
        # 64 replies into a 1 KiB send queue and a 64-byte window the client
        # then opens bit by bit: EAGAIN, writable callbacks, flow control.
        "stream-flow-control": PREFACE + settings([(4, 64)]) + settings(ack=True)
        + unary(1, stream, field_bytes(1, "x" * 63), extra=[("grpc-accept-encoding", "gzip")])
        + b"".join(frame(8, 0, 1, struct.pack(">I", 700)) for _ in range(8))
        + frame(8, 0, 0, struct.pack(">I", 100000)),
        "stream-rst": s + headers(1, request_headers(stream)) + data(1, grpc_msg(hc))
        + frame(3, 0, 1, struct.pack(">I", 8)),
        "bidi": s + headers(1, request_headers(bidi, [("grpc-encoding", "gzip")]))
        + data(1, grpc_msg(field_bytes(1, "a")) + grpc_msg(field_bytes(1, "b" * 50), compressed=True))
        + data(1, grpc_msg(field_bytes(1, "c")), end_stream=True),
        "bidi-end": s + headers(1, request_headers(bidi)) + data(1, grpc_msg(field_bytes(1, "end"))),
        # Never half-closed: the 1 ms deadline cancels it.
        "bidi-deadline": s + headers(1, request_headers(bidi, [("grpc-timeout", "1m")]))
        + data(1, grpc_msg(field_bytes(1, "a"))),
        "todo-get-todos": s + unary(1, "/grpc.Todos/GetTodos", field_bytes(1, "xyz")),
        "todo-create-list": s + unary(1, "/grpc.Todos/CreateTodo", field_bytes(2, "t") + field_bytes(3, "work")
                                      + field_varint(4, 2))
        + unary(3, "/grpc.Todos/ListTodos", field_varint(2, 1) + field_bytes(5, "priority desc"))
        + unary(5, "/grpc.Todos/ListTodos", field_varint(2, 2) + field_bytes(3, "bm90IGEgdG9rZW4")),
        "todo-update": s + unary(1, "/grpc.Todos/UpdateTodo", field_bytes(2, field_bytes(1, "1") + field_bytes(2, "new"))
                                 + field_bytes(3, field_bytes(1, "title"))),
        "todo-invalid": s + unary(1, "/grpc.Todos/GetTodo", field_bytes(2, "not-hex"))
        + unary(3, "/grpc.Todos/DeleteTodo", field_bytes(2, "0123456789abcdef01234567"))
        + unary(5, "/grpc.Todos/CreateTodo", field_bytes(2, "")),
        "health-check": s + unary(1, check, hc),
        "health-watch": s + unary(1, watch, hc) + unary(3, check, field_bytes(1, "nope")),
        "reflection": s + headers(1, request_headers(refl))
        + data(1, grpc_msg(field_bytes(7, "")) + grpc_msg(field_bytes(4, "fuzz.Echo")), end_stream=True),
        "unknown-method": s + unary(1, "/no.Such/Method", hc),
        "not-grpc": s + headers(1, [(":method", "GET"), (":scheme", "http"), (":path", "/"),
                                    (":authority", "x")], end_stream=True),
        "too-big": s + headers(1, request_headers(echo)) + data(1, b"\x00\x7f\xff\xff\xff", end_stream=True),
        "bad-flag": s + headers(1, request_headers(echo)) + data(1, b"\x02\x00\x00\x00\x00", end_stream=True),
        "two-calls": s + unary(1, echo, hc) + unary(3, stream, hc)
        + frame(6, 0, 0, b"12345678") + frame(8, 0, 0, struct.pack(">I", 1000)),
        "goaway": s + unary(1, echo, hc) + frame(7, 0, 0, struct.pack(">II", 1, 0)),
        "bad-preface": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    }
    for name, body in seeds.items():
        write("conn", name, b"\xff" + body)
    write("conn", "unary-tiny-reads", b"\x03" + seeds["unary-metadata"])
    write("conn", "bidi-tiny-reads", b"\x13" + seeds["bidi"])


def frame_seeds():
    # split byte, limit byte, stream
    msgs = grpc_msg(b"hello") + grpc_msg(b"") + grpc_msg(b"x" * 300, compressed=False)
    write("frame", "three", b"\xff\x80" + msgs)
    write("frame", "three-1byte-reads", b"\x00\x80" + msgs)
    write("frame", "split-3", b"\x12\x80" + msgs)
    write("frame", "partial", b"\x05\x80" + msgs[:-7])
    write("frame", "too-big", b"\xff\x10" + grpc_msg(b"y" * 17))
    write("frame", "compressed-flag", b"\xff\x80" + grpc_msg(b"zz", compressed=True))
    write("frame", "bad-flag", b"\xff\x80" + b"\x02\x00\x00\x00\x01a")
    write("frame", "len-4g", b"\xff\xff" + b"\x00\xff\xff\xff\xff")


def metadata_seeds():
    for i, v in enumerate([b"1H", b"99999999n", b"5S", b"100m", b"30u", b"2M", b"123456789S", b"1x",
                           b"AAEC", b"AQ==,AgM", b" YWJj ", b"a===", b"100% caf\xc3\xa9\n",
                           b"%41%4g%", b"application/grpc+proto", b"application/grpc;x=1",
                           b"x-user-key", b"grpc-status", b"\x00\x05\x09\x0e\x83\x47\x0b\x0f\x01\x02"]):
        write("metadata", "%02d" % i, v)


def proto_seeds():
    # First byte: the type, in fuzz_proto.c's order.
    todo = field_bytes(1, "1") + field_bytes(2, "write") + field_bytes(3, "work") + field_varint(4, 2)
    write("proto", "request", b"\x00" + field_bytes(1, "xyz"))
    write("proto", "create", b"\x01" + field_bytes(1, "t") + field_bytes(2, "title")
          + field_bytes(3, "tag") + field_varint(4, 3))
    write("proto", "get", b"\x02" + field_bytes(1, "t") + field_bytes(2, "0123456789abcdef01234567"))
    write("proto", "update", b"\x03" + field_bytes(1, "t") + field_bytes(2, todo)
          + field_bytes(3, field_bytes(1, "title") + field_bytes(1, "priority")))
    write("proto", "delete", b"\x04" + field_bytes(2, "1"))
    write("proto", "list", b"\x05" + field_varint(2, 1000) + field_bytes(3, "tok")
          + field_bytes(4, "work") + field_bytes(5, "priority desc"))
    write("proto", "list-negative", b"\x05" + field_varint(2, -1))
    write("proto", "health", b"\x06" + field_bytes(1, "grpc.Todos"))
    write("proto", "reflection-v1", b"\x07" + field_bytes(1, "localhost") + field_bytes(4, "grpc.Todos"))
    write("proto", "reflection-v1-list", b"\x07" + field_bytes(7, ""))
    write("proto", "reflection-v1alpha", b"\x08" + field_bytes(3, "todos.proto"))
    write("proto", "reflection-ext", b"\x08" + field_bytes(5, field_bytes(1, "grpc.Todos") + field_varint(2, 100)))
    write("proto", "unknown-fields", b"\x00" + field_varint(99, 7) + field_bytes(1, "xyz"))


def dotenv_seeds():
    for name, text in [
        ("plain", "KEY=VALUE\nA=1\nmy.key-2_x=ok\n"),
        ("export", "export KEY=V\nexport\tTAB=t\n"),
        ("comments", "# a comment\nA=1 # trailing\n   # indented\nB=url#frag\n"),
        ("quotes", "S='single $A'\nD=\"line\\nnext \\\"q\\\" ${A}\"\nE=''\n"),
        ("multiline", "M=\"first\nsecond\"\nN=after\n"),
        ("expand", "A=1\nB=${A}2\nC=$A$B\nD=${UNSET_FUZZ_KEY}x\nE=$\n"),
        ("yaml-ish", "KEY: V\nOTHER:x\n"),
        ("errors", "=novalue\nno equals here\n"),
        ("unterminated", "A=\"never closed\n"),
        ("crlf", "A=1\r\nB=2\r\n"),
    ]:
        write("dotenv", name, text.encode())


def admin_seeds():
    for name, text in [
        ("metrics", b"\xffGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("healthz-lf", b"\xffGET /healthz HTTP/1.0\n\n"),
        ("readyz-head", b"\xffHEAD /readyz?verbose=1 HTTP/1.1\r\n\r\n"),
        ("post", b"\xffPOST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
        ("bad-version", b"\xffGET / HTTP/2.0\r\n\r\n"),
        ("tiny-reads", b"\x02GET /metrics HTTP/1.1\r\nUser-Agent: probe\r\nAccept: */*\r\n\r\n"),
        ("no-end", b"\xffGET /metrics HTTP/1.1\r\nHost: x\r\n"),
        ("oversized", b"\xffGET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n"),
    ]:
        write("admin", name, text)


def main():
    frame_seeds()
    metadata_seeds()
    proto_seeds()
    dotenv_seeds()
    admin_seeds()
    conn_seeds()
    return 0


if __name__ == "__main__":
    sys.exit(main())
