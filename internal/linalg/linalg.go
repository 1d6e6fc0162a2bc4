// Package linalg holds the small dense linear-algebra steps that every
// low-rank + sparse trainer shares: re-orthonormalizing the shared basis U
// with its R folded into the users' w, and selecting supports by magnitude.
// Matrices are row-major []float64.
package linalg

import (
	"errors"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"
)

// ThinQR replaces the d x r matrix u by the Q of its thin QR factorization
// and returns R (r x r, upper triangular). It reports false when u does not
// have full column rank or is not finite.
func ThinQR(d, r int, u []float64) ([]float64, bool) {
	for _, v := range u {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, false
		}
	}
	A := blas64.General{Rows: d, Cols: r, Stride: r, Data: u}
	tau := make([]float64, r)
	work := []float64{0}
	lapack64.Geqrf(A, tau, work, -1)
	work = make([]float64, max(int(work[0]), r))
	lapack64.Geqrf(A, tau, work, len(work))
	rr := make([]float64, r*r)
	ok := true
	for a := 0; a < r; a++ {
		for b := a; b < r; b++ {
			rr[a*r+b] = u[a*r+b]
		}
		if rr[a*r+a] == 0 || math.IsNaN(rr[a*r+a]) {
			ok = false
		}
	}
	lapack64.Orgqr(A, tau, work, -1)
	if int(work[0]) > len(work) {
		work = make([]float64, int(work[0]))
	}
	lapack64.Orgqr(A, tau, work, len(work))
	return rr, ok
}

// FoldR replaces every r-vector in ws (t x r) by R w, with R the upper
// triangular r x r matrix from ThinQR, so that (Q)(R w) = (Q R) w: the
// users' parameters do not change when U is re-orthonormalized.
func FoldR(r int, rr, ws []float64) {
	rw := make([]float64, r)
	for i := 0; i+r <= len(ws); i += r {
		w := ws[i : i+r]
		for a := 0; a < r; a++ {
			s := 0.0
			for b := a; b < r; b++ {
				s += rr[a*r+b] * w[b]
			}
			rw[a] = s
		}
		copy(w, rw)
	}
}

// RandomBasis returns a random d x r matrix with orthonormal columns.
func RandomBasis(d, r int, rng *rand.Rand) []float64 {
	u := make([]float64, d*r)
	for {
		for j := range u {
			u[j] = rng.NormFloat64()
		}
		if _, ok := ThinQR(d, r, u); ok {
			return u
		}
	}
}

// TransposeInto writes the r x d transpose of the d x r matrix u into dst,
// reallocating it if its length is not d*r, and returns it.
func TransposeInto(dst []float64, d, r int, u []float64) []float64 {
	if len(dst) != d*r {
		dst = make([]float64, d*r)
	}
	for j := 0; j < d; j++ {
		for c := 0; c < r; c++ {
			dst[c*d+j] = u[j*r+c]
		}
	}
	return dst
}

// TopK appends to dst[:0] the indices of the k entries of v largest in
// magnitude, largest first, ignoring zeros.
func TopK(v []float64, k int, dst []int) []int {
	dst = dst[:0]
	if k <= 0 {
		return dst
	}
	// Fill dst with the first k non-zeros, then replace its last entry by
	// any larger one: thr is the magnitude of that last entry.
	j := 0
	for ; j < len(v) && len(dst) < k; j++ {
		if v[j] == 0 {
			continue
		}
		dst = append(dst, j)
		topKSift(v, dst)
	}
	if len(dst) < k {
		return dst
	}
	thr := math.Abs(v[dst[k-1]])
	for ; j < len(v); j++ {
		if a := math.Abs(v[j]); a > thr {
			dst[k-1] = j
			topKSift(v, dst)
			thr = math.Abs(v[dst[k-1]])
		}
	}
	return dst
}

// topKSift moves the last entry of dst up to its place in the order of
// decreasing magnitude.
func topKSift(v []float64, dst []int) {
	for p := len(dst) - 1; p > 0 && math.Abs(v[dst[p]]) > math.Abs(v[dst[p-1]]); p-- {
		dst[p], dst[p-1] = dst[p-1], dst[p]
	}
}

// SameSet reports whether a and b hold the same indices, in any order.
// They must not hold duplicates.
func SameSet(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		found := false
		for _, y := range b {
			if x == y {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// SortSupport sorts idx increasingly, permuting val alongside.
func SortSupport(idx []int, val []float64) {
	for i := 1; i < len(idx); i++ {
		for j := i; j > 0 && idx[j] < idx[j-1]; j-- {
			idx[j], idx[j-1] = idx[j-1], idx[j]
			val[j], val[j-1] = val[j-1], val[j]
		}
	}
}

// TopEigenvectors returns the eigenvectors of the r largest eigenvalues of
// the symmetric d x d matrix whose upper triangle is the sum of the upper
// triangles of parts (row-major; per-worker partial sums, say), as a d x r
// matrix, and those eigenvalues, largest first.
func TopEigenvectors(d, r int, parts ...[]float64) (u, values []float64, err error) {
	s := mat.NewSymDense(d, nil)
	for a := 0; a < d; a++ {
		for c := a; c < d; c++ {
			v := 0.0
			for _, p := range parts {
				v += p[a*d+c]
			}
			s.SetSym(a, c, v)
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(s, true) {
		return nil, nil, errors.New("eigendecomposition did not converge")
	}
	var vec mat.Dense
	eig.VectorsTo(&vec)
	all := eig.Values(nil) // ascending
	u = make([]float64, d*r)
	values = make([]float64, r)
	for c := 0; c < r; c++ {
		values[c] = all[d-1-c]
		for j := 0; j < d; j++ {
			u[j*r+c] = vec.At(j, d-1-c)
		}
	}
	return u, values, nil
}

// JitteredCholesky factors the symmetric r x r matrix whose upper triangle
// is w (row-major, overwritten) after adding rel times its mean diagonal
// (plus the smallest normal-ish floor) to the diagonal, and returns the
// upper Cholesky factor R with W = R^T R. When W is still not positive
// definite it returns the identity, so that preconditioning by W^{-1}
// degrades to no preconditioning.
func JitteredCholesky(r int, w []float64, rel float64) blas64.Triangular {
	W := blas64.Symmetric{N: r, Stride: r, Data: w, Uplo: blas.Upper}
	tr := 0.0
	for c := 0; c < r; c++ {
		tr += w[c*r+c]
	}
	for c := 0; c < r; c++ {
		w[c*r+c] += rel*tr/float64(r) + 1e-300
	}
	if _, ok := lapack64.Potrf(W); !ok {
		clear(w)
		for c := 0; c < r; c++ {
			w[c*r+c] = 1
		}
	}
	return blas64.Triangular{N: r, Stride: r, Data: w, Uplo: blas.Upper, Diag: blas.NonUnit}
}

// Cholesky factors the symmetric positive definite n x n matrix whose
// upper triangle is g (row-major; the lower triangle is not referenced):
// it overwrites the upper triangle with R, upper triangular with
// g = R^T R, and reports whether every pivot was positive (false for a
// matrix that is not positive definite or has NaNs, as LAPACK's dpotrf,
// leaving g partly overwritten). It is an unblocked loop for the small
// systems of a user's solve (n <= r + k), where LAPACK's dispatch and
// blocking cost more than the arithmetic.
func Cholesky(n int, g []float64) bool {
	g = g[:n*n]
	for j := 0; j < n; j++ {
		rj := g[j*n : (j+1)*n]
		s := rj[j]
		for k := 0; k < j; k++ {
			v := g[k*n+j]
			s -= v * v
		}
		if s <= 0 || math.IsNaN(s) {
			return false
		}
		d := math.Sqrt(s)
		rj[j] = d
		for c := j + 1; c < n; c++ {
			t := rj[c]
			for k := 0; k < j; k++ {
				t -= g[k*n+j] * g[k*n+c]
			}
			rj[c] = t / d
		}
	}
	return true
}

// CholeskySolve overwrites z (length n) with the solution x of
// R^T R x = z, for the factor R that Cholesky left in the upper triangle
// of g.
func CholeskySolve(n int, g, z []float64) {
	g, z = g[:n*n], z[:n]
	for a := 0; a < n; a++ { // R^T y = z
		t := z[a]
		for k := 0; k < a; k++ {
			t -= g[k*n+a] * z[k]
		}
		z[a] = t / g[a*n+a]
	}
	for a := n - 1; a >= 0; a-- { // R x = y
		t := z[a]
		ra := g[a*n : (a+1)*n]
		for k := a + 1; k < n; k++ {
			t -= ra[k] * z[k]
		}
		z[a] = t / ra[a]
	}
}
