"""Helpers for the todo-api integration tests: start the real binary, stop it,
check it. The pytest fixtures wrapping them live in conftest.py.

Environment (set by `make integration`):
  TODO_API_BIN  absolute path of the todo-api binary (default: <repo>/build/todo-api)
  PY_GEN        directory holding todos_pb2.py and todos_pb2_grpc.py generated from
                proto/todos.proto (default: generated into a temp dir with grpc_tools)
  SANITIZER     empty, or the sanitizers the binary was built with (e.g.
                address,undefined); makes the timeouts more generous
"""

import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROTO_DIR = REPO / "proto"

SANITIZER = os.environ.get("SANITIZER", "").strip()
# Sanitized binaries start, run and (with LeakSanitizer) exit several times slower.
SLOW = 4.0 if SANITIZER else 1.0

START_TIMEOUT = 10.0 * SLOW  # until the port accepts TCP
STOP_TIMEOUT = 20.0 * SLOW  # SIGTERM -> exit (includes leak checking)
CALL_TIMEOUT = 10.0 * SLOW  # default client-side deadline for one RPC
TEST_TIMEOUT = int(120 * SLOW)  # pytest-timeout, per test

SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "WARNING: ThreadSanitizer",
    "ERROR: ThreadSanitizer",
    "ERROR: MemorySanitizer",
    "ERROR: UndefinedBehaviorSanitizer",
)

# The only variables passed through from the test runner's environment: no
# SERVER_* (or any other configuration key, or ENV_FILE) is ever inherited.
PASSTHROUGH = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "ASAN_OPTIONS",
    "UBSAN_OPTIONS",
    "LSAN_OPTIONS",
    "TSAN_OPTIONS",
    "MSAN_OPTIONS",
    "ASAN_SYMBOLIZER_PATH",
    "LLVM_SYMBOLIZER_PATH",
)

# Options for every client channel: never go through an HTTP proxy from the
# environment, and let big messages out so that the server is the one refusing.
CHANNEL_OPTIONS = [
    ("grpc.enable_http_proxy", 0),
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
]

LISTEN_RE = re.compile(r"listening on (\S+):(\d+)")


def binary_path():
    return Path(os.environ.get("TODO_API_BIN") or (REPO / "build" / "todo-api"))


def clean_env(extra=None):
    """The environment a server runs with: a whitelist, plus `extra`."""
    env = {k: os.environ[k] for k in PASSTHROUGH if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    if SANITIZER:
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    if extra:
        env.update({k: str(v) for k, v in extra.items()})
    return env


def sanitizer_reports(text):
    return [m for m in SANITIZER_MARKERS if m in text]


_handed_out = set()


def free_port():
    """A loopback port that was free a moment ago (bind to 0, then close),
    and not handed out before in this process: the kernel may offer a port
    it just gave back, and a server started with a gRPC and an admin port
    taken one after the other would then get the same one twice."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no fresh loopback port in 100 tries")


def port_accepts(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(pred, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


class StartError(Exception):
    pass


class Server:
    """One todo-api process."""

    def __init__(self, proc, port, cwd, stderr_path, argv, env):
        self.proc = proc
        self.port = port
        self.cwd = cwd
        self.stderr_path = stderr_path
        self.argv = argv
        self.env = env
        self.returncode = None
        self.start_failed = False

    @property
    def target(self):
        return f"127.0.0.1:{self.port}"

    def stderr(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def channel(self, options=()):
        import grpc

        return grpc.insecure_channel(self.target, options=CHANNEL_OPTIONS + list(options))

    def listening_port(self):
        """The port of the start-up line 'listening on HOST:PORT'."""
        m = None

        def found():
            nonlocal m
            m = LISTEN_RE.search(self.stderr())
            return m is not None

        assert wait_until(found, START_TIMEOUT), f"no 'listening on' line\n{self.describe()}"
        return int(m.group(2))

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM and a bounded wait (then SIGKILL). Returns the exit code,
        or a string when the process had to be killed."""
        if self.returncode is not None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                self.returncode = f"killed: no exit within {timeout}s of SIGTERM"
                return self.returncode
        self.returncode = self.proc.returncode
        return self.returncode

    def describe(self):
        extra_env = sorted(k for k in self.env if k not in PASSTHROUGH)
        return (
            f"todo-api {' '.join(self.argv[1:])} (pid {self.proc.pid}, port {self.port}, "
            f"cwd {self.cwd}, extra env {extra_env})\n"
            f"--- stderr ({self.stderr_path}) ---\n{self.stderr()[-8000:]}"
        )


class ServerFactory:
    def __init__(self, binary, tmp_path):
        self.binary = str(binary)
        self.tmp_path = Path(tmp_path)
        self.servers = []
        self._n = 0

    def workdir(self):
        self._n += 1
        d = self.tmp_path / f"cwd{self._n}"
        d.mkdir()
        return d

    def start(self, args=(), env=None, *, port=None, cwd=None, dotenv=None, expect_port=None,
              host="127.0.0.1", retries=5):
        """Starts todo-api and waits (bounded) until its port accepts TCP.

        args         extra command-line arguments
        env          extra environment on top of the clean one
        port         value for --port (default: a free port, retried if lost);
                     False: no --port flag, `expect_port` says where it listens
        cwd          working directory (default: a fresh empty temp dir, so no .env)
        dotenv       text of a .env file written into the working directory
        host         value for --host (None: no --host flag)
        """
        last = None
        for _attempt in range(retries):
            workdir = Path(cwd) if cwd is not None else self.workdir()
            if dotenv is not None:
                (workdir / ".env").write_text(dotenv)
            argv = [self.binary]
            if host is not None:
                argv += ["--host", host]
            if port is False:
                assert expect_port, "port=False needs expect_port"
                listen = expect_port
            else:
                listen = port if port is not None else free_port()
                argv += ["--port", str(listen)]
            argv += [str(a) for a in args]
            full_env = clean_env(env)
            self._n += 1
            stderr_path = self.tmp_path / f"server{self._n}.stderr"
            with open(stderr_path, "wb") as errf:
                proc = subprocess.Popen(argv, cwd=workdir, env=full_env,
                                        stdin=subprocess.DEVNULL, stdout=errf, stderr=errf,
                                        start_new_session=True)
            srv = Server(proc, listen, workdir, stderr_path, argv, full_env)
            self.servers.append(srv)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and proc.poll() is None:
                if port_accepts(listen) and proc.poll() is None:
                    return srv
                time.sleep(0.02)
            srv.start_failed = True
            rc = srv.stop()
            last = srv
            # Lost the race for a port we picked ourselves: pick another one.
            if port is None and rc == 1 and "cannot listen" in srv.stderr():
                continue
            break
        raise StartError(f"server did not start (exit code {last.returncode!r}, "
                         f"start timeout {START_TIMEOUT}s)\n{last.describe()}")

    def check_all(self):
        """Stops every server; returns the list of problems found."""
        problems = []
        for srv in self.servers:
            rc = srv.stop()
            reports = sanitizer_reports(srv.stderr())
            if reports:
                problems.append(f"sanitizer report {reports}\n{srv.describe()}")
            elif rc != 0 and not srv.start_failed:
                problems.append(f"exit code {rc!r} after SIGTERM (expected 0)\n{srv.describe()}")
        return problems


def run_todo_api(binary, args=(), env=None, cwd=None, timeout=None):
    """Runs todo-api to completion (--help, configuration errors); asserts no
    sanitizer report."""
    with tempfile.TemporaryDirectory(prefix="todo-api-cfg-") as empty:
        res = subprocess.run([str(binary)] + [str(a) for a in args], cwd=cwd or empty,
                             env=clean_env(env), stdin=subprocess.DEVNULL, capture_output=True,
                             text=True, timeout=timeout or START_TIMEOUT)
    reports = sanitizer_reports(res.stderr)
    assert not reports, f"sanitizer report {reports}:\n{res.stderr}"
    return res
