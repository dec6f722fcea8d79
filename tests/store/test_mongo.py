"""The MongoDB store against a real MongoDB-wire server (FerretDB): the
original's data model both ways (pymongo <-> gRPC), the original client's
message layout, documents written by other tools, the database keys, token
auth and `todo-api seed`."""

import datetime
import math
import re
import time

import grpc
import pytest
from bson import Int64, ObjectId
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

import todo_harness as h
from store_helpers import SEED, health, mongo_env, rpc_error, start_api, wait_health

CODE = grpc.StatusCode
ID_RE = re.compile(r"^[0-9a-f]{24}$")
INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)


def as_tuple(t):
    return (t.id, t.title, t.tag, t.priority)


@pytest.fixture
def mongo_api(ferret_shared, pb, start_server, db_name):
    api = start_api(start_server, pb, "mongo", ferret_shared, name=db_name)
    client, coll = api.mongo()
    api.coll = coll
    yield api
    api.close()
    client.close()


@pytest.fixture
def coll(ferret_shared, db_name):
    """The collection a test's server will use, for writing before it starts."""
    client = ferret_shared.client()
    yield client[db_name]["todos"]
    client.close()


# ---- the data model, both ways ------------------------------------------------

def test_pymongo_writes_grpc_reads(ferret_shared, coll, pb, start_server, db_name):
    ids = coll.insert_many([{"title": "from pymongo", "tag": "ext", "priority": 3},
                            {"title": "second", "tag": "", "priority": -2}]).inserted_ids
    # The mongo store starts with whatever the database holds (no seeding).
    api = start_api(start_server, pb, "mongo", ferret_shared, name=db_name)
    try:
        got = sorted(map(as_tuple, api.get_todos()))
        assert got == sorted([(str(ids[0]), "from pymongo", "ext", 3),
                              (str(ids[1]), "second", "", -2)])
        assert as_tuple(api.get(str(ids[0]))) == (str(ids[0]), "from pymongo", "ext", 3)
        assert [t.id for t in api.list().todos] == [str(i) for i in ids]
        # Written later, seen at once (no cache).
        later = coll.insert_one({"title": "later", "tag": "ext", "priority": 1}).inserted_id
        assert str(later) in {t.id for t in api.get_todos()}
        coll.update_one({"_id": later}, {"$set": {"title": "changed outside"}})
        assert api.get(str(later)).title == "changed outside"
        coll.delete_one({"_id": later})
        e = rpc_error(api.get, str(later))
        assert e.code() == CODE.NOT_FOUND
    finally:
        api.close()


def test_get_todos_past_the_first_batch(ferret_shared, coll, pb, start_server, db_name):
    """GetTodos asks for 1,000 documents in the find's first batch; more
    than that come through getMore, and every one arrives, in order."""
    n = 2500
    ids = coll.insert_many([{"title": f"t{i}", "tag": "bulk", "priority": i % 7}
                            for i in range(n)]).inserted_ids
    api = start_api(start_server, pb, "mongo", ferret_shared, name=db_name)
    try:
        got = api.get_todos()
        assert [t.id for t in got] == [str(i) for i in ids]
        assert [t.title for t in got] == [f"t{i}" for i in range(n)]
    finally:
        api.close()


def test_grpc_writes_pymongo_reads(mongo_api):
    api, coll = mongo_api, mongo_api.coll
    t = api.create("from grpc", "wire", 7)
    doc = coll.find_one({"_id": ObjectId(t.id)})
    assert doc is not None, f"no document with _id ObjectId({t.id}) in {api.db_name}.todos"
    assert set(doc) == {"_id", "title", "tag", "priority"}, doc
    assert doc == {"_id": ObjectId(t.id), "title": "from grpc", "tag": "wire", "priority": 7}
    assert type(doc["priority"]) is int, f"priority stored as {type(doc['priority'])}, not int32"
    # A client-chosen id is the document's ObjectId.
    cid = "0123456789abcdef01234567"
    api.create("chosen", "wire", 1, id=cid)
    assert coll.find_one({"_id": ObjectId(cid)})["title"] == "chosen"
    # Updates and deletes reach the document.
    api.update(api.pb.Response.Todo(id=t.id, title="", tag="", priority=-3), ["priority"])
    doc = coll.find_one({"_id": ObjectId(t.id)})
    assert (doc["title"], doc["tag"], doc["priority"]) == ("from grpc", "wire", -3)
    assert type(doc["priority"]) is int
    api.update(api.pb.Response.Todo(id=t.id, title="all", tag="new", priority=9), [])
    doc = coll.find_one({"_id": ObjectId(t.id)})
    assert (doc["title"], doc["tag"], doc["priority"]) == ("all", "new", 9)
    api.delete(t.id)
    assert coll.find_one({"_id": ObjectId(t.id)}) is None
    assert coll.count_documents({}) == 1


def test_already_exists_for_an_id_taken_outside(mongo_api):
    oid = mongo_api.coll.insert_one({"title": "outside", "tag": "", "priority": 0}).inserted_id
    e = rpc_error(mongo_api.create, "dup", id=str(oid))
    assert e.code() == CODE.ALREADY_EXISTS, (e.code(), e.details())
    assert mongo_api.coll.find_one({"_id": oid})["title"] == "outside"


def original_message_classes():
    """Request and Response of the ORIGINAL todos.proto, built by hand (no
    generated module): Request{token}, Response{repeated Todo{id,title,tag,priority}}."""
    fdp = descriptor_pb2.FileDescriptorProto()
    fdp.name = "original_store/todos.proto"
    fdp.package = "grpc"
    fdp.syntax = "proto3"
    F = descriptor_pb2.FieldDescriptorProto
    req = fdp.message_type.add(name="Request")
    req.field.add(name="token", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL,
                  json_name="token")
    res = fdp.message_type.add(name="Response")
    todo = res.nested_type.add(name="Todo")
    for name, number, ftype in (("id", 1, F.TYPE_STRING), ("title", 2, F.TYPE_STRING),
                                ("tag", 3, F.TYPE_STRING), ("priority", 4, F.TYPE_INT32)):
        todo.field.add(name=name, number=number, type=ftype, label=F.LABEL_OPTIONAL,
                       json_name=name)
    res.field.add(name="todos", number=1, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
                  type_name=".grpc.Response.Todo", json_name="todos")
    svc = fdp.service.add(name="Todos")
    svc.method.add(name="GetTodos", input_type=".grpc.Request", output_type=".grpc.Response")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return (message_factory.GetMessageClass(pool.FindMessageTypeByName("grpc.Request")),
            message_factory.GetMessageClass(pool.FindMessageTypeByName("grpc.Response")))


def test_original_client_reads_created_todos(mongo_api):
    made = [mongo_api.create(f"orig {i}", "legacy", i) for i in range(3)]
    request_cls, response_cls = original_message_classes()
    get_todos = mongo_api.channel.unary_unary(
        "/grpc.Todos/GetTodos", request_serializer=request_cls.SerializeToString,
        response_deserializer=response_cls.FromString)
    res = get_todos(request_cls(token="whatever"), timeout=h.CALL_TIMEOUT)
    assert isinstance(res, response_cls)
    got = sorted((t.id, t.title, t.tag, t.priority) for t in res.todos)
    assert got == sorted(map(as_tuple, made))
    assert all(ID_RE.match(t.id) for t in res.todos)


# ---- documents written by other tools ----------------------------------------------

ODD = [
    # (document without _id, expected (title, tag, priority))
    ({"title": "int64", "tag": "odd", "priority": Int64(7)}, ("int64", "odd", 7)),
    ({"title": "int64 big", "tag": "odd", "priority": Int64(2**40)},
     ("int64 big", "odd", INT32_MAX)),
    ({"title": "int64 small", "tag": "odd", "priority": Int64(-2**40)},
     ("int64 small", "odd", INT32_MIN)),
    ({"title": "double", "tag": "odd", "priority": 3.0}, ("double", "odd", 3)),
    ({"title": "double big", "tag": "odd", "priority": 1e12}, ("double big", "odd", INT32_MAX)),
    ({"title": "double small", "tag": "odd", "priority": -1e12},
     ("double small", "odd", INT32_MIN)),
    ({"title": "inf", "tag": "odd", "priority": math.inf}, ("inf", "odd", INT32_MAX)),
    ({"title": "-inf", "tag": "odd", "priority": -math.inf}, ("-inf", "odd", INT32_MIN)),
    ({"tag": "odd", "priority": 2}, ("", "odd", 2)),
    ({"title": "no tag", "priority": 2}, ("no tag", "", 2)),
    ({"title": "no priority", "tag": "odd"}, ("no priority", "odd", 0)),
    ({}, ("", "", 0)),
    ({"title": "extra", "tag": "odd", "priority": 4, "done": True,
      "due": datetime.datetime(2024, 1, 2), "nested": {"a": [1, 2, {"b": None}]}, "notes": ["x", "y"], "bin": b"\x00\x01"},
     ("extra", "odd", 4)),
]


def insert_if_accepted(coll, doc):
    """Inserts; None when the database refuses the value (FerretDB refuses
    infinities and NaN, which MongoDB stores)."""
    from pymongo.errors import WriteError

    try:
        return coll.insert_one(dict(doc)).inserted_id
    except WriteError as e:
        if "not allowed" in str(e) and any(isinstance(v, float) and not math.isfinite(v)
                                           for v in doc.values()):
            return None
        raise


def test_odd_documents(mongo_api):
    api, coll = mongo_api, mongo_api.coll
    want = {}
    for doc, exp in ODD:
        oid = insert_if_accepted(coll, doc)
        if oid is not None:
            want[str(oid)] = exp
    # Non-numeric priorities, non-string titles: any value, no failure. (NaN
    # cannot be tested: FerretDB drops the connection of a client sending one.)
    loose = [insert_if_accepted(coll, d) for d in (
        {"title": "string priority", "tag": "odd", "priority": "5"},
        {"title": 12, "tag": ["a"], "priority": None},
    )]
    loose = [i for i in loose if i is not None]
    got = {t.id: (t.title, t.tag, t.priority) for t in api.get_todos()}
    assert set(got) == set(want) | {str(i) for i in loose}
    for oid, exp in want.items():
        assert got[oid] == exp, f"document {oid}: read {got[oid]}, want {exp}"
        assert (lambda t: (t.title, t.tag, t.priority))(api.get(oid)) == exp
    for oid in loose:
        assert isinstance(got[str(oid)][2], int)
    listed = {t.id: (t.title, t.tag, t.priority) for t in api.list(page_size=1000).todos}
    assert listed == got
    # An id-ordered walk over them ends and sees each once (priority orders:
    # the tests below).
    seen = walk_ids(api, 3, "")
    assert sorted(seen) == sorted(got)
    # An odd document is updated into the model's shape.
    i64 = next(o for o, e in want.items() if e[0] == "int64")
    api.update(api.pb.Response.Todo(id=i64, priority=8), ["priority"])
    doc = coll.find_one({"_id": ObjectId(i64)})
    assert doc["priority"] == 8 and type(doc["priority"]) is int
    assert health(api.server) == "SERVING" and api.server.alive()


def walk_ids(api, page_size, order_by, bound=100):
    """The ids of a bounded ListTodos walk; fails on a walk that does not end."""
    seen, token = [], ""
    for _ in range(bound):
        res = api.list(page_size=page_size, page_token=token, order_by=order_by)
        seen += [t.id for t in res.todos]
        token = res.next_page_token
        if not token:
            return seen
    raise AssertionError(f"order_by {order_by!r}, page_size {page_size}: no last page after "
                         f"{bound} pages (seen {len(seen)} items, {len(set(seen))} distinct)")


@pytest.mark.parametrize("order_by", ["", "priority", "priority desc"])
@pytest.mark.parametrize("page_size", [1, 2])
def test_walk_over_out_of_range_priorities(mongo_api, order_by, page_size):
    """Priorities beyond int32 read clamped; pages by priority must still
    list each todo exactly once and end (the page token holds the clamped
    value, the database compares the real one)."""
    coll = mongo_api.coll
    ids = [str(coll.insert_one(d).inserted_id) for d in (
        {"title": "big1", "tag": "", "priority": Int64(2**40)},
        {"title": "big2", "tag": "", "priority": Int64(2**41)},
        {"title": "bigd", "tag": "", "priority": 1e12},
        {"title": "max", "tag": "", "priority": INT32_MAX},
        {"title": "small1", "tag": "", "priority": Int64(-2**40)},
        {"title": "small2", "tag": "", "priority": -1e12},
        {"title": "min", "tag": "", "priority": INT32_MIN},
        {"title": "one", "tag": "", "priority": 1},
        {"title": "two", "tag": "", "priority": 2},
    )]
    seen = walk_ids(mongo_api, page_size, order_by, bound=3 * len(ids))
    repeated = sorted({i for i in seen if seen.count(i) > 1})
    assert not repeated, f"repeated: {repeated}"
    assert sorted(seen) == sorted(ids), f"missing: {sorted(set(ids) - set(seen))}"
    if order_by:
        prios = [mongo_api.get(i).priority for i in seen]
        assert prios == sorted(prios, reverse=order_by.endswith("desc")), prios


@pytest.mark.parametrize("order_by", ["", "priority", "priority desc"])
def test_walk_over_missing_or_odd_priorities_ends(mongo_api, order_by):
    """Documents without a numeric priority: a walk by priority still ends
    without repeating anything (docs/store.md notes that MongoDB's type order
    may leave such documents out of later pages)."""
    coll = mongo_api.coll
    ids = [str(coll.insert_one(d).inserted_id) for d in (
        {"title": "none", "tag": ""}, {"title": "null", "tag": "", "priority": None},
        {"title": "str", "tag": "", "priority": "5"}, {"title": "one", "tag": "", "priority": 1},
        {"title": "zero", "tag": "", "priority": 0}, {"title": "three", "tag": "", "priority": 3},
    )]
    seen = walk_ids(mongo_api, 2, order_by, bound=3 * len(ids))
    assert len(seen) == len(set(seen)), seen
    assert set(seen) <= set(ids)
    if order_by == "":
        assert sorted(seen) == sorted(ids)


def test_non_objectid_ids(mongo_api):
    api, coll = mongo_api, mongo_api.coll
    coll.insert_one({"_id": "my-custom-id", "title": "string id", "tag": "odd", "priority": 1})
    coll.insert_one({"_id": 42, "title": "int id", "tag": "odd", "priority": 2})
    coll.insert_one({"_id": Int64(2**40), "title": "long id", "tag": "odd", "priority": 3})
    normal = api.create("normal", "odd", 4)
    got = {t.id: t.title for t in api.get_todos()}
    assert got == {"my-custom-id": "string id", "42": "int id", str(2**40): "long id",
                   normal.id: "normal"}
    listed = {t.id: t.title for t in api.list(tag="odd").todos}
    assert listed == got
    # Not ObjectIds: GetTodo may refuse them, but must answer (and survive).
    for weird in ("my-custom-id", "42"):
        e = rpc_error(api.get, weird)
        assert e.code() in (CODE.INVALID_ARGUMENT, CODE.NOT_FOUND), (e.code(), e.details())
    assert as_tuple(api.get(normal.id)) == as_tuple(normal)
    assert api.server.alive()


# ---- database keys ------------------------------------------------------------------

def test_default_database_and_collection(ferret, pb, start_server):
    """No DB_NAME/DB_COLLECTION: the original's TodosDB.todos."""
    srv = start_server(env={"MONGO_URI": ferret.uri})
    assert set(wait_health(srv, "SERVING", 15 * h.SLOW).values()) == {"SERVING"}, srv.describe()
    with srv.channel() as ch:
        t = pb[1].TodosStub(ch).CreateTodo(pb[0].CreateTodoRequest(title="default db", tag="d"),
                                           timeout=h.CALL_TIMEOUT)
    client = ferret.client()
    try:
        doc = client["TodosDB"]["todos"].find_one({"_id": ObjectId(t.id)})
        assert doc and doc["title"] == "default db"
    finally:
        client.close()


def test_db_collection_and_name(ferret_shared, pb, start_server, db_name):
    api = start_api(start_server, pb, "mongo", ferret_shared, name=db_name,
                    env={"DB_COLLECTION": "other_todos"})
    try:
        t = api.create("elsewhere", "c", 1)
        client = ferret_shared.client()
        try:
            assert client[db_name]["other_todos"].find_one({"_id": ObjectId(t.id)})["title"] == \
                "elsewhere"
            assert client[db_name]["todos"].count_documents({}) == 0
        finally:
            client.close()
    finally:
        api.close()


@pytest.mark.parametrize("how", ["DB_HOST", "MONGO_URI_FILE", "flags", "MONGO_URI wins"])
def test_connection_keys(how, ferret_shared, pb, start_server, db_name, tmp_path):
    args = []
    if how == "DB_HOST":
        env = {"DB_HOST": "127.0.0.1", "DB_PORT": ferret_shared.port, "DB_NAME": db_name}
    elif how == "MONGO_URI_FILE":
        f = tmp_path / "uri"
        f.write_text(ferret_shared.uri + "\nmongodb://127.0.0.1:1/ (second line, unused)\n")
        env = {"MONGO_URI_FILE": f, "DB_NAME": db_name}
    elif how == "flags":
        env = {}
        args = ["--mongo-uri", ferret_shared.uri, "--db-name", db_name, "--store", "mongo"]
    else:
        env = {"MONGO_URI": ferret_shared.uri, "DB_HOST": "127.0.0.1", "DB_PORT": "1",
               "DB_NAME": db_name}
    srv = start_server(args, env=env)
    st = wait_health(srv, "SERVING", 15 * h.SLOW)
    assert set(st.values()) == {"SERVING"}, f"{st}\n{srv.describe()}"
    with srv.channel() as ch:
        t = pb[1].TodosStub(ch).CreateTodo(pb[0].CreateTodoRequest(title=how),
                                           timeout=h.CALL_TIMEOUT)
    client = ferret_shared.client()
    try:
        assert client[db_name]["todos"].find_one({"_id": ObjectId(t.id)})["title"] == how
    finally:
        client.close()


def test_store_memory_ignores_database_keys(ferret_shared, pb, start_server, db_name):
    srv = start_server(env={**mongo_env(ferret_shared, db_name), "STORE": "memory"})
    with srv.channel() as ch:
        stub = pb[1].TodosStub(ch)
        todos = stub.GetTodos(pb[0].Request(), timeout=h.CALL_TIMEOUT).todos
        assert [(t.title, t.tag, t.priority) for t in todos] == [SEED]
        stub.CreateTodo(pb[0].CreateTodoRequest(title="in memory"), timeout=h.CALL_TIMEOUT)
    client = ferret_shared.client()
    try:
        assert client[db_name]["todos"].count_documents({}) == 0
    finally:
        client.close()


def one_line(text):
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{text}"
    return lines[0]


@pytest.mark.parametrize("env,key", [
    ({"STORE": "mongo"}, "STORE"),
    ({"STORE": "postgres"}, "STORE"),
    ({"MONGO_URI_FILE": "/nonexistent/uri"}, "MONGO_URI_FILE"),
    ({"DB_HOST": "127.0.0.1", "DB_PASSWORD_FILE": "/nonexistent/pw"}, "DB_PASSWORD_FILE"),
    ({"AUTH_TOKENS_FILE": "/nonexistent/tokens"}, "AUTH_TOKENS_FILE"),
    ({"SINGLE_FLIGHT": "maybe"}, "SINGLE_FLIGHT"),
    ({"DB_TIMEOUT": "soon"}, "DB_TIMEOUT"),
    ({"DB_HEALTH_INTERVAL": "x"}, "DB_HEALTH_INTERVAL"),
    ({"DB_PORT": "70000", "DB_HOST": "127.0.0.1"}, "DB_PORT"),
])
def test_bad_store_configuration_exits_2(todo_api_bin, env, key):
    res = h.run_todo_api(todo_api_bin, ["--port", "0"], env=env)
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert key in one_line(res.stderr)


def test_db_user_and_password_file(ferret_factory, pb, start_server, tmp_path, db_name):
    """DB_HOST, DB_PORT, DB_USER and DB_PASSWORD_FILE make the URI the driver
    authenticates with (FerretDB's log shows the attempt and the user); the
    password never reaches todo-api's log."""
    ferret = ferret_factory(log_level="debug")
    secret = "s3cr3t-p@ss/word"
    pw = tmp_path / "pw"
    pw.write_text(secret + "\n")
    srv = start_server(env={"DB_HOST": "127.0.0.1", "DB_PORT": ferret.port, "DB_USER": "app@user:1",
                            "DB_PASSWORD_FILE": pw, "DB_NAME": db_name, "DB_TIMEOUT": "2s",
                            "LOG_LEVEL": "debug"})
    # FerretDB's SQLite backend refuses mongo-c-driver's default SCRAM
    # mechanisms, so the server need not become SERVING; it must try.
    attempted = re.compile(r"saslStart|speculativeAuthenticate")
    assert h.wait_until(lambda: attempted.search(ferret.log_text()), 10 * h.SLOW), (
        "no authentication attempt reached FerretDB\n" + srv.describe())
    # The user reached the database intact (percent-encoded into the URI,
    # decoded by the driver): FerretDB logs it in the handshake.
    assert '"saslSupportedMechs": "admin.app@user:1"' in ferret.log_text(), (
        "the handshake does not name user 'app@user:1'\n" + ferret.describe())
    health(srv)
    time.sleep(0.5)
    assert srv.alive()
    assert secret not in srv.stderr(), "the database password appears in todo-api's log"
    assert "s3cr3t" not in srv.stderr()


# ---- token auth ---------------------------------------------------------------------------

@pytest.fixture
def auth_api(make_api, tmp_path):
    f = tmp_path / "tokens"
    f.write_text("gamma\ndelta")  # one per line, no newline at the end (as Secrets often are)
    return make_api(env={"AUTH_TOKENS": "alpha,beta", "AUTH_TOKENS_FILE": f})


def all_calls(api, token=None, metadata=None):
    """One call of every Todos method; returns {method: code}."""
    pb = api.pb
    kw = {"timeout": h.CALL_TIMEOUT}
    if metadata:
        kw["metadata"] = metadata
    tok = {"token": token} if token is not None else {}
    some_id = "0123456789abcdef01234567"
    calls = {
        "GetTodos": (api.stub.GetTodos, pb.Request(**tok)),
        "ListTodos": (api.stub.ListTodos, pb.ListTodosRequest(**tok)),
        "CreateTodo": (api.stub.CreateTodo, pb.CreateTodoRequest(title="auth", **tok)),
        "GetTodo": (api.stub.GetTodo, pb.GetTodoRequest(id=some_id, **tok)),
        "UpdateTodo": (api.stub.UpdateTodo, pb.UpdateTodoRequest(
            todo=pb.Response.Todo(id=some_id, title="x"), **tok)),
        "DeleteTodo": (api.stub.DeleteTodo, pb.DeleteTodoRequest(id=some_id, **tok)),
        # Invalid arguments too: authentication comes first.
        "CreateTodo(invalid)": (api.stub.CreateTodo, pb.CreateTodoRequest(title="", **tok)),
        "GetTodo(invalid)": (api.stub.GetTodo, pb.GetTodoRequest(id="bad", **tok)),
    }
    codes = {}
    for name, (fn, req) in calls.items():
        try:
            fn(req, **kw)
            codes[name] = CODE.OK
        except grpc.RpcError as e:
            codes[name] = e.code()
    return codes


AUTHED = {"GetTodos": CODE.OK, "ListTodos": CODE.OK, "CreateTodo": CODE.OK,
          "GetTodo": CODE.NOT_FOUND, "UpdateTodo": CODE.NOT_FOUND, "DeleteTodo": CODE.NOT_FOUND,
          "CreateTodo(invalid)": CODE.INVALID_ARGUMENT, "GetTodo(invalid)": CODE.INVALID_ARGUMENT}
REFUSED = {k: CODE.UNAUTHENTICATED for k in AUTHED}


@pytest.mark.parametrize("how", ["none", "empty", "wrong", "prefix", "suffix", "both-joined",
                                 "bearer-wrong", "bearer-empty", "basic-scheme", "raw-header"])
def test_auth_refused(auth_api, how):
    cases = {
        "none": dict(),
        "empty": dict(token=""),
        "wrong": dict(token="epsilon"),
        "prefix": dict(token="alph"),
        "suffix": dict(token="alpha2"),
        "both-joined": dict(token="alpha,beta"),
        "bearer-wrong": dict(metadata=(("authorization", "Bearer epsilon"),)),
        # (not "Bearer ": HTTP/2 forbids a trailing space in a field value,
        # and nghttp2 resets such a stream before gRPC sees it)
        "bearer-empty": dict(metadata=(("authorization", "Bearer"),)),
        "basic-scheme": dict(metadata=(("authorization", "Basic alpha"),)),
        "raw-header": dict(metadata=(("authorization", "alpha"),)),
    }
    codes = all_calls(auth_api, **cases[how])
    assert codes == REFUSED
    e = rpc_error(auth_api.get_todos)
    assert "token" in (e.details() or "").lower() or "auth" in (e.details() or "").lower(), \
        e.details()


@pytest.mark.parametrize("token", ["alpha", "beta", "gamma", "delta"])
@pytest.mark.parametrize("where", ["field", "bearer"])
def test_auth_accepted(auth_api, token, where):
    if where == "field":
        codes = all_calls(auth_api, token=token)
    else:
        codes = all_calls(auth_api, metadata=(("authorization", f"Bearer {token}"),))
    assert codes == AUTHED


def test_auth_health_needs_no_token(auth_api):
    assert health(auth_api.server, "") == "SERVING"
    assert health(auth_api.server, "grpc.Todos") == "SERVING"


def test_auth_tokens_file_alone(make_api, tmp_path):
    f = tmp_path / "tokens"
    f.write_text("only-one\n")
    api = make_api(env={"AUTH_TOKENS_FILE": f})
    assert all_calls(api) == REFUSED
    assert all_calls(api, token="only-one") == AUTHED


# ---- todo-api seed ------------------------------------------------------------------

def run_seed(todo_api_bin, *args, env=None, timeout=None):
    t0 = time.monotonic()
    res = h.run_todo_api(todo_api_bin, ["seed", *args], env=env, timeout=timeout or 30 * h.SLOW)
    res.elapsed = time.monotonic() - t0
    return res


def docs(coll):
    return sorted((d.get("title"), d.get("tag"), d.get("priority")) for d in coll.find({}))


def test_seed_is_idempotent(todo_api_bin, ferret_shared, coll, db_name, pb, start_server):
    env = mongo_env(ferret_shared, db_name)
    res = run_seed(todo_api_bin, env=env)
    assert res.returncode == 0, res.stderr
    assert docs(coll) == [SEED]
    d = coll.find_one({})
    assert isinstance(d["_id"], ObjectId) and type(d["priority"]) is int
    res = run_seed(todo_api_bin, env=env)
    assert res.returncode == 0, res.stderr
    assert docs(coll) == [SEED], "a second seed inserted a duplicate"
    # The server reads it like the original's seed.
    api = start_api(start_server, pb, "mongo", ferret_shared, name=db_name)
    try:
        assert [(t.title, t.tag, t.priority) for t in api.get_todos()] == [SEED]
    finally:
        api.close()


def test_seed_with_flags_keeps_existing(todo_api_bin, ferret_shared, coll, db_name):
    coll.insert_one({"title": "mine", "tag": "x", "priority": 5})
    res = run_seed(todo_api_bin, "--mongo-uri", ferret_shared.uri, "--db-name", db_name)
    assert res.returncode == 0, res.stderr
    assert docs(coll) == sorted([SEED, ("mine", "x", 5)])


def test_seed_file(todo_api_bin, ferret_shared, coll, db_name, tmp_path):
    env = mongo_env(ferret_shared, db_name)
    f1 = tmp_path / "todos.json"
    f1.write_text('[{"title": "a", "tag": "x", "priority": 2},\n'
                  ' {"title": "b", "tag": "y", "priority": 3},\n'
                  ' {"title": "Add my todos", "tag": "default", "priority": 1},\n'
                  ' {"title": "ünï ✓", "tag": "u", "priority": -4}]\n')
    res = run_seed(todo_api_bin, "--file", f1, env=env)
    assert res.returncode == 0, res.stderr
    want = sorted([SEED, ("a", "x", 2), ("b", "y", 3), ("ünï ✓", "u", -4)])
    assert docs(coll) == want
    res = run_seed(todo_api_bin, "--file", f1, env=env)
    assert res.returncode == 0, res.stderr
    assert docs(coll) == want, "seeding the same file twice inserted duplicates"
    # Same title, other tag: a different todo; same title and tag: already there.
    f2 = tmp_path / "more.json"
    f2.write_text('[{"title": "a", "tag": "x", "priority": 2},'
                  ' {"title": "a", "tag": "z", "priority": 1}]')
    res = run_seed(todo_api_bin, "--file", f2, env=env)
    assert res.returncode == 0, res.stderr
    assert docs(coll) == sorted(want + [("a", "z", 1)])
    assert all(type(d["priority"]) is int for d in coll.find({}))


@pytest.mark.parametrize("content", [None, "", "not json", "{}", '{"title": "a"}',
                                     '[{"title": 5, "tag": "x", "priority": 1}]',
                                     '[{"title": "a", "tag": "x", "priority": "high"}]',
                                     '[{"title": "", "tag": "x", "priority": 1}]',
                                     '[{"title": "' + "t" * 257 + '", "tag": "x", "priority": 1}]',
                                     '[{"title": "a", "tag": "x", "priority": 1}',
                                     '["a"]'])
def test_seed_bad_file(todo_api_bin, ferret_shared, coll, db_name, tmp_path, content):
    f = tmp_path / "bad.json"
    if content is not None:
        f.write_text(content)
    res = run_seed(todo_api_bin, "--file", f, env=mongo_env(ferret_shared, db_name))
    assert res.returncode != 0, f"bad file {content!r} accepted:\n{res.stderr}"
    assert "bad.json" in one_line(res.stderr) or "file" in one_line(res.stderr).lower()
    assert docs(coll) == [], "a bad file still inserted todos"


@pytest.mark.parametrize("how", ["MONGO_URI", "DB_HOST"])
def test_seed_unreachable_database(todo_api_bin, how):
    port = h.free_port()  # nothing listens there
    env = ({"MONGO_URI": f"mongodb://127.0.0.1:{port}/"} if how == "MONGO_URI"
           else {"DB_HOST": "127.0.0.1", "DB_PORT": port})
    env["DB_TIMEOUT"] = "1s"
    res = run_seed(todo_api_bin, env=env, timeout=20 * h.SLOW)
    assert res.returncode not in (0, None), res.stderr
    line = one_line(res.stderr)
    assert "database" in line.lower() or "mongo" in line.lower(), line
    assert res.elapsed < 1 + 3 * h.SLOW, f"took {res.elapsed:.1f}s with DB_TIMEOUT=1s"


def test_seed_without_database_keys(todo_api_bin):
    res = run_seed(todo_api_bin)
    assert res.returncode not in (0, None)
    one_line(res.stderr)
