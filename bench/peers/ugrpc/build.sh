#!/usr/bin/env bash
# Builds the ugrpc echo peer into $1 against build/libugrpc.a via build/ugrpc.pc
# (run `make` first).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
OUT="${1:-$HERE/bin}"
BUILD="${BUILD:-$ROOT/build}"
GEN="$OUT/ugrpc-gen"
mkdir -p "$GEN"
protoc-c --c_out="$GEN" -I"$ROOT/bench/proto" helloworld.proto
PKG_CONFIG_PATH="$BUILD" cc -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -I"$GEN" \
  $(PKG_CONFIG_PATH="$BUILD" pkg-config --cflags ugrpc) -o "$OUT/ugrpc-echo" \
  "$HERE/echo.c" "$GEN/helloworld.pb-c.c" $(PKG_CONFIG_PATH="$BUILD" pkg-config --libs --static ugrpc)
