"""FerretDB (a MongoDB wire-compatible server, SQLite backend) for the store
tests: start it on a free loopback port in a temporary directory, wait until
pymongo can ping it, stop it (SIGTERM, bounded), restart it on the same port
and data directory, freeze it (SIGSTOP / SIGCONT), and count the commands it
logged.

The binary is $TOOLS_BIN/ferretdb (default <repo>/.tools/bin/ferretdb), built
by third_party/deps.sh (group `tools`).

Command counting reads FerretDB's own debug log (--log-level=debug, console
format), where every request is written out as a block:

    2026-11-28T15:01:35.855Z  DEBUG  clientconn/conn.go:263  Request message:
    {
      "FlagBits": "[]",
      "Checksum": int64(0),
      "Sections": [
        {
          "Kind": 0,
          "Document": {
            "find": "todos",
            "filter": {"tag": "t"},
            ...
            "$db": "MyDB",
          },
        },
      ],
    }
    \t{"name":"// 127.0.0.1:55216 -> 127.0.0.1:27999 "}

(checked by hand against FerretDB v1.24.2; the tests calibrate the counter
with a pymongo find before relying on it).
"""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import todo_harness as h

TOOLS_BIN = Path(os.environ.get("TOOLS_BIN") or (h.REPO / ".tools" / "bin"))
START_TIMEOUT = 20.0 * h.SLOW  # until pymongo's ping answers
STOP_TIMEOUT = 10.0  # SIGTERM -> exit, then SIGKILL


def ferretdb_path():
    return TOOLS_BIN / "ferretdb"


def available():
    p = ferretdb_path()
    return p.is_file() and os.access(p, os.X_OK)


def not_available_reason():
    return (f"FerretDB is not installed at {ferretdb_path()} (build it with "
            f"`bash third_party/deps.sh tools`, or point TOOLS_BIN at it)")


class FerretDBError(Exception):
    pass


_REQUEST_RE = re.compile(r"\tRequest message:\n(.*?)\n\t\{\"name\"", re.S)


class FerretDB:
    """One FerretDB process (re)started on a fixed port and data directory."""

    def __init__(self, workdir, port=None, log_level="info"):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or h.free_port()
        self.log_level = log_level
        self.log_path = self.dir / "ferretdb.log"
        self.proc = None
        self.paused = False
        self.starts = 0

    # -- addresses ---------------------------------------------------------
    @property
    def uri(self):
        return f"mongodb://127.0.0.1:{self.port}/"

    def client(self, timeout_ms=5000):
        import pymongo

        return pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=timeout_ms,
                                   connectTimeoutMS=timeout_ms, socketTimeoutMS=timeout_ms * 4,
                                   directConnection=True)

    # -- life cycle --------------------------------------------------------
    def argv(self):
        return [str(ferretdb_path()), "--handler=sqlite", f"--sqlite-url=file:{self.dir}/",
                f"--state-dir={self.dir}", f"--listen-addr=127.0.0.1:{self.port}",
                "--debug-addr=-", "--telemetry=disable", f"--log-level={self.log_level}"]

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=START_TIMEOUT):
        """Starts FerretDB and waits (bounded) until pymongo's ping answers."""
        assert not self.running(), "FerretDB already running"
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start #{self.starts} =====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.argv(), cwd=self.dir, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, env=h.clean_env(),
                                         start_new_session=True)
        self.paused = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise FerretDBError(f"FerretDB exited with {self.proc.returncode} at start-up\n"
                                    f"{self.describe()}")
            if h.port_accepts(self.port) and self.ping(timeout_ms=1000):
                return self
            time.sleep(0.05)
        self.stop()
        raise FerretDBError(f"FerretDB did not answer a ping within {timeout}s\n{self.describe()}")

    def ping(self, timeout_ms=1000):
        import pymongo.errors

        client = self.client(timeout_ms)
        try:
            return client.admin.command("ping").get("ok") == 1
        except pymongo.errors.PyMongoError:
            return False
        finally:
            client.close()

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGCONT (if frozen), SIGTERM and a bounded wait, then SIGKILL."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            if self.paused:
                self.resume()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        # The port must be free again before a restart on it.
        assert h.wait_until(lambda: not h.port_accepts(self.port), 5.0), \
            f"port {self.port} still accepts after FerretDB stopped"
        return self.proc.returncode

    def restart(self):
        self.stop()
        return self.start()

    def kill(self):
        """SIGKILL: the database dies at once, mid-request, with no shutdown."""
        assert self.running()
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.paused = False
        assert h.wait_until(lambda: not h.port_accepts(self.port), 5.0), \
            f"port {self.port} still accepts after FerretDB was killed"

    def pause(self):
        """SIGSTOP: connections stay open (the kernel still accepts), nothing answers."""
        assert self.running()
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True
        # The stop takes effect asynchronously: wait (bounded) until every
        # thread is stopped, or a busy machine lets a query slip through.
        deadline = time.monotonic() + 10
        task = Path(f"/proc/{self.proc.pid}/task")
        while time.monotonic() < deadline:
            states = []
            for t in task.iterdir():
                try:
                    states.append((t / "stat").read_text().rsplit(")", 1)[1].split()[0])
                except OSError:
                    pass
            if states and all(s in ("T", "t") for s in states):
                return
            time.sleep(0.01)
        raise AssertionError("FerretDB did not stop within 10 s of SIGSTOP")

    def resume(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    # -- diagnostics -------------------------------------------------------
    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def describe(self):
        pid = self.proc.pid if self.proc else None
        return (f"ferretdb (pid {pid}, port {self.port}, dir {self.dir}, log level "
                f"{self.log_level})\n--- log tail ({self.log_path}) ---\n{self.log_text()[-4000:]}")

    def requests(self):
        """Every request document FerretDB logged (debug level), as text blocks."""
        assert self.log_level.lower() == "debug", "command counting needs log_level='debug'"
        return _REQUEST_RE.findall(self.log_text())

    def count_commands(self, db, collection, commands=("find",)):
        """How many commands named in `commands` (e.g. find) FerretDB received
        for db.collection, read from its debug log."""
        n = 0
        for block in self.requests():
            if f'"$db": "{db}"' not in block:
                continue
            for cmd in commands:
                if re.search(r'^\s*"' + re.escape(cmd) + r'": "' + re.escape(collection) + r'",$',
                             block, re.M):
                    n += 1
                    break
        return n
