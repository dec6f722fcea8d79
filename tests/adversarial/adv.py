"""Helpers for the hostile-client tests: server environment, /proc and
/metrics readings, and the well-behaved client that keeps calling while an
attack runs (Prober)."""

import http.client
import os
import threading
import time

import grpc

import todo_harness as h

ASAN = "address" in h.SANITIZER
# A well-behaved client's p99 latency during an attack must stay under this.
# Sanitized servers run several times slower; the machine is shared.
P99_BOUND = 1.0 * (3 if h.SANITIZER else 1)
# Memory bounds are stated for the plain build; ASan adds redzones, shadow
# memory and allocator caches (its quarantine is kept at 16 MiB, see below).
MEM_SCALE = 3 if ASAN else 1
MIB = 1024
# ... and ASan's quarantine (16 MiB) and per-size-class caches keep freed
# memory resident: after a thousand connections come and go, RSS under ASan
# is up to ~30 MiB higher with nothing leaked (LeakSanitizer checks that at
# exit).
ASAN_RESIDUE = 40 * MIB if ASAN else 0


def mem_bound(kib):
    """A bound in KiB stated for the plain build, widened for sanitizers."""
    return kib * MEM_SCALE + ASAN_RESIDUE


def server_env(extra=None):
    env = {"ADMIN_PORT": str(h.free_port()), "ACCESS_LOG": "off", "LOG_LEVEL": "info"}
    if ASAN:
        base = os.environ.get("ASAN_OPTIONS", "detect_leaks=1")
        env["ASAN_OPTIONS"] = base + ":quarantine_size_mb=16:thread_local_quarantine_size_kb=64"
    env.update({k: str(v) for k, v in (extra or {}).items()})
    return env


def proc_status_kib(srv, field):
    with open(f"/proc/{srv.proc.pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field}")


def rss_kib(srv):
    """The server's VmRSS in KiB, from /proc/PID/status."""
    return proc_status_kib(srv, "VmRSS")


def vmsize_kib(srv):
    """The server's address space (VmSize) in KiB."""
    return proc_status_kib(srv, "VmSize")


def open_fds(srv):
    return len(os.listdir(f"/proc/{srv.proc.pid}/fd"))


def metrics(srv):
    """The admin endpoint's unlabelled samples as {name: float}, or None."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", srv.admin_port, timeout=2 * h.SLOW)
        c.request("GET", "/metrics")
        r = c.getresponse()
        body = r.read().decode()
        c.close()
    except OSError:
        return None
    if r.status != 200:
        return None
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


def metric(srv, name):
    m = metrics(srv)
    assert m is not None, "admin endpoint does not answer"
    return m.get(name)


def wait_metric(srv, name, pred, timeout):
    """Waits until pred(value of `name`) holds; returns the last value."""
    last = [None]

    def ok():
        last[0] = metric(srv, name)
        return last[0] is not None and pred(last[0])

    h.wait_until(ok, timeout, interval=0.1)
    return last[0]


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, int(round(p / 100.0 * (len(sorted_values) - 1))))
    return sorted_values[i]


class Prober:
    """A well-behaved grpcio client on its own connection, calling GetTodos
    every `interval` seconds from a thread while the attack runs:

        with Prober(pb, srv) as p:
            attack()
        p.check()      # every call succeeded, enough of them, p99 bounded
    """

    def __init__(self, pb, srv, interval=0.01, name="prober", min_calls=5):
        self.pb, self.srv, self.interval, self.name = pb, srv, interval, name
        self.min_calls = min_calls
        self.latencies, self.failures = [], []
        self._stop = threading.Event()
        self._thread = None
        self.channel = None

    def __enter__(self):
        self.channel = self.srv.channel()
        grpc.channel_ready_future(self.channel).result(timeout=h.CALL_TIMEOUT)
        self.stub = self.pb[1].TodosStub(self.channel)
        self.stub.GetTodos(self.pb[0].Request(), timeout=h.CALL_TIMEOUT)  # warm
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.started = time.monotonic()
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                r = self.stub.GetTodos(self.pb[0].Request(), timeout=h.CALL_TIMEOUT)
                if len(r.todos) < 1:
                    self.failures.append(("empty reply", time.monotonic() - t))
                else:
                    self.latencies.append(time.monotonic() - t)
            except grpc.RpcError as e:
                self.failures.append((f"{e.code()}: {e.details()}", time.monotonic() - t))
            self._stop.wait(self.interval)

    def __exit__(self, *exc):
        # An attack that is over in milliseconds leaves room for only a call
        # or two: the prober goes on (bounded) until it has made the few
        # calls check() asks for, right behind the attack's last bytes.
        end = time.monotonic() + 2 * h.CALL_TIMEOUT
        while (len(self.latencies) + len(self.failures) < self.min_calls
               and self._thread.is_alive() and time.monotonic() < end):
            time.sleep(self.interval)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * h.CALL_TIMEOUT)
        self.elapsed = time.monotonic() - self.started
        self.channel.close()

    def stats(self):
        lat = sorted(self.latencies)
        return {"calls": len(lat) + len(self.failures), "failures": len(self.failures),
                "p50_ms": pct(lat, 50) * 1000, "p99_ms": pct(lat, 99) * 1000,
                "max_ms": (lat[-1] if lat else float("nan")) * 1000,
                "seconds": self.elapsed}

    def check(self):
        s = self.stats()
        print(f"\n  {self.name}: {s['calls']} calls in {s['seconds']:.1f}s, "
              f"{s['failures']} failed, p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms, "
              f"max {s['max_ms']:.1f} ms")
        assert not self.failures, f"well-behaved client failed during the attack: {self.failures[:5]}"
        assert s["calls"] >= self.min_calls, f"well-behaved client made too few calls: {s}"
        assert s["p99_ms"] < P99_BOUND * 1000, f"well-behaved client too slow: {s}"
        return s


ATTACK_SECONDS = 2.0


def rounds(seconds=ATTACK_SECONDS, most=1000):
    """Round numbers 0, 1, ... for `seconds` (at most `most` rounds, at least
    one): an attack is repeated on fresh connections, as a real attacker
    reconnects, so that the well-behaved client is measured during it."""
    end = time.monotonic() + seconds
    i = 0
    while i < most and (i == 0 or time.monotonic() < end):
        yield i
        i += 1


def report(name, **figures):
    """Prints one line of figures (shown with pytest -s or -rP)."""
    print(f"\n  {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
