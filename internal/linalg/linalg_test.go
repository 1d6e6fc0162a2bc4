package linalg

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// TestThinQRFoldR checks that re-orthonormalizing U and folding R into the
// users' w leaves every U w unchanged and makes U orthonormal.
func TestThinQRFoldR(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	d, r, users := 7, 3, 4
	u := make([]float64, d*r)
	ws := make([]float64, users*r)
	for i := range u {
		u[i] = rng.NormFloat64()
	}
	for i := range ws {
		ws[i] = rng.NormFloat64()
	}
	before := products(d, r, u, ws)
	rr, ok := ThinQR(d, r, u)
	if !ok {
		t.Fatal("full-rank matrix reported rank-deficient")
	}
	FoldR(r, rr, ws)
	after := products(d, r, u, ws)
	for i := range before {
		if math.Abs(before[i]-after[i]) > 1e-12 {
			t.Fatalf("U w changed at %d: %v -> %v", i, before[i], after[i])
		}
	}
	for a := 0; a < r; a++ {
		for b := 0; b < r; b++ {
			s := 0.0
			for j := 0; j < d; j++ {
				s += u[j*r+a] * u[j*r+b]
			}
			if want := float64(btoi(a == b)); math.Abs(s-want) > 1e-12 {
				t.Errorf("(U^T U)[%d][%d] = %v, want %v", a, b, s, want)
			}
		}
	}
	if _, ok := ThinQR(2, 2, []float64{1, 1, 1, 1}); ok {
		t.Error("rank-1 matrix reported full rank")
	}
	if _, ok := ThinQR(1, 1, []float64{math.NaN()}); ok {
		t.Error("NaN matrix reported full rank")
	}
}

func products(d, r int, u, ws []float64) []float64 {
	var out []float64
	for i := 0; i < len(ws); i += r {
		for j := 0; j < d; j++ {
			s := 0.0
			for c := 0; c < r; c++ {
				s += u[j*r+c] * ws[i+c]
			}
			out = append(out, s)
		}
	}
	return out
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestTopK(t *testing.T) {
	tests := []struct {
		v    []float64
		k    int
		want []int
	}{
		{[]float64{1, -5, 3, 0, 4}, 2, []int{1, 4}},
		{[]float64{1, -5, 3, 0, 4}, 9, []int{1, 4, 2, 0}},
		{[]float64{0, 0}, 1, nil},
		{[]float64{2, -2, 1}, 0, nil},
	}
	for _, tt := range tests {
		if got := TopK(tt.v, tt.k, nil); !slices.Equal(got, tt.want) {
			t.Errorf("TopK(%v, %d) = %v, want %v", tt.v, tt.k, got, tt.want)
		}
	}
}

// TestTopKMatchesSort checks TopK against sorting the indices by
// decreasing magnitude (ties by index) on random vectors with ties, signs
// and zeros, for k below, at and above the number of non-zeros.
func TestTopKMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 2000; trial++ {
		n := rng.IntN(40)
		v := make([]float64, n)
		for j := range v {
			v[j] = float64(rng.IntN(7) - 3) // -3..3: ties, both signs, zeros
		}
		k := rng.IntN(n + 3)
		var want []int
		for j := range v {
			if v[j] != 0 {
				want = append(want, j)
			}
		}
		slices.SortStableFunc(want, func(a, b int) int {
			switch x, y := math.Abs(v[a]), math.Abs(v[b]); {
			case x > y:
				return -1
			case x < y:
				return 1
			}
			return 0
		})
		want = want[:min(k, len(want))]
		if got := TopK(v, k, make([]int, 5)); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("TopK(%v, %d) = %v, want %v", v, k, got, want)
		}
	}
}

func TestSupportHelpers(t *testing.T) {
	if !SameSet([]int{3, 1, 2}, []int{1, 2, 3}) || SameSet([]int{1, 2}, []int{1, 3}) || SameSet([]int{1}, []int{1, 2}) {
		t.Error("SameSet")
	}
	idx, val := []int{5, 1, 3}, []float64{50, 10, 30}
	SortSupport(idx, val)
	if !slices.Equal(idx, []int{1, 3, 5}) || !slices.Equal(val, []float64{10, 30, 50}) {
		t.Errorf("SortSupport: %v %v", idx, val)
	}
	if got := TransposeInto(nil, 2, 3, []float64{1, 2, 3, 4, 5, 6}); !slices.Equal(got, []float64{1, 4, 2, 5, 3, 6}) {
		t.Errorf("TransposeInto: %v", got)
	}
}

// TestTopEigenvectors checks a diagonal matrix given as two partial sums:
// the top eigenvectors are the unit vectors of its largest entries.
func TestTopEigenvectors(t *testing.T) {
	a := []float64{1, 0, 0, 0, 5, 0, 0, 0, 2}
	b := []float64{0, 0, 0, 0, 1, 0, 0, 0, 1} // the sum's diagonal is 1, 6, 3
	u, vals, err := TopEigenvectors(3, 2, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(vals, []float64{6, 3}) {
		t.Errorf("eigenvalues %v, want [6 3]", vals)
	}
	// Columns are e_1 and e_2 up to sign.
	want := []float64{0, 0, 1, 0, 0, 1}
	for i := range u {
		if math.Abs(math.Abs(u[i])-want[i]) > 1e-12 {
			t.Fatalf("eigenvectors %v, want %v up to sign", u, want)
		}
	}
}

func TestJitteredCholesky(t *testing.T) {
	// W = [[4, 2], [2, 5]]: R = [[2, 1], [0, 2]] up to the tiny jitter.
	R := JitteredCholesky(2, []float64{4, 2, 0, 5}, 0)
	want := []float64{2, 1, 0, 2}
	for i, v := range want {
		if math.Abs(R.Data[i]-v) > 1e-12 {
			t.Fatalf("R = %v, want %v", R.Data, want)
		}
	}
	// A matrix that is not positive definite falls back to the identity.
	if R := JitteredCholesky(2, []float64{1, 2, 0, 1}, 1e-10); R.Data[0] != 1 || R.Data[3] != 1 || R.Data[1] != 0 {
		t.Errorf("singular W gave %v, want the identity", R.Data)
	}
}

// TestCholesky holds Cholesky and CholeskySolve to LAPACK's dpotrf and
// dpotrs (gonum) on random positive definite matrices of the sizes of a
// user's solve, and checks that they reject what dpotrf rejects.
func TestCholesky(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for n := 0; n <= 12; n++ {
		a := make([]float64, (n+3)*n)
		for i := range a {
			a[i] = rng.NormFloat64()
		}
		g := make([]float64, n*n) // A^T A, upper triangle; NaN below
		for p := 0; p < n; p++ {
			for q := 0; q < n; q++ {
				if q < p {
					g[p*n+q] = math.NaN()
					continue
				}
				for i := 0; i < n+3; i++ {
					g[p*n+q] += a[i*n+p] * a[i*n+q]
				}
			}
		}
		z := make([]float64, n)
		for i := range z {
			z[i] = rng.NormFloat64()
		}
		want, wz := slices.Clone(g), slices.Clone(z)
		W := blas64.Symmetric{N: n, Stride: n, Data: want, Uplo: blas.Upper}
		if _, ok := lapack64.Potrf(W); !ok {
			t.Fatalf("n=%d: dpotrf failed", n)
		}
		lapack64.Potrs(blas64.Triangular{N: n, Stride: n, Data: want, Uplo: blas.Upper, Diag: blas.NonUnit},
			blas64.General{Rows: n, Cols: 1, Stride: 1, Data: wz})
		if !Cholesky(n, g) {
			t.Fatalf("n=%d: Cholesky failed", n)
		}
		CholeskySolve(n, g, z)
		for p := 0; p < n; p++ {
			for q := p; q < n; q++ {
				if math.Abs(g[p*n+q]-want[p*n+q]) > 1e-12*(1+math.Abs(want[p*n+q])) {
					t.Errorf("n=%d: R[%d,%d] = %v, dpotrf %v", n, p, q, g[p*n+q], want[p*n+q])
				}
			}
			if math.Abs(z[p]-wz[p]) > 1e-9*(1+math.Abs(wz[p])) {
				t.Errorf("n=%d: x[%d] = %v, dpotrs %v", n, p, z[p], wz[p])
			}
		}
	}
	for _, bad := range [][]float64{
		{1, 2, 0, 1},          // indefinite
		{0, 0, 0, 1},          // singular
		{math.NaN(), 0, 0, 1}, // NaN pivot
		{1, 1, 0, 1},          // rank one
	} {
		if Cholesky(2, slices.Clone(bad)) {
			t.Errorf("Cholesky accepted %v", bad)
		}
		if _, ok := lapack64.Potrf(blas64.Symmetric{N: 2, Stride: 2, Data: slices.Clone(bad), Uplo: blas.Upper}); ok {
			t.Errorf("dpotrf accepted %v (test case is wrong)", bad)
		}
	}
}
