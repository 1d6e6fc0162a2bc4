//go:build !(386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm)

package serve

// nativeLittleEndian reports whether float64s are stored little-endian in
// memory, as protobuf encodes them, so that decodeBatch can copy packed
// features as bytes.
const nativeLittleEndian = false
