#!/usr/bin/env bash
# Builds the gRPC C++ echo peer into $1 (needs Debian libgrpc++-dev and
# protobuf-compiler-grpc).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${1:-$HERE/bin}"
GEN="$OUT/cpp-gen"
mkdir -p "$GEN"
protoc -I"$HERE/../../proto" --cpp_out="$GEN" --grpc_out="$GEN" \
  --plugin=protoc-gen-grpc="$(command -v grpc_cpp_plugin)" helloworld.proto
g++ -O2 -std=c++17 -I"$GEN" -o "$OUT/cpp-echo" "$HERE/echo_server.cc" "$GEN/helloworld.pb.cc" \
  "$GEN/helloworld.grpc.pb.cc" $(pkg-config --cflags --libs grpc++ protobuf) -lpthread
