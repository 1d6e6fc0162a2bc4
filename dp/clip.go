package dp

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// clipMargin keeps clipped norms strictly below the clip bound despite the
// rounding of the products that form a contribution (relative error of a
// few ulps per entry): contributions are scaled to at most
// C * (1 - clipMargin).
const clipMargin = 1e-12

// scratch holds one goroutine's buffers for forming contributions.
type scratch struct {
	theta []float64 // d
	g     []float64 // d
	resid []float64 // maxM
}

func newScratch(d, maxM int) *scratch {
	return &scratch{theta: make([]float64, d), g: make([]float64, d), resid: make([]float64, maxM)}
}

// clippedUpdate writes into dst (d x r, row-major) the clipped U-update of
// one user with samples x (m x d), targets y, personal parameters w (r)
// and sparse part b (idx, val), for the published basis u (d x r):
//
//	G = (1/m) X^T e w^T / ||w||^2,  e = y - X (U w + b),
//
// scaled down to Frobenius norm at most clip*(1-clipMargin). G has rank one,
// ||G||_F = ||g|| / ||w|| with g = X^T e / m, so it is formed from the unit
// vectors g/||g|| and w/||w|| and the clipped scalar, which cannot overflow.
// When w or g is zero, dst is zero. When the arithmetic overflows (non-finite
// ||g|| or ||w||, possible only for |x|*|y| beyond about 1e300), dst is zero
// and clippedUpdate returns false. In every case ||dst||_F <= clip.
func clippedUpdate(dst, x, y, u, w []float64, idx []int32, val []float64, clip float64, s *scratch) bool {
	clear(dst)
	d, r, m := len(s.theta), len(w), len(y)
	theta := s.theta
	for j := 0; j < d; j++ {
		t := 0.0
		for c, wc := range w {
			t += u[j*r+c] * wc
		}
		theta[j] = t
	}
	for p, j := range idx {
		theta[j] += val[p]
	}
	e := s.resid[:m]
	copy(e, y)
	X := blas64.General{Rows: m, Cols: d, Stride: d, Data: x}
	blas64.Gemv(blas.NoTrans, -1, X, blas64.Vector{N: d, Inc: 1, Data: theta}, 1, blas64.Vector{N: m, Inc: 1, Data: e})
	g := blas64.Vector{N: d, Inc: 1, Data: s.g}
	blas64.Gemv(blas.Trans, 1/float64(m), X, blas64.Vector{N: m, Inc: 1, Data: e}, 0, g)
	gn := blas64.Nrm2(g)
	wn := blas64.Nrm2(blas64.Vector{N: r, Inc: 1, Data: w})
	if !isFinite(gn) || !isFinite(wn) {
		return false
	}
	if gn == 0 || wn == 0 {
		return true
	}
	scale := math.Min(gn/wn, clip*(1-clipMargin)) // gn/wn may be +Inf: then clip
	for j := 0; j < d; j++ {
		a := scale * (s.g[j] / gn)
		for c, wc := range w {
			dst[j*r+c] = a * (wc / wn)
		}
	}
	return true
}

// initContribution adds to acc (d x d, upper triangle used) the outer
// product v v^T of the unit vector v = X^T y / ||X^T y||, whose Frobenius
// norm is 1, and reports false (adding nothing) when X^T y overflows. A
// zero X^T y adds nothing.
func initContribution(acc, x, y []float64, s *scratch) bool {
	n, ok := initUnit(x, y, s)
	if !ok || n == 0 {
		return ok
	}
	d := len(s.g)
	blas64.Syr(1, blas64.Vector{N: d, Inc: 1, Data: s.g}, blas64.Symmetric{N: d, Stride: d, Data: acc, Uplo: blas.Upper})
	return true
}

// initUpper writes into tri (d(d+1)/2) the upper triangle, row by row, of
// scale * v v^T for the unit vector v = X^T y / ||X^T y||, whose norm is at
// most scale * (1 + a few ulps); tri is zero when X^T y is zero, and
// initUpper reports false (tri zero) when X^T y overflows.
func initUpper(tri, x, y []float64, scale float64, s *scratch) bool {
	clear(tri)
	n, ok := initUnit(x, y, s)
	if !ok || n == 0 {
		return ok
	}
	p := 0
	for a, va := range s.g {
		for _, vc := range s.g[a:] {
			tri[p] = scale * va * vc
			p++
		}
	}
	return true
}

// initUnit sets s.g to X^T y / ||X^T y|| and returns ||X^T y|| (s.g is
// then unscaled when it is 0), and false when it is not finite.
func initUnit(x, y []float64, s *scratch) (float64, bool) {
	d, m := len(s.g), len(y)
	X := blas64.General{Rows: m, Cols: d, Stride: d, Data: x}
	v := blas64.Vector{N: d, Inc: 1, Data: s.g}
	blas64.Gemv(blas.Trans, 1, X, blas64.Vector{N: m, Inc: 1, Data: y}, 0, v)
	n := blas64.Nrm2(v)
	if !isFinite(n) {
		return n, false
	}
	if n != 0 {
		for j := range s.g {
			s.g[j] /= n
		}
	}
	return n, true
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
