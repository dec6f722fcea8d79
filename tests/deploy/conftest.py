"""Fixtures for tests/deploy: the image, the manifests, the blue-green tool.

`make deploy-test` runs `pytest -q tests/deploy` from the repository root with
TODO_API_BIN, PY_GEN, TOOLS_BIN and DEPLOY_TOOLS_BIN (checkov, hadolint) set.
Helpers: deploy_helpers.py. Container tests skip, saying why, only when podman
cannot run a container here.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import deploy_helpers as h

METRICS = {}


def pytest_configure(config):
    if not config.pluginmanager.hasplugin("timeout"):
        raise pytest.UsageError("tests/deploy needs pytest-timeout (pip install pytest-timeout)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(str(item.fspath)).resolve().parent != h.HERE:
            continue
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(120))


def pytest_terminal_summary(terminalreporter):
    if METRICS:
        terminalreporter.write_sep("-", "deploy measurements")
        for k, v in METRICS.items():
            terminalreporter.write_line(f"{k}: {v}")
        out = h.ROOT / "build" / "deploy-test"
        out.mkdir(parents=True, exist_ok=True)
        (out / "measurements.json").write_text(json.dumps(METRICS, indent=2) + "\n")


@pytest.fixture(scope="session")
def metrics():
    return METRICS


@pytest.fixture(scope="session")
def todo_api_bin():
    path = Path(os.environ.get("TODO_API_BIN") or h.ROOT / "build" / "todo-api")
    assert path.is_file() and os.access(path, os.X_OK), (
        f"todo-api binary not found at {path} (make builds it; or set TODO_API_BIN)")
    return str(path)


@pytest.fixture(scope="session")
def tools_bin():
    """grpc-health-probe and grpcurl (the blue-green tool's smoke test)."""
    d = Path(os.environ.get("TOOLS_BIN") or h.ROOT / ".tools" / "bin")
    for t in ("grpc-health-probe", "grpcurl"):
        assert (d / t).is_file(), f"{t} not in {d} (make deps-test builds it)"
    return str(d)


@pytest.fixture(scope="session")
def lint_bin():
    """The bin dir of checkov and hadolint (tests/deploy/install-tools.sh)."""
    d = os.environ.get("DEPLOY_TOOLS_BIN")
    if not d:
        p = subprocess.run(["bash", str(h.HERE / "install-tools.sh")], capture_output=True,
                           text=True, timeout=600)
        assert p.returncode == 0, f"tests/deploy/install-tools.sh failed:\n{p.stderr}"
        d = p.stdout.strip().splitlines()[-1]
    return Path(d)


@pytest.fixture(scope="session")
def pb(tmp_path_factory):
    """(todos_pb2, todos_pb2_grpc) from proto/todos.proto."""
    gen = os.environ.get("PY_GEN")
    if not gen or not (Path(gen) / "todos_pb2.py").is_file():
        gen = str(tmp_path_factory.mktemp("py_gen"))
        import grpc_tools
        from grpc_tools import protoc

        well_known = Path(grpc_tools.__file__).parent / "_proto"  # google/protobuf/*.proto
        rc = protoc.main(["grpc_tools.protoc", f"-I{h.ROOT / 'proto'}", f"-I{well_known}",
                          f"--python_out={gen}",
                          f"--grpc_python_out={gen}", str(h.ROOT / "proto" / "todos.proto")])
        assert rc == 0, "grpc_tools.protoc failed on proto/todos.proto"
    if gen not in sys.path:
        sys.path.insert(0, gen)
    import todos_pb2
    import todos_pb2_grpc

    return todos_pb2, todos_pb2_grpc


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """{env: {template file name: rendered text}} for every env, color blue."""
    out = {}
    for env in h.ENVS:
        d = tmp_path_factory.mktemp(f"manifests-{env}")
        h.bluegreen("-e", f"env/.env.{env}", "render", "--tag", h.TAG, "--out", str(d))
        out[env] = {p.name: p.read_text() for p in sorted(d.iterdir())}
    return out


@pytest.fixture(scope="session")
def podman():
    """The podman environment, once the local base image exists and podman runs
    a container from it; skips (saying why) only when podman cannot run one."""
    env = dict(os.environ, CONTAINERS_CONF=os.environ.get(
        "CONTAINERS_CONF", str(h.ROOT / "deploy" / "containers.conf")))
    p = subprocess.run(["bash", str(h.ROOT / "deploy" / "podman-base.sh"), "--install"],
                       capture_output=True, text=True, env=env, timeout=900)
    if p.returncode != 0 and "podman is not installed" in p.stderr:
        pytest.skip(f"podman is not installed and could not be installed: {p.stderr.strip()}")
    gate = subprocess.run(["bash", str(h.ROOT / "deploy" / "podman-base.sh"), "--check"],
                          capture_output=True, text=True, env=env, timeout=120)
    if gate.returncode != 0:
        pytest.skip("podman cannot run containers here (`podman run --rm localhost/debian:bookworm "
                    f"true` failed): {(gate.stderr or gate.stdout).strip()[-500:]}")
    assert p.returncode == 0, f"deploy/podman-base.sh failed:\n{p.stderr[-3000:]}"
    return env


@pytest.fixture(scope="session")
def image(podman, metrics):
    """localhost/todo-api:deploy-test, built from the Dockerfile with ENV=dev by
    the blue-green tool's build command (as `make image` does)."""
    ref = f"{h.DEV_IMAGE}:{h.IMAGE_TAG}"
    p = h.bluegreen("-e", "env/.env.dev", "--container-engine", "podman", "--tag", h.IMAGE_TAG,
                    "build", env=podman, timeout=900, check=False)
    assert p.returncode == 0, f"image build failed:\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}"
    size = int(h.podman(podman, "image", "inspect", "--format", "{{.Size}}", ref).stdout.strip())
    metrics["image"] = ref
    metrics["image size (bytes)"] = size
    metrics["image size (MB)"] = round(size / 1e6, 1)
    return ref
