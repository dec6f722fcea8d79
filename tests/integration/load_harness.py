"""Concurrent callers for the fault tests (tests/store/test_nothing_lost.py,
tests/integration/test_restart.py): threads that keep calling until told to
stop, each on a connection of its own, recording every call's outcome with
its start and end times. Every loop is bounded (seconds and calls)."""

import signal
import threading
import time
from dataclasses import dataclass, field

import grpc

import todo_harness as h

CODE = grpc.StatusCode
# grpcio shares one TCP connection between channels with equal arguments
# unless each channel has its own subchannel pool.
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]
# Reconnect as a real client tuned for a quick restart would: 100..500 ms.
FAST_RECONNECT = [("grpc.initial_reconnect_backoff_ms", 100),
                  ("grpc.min_reconnect_backoff_ms", 100),
                  ("grpc.max_reconnect_backoff_ms", 500)]


def channel(target, options=()):
    return grpc.insecure_channel(target, options=h.CHANNEL_OPTIONS + OWN_CONNECTION + FAST_RECONNECT
                                 + list(options))


@dataclass
class Call:
    caller: int
    op: str
    key: object  # what the call was about (a todo id), or None
    value: object  # what it wrote, or None
    deadline: float
    t0: float
    t1: float = 0.0
    code: grpc.StatusCode = None
    details: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def ok(self):
        return self.code == CODE.OK

    def __str__(self):
        return (f"#{self.caller} {self.op} {self.key} -> {self.code.name if self.code else None} "
                f"{self.details!r} at {self.t0:.3f}..{self.t1:.3f}")


class Caller(threading.Thread):
    """Calls `next_call()` in a loop until stopped. Subclasses return
    (op, key, value, deadline, fn) from next_call(), where fn(timeout) makes
    the call and returns its response; done(call, response) sees each
    outcome (response None on an error)."""

    def __init__(self, idx, target, pause=0.0, max_seconds=120, max_calls=100000, options=()):
        super().__init__(daemon=True, name=f"caller-{idx}")
        self.idx = idx
        self.channel = channel(target, options)
        self.pause = pause
        self.max_seconds = max_seconds
        self.max_calls = max_calls
        self.stop_event = threading.Event()
        self.calls = []
        self.lock = threading.Lock()
        self.crash = None

    def next_call(self):
        raise NotImplementedError

    def done(self, call, response):
        pass

    def run(self):
        end = time.monotonic() + self.max_seconds
        try:
            while (not self.stop_event.is_set() and time.monotonic() < end
                   and len(self.calls) < self.max_calls):
                op, key, value, deadline, fn = self.next_call()
                c = Call(self.idx, op, key, value, deadline, time.monotonic())
                try:
                    res = fn(deadline)
                    c.code = CODE.OK
                except grpc.RpcError as e:
                    res = None
                    c.code, c.details = e.code(), e.details() or ""
                c.t1 = time.monotonic()
                with self.lock:
                    self.calls.append(c)
                self.done(c, res)
                if self.pause:
                    time.sleep(self.pause)
        except Exception as e:  # reported by finish(), not lost in a thread
            self.crash = e

    def snapshot(self):
        with self.lock:
            return list(self.calls)

    def stop(self):
        self.stop_event.set()


def start_all(callers):
    for c in callers:
        c.start()
    return callers


def finish_all(callers, timeout=30.0):
    """Stops every caller, waits (bounded), closes their channels; returns all calls."""
    for c in callers:
        c.stop()
    end = time.monotonic() + timeout
    for c in callers:
        c.join(timeout=max(0.1, end - time.monotonic()))
    stuck = [c.name for c in callers if c.is_alive()]
    for c in callers:
        c.channel.close()
    assert not stuck, f"callers did not stop within {timeout}s: {stuck}"
    crashed = [(c.name, c.crash) for c in callers if c.crash is not None]
    assert not crashed, f"callers crashed: {crashed}"
    return sorted((x for c in callers for x in c.snapshot()), key=lambda x: x.t0)


def all_calls(callers):
    return [x for c in callers for x in c.snapshot()]


def wait_ok_since(callers, t, timeout):
    """Waits (bounded) until every caller has a successful call that started at or after t."""
    return h.wait_until(lambda: all(any(x.ok and x.t0 >= t for x in c.snapshot()) for c in callers),
                        timeout, interval=0.05)


def load_then_sigterm(callers, srv, seconds=1.0):
    """Waits (bounded) until every caller has succeeded once, lets the load
    run `seconds`, SIGTERMs srv and waits for its exit (bounded).
    Returns (time of the SIGTERM, exit code, time of the exit)."""
    assert wait_ok_since(callers, 0, 5 * h.SLOW), by_code(all_calls(callers))
    time.sleep(seconds)
    t_term = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    rc = srv.proc.wait(timeout=h.STOP_TIMEOUT)
    return t_term, rc, time.monotonic()


def by_code(calls):
    """{"op CODE": n}, for messages."""
    out = {}
    for c in calls:
        k = f"{c.op} {c.code.name}"
        out[k] = out.get(k, 0) + 1
    return dict(sorted(out.items()))


def late(calls, slack):
    """Calls that took longer than their deadline plus slack: a failure that
    was not reported to its client in time."""
    return [c for c in calls if c.t1 - c.t0 > c.deadline + slack]


def access_codes(stderr_text, method=None):
    """{code: n} of the server's access log lines (text format), for one
    method (e.g. "/grpc.Todos/CreateTodo") or all."""
    out = {}
    for line in stderr_text.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[2] == "access" and (method is None or parts[3] == method):
            out[parts[4]] = out.get(parts[4], 0) + 1
    return out
