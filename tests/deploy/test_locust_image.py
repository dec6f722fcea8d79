"""The Locust image (bench/locust/Dockerfile, built by bench/locust/build-image.sh
with podman, on the local Debian base as the server's image) run against a
todo-api on loopback: headless, and as a master with one worker, each
container with the restrictions of the Kubernetes manifests (read-only root,
no capabilities, no privilege escalation, the image's own user). And the
manifests of bench/locust/k8s/: kubernetes-validate (strict), yamllint,
checkov, and what they must say. (The Dockerfile's hadolint and checkov runs
are test_deploy_manifests.py's, parametrized over both Dockerfiles.)

Podman's layer cache keeps the image between runs: a cold build (apt and pip
inside it, the base image already made) took 70 s on a quiet machine and 5 min
with both cores busy; a warm one takes 3 to 6 s, and the tests of this file
then about 85 s."""

import csv
import os
import re
import subprocess
import time

import pytest
import yaml

import deploy_helpers as h

pytestmark = pytest.mark.timeout(900)  # a cold image build on a busy machine takes minutes

LOCUST = h.ROOT / "bench" / "locust"
K8S = LOCUST / "k8s"
IMAGE = "localhost/todo-api-loadtests"
NAMESPACE = "todo-api-loadtests"
# What every Locust container of these tests gets, as the manifests' securityContext.
RESTRICTED = ("--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt",
              "no-new-privileges")


# ---- the image -------------------------------------------------------------------

@pytest.fixture(scope="module")
def locust_image(podman, metrics):
    ref = f"{IMAGE}:{h.IMAGE_TAG}"
    t0 = time.monotonic()
    p = subprocess.run([str(LOCUST / "build-image.sh"), h.IMAGE_TAG], capture_output=True,
                       text=True, env=dict(podman, IMAGE=IMAGE, IMAGE_ENGINE="podman"),
                       timeout=900)
    assert p.returncode == 0, f"Locust image build failed:\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}"
    metrics["locust image build (s)"] = round(time.monotonic() - t0, 1)
    size = int(h.podman(podman, "image", "inspect", "--format", "{{.Size}}", ref).stdout.strip())
    metrics["locust image size (MB)"] = round(size / 1e6, 1)
    return ref


@pytest.fixture
def todo_api(todo_api_bin, tmp_path):
    srv = h.TodoServer(todo_api_bin, tmp_path, {"STORE": "memory", "LOG_LEVEL": "warn"})
    yield srv
    srv.stop()


@pytest.fixture
def containers(podman):
    """Starts detached containers (host network, restricted) and removes them."""
    names = []

    def run(image, *args, env=(), reports=None):
        name = f"locust-test-{os.getpid()}-{len(names)}"
        names.append(name)
        vol = []
        if reports is not None:
            reports.mkdir()
            os.chown(reports, 10001, 10001)  # the image's user writes the reports
            vol = ["-v", f"{reports}:/locust/reports:Z"]
        envs = [x for k, v in dict(env).items() for x in ("-e", f"{k}={v}")]
        h.podman(podman, "run", "-d", "--name", name, "--network", "host", *RESTRICTED, *vol,
                 *envs, *args, image)
        return name

    yield run
    for n in names:
        h.podman(podman, "rm", "-f", "-t", "0", n, check=False)


def wait_exit(podman, name, timeout):
    """The container's exit code, once it has exited by itself."""
    try:
        p = h.podman(podman, "wait", name, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name} still runs after {timeout} s:\n{logs(podman, name)[-3000:]}")
    assert p.returncode == 0, p.stderr
    return int(p.stdout.strip())


def logs(podman, name):
    p = h.podman(podman, "logs", name, check=False)
    return p.stdout + p.stderr


def stats(reports):
    """{name: row} of Locust's locust_stats.csv."""
    with open(reports / "locust_stats.csv", newline="") as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


def assert_clean_run(reports, min_requests):
    rows = stats(reports)
    agg = rows["Aggregated"]
    failures = (reports / "locust_failures.csv").read_text()
    assert int(agg["Failure Count"]) == 0, failures
    assert int(agg["Request Count"]) >= min_requests, agg
    assert int(rows["GetTodos"]["Request Count"]) > 0, rows["GetTodos"]
    assert all(r["Type"] == "grpc" for n, r in rows.items() if n != "Aggregated"), rows
    assert len(failures.strip().splitlines()) == 1, failures  # the header alone
    assert (reports / "report.html").stat().st_size > 1000
    return rows


def test_locust_image_config(podman, locust_image):
    cfg = h.podman(podman, "image", "inspect", "--format", "{{json .Config}}", locust_image).stdout
    cfg = yaml.safe_load(cfg)
    assert cfg["User"] == "10001:10001"
    assert cfg["Entrypoint"] == ["/locust/run.sh"]
    assert set(cfg["ExposedPorts"]) == {"8089/tcp", "5557/tcp"}
    env = dict(e.split("=", 1) for e in cfg["Env"])
    assert env["REPORT_DIR"] == "/locust/reports" and env["LOCUST_MODE"] == "standalone"
    # The build secret (pip's CA bundle) leaves nothing behind; stubs are pre-generated.
    p = h.podman(podman, "run", "--rm", "--network", "none", *RESTRICTED, "--entrypoint", "sh",
                 locust_image, "-c", "ls /run/secrets 2>/dev/null; ls /locust/gen; locust --version")
    out = p.stdout.split()
    assert "pip-ca" not in out and "todos_pb2.py" in out and "todos_pb2_grpc.py" in out, p.stdout
    assert "2.47.0" in p.stdout


def test_locust_image_headless_as_non_root(podman, locust_image, todo_api, containers, tmp_path,
                                           metrics):
    """10 s, 30 users, the image's run.sh in headless mode: zero failures in the
    CSV it writes into the mounted report directory, as user 10001."""
    reports = tmp_path / "reports"
    t0 = time.monotonic()
    name = containers(locust_image, env={"LOCUST_MODE": "headless", "TARGET_HOST": todo_api.addr,
                                         "USERS": 30, "SPAWN_RATE": 30, "RUN_TIME": "10s"},
                      reports=reports)
    # The process (PID 1, run.sh exec'd into locust) runs as the image's user.
    status = h.wait_until(lambda: h.podman(podman, "exec", name, "cat", "/proc/1/status",
                                           check=False).stdout, 15)
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert fields["Uid"].split() == ["10001"] * 4 and fields["Gid"].split() == ["10001"] * 4, fields
    assert int(fields["CapEff"], 16) == 0 and fields["NoNewPrivs"].strip() == "1", fields
    code = wait_exit(podman, name, 90)
    metrics["locust headless container run (s)"] = round(time.monotonic() - t0, 1)
    assert code == 0, logs(podman, name)[-3000:]
    rows = assert_clean_run(reports, 100)
    for n in ("ListTodos", "GetTodo", "CreateTodo"):
        assert int(rows[n]["Request Count"]) > 0, n
    assert {p.stat().st_uid for p in reports.iterdir()} == {10001}
    assert todo_api.proc.poll() is None


def test_locust_image_distributed_master_and_worker(podman, locust_image, todo_api, containers,
                                                    tmp_path, metrics):
    """The image as a headless master (EXPECT_WORKERS=1) and one worker, the
    Kubernetes topology on loopback: the master runs no users itself, so every
    request in its CSV is one the worker reported."""
    reports = tmp_path / "reports"
    port = h.free_port()
    common = {"TARGET_HOST": todo_api.addr, "MASTER_PORT": port}
    t0 = time.monotonic()
    master = containers(locust_image, env=dict(
        common, LOCUST_MODE="master", EXPECT_WORKERS=1, LOCUST_EXPECT_WORKERS_MAX_WAIT=60,
        LOCUST_MASTER_BIND_HOST="127.0.0.1",
        USERS=20, SPAWN_RATE=20, RUN_TIME="8s"), reports=reports)
    worker = containers(locust_image, env=dict(common, LOCUST_MODE="worker",
                                               LOCUST_MASTER="127.0.0.1"))
    code = wait_exit(podman, master, 90)
    master_log = logs(podman, master)
    assert code == 0, master_log[-3000:]
    # The worker leaves when the master tells it to quit.
    assert wait_exit(podman, worker, 30) == 0, logs(podman, worker)[-3000:]
    metrics["locust distributed containers run (s)"] = round(time.monotonic() - t0, 1)
    assert re.search(r"reported as ready\. 1 workers connected", master_log), master_log[-3000:]
    assert_clean_run(reports, 50)
    assert todo_api.proc.poll() is None


# ---- the manifests ---------------------------------------------------------------

def manifest_files():
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def k8s_objects():
    """{(kind, name): object} of every manifest in bench/locust/k8s."""
    out = {}
    for p in manifest_files():
        for d in yaml.safe_load_all(p.read_text()):
            if d:
                out[(d["kind"], d["metadata"]["name"])] = d
    return out


def test_locust_manifests_kubernetes_validate_strict():
    files = manifest_files()
    p = subprocess.run([str(h.ROOT / ".venv" / "bin" / "kubernetes-validate"), "--strict", "-k",
                        h.KUBERNETES_VERSION, *map(str, files)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count("passed") == len(k8s_objects()), p.stdout


def test_locust_manifests_yamllint():
    p = subprocess.run([str(h.ROOT / ".venv" / "bin" / "yamllint"), "--strict", "-c",
                        str(h.HERE / "yamllint.yaml"), *map(str, sorted(K8S.glob("*.yaml")))],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr


def test_locust_manifests_checkov(lint_bin):
    p = h.checkov(lint_bin, "-d", str(K8S), "--framework", "kubernetes")
    assert p.returncode == 0, f"checkov:\n{p.stdout[-6000:]}\n{p.stderr[-2000:]}"
    assert re.search(r"Passed checks: [1-9]\d*, Failed checks: 0", p.stdout), p.stdout
    # As in deploy/: every exception is written next to what it excuses, with its reason.
    for obj in k8s_objects().values():
        for check, reason in h.checkov_skips(obj):
            assert re.fullmatch(r"CKV2?_[A-Z0-9]+_\d+", check) and len(reason) > 30, (check, reason)


def test_locust_manifests_say_what_they_must():
    objs = k8s_objects()
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kust["resources"]) == sorted(p.name for p in manifest_files())
    ns = objs[("Namespace", NAMESPACE)]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for (kind, name), o in objs.items():
        if kind != "Namespace":
            assert o["metadata"]["namespace"] == NAMESPACE, (kind, name)
        assert o["metadata"]["labels"]["component"] == "todo-api", (kind, name)
    # The server's Service of the dev environment, by its in-cluster name.
    dev = h.read_env("dev")
    target = f"{dev['SERVICE_NAME']}.{dev['NAMESPACE']}.svc.cluster.local:{dev['SERVICE_PORT']}"
    run_sh = (LOCUST / "run.sh").read_text()
    dockerfile = (LOCUST / "Dockerfile").read_text()
    assert re.search(r"^USER 10001:10001$", dockerfile, flags=re.M)
    svc = objs[("Service", "locust-master")]
    pods = {}
    for role in ("locust-master", "locust-worker"):
        dep = objs[("Deployment", role)]
        labels = {"component": "todo-api", "role": role}
        assert dep["spec"]["selector"]["matchLabels"] == labels
        tmpl = dep["spec"]["template"]
        tag = dep["metadata"]["labels"]["tag"]
        assert tmpl["metadata"]["labels"] == dict(labels, tag=tag)
        pod = pods[role] = tmpl["spec"]
        assert pod["automountServiceAccountToken"] is False and pod["enableServiceLinks"] is False
        psc = pod["securityContext"]
        assert psc["runAsNonRoot"] and psc["runAsUser"] == 10001 and psc["runAsGroup"] == 10001
        assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in pod.get("initContainers", []) + pod["containers"]:
            assert c["image"] == f"todo-api-loadtests:{tag}", c["name"]
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"], c["name"]
            assert sc["allowPrivilegeEscalation"] is False and sc["privileged"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}, c["name"]
            res = c["resources"]
            assert set(res) == {"requests", "limits"} and all(
                set(res[k]) == {"cpu", "memory"} for k in res), c["name"]
        (c,) = pod["containers"]
        env = {e["name"]: e["value"] for e in c["env"]}
        assert env["TARGET_HOST"] == target
        assert f"  {env['LOCUST_MODE']})" in run_sh, env["LOCUST_MODE"]
        assert int(env["MASTER_PORT"]) == 5557
        # The container writes to its emptyDir volumes only.
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert "/tmp" in mounts
        # NetworkPolicy of its own.
        net = objs[("NetworkPolicy", role)]
        assert net["spec"]["podSelector"]["matchLabels"] == labels
        assert net["spec"]["policyTypes"] == ["Ingress"]
    master = pods["locust-master"]["containers"][0]
    worker = pods["locust-worker"]["containers"][0]
    assert {e["name"]: e["value"] for e in master["env"]}["LOCUST_MODE"] == "master"
    assert {e["name"]: e["value"] for e in worker["env"]}["LOCUST_MODE"] == "worker"
    # The Service selects the master's pods, and names the master's ports.
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["selector"] == objs[("Deployment", "locust-master")]["spec"]["selector"][
        "matchLabels"]
    ports = {p["name"]: p["containerPort"] for p in master["ports"]}
    assert ports == {"web": 8089, "master": 5557}
    assert {(p["name"], p["port"], p["targetPort"]) for p in svc["spec"]["ports"]} == {
        ("web", 8089, "web"), ("master", 5557, "master")}
    assert "/locust/reports" in {m["mountPath"] for m in master["volumeMounts"]}
    # Probes on the workers' port, open in both of the master's modes.
    for probe in ("readinessProbe", "livenessProbe"):
        assert master[probe]["tcpSocket"] == {"port": "master"}, probe
    # Workers find the master by the Service's name (and wait for it to resolve).
    assert {e["name"]: e["value"] for e in worker["env"]}["LOCUST_MASTER"] == svc["metadata"]["name"]
    (init,) = pods["locust-worker"]["initContainers"]
    assert f'"{svc["metadata"]["name"]}", 5557' in "".join(init["command"])
    # Only workers reach the master's worker port.
    rules = objs[("NetworkPolicy", "locust-master")]["spec"]["ingress"]
    to_5557 = [r for r in rules if any(p["port"] == 5557 for p in r["ports"])]
    assert [r["from"] for r in to_5557] == [[{"podSelector": {"matchLabels": {
        "component": "todo-api", "role": "locust-worker"}}}]]
    assert objs[("NetworkPolicy", "locust-worker")]["spec"]["ingress"] == []
