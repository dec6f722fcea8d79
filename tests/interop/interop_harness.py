"""Helpers for the interop tests (tests/interop): find and run build/interop-server.
The pytest fixtures wrapping them live in conftest.py; this module has its own
name so that it never collides with the conftest modules of other test
directories collected in the same pytest session.

Environment (the Makefile sets them; defaults make a plain `pytest tests/interop`
from the repository root work):
  INTEROP_SERVER_BIN  the interop server binary (default <repo>/build/interop-server)
  TOOLS_BIN           where third_party/deps.sh puts the Go tools (default <repo>/.tools/bin)
  SANITIZER           empty, or the sanitizers the binary was built with; makes
                      every timeout more generous (inferred from a build-* directory
                      name when unset)
"""

import os
import selectors
import signal
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOLS_BIN = Path(os.environ.get("TOOLS_BIN") or REPO / ".tools" / "bin")


def server_bin() -> Path:
    p = Path(os.environ.get("INTEROP_SERVER_BIN") or REPO / "build" / "interop-server")
    return p if p.is_absolute() else REPO / p


def _sanitizer() -> str:
    s = os.environ.get("SANITIZER", "").strip()
    if s:
        return s
    parent = server_bin().parent.name
    return parent[len("build-"):] if parent.startswith("build-") else ""


SANITIZER = _sanitizer()
# Sanitized binaries start, run and (with LeakSanitizer) exit several times slower.
SLOW = 4.0 if SANITIZER else 1.0
START_TIMEOUT = 10.0 * SLOW  # until "listening on PORT"
STOP_TIMEOUT = 20.0 * SLOW  # SIGTERM -> exit (includes the 2 s grace and leak checking)
CLIENT_TIMEOUT = 60.0 * SLOW  # one run of an external interop client
CALL_TIMEOUT = 10.0 * SLOW  # one RPC from the Python client
TEST_TIMEOUT = int(180 * SLOW)  # pytest-timeout, per test

SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "WARNING: ThreadSanitizer",
    "ERROR: ThreadSanitizer",
    "ERROR: UndefinedBehaviorSanitizer",
)

# Test certificates of the official interop suite (server1.pem has SAN
# *.test.google.fr), from Debian's ruby-grpc.
TESTDATA = Path("/usr/lib/x86_64-linux-gnu/rubygems-integration/3.1.0/gems/grpc-1.51.1/"
                "src/ruby/spec/testdata")
TLS_HOST_OVERRIDE = "foo.test.google.fr"

# Only these variables reach the server from the test runner's environment.
PASSTHROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "ASAN_OPTIONS", "UBSAN_OPTIONS",
               "LSAN_OPTIONS", "TSAN_OPTIONS", "ASAN_SYMBOLIZER_PATH", "LLVM_SYMBOLIZER_PATH")


class StartError(Exception):
    pass


class InteropServer:
    """One interop-server process on 127.0.0.1 and a free port."""

    host = "127.0.0.1"

    def __init__(self, binary: Path, workdir: Path, args=()):
        self.args = [str(binary), "--port=0", f"--host={self.host}", *args]
        self.stderr_path = workdir / f"interop-server-{time.monotonic_ns()}.stderr"
        env = {k: v for k, v in os.environ.items() if k in PASSTHROUGH}
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._stderr, env=env, cwd=workdir)
        self.returncode = None
        try:
            self.port = self._read_port()
        except StartError:
            self.stop()
            raise

    def _read_port(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        buf = b""
        try:
            while time.monotonic() < deadline:
                if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    break
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    raise StartError(f"interop-server exited before listening "
                                     f"(rc={self.proc.wait(5)}):\n{self.stderr_text()}")
                buf += chunk
                for line in buf.decode(errors="replace").splitlines():
                    if line.startswith("listening on "):
                        return int(line.split()[2])
        finally:
            sel.close()
        raise StartError(f"interop-server printed no 'listening on PORT' within "
                         f"{START_TIMEOUT:g} s:\n{self.stderr_text()}")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def stderr_text(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def stop(self):
        """SIGTERM, bounded wait (then SIGKILL); returns the exit code."""
        if self.returncode is None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.returncode = self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                self.returncode = "hung after SIGTERM (killed)"
            self.proc.stdout.close()
            self._stderr.close()
        return self.returncode

    def problems(self) -> list:
        rc = self.stop()
        err = self.stderr_text()
        found = []
        if rc != 0:
            found.append(f"interop-server exit status {rc} (want 0)")
        found += [f"sanitizer report on stderr: {m!r}" for m in SANITIZER_MARKERS if m in err]
        if found:
            tail = "\n".join(err.splitlines()[-60:])
            found.append(f"stderr ({self.stderr_path}), last lines:\n{tail}")
        return found


