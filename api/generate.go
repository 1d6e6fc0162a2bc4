// Package api holds the specifications of lrsp's serving API: the JSON API
// in openapi.yaml and the binary batch API (gRPC and Connect) in
// lrsp/v1/predict.proto, whose generated Go code is under gen/. The
// generated code is committed, so building and testing lrsp need no
// protoc; "go generate ./api/" regenerates it (see gen.sh).
package api

//go:generate sh gen.sh
