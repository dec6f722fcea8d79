"""Calls that go away while their handler waits on the worker pool
(STORE_DELAY_MS). The server fixture's teardown checks the exit code and
stderr for sanitizer reports: that is the "no leak, no crash" part."""

import time

import grpc
import pytest

import todo_harness as h

DELAY_MS = 500


@pytest.fixture
def slow_stub(pb, start_server):
    # Every call its own job on the pool: with single flight a call arriving
    # late would share an earlier call's job and finish early.
    srv = start_server(env={"STORE_DELAY_MS": DELAY_MS, "SINGLE_FLIGHT": "false"})
    ch = srv.channel()
    yield srv, pb[1].TodosStub(ch)
    ch.close()


def normal_call_ok(pb, stub, timeout):
    res = stub.GetTodos(pb[0].Request(), timeout=timeout)
    assert len(res.todos) == 1 and res.todos[0].title == "Add my todos"


def test_delayed_call_succeeds(pb, slow_stub):
    _, stub = slow_stub
    t0 = time.monotonic()
    normal_call_ok(pb, stub, h.CALL_TIMEOUT)
    assert time.monotonic() - t0 >= DELAY_MS / 1000 * 0.9


def test_cancel_while_on_worker_pool(pb, slow_stub):
    srv, stub = slow_stub
    cancelled = 0
    # 50 calls in batches of 10, cancelled 50..150 ms in: while their jobs
    # are queued on or running in the pool.
    for batch in range(5):
        futures = [stub.GetTodos.future(pb[0].Request(token=f"{batch}-{i}"), timeout=60 * h.SLOW)
                   for i in range(10)]
        time.sleep(0.05 + 0.025 * batch)
        for f in futures:
            if f.cancel():
                cancelled += 1
        for f in futures:
            assert f.done()
            assert f.cancelled() or f.code() == grpc.StatusCode.OK
    assert cancelled >= 40, f"only {cancelled} of 50 calls could be cancelled"
    assert srv.alive()
    # The pool still owes ~50 * 500 ms of sleeps (libuv's 4 threads): wait it out.
    normal_call_ok(pb, stub, timeout=30 * h.SLOW)
    assert srv.alive()


def test_deadline_shorter_than_store_delay(pb, slow_stub):
    srv, stub = slow_stub
    for _ in range(5):
        with pytest.raises(grpc.RpcError) as ei:
            stub.GetTodos(pb[0].Request(), timeout=0.15)
        assert ei.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, ei.value
    assert srv.alive()
    normal_call_ok(pb, stub, timeout=30 * h.SLOW)
    assert srv.alive()


def test_sigterm_while_calls_wait_on_pool(pb, slow_stub):
    """SIGTERM with calls in flight on the pool: they finish within the grace
    period, then the server exits 0 (checked at teardown)."""
    srv, stub = slow_stub
    futures = [stub.GetTodos.future(pb[0].Request(), timeout=30 * h.SLOW) for _ in range(4)]
    time.sleep(0.1)
    rc = srv.stop()
    assert rc == 0, srv.describe()
    for f in futures:
        assert f.code() == grpc.StatusCode.OK, (f.code(), f.details(), srv.describe())


@pytest.mark.parametrize("how", ["cancel", "close-channel", "grace-0"])
def test_sigterm_with_jobs_still_on_pool(pb, start_server, how):
    """SIGTERM while the pool still runs jobs of calls that are gone
    (cancelled, connection closed) or that the shutdown abandons (no grace):
    the late job completions must not touch freed calls; exit 0 (teardown)."""
    env = {"STORE_DELAY_MS": DELAY_MS}
    if how == "grace-0":
        env["SHUTDOWN_GRACE"] = "0s"
    srv = start_server(env=env)
    ch = srv.channel()
    stub = pb[1].TodosStub(ch)
    futures = [stub.GetTodos.future(pb[0].Request(), timeout=60 * h.SLOW) for _ in range(20)]
    time.sleep(0.1)
    if how == "cancel":
        assert all(f.cancel() for f in futures)
    elif how == "close-channel":
        ch.close()
    rc = srv.stop()
    assert rc == 0, srv.describe()
    if how == "grace-0":
        for f in futures:
            assert f.code() != grpc.StatusCode.OK or f.result().todos, f
    ch.close()
