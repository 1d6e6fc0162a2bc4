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
	"math/bits"
)

// A float64 in units of 2^-1074 needs at most 2098 bits; limbs leaves room
// for 2^64 terms of either sign and more.
const limbs = 36

// maxBytes bounds the magnitude of an encoded sum: 2098 bits for one
// float64 plus 64 for 2^64 terms.
const maxBytes = (2098 + 64 + 7) / 8

// Sum is an exact sum of finite float64 values. The zero value is 0.
type Sum struct {
	// w is the sum in units of 2^-1074 as a two's complement integer of
	// limbs 64-bit words, least significant first.
	w [limbs]uint64
}

// parts returns the mantissa of finite x and the number of bits to shift
// it left to express x in units of 2^-1074.
func parts(x float64) (mant uint64, shift uint, neg bool) {
	b := math.Float64bits(x)
	exp := uint(b>>52) & 0x7ff
	mant = b & (1<<52 - 1)
	if exp != 0 {
		mant |= 1 << 52
		exp-- // x = mant * 2^(exp-1-1074); subnormals have exponent 1-1075
	}
	return mant, exp, b>>63 != 0
}

// Add adds x, which must be finite, to s.
func (s *Sum) Add(x float64) { s.add(x, false) }

// Sub subtracts x, which must be finite, from s.
func (s *Sum) Sub(x float64) { s.add(x, true) }

func (s *Sum) add(x float64, sub bool) {
	mant, shift, neg := parts(x)
	if mant == 0 {
		return
	}
	i, off := shift/64, shift%64
	lo, hi := mant<<off, uint64(0)
	if off > 0 {
		hi = mant >> (64 - off)
	}
	var c uint64
	if neg != sub { // subtract
		s.w[i], c = bits.Sub64(s.w[i], lo, 0)
		s.w[i+1], c = bits.Sub64(s.w[i+1], hi, c)
		for j := i + 2; c != 0 && j < limbs; j++ {
			s.w[j], c = bits.Sub64(s.w[j], 0, c)
		}
		return
	}
	s.w[i], c = bits.Add64(s.w[i], lo, 0)
	s.w[i+1], c = bits.Add64(s.w[i+1], hi, c)
	for j := i + 2; c != 0 && j < limbs; j++ {
		s.w[j], c = bits.Add64(s.w[j], 0, c)
	}
}

// negative reports whether the sum is below zero.
func (s *Sum) negative() bool { return s.w[limbs-1]>>63 != 0 }

// int returns the sum in units of 2^-1074 as a big.Int.
func (s *Sum) int() *big.Int {
	w := s.w
	neg := s.negative()
	if neg { // two's complement: invert and add one
		c := uint64(1)
		for j := range w {
			w[j], c = bits.Add64(^w[j], 0, c)
		}
	}
	b := make([]byte, 8*limbs)
	for j, v := range w {
		for k := range 8 {
			b[len(b)-1-8*j-k] = byte(v >> (8 * k))
		}
	}
	z := new(big.Int).SetBytes(b)
	if neg {
		z.Neg(z)
	}
	return z
}

// setInt sets s to z, which must fit.
func (s *Sum) setInt(z *big.Int) {
	var b [8 * limbs]byte
	z.FillBytes(b[:])
	for j := range s.w {
		var v uint64
		for k := range 8 {
			v |= uint64(b[len(b)-1-8*j-k]) << (8 * k)
		}
		s.w[j] = v
	}
	if z.Sign() < 0 {
		c := uint64(1)
		for j := range s.w {
			s.w[j], c = bits.Add64(^s.w[j], 0, c)
		}
	}
}

// Float64 returns the sum rounded to the nearest float64 (ties to even),
// or +-Inf when it is beyond the float64 range.
func (s *Sum) Float64() float64 {
	var f big.Float
	f.SetInt(s.int()) // exact: the precision is set to the integer's length
	f.SetMantExp(&f, -1074)
	x, _ := f.Float64()
	return x
}

// Mean returns the sum divided by n, rounded to a float64, or 0 when n is
// 0. The result depends only on the sum and n.
func (s *Sum) Mean(n int64) float64 {
	if n == 0 {
		return 0
	}
	var f, d big.Float
	f.SetInt(s.int())
	f.SetMantExp(&f, -1074)
	d.SetInt64(n)
	f.SetPrec(2200).SetMode(big.ToNearestEven)
	f.Quo(&f, &d)
	x, _ := f.Float64()
	return x
}

// Set sets s to t and returns s.
func (s *Sum) Set(t *Sum) *Sum {
	s.w = t.w
	return s
}

// Equal reports whether s and t hold the same sum.
func (s *Sum) Equal(t *Sum) bool { return s.w == t.w }

// AppendBinary appends the encoding of s to dst: a sign byte (0 or 1), a
// length byte pair (big-endian) and the magnitude, big-endian, in units of
// 2^-1074.
func (s *Sum) AppendBinary(dst []byte) []byte {
	z := s.int()
	mag := z.Bytes()
	sign := byte(0)
	if z.Sign() < 0 {
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
	z := new(big.Int).SetBytes(b[3 : 3+n])
	if b[0] == 1 {
		if n == 0 {
			return nil, errors.New("exactsum: negative zero")
		}
		z.Neg(z)
	}
	s.setInt(z)
	return b[3+n:], nil
}
