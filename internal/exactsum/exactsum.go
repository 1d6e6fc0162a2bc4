// Package exactsum holds sums of float64 values kept exactly, as integers
// in units of the smallest subnormal float64 (2^-1074), so that adding a
// value and subtracting it again restores the sum bit for bit, whatever
// the magnitudes in between.
package exactsum

import (
	"errors"
	"fmt"
	"math"
	"math/big"
)

// maxBytes bounds the magnitude of an encoded sum: a float64 in units of
// 2^-1074 needs at most 2098 bits, and 2^64 such terms 64 more.
const maxBytes = (2098 + 64 + 7) / 8

// Sum is an exact sum of finite float64 values. The zero value is 0.
type Sum struct {
	v big.Int // the sum in units of 2^-1074
}

// scaled returns x * 2^1074 as an integer; x must be finite.
func scaled(x float64, z *big.Int) *big.Int {
	bits := math.Float64bits(x)
	exp := int(bits>>52) & 0x7ff
	mant := bits & (1<<52 - 1)
	if exp != 0 {
		mant |= 1 << 52
		exp-- // x = mant * 2^(exp-1-1074): subnormals have exponent 1-1075
	}
	z.SetUint64(mant)
	z.Lsh(z, uint(exp))
	if bits>>63 != 0 {
		z.Neg(z)
	}
	return z
}

// Add adds x, which must be finite, to s.
func (s *Sum) Add(x float64) {
	var t big.Int
	s.v.Add(&s.v, scaled(x, &t))
}

// Sub subtracts x, which must be finite, from s.
func (s *Sum) Sub(x float64) {
	var t big.Int
	s.v.Sub(&s.v, scaled(x, &t))
}

// Float64 returns the sum rounded to the nearest float64 (ties to even),
// or +-Inf when it is beyond the float64 range.
func (s *Sum) Float64() float64 {
	var f big.Float
	f.SetInt(&s.v) // exact: the precision is set to the integer's length
	f.SetMantExp(&f, -1074)
	x, _ := f.Float64()
	return x
}

// Mean returns the sum divided by n, rounded once to the nearest float64,
// or 0 when n is 0.
func (s *Sum) Mean(n int64) float64 {
	if n == 0 {
		return 0
	}
	var f, d big.Float
	f.SetInt(&s.v)
	f.SetMantExp(&f, -1074)
	d.SetInt64(n)
	f.SetPrec(2200).SetMode(big.ToNearestEven)
	f.Quo(&f, &d)
	x, _ := f.Float64()
	return x
}

// Set sets s to t and returns s.
func (s *Sum) Set(t *Sum) *Sum {
	s.v.Set(&t.v)
	return s
}

// Equal reports whether s and t hold the same sum.
func (s *Sum) Equal(t *Sum) bool { return s.v.Cmp(&t.v) == 0 }

// AppendBinary appends the encoding of s to dst: a sign byte (0 or 1), a
// length byte pair (big-endian) and the magnitude, big-endian.
func (s *Sum) AppendBinary(dst []byte) []byte {
	mag := s.v.Bytes()
	sign := byte(0)
	if s.v.Sign() < 0 {
		sign = 1
	}
	dst = append(dst, sign, byte(len(mag)>>8), byte(len(mag)))
	return append(dst, mag...)
}

// Decode reads one sum encoded by AppendBinary from the start of b and
// returns the bytes after it.
func (s *Sum) Decode(b []byte) ([]byte, error) {
	if len(b) < 3 || b[0] > 1 {
		return nil, errors.New("exactsum: bad header")
	}
	n := int(b[1])<<8 | int(b[2])
	if n > maxBytes || len(b)-3 < n {
		return nil, fmt.Errorf("exactsum: magnitude of %d bytes (%d left), want at most %d", n, len(b)-3, maxBytes)
	}
	if n > 0 && b[3] == 0 {
		return nil, errors.New("exactsum: magnitude with a leading zero byte")
	}
	s.v.SetBytes(b[3 : 3+n])
	if b[0] == 1 {
		if n == 0 {
			return nil, errors.New("exactsum: negative zero")
		}
		s.v.Neg(&s.v)
	}
	return b[3+n:], nil
}
