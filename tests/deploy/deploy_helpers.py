"""Helpers for tests/deploy: paths, the blue-green tool, servers, the fake cluster."""

import importlib.machinery
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BLUEGREEN = ROOT / "deploy" / "bluegreen"
ENVS = ("dev", "staging", "prod")
TAG = "1700000000"
IMAGE_TAG = "deploy-test"
DEV_IMAGE = "localhost/todo-api"
# Manifests are validated against this Kubernetes version (kubernetes-validate's
# bundled schemas, strict: unknown fields fail).
KUBERNETES_VERSION = "1.34.0"


def load_bluegreen():
    """deploy/bluegreen as a module (its file has no .py suffix)."""
    loader = importlib.machinery.SourceFileLoader("bluegreen", str(BLUEGREEN))
    spec = importlib.util.spec_from_loader("bluegreen", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def bluegreen(*args, env=None, check=True, timeout=120, cwd=ROOT):
    """Runs deploy/bluegreen (its own python3 shebang) and returns the process."""
    p = subprocess.run([str(BLUEGREEN), *args], capture_output=True, text=True, cwd=cwd,
                       env=env or os.environ.copy(), timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"bluegreen {' '.join(args)} exited {p.returncode}:\n"
                             f"{p.stdout}\n{p.stderr}")
    return p


def podman(env, *args, check=True, timeout=120):
    p = subprocess.run(["podman", *args], capture_output=True, text=True, env=env, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p


def checkov(lint_bin, *args):
    """Runs checkov (tests/deploy/install-tools.sh) offline, compact, on the CLI."""
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false",
               LOG_LEVEL="ERROR")
    return subprocess.run([str(lint_bin / "checkov"), "--compact", "--quiet", "--skip-download",
                           "--output", "cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def checkov_skips(doc):
    """The checkov exceptions an object's annotations carry: [(check, reason)]."""
    out = []
    for k, v in ((doc.get("metadata") or {}).get("annotations") or {}).items():
        if k.startswith("checkov.io/skip"):
            check, _, reason = v.partition("=")
            out.append((check, reason))
    return out


def read_env(name):
    return load_bluegreen().read_env_file(ROOT / "env" / f".env.{name}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def health_status(addr, service="", timeout=1.0):
    """The gRPC health status name of `service` at addr, or None when unreachable."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(addr) as ch:
        try:
            resp = health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError:
            return None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)


class TodoServer:
    """A real todo-api on a loopback port (the target of the fake port-forward)."""

    def __init__(self, binary, tmp, env):
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.log = open(tmp / f"todo-api-{self.port}.log", "w+")
        e = {k: v for k, v in os.environ.items() if k not in ("ENV_FILE",)}
        e.update({"SERVER_HOST": "127.0.0.1", "SERVER_PORT": str(self.port), "ADMIN_PORT": "0",
                  "DRAIN_DELAY": "0s", "SHUTDOWN_GRACE": "2s"})
        e.update(env)
        self.proc = subprocess.Popen([binary], stdout=self.log, stderr=subprocess.STDOUT, env=e,
                                     cwd=tmp)
        ok = wait_until(lambda: self.proc.poll() is not None or listening(self.port), 10)
        if self.proc.poll() is not None or not ok:
            self.log.seek(0)
            raise AssertionError(f"todo-api did not start: {self.log.read()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class FakeCluster:
    """A PATH with the kubectl test double (fake_kubectl.py) and podman/kind test
    doubles (fake_tool.py), a state file for the fake cluster, and the logs of
    every call they got."""

    def __init__(self, tmp, tools_bin):
        self.dir = tmp
        self.bin = tmp / "bin"
        self.bin.mkdir()
        self.state_file = tmp / "cluster.json"
        self.log_file = tmp / "kubectl-calls.jsonl"
        self.tools_log = tmp / "tool-calls.jsonl"
        for f in (self.log_file, self.tools_log):
            f.write_text("")
        self._wrap("kubectl", HERE / "fake_kubectl.py")
        for name in ("podman", "docker", "kind", "minikube"):
            self._wrap(name, HERE / "fake_tool.py")
        self.state = {"objects": {}, "fail": {}, "forward": {}}
        self.save()
        self.env = dict(os.environ)
        self.env.update({"PATH": f"{self.bin}:{os.environ.get('PATH', '')}",
                         "FAKE_KUBECTL_STATE": str(self.state_file),
                         "FAKE_KUBECTL_LOG": str(self.log_file),
                         "FAKE_TOOLS_LOG": str(self.tools_log), "TOOLS_BIN": tools_bin})
        self.env.pop("SMOKE_TOKEN", None)

    def _wrap(self, name, script):
        # The name the tool runs is the real one; the file it runs is the double.
        w = self.bin / name
        w.write_text(f"#!/bin/sh\nFAKE_TOOL_NAME={name} exec {sys.executable} {script} \"$@\"\n")
        w.chmod(0o755)

    def save(self):
        self.state_file.write_text(json.dumps(self.state))

    def load(self):
        self.state = json.loads(self.state_file.read_text())
        return self.state

    def calls(self):
        return [json.loads(line) for line in self.log_file.read_text().splitlines()]

    def tool_calls(self):
        return [json.loads(line) for line in self.tools_log.read_text().splitlines()]

    def commands(self):
        """The kubectl calls without the --context/--namespace prefix."""
        out = []
        for c in self.calls():
            a = c["argv"]
            while a and a[0] in ("--context", "--namespace"):
                a = a[2:]
            out.append(a)
        return out

    def applied(self):
        """(kind, name) of every object applied, in order."""
        import yaml

        out = []
        for c in self.calls():
            if c["stdin"]:
                for d in yaml.safe_load_all(c["stdin"]):
                    if d:
                        out.append((d["kind"], d["metadata"]["name"]))
        return out

    def add_live(self, color, tag="1600000000", replicas=1):
        """A color that a previous release left: its Deployment and the Service on it."""
        import yaml

        bg = load_bluegreen()
        env = read_env("dev")
        variables = dict(env, TAG=tag, COLOR=color, ENV_FILE="env/.env.dev", REPLICAS=str(replicas))
        for name in ("deployment.yaml", "service.yaml"):
            text = bg.render_text((ROOT / "deploy" / name).read_text(), variables)
            for d in yaml.safe_load_all(text):
                if d and d["kind"] in ("Deployment", "Service"):
                    if d["kind"] == "Deployment":
                        d["status"] = {"replicas": replicas, "readyReplicas": replicas}
                    self.state["objects"][f"{d['kind'].lower()}/{d['metadata']['name']}"] = d
        self.save()

    def run(self, *args, check=False, timeout=120):
        return bluegreen("-e", "env/.env.dev", *args, env=self.env, check=check, timeout=timeout)

    def service_color(self):
        svc = self.load()["objects"].get("service/todo-api")
        return svc and svc["spec"]["selector"].get("color")
