// Package pack holds the packed data format: per-user samples grouped by
// user in one binary file that training streams from disk (through a
// memory map on unix, else in large sequential reads), so that data sets
// larger than memory train with bounded memory.
//
// # Format, version 1
//
// All integers and floats are little-endian.
//
//	header   "LRSPDATA", version uint32 (1), precision uint32 (4 or 8:
//	         bytes per feature value), d uint32, flags uint32 (bit 0: the
//	         samples have targets), users uint64, samples uint64, JSON
//	         length uint32, JSON {"features": [...]}, zero padding to a
//	         multiple of 64 bytes
//	data     per user, at an offset that is a multiple of 8: m targets
//	         (float64, when the samples have targets), then m*d features
//	         (float32 or float64, row-major), then zero padding to a
//	         multiple of 8 bytes
//	index    per user: uvarint ID length, ID, uvarint m, uvarint data
//	         offset (from the start of the data section) divided by 8,
//	         CRC-32C of the user's data bytes (uint32), then m uvarint
//	         input row numbers
//	trailer  index offset uint64, index length uint64, CRC-32C of the
//	         index (uint32), CRC-32C of the header (uint32), "LRSPEND\x00"
//
// The data section can be memory-mapped: every user's targets and features
// are aligned for their type.
//
// The input row numbers of all users together must be 0..samples-1, each
// once (Open refuses other files). docs/pack-format.md in the repository
// restates the format for writers in other languages (CRC-32C is the
// Castagnoli CRC, initial value and final xor 0xFFFFFFFF; uvarint is
// encoding/binary's), and python/lrsp writes it with numpy.
package pack

import (
	"hash/crc32"
	"strings"
)

// Version is the packed format version that Writer writes and Open reads.
const Version = 1

const (
	magic       = "LRSPDATA"
	endMagic    = "LRSPEND\x00"
	fixedHeader = 8 + 4*4 + 8*2 + 4
	trailerSize = 8 + 8 + 4 + 4 + 8
	flagTarget  = 1
	// maxID bounds a user ID; maxJSON bounds the header's JSON.
	maxID   = 4096
	maxJSON = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Precision is the storage type of feature values.
type Precision int

const (
	// Float64 stores features as float64: exact.
	Float64 Precision = 8
	// Float32 stores features as float32, halving the bytes streamed per
	// round; values are widened to float64 before any arithmetic.
	Float32 Precision = 4
)

func (p Precision) valid() bool { return p == Float32 || p == Float64 }

func pad8(n int64) int64 { return (n + 7) &^ 7 }

// Ext is the file name extension of packed data files.
const Ext = ".lrspd"

// IsPath reports whether path names a packed data file, by its extension.
func IsPath(path string) bool { return strings.HasSuffix(path, Ext) }
