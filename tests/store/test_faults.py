"""The MongoDB store when the database misbehaves (FerretDB stopped,
restarted, frozen with SIGSTOP), the worker queue limit, and single flight
counted from the database's own log. Every wait is bounded; FerretDB is
always resumed and stopped at teardown (after todo-api)."""

import shutil
import subprocess
import threading
import time

import grpc
import pytest
from bson import ObjectId

import todo_harness as h
from store_helpers import health, mongo_env, timed, unique_db_name, wait_health

CODE = grpc.StatusCode
SLACK = 0.6 * h.SLOW  # past a deadline, for the answer to arrive
RECOVER = 15 * h.SLOW  # database back -> SERVING


def stubs(pb, srv):
    ch = srv.channel()
    return ch, pb[1].TodosStub(ch)


def serving(srv, timeout=RECOVER):
    st = wait_health(srv, "SERVING", timeout)
    assert set(st.values()) == {"SERVING"}, f"not SERVING after {timeout}s: {st}\n{srv.describe()}"


def not_serving(srv, timeout):
    st = wait_health(srv, "NOT_SERVING", timeout)
    assert set(st.values()) == {"NOT_SERVING"}, (
        f"not NOT_SERVING after {timeout}s: {st}\n{srv.describe()}")


def is_db_unavailable(err):
    return (isinstance(err, grpc.RpcError) and err.code() == CODE.UNAVAILABLE
            and "database" in (err.details() or "").lower())


def describe(err):
    if isinstance(err, grpc.RpcError):
        return f"{err.code().name}: {err.details()!r}"
    return repr(err)


def wait_call_ok(fn, timeout):
    """Repeats a call (2 s deadlines) until it succeeds; returns the last outcome."""
    deadline = time.monotonic() + timeout
    res = None
    while time.monotonic() < deadline:
        res, _ = timed(fn, 2.0)
        if not isinstance(res, grpc.RpcError):
            return res
        time.sleep(0.2)
    raise AssertionError(f"no successful call within {timeout}s; last: {describe(res)}")


# ---- start-up with the database down ------------------------------------------------

def test_start_with_database_down(ferret_factory, pb, start_server):
    ferret = ferret_factory(start=False)  # its port: nothing listens yet
    name = unique_db_name()
    srv = start_server(env={**mongo_env(ferret, name), "DB_TIMEOUT": "2s"})
    ch, stub = stubs(pb, srv)
    try:
        # Up and answering, but not ready, for as long as the database is away.
        t_end = time.monotonic() + 3.0
        while time.monotonic() < t_end:
            assert srv.alive(), f"todo-api exited with the database down\n{srv.describe()}"
            st = {s: health(srv, s) for s in ("", "grpc.Todos")}
            assert set(st.values()) == {"NOT_SERVING"}, st
            time.sleep(0.3)
        # Past the first failed ping (DB_TIMEOUT 2s): calls fail at once, saying why.
        for call in (lambda t: stub.GetTodos(pb[0].Request(), timeout=t),
                     lambda t: stub.ListTodos(pb[0].ListTodosRequest(), timeout=t),
                     lambda t: stub.CreateTodo(pb[0].CreateTodoRequest(title="x"), timeout=t)):
            err, took = timed(call, 3.0)
            assert is_db_unavailable(err), describe(err)
            assert took < 1.0 * h.SLOW, f"UNAVAILABLE took {took:.2f}s: not failing fast"
        # The database arrives: SERVING within a few seconds, no restart.
        ferret.start()
        serving(srv, 10 * h.SLOW)
        t = stub.CreateTodo(pb[0].CreateTodoRequest(title="after start", tag="s", priority=1),
                            timeout=h.CALL_TIMEOUT)
        assert stub.GetTodo(pb[0].GetTodoRequest(id=t.id), timeout=h.CALL_TIMEOUT).title == \
            "after start"
        todos = stub.GetTodos(pb[0].Request(), timeout=h.CALL_TIMEOUT).todos
        assert [x.id for x in todos] == [t.id]
    finally:
        ch.close()


# ---- the database goes away under load, and comes back -------------------------------

class Load(threading.Thread):
    """Calls every method in turn with 2 s deadlines until stopped (bounded)."""

    DEADLINE = 2.0

    def __init__(self, pb, stub, known_id, max_seconds=120):
        super().__init__(daemon=True)
        self.pb, self.stub, self.known_id = pb, stub, known_id
        self.stop_event = threading.Event()
        self.max_seconds = max_seconds
        self.records = []  # (start time, op, code, details, elapsed)
        self.lock = threading.Lock()

    def ops(self):
        pb = self.pb
        return [
            ("GetTodos", lambda: self.stub.GetTodos(pb.Request(), timeout=self.DEADLINE)),
            ("ListTodos", lambda: self.stub.ListTodos(pb.ListTodosRequest(page_size=5),
                                                      timeout=self.DEADLINE)),
            ("GetTodo", lambda: self.stub.GetTodo(pb.GetTodoRequest(id=self.known_id),
                                                  timeout=self.DEADLINE)),
            ("CreateTodo", lambda: self.stub.CreateTodo(pb.CreateTodoRequest(title="load"),
                                                        timeout=self.DEADLINE)),
        ]

    def run(self):
        ops = self.ops()
        t_end = time.monotonic() + self.max_seconds
        i = 0
        while not self.stop_event.is_set() and time.monotonic() < t_end and i < 100000:
            name, fn = ops[i % len(ops)]
            i += 1
            t0 = time.monotonic()
            try:
                fn()
                code, details = CODE.OK, ""
            except grpc.RpcError as e:
                code, details = e.code(), e.details()
            with self.lock:
                self.records.append((t0, name, code, details, time.monotonic() - t0))
            time.sleep(0.02)

    def since(self, t):
        with self.lock:
            return [r for r in self.records if r[0] >= t]

    def finish(self):
        self.stop_event.set()
        self.join(timeout=self.DEADLINE + 10)
        assert not self.is_alive(), "the load thread did not stop"


def summary(records):
    out = {}
    for r in records:
        out[(r[1], r[2].name)] = out.get((r[1], r[2].name), 0) + 1
    return out


@pytest.mark.timeout(180 * h.SLOW)
def test_database_stops_under_load_and_returns(ferret_factory, pb, start_server):
    ferret = ferret_factory()
    name = unique_db_name()
    srv = start_server(env=mongo_env(ferret, name))
    serving(srv)
    ch, stub = stubs(pb, srv)
    kept = stub.CreateTodo(pb[0].CreateTodoRequest(title="survivor", tag="k", priority=3),
                           timeout=h.CALL_TIMEOUT)
    load = Load(pb[0], stub, kept.id)
    load.start()
    try:
        time.sleep(1.5)
        t_stop = time.monotonic()
        before = load.since(0)
        assert before and all(r[2] == CODE.OK for r in before), summary(before)

        ferret.stop()  # SIGTERM: the database goes away
        not_serving(srv, 15 * h.SLOW)
        t_down = time.monotonic()
        time.sleep(2.0)  # load continues against the absent database
        # Known down: a call fails at once with UNAVAILABLE naming the database.
        err, took = timed(lambda: stub.GetTodos(pb[0].Request(), timeout=2.0))
        assert is_db_unavailable(err), describe(err)
        assert took < 0.5 * h.SLOW, f"UNAVAILABLE after {took:.2f}s: not failing fast"
        down = [r for r in load.since(t_down)]
        assert down and all(r[2] == CODE.UNAVAILABLE for r in down), summary(down)

        ferret.start()  # same port, same data directory
        serving(srv)
        wait_call_ok(lambda t: stub.GetTodos(pb[0].Request(), timeout=t), 10 * h.SLOW)
        t_back = time.monotonic()
        time.sleep(2.0)
        after = load.since(t_back)
    finally:
        load.finish()
        ch.close()

    assert srv.alive(), "todo-api exited"
    bad = [r for r in load.records if r[2] not in (CODE.OK, CODE.UNAVAILABLE,
                                                    CODE.DEADLINE_EXCEEDED)]
    assert not bad, f"unexpected codes: {bad[:5]}"
    slow = [r for r in load.records if r[4] > Load.DEADLINE + SLACK]
    assert not slow, f"calls past their 2 s deadline: {slow[:5]}"
    outage = [r for r in load.records if r[0] >= t_stop and r[2] != CODE.OK]
    assert outage, "no call failed while the database was away"
    assert any("database" in r[3].lower() for r in outage if r[2] == CODE.UNAVAILABLE), outage[:5]
    assert after and all(r[2] == CODE.OK for r in after), f"after recovery: {summary(after)}"
    # Nothing written before the outage was lost, and todo-api is the same process.
    with srv.channel() as ch2:
        got = pb[1].TodosStub(ch2).GetTodo(pb[0].GetTodoRequest(id=kept.id), timeout=h.CALL_TIMEOUT)
        assert got.title == "survivor"
    client = ferret.client()
    try:
        assert client[name]["todos"].find_one({"_id": ObjectId(kept.id)})["title"] == "survivor"
    finally:
        client.close()


# ---- a frozen database and deadlines -------------------------------------------------------

@pytest.fixture(scope="session")
def nghttp():
    path = shutil.which("nghttp")
    assert path, "nghttp not found (Debian package nghttp2-client)"
    return path


@pytest.mark.timeout(120 * h.SLOW)
def test_deadline_while_database_frozen(ferret_factory, pb, start_server, nghttp, tmp_path):
    ferret = ferret_factory()
    srv = start_server(env=mongo_env(ferret, unique_db_name()))
    serving(srv)
    ch, stub = stubs(pb, srv)
    P = pb[0]
    try:
        t = stub.CreateTodo(P.CreateTodoRequest(title="frozen", tag="f"), timeout=h.CALL_TIMEOUT)
        calls = {
            "GetTodos": (stub.GetTodos, P.Request()),
            "ListTodos": (stub.ListTodos, P.ListTodosRequest(page_size=3)),
            "GetTodo": (stub.GetTodo, P.GetTodoRequest(id=t.id)),
            "CreateTodo": (stub.CreateTodo, P.CreateTodoRequest(title="during freeze")),
            "UpdateTodo": (stub.UpdateTodo, P.UpdateTodoRequest(
                todo=P.Response.Todo(id=t.id, title="x", tag="y", priority=1))),
            "DeleteTodo": (stub.DeleteTodo, P.DeleteTodoRequest(id=t.id)),
        }
        ferret.pause()  # SIGSTOP: queries hang
        try:
            t0 = time.monotonic()
            futs = {n: fn.future(req, timeout=1.0) for n, (fn, req) in calls.items()}
            for f in futs.values():
                f.exception(timeout=1.0 + SLACK + 5)
            took = time.monotonic() - t0
            codes = {n: f.code() for n, f in futs.items()}
            assert codes == {n: CODE.DEADLINE_EXCEEDED for n in calls}, codes
            assert took < 1.0 + SLACK, f"1 s deadlines answered after {took:.2f}s"

            # The server itself ends the call at its deadline (a raw HTTP/2
            # client does not enforce the deadline on its own).
            body = tmp_path / "req.bin"
            body.write_bytes(b"\x00\x00\x00\x00\x00")  # empty grpc.Request
            t0 = time.monotonic()
            out = subprocess.run([nghttp, "-v", "-d", str(body), "-H", ":method: POST",
                                  "-H", "content-type: application/grpc", "-H", "te: trailers",
                                  "-H", "grpc-timeout: 1000m",
                                  f"http://127.0.0.1:{srv.port}/grpc.Todos/GetTodos"],
                                 capture_output=True, text=True, timeout=20)
            took = time.monotonic() - t0
            assert "grpc-status: 4" in out.stdout, out.stdout[-2000:]
            assert took < 1.0 + SLACK, f"server-side deadline answered after {took:.2f}s"
            assert srv.alive()
        finally:
            ferret.resume()
        # Thawed: everything works again without a restart.
        wait_call_ok(lambda tt: stub.GetTodos(P.Request(), timeout=tt), RECOVER)
        serving(srv)
        assert stub.ListTodos(P.ListTodosRequest(), timeout=h.CALL_TIMEOUT) is not None
    finally:
        ch.close()


# ---- the worker queue limit -------------------------------------------------------------

@pytest.mark.timeout(120 * h.SLOW)
def test_worker_queue_full_is_resource_exhausted(ferret_factory, pb, start_server):
    ferret = ferret_factory()
    srv = start_server(env={**mongo_env(ferret, unique_db_name()), "WORKER_QUEUE_MAX": "1",
                            "SINGLE_FLIGHT": "false", "DB_TIMEOUT": "20s"})
    serving(srv)
    ch, stub = stubs(pb, srv)
    try:
        stub.GetTodos(pb[0].Request(), timeout=h.CALL_TIMEOUT)
        ferret.pause()
        try:
            done_at = {}
            lock = threading.Lock()
            t0 = time.monotonic()
            futs = []
            for i in range(10):
                f = stub.GetTodos.future(pb[0].Request(token=str(i)), timeout=15.0)

                def cb(fut, i=i):
                    with lock:
                        done_at[i] = time.monotonic() - t0

                f.add_done_callback(cb)
                futs.append(f)
            # The excess is refused at once, not queued.
            assert h.wait_until(lambda: sum(1 for f in futs if f.done()) >= 8, 2.0 * h.SLOW), (
                f"only {sum(1 for f in futs if f.done())} of 10 calls answered while one "
                f"job can be queued")
            refused = [i for i, f in enumerate(futs)
                       if f.done() and f.code() == CODE.RESOURCE_EXHAUSTED]
            assert len(refused) >= 8, {i: f.code() for i, f in enumerate(futs) if f.done()}
            with lock:
                assert all(done_at[i] < 1.0 * h.SLOW for i in refused), done_at
        finally:
            ferret.resume()
        for f in futs:
            f.exception(timeout=20)
        codes = [f.code() for f in futs]
        assert set(codes) <= {CODE.OK, CODE.RESOURCE_EXHAUSTED}, codes
        # And the pool is usable again.
        wait_call_ok(lambda t: stub.GetTodos(pb[0].Request(), timeout=t), RECOVER)
    finally:
        ch.close()


# ---- single flight, counted by the database ----------------------------------------------

def count_finds(ferret, name):
    return ferret.count_commands(name, "todos", ("find", "aggregate"))


def settle(ferret, name, timeout=3.0):
    """The find count once FerretDB's log has stopped growing."""
    last, stable_since = count_finds(ferret, name), time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.1)
        n = count_finds(ferret, name)
        if n != last:
            last, stable_since = n, time.monotonic()
        elif time.monotonic() - stable_since > 0.5:
            break
    return last


def concurrent_while_frozen(ferret, calls, hold=1.0):
    """Starts `calls` (callables returning grpc futures) while FerretDB is
    frozen, keeps it frozen `hold` seconds so that every call has reached the
    server, thaws it, and returns the results."""
    ferret.pause()
    try:
        futs = [c() for c in calls]
        time.sleep(hold)
    finally:
        ferret.resume()
    for f in futs:
        f.exception(timeout=30)
    return [f.result() for f in futs]


@pytest.mark.timeout(120 * h.SLOW)
@pytest.mark.parametrize("single_flight", ["true", "false"])
def test_single_flight_counted_by_database(ferret_factory, pb, start_server, single_flight):
    ferret = ferret_factory(log_level="debug")
    name = unique_db_name()
    srv = start_server(env={**mongo_env(ferret, name), "SINGLE_FLIGHT": single_flight,
                            "DB_TIMEOUT": "30s"})
    serving(srv)
    ch, stub = stubs(pb, srv)
    P = pb[0]
    N = 8
    try:
        for i in range(6):
            stub.CreateTodo(P.CreateTodoRequest(title=f"sf{i}", tag="ab"[i % 2], priority=i),
                            timeout=h.CALL_TIMEOUT)
        # Calibrate the counter on this log: one pymongo find, then one GetTodos.
        n0 = settle(ferret, name)
        client = ferret.client()
        try:
            assert client[name]["todos"].find_one({"title": "sf0"})["tag"] == "a"
        finally:
            client.close()
        n1 = settle(ferret, name)
        assert n1 == n0 + 1, f"the log counter saw {n1 - n0} finds for one pymongo find"
        stub.GetTodos(P.Request(), timeout=h.CALL_TIMEOUT)
        n2 = settle(ferret, name)
        assert n2 == n1 + 1, f"one GetTodos made {n2 - n1} find/aggregate commands"
        # Sequential identical calls are never shared (no caching).
        for _ in range(3):
            stub.GetTodos(P.Request(), timeout=h.CALL_TIMEOUT)
        n3 = settle(ferret, name)
        assert n3 == n2 + 3, f"3 sequential GetTodos made {n3 - n2} queries"

        shared = single_flight == "true"
        # N identical concurrent GetTodos.
        res = concurrent_while_frozen(ferret, [
            lambda: stub.GetTodos.future(P.Request(), timeout=30) for _ in range(N)])
        assert all(len(r.todos) == 6 for r in res)
        assert len({r.SerializeToString() for r in res}) == 1
        n4 = settle(ferret, name)
        assert n4 - n3 == (1 if shared else N), (
            f"SINGLE_FLIGHT={single_flight}: {N} concurrent GetTodos made {n4 - n3} queries")

        # N identical concurrent ListTodos pages (same page size, tag, order, token).
        first = stub.ListTodos(P.ListTodosRequest(page_size=2, tag="a", order_by="priority desc"),
                               timeout=h.CALL_TIMEOUT)
        n5 = settle(ferret, name)
        req = P.ListTodosRequest(page_size=2, tag="a", order_by="priority desc",
                                 page_token=first.next_page_token)
        res = concurrent_while_frozen(ferret, [
            lambda: stub.ListTodos.future(req, timeout=30) for _ in range(N)])
        assert all([t.title for t in r.todos] == ["sf0"] for r in res), res[0]
        n6 = settle(ferret, name)
        assert n6 - n5 == (1 if shared else N), (
            f"SINGLE_FLIGHT={single_flight}: {N} identical ListTodos made {n6 - n5} queries")

        # Different pages are different queries, even when shared.
        reqs = [P.ListTodosRequest(page_size=2, tag=tag, order_by=o)
                for tag in ("a", "b") for o in ("", "priority")]
        res = concurrent_while_frozen(ferret, [
            (lambda r=r: stub.ListTodos.future(r, timeout=30)) for r in reqs])
        for r, got in zip(reqs, res):
            assert all(t.tag == r.tag for t in got.todos) and len(got.todos) == 2
        n7 = settle(ferret, name)
        assert n7 - n6 == len(reqs), f"{len(reqs)} different pages made {n7 - n6} queries"
    finally:
        ch.close()
    assert health(srv) == "SERVING"


# ---- DB_TIMEOUT and DB_HEALTH_INTERVAL ----------------------------------------------------

@pytest.mark.timeout(120 * h.SLOW)
def test_db_timeout_bounds_a_call_without_a_short_deadline(ferret_factory, pb, start_server):
    """A database that accepts but never answers (frozen): a call with a
    long deadline still ends within DB_TIMEOUT, with UNAVAILABLE; health
    flips; thawed, everything recovers."""
    ferret = ferret_factory()
    srv = start_server(env={**mongo_env(ferret, unique_db_name()), "DB_TIMEOUT": "2s"})
    serving(srv)
    ch, stub = stubs(pb, srv)
    try:
        stub.GetTodos(pb[0].Request(), timeout=h.CALL_TIMEOUT)
        ferret.pause()
        try:
            err, took = timed(lambda: stub.GetTodos(pb[0].Request(), timeout=30))
            assert isinstance(err, grpc.RpcError), "answered while the database was frozen"
            assert took < 2.0 + 1.5 * h.SLOW, f"waited {took:.1f}s with DB_TIMEOUT=2s"
            assert err.code() == CODE.UNAVAILABLE, describe(err)
            not_serving(srv, 2.0 + 5 * h.SLOW)
            err, took = timed(lambda: stub.ListTodos(pb[0].ListTodosRequest(), timeout=30))
            assert is_db_unavailable(err) and took < 0.5 * h.SLOW, (describe(err), took)
        finally:
            ferret.resume()
        serving(srv)
        wait_call_ok(lambda t: stub.GetTodos(pb[0].Request(), timeout=t), RECOVER)
    finally:
        ch.close()


def count_pings(ferret):
    return sum(1 for b in ferret.requests() if '"ping": 1' in b)


@pytest.mark.timeout(60 * h.SLOW)
@pytest.mark.parametrize("interval,lo,hi", [("250ms", 6, 20), ("2s", 1, 3)])
def test_health_interval_counted_by_database(ferret_factory, start_server, interval, lo, hi):
    """DB_HEALTH_INTERVAL sets how often the database is pinged (pings
    counted in FerretDB's log over 3 s; wide bounds, this is no benchmark)."""
    ferret = ferret_factory(log_level="debug")
    srv = start_server(env={**mongo_env(ferret, unique_db_name()), "DB_HEALTH_INTERVAL": interval})
    serving(srv)
    n0 = count_pings(ferret)
    time.sleep(3.0)
    n = count_pings(ferret) - n0
    assert lo <= n <= hi, f"DB_HEALTH_INTERVAL={interval}: {n} pings in 3 s (want {lo}..{hi})"
