#!/usr/bin/env bash
# third_party/deps.sh: the project's one dependency step. Pinned, idempotent, and
# fast on a second run (each step is skipped while a stamp under .deps/ matches
# a hash of its inputs).
#
#   bash third_party/deps.sh [GROUP...]      (default: all)
#
# Groups:
#   build   Debian packages needed to build, lint and unit-test the C code
#   test    build + test-time Debian packages (nghttp2-client, Ruby gRPC interop
#           client) + .venv/ (third_party/requirements.txt) + venv + tools
#   venv    only the Python virtualenv .venv/
#   tools   only the Go tools in .tools/bin (third_party/tools/go.mod)
#   all     everything (currently the same as test)
#
# Outputs (git-ignored): .venv/  .tools/bin/  .deps/
# Go tools built into .tools/bin: ghz grpcurl grpc-health-probe h2spec
#   grpc-interop-client (google.golang.org/grpc/interop/client) ferretdb
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SELF="$ROOT/third_party/deps.sh"
TP="$ROOT/third_party"
STAMPS="$ROOT/.deps"
TOOLS_BIN="$ROOT/.tools/bin"
VENV="$ROOT/.venv"

BUILD_PKGS=(build-essential pkg-config libnghttp2-dev libuv1-dev libprotobuf-c-dev
  protobuf-c-compiler libmongoc-dev libssl-dev zlib1g-dev protobuf-compiler grpc-proto
  libcmocka-dev clang clang-format cppcheck libprotobuf-dev openssl)
TEST_PKGS=(nghttp2-client nghttp2-server ruby-grpc ruby-googleauth prometheus libclang-rt-14-dev
  libgrpc++-dev protobuf-compiler-grpc
  podman buildah runc conmon fuse-overlayfs slirp4netns passt uidmap
  containernetworking-plugins netavark aardvark-dns iptables debootstrap catatonit)

# Go tools: "output-name package [ldflags-var]" (ldflags-var gets the module version).
GO_TOOLS=(
  "ghz github.com/bojand/ghz/cmd/ghz main.version"
  "grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl main.version"
  "grpc-health-probe github.com/grpc-ecosystem/grpc-health-probe main.versionTag"
  "h2spec github.com/summerwind/h2spec/cmd/h2spec main.VERSION"
  "grpc-interop-client google.golang.org/grpc/interop/client"
)
FERRETDB_MOD=github.com/FerretDB/FerretDB

log() { printf 'deps: %s\n' "$*"; }
die() { printf 'deps: ERROR: %s\n' "$*" >&2; exit 1; }

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || die "not root and sudo is missing"
  SUDO=(sudo)
fi

# --- groups -----------------------------------------------------------------
want_build=0 want_test_apt=0 want_venv=0 want_tools=0
[[ $# -eq 0 ]] && set -- all
for g in "$@"; do
  case "$g" in
    build) want_build=1 ;;
    venv) want_venv=1 ;;
    tools) want_tools=1 ;;
    test | all) want_build=1 want_test_apt=1 want_venv=1 want_tools=1 ;;
    -h | --help) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown group '$g' (build, test, venv, tools, all)" ;;
  esac
done

mkdir -p "$STAMPS"
# Serialise concurrent runs (parallel make targets).
exec 9>"$STAMPS/lock"
flock 9

hash_of() { # hash_of STRING FILE... -> sha256 of the string and the files' contents
  local s="$1"
  shift
  { printf '%s\n' "$s"; if [[ $# -gt 0 ]]; then cat -- "$@"; fi; } | sha256sum | cut -c1-64
}
# Run a command, dropping known progress noise from its stderr (keeps errors).
quiet() {
  { "$@" 2>&1 1>&3 | { grep -v -e '^go: downloading ' -e '^debconf: delaying package configuration' >&2 || true; }; } 3>&1
}
# The text of one step of this script (part of that step's key): section venv|tools
section() { awk -v s="# --- $1 " 'index($0, "# --- ") == 1 { on = (index($0, s) == 1) } on' "$SELF"; }
stamp_ok() { [[ -f "$STAMPS/$1.stamp" && "$(cat "$STAMPS/$1.stamp")" == "$2" ]]; }
stamp_set() { printf '%s\n' "$2" >"$STAMPS/$1.stamp"; }

# --- Debian packages ----------------------------------------------------------
PY="$(command -v python3 || true)"
APT_PKGS=()
if ((want_build)); then APT_PKGS+=("${BUILD_PKGS[@]}"); fi
if ((want_test_apt)); then APT_PKGS+=("${TEST_PKGS[@]}"); fi
if ((want_venv)); then
  # Debian's own python3 needs python3-venv for `python3 -m venv` (pyenv's does not).
  if [[ -z "$PY" || "$(readlink -f "$PY")" == /usr/bin/* ]]; then
    APT_PKGS+=(python3 python3-venv)
  fi
fi

if ((${#APT_PKGS[@]})); then
  mapfile -t present < <(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${APT_PKGS[@]}" 2>/dev/null |
    awk '$1 == "ii" { print $2 }' || true)
  missing=()
  for p in "${APT_PKGS[@]}"; do
    [[ " ${present[*]} " == *" $p "* ]] || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "apt: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    quiet "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  else
    log "apt: ${#APT_PKGS[@]} packages present"
  fi
fi
[[ -n "$PY" ]] || PY="$(command -v python3 || true)"

# --- venv (Python virtualenv) ----------------------------------------------------------
if ((want_venv)); then
  [[ -n "$PY" ]] || die "python3 not found on PATH"
  pyver="$("$PY" -c 'import sys; print(sys.version.split()[0])')"
  key="$(hash_of "venv $pyver" "$TP/requirements.txt" <(section venv))"
  if stamp_ok venv "$key" && [[ -x "$VENV/bin/python" ]]; then
    log "venv: up to date (.venv, python $pyver)"
  else
    log "venv: installing third_party/requirements.txt into .venv (python $pyver)"
    if [[ ! -x "$VENV/bin/python" ]] ||
      [[ "$("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null)" != "$pyver" ]]; then
      rm -rf "$VENV"
      "$PY" -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q \
      -r "$TP/requirements.txt"
    "$VENV/bin/python" -m pip check --disable-pip-version-check >/dev/null ||
      die "pip check failed in .venv"
    stamp_set venv "$key"
  fi
fi

# --- tools (Go) ---------------------------------------------------------------------
if ((want_tools)); then
  GO="$(command -v go || true)"
  [[ -n "$GO" ]] || GO=/usr/local/go/bin/go
  [[ -x "$GO" ]] || die "Go not found (expected on PATH or at /usr/local/go/bin/go; Go >= 1.26 needed)"
  export GOTOOLCHAIN="${GOTOOLCHAIN:-local}" GOWORK=off
  export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false"
  gover="$("$GO" env GOVERSION GOOS GOARCH | tr '\n' ' ')"
  key="$(hash_of "tools $gover ${GO_TOOLS[*]} $FERRETDB_MOD" "$TP/tools/go.mod" "$TP/tools/go.sum" \
    <(section tools))"
  bins_ok=1
  for t in "${GO_TOOLS[@]}" "ferretdb"; do
    [[ -x "$TOOLS_BIN/${t%% *}" ]] || bins_ok=0
  done
  if stamp_ok tools "$key" && ((bins_ok)); then
    log "tools: up to date (.tools/bin)"
  else
    log "tools: building Go tools into .tools/bin (${gover% })"
    mkdir -p "$TOOLS_BIN"
    (
      cd "$TP/tools"
      for t in "${GO_TOOLS[@]}"; do
        read -r name pkg var <<<"$t"
        flags=(-trimpath)
        # The interop client finds its --use_test_ca CA (grpc testdata/ca.pem) by
        # source path: keep real paths (into GOMODCACHE) for it.
        [[ "$name" == grpc-interop-client ]] && flags=()
        if [[ -n "${var:-}" ]]; then
          mod="$(quiet "$GO" list -f '{{.Module.Path}}' "$pkg")"
          ver="$(quiet "$GO" list -m -f '{{.Version}}' "$mod")"
          flags+=(-ldflags "-X $var=$ver")
        fi
        quiet "$GO" build "${flags[@]}" -o "$TOOLS_BIN/$name.tmp" "$pkg"
        mv -f "$TOOLS_BIN/$name.tmp" "$TOOLS_BIN/$name"
      done

      # FerretDB refuses to start when built as a dependency (its embedded
      # build/version/version.txt is absent from the module zip), so build it as
      # its own main module, with its own go.mod/go.sum, from a writable copy of
      # the module source at the version pinned in go.mod.
      fver="$(quiet "$GO" list -m -f '{{.Version}}' "$FERRETDB_MOD")"
      quiet "$GO" mod download "$FERRETDB_MOD"
      fdir="$(quiet "$GO" list -m -f '{{.Dir}}' "$FERRETDB_MOD")"
      [[ -n "$fdir" && -d "$fdir" ]] || die "FerretDB module source not found"
      src="$STAMPS/src/FerretDB@$fver"
      rm -rf "$src"
      mkdir -p "$(dirname "$src")"
      cp -R "$fdir" "$src"
      chmod -R u+w "$src"
      printf '%s\n' "$fver" >"$src/build/version/version.txt"
      cd "$src"
      quiet "$GO" build -trimpath -o "$TOOLS_BIN/ferretdb.tmp" ./cmd/ferretdb
      mv -f "$TOOLS_BIN/ferretdb.tmp" "$TOOLS_BIN/ferretdb"
      cd "$ROOT"
      rm -rf "$STAMPS/src"
    )
    "$TOOLS_BIN/ferretdb" --version >/dev/null || die "ferretdb --version failed"
    stamp_set tools "$key"
  fi
fi

log "done ($*) in ${SECONDS}s"
