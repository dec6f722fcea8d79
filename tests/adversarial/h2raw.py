"""Hand-made HTTP/2 for hostile clients: frames are built byte by byte (so a
test can send what no well-behaved library would), header blocks are HPACK
literals without Huffman coding, and a reader parses what the server sends
back. The server's own header blocks are decoded with the `hpack` package
(pinned in third_party/requirements.txt): nghttp2 Huffman-codes and indexes
them, which is not worth re-implementing here.
"""

import socket
import struct
import time

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types (RFC 9113 6)
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
TYPE_NAMES = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING",
              "GOAWAY", "WINDOW_UPDATE", "CONTINUATION"]

# Flags
END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4

# SETTINGS identifiers
SETTINGS_HEADER_TABLE_SIZE = 0x1
SETTINGS_ENABLE_PUSH = 0x2
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
SETTINGS_MAX_FRAME_SIZE = 0x5
SETTINGS_MAX_HEADER_LIST_SIZE = 0x6

# Error codes (RFC 9113 7)
ERROR_NAMES = {0x0: "NO_ERROR", 0x1: "PROTOCOL_ERROR", 0x2: "INTERNAL_ERROR",
               0x3: "FLOW_CONTROL_ERROR", 0x4: "SETTINGS_TIMEOUT", 0x5: "STREAM_CLOSED",
               0x6: "FRAME_SIZE_ERROR", 0x7: "REFUSED_STREAM", 0x8: "CANCEL",
               0x9: "COMPRESSION_ERROR", 0xA: "CONNECT_ERROR", 0xB: "ENHANCE_YOUR_CALM",
               0xC: "INADEQUATE_SECURITY", 0xD: "HTTP_1_1_REQUIRED"}
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR = 0x0, 0x1, 0x2
FRAME_SIZE_ERROR, CANCEL, COMPRESSION_ERROR, ENHANCE_YOUR_CALM = 0x6, 0x8, 0x9, 0xB


# ---- encoding ----------------------------------------------------------------

def frame(ftype, flags, stream_id, payload=b""):
    """One frame: 24-bit length, type, flags, 31-bit stream id, payload."""
    return (struct.pack(">I", len(payload))[1:] + bytes([ftype, flags])
            + struct.pack(">I", stream_id & 0x7FFFFFFF) + payload)


def settings(entries=(), ack=False):
    payload = b"".join(struct.pack(">HI", k, v) for k, v in entries)
    return frame(SETTINGS, ACK if ack else 0, 0, payload)


def ping(data=b"\0" * 8, ack=False):
    return frame(PING, ACK if ack else 0, 0, data)


def rst_stream(stream_id, code=CANCEL):
    return frame(RST_STREAM, 0, stream_id, struct.pack(">I", code))


def window_update(stream_id, increment):
    return frame(WINDOW_UPDATE, 0, stream_id, struct.pack(">I", increment))


def hpack_int(value, prefix_bits, first_byte_flags=0):
    """RFC 7541 5.1 integer with an N-bit prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte_flags | value])
    out = [first_byte_flags | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_string(s):
    """A string literal without Huffman coding (H bit 0)."""
    if isinstance(s, str):
        s = s.encode()
    return hpack_int(len(s), 7) + s


def literal(name, value, index=False):
    """A header field as a literal with a literal name: 'without indexing'
    (0x00) or 'with incremental indexing' (0x40, enters the dynamic table)."""
    return (b"\x40" if index else b"\x00") + hpack_string(name) + hpack_string(value)


def indexed(i):
    """A header field by table index (static 1..61, dynamic from 62)."""
    return hpack_int(i, 7, 0x80)


def header_block(fields):
    return b"".join(literal(n, v) for n, v in fields)


def grpc_request_fields(path, authority="localhost", extra=()):
    return [(":method", "POST"), (":scheme", "http"), (":path", path),
            (":authority", authority), ("content-type", "application/grpc"),
            ("te", "trailers")] + list(extra)


def headers(stream_id, fields, end_stream=False, end_headers=True):
    block = fields if isinstance(fields, bytes) else header_block(fields)
    flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
    return frame(HEADERS, flags, stream_id, block)


def grpc_message(payload, compressed=False, length=None):
    """The 5-byte gRPC prefix (flag, 32-bit length) and the message; `length`
    overrides the announced length."""
    n = len(payload) if length is None else length
    return bytes([1 if compressed else 0]) + struct.pack(">I", n) + payload


def data(stream_id, payload=b"", end_stream=False):
    return frame(DATA, END_STREAM if end_stream else 0, stream_id, payload)


def pb_string(field, s):
    """A protobuf length-delimited field (wire type 2), for tiny requests."""
    if isinstance(s, str):
        s = s.encode()
    n, varint = len(s), b""
    while True:
        b = n & 0x7F
        n >>= 7
        varint += bytes([b | (0x80 if n else 0)])
        if not n:
            break
    return bytes([(field << 3) | 2]) + varint + s


# ---- decoding ----------------------------------------------------------------

class Frame:
    __slots__ = ("type", "flags", "stream", "payload", "headers")

    def __init__(self, ftype, flags, stream, payload):
        self.type, self.flags, self.stream, self.payload = ftype, flags, stream, payload
        self.headers = None  # decoded header list for HEADERS (+CONTINUATION)

    @property
    def error_code(self):
        """GOAWAY and RST_STREAM error code."""
        if self.type == GOAWAY:
            return struct.unpack(">I", self.payload[4:8])[0]
        if self.type == RST_STREAM:
            return struct.unpack(">I", self.payload[:4])[0]
        return None

    @property
    def last_stream_id(self):
        return struct.unpack(">I", self.payload[:4])[0] & 0x7FFFFFFF

    @property
    def debug_data(self):
        return self.payload[8:] if self.type == GOAWAY else b""

    def header(self, name):
        for n, v in self.headers or ():
            if n == name:
                return v
        return None

    def __repr__(self):
        t = TYPE_NAMES[self.type] if self.type < len(TYPE_NAMES) else hex(self.type)
        extra = ""
        if self.type in (GOAWAY, RST_STREAM):
            extra = f" {ERROR_NAMES.get(self.error_code, self.error_code)}"
            if self.type == GOAWAY:
                extra += f" last={self.last_stream_id} debug={self.debug_data!r}"
        elif self.headers is not None:
            extra = f" {self.headers}"
        else:
            extra = f" len={len(self.payload)}"
        return f"<{t} s={self.stream} f=0x{self.flags:x}{extra}>"


class Conn:
    """A raw HTTP/2 client connection on a blocking socket with timeouts."""

    def __init__(self, port, host="127.0.0.1", preface=True, settings_entries=(),
                 rcvbuf=None, timeout=5.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect, so the window is small from the start
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.closed = False  # the server closed (EOF or reset)
        self.reset = False  # ... with a TCP reset
        self.frames = []  # everything received so far, in order
        self.decoder = hpack.Decoder()
        self.decoder.max_header_list_size = 1 << 30
        self._pending_headers = None  # a HEADERS frame awaiting CONTINUATION
        if preface:
            self.send(PREFACE + settings(settings_entries))

    def send(self, b):
        """sendall; returns False if the server has closed the connection."""
        try:
            self.sock.sendall(b)
            return True
        except (BrokenPipeError, ConnectionResetError):
            self.closed = True
            return False

    def close(self, abort=False):
        if abort:  # RST instead of FIN, and no TIME_WAIT
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _parse(self):
        out = []
        while len(self.buf) >= 9:
            n = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + n:
                break
            f = Frame(self.buf[3], self.buf[4], int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF,
                      self.buf[9:9 + n])
            self.buf = self.buf[9 + n:]
            if f.type == HEADERS:
                block = f.payload
                if f.flags & 0x8:  # PADDED
                    block = block[1:len(block) - block[0]]
                if f.flags & 0x20:  # PRIORITY
                    block = block[5:]
                f.payload = block
                if not f.flags & END_HEADERS:
                    self._pending_headers = f
                    continue
            elif f.type == CONTINUATION and self._pending_headers is not None:
                h = self._pending_headers
                h.payload += f.payload
                if not f.flags & END_HEADERS:
                    continue
                self._pending_headers, f = None, h
            if f.type == HEADERS:
                f.headers = [(n if isinstance(n, str) else n.decode(),
                              v if isinstance(v, str) else v.decode(errors="replace"))
                             for n, v in self.decoder.decode(f.payload)]
            out.append(f)
        self.frames.extend(out)
        return out

    def recv_some(self, timeout):
        """Reads what arrives within `timeout` (at least one read attempt);
        returns the complete frames parsed."""
        if self.closed:
            return []
        self.sock.settimeout(max(timeout, 0.001))
        try:
            d = self.sock.recv(1 << 20)
        except socket.timeout:
            return []
        except ConnectionResetError:
            self.closed = self.reset = True
            return []
        if not d:
            self.closed = True
            return []
        self.buf += d
        return self._parse()

    def read_until(self, pred, timeout):
        """Reads frames until pred(frame) is true for one of them (returns it),
        the server closes, or `timeout` passes (returns None)."""
        for f in self.frames:
            if pred(f):
                return f
        deadline = time.monotonic() + timeout
        while not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            for f in self.recv_some(min(left, 0.25)):
                if pred(f):
                    return f
        return None

    def read_until_closed(self, timeout):
        """Reads (and keeps) frames until the server closes; returns whether
        it did within `timeout`."""
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.recv_some(min(deadline - time.monotonic(), 0.25))
        return self.closed

    def goaway(self):
        g = [f for f in self.frames if f.type == GOAWAY]
        return g[-1] if g else None

    def handshake(self, timeout=5.0):
        """Waits for the server's SETTINGS and acknowledges them."""
        f = self.read_until(lambda f: f.type == SETTINGS and not f.flags & ACK, timeout)
        assert f is not None, f"no server SETTINGS: {self.frames}"
        self.send(settings(ack=True))
        return f

    def trailers(self, stream_id):
        """The last HEADERS frame with END_STREAM on a stream (trailers or a
        Trailers-Only response), or None."""
        for f in reversed(self.frames):
            if f.type == HEADERS and f.stream == stream_id and f.flags & END_STREAM:
                return f
        return None

    def response_headers(self, stream_id):
        """Every decoded header of the stream's HEADERS frames, merged."""
        out = {}
        for f in self.frames:
            if f.type == HEADERS and f.stream == stream_id:
                out.update(dict(f.headers))
        return out
