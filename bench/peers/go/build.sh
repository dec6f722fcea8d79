#!/usr/bin/env bash
# Builds the Go peers into $1 (default ./bin): echo (grpc-go) and
# todos-mirror (grpc-go + official MongoDB driver). Stubs are generated from
# bench/proto/helloworld.proto and proto/todos.proto with the protoc plugins
# pinned as tools in go.mod.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
OUT="${1:-$HERE/bin}"
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false" GOTOOLCHAIN="${GOTOOLCHAIN:-local}" GOWORK=off
cd "$HERE"
mkdir -p "$OUT/plugins" helloworld todos
go build -o "$OUT/plugins/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
go build -o "$OUT/plugins/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc
P=(protoc --plugin=protoc-gen-go="$OUT/plugins/protoc-gen-go" --plugin=protoc-gen-go-grpc="$OUT/plugins/protoc-gen-go-grpc")
"${P[@]}" -I"$ROOT/bench/proto" --go_out=helloworld --go_opt=paths=source_relative \
  --go-grpc_out=helloworld --go-grpc_opt=paths=source_relative helloworld.proto
"${P[@]}" -I"$ROOT/proto" -I/usr/include --go_out=todos --go_opt=paths=source_relative \
  --go_opt=Mtodos.proto=bench/peers/go/todos --go-grpc_out=todos --go-grpc_opt=paths=source_relative \
  --go-grpc_opt=Mtodos.proto=bench/peers/go/todos todos.proto
go build -trimpath -o "$OUT/grpc-go-echo" ./cmd/echo
go build -trimpath -o "$OUT/todos-mirror" ./cmd/todos-mirror
