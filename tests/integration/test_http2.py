"""Plain HTTP/2 clients (nghttp from nghttp2-client) against the gRPC server."""

import re
import subprocess

import pytest

import todo_harness as h


def nghttp_run(nghttp, url, *opts, verbose=True):
    argv = [nghttp] + (["-v"] if verbose else []) + list(opts) + [url]
    res = subprocess.run(argv, capture_output=True, timeout=20 * h.SLOW,
                         stdin=subprocess.DEVNULL, env=h.clean_env())
    assert res.returncode == 0, (argv, res.returncode, res.stdout[-3000:], res.stderr[-3000:])
    return res.stdout.decode("utf-8", "replace")


def received(out, name):
    """Values of a received header/trailer field in `nghttp -v` output."""
    return re.findall(r"recv \(stream_id=\d+\) " + re.escape(name) + r": (.*)", out)


@pytest.mark.parametrize("path", ["/", "/grpc.Todos/GetTodos", "/index.html"])
def test_get_is_415_with_body(nghttp, server, path):
    url = f"http://{server.target}{path}"
    out = nghttp_run(nghttp, url)
    assert received(out, ":status") == ["415"], out
    assert received(out, "content-type") and received(out, "content-type")[0].startswith("text/")
    body = nghttp_run(nghttp, url, verbose=False)
    assert body.strip(), "415 with an empty body"
    assert "application/grpc" in body
    assert server.alive()


def test_non_grpc_content_type_post_is_415(nghttp, server, tmp_path):
    data = tmp_path / "body.txt"
    data.write_bytes(b"hello")
    out = nghttp_run(nghttp, f"http://{server.target}/grpc.Todos/GetTodos", "-d", str(data),
                     "-H", "content-type: text/plain")
    assert received(out, ":status") == ["415"], out
    assert server.alive()


def test_grpc_content_type_with_get_is_405(nghttp, server):
    url = f"http://{server.target}/grpc.Todos/GetTodos"
    opts = ("-H", ":method: GET", "-H", "content-type: application/grpc")
    out = nghttp_run(nghttp, url, *opts)
    assert received(out, ":status") == ["405"], out
    assert nghttp_run(nghttp, url, *opts, verbose=False).strip(), "405 with an empty body"


def test_grpc_post_without_message(nghttp, server):
    out = nghttp_run(nghttp, f"http://{server.target}/grpc.Todos/GetTodos",
                     "-H", ":method: POST", "-H", "content-type: application/grpc")
    assert received(out, ":status") == ["200"], out
    status = received(out, "grpc-status")
    assert len(status) == 1 and status[0] != "0", out
    assert received(out, "grpc-message"), out


@pytest.mark.parametrize("ctype", ["application/grpc", "application/grpc+proto"])
def test_raw_grpc_call_with_nghttp(nghttp, server, tmp_path, ctype):
    frame = tmp_path / "req.grpc"
    frame.write_bytes(b"\x00\x00\x00\x00\x00")  # uncompressed, empty Request
    out = nghttp_run(nghttp, f"http://{server.target}/grpc.Todos/GetTodos", "-d", str(frame),
                     "-H", f"content-type: {ctype}", "-H", "te: trailers")
    assert received(out, ":status") == ["200"], out
    assert received(out, "content-type")[0].startswith("application/grpc"), out
    assert received(out, "grpc-status") == ["0"], out
    assert "Add my todos" in out and "default" in out
