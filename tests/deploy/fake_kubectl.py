"""fake_kubectl: a kubectl TEST DOUBLE for tests/deploy (no cluster runs here).

Installed by the tests as `kubectl` on PATH (bluegreen runs it exactly as it
would run the real one). It records every call and keeps a tiny "cluster" in a
JSON state file, so a sequence of bluegreen commands sees its own effects:

  FAKE_KUBECTL_STATE  state file: {"objects": {"deployment/NAME": {...}}, "fail": {...},
                      "forward": {"blue": PORT, "green": PORT}}
  FAKE_KUBECTL_LOG    JSON lines, one per call: {"argv": [...], "stdin": "..."}

Supported (only what bluegreen uses): get KIND NAME -o json [--ignore-not-found],
get secret NAME -o name, get pods -l SELECTOR -o json, apply -f - (YAML on
stdin), rollout status KIND/NAME --timeout=Ns, scale deployment/NAME
--replicas=N, port-forward pod/NAME :PORT (prints kubectl's "Forwarding from"
line for the real local server the test started for that color, then waits to
be killed).

"fail" keys a test sets to script failures:
  rollout: ["deployment/todo-api-green", ...]  rollout status fails (timed out)
  apply: ["deployment/todo-api-green", ...]    apply of that object fails
  unready: ["green"]                            pods of that color are not Ready
  secret_missing: true                          the Secret does not exist
  seed: "failed"                                the seed Job ends Failed
  unreachable: true                             every call fails as with no cluster
"""

import json
import os
import sys
import time

import yaml

KINDS = {"svc": "service", "services": "service", "deploy": "deployment",
         "deployments": "deployment", "job": "job", "jobs": "job", "hpa": "horizontalpodautoscaler",
         "horizontalpodautoscalers": "horizontalpodautoscaler", "statefulsets": "statefulset",
         "sts": "statefulset", "secrets": "secret", "configmaps": "configmap", "cm": "configmap",
         "namespaces": "namespace", "ns": "namespace", "pdb": "poddisruptionbudget",
         "networkpolicies": "networkpolicy"}


def kind_of(word):
    w = word.lower()
    return KINDS.get(w, w)


def load():
    with open(os.environ["FAKE_KUBECTL_STATE"]) as f:
        return json.load(f)


def save(state):
    path = os.environ["FAKE_KUBECTL_STATE"]
    with open(path + ".tmp", "w") as f:
        json.dump(state, f, indent=1)
    os.replace(path + ".tmp", path)


def die(msg, code=1):
    print(msg, file=sys.stderr)
    sys.exit(code)


def matches(labels, selector):
    for part in selector.split(","):
        k, _, v = part.partition("=")
        if labels.get(k) != v:
            return False
    return True


def pods(state, selector):
    fail = state.get("fail", {})
    items = []
    for key, obj in sorted(state["objects"].items()):
        if not key.startswith("deployment/"):
            continue
        spec = obj.get("spec", {})
        labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
        if not matches(labels, selector):
            continue
        ready = "False" if labels.get("color") in fail.get("unready", []) else "True"
        for i in range(int(spec.get("replicas", 1))):
            items.append({"metadata": {"name": f"{obj['metadata']['name']}-{labels.get('tag')}-{i}",
                                       "labels": labels},
                          "status": {"conditions": [{"type": "Ready", "status": ready}]}})
    return {"apiVersion": "v1", "kind": "List", "items": items}


def apply(state, text):
    fail = state.get("fail", {})
    out = []
    for doc in yaml.safe_load_all(text):
        if not doc:
            continue
        key = f"{doc['kind'].lower()}/{doc['metadata']['name']}"
        if key in fail.get("apply", []):
            die(f'Error from server (Invalid): error when applying {key}: scripted failure')
        created = key not in state["objects"]
        if doc["kind"] == "Deployment":
            r = int(doc["spec"].get("replicas", 1))
            doc["status"] = {"replicas": r, "readyReplicas": r, "updatedReplicas": r}
        elif doc["kind"] == "Job":
            if fail.get("seed") == "failed":
                doc["status"] = {"failed": 4, "conditions": [
                    {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                     "message": "Job has reached the specified backoff limit"}]}
            else:
                doc["status"] = {"succeeded": 1, "conditions": [{"type": "Complete",
                                                                 "status": "True"}]}
        state["objects"][key] = doc
        out.append(f"{key} {'created' if created else 'configured'}")
    save(state)
    print("\n".join(out))


def main(argv):
    with open(os.environ["FAKE_KUBECTL_LOG"], "a") as log:
        stdin = sys.stdin.read() if "apply" in argv else None
        log.write(json.dumps({"argv": argv, "stdin": stdin}) + "\n")
    state = load()
    if state.get("fail", {}).get("unreachable"):
        die("The connection to the server 127.0.0.1:6443 was refused - did you specify the right "
            "host or port?")
    args, flags = [], {}
    i = 0
    while i < len(argv):  # global flags bluegreen passes
        if argv[i] in ("--context", "--namespace", "-n", "-o", "-l") and i + 1 < len(argv):
            flags[argv[i]] = argv[i + 1]
            i += 2
            continue
        args.append(argv[i])
        i += 1
    if not args:
        die("fake kubectl: no command", 2)
    cmd = args[0]
    if cmd == "get":
        kind = kind_of(args[1])
        if kind in ("pod", "pods"):
            print(json.dumps(pods(state, flags.get("-l", ""))))
            return
        name = args[2]
        if kind == "secret":
            if state.get("fail", {}).get("secret_missing"):
                die(f'Error from server (NotFound): secrets "{name}" not found')
            print(f"secret/{name}")
            return
        obj = state["objects"].get(f"{kind}/{name}")
        if obj is None:
            if "--ignore-not-found" in args:
                return
            die(f'Error from server (NotFound): {kind}s "{name}" not found')
        print(json.dumps(obj))
    elif cmd == "apply":
        apply(state, stdin)
    elif cmd == "rollout":
        target = args[2]
        kind, _, name = target.partition("/")
        if target in state.get("fail", {}).get("rollout", []):
            die("error: timed out waiting for the condition")
        if f"{kind}/{name}" not in state["objects"]:
            die(f'Error from server (NotFound): {kind}s "{name}" not found')
        print(f'{kind} "{name}" successfully rolled out')
    elif cmd == "scale":
        key = args[1]
        n = int(next(a.split("=", 1)[1] for a in args if a.startswith("--replicas=")))
        obj = state["objects"].get(key)
        if obj is None:
            die(f'Error from server (NotFound): "{key}" not found')
        obj["spec"]["replicas"] = n
        obj["status"] = {"replicas": n, "readyReplicas": n}
        save(state)
        print(f"{key} scaled")
    elif cmd == "port-forward":
        pod = args[1].split("/", 1)[1]
        color = next((c for c in ("blue", "green") if f"-{c}-" in pod), None)
        port = state.get("forward", {}).get(color)
        if not port:
            die(f"error: unable to forward port because pod {pod} is not running")
        print(f"Forwarding from 127.0.0.1:{port} -> {args[2].lstrip(':')}", flush=True)
        print(f"Forwarding from [::1]:{port} -> {args[2].lstrip(':')}", flush=True)
        time.sleep(600)  # until bluegreen ends the forward
    else:
        die(f"fake kubectl: unsupported command {argv}", 2)


if __name__ == "__main__":
    main(sys.argv[1:])
