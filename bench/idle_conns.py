#!/usr/bin/env python3
"""Opens N idle HTTP/2 (h2c) connections to 127.0.0.1:PORT and holds them.

Each connection sends the client preface and an empty SETTINGS frame, reads
the server's SETTINGS and acknowledges it, then stays silent. Prints
"open N" once all are set up, then holds them until stdin closes, SIGTERM,
or HOLD seconds pass (bounded). Raises RLIMIT_NOFILE to its hard limit.

  idle_conns.py PORT N HOLD
"""
import resource
import selectors
import signal
import socket
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
SETTINGS_ACK = b"\x00\x00\x00\x04\x01\x00\x00\x00\x00"


def main():
    port, n, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    n = min(n, hard - 50)
    sel = selectors.DefaultSelector()
    socks = []
    deadline = time.monotonic() + 120
    for i in range(n):
        if time.monotonic() > deadline:
            break
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port))
        except OSError as e:
            print(f"connect {i}: {e}", file=sys.stderr)
            s.close()
            break
        s.sendall(PREFACE + SETTINGS)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, bytearray())
        socks.append(s)
    # Read each server's first frames; ACK its SETTINGS (once per connection).
    acked = set()
    end = time.monotonic() + 60
    while len(acked) < len(socks) and time.monotonic() < end:
        for key, _ in sel.select(timeout=1.0):
            s, buf = key.fileobj, key.data
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                acked.add(s)
                continue
            buf += data
            while len(buf) >= 9:
                ln = int.from_bytes(buf[0:3], "big")
                if len(buf) < 9 + ln:
                    break
                ftype, flags = buf[3], buf[4]
                del buf[:9 + ln]
                if ftype == 4 and not flags & 1 and s not in acked:
                    s.sendall(SETTINGS_ACK)
                    acked.add(s)
    alive = len(socks)
    print(f"open {alive}", flush=True)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    stop = time.monotonic() + hold
    while time.monotonic() < stop:
        for key, _ in sel.select(timeout=0.5):
            try:
                if not key.fileobj.recv(65536):
                    sel.unregister(key.fileobj)
            except OSError:
                pass
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
