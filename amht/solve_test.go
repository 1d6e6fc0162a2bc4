package amht

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/lrsp/lrsp/internal/vec"
)

// TestNormalEquations checks the normal equations of lsq (vec.NormalEquations
// on the column-major design) against gonum's Syrk and Gemv on the
// row-major one.
func TestNormalEquations(t *testing.T) {
	for _, tc := range []struct{ m, n int }{{1, 1}, {3, 5}, {20, 10}, {50, 7}, {7, 12}} {
		rng := rand.New(rand.NewPCG(uint64(tc.m), uint64(tc.n)))
		D := make([]float64, tc.m*tc.n)
		y := make([]float64, tc.m)
		for i := range D {
			D[i] = rng.NormFloat64()
		}
		for i := range y {
			y[i] = rng.NormFloat64()
		}
		g := make([]float64, tc.n*tc.n)
		z := make([]float64, tc.n)
		for i := range g {
			g[i] = math.NaN() // stale values must be overwritten
		}
		cols := make([]float64, tc.m*tc.n)
		for i := 0; i < tc.m; i++ {
			for a := 0; a < tc.n; a++ {
				cols[a*tc.m+i] = D[i*tc.n+a]
			}
		}
		vec.NormalEquations(g, z, cols, y, tc.n)
		Dg := blas64.General{Rows: tc.m, Cols: tc.n, Stride: tc.n, Data: D}
		want := blas64.Symmetric{N: tc.n, Stride: tc.n, Data: make([]float64, tc.n*tc.n), Uplo: blas.Upper}
		blas64.Syrk(blas.Trans, 1, Dg, 0, want)
		wz := make([]float64, tc.n)
		blas64.Gemv(blas.Trans, 1, Dg, blas64.Vector{N: tc.m, Inc: 1, Data: y}, 0, blas64.Vector{N: tc.n, Inc: 1, Data: wz})
		for a := 0; a < tc.n; a++ {
			if math.Abs(z[a]-wz[a]) > 1e-12*(1+math.Abs(wz[a])) {
				t.Errorf("m=%d n=%d: z[%d] = %v, want %v", tc.m, tc.n, a, z[a], wz[a])
			}
			for b := a; b < tc.n; b++ {
				if got, w := g[a*tc.n+b], want.Data[a*tc.n+b]; math.Abs(got-w) > 1e-12*(1+math.Abs(w)) {
					t.Errorf("m=%d n=%d: G[%d,%d] = %v, want %v", tc.m, tc.n, a, b, got, w)
				}
			}
		}
	}
}
