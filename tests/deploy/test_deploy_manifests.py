"""deploy/*.yaml rendered for every env: kubernetes-validate (strict, pinned
version), yamllint, checkov, hadolint, and what each manifest must say."""

import os
import re
import subprocess

import pytest
import yaml

import deploy_helpers as h

pytestmark = pytest.mark.timeout(300)


def docs(text):
    return [d for d in yaml.safe_load_all(text) if d]


def objects(rendered, env):
    """{(kind, name): object} of every rendered manifest of env."""
    out = {}
    for text in rendered[env].values():
        for d in docs(text):
            out[(d["kind"], d["metadata"]["name"])] = d
    return out


def write(rendered, env, tmp_path):
    d = tmp_path / env
    d.mkdir()
    for name, text in rendered[env].items():
        (d / name).write_text(text)
    return d


# ---- rendering -------------------------------------------------------------------

def test_render_substitutes_every_variable_and_nothing_else(rendered):
    for env, files in rendered.items():
        assert set(files) >= {"namespace.yaml", "deployment.yaml", "db-seed.yaml", "service.yaml"}
        assert ("mongodb.yaml" in files) == (env == "dev")
        for name, text in files.items():
            assert not re.search(r"\$\{?[A-Za-z_]", text), f"{env}/{name} kept a $VAR"


def test_render_refuses_unknown_variables_and_substitutes_only_the_list():
    bg = h.load_bluegreen()
    with pytest.raises(bg.BlueGreenError, match=r"\$NOPE"):
        bg.render_text("a: $NOPE\n", {"A": "1"})
    # The longest name wins ($SERVICE_NAME_X is not $SERVICE_NAME + _X), and ${} works.
    out = bg.render_text("a: $SERVICE_NAME_X ${SERVICE_NAME}-x $SERVICE_NAME\n",
                         {"SERVICE_NAME": "s", "SERVICE_NAME_X": "t"})
    assert out == "a: t s-x s\n"


def test_make_manifests_renders_into_build(tmp_path):
    env = dict(os.environ, TAG=h.TAG)
    for e in h.ENVS:
        p = subprocess.run(["make", "--no-print-directory", "manifests", f"ENV={e}"], cwd=h.ROOT,
                           capture_output=True, text=True, env=env, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr
        out = h.ROOT / "build" / "manifests" / e
        got = sorted(x.name for x in out.iterdir())
        assert "deployment.yaml" in got and "service.yaml" in got, got
        assert f"image: {h.read_env(e)['IMAGE_NAME']}:{h.TAG}" in (out / "deployment.yaml").read_text()


def test_colors_differ_only_in_color(tmp_path):
    for color in ("blue", "green"):
        h.bluegreen("-e", "env/.env.dev", "render", "--tag", h.TAG, "--color", color, "--out",
                    str(tmp_path / color))
    for name in ("deployment.yaml", "service.yaml"):
        blue = (tmp_path / "blue" / name).read_text()
        green = (tmp_path / "green" / name).read_text()
        assert blue != green
        assert docs(re.sub(r"\bblue\b", "green", blue)) == docs(green)


# ---- validators -------------------------------------------------------------------

def test_kubernetes_validate_strict(rendered, tmp_path):
    files = []
    for env in h.ENVS:
        files += sorted(write(rendered, env, tmp_path).iterdir())
    p = subprocess.run([str(h.ROOT / ".venv" / "bin" / "kubernetes-validate"), "--strict", "-k",
                        h.KUBERNETES_VERSION, *map(str, files)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    n = sum(len(docs(t)) for env in h.ENVS for t in rendered[env].values())
    assert p.stdout.count("passed") == n, p.stdout
    # Strict means strict: an unknown field fails.
    bad = tmp_path / "bad.yaml"
    bad.write_text(rendered["dev"]["service.yaml"].replace("  type: ClusterIP",
                                                           "  type: ClusterIP\n  typo: 1"))
    p = subprocess.run([str(h.ROOT / ".venv" / "bin" / "kubernetes-validate"), "--strict", "-k",
                        h.KUBERNETES_VERSION, str(bad)], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "typo" in p.stdout + p.stderr


def test_yamllint(rendered, tmp_path):
    files = [str(p) for p in sorted((h.ROOT / "deploy").glob("*.yaml"))]
    for env in h.ENVS:
        files += [str(p) for p in sorted(write(rendered, env, tmp_path).iterdir())]
    p = subprocess.run([str(h.ROOT / ".venv" / "bin" / "yamllint"), "--strict", "-c",
                        str(h.HERE / "yamllint.yaml"), *files],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr


def test_checkov_manifests(rendered, tmp_path, lint_bin):
    for env in h.ENVS:
        d = write(rendered, env, tmp_path)
        p = h.checkov(lint_bin, "-d", str(d), "--framework", "kubernetes")
        assert p.returncode == 0, f"checkov on {env}:\n{p.stdout[-6000:]}\n{p.stderr[-2000:]}"
        assert re.search(r"Passed checks: [1-9]\d*, Failed checks: 0", p.stdout), p.stdout
    # Every exception is written next to what it excuses, with its reason.
    for name in ("deployment.yaml", "db-seed.yaml", "mongodb.yaml"):
        for d in docs(rendered["dev"][name]):
            for check, reason in h.checkov_skips(d):
                assert re.fullmatch(r"CKV2?_[A-Z0-9]+_\d+", check) and len(reason) > 30, (check, reason)


# The server's image and the Locust image (bench/locust/, tests/deploy/test_locust_image.py).
DOCKERFILES = ("Dockerfile", "bench/locust/Dockerfile")


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_checkov_dockerfile(lint_bin, dockerfile):
    p = h.checkov(lint_bin, "-f", str(h.ROOT / dockerfile), "--framework", "dockerfile")
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    assert "Failed checks: 0" in p.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint(lint_bin, dockerfile):
    p = subprocess.run([str(lint_bin / "hadolint"), "--failure-threshold", "info",
                        str(h.ROOT / dockerfile)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and not p.stdout.strip(), p.stdout + p.stderr
    # Every ignore says why, on the lines above it.
    lines = (h.ROOT / dockerfile).read_text().splitlines()
    for i, line in enumerate(lines):
        if "hadolint ignore" in line:
            assert lines[i - 1].startswith("#") and "hadolint" not in lines[i - 1], line


# ---- what the manifests say -------------------------------------------------------

@pytest.mark.parametrize("env", h.ENVS)
def test_deployment(rendered, env):
    e = h.read_env(env)
    objs = objects(rendered, env)
    dep = objs[("Deployment", "todo-api-blue")]
    assert dep["apiVersion"] == "apps/v1"
    labels = {"env": env, "color": "blue", "component": "todo-api", "role": "grpc-server"}
    assert dep["metadata"]["labels"] == dict(labels, tag=h.TAG)
    assert dep["spec"]["selector"]["matchLabels"] == labels
    tmpl = dep["spec"]["template"]
    assert tmpl["metadata"]["labels"] == dict(labels, tag=h.TAG)
    assert dep["spec"]["replicas"] == int(e["REPLICAS"])
    pod = tmpl["spec"]
    (c,) = pod["containers"]
    assert c["image"] == f"{e['IMAGE_NAME']}:{h.TAG}"
    assert c["imagePullPolicy"] == e["IMAGE_PULL_POLICY"]
    port = int(e["CONTAINER_PORT"])
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {
        "grpc": port, "admin": int(e["ADMIN_PORT"])}
    # Native gRPC readiness on the health service; startup and liveness on the
    # admin endpoint (the process, not the database).
    assert c["readinessProbe"]["grpc"] == {"port": port, "service": "grpc.Todos"}
    for probe in ("startupProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "admin"}
    assert c["resources"] == {
        "requests": {"cpu": e["CPU_REQUEST"], "memory": e["MEMORY_REQUEST"]},
        "limits": {"cpu": e["CPU_LIMIT"], "memory": e["MEMORY_LIMIT"]}}
    if env == "dev":
        assert c["resources"]["requests"] == {"cpu": "100m", "memory": "100Mi"}
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"]
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    # Shutdown: the server drains itself (DRAIN_DELAY), so no preStop; the
    # grace period covers drain + shutdown grace.
    assert "lifecycle" not in c
    bg = h.load_bluegreen()
    assert pod["terminationGracePeriodSeconds"] > (bg.parse_duration(e["DRAIN_DELAY"])
                                                   + bg.parse_duration(e["SHUTDOWN_GRACE"]))
    # Settings from the color's ConfigMap; secrets as files from the Secret.
    assert c["envFrom"] == [{"configMapRef": {"name": "todo-api-blue"}}]
    assert {"name": "COLOR", "value": "blue"} in c["env"]
    assert not any("valueFrom" in x for x in c["env"]), "no secrets in the environment"
    (mount,) = c["volumeMounts"]
    (vol,) = pod["volumes"]
    assert vol["secret"]["secretName"] == e["SECRET_NAME"] and mount["readOnly"]
    cm = objs[("ConfigMap", "todo-api-blue")]["data"]
    assert cm["MONGO_URI_FILE"] == f"{mount['mountPath']}/mongo-uri"
    assert cm["AUTH_TOKENS_FILE"] == f"{mount['mountPath']}/auth-tokens"
    for key in ("SERVER_PORT", "LOG_FORMAT", "MAX_CONNECTION_AGE", "MAX_CONNECTION_AGE_GRACE",
                "DRAIN_DELAY", "SHUTDOWN_GRACE", "DB_NAME"):
        assert cm[key] == e[key]
    assert all(isinstance(v, str) for v in cm.values())


@pytest.mark.parametrize("env", h.ENVS)
def test_service(rendered, env):
    e = h.read_env(env)
    svc = objects(rendered, env)[("Service", "todo-api")]
    assert svc["spec"]["selector"] == {"env": env, "color": "blue", "component": "todo-api",
                                       "role": "grpc-server"}
    assert svc["spec"]["ports"] == [{"name": "grpc", "port": 80, "targetPort": int(e["CONTAINER_PORT"]),
                                     "protocol": "TCP", "appProtocol": "grpc"}]


@pytest.mark.parametrize("env", h.ENVS)
def test_seed_job(rendered, env):
    e = h.read_env(env)
    job = objects(rendered, env)[("Job", f"todo-api-db-seed-{h.TAG}")]
    assert job["apiVersion"] == "batch/v1"
    assert job["metadata"]["labels"]["role"] == "mongodb-seed"
    spec = job["spec"]
    assert spec["completions"] == 1
    assert spec["activeDeadlineSeconds"] == int(e["DB_MIGRATIONS_JOB_TIMEOUT"])
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (c,) = pod["containers"]
    assert c["image"] == f"{e['IMAGE_NAME']}:{h.TAG}" and c["args"] == ["seed"]
    assert c["envFrom"] == [{"configMapRef": {"name": "todo-api-blue"}}]
    assert c["securityContext"]["readOnlyRootFilesystem"]


@pytest.mark.parametrize("env", h.ENVS)
def test_autoscaler_and_disruption_budget(rendered, env):
    e = h.read_env(env)
    objs = objects(rendered, env)
    hpa = objs[("HorizontalPodAutoscaler", "todo-api-blue")]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "todo-api-blue"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (
        int(e["HPA_MIN_REPLICAS"]), int(e["HPA_MAX_REPLICAS"]))
    if env != "prod":
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 10)
    assert hpa["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    down = hpa["spec"]["behavior"]["scaleDown"]
    assert down["stabilizationWindowSeconds"] >= 300, "scale-down must not flap"
    assert all(p["periodSeconds"] >= 60 for p in down["policies"])
    pdb = objs[("PodDisruptionBudget", "todo-api-blue")]
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["selector"]["matchLabels"]["color"] == "blue"
    net = objs[("NetworkPolicy", "todo-api-blue")]
    assert {p["port"] for p in net["spec"]["ingress"][0]["ports"]} == {
        int(e["CONTAINER_PORT"]), int(e["ADMIN_PORT"])}


def test_dev_mongodb(rendered):
    e = h.read_env("dev")
    objs = objects(rendered, "dev")
    sts = objs[("StatefulSet", "todo-api-mongodb")]
    svc = objs[("Service", "todo-api-mongodb")]
    assert svc["spec"]["clusterIP"] == "None" and sts["spec"]["serviceName"] == "todo-api-mongodb"
    assert sts["spec"]["selector"]["matchLabels"] == svc["spec"]["selector"]
    (vct,) = sts["spec"]["volumeClaimTemplates"]
    assert vct["spec"]["resources"]["requests"]["storage"] == e["MONGODB_STORAGE"]
    (c,) = sts["spec"]["template"]["spec"]["containers"]
    name, tag = c["image"].rsplit(":", 1)
    assert name.endswith("/mongo") and re.fullmatch(r"\d+\.\d+\.\d+", tag)
    assert {m["mountPath"] for m in c["volumeMounts"]} >= {"/data/db", "/tmp"}
    # DB_HOST of dev names this Service.
    assert e["DB_HOST"] == f"todo-api-mongodb.{e['NAMESPACE']}.svc.cluster.local"
    assert ("NetworkPolicy", "todo-api-mongodb") in objs


# ---- Dockerfile -----------------------------------------------------------------

def test_dockerfile_shape():
    text = (h.ROOT / "Dockerfile").read_text()
    froms = re.findall(r"^FROM (\S+)(?: AS (\S+))?", text, flags=re.M)
    assert [f[0] for f in froms] == ["docker.io/library/debian:bookworm-slim"] * 2
    assert re.search(r"^RUN make .*todo-api", text, flags=re.M)
    assert re.search(r"^USER 10001:10001$", text, flags=re.M)
    assert re.search(r"^EXPOSE \$\{CONTAINER_PORT\}$", text, flags=re.M)
    assert re.search(r"^ARG ENV=dev$", text, flags=re.M)
    assert re.search(r"^COPY env/\.env\.\$\{ENV\} /app/\.env$", text, flags=re.M)
    assert re.search(r'^ENTRYPOINT \["/usr/local/bin/todo-api"\]$', text, flags=re.M)
    runtime = text.split("AS runtime", 1)[1]
    assert "build-essential" not in runtime and "-dev" not in runtime
    # The build context is an allowlist: no venvs, build trees, tools or git.
    ignore = (h.ROOT / ".dockerignore").read_text().split()
    assert ignore[ignore.index("*")] == "*" and "!src/" in ignore and "!env/.env.*" in ignore
