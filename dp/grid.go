package dp

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"
)

// grid rounds the users' contributions to one release onto the grid 2^e
// and adds discrete Gaussian noise to their integer sum (see the package
// documentation, "Discrete noise").
//
// Each contribution is clipped to Frobenius norm at most Clip() = C -
// sqrt(D) 2^e / 2 (D coordinates) before every coordinate is rounded to the
// nearest multiple of 2^e. Rounding moves each coordinate by at most
// 2^e/2, so the rounded vector is within sqrt(D) 2^e/2 of the clipped one
// and has norm at most C: in grid steps, the integer vector of one user
// has L2 norm at most C/2^e, the sensitivity of the integer sum. round
// checks this exactly for every user.
type grid struct {
	e     int     // the grid is 2^e
	clip  float64 // the reduced clip norm for the unrounded contribution
	bound big.Float
	noise *DiscreteGaussian
}

// newGrid returns the grid of a release of dim coordinates with L2
// sensitivity clip and noise multiplier sigma, for up to users
// contributors, and its noise sampler drawing bits from src.
func newGrid(sigma, clip float64, dim, users int, src BitSource) (*grid, error) {
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
	g := &grid{e: e, clip: clip - slack}
	g.bound.SetPrec(128).SetFloat64(c)
	g.bound.Mul(&g.bound, &g.bound) // exact: 106 bits suffice
	var err error
	if g.noise, err = NewDiscreteGaussian(gridSigma(sigma, clip, e), src); err != nil {
		return nil, err
	}
	return g, nil
}

// Clip returns the norm to which a contribution is clipped before it is
// rounded.
func (g *grid) Clip() float64 { return g.clip }

// round adds to acc the contribution v (norm at most g.Clip()) rounded to
// the grid, in grid steps, and returns an error if the rounded vector's
// exact squared norm exceeds the sensitivity's square (which the bound in
// the type's documentation rules out).
func (g *grid) round(acc []int64, v []float64) error {
	var sq uint64
	overflow := false
	for j, x := range v {
		k := int64(math.Round(math.Ldexp(x, -g.e)))
		acc[j] += k
		a := uint64(k)
		if k < 0 {
			a = uint64(-k)
		}
		hi, lo := bits.Mul64(a, a)
		var carry uint64
		sq, carry = bits.Add64(sq, lo, 0)
		overflow = overflow || hi != 0 || carry != 0
	}
	if overflow || new(big.Float).SetUint64(sq).Cmp(&g.bound) > 0 {
		return fmt.Errorf("dp: internal error: a contribution rounded to the grid 2^%d exceeds the clip norm", g.e)
	}
	return nil
}

// noisy returns 2^e (sum_j + Z_j) for independent Z_j from the discrete
// Gaussian: the released vector.
func (g *grid) noisy(sum []int64) []float64 {
	out := make([]float64, len(sum))
	for j, s := range sum {
		out[j] = math.Ldexp(float64(s+g.noise.Sample()), g.e)
	}
	return out
}
