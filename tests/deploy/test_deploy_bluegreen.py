"""deploy/bluegreen: dry-run plans step by step, and its decisions against a
kubectl TEST DOUBLE (tests/deploy/fake_kubectl.py, on PATH as `kubectl`; no
cluster runs here). Smoke tests go through the double's port-forward to real
todo-api processes on loopback, checked with the real grpc-health-probe and
grpcurl."""

import re

import pytest
import yaml

import deploy_helpers as h

pytestmark = pytest.mark.timeout(180)

STEPS = ["preflight", "namespace", "secret", "build", "push", "database", "deploy", "seed", "smoke",
         "switch"]


def plan(out):
    """{step name: [lines under it]} of a publish run's output, in order."""
    steps, cur = {}, None
    for line in out.splitlines():
        m = re.match(r"\[(\d+)/(\d+)\] (\w+)", line)
        if m:
            cur = m.group(3)
            assert int(m.group(1)) == len(steps) + 1 and int(m.group(2)) == len(STEPS)
            steps[cur] = [line]
        elif cur:
            steps[cur].append(line)
    return steps


def commands(lines):
    return [line[4:] for line in lines if line.startswith("  $ ")]


def manifests(lines):
    """The rendered manifests a dry run prints (the `  | ` lines under each
    `apply -f -`), parsed."""
    out, block, on = [], [], False
    for line in lines:
        if line.startswith("  --- stdin"):
            on, block = "(request)" not in line, []
        elif line == "  --- end ---":
            if on:
                out += [d for d in yaml.safe_load_all("\n".join(block)) if d]
            on = False
        elif on and line.startswith("  | "):
            block.append(line[4:])
    return out


@pytest.fixture
def cluster(tmp_path, tools_bin):
    return h.FakeCluster(tmp_path, tools_bin)


@pytest.fixture(scope="module")
def servers(todo_api_bin, tmp_path_factory):
    """Real todo-api processes for the double's port-forward: a good one
    (memory store, SERVING) and a bad one (its database unreachable, so its
    health is NOT_SERVING)."""
    tmp = tmp_path_factory.mktemp("servers")
    good = h.TodoServer(todo_api_bin, tmp, {"STORE": "memory"})
    dead = h.free_port()
    bad = h.TodoServer(todo_api_bin, tmp, {"STORE": "mongo", "DB_TIMEOUT": "500ms",
                                           "MONGO_URI": f"mongodb://127.0.0.1:{dead}/"})
    auth = h.TodoServer(todo_api_bin, tmp, {"STORE": "memory", "AUTH_TOKENS": "s3cret-token"})
    try:
        assert h.wait_until(lambda: h.health_status(good.addr, "grpc.Todos") == "SERVING", 10)
        assert h.health_status(bad.addr, "grpc.Todos") == "NOT_SERVING"
        yield {"good": good.port, "bad": bad.port, "auth": auth.port}
    finally:
        for s in (good, bad, auth):
            s.stop()


# ---- dry run ----------------------------------------------------------------------

def test_dry_run_first_deploy(cluster):
    p = cluster.run("--dry-run", "--tag", h.TAG, "publish", check=True)
    assert cluster.calls() == [] and cluster.tool_calls() == [], "a dry run ran something"
    s = plan(p.stdout)
    assert list(s) == STEPS
    kube = "kubectl --context kind-todo-api --namespace todo-api-dev"
    assert "active color none" in s["preflight"][0] and "deploying blue" in s["preflight"][0]
    assert "first deployment" in s["preflight"][0]
    assert commands(s["namespace"]) == [f"{kube} apply -f -"]
    assert [d["kind"] for d in manifests(s["namespace"])] == ["Namespace"]
    assert commands(s["secret"]) == [f"{kube} get secret todo-api-secrets -o name"]
    assert commands(s["build"]) == [
        f"podman build . -f ./Dockerfile -t localhost/todo-api:{h.TAG} --format docker "
        "--build-arg ENV=dev --build-arg CONTAINER_PORT=8001"]
    save, load = commands(s["push"])
    assert save.startswith("podman save -o ") and save.endswith(f" localhost/todo-api:{h.TAG}")
    assert load.startswith("kind load image-archive ") and load.endswith(" --name todo-api")
    assert [d["kind"] for d in manifests(s["database"])] == ["Service", "StatefulSet",
                                                             "NetworkPolicy"]
    assert commands(s["database"])[-1] == (
        f"{kube} rollout status statefulset/todo-api-mongodb --timeout=180s")
    docs = manifests(s["deploy"])
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("ConfigMap", "todo-api-blue"), ("Deployment", "todo-api-blue"),
        ("HorizontalPodAutoscaler", "todo-api-blue"), ("PodDisruptionBudget", "todo-api-blue"),
        ("NetworkPolicy", "todo-api-blue")]
    dep = docs[1]
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == f"localhost/todo-api:{h.TAG}"
    assert dep["spec"]["template"]["metadata"]["labels"]["tag"] == h.TAG
    assert commands(s["deploy"])[1:] == [
        f"{kube} rollout status deployment/todo-api-blue --timeout=180s",
        f"{kube} get pods -l env=dev,color=blue,component=todo-api,role=grpc-server,tag={h.TAG} -o json"]
    job, netpol = manifests(s["seed"])
    assert netpol["kind"] == "NetworkPolicy"
    assert job["kind"] == "Job" and job["metadata"]["name"] == f"todo-api-db-seed-{h.TAG}"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["seed"]
    pf, health, todos = commands(s["smoke"])
    assert pf.startswith(f"{kube} port-forward ") and pf.endswith(" :8001")
    assert "grpc-health-probe" in health and "-service=grpc.Todos" in health
    assert "grpcurl" in todos and todos.endswith("-d @ '127.0.0.1:$LOCAL_PORT' grpc.Todos/GetTodos")
    assert '  | {"token": "$SMOKE_TOKEN"}' in s["smoke"], "the token goes through stdin"
    (svc,) = manifests(s["switch"])
    assert svc["kind"] == "Service" and svc["spec"]["selector"]["color"] == "blue"
    # The Service is applied in the last step only.
    for step in STEPS[:-1]:
        assert all(d["kind"] != "Service" or d["metadata"]["name"] != "todo-api"
                   for d in manifests(s[step])), step
    assert p.stdout.rstrip().endswith("blue (tag 1700000000) is live (dry run)")


def test_dry_run_later_deploy(cluster):
    p = cluster.run("--dry-run", "--tag", h.TAG, "--assume-active", "blue", "publish", check=True)
    assert cluster.calls() == [] and cluster.tool_calls() == []
    s = plan(p.stdout)
    assert list(s) == STEPS
    assert "active color blue" in s["preflight"][0] and "deploying green" in s["preflight"][0]
    assert "first deployment" not in s["preflight"][0]
    names = [(d["kind"], d["metadata"]["name"]) for d in manifests(s["deploy"])]
    assert ("Deployment", "todo-api-green") in names and ("ConfigMap", "todo-api-green") in names
    assert s["seed"][1:] == ["  skipped: not the first deployment (blue is live)"]
    assert manifests(s["seed"]) == []
    assert "color=green" in commands(s["deploy"])[-1]
    (svc,) = manifests(s["switch"])
    assert svc["spec"]["selector"]["color"] == "green"
    assert "blue still runs" in p.stdout


def test_dry_run_staging_pushes_to_the_registry(cluster):
    p = h.bluegreen("-e", "env/.env.staging", "--dry-run", "--tag", h.TAG, "publish",
                    env=cluster.env)
    s = plan(p.stdout)
    img = f"gcr.io/todoapp-123123/todo-api:{h.TAG}"
    assert commands(s["build"])[0].startswith(f"docker build . -f ./Dockerfile -t {img} ")
    assert commands(s["push"]) == [f"docker push {img}"]
    assert s["database"][1].startswith("  skipped: MONGODB_CONFIG is not set")
    assert "--context gke_todoapp-123123_us-central1-a_todoapp-staging-cluster" in \
        commands(s["deploy"])[0]
    assert cluster.calls() == [] and cluster.tool_calls() == []


def test_dry_run_rollback_and_cleanup(cluster):
    p = cluster.run("--dry-run", "--assume-active", "green", "--tag", h.TAG, "rollback", check=True)
    assert "rollback green -> blue" in p.stdout
    assert any(c.endswith("scale deployment/todo-api-blue --replicas=1")
               for c in commands(p.stdout.splitlines()))
    p = cluster.run("--dry-run", "--assume-active", "green", "cleanup", check=True)
    assert commands(p.stdout.splitlines())[-1].endswith("scale deployment/todo-api-blue --replicas=0")
    assert cluster.calls() == []


# ---- decisions against the kubectl test double --------------------------------------

def test_first_deploy_goes_blue_seeds_and_switches(cluster, servers):
    cluster.state["forward"] = {"blue": servers["good"]}
    cluster.save()
    p = cluster.run("--skip-build", "--tag", "101", "publish")
    assert p.returncode == 0, p.stdout + p.stderr
    assert cluster.service_color() == "blue"
    applied = cluster.applied()
    assert ("Job", "todo-api-db-seed-101") in applied
    # Order: namespace, database, the color, the seed, and the Service last.
    kinds = [k for k, _ in applied]
    assert kinds.index("StatefulSet") < kinds.index("Deployment") < kinds.index("Job")
    assert applied[-1] == ("Service", "todo-api")
    cmds = [" ".join(c) for c in cluster.commands()]
    assert cmds[0] == "get service todo-api -o json --ignore-not-found"
    i_pf = next(i for i, c in enumerate(cmds) if c.startswith("port-forward pod/todo-api-blue-101-"))
    i_svc = max(i for i, c in enumerate(cluster.calls()) if "Service" in (c["stdin"] or ""))
    assert i_pf < i_svc, "smoke test before the switch"
    assert "GetTodos: 1 todo(s)" in p.stdout
    assert cluster.tool_calls() == [], "--skip-build builds and pushes nothing"


def test_later_deploy_goes_to_the_other_color_without_seed(cluster, servers):
    cluster.add_live("blue", replicas=3)  # the autoscaler grew blue to 3
    cluster.state["forward"] = {"green": servers["good"]}
    cluster.save()
    p = cluster.run("--skip-build", "--tag", "202", "publish")
    assert p.returncode == 0, p.stdout + p.stderr
    assert cluster.service_color() == "green"
    assert not any(k == "Job" for k, _ in cluster.applied()), "seed runs on the first deploy only"
    green = cluster.load()["objects"]["deployment/todo-api-green"]
    assert green["spec"]["replicas"] == 3, "the new color starts as large as the live one"
    assert green["metadata"]["labels"]["tag"] == "202"
    assert cluster.load()["objects"]["deployment/todo-api-blue"]["spec"]["replicas"] == 3
    assert "blue still runs" in p.stdout


def test_failed_smoke_test_keeps_the_old_color(cluster, servers):
    cluster.add_live("blue")
    cluster.state["forward"] = {"green": servers["bad"]}  # health NOT_SERVING
    cluster.save()
    p = cluster.run("--skip-build", "--tag", "303", "--smoke-timeout", "2", "publish")
    assert p.returncode == 1
    assert "smoke test" in p.stderr and "NOT_SERVING" in p.stderr
    assert "traffic stays on blue" in p.stderr
    assert cluster.service_color() == "blue"
    assert ("Service", "todo-api") not in cluster.applied()
    # The failed color is left running for inspection.
    assert "deployment/todo-api-green" in cluster.load()["objects"]


def test_failed_smoke_test_on_first_deploy_creates_no_service(cluster, servers):
    cluster.state["forward"] = {"blue": servers["bad"]}
    cluster.save()
    p = cluster.run("--skip-build", "--tag", "304", "--smoke-timeout", "2", "publish")
    assert p.returncode == 1 and "no traffic was switched" in p.stderr
    assert cluster.service_color() is None


def test_smoke_token_is_used_and_never_printed(cluster, servers):
    cluster.add_live("blue")
    cluster.state["forward"] = {"green": servers["auth"]}  # AUTH_TOKENS=s3cret-token
    cluster.save()
    p = cluster.run("--skip-build", "--tag", "305", "--smoke-timeout", "2", "publish")
    assert p.returncode == 1 and "Unauthenticated" in p.stderr and "SMOKE_TOKEN" in p.stderr
    assert cluster.service_color() == "blue"
    cluster.env["SMOKE_TOKEN"] = "s3cret-token"
    p = cluster.run("--skip-build", "--tag", "306", "publish")
    assert p.returncode == 0, p.stdout + p.stderr
    assert cluster.service_color() == "green"
    assert "s3cret" not in p.stdout + p.stderr


def test_failed_rollout_stops_before_smoke_and_switch(cluster):
    cluster.add_live("blue")
    cluster.state["fail"] = {"rollout": ["deployment/todo-api-green"]}
    cluster.save()
    p = cluster.run("--skip-build", "--tag", "404", "publish")
    assert p.returncode == 1
    assert "deployment/todo-api-green was not ready within 180 s" in p.stderr
    assert "kubectl --context kind-todo-api --namespace todo-api-dev describe deployment" in p.stderr
    assert "traffic stays on blue" in p.stderr
    assert not any(c[0] == "port-forward" for c in cluster.commands())
    assert cluster.service_color() == "blue"


def test_failed_seed_stops_the_first_deploy(cluster, servers):
    cluster.state["fail"] = {"seed": "failed"}
    cluster.state["forward"] = {"blue": servers["good"]}
    cluster.save()
    p = cluster.run("--skip-build", "--tag", "505", "publish")
    assert p.returncode == 1
    assert "seed job/todo-api-db-seed-505 failed" in p.stderr and "BackoffLimitExceeded" in p.stderr
    assert cluster.service_color() is None


def test_missing_secret_stops_before_anything_is_built(cluster):
    cluster.state["fail"] = {"secret_missing": True}
    cluster.save()
    p = cluster.run("--tag", "606", "publish")
    assert p.returncode == 1
    assert "Secret todo-api-secrets is missing" in p.stderr and "create secret generic" in p.stderr
    assert cluster.tool_calls() == []
    assert not any(k == "Deployment" for k, _ in cluster.applied())


def test_unreachable_cluster_is_not_a_first_deploy(cluster):
    cluster.state["fail"] = {"unreachable": True}
    cluster.save()
    p = cluster.run("--skip-build", "--tag", "707", "publish")
    assert p.returncode == 1 and "connection to the server" in p.stderr
    assert len(cluster.calls()) == 1 and cluster.calls()[0]["argv"][-4:] == [
        "todo-api", "-o", "json", "--ignore-not-found"]


def test_failed_build_stops_the_publish(cluster):
    cluster.add_live("blue")
    cluster.env["FAKE_TOOLS_FAIL"] = "podman"
    p = cluster.run("--tag", "808", "publish")
    assert p.returncode == 1 and "image build failed" in p.stderr
    assert not any(k == "Deployment" for k, _ in cluster.applied())
    assert cluster.service_color() == "blue"


def test_build_and_push_commands(cluster, servers):
    cluster.add_live("green")
    cluster.state["forward"] = {"blue": servers["good"]}
    cluster.save()
    p = cluster.run("--tag", "909", "publish")
    assert p.returncode == 0, p.stdout + p.stderr
    calls = [(c["tool"], c["argv"]) for c in cluster.tool_calls()]
    assert calls[0] == ("podman", ["build", ".", "-f", "./Dockerfile", "-t", "localhost/todo-api:909",
                                   "--format", "docker", "--build-arg", "ENV=dev", "--build-arg",
                                   "CONTAINER_PORT=8001"])
    assert calls[1][0] == "podman" and calls[1][1][:2] == ["save", "-o"]
    archive = calls[1][1][2]
    assert calls[2] == ("kind", ["load", "image-archive", archive, "--name", "todo-api"])
    assert cluster.service_color() == "blue"


def test_rollback_scales_the_idle_color_back_and_switches(cluster):
    cluster.add_live("blue", tag="1", replicas=2)
    cluster.add_live("green", tag="2", replicas=2)  # the Service now on green
    cluster.state["objects"]["deployment/todo-api-blue"]["spec"]["replicas"] = 0  # cleaned up
    cluster.save()
    p = cluster.run("rollback")
    assert p.returncode == 0, p.stdout + p.stderr
    assert cluster.service_color() == "blue"
    assert ["scale", "deployment/todo-api-blue", "--replicas=2"] in cluster.commands()
    assert "blue (tag 1) is live again" in p.stdout


def test_rollback_needs_the_other_color(cluster):
    p = cluster.run("rollback")
    assert p.returncode == 1 and "Cannot rollback" in p.stderr
    cluster.add_live("blue")
    p = cluster.run("rollback")
    assert p.returncode == 1 and "Cannot rollback to green: deployment/todo-api-green does not exist" \
        in p.stderr
    assert cluster.service_color() == "blue"


def test_cleanup_scales_the_idle_color_to_zero(cluster):
    cluster.add_live("green", tag="1")
    cluster.add_live("blue", tag="2")  # live: blue
    p = cluster.run("cleanup")
    assert p.returncode == 0, p.stderr
    assert ["scale", "deployment/todo-api-green", "--replicas=0"] in cluster.commands()
    objs = cluster.load()["objects"]
    assert objs["deployment/todo-api-green"]["spec"]["replicas"] == 0
    assert objs["deployment/todo-api-blue"]["spec"]["replicas"] == 1
    p = cluster.run("cleanup")
    assert p.returncode == 0 and "already has 0 replicas" in p.stdout
    p = cluster.run("status")
    assert p.returncode == 0
    assert "active color blue" in p.stdout and "blue (live): tag 2" in p.stdout
    assert "green: tag 1" in p.stdout and "0/0 ready" in p.stdout


# ---- options -----------------------------------------------------------------------

def test_options_and_timeouts(cluster, tmp_path):
    # Command-line flags win over the env file, in commands and templates.
    p = cluster.run("--dry-run", "--tag", h.TAG, "-i", "example.org/other", "--deployment-timeout",
                    "7", "publish", check=True)
    assert f"-t example.org/other:{h.TAG}" in p.stdout
    assert f"image: example.org/other:{h.TAG}" in p.stdout
    assert "--timeout=7s" in p.stdout
    # Timeouts are whole seconds, from flags (argparse) and from env files.
    p = cluster.run("--dry-run", "--deployment-timeout", "soon", "publish")
    assert p.returncode == 2 and "invalid int value" in p.stderr
    bad = tmp_path / ".env.bad"
    bad.write_text((h.ROOT / "env" / ".env.dev").read_text().replace(
        "DEPLOYMENT_TIMEOUT=180", "DEPLOYMENT_TIMEOUT=3m"))
    p = h.bluegreen("-e", str(bad), "--dry-run", "publish", env=cluster.env, check=False)
    assert p.returncode == 1 and "DEPLOYMENT_TIMEOUT must be a whole number of seconds" in p.stderr
    # The six options bg-kube requires.
    bare = tmp_path / ".env.bare"
    bare.write_text("ENV=dev\n")
    p = h.bluegreen("-e", str(bare), "--dry-run", "publish", env=cluster.env, check=False)
    assert p.returncode == 1
    for opt in ("--cluster-name", "--cluster-zone", "--image-name", "--service-name",
                "--service-config", "--deployment-config"):
        assert opt in p.stderr


def test_env_file_reader_follows_bg_kube(tmp_path):
    bg = h.load_bluegreen()
    f = tmp_path / ".env"
    f.write_text("# comment\n\nA=1\nB='two words'\nC=\"x=y\"\nexport D=4\nE=\n")
    assert bg.read_env_file(f) == {"A": "1", "B": "two words", "C": "x=y", "D": "4", "E": ""}
    f.write_text("not a pair\n")
    with pytest.raises(bg.BlueGreenError, match="expected KEY=VALUE"):
        bg.read_env_file(f)
