"""Nothing lost (issue #8): writes under faults, every outcome checked
against what the database holds afterwards.

- The database killed (SIGKILL) and restarted under a write-heavy load:
  every write acknowledged OK is in the database (read through pymongo and
  through the service), every failure reached its client in time with
  UNAVAILABLE or DEADLINE_EXCEEDED, and the service recovers by itself.
- todo-api SIGTERMed under a write load on MongoDB: no accepted call fails.
  A call either completes OK (and its write is stored) or is refused with
  UNAVAILABLE before the server saw it (its write is not stored, and the
  server's access log has no line for it).

Writers keep their own todos (a todo is only ever touched by the writer that
created it, one call at a time), so each todo's history is a sequence and
the set of states it may be in can be computed from the outcomes: an OK
write fixes the state, a failed one may or may not have happened.
"""

import os
import random
import time

import pytest
from bson import ObjectId

import load_harness as lh
import todo_harness as h
from store_helpers import mongo_env, unique_db_name, wait_health

CODE = lh.CODE
DEADLINE = 2.0
SLACK = 0.6 * h.SLOW  # past a deadline, for the answer to arrive
RECOVER = 15 * h.SLOW
WRITERS = 3 if h.SANITIZER else 6
REPORT = os.environ.get("NOTHING_LOST_REPORT")  # print the figures when set


class Writer(lh.Caller):
    """CreateTodo (half with a client-chosen id), UpdateTodo (every field)
    and DeleteTodo of its own todos."""

    def __init__(self, idx, srv, pb, seed, client_ids=0.5, mix=(0.35, 0.15), **kw):
        super().__init__(idx, srv.target, **kw)
        self.P = pb[0]
        self.stub = pb[1].TodosStub(self.channel)
        self.rng = random.Random(seed)
        self.own = []
        self.n = 0
        self.client_ids = client_ids
        self.p_update, self.p_delete = mix

    def next_call(self):
        P, s, r = self.P, self.stub, self.rng.random()
        self.n += 1
        if self.own and r < self.p_update:
            tid = self.rng.choice(self.own)
            value = (f"u{self.idx}-{self.n}", f"t{self.n % 3}", self.n % 100)
            req = P.UpdateTodoRequest(todo=P.Response.Todo(id=tid, title=value[0], tag=value[1],
                                                           priority=value[2]))
            return "update", tid, value, DEADLINE, lambda t: s.UpdateTodo(req, timeout=t)
        if self.own and r < self.p_update + self.p_delete:
            # Any outcome: the todo is not touched again.
            tid = self.own.pop(self.rng.randrange(len(self.own)))
            return "delete", tid, None, DEADLINE, \
                lambda t: s.DeleteTodo(P.DeleteTodoRequest(id=tid), timeout=t)
        value = (f"c{self.idx}-{self.n}", "w", self.n % 10)
        tid = str(ObjectId()) if self.rng.random() < self.client_ids else ""
        req = P.CreateTodoRequest(title=value[0], tag=value[1], priority=value[2], id=tid)
        return "create", tid or None, value, DEADLINE, lambda t: s.CreateTodo(req, timeout=t)

    def done(self, call, res):
        if call.op == "create" and call.ok:
            if call.key is None:
                call.key = res.id
            assert res.id == call.key and (res.title, res.tag, res.priority) == call.value, res
            self.own.append(res.id)


def stored(api_srv, pb, ferret, name):
    """({id: (title, tag, priority)} read through pymongo, the same through
    GetTodos, and GetTodo of every id)."""
    db = stored_by_pymongo(ferret, name)
    with api_srv.channel() as ch:
        stub = pb[1].TodosStub(ch)
        svc = {t.id: (t.title, t.tag, t.priority)
               for t in stub.GetTodos(pb[0].Request(), timeout=h.CALL_TIMEOUT).todos}
        one = {}
        for tid in db:
            t = stub.GetTodo(pb[0].GetTodoRequest(id=tid), timeout=h.CALL_TIMEOUT)
            one[t.id] = (t.title, t.tag, t.priority)
    return db, svc, one


def possible_states(calls, uncertain=True):
    """The states (None: absent, else (title, tag, priority)) one todo may be
    in after its calls, in order. A failed write may have happened
    (uncertain=True) or certainly did not (uncertain=False)."""
    poss = {None}
    for c in calls:
        new = {"create": c.value, "update": c.value, "delete": None}[c.op]
        if c.op == "update" and c.ok:
            assert poss - {None}, f"update OK on a todo that cannot exist: {c}"
        if c.ok:
            poss = {new}
        elif uncertain and (c.op != "create" or None in poss):
            poss = poss | {new}
    return poss


def check_against(calls, db, uncertain):
    """Problems: acknowledged writes missing (lost), states no outcome
    explains, and documents no call can account for."""
    by_id, unnamed = {}, {}
    for c in calls:
        if c.key is not None:
            by_id.setdefault(c.key, []).append(c)
        else:  # a failed create with a server-assigned id: known by its title
            unnamed[c.value[0]] = c
    problems, lost = [], []
    for tid, cs in by_id.items():
        got, story = db.get(tid), "; calls: " + "; ".join(map(str, cs))
        poss = possible_states(cs, True)
        if got not in poss:  # not even failed writes explain it
            (lost if any(c.ok for c in cs) else problems).append(
                f"{tid}: stored {got}, possible {poss}{story}")
        elif not uncertain and got not in possible_states(cs, False):
            problems.append(f"{tid}: stored {got}, left by a call that failed{story}")
    extra = {tid: v for tid, v in db.items() if tid not in by_id}
    titles = [v[0] for v in extra.values()]
    for tid, v in extra.items():
        if not uncertain or v[0] not in unnamed or titles.count(v[0]) > 1:
            problems.append(f"{tid}: stored {v}, written by no call that may have done it")
    return lost, problems


def assert_health(srv, want, timeout):
    st = wait_health(srv, want, timeout)
    assert set(st.values()) == {want}, f"not {want} after {timeout}s: {st}\n{srv.describe()}"


def figures(name, calls, **more):
    out = {"scenario": name, "calls": len(calls), "by_code": lh.by_code(calls)}
    out.update(more)
    if REPORT:
        print(f"\nFIGURES {out}")
    return out


# ---- the database killed and restarted under a write-heavy load ------------------

@pytest.mark.timeout(120 * h.SLOW)
def test_database_killed_and_restarted_under_writes(ferret_factory, pb, start_server):
    ferret = ferret_factory()
    name = unique_db_name()
    srv = start_server(env=mongo_env(ferret, name, DB_TIMEOUT="2s", DB_HEALTH_INTERVAL="250ms"))
    assert_health(srv, "SERVING", RECOVER)
    writers = lh.start_all([Writer(i, srv, pb, seed=i, pause=0.002) for i in range(WRITERS)])
    try:
        assert lh.wait_ok_since(writers, 0, 5 * h.SLOW), lh.by_code(lh.all_calls(writers))
        time.sleep(1.0)
        t_kill = time.monotonic()
        ferret.kill()  # mid-request, no shutdown
        assert_health(srv, "NOT_SERVING", 10 * h.SLOW)
        time.sleep(1.5)  # writes keep coming at a dead database
        t_restart = time.monotonic()
        ferret.start()  # same port, same SQLite files
        assert_health(srv, "SERVING", RECOVER)
        t_serving = time.monotonic()
        assert lh.wait_ok_since(writers, t_serving, 10 * h.SLOW), \
            lh.by_code([c for c in lh.all_calls(writers) if c.t0 >= t_serving])
        t_all_ok = time.monotonic()
        time.sleep(1.5 * h.SLOW)
    finally:
        calls = lh.finish_all(writers)
    assert srv.alive(), f"todo-api exited\n{srv.describe()}"

    before = [c for c in calls if c.t1 < t_kill]
    failed = [c for c in calls if not c.ok]
    after = [c for c in calls if c.t0 >= t_all_ok]  # every writer has succeeded again
    assert before and all(c.ok for c in before), lh.by_code(before)
    assert failed, "no write failed while the database was dead: the fault was not seen"
    # Every failure reached its client, in time, with a status saying why.
    bad = [c for c in failed if c.code not in (CODE.UNAVAILABLE, CODE.DEADLINE_EXCEEDED)]
    assert not bad, "unexpected codes:\n" + "\n".join(map(str, bad[:10]))
    assert not [c for c in failed if c.t1 < t_kill], "failures before the database died"
    slow = lh.late(calls, SLACK)
    assert not slow, "calls answered after their deadline:\n" + "\n".join(map(str, slow[:10]))
    # Recovered without a restart of todo-api.
    assert after and all(c.ok for c in after), f"after recovery: {lh.by_code(after)}"

    db, svc, one = stored(srv, pb, ferret, name)
    assert svc == db, "GetTodos and the database disagree"
    assert one == db, "GetTodo and the database disagree"
    lost, problems = check_against(calls, db, uncertain=True)
    assert not lost, f"{len(lost)} acknowledged writes lost:\n" + "\n".join(lost[:10])
    assert not problems, "\n".join(problems[:10])
    acked = [c for c in calls if c.ok]
    gap_ok = [c for c in calls if c.ok and c.t0 >= t_kill]
    figures("database killed", calls, attempted=len(calls), acknowledged=len(acked),
            documents=len(db), failed=len(failed),
            dead_s=round(t_restart - t_kill, 2), restart_to_serving_s=round(t_serving - t_restart, 2),
            serving_to_all_writers_ok_s=round(t_all_ok - t_serving, 2),
            kill_to_first_ok_s=round(min(c.t1 for c in gap_ok) - t_kill, 2) if gap_ok else None,
            last_failure_after_restart_s=round(max(c.t1 for c in failed) - t_restart, 2))


# ---- todo-api SIGTERMed under a write load -------------------------------------------

@pytest.mark.timeout(120 * h.SLOW)
def test_sigterm_under_writes_fails_no_accepted_call(ferret_factory, pb, start_server):
    ferret = ferret_factory()
    name = unique_db_name()
    srv = start_server(env=mongo_env(ferret, name, SHUTDOWN_GRACE="10s"))
    assert_health(srv, "SERVING", RECOVER)
    # Client-chosen ids for every create, so a refused create can be looked
    # for in the database; no deletes, so every id is checked.
    writers = lh.start_all([Writer(i, srv, pb, seed=100 + i, client_ids=1.0, mix=(0.4, 0.0),
                                   pause=0.002) for i in range(2 * WRITERS)])
    try:
        t_term, rc, t_exit = lh.load_then_sigterm(writers, srv)
        time.sleep(0.5)  # callers keep calling a server that is gone
    finally:
        calls = lh.finish_all(writers)
    assert rc == 0, srv.describe()

    failed = [c for c in calls if not c.ok]
    bad = [c for c in failed if c.code != CODE.UNAVAILABLE]
    assert not bad, "failures other than UNAVAILABLE:\n" + "\n".join(map(str, bad[:10]))
    assert not [c for c in failed if c.t1 < t_term], "failures before the SIGTERM"
    assert failed, "no call was refused after the server exited: the test saw no shutdown"
    slow = lh.late(calls, SLACK)
    assert not slow, "calls answered after their deadline:\n" + "\n".join(map(str, slow[:10]))

    # The server's own account: every call it accepted ended OK, and it
    # accepted exactly the calls that the clients saw succeed.
    log = srv.stderr()
    for op, method in (("create", "CreateTodo"), ("update", "UpdateTodo")):
        codes = lh.access_codes(log, f"/grpc.Todos/{method}")
        assert set(codes) == {"OK"}, f"{method} calls ended with {codes}"
        assert codes["OK"] == sum(1 for c in calls if c.op == op and c.ok), (
            method, codes, lh.by_code(calls))
    # And the database agrees: OK writes are stored, refused ones left no trace.
    ferret_db = stored_by_pymongo(ferret, name)
    lost, problems = check_against(calls, ferret_db, uncertain=False)
    assert not lost, f"{len(lost)} acknowledged writes lost:\n" + "\n".join(lost[:10])
    assert not problems, "writes that failed on the client but are stored:\n" + \
        "\n".join(problems[:10])
    in_flight = [c for c in calls if c.ok and c.t0 < t_term < c.t1]
    figures("SIGTERM under writes", calls, attempted=len(calls),
            acknowledged=sum(1 for c in calls if c.ok), refused=len(failed),
            in_flight_at_sigterm_ok=len(in_flight), sigterm_to_exit_s=round(t_exit - t_term, 2),
            documents=len(ferret_db))


def stored_by_pymongo(ferret, name):
    client = ferret.client()
    try:
        return {str(d["_id"]): (d.get("title"), d.get("tag"), d.get("priority"))
                for d in client[name]["todos"].find({})}
    finally:
        client.close()
