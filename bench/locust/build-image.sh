#!/usr/bin/env bash
# bench/locust/build-image.sh: build the Locust image (bench/locust/Dockerfile)
# from the repository root, as the manifests in bench/locust/k8s/ name it.
#
#   bench/locust/build-image.sh [TAG]        -> $IMAGE:TAG (default todo-api-loadtests:dev)
#
# Environment:
#   IMAGE_ENGINE   podman (default when installed) | docker
#   IMAGE          image name (default todo-api-loadtests)
#   PIP_CA         CA bundle for pip inside the build, for networks that re-sign
#                  TLS (default: $PIP_CERT, else pip.conf's `cert`); passed as the
#                  build secret pip-ca, never stored in the image
#   BUILD_ARGS     extra arguments for the engine's build (e.g. --no-cache)
# With podman, the local Debian base image is made first (deploy/podman-base.sh,
# as `make image` does) and CONTAINERS_CONF defaults to deploy/containers.conf.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TAG="${1:-dev}"
IMAGE="${IMAGE:-todo-api-loadtests}"
ENGINE="${IMAGE_ENGINE:-$(command -v podman >/dev/null && echo podman || echo docker)}"

ca="${PIP_CA:-${PIP_CERT:-}}"
if [[ -z "$ca" ]]; then
  for f in /etc/pip.conf "${XDG_CONFIG_HOME:-$HOME/.config}/pip/pip.conf" "$HOME/.pip/pip.conf"; do
    [[ -r "$f" ]] && ca="$(sed -n 's/^[[:space:]]*cert[[:space:]]*=[[:space:]]*//p' "$f" | tail -n 1)"
    [[ -n "$ca" ]] && break
  done
fi
args=(-f "$ROOT/bench/locust/Dockerfile" -t "$IMAGE:$TAG")
[[ -n "$ca" && -s "$ca" ]] && args+=(--secret "id=pip-ca,src=$ca")

case "$ENGINE" in
  podman)
    export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/deploy/containers.conf}"
    bash "$ROOT/deploy/podman-base.sh"
    args+=(--format docker --ignorefile "$ROOT/bench/locust/Dockerfile.dockerignore") ;;
  docker) export DOCKER_BUILDKIT=1 ;;  # reads Dockerfile.dockerignore next to the Dockerfile
  *) echo "build-image: unknown IMAGE_ENGINE '$ENGINE'" >&2; exit 2 ;;
esac
cd "$ROOT"
# shellcheck disable=SC2086  # BUILD_ARGS is a list of words
exec "$ENGINE" build "${args[@]}" ${BUILD_ARGS:-} "$ROOT"
