"""Configuration: flags > environment > .env file > defaults; bad values exit 2."""

import grpc
import pytest

import todo_harness as h


@pytest.mark.parametrize("value", ["abc", "70000", "65536", "-1", "80x", " 80", "1e3"])
def test_bad_server_port_in_environment(todo_api_bin, value):
    res = h.run_todo_api(todo_api_bin, env={"SERVER_PORT": value})
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert "SERVER_PORT" in lines[0]
    assert res.stdout == ""


@pytest.mark.parametrize("source", ["flag", "dotenv"])
def test_bad_server_port_from_other_sources(todo_api_bin, tmp_path, source):
    if source == "flag":
        res = h.run_todo_api(todo_api_bin, ["--port", "abc"], cwd=tmp_path)
    else:
        (tmp_path / ".env").write_text("SERVER_PORT=abc\n")
        res = h.run_todo_api(todo_api_bin, cwd=tmp_path)
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and "SERVER_PORT" in lines[0], res.stderr


@pytest.mark.parametrize("key,value", [("MAX_RECV_MSG_SIZE", "lots"), ("MAX_RECV_MSG_SIZE", "0"),
                                       ("STORE_DELAY_MS", "-5"), ("LOG_LEVEL", "loud")])
def test_other_bad_values(todo_api_bin, key, value):
    res = h.run_todo_api(todo_api_bin, env={key: value})
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and key in lines[0], res.stderr


def test_help(todo_api_bin):
    res = h.run_todo_api(todo_api_bin, ["--help"])
    assert res.returncode == 0, res.stderr
    assert "SERVER_PORT" in res.stdout and "--port" in res.stdout
    assert "STORE_DELAY_MS" in res.stdout and "MAX_RECV_MSG_SIZE" in res.stdout


@pytest.mark.parametrize("args", [["--no-such-flag", "1"], ["--no-such-flag"], ["stray"],
                                  ["--port"]])
def test_bad_command_line(todo_api_bin, args):
    res = h.run_todo_api(todo_api_bin, args)
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert len(res.stderr.splitlines()) == 1, res.stderr


def three_ports():
    ports = set()
    while len(ports) < 3:
        ports.add(h.free_port())
    return sorted(ports)


# (write .env, set env, pass flag) -> which source wins
PRECEDENCE = [
    ((True, False, False), "dotenv"),
    ((True, True, False), "env"),
    ((True, True, True), "flag"),
    ((True, False, True), "flag"),
    ((False, True, False), "env"),
    ((False, True, True), "flag"),
]


@pytest.mark.parametrize("sources,winner", PRECEDENCE,
                         ids=["+".join(n for n, on in zip(("dotenv", "env", "flag"), s) if on)
                              for s, _ in PRECEDENCE])
def test_port_precedence(pb, server_factory, tmp_path, sources, winner):
    use_dotenv, use_env, use_flag = sources
    for attempt in range(3):  # the three ports are picked free, but may be lost meanwhile
        a, b, c = three_ports()
        expected = {"dotenv": a, "env": b, "flag": c}[winner]
        cwd = tmp_path / f"work{attempt}"
        cwd.mkdir()
        try:
            srv = server_factory.start(
                ["--port", str(c)] if use_flag else [],
                env={"SERVER_PORT": b} if use_env else None,
                dotenv=f"# test\nSERVER_PORT={a}\n" if use_dotenv else None,
                cwd=cwd, port=False, expect_port=expected)
            break
        except h.StartError as e:
            if "cannot listen" not in str(e) or attempt == 2:
                pytest.fail(str(e), pytrace=False)
    assert srv.listening_port() == expected, srv.describe()
    with srv.channel() as ch:
        res = pb[1].TodosStub(ch).GetTodos(pb[0].Request(), timeout=h.CALL_TIMEOUT)
    assert res.todos[0].title == "Add my todos"


def test_dotenv_configures_other_keys(pb, start_server):
    # A .env key other than the port takes effect too (MAX_RECV_MSG_SIZE).
    srv = start_server(dotenv="MAX_RECV_MSG_SIZE=1KiB\n")
    with srv.channel() as ch:
        stub = pb[1].TodosStub(ch)
        with pytest.raises(grpc.RpcError) as ei:
            stub.GetTodos(pb[0].Request(token="x" * 2000), timeout=h.CALL_TIMEOUT)
        assert ei.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert stub.GetTodos(pb[0].Request(), timeout=h.CALL_TIMEOUT).todos
