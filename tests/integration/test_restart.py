"""A restart of todo-api under load, with clients reconnecting (issue #8).

Callers keep calling (GetTodos and CreateTodo, each on its own connection)
while the server is SIGTERMed and a new one is started on the same port.
Half of them use wait_for_ready (their calls wait out the gap), half fail
fast and retry after a short backoff, as a client without wait_for_ready
would. Checked: failures are only UNAVAILABLE and only within the gap; every
caller reconnects and succeeds soon after the new server is up; and the two
servers' access logs account for every successful call exactly once, with
no call a server accepted ending in an error.

(tests/integration/test_connection.py covers SIGTERM with calls in flight
and no new ones; tests/store/test_nothing_lost.py SIGTERM under writes on
MongoDB.)"""

import os
import time

import load_harness as lh
import todo_harness as h

CODE = lh.CODE
CALLERS = 2 if h.SANITIZER else 4  # of each kind
GAP = 0.5  # seconds between the old server's exit and the new one's start
RECONNECT = 1.0 + 1.5 * h.SLOW  # max reconnect backoff (0.5 s) plus slack


class RestartCaller(lh.Caller):
    def __init__(self, idx, target, pb, wait_for_ready):
        super().__init__(idx, target, pause=0.005)
        self.P, self.stub = pb[0], pb[1].TodosStub(self.channel)
        self.wfr = wait_for_ready
        self.deadline = 10.0 * h.SLOW if wait_for_ready else 2.0
        self.n = 0

    def next_call(self):
        self.n += 1
        P, s, wfr = self.P, self.stub, self.wfr
        if self.n % 2:
            return "GetTodos", None, None, self.deadline, \
                lambda t: s.GetTodos(P.Request(), timeout=t, wait_for_ready=wfr)
        title = f"r{self.idx}-{self.n}"
        return "CreateTodo", None, title, self.deadline, \
            lambda t: s.CreateTodo(P.CreateTodoRequest(title=title), timeout=t, wait_for_ready=wfr)

    def done(self, call, res):
        if not call.ok:
            time.sleep(0.05)  # the retry's backoff


def test_restart_under_load_clients_reconnect(pb, start_server):
    old = start_server()
    port = old.port
    callers = lh.start_all([RestartCaller(i, old.target, pb, wait_for_ready=i < CALLERS)
                            for i in range(2 * CALLERS)])
    new = None
    try:
        t_term, rc, t_exit = lh.load_then_sigterm(callers, old)
        time.sleep(GAP)
        new = start_server(port=port)  # same port: clients reconnect to it
        t_up = time.monotonic()
        assert lh.wait_ok_since(callers, t_up, RECONNECT + 5 * h.SLOW), \
            lh.by_code([c for c in lh.all_calls(callers) if c.t0 >= t_up])
        t_all = time.monotonic()
        time.sleep(1.0)
    finally:
        calls = lh.finish_all(callers)
    assert rc == 0, old.describe()

    wfr = [c for c in calls if callers[c.caller].wfr]
    retry = [c for c in calls if not callers[c.caller].wfr]
    failed = [c for c in calls if not c.ok]
    # wait_for_ready calls wait out the gap: none fails.
    assert not [c for c in wfr if not c.ok], lh.by_code(wfr)
    spanned = [c for c in wfr if c.t0 < t_exit and c.t1 > t_up]
    # Fail-fast callers see UNAVAILABLE, and only during the gap.
    bad = [c for c in failed if c.code != CODE.UNAVAILABLE]
    assert not bad, "codes other than UNAVAILABLE:\n" + "\n".join(map(str, bad[:10]))
    outside = [c for c in failed if c.t0 < t_term or c.t1 > t_up + RECONNECT]
    assert not outside, (f"failures outside the gap (SIGTERM at {t_term:.3f}, up at {t_up:.3f}):\n"
                         + "\n".join(map(str, outside[:10])))
    assert failed, "no fail-fast call saw the gap: the restart was not observed"
    late = lh.late(calls, 0.6 * h.SLOW)
    assert not late, "calls past their deadline:\n" + "\n".join(map(str, late[:10]))
    # Every caller is back on the new server.
    first_ok = {c.caller: c.t1 for c in reversed(calls) if c.ok and c.t0 >= t_up}
    assert set(first_ok) == set(range(len(callers))), first_ok
    assert all(c.ok for c in calls if c.t0 >= t_up + RECONNECT), \
        lh.by_code([c for c in calls if c.t0 >= t_up + RECONNECT])

    # The servers' account: accepted calls all ended OK, and every call a
    # client saw succeed was served by exactly one of them.
    codes_old, codes_new = lh.access_codes(old.stderr()), lh.access_codes(new.stderr())
    assert set(codes_old) <= {"OK"} and set(codes_new) <= {"OK"}, (codes_old, codes_new)
    assert codes_old.get("OK", 0) + codes_new.get("OK", 0) == sum(1 for c in calls if c.ok), \
        (codes_old, codes_new, lh.by_code(calls))
    with new.channel() as ch:  # the new server's store holds exactly its creates (and the seed)
        todos = pb[1].TodosStub(ch).GetTodos(pb[0].Request(), timeout=h.CALL_TIMEOUT).todos
    created_new = lh.access_codes(new.stderr(), "/grpc.Todos/CreateTodo").get("OK", 0)
    assert len(todos) == 1 + created_new, (len(todos), created_new)
    titles = {c.value for c in calls if c.op == "CreateTodo" and c.ok}
    assert {t.title for t in todos} - {"Add my todos"} <= titles

    if os.environ.get("NOTHING_LOST_REPORT"):
        print(f"\nFIGURES restart: calls {len(calls)} {lh.by_code(calls)}; failed {len(failed)} "
              f"(retrying callers {len([c for c in retry if not c.ok])}); wait_for_ready calls across "
              f"the gap {len(spanned)}; SIGTERM->exit {t_exit - t_term:.2f}s, exit->up "
              f"{t_up - t_exit:.2f}s, up->all callers OK {t_all - t_up:.2f}s, "
              f"reconnect (first OK after up) max {max(first_ok.values()) - t_up:.2f}s; "
              f"old served {codes_old}, new served {codes_new}")
