"""The container image, built and run with podman (base image made locally by
deploy/podman-base.sh), and the rendered dev Deployment run by `podman kube
play`. gRPC calls come from the host: grpcio with stubs from proto/todos.proto,
health through grpcio-health-checking. These run the in-memory store
(STORE=memory), except the last test, which runs the seed command and the
server on MongoDB's wire protocol against FerretDB on loopback."""

import base64
import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
import yaml

import deploy_helpers as h

pytestmark = pytest.mark.timeout(900)


def wait_serving(addr, timeout=30):
    return h.wait_until(lambda: h.health_status(addr, "grpc.Todos", timeout=0.5) == "SERVING",
                        timeout, interval=0.02)


def get_todos(pb, addr):
    todos_pb2, todos_pb2_grpc = pb
    with grpc.insecure_channel(addr) as ch:
        return todos_pb2_grpc.TodosStub(ch).GetTodos(todos_pb2.Request(token="xyz"), timeout=5)


@pytest.fixture
def container(podman, image, request):
    names = []

    def run(*args):
        name = f"todo-api-test-{os.getpid()}-{len(names)}"
        names.append(name)
        h.podman(podman, "run", "-d", "--name", name, *args)
        return name

    yield run
    for n in names:
        h.podman(podman, "rm", "-f", "-t", "0", n, check=False)


def test_image_serves_grpc_as_non_root(podman, image, container, pb, metrics):
    port = h.free_port()
    addr = f"127.0.0.1:{port}"
    t0 = time.monotonic()
    name = container("-p", f"{addr}:8001", "-e", "STORE=memory", image)
    assert wait_serving(addr), h.podman(podman, "logs", name).stderr
    serving_at = time.time()
    metrics["`podman run -d` to SERVING (s)"] = round(time.monotonic() - t0, 3)
    started = int(h.podman(podman, "inspect", "--format", "{{.State.StartedAt.UnixNano}}",
                           name).stdout.strip()) / 1e9
    metrics["container process start to SERVING (s)"] = round(serving_at - started, 3)
    assert h.health_status(addr, "") == "SERVING"
    resp = get_todos(pb, addr)
    assert [(t.title, t.tag, t.priority) for t in resp.todos] == [("Add my todos", "default", 1)]
    # Not root, by the image's numeric USER.
    cfg = json.loads(h.podman(podman, "image", "inspect", image).stdout)[0]["Config"]
    assert cfg["User"] == "10001:10001"
    assert list(cfg["ExposedPorts"]) == ["8001/tcp"]
    assert cfg["Entrypoint"] == ["/usr/local/bin/todo-api"]
    assert h.podman(podman, "exec", name, "id", "-u").stdout.strip() == "10001"
    # The .env it reads is env/.env.dev, and its log is JSON (LOG_FORMAT from it).
    env_file = h.podman(podman, "exec", name, "cat", "/app/.env").stdout
    assert env_file == (h.ROOT / "env" / ".env.dev").read_text()
    logs = h.podman(podman, "logs", name)
    first = json.loads((logs.stdout + logs.stderr).splitlines()[0])
    assert "in-memory store" in first["msg"]
    # SIGTERM: NOT_SERVING, DRAIN_DELAY, GOAWAY, exit 0 within the grace period.
    t0 = time.monotonic()
    h.podman(podman, "stop", "-t", "30", name, timeout=60)
    stopped = time.monotonic() - t0
    state = json.loads(h.podman(podman, "inspect", name).stdout)[0]["State"]
    assert state["ExitCode"] == 0, state
    assert 4 <= stopped < 30, f"stopped in {stopped:.1f} s (DRAIN_DELAY=5s)"
    logs = h.podman(podman, "logs", name)
    assert "shutdown complete" in logs.stdout + logs.stderr


def test_image_contents(podman, image, metrics):
    size = metrics["image size (bytes)"]
    assert size < 200e6, f"image is {size / 1e6:.0f} MB"
    # Every library the binary needs is there, and no compiler is.
    p = h.podman(podman, "run", "--rm", "--network", "none", "--entrypoint", "ldd", image,
                 "/usr/local/bin/todo-api")
    assert "not found" not in p.stdout, p.stdout
    p = h.podman(podman, "run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c",
                 "for c in cc gcc make protoc-c apt-get; do command -v $c; done; ls -A /app; "
                 "test -w / || echo no-write",
                 check=False)
    assert p.stdout.split() == ["/usr/bin/apt-get", ".env", "no-write"], p.stdout
    p = h.podman(podman, "run", "--rm", "--network", "none", image, "--version")
    assert p.stdout.startswith("todo-api ")


def test_podman_kube_play_dev_deployment(podman, image, pb, tmp_path, metrics):
    """The rendered dev Deployment (its ConfigMap and Secret volume included)
    runs under `podman kube play`, with STORE=memory; the pod's gRPC health
    and GetTodos answer on loopback, its admin /healthz too."""
    uniq = f"kp{os.getpid()}"
    name, secret = f"todo-api-{uniq}", f"todo-api-secrets-{uniq}"
    out = tmp_path / "m"
    h.bluegreen("-e", "env/.env.dev", "render", "--tag", h.IMAGE_TAG, "--out", str(out),
                "--set", "STORE=memory", "--set", f"SERVICE_NAME={name}",
                "--set", f"SECRET_NAME={secret}")
    docs = [d for d in yaml.safe_load_all((out / "deployment.yaml").read_text()) if d]
    cm = next(d for d in docs if d["kind"] == "ConfigMap")
    dep = next(d for d in docs if d["kind"] == "Deployment")
    assert cm["data"]["STORE"] == "memory"
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == image
    # podman kube play publishes only hostPorts: the one change made for the
    # test, onto loopback.
    ports = {}
    for p in c["ports"]:
        ports[p["name"]] = p["hostPort"] = h.free_port()
        p["hostIP"] = "127.0.0.1"
    (tmp_path / "cm.yaml").write_text(yaml.safe_dump(cm))
    (tmp_path / "dep.yaml").write_text(yaml.safe_dump(dep))
    # podman's secret store holds a Kubernetes Secret (data base64-encoded).
    b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    (tmp_path / "secret.json").write_text(json.dumps({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret},
        "data": {"mongo-uri": b64("mongodb://127.0.0.1:1/"), "auth-tokens": b64("")}}))
    h.podman(podman, "secret", "rm", secret, check=False)
    h.podman(podman, "secret", "create", secret, str(tmp_path / "secret.json"))
    try:
        t0 = time.monotonic()
        p = h.podman(podman, "kube", "play", "--replace", "--configmap", str(tmp_path / "cm.yaml"),
                     str(tmp_path / "dep.yaml"), check=False, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr
        addr = f"127.0.0.1:{ports['grpc']}"
        ctr = f"{name}-blue-pod-0-{name}"
        assert wait_serving(addr), h.podman(podman, "logs", ctr, check=False).stderr
        metrics["kube play to SERVING (s)"] = round(time.monotonic() - t0, 3)
        assert h.health_status(addr, "") == "SERVING"
        assert len(get_todos(pb, addr).todos) == 1
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['admin']}/healthz", timeout=5) as r:
            assert r.status == 200
        info = json.loads(h.podman(podman, "inspect", ctr).stdout)[0]
        assert info["Config"]["User"] == "10001:10001"
        assert info["HostConfig"]["ReadonlyRootfs"] is True
        # capabilities: drop ALL and allowPrivilegeEscalation: false, as the process sees them.
        status = dict(line.split(":\t", 1) for line in h.podman(
            podman, "exec", ctr, "cat", "/proc/1/status").stdout.splitlines() if ":\t" in line)
        assert int(status["CapEff"], 16) == int(status["CapBnd"], 16) == 0, status
        assert status["NoNewPrivs"].strip() == "1"
        env = h.podman(podman, "exec", ctr, "cat", "/proc/1/environ").stdout.split("\0")
        assert "COLOR=blue" in env and "STORE=memory" in env and "MAX_CONNECTION_AGE=5m" in env
        # The Secret is mounted as files (podman 4.3 writes `data` still base64-encoded;
        # Kubernetes decodes it).
        uri = h.podman(podman, "exec", ctr, "cat", "/var/run/secrets/todo-api/mongo-uri").stdout
        assert uri in ("mongodb://127.0.0.1:1/", b64("mongodb://127.0.0.1:1/"))
        logs = h.podman(podman, "logs", ctr)
        assert "in-memory store" in logs.stdout + logs.stderr
    finally:
        subprocess.run(["podman", "kube", "down", str(tmp_path / "dep.yaml")], env=podman,
                       capture_output=True, timeout=120)
        h.podman(podman, "volume", "rm", "-f", secret, check=False)
        h.podman(podman, "secret", "rm", secret, check=False)


def test_image_seeds_and_serves_mongodb(podman, image, pb, tmp_path):
    """The seed Job's command (`todo-api seed`, the image's entrypoint with
    args [seed]) and the server on MongoDB, with the image's own libmongoc,
    against FerretDB on loopback (host network: the database is the host's)."""
    ferret = h.ROOT / ".tools" / "bin" / "ferretdb"
    if os.environ.get("TOOLS_BIN"):
        ferret = Path(os.environ["TOOLS_BIN"]) / "ferretdb"
    assert ferret.is_file(), f"no FerretDB at {ferret} (make deps-test builds it)"
    dbport = h.free_port()
    with open(tmp_path / "ferretdb.log", "w") as log:
        db = subprocess.Popen([str(ferret), "--handler=sqlite", f"--sqlite-url=file:{tmp_path}/",
                               f"--state-dir={tmp_path}", f"--listen-addr=127.0.0.1:{dbport}",
                               "--debug-addr=-", "--telemetry=disable", "--log-level=error"],
                              stdout=log, stderr=subprocess.STDOUT)
    name = f"todo-api-mongo-{os.getpid()}"
    try:
        assert h.wait_until(lambda: h.listening(dbport), 20), "FerretDB did not start"
        db_env = ["-e", f"MONGO_URI=mongodb://127.0.0.1:{dbport}/", "-e", "DB_TIMEOUT=5s"]
        for expect in ("1 todo inserted", "0 todos inserted"):  # idempotent
            p = h.podman(podman, "run", "--rm", "--network", "host", *db_env, image, "seed",
                         timeout=60, check=False)
            assert p.returncode == 0, p.stdout + p.stderr
            assert expect in p.stdout + p.stderr
        port = h.free_port()
        h.podman(podman, "run", "-d", "--name", name, "--network", "host", *db_env,
                 "-e", f"SERVER_PORT={port}", "-e", "SERVER_HOST=127.0.0.1", "-e", "ADMIN_PORT=0",
                 image)
        addr = f"127.0.0.1:{port}"
        assert wait_serving(addr), h.podman(podman, "logs", name).stderr
        todos = get_todos(pb, addr).todos
        assert [(t.title, t.tag, t.priority) for t in todos] == [("Add my todos", "default", 1)]
        assert len(todos[0].id) == 24, "a MongoDB ObjectId in hex, as the original"
    finally:
        h.podman(podman, "rm", "-f", "-t", "0", name, check=False)
        db.terminate()
        db.wait(10)
