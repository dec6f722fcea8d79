#!/usr/bin/env bash
# deploy/podman-base.sh: make, locally, the Debian base image the Dockerfile's
# FROM lines name. No container registry is reachable from the project
# machines, so the image is bootstrapped from Debian's own packages.
#
#   bash deploy/podman-base.sh [--install] [--force] [--check]
#
#   --install  apt-get install podman and its helpers first when podman is missing
#   --force    rebuild the base image even when it exists
#   --check    only check that podman runs a container from it (exit 0/1)
#
# It makes localhost/debian:bookworm with debootstrap (minbase, slimmed like the
# official -slim image: no docs, man pages or locales; apt keeps no lists or
# debs) and tags it docker.io/library/debian:bookworm-slim and
# docker.io/library/debian:bookworm. When localhost/debian:bookworm exists it
# only makes sure of the tags (a second run takes a fraction of a second).
#
# Environment: MIRROR (default: the bookworm URI of this machine's apt sources),
# SECURITY_MIRROR (likewise for bookworm-security), CONTAINERS_CONF (default:
# deploy/containers.conf).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$HERE/containers.conf}"
IMAGE=localhost/debian:bookworm
TAGS=(docker.io/library/debian:bookworm-slim docker.io/library/debian:bookworm)
SUITE=bookworm
# The packages `podman build`/`podman run`/`podman kube play` need here
# (catatonit: the pause process of the pods `podman kube play` makes).
APT_PKGS=(podman buildah runc conmon fuse-overlayfs slirp4netns passt uidmap
  containernetworking-plugins netavark aardvark-dns iptables debootstrap catatonit)

log() { printf 'podman-base: %s\n' "$*" >&2; }
die() { printf 'podman-base: ERROR: %s\n' "$*" >&2; exit 1; }

install=0 force=0 check=0
for a in "$@"; do
  case "$a" in
    --install) install=1 ;;
    --force) force=1 ;;
    --check) check=1 ;;
    -h | --help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$a'" ;;
  esac
done

SUDO=()
[[ "$(id -u)" -eq 0 ]] || SUDO=(sudo)

if ((install)); then
  missing=()
  for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "apt: installing ${missing[*]}"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
fi
command -v podman >/dev/null || die "podman is not installed (run with --install)"

if ((check)); then
  exec podman run --rm --network none "$IMAGE" true
fi

# One bootstrap at a time (parallel test runs).
mkdir -p "$ROOT/build"
exec 9>"$ROOT/build/.podman-base.lock"
flock 9

tag_all() {
  for t in "${TAGS[@]}"; do podman tag "$IMAGE" "$t"; done
}

if ((!force)) && podman image exists "$IMAGE"; then
  tag_all
  exit 0
fi

# The URI of the first apt source (one-line or deb822 format) that carries $1.
apt_uri() {
  local suite="$1" f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -r "$f" ]] || continue
    if [[ "$f" == *.sources ]]; then
      awk -v s="$suite" '
        function flush() { if (uri != "" && (" " suites " ") ~ (" " s " ")) { print uri; found = 1; exit } uri = ""; suites = "" }
        /^[ \t]*$/ { flush(); next }
        /^URIs:/ { uri = $2 }
        /^Suites:/ { $1 = ""; suites = $0 }
        END { if (!found) flush() }' "$f"
    else
      awk -v s="$suite" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
        if ($(i + 1) == s) { print $i; exit } }' "$f"
    fi
  done | head -n 1
}

MIRROR="${MIRROR:-$(apt_uri "$SUITE")}"
SECURITY_MIRROR="${SECURITY_MIRROR:-$(apt_uri "$SUITE-security")}"
[[ -n "$MIRROR" ]] || die "no apt source for $SUITE found in /etc/apt/sources.list*; set MIRROR"
command -v debootstrap >/dev/null || die "debootstrap is not installed (run with --install)"

work="$(mktemp -d "${TMPDIR:-/var/tmp}/podman-base.XXXXXX")"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
log "debootstrap --variant=minbase $SUITE from $MIRROR (about 30 s)"
start=$SECONDS
"${SUDO[@]}" debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
  { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

# As the official -slim image: dpkg leaves out docs, man pages and locales of
# every later install, and apt keeps no package lists or downloaded debs.
"${SUDO[@]}" tee "$rootfs/etc/dpkg/dpkg.cfg.d/docker" >/dev/null <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
"${SUDO[@]}" tee "$rootfs/etc/apt/apt.conf.d/docker-clean" >/dev/null <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
"${SUDO[@]}" tee "$rootfs/etc/apt/apt.conf.d/docker-no-languages" >/dev/null <<'EOF'
Acquire::Languages "none";
EOF
# The same sources as the official image (debian.sources), on this machine's mirrors.
{
  printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$MIRROR" "$SUITE" "$SUITE"
  if [[ -n "$SECURITY_MIRROR" ]]; then
    printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$SECURITY_MIRROR" "$SUITE"
  fi
} | "${SUDO[@]}" tee "$rootfs/etc/apt/sources.list.d/debian.sources" >/dev/null
"${SUDO[@]}" rm -f "$rootfs/etc/apt/sources.list"
"${SUDO[@]}" find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
"${SUDO[@]}" find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
"${SUDO[@]}" rm -rf "$rootfs"/usr/share/{man,groff,info,lintian,linda}/* \
  "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
  "$rootfs"/var/log/* "$rootfs"/tmp/* "$rootfs"/root/.cache
"${SUDO[@]}" find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
# No machine identity baked in.
"${SUDO[@]}" sh -c ": > '$rootfs/etc/machine-id'; rm -f '$rootfs/etc/hostname' '$rootfs/etc/resolv.conf'"

"${SUDO[@]}" tar --numeric-owner -C "$rootfs" -c . |
  podman import --quiet --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$IMAGE" >/dev/null
tag_all
log "made $IMAGE ($(podman image inspect --format '{{.Size}}' "$IMAGE") bytes) in $((SECONDS - start)) s;" \
  "tagged ${TAGS[*]}"
