"""fake_tool: a TEST DOUBLE for podman, docker, kind and minikube in tests/deploy.

Installed under each of those names on PATH by the tests. It records each call
as a JSON line {"tool": NAME, "argv": [...]} in FAKE_TOOLS_LOG and succeeds,
except for a tool named in FAKE_TOOLS_FAIL (comma-separated), which exits 1.
`save -o FILE` writes an empty FILE, as an image archive would exist after it.
"""

import json
import os
import sys


def main():
    tool = os.environ.get("FAKE_TOOL_NAME") or os.path.basename(sys.argv[0])
    argv = sys.argv[1:]
    with open(os.environ["FAKE_TOOLS_LOG"], "a") as log:
        log.write(json.dumps({"tool": tool, "argv": argv}) + "\n")
    if tool in os.environ.get("FAKE_TOOLS_FAIL", "").split(","):
        print(f"{tool}: scripted failure", file=sys.stderr)
        sys.exit(1)
    if argv[:1] == ["save"] and "-o" in argv:
        open(argv[argv.index("-o") + 1], "w").close()


if __name__ == "__main__":
    main()
