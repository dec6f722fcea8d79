"""deploy/podmonitor.yaml and deploy/grafana-dashboard.json.

The PodMonitor is a custom resource (Prometheus Operator's
monitoring.coreos.com/v1): kubernetes-validate and checkov know only the
built-in kinds and no CRD schema is available offline, so it is deliberately
not one of the *_CONFIG templates (the `rendered` fixture and the strict
validators of test_deploy_manifests.py never see it; the first test here
checks that stays so). Instead it is checked here structurally: the fields
it may use (the subset of the CRD's schema it needs, unknown fields fail,
as strict validation would), and that it scrapes what the Deployment
serves: the admin port by name, the metrics path, the pods of both colors.
"""

import json
import re

import pytest
import yaml

import deploy_helpers as h

PODMONITOR = h.ROOT / "deploy" / "podmonitor.yaml"
DASHBOARD = h.ROOT / "deploy" / "grafana-dashboard.json"

# The PodMonitor fields this template may use, from the CRD's schema
# (monitoring.coreos.com/v1 PodMonitor), with their types.
SCHEMA = {
    "apiVersion": str,
    "kind": str,
    "metadata": {"name": str, "namespace": str, "labels": {str: str}},
    "spec": {
        "selector": {"matchLabels": {str: str}},
        "namespaceSelector": {"matchNames": [str]},
        "podTargetLabels": [str],
        "podMetricsEndpoints": [{"port": str, "path": str, "scheme": str, "interval": str,
                                 "scrapeTimeout": str}],
    },
}


def conforms(obj, schema, where="podmonitor"):
    """Raises AssertionError naming the first field not in the schema or of the
    wrong type."""
    if isinstance(schema, type):
        assert isinstance(obj, schema), f"{where}: expected {schema.__name__}, got {obj!r}"
    elif isinstance(schema, list):
        assert isinstance(obj, list) and obj, f"{where}: expected a non-empty list"
        for i, item in enumerate(obj):
            conforms(item, schema[0], f"{where}[{i}]")
    elif str in schema:
        assert isinstance(obj, dict), where
        for k, v in obj.items():
            conforms(k, str, where)
            conforms(v, schema[str], f"{where}.{k}")
    else:
        assert isinstance(obj, dict), f"{where}: expected a mapping"
        unknown = set(obj) - set(schema)
        assert not unknown, f"{where}: unknown field(s) {sorted(unknown)}"
        for k, v in obj.items():
            conforms(v, schema[k], f"{where}.{k}")


def render_monitor(env, tmp_path):
    """Renders it as docs/observability.md says: the blue-green tool's render
    with the template in place of the namespace's."""
    out = tmp_path / env
    h.bluegreen("-e", f"env/.env.{env}", "--namespace-config", str(PODMONITOR), "render",
                "--tag", h.TAG, "--out", str(out))
    return (out / "podmonitor.yaml").read_text()


def seconds(d):
    m = re.fullmatch(r"(\d+)(ms|s|m)", d)
    assert m, d
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[m.group(2)]


def test_podmonitor_is_not_among_the_strictly_validated_templates(rendered):
    for env in h.ENVS:
        assert "podmonitor.yaml" not in rendered[env]
        assert not any("monitoring.coreos.com" in t for t in rendered[env].values())


@pytest.mark.parametrize("env", h.ENVS)
def test_podmonitor_scrapes_the_admin_port_of_both_colors(env, rendered, tmp_path):
    text = render_monitor(env, tmp_path)
    assert not re.search(r"\$\{?[A-Za-z_]", text), text
    docs = [d for d in yaml.safe_load_all(text) if d]
    assert len(docs) == 1
    pm = docs[0]
    conforms(pm, SCHEMA)
    assert (pm["apiVersion"], pm["kind"]) == ("monitoring.coreos.com/v1", "PodMonitor")

    objs = {(d["kind"], d["metadata"]["name"]): d
            for t in rendered[env].values() for d in yaml.safe_load_all(t) if d}
    dep = next(d for (k, _), d in objs.items() if k == "Deployment")
    cm = next(d for (k, _), d in objs.items() if k == "ConfigMap")
    pod = dep["spec"]["template"]
    assert pm["metadata"]["namespace"] == dep["metadata"]["namespace"]
    assert pm["spec"]["namespaceSelector"]["matchNames"] == [dep["metadata"]["namespace"]]
    # It selects this Deployment's pods, whatever their color.
    sel = pm["spec"]["selector"]["matchLabels"]
    assert sel and "color" not in sel and "tag" not in sel
    assert sel.items() <= pod["metadata"]["labels"].items()
    for label in pm["spec"]["podTargetLabels"]:
        assert label in pod["metadata"]["labels"], label
    # The named port is the admin port todo-api is told to serve /metrics on.
    (ep,) = pm["spec"]["podMetricsEndpoints"]
    ports = {p["name"]: p["containerPort"] for c in pod["spec"]["containers"]
             for p in c.get("ports", [])}
    assert ep["port"] in ports
    assert str(ports[ep["port"]]) == cm["data"]["ADMIN_PORT"] != "0"
    # The same target as the annotations for annotation-driven Prometheus.
    ann = pod["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true"
    assert ann["prometheus.io/port"] == cm["data"]["ADMIN_PORT"]
    assert ep["path"] == ann["prometheus.io/path"] == "/metrics" and ep["scheme"] == "http"
    assert 0 < seconds(ep["scrapeTimeout"]) < seconds(ep["interval"]) <= 60


def test_structural_check_fails_on_unknown_fields():
    pm = yaml.safe_load(PODMONITOR.read_text().split("\n---\n", 1)[1])
    conforms(pm, SCHEMA)
    pm["spec"]["podMetricsEndpoints"][0]["intervall"] = "15s"
    with pytest.raises(AssertionError, match="intervall"):
        conforms(pm, SCHEMA)


def test_grafana_dashboard_is_valid_json_with_prometheus_targets():
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] and dash["title"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for p in dash["panels"]:
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["expr"].strip() and t["datasource"]["type"] == "prometheus", p["title"]
    assert {"datasource", "namespace", "pod"} <= {v["name"] for v in dash["templating"]["list"]}
