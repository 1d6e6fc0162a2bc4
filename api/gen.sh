#!/bin/sh
# Regenerates gen/ from lrsp/v1/predict.proto (run by "go generate ./api/").
# Needs protoc (Debian: apt-get install protobuf-compiler) and Go; the two
# protoc plugins are built at pinned versions into a temporary directory.
set -eu
cd "$(dirname "$0")"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
GOBIN=$bin go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
GOBIN=$bin go install connectrpc.com/connect/cmd/protoc-gen-connect-go@v1.21.1
protoc --proto_path=. \
	--plugin=protoc-gen-go="$bin/protoc-gen-go" --go_out=gen --go_opt=paths=source_relative \
	--plugin=protoc-gen-connect-go="$bin/protoc-gen-connect-go" --connect-go_out=gen --connect-go_opt=paths=source_relative \
	lrsp/v1/predict.proto
