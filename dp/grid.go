package dp

import (
	"fmt"
	"math"
	"math/bits"
)

// Grid rounds the users' contributions to one release onto the grid 2^e
// and adds discrete Gaussian noise to their integer sum (see the package
// documentation, "Discrete noise"). The Beam trainer uses it too.
//
// Each contribution is clipped to Frobenius norm at most Clip() = C -
// sqrt(D) 2^e / 2 (D coordinates) before every coordinate is rounded to the
// nearest multiple of 2^e. Rounding moves each coordinate by at most
// 2^e/2, so the rounded vector is within sqrt(D) 2^e/2 of the clipped one
// and has norm at most C: in grid steps, the integer vector of one user
// has L2 norm at most C/2^e, the sensitivity of the integer sum. Round
// checks this exactly for every user.
type Grid struct {
	e     int     // the grid is 2^e
	clip  float64 // the reduced clip norm for the unrounded contribution
	sens  float64 // the sensitivity C/2^e in grid steps
	noise *DiscreteGaussian
}

// NewGrid returns the grid of a release of dim coordinates with L2
// sensitivity clip and noise multiplier sigma, for up to users
// contributors, and its noise sampler drawing bits from src.
func NewGrid(sigma, clip float64, dim, users int, src BitSource) (*Grid, error) {
	e := GridExponent(sigma, clip)
	step := math.Ldexp(1, e)
	slack := math.Sqrt(float64(dim)) * step / 2
	if !(slack <= clip/2) {
		return nil, fmt.Errorf("dp: %d coordinates are too many for the discrete noise (grid 2^%d, clip %g); use the continuous noise", dim, e, clip)
	}
	c := math.Ldexp(clip, -e) // the clip norm in grid steps, exact
	if (float64(users)+1)*(c+1) > 1<<61 {
		return nil, fmt.Errorf("dp: %d users of %g grid steps each overflow the integer sum of the discrete noise", users, c)
	}
	g := &Grid{e: e, clip: clip - slack, sens: c}
	var err error
	if g.noise, err = NewDiscreteGaussian(gridSigma(sigma, clip, e), src); err != nil {
		return nil, err
	}
	return g, nil
}

// Exponent returns e: the grid is 2^e.
func (g *Grid) Exponent() int { return g.e }

// Clip returns the norm to which a contribution is clipped before it is
// rounded.
func (g *Grid) Clip() float64 { return g.clip }

// Round adds to acc the contribution v (norm at most g.Clip()) rounded to
// the grid, in grid steps, and returns an error if the rounded vector's
// exact squared norm exceeds the sensitivity's square (which the bound in
// the type's documentation rules out).
func (g *Grid) Round(acc []int64, v []float64) error {
	for j, x := range v {
		acc[j] += int64(math.Round(math.Ldexp(x, -g.e)))
	}
	return checkRounded(v, g.e, g.sens)
}

// RoundToGrid rounds every entry of v to the nearest multiple of 2^e in
// place, and returns an error unless the result has L2 norm at most sens *
// 2^e, checked exactly. The Beam trainer's users round their clipped
// contributions with it.
func RoundToGrid(v []float64, e int, sens float64) error {
	for j, x := range v {
		v[j] = math.Ldexp(math.Round(math.Ldexp(x, -e)), e)
	}
	return checkRounded(v, e, sens)
}

// checkRounded checks that the integer vector round(v/2^e) has L2 norm at
// most sens, exactly (in 128-bit integers and 128-bit floats).
func checkRounded(v []float64, e int, sens float64) error {
	var hi, lo uint64
	overflow := false
	for _, x := range v {
		k := math.Abs(math.Round(math.Ldexp(x, -e)))
		if !(k < 1<<63) {
			overflow = true
			break
		}
		h, l := bits.Mul64(uint64(k), uint64(k))
		var carry uint64
		lo, carry = bits.Add64(lo, l, 0)
		hi, carry = bits.Add64(hi, h, carry)
		overflow = overflow || carry != 0
	}
	bhi, blo, ok := sqFloor(sens)
	if overflow || !ok || hi > bhi || (hi == bhi && lo > blo) {
		return fmt.Errorf("dp: internal error: a contribution rounded to the grid 2^%d exceeds the clip norm", e)
	}
	return nil
}

// sqFloor returns floor(s^2) as the 128-bit integer hi*2^64 + lo, exactly
// and without allocating (an integer sum of squares is at most s^2 exactly
// when it is at most floor(s^2)); a square of 2^128 or more saturates to
// 2^128 - 1. ok is false when s is negative or not finite.
func sqFloor(s float64) (hi, lo uint64, ok bool) {
	if !(s >= 0) || math.IsInf(s, 0) {
		return 0, 0, false
	}
	if s == 0 {
		return 0, 0, true
	}
	frac, exp := math.Frexp(s)
	m := uint64(math.Ldexp(frac, 53)) // s = m 2^(exp-53), m < 2^53
	hi, lo = bits.Mul64(m, m)         // m^2 < 2^106
	switch sh := 2 * (exp - 53); {
	case sh >= 64 || (sh > 0 && hi>>(64-sh) != 0):
		return math.MaxUint64, math.MaxUint64, true
	case sh > 0:
		return hi<<sh | lo>>(64-sh), lo << sh, true
	case sh <= -128:
		return 0, 0, true
	case sh <= -64:
		return 0, hi >> (-sh - 64), true
	case sh < 0:
		return hi >> -sh, lo>>-sh | hi<<(64+sh), true
	}
	return hi, lo, true
}

// Noisy returns 2^e (sum_j + Z_j) for independent Z_j from the discrete
// Gaussian: the released vector.
func (g *Grid) Noisy(sum []int64) []float64 {
	out := make([]float64, len(sum))
	for j, s := range sum {
		out[j] = math.Ldexp(float64(s+g.noise.Sample()), g.e)
	}
	return out
}
