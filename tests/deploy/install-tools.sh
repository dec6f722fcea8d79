#!/usr/bin/env bash
# tests/deploy/install-tools.sh: checkov and hadolint for tests/deploy, in their
# own virtualenv .tools/deploy-venv (git-ignored), pinned by
# tests/deploy/requirements-tools.txt. Idempotent: nothing happens while the
# stamp matches the Python version and the pin file. Prints the venv's bin dir.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
REQ="$ROOT/tests/deploy/requirements-tools.txt"
VENV="$ROOT/.tools/deploy-venv"
PY="$(command -v python3)" || { echo "install-tools: python3 not found" >&2; exit 1; }
mkdir -p "$ROOT/.tools"
exec 9>"$ROOT/.tools/.deploy-venv.lock"
flock 9
key="$("$PY" -c 'import sys; print(sys.version.split()[0])') $(sha256sum "$REQ" | cut -c1-64)"
if [[ -x "$VENV/bin/checkov" && -x "$VENV/bin/hadolint" && -f "$VENV/.stamp" &&
  "$(cat "$VENV/.stamp")" == "$key" ]]; then
  echo "$VENV/bin"
  exit 0
fi
echo "install-tools: installing $(grep -v '^#' "$REQ" | xargs) into .tools/deploy-venv" >&2
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$REQ" >&2
"$VENV/bin/python" -m pip check --disable-pip-version-check >/dev/null
printf '%s\n' "$key" >"$VENV/.stamp"
echo "$VENV/bin"
