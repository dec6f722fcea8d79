"""env/.env.{dev,staging,prod}: the keys of the original's env files, this
project's values, resource keys, no secrets, and todo-api accepts each one."""

import json
import re
import signal
import subprocess

import pytest

import deploy_helpers as h

# The deploy keys the original's .env.dev/.env.prod had (DOCKER_MACHINE_NAME,
# prod only and for docker-machine, is optional here).
ORIGINAL_KEYS = ("SERVER_PORT", "DB_HOST", "DB_PORT", "ENV", "COMPONENT", "ROLE", "CLUSTER_NAME",
                 "CLUSTER_ZONE", "SERVICE_CONFIG", "SERVICE_NAME", "SERVICE_PORT", "IMAGE_NAME",
                 "CONTAINER_PORT", "CONTAINER_REGISTRY", "DEPLOYMENT_CONFIG",
                 "DB_MIGRATIONS_JOB_CONFIG_SEED", "DOCKER_BUILD_ARGS")
APP_KEYS = ("DB_NAME", "DB_COLLECTION", "LOG_FORMAT", "MAX_CONNECTION_AGE",
            "MAX_CONNECTION_AGE_GRACE", "DRAIN_DELAY", "SHUTDOWN_GRACE", "ADMIN_PORT", "STORE")
RESOURCE_KEYS = ("REPLICAS", "CPU_REQUEST", "CPU_LIMIT", "MEMORY_REQUEST", "MEMORY_LIMIT",
                 "HPA_MIN_REPLICAS", "HPA_MAX_REPLICAS", "HPA_CPU_TARGET", "PDB_MAX_UNAVAILABLE")
TOOL_KEYS = ("NAMESPACE", "SECRET_NAME", "SECRETS_DIR", "TERMINATION_GRACE_PERIOD_SECONDS",
             "IMAGE_PULL_POLICY", "SERVICE_TIMEOUT", "DEPLOYMENT_TIMEOUT",
             "DB_MIGRATIONS_JOB_TIMEOUT", "SMOKE_TIMEOUT")
SECRET_LIKE = re.compile(r"PASSWORD|TOKEN|SECRET|CREDENTIAL|PRIVATE|API_KEY|MONGO_URI$")


@pytest.mark.parametrize("env", h.ENVS)
def test_env_file_has_every_key(env):
    e = h.read_env(env)
    missing = [k for k in ORIGINAL_KEYS + APP_KEYS + RESOURCE_KEYS + TOOL_KEYS if k not in e]
    assert not missing, f"env/.env.{env} lacks {missing}"
    assert e["ENV"] == env
    # The original's values where this project keeps them.
    assert e["SERVER_PORT"] == e["CONTAINER_PORT"] == "8001"
    assert (e["COMPONENT"], e["ROLE"], e["SERVICE_NAME"], e["SERVICE_PORT"]) == (
        "todo-api", "grpc-server", "todo-api", "80")
    assert e["DB_PORT"] == "27017" and e["DB_NAME"] == "TodosDB" and e["DB_COLLECTION"] == "todos"
    assert e["LOG_FORMAT"] == "json"
    # The image is built for this env with the same port.
    assert set(e["DOCKER_BUILD_ARGS"].split()) == {f"ENV={env}", f"CONTAINER_PORT={e['CONTAINER_PORT']}"}
    for key in ("SERVICE_CONFIG", "DEPLOYMENT_CONFIG", "DB_MIGRATIONS_JOB_CONFIG_SEED",
                "NAMESPACE_CONFIG", "MONGODB_CONFIG"):
        if e.get(key):
            assert (h.ROOT / e[key]).is_file(), f"{key}={e[key]} does not exist"


@pytest.mark.parametrize("env", h.ENVS)
def test_env_file_values_are_consistent(env):
    bg = h.load_bluegreen()
    e = h.read_env(env)
    drain, grace = bg.parse_duration(e["DRAIN_DELAY"]), bg.parse_duration(e["SHUTDOWN_GRACE"])
    # Kubernetes sends SIGKILL at terminationGracePeriodSeconds: the drain delay
    # and the shutdown grace must both fit, with a margin.
    assert int(e["TERMINATION_GRACE_PERIOD_SECONDS"]) >= drain + grace + 2
    assert drain >= 1, "DRAIN_DELAY must give endpoints time to drop the pod"
    assert bg.parse_duration(e["MAX_CONNECTION_AGE"]) >= 60
    assert 0 < bg.parse_duration(e["MAX_CONNECTION_AGE_GRACE"]) <= grace + drain + 60
    assert 1 <= int(e["HPA_MIN_REPLICAS"]) <= int(e["REPLICAS"]) <= int(e["HPA_MAX_REPLICAS"])
    assert 1 <= int(e["HPA_CPU_TARGET"]) <= 100
    for t in ("SERVICE_TIMEOUT", "DEPLOYMENT_TIMEOUT", "DB_MIGRATIONS_JOB_TIMEOUT", "SMOKE_TIMEOUT"):
        assert int(e[t]) > 0
    assert e["IMAGE_PULL_POLICY"] in ("Always", "IfNotPresent")
    if env != "dev":
        assert e["IMAGE_PULL_POLICY"] == "Always"
        assert not e.get("MONGODB_CONFIG"), "staging/prod use a MongoDB managed outside"
    else:
        assert e["CONTAINER_REGISTRY"] == "local" and e["MONGODB_CONFIG"]
        tag = e["MONGODB_IMAGE"].rsplit(":", 1)
        assert len(tag) == 2 and tag[1] not in ("", "latest"), "MongoDB image pinned by tag"
    if env == "prod":
        assert int(e["HPA_MIN_REPLICAS"]) >= 2, "prod keeps two pods through node drains"


@pytest.mark.parametrize("env", h.ENVS)
def test_env_file_holds_no_secrets_and_parses_the_same_everywhere(env):
    text = (h.ROOT / "env" / f".env.{env}").read_text()
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key), f"line {n}: {line!r}"
        # bg-kube's parser, todo-api's godotenv-style one and `export $(cat ...)`
        # must all read the same value: no quotes, $, comments or escapes.
        assert not re.search(r"[\"'$#\\`]", value), f"line {n}: {line!r}"
        if SECRET_LIKE.search(key) and key not in ("SECRET_NAME", "SECRETS_DIR"):
            assert value == "", f"env/.env.{env} bakes a secret into the image: {key}"
        assert not re.search(r"://[^/\s]*:[^/\s]*@", value), f"credentials in a URI: {key}"


@pytest.mark.parametrize("env", h.ENVS)
def test_todo_api_accepts_the_env_file(env, todo_api_bin, tmp_path):
    """The image's .env is this file: every app key in it must be valid for
    todo-api (a bad value would stop every pod with exit 2)."""
    port = h.free_port()
    p = subprocess.Popen([todo_api_bin, "--env-file", str(h.ROOT / "env" / f".env.{env}")],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
                         env={"PATH": "/usr/bin:/bin", "STORE": "memory", "SERVER_HOST": "127.0.0.1",
                              "SERVER_PORT": str(port), "ADMIN_PORT": "0", "DRAIN_DELAY": "0s"})
    try:
        assert h.wait_until(lambda: p.poll() is not None or h.health_status(
            f"127.0.0.1:{port}", "grpc.Todos") == "SERVING", 10), "todo-api did not serve"
        assert p.poll() is None, f"todo-api refused env/.env.{env}: {p.stdout.read()}"
    finally:
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=30)
    assert p.returncode == 0, out
    lines = out.splitlines()
    assert lines and all(json.loads(line)["level"] for line in lines), (
        f"LOG_FORMAT=json from the env file: {out}")
