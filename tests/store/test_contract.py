"""The Todo API's contract (proto/todos.proto), the same on both stores:
every method, every status code, and keyset pagination walked over 1,000
todos in every order, with and without a tag filter.

Each test runs twice: on the embedded memory store (no database keys; it
starts with the original's one seed todo) and on MongoDB (FerretDB, a fresh
DB_NAME per test; it starts empty).
"""

import os
import random
import re

import grpc
import pytest

import todo_harness as h
from store_helpers import SEED, STORES, need_ferretdb, rpc_error, start_api

CODE = grpc.StatusCode
ID_RE = re.compile(r"^[0-9a-f]{24}$")
INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)


def as_tuple(t):
    return (t.id, t.title, t.tag, t.priority)


def new_id():
    return os.urandom(12).hex()


def unknown_id(api):
    """A well-formed id that names nothing in this store."""
    while True:
        i = new_id()
        if all(t.id != i for t in api.get_todos()):
            return i


def check_baseline(api):
    """The store's content at start-up: memory has the original's seed todo,
    a fresh MongoDB database nothing."""
    todos = api.get_todos()
    if api.kind == "memory":
        assert [(t.title, t.tag, t.priority) for t in todos] == [SEED], todos
        assert ID_RE.match(todos[0].id), todos[0].id
    else:
        assert todos == [], todos
    return todos


def expect_code(code, fn, *args, mention=None, **kw):
    e = rpc_error(fn, *args, **kw)
    assert e.code() == code, f"expected {code.name}, got {e.code().name}: {e.details()!r}"
    if mention is not None:
        names = (mention,) if isinstance(mention, str) else mention
        details = (e.details() or "").lower()
        assert any(n.lower() in details for n in names), (
            f"{code.name} message {e.details()!r} should name {' or '.join(names)}")
    return e


# ---- GetTodos and CreateTodo -----------------------------------------------

def test_initial_content(api):
    check_baseline(api)


def test_create_then_get_todos(api):
    base = check_baseline(api)
    made = []
    for i, (title, tag, prio) in enumerate([("write tests", "work", 3), ("buy milk", "home", 0),
                                            ("¡ünïcödé ✓ 🐈", "ünï", -7),
                                            ("max", "", INT32_MAX), ("min", "x", INT32_MIN)]):
        t = api.create(title, tag, prio)
        assert ID_RE.match(t.id), f"id {t.id!r} is not 24 lowercase hex digits"
        assert (t.title, t.tag, t.priority) == (title, tag, prio)
        made.append(t)
    assert len({t.id for t in made}) == len(made)
    got = api.get_todos()
    assert sorted(map(as_tuple, got)) == sorted(map(as_tuple, base + made))
    # GetTodo returns each exactly as created.
    for t in made:
        assert as_tuple(api.get(t.id)) == as_tuple(t)
    # The token is ignored when no tokens are configured (as the original).
    assert len(api.get_todos(token="anything")) == len(base) + len(made)


def test_concurrent_creates_get_distinct_ids(api):
    base = check_baseline(api)
    futures = [api.stub.CreateTodo.future(api.pb.CreateTodoRequest(title=f"c{i}", tag="conc",
                                                                   priority=i),
                                          timeout=h.CALL_TIMEOUT * 3) for i in range(50)]
    made = [f.result() for f in futures]
    assert len({t.id for t in made}) == 50
    assert sorted(t.title for t in made) == sorted(f"c{i}" for i in range(50))
    assert len(api.get_todos()) == len(base) + 50


@pytest.mark.parametrize("title,tag", [
    ("t" * 256, ""),            # title at its limit
    ("é" * 128, "g" * 64),      # 256 bytes of UTF-8, tag at its limit
    ("x", "ü" * 32),            # 64 bytes of tag
])
def test_create_at_limits(api, title, tag):
    t = api.create(title, tag, 1)
    assert (t.title, t.tag) == (title, tag)
    assert as_tuple(api.get(t.id)) == as_tuple(t)


@pytest.mark.parametrize("kw,field", [
    (dict(title=""), "title"),
    (dict(title="t" * 257), "title"),
    (dict(title="é" * 129), "title"),           # 258 bytes, 129 characters
    (dict(title="ok", tag="g" * 65), "tag"),
    (dict(title="ok", tag="ü" * 33), "tag"),    # 66 bytes, 33 characters
    (dict(title="ok", id="abc"), "id"),
    (dict(title="ok", id="0" * 23), "id"),
    (dict(title="ok", id="0" * 25), "id"),
    (dict(title="ok", id="g" * 24), "id"),
    (dict(title="ok", id="0123456789abcdef0123456 "), "id"),
])
def test_create_invalid_argument(api, kw, field):
    base = check_baseline(api)
    kw.setdefault("tag", "")
    expect_code(CODE.INVALID_ARGUMENT, api.create, priority=1, mention=field, **kw)
    assert len(api.get_todos()) == len(base), "a refused create stored something"


def test_create_with_client_id_and_already_exists(api):
    base = check_baseline(api)
    cid = new_id()
    t = api.create("chosen", "ids", 5, id=cid)
    assert t.id == cid
    assert as_tuple(api.get(cid)) == (cid, "chosen", "ids", 5)
    # A retry (or anyone else) with the same id: ALREADY_EXISTS, nothing changes.
    expect_code(CODE.ALREADY_EXISTS, api.create, "other", "x", 9, id=cid)
    assert as_tuple(api.get(cid)) == (cid, "chosen", "ids", 5)
    assert len(api.get_todos()) == len(base) + 1
    if base:  # the memory store's seed id is taken as well
        expect_code(CODE.ALREADY_EXISTS, api.create, "other", id=base[0].id)


def test_uppercase_hex_id_is_the_same_id(api):
    """Ids in the API are lowercase hex: a client id in uppercase is either
    refused or taken as the same (lowercase) id, by every method."""
    check_baseline(api)
    up = "ABCDEF0123456789ABCDEF01"
    try:
        t = api.create("upper", "u", 1, id=up)
    except grpc.RpcError as e:
        assert e.code() == CODE.INVALID_ARGUMENT, (e.code(), e.details())
        return
    assert t.id == up.lower()
    assert api.get(up.lower()).title == "upper"
    assert api.get(up).id == up.lower()
    expect_code(CODE.ALREADY_EXISTS, api.create, "again", id=up.lower())
    assert [x.id for x in api.get_todos() if x.title == "upper"] == [up.lower()]


# ---- GetTodo ---------------------------------------------------------------

def test_get_todo(api):
    check_baseline(api)
    t = api.create("find me", "g", 2)
    assert as_tuple(api.get(t.id)) == as_tuple(t)
    expect_code(CODE.NOT_FOUND, api.get, unknown_id(api))


@pytest.mark.parametrize("bad", ["", "123", "0" * 23, "0" * 25, "z" * 24,
                                 "0123456789abcdef012345-7", "🐈" * 6])
def test_get_todo_malformed_id(api, bad):
    expect_code(CODE.INVALID_ARGUMENT, api.get, bad, mention="id")


# ---- UpdateTodo -------------------------------------------------------------

def todo_msg(api, id, title="", tag="", priority=0):
    return api.pb.Response.Todo(id=id, title=title, tag=tag, priority=priority)


def test_update_with_masks(api):
    check_baseline(api)
    t = api.create("orig", "otag", 1)
    # Only the named fields change; the others in the request are ignored.
    u = api.update(todo_msg(api, t.id, "new title", "IGNORED", 99), ["title"])
    assert as_tuple(u) == (t.id, "new title", "otag", 1)
    u = api.update(todo_msg(api, t.id, "", "ntag", 7), ["tag", "priority"])
    assert as_tuple(u) == (t.id, "new title", "ntag", 7)
    u = api.update(todo_msg(api, t.id, "", "", -5), ["priority"])
    assert as_tuple(u) == (t.id, "new title", "ntag", -5)
    # An empty mask replaces every field (an empty tag and priority 0 included).
    u = api.update(todo_msg(api, t.id, "whole", "", 0), [])
    assert as_tuple(u) == (t.id, "whole", "", 0)
    u = api.update(todo_msg(api, t.id, "whole again", "t2", 3))  # no mask at all
    assert as_tuple(u) == (t.id, "whole again", "t2", 3)
    # Readers see the stored state.
    assert as_tuple(api.get(t.id)) == (t.id, "whole again", "t2", 3)
    assert (t.id, "whole again", "t2", 3) in map(as_tuple, api.get_todos())


@pytest.mark.parametrize("paths,values,field", [
    (["id"], dict(title="x"), ("id", "mask", "path")),
    (["titles"], dict(title="x"), ("titles", "mask", "path")),
    (["title", "bogus"], dict(title="x"), ("bogus", "mask", "path")),
    (["todo.title"], dict(title="x"), ("todo.title", "mask", "path")),
    (["title"], dict(title=""), "title"),
    (["title"], dict(title="t" * 257), "title"),
    (["tag"], dict(tag="g" * 65), "tag"),
    ([], dict(title="", tag="t", priority=1), "title"),
    ([], dict(title="ok", tag="g" * 65), "tag"),
])
def test_update_invalid_argument(api, paths, values, field):
    check_baseline(api)
    t = api.create("keep", "me", 4)
    expect_code(CODE.INVALID_ARGUMENT, api.update, todo_msg(api, t.id, **values), paths,
                mention=field)
    assert as_tuple(api.get(t.id)) == (t.id, "keep", "me", 4), "a refused update changed the todo"


def test_update_not_found_and_bad_id(api):
    check_baseline(api)
    expect_code(CODE.NOT_FOUND, api.update, todo_msg(api, unknown_id(api), "x"), ["title"])
    expect_code(CODE.NOT_FOUND, api.update, todo_msg(api, unknown_id(api), "x", "y", 1), [])
    expect_code(CODE.INVALID_ARGUMENT, api.update, todo_msg(api, "nope", "x"), ["title"],
                mention="id")
    # No todo in the request at all: its id is "" (malformed).
    e = rpc_error(api.stub.UpdateTodo, api.pb.UpdateTodoRequest(), timeout=h.CALL_TIMEOUT)
    assert e.code() == CODE.INVALID_ARGUMENT, (e.code(), e.details())


def test_update_priority_only_ignores_invalid_title(api):
    """A field outside the mask is not validated (nor applied)."""
    check_baseline(api)
    t = api.create("stays", "tg", 1)
    u = api.update(todo_msg(api, t.id, "", "g" * 65, 42), ["priority"])
    assert as_tuple(u) == (t.id, "stays", "tg", 42)


# ---- DeleteTodo -------------------------------------------------------------

def test_delete(api):
    base = check_baseline(api)
    a = api.create("a", "del", 1)
    b = api.create("b", "del", 2)
    assert type(api.delete(a.id)).__name__ == "DeleteTodoResponse"
    expect_code(CODE.NOT_FOUND, api.get, a.id)
    expect_code(CODE.NOT_FOUND, api.delete, a.id)
    expect_code(CODE.NOT_FOUND, api.update, todo_msg(api, a.id, "x"), ["title"])
    assert sorted(map(as_tuple, api.get_todos())) == sorted(map(as_tuple, base + [b]))
    expect_code(CODE.INVALID_ARGUMENT, api.delete, "xyz", mention="id")
    expect_code(CODE.INVALID_ARGUMENT, api.delete, "", mention="id")
    expect_code(CODE.NOT_FOUND, api.delete, unknown_id(api))
    for t in base:  # the memory store's seed is a todo like any other
        api.delete(t.id)
    api.delete(b.id)
    assert api.get_todos() == []
    assert list(api.list().todos) == []


# ---- ListTodos: arguments -----------------------------------------------------

def test_list_small_and_insertion_order(api):
    base = check_baseline(api)
    made = [api.create(f"n{i}", "ord", 10 - i) for i in range(5)]  # one at a time
    page = api.list(page_size=0)
    assert [t.id for t in page.todos] == [t.id for t in base + made], "not insertion order"
    assert page.next_page_token == ""
    assert [t.id for t in api.list(order_by="id").todos] == [t.id for t in base + made]
    # GetTodos and ListTodos agree.
    assert sorted(map(as_tuple, page.todos)) == sorted(map(as_tuple, api.get_todos()))
    by_prio = [t.title for t in api.list(order_by="priority", tag="ord").todos]
    assert by_prio == [f"n{i}" for i in reversed(range(5))]
    by_prio_desc = [t.title for t in api.list(order_by="priority desc", tag="ord").todos]
    assert by_prio_desc == [f"n{i}" for i in range(5)]
    # A tag nobody has: an empty last page.
    none = api.list(tag="no-such-tag")
    assert list(none.todos) == [] and none.next_page_token == ""


@pytest.mark.parametrize("page_size", [-1, -1000, INT32_MIN])
def test_list_negative_page_size(api, page_size):
    expect_code(CODE.INVALID_ARGUMENT, api.list, page_size=page_size, mention="page_size")


@pytest.mark.parametrize("order_by", ["title", "priority asc", "PRIORITY", "id desc", " priority",
                                      "priority  desc", "priority desc ", "-priority", "tag"])
def test_list_bad_order_by(api, order_by):
    expect_code(CODE.INVALID_ARGUMENT, api.list, order_by=order_by, mention="order_by")


def test_list_bad_page_token(api):
    check_baseline(api)
    for i in range(6):
        api.create(f"p{i}", "red" if i % 2 else "blue", i)
    first = api.list(page_size=2)
    assert len(first.todos) == 2 and first.next_page_token
    tok = first.next_page_token
    # The token works for its own query...
    second = api.list(page_size=2, page_token=tok)
    assert not {t.id for t in second.todos} & {t.id for t in first.todos}
    # ...and nothing else.
    for bad in ["garbage", "%%%", "00", "z" * len(tok), tok + "zz"]:
        expect_code(CODE.INVALID_ARGUMENT, api.list, page_size=2, page_token=bad,
                    mention=("page_token", "token"))
    expect_code(CODE.INVALID_ARGUMENT, api.list, page_size=2, page_token=tok, tag="red",
                mention=("page_token", "token"))
    expect_code(CODE.INVALID_ARGUMENT, api.list, page_size=2, page_token=tok, order_by="priority",
                mention=("page_token", "token"))
    pt = api.list(page_size=2, order_by="priority desc", tag="red").next_page_token
    assert pt
    expect_code(CODE.INVALID_ARGUMENT, api.list, page_size=2, page_token=pt,
                order_by="priority", tag="red", mention=("page_token", "token"))
    expect_code(CODE.INVALID_ARGUMENT, api.list, page_size=2, page_token=pt,
                order_by="priority desc", tag="blue", mention=("page_token", "token"))
    expect_code(CODE.INVALID_ARGUMENT, api.list, page_size=2, page_token=pt,
                order_by="priority desc", mention=("page_token", "token"))
    assert len(api.list(page_size=2, page_token=pt, order_by="priority desc",
                        tag="red").todos) >= 1


# ---- ListTodos: walking 1,000 todos ---------------------------------------------

N_BIG = 1000
TAGS = ("red", "green", "blue", "gold")


@pytest.fixture(scope="module", params=STORES)
def big(request, pb, todo_api_bin, tmp_path_factory):
    """A server on each store holding 1,000 todos created through CreateTodo
    (plus, to exceed 1,000 on both stores, the memory store's seed or one
    extra todo on MongoDB). Read-only for the tests using it."""
    ferret = None
    if request.param == "mongo":
        need_ferretdb()
        ferret = request.getfixturevalue("ferret_shared")
    factory = h.ServerFactory(todo_api_bin, tmp_path_factory.mktemp(f"big-{request.param}"))

    def start(**kw):
        return factory.start(**kw)

    api = start_api(start, pb, request.param, ferret)
    rng = random.Random(1234)
    specs = []
    for i in range(N_BIG):
        prio = {0: INT32_MAX, 1: INT32_MIN, 2: 0}.get(i, rng.randint(-3, 12))
        title = f"todo {i:04d}" + (" ✓" if i % 10 == 0 else "")
        specs.append((title, TAGS[i % 4], prio))
    created = []
    for start_i in range(0, N_BIG, 50):  # 50 concurrent creates at a time
        futs = [api.stub.CreateTodo.future(api.pb.CreateTodoRequest(title=t, tag=g, priority=p),
                                           timeout=30 * h.SLOW)
                for t, g, p in specs[start_i:start_i + 50]]
        created += [f.result() for f in futs]
    if api.kind == "mongo":
        created.append(api.create("extra", "extra", 5))
    api.all = [as_tuple(t) for t in api.get_todos()]
    assert len(api.all) == N_BIG + 1
    assert set(map(as_tuple, created)) <= set(api.all)
    yield api
    api.close()
    problems = factory.check_all()
    assert not problems, "\n\n".join(problems)


def expected(all_todos, tag, order_by):
    items = [t for t in all_todos if not tag or t[2] == tag]
    if order_by in ("", "id"):
        return sorted(items, key=lambda t: t[0])
    if order_by == "priority":
        return sorted(items, key=lambda t: (t[3], t[0]))
    assert order_by == "priority desc"
    return sorted(items, key=lambda t: (-t[3], t[0]))


def walk(api, page_size, tag="", order_by=""):
    effective = 100 if page_size == 0 else min(page_size, 1000)
    items, token, pages = [], "", 0
    bound = (len(api.all) // effective) + 3
    while True:
        res = api.stub.ListTodos(api.pb.ListTodosRequest(page_size=page_size, page_token=token,
                                                         tag=tag, order_by=order_by),
                                 timeout=h.CALL_TIMEOUT)
        pages += 1
        assert pages <= bound, f"more than {bound} pages: the walk does not end"
        page = [as_tuple(t) for t in res.todos]
        assert len(page) <= effective, f"page of {len(page)} for page_size {page_size}"
        if res.next_page_token:
            assert len(page) == effective, f"short page ({len(page)}) before the last one"
        items += page
        if not res.next_page_token:
            return items, pages
        token = res.next_page_token


@pytest.mark.timeout(300 * h.SLOW)
@pytest.mark.parametrize("tag", ["", "red"])
@pytest.mark.parametrize("order_by", ["", "id", "priority", "priority desc"])
def test_walk_every_order(big, order_by, tag):
    want = expected(big.all, tag, order_by)
    for page_size in ((7, 100) if tag else (25, 100)):
        got, pages = walk(big, page_size, tag, order_by)
        ids = [t[0] for t in got]
        dups = {i for i in ids if ids.count(i) > 1}
        assert not dups, f"{len(dups)} todos returned twice (page_size {page_size})"
        missing = {t[0] for t in want} - set(ids)
        assert not missing, f"{len(missing)} todos never returned (page_size {page_size})"
        assert got == want, f"order differs (page_size {page_size}, order_by {order_by!r})"
        assert pages >= len(want) // page_size


@pytest.mark.timeout(300 * h.SLOW)
def test_page_size_defaults_and_caps(big):
    total = len(big.all)
    assert total > 1000
    first = big.list(page_size=0)
    assert len(first.todos) == 100 and first.next_page_token
    got, pages = walk(big, 0, "", "priority desc")
    assert got == expected(big.all, "", "priority desc") and pages == (total + 99) // 100
    for size in (1001, 5000, INT32_MAX):
        page = big.list(page_size=size, order_by="priority")
        assert len(page.todos) == 1000, f"page_size {size}: {len(page.todos)} todos, want 1000"
        assert page.next_page_token, "1000 of more than 1000 todos: there is a next page"
        rest = big.list(page_size=size, order_by="priority", page_token=page.next_page_token)
        assert [as_tuple(t) for t in page.todos] + [as_tuple(t) for t in rest.todos] == \
            expected(big.all, "", "priority")
        assert rest.next_page_token == ""
    one = big.list(page_size=1)
    assert len(one.todos) == 1 and one.next_page_token


@pytest.mark.timeout(120 * h.SLOW)
def test_get_todos_returns_all_1001(big):
    got = big.get_todos()
    assert sorted(map(as_tuple, got)) == sorted(big.all)


def test_walk_survives_concurrent_changes(make_api):
    """Keyset pages: todos created or deleted during a walk never make it
    repeat or skip a todo that existed throughout."""
    api = make_api()
    base = check_baseline(api)
    steady = [api.create(f"s{i}", "w", i % 5) for i in range(60)]
    doomed = [api.create(f"d{i}", "w", i % 5) for i in range(10)]
    for order_by in ("", "priority", "priority desc"):
        seen, token, n = [], "", 0
        while True:
            res = api.list(page_size=9, page_token=token, order_by=order_by)
            seen += [t.id for t in res.todos]
            n += 1
            assert n < 50
            if n == 2:  # between pages: add some, delete some
                for t in doomed:
                    try:
                        api.delete(t.id)
                    except grpc.RpcError as e:
                        assert e.code() == CODE.NOT_FOUND  # deleted in an earlier order's walk
                api.create(f"late-{order_by}", "w", 2)
            if not res.next_page_token:
                break
            token = res.next_page_token
        assert len(seen) == len(set(seen)), f"repeats in order {order_by!r}"
        missing = {t.id for t in base + steady} - set(seen)
        assert not missing, f"{len(missing)} steady todos skipped in order {order_by!r}"
