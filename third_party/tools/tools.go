//go:build tools

// Package tools pins the Go command-line tools used by the project's tests,
// load runs and conformance checks. Versions live in go.mod / go.sum beside
// this file; third_party/deps.sh builds them into .tools/bin.
package tools

import (
	_ "github.com/FerretDB/FerretDB/cmd/ferretdb"
	_ "github.com/bojand/ghz/cmd/ghz"
	_ "github.com/fullstorydev/grpcurl/cmd/grpcurl"
	_ "github.com/grpc-ecosystem/grpc-health-probe"
	_ "github.com/summerwind/h2spec/cmd/h2spec"
	_ "google.golang.org/grpc/interop/client"
)
