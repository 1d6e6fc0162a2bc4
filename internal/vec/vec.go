// Package vec holds the dense float64 kernels that the per-user solves of
// the low-rank + sparse trainers spend their time in: dot products, axpy,
// and the thin matrix products built from them (a vector against the rows
// of a matrix, X^T v, X v, and the normal equations of a thin design),
// and the widening of float32 data to float64 (Widen). Matrices are
// row-major []float64.
//
// On amd64 CPUs with AVX2 and FMA the kernels run hand-written assembly;
// elsewhere, and when built with the purego build tag, they run the pure-Go
// loops of this package. Both are deterministic: a kernel's result depends
// only on its inputs (their values and lengths, not their alignment), so a
// computation split over goroutines gives the same bits as a serial one on
// the same machine. The two paths do not round alike: the assembly uses
// fused multiply-adds and several partial sums, so results differ from the
// pure-Go ones in the last bits, within the usual bound for a sum of n
// products, n*eps*sum|x_i y_i| (see the tests).
//
// The kernels panic, like the Go runtime on an out-of-range index, when a
// slice is shorter than the operation needs.
package vec

// Accelerated reports whether the kernels run the AVX2/FMA assembly on
// this machine.
func Accelerated() bool { return useAsm }

// Dot returns the sum of x[i]*y[i] over i < len(x). y must be at least as
// long as x.
func Dot(x, y []float64) float64 {
	if len(y) < len(x) {
		panic("vec: Dot: y shorter than x")
	}
	if useAsm {
		return dotAsm(x, y)
	}
	return dotGeneric(x, y)
}

// Axpy sets y[i] += alpha*x[i] for i < len(x). y must be at least as long
// as x.
func Axpy(alpha float64, x, y []float64) {
	if len(y) < len(x) {
		panic("vec: Axpy: y shorter than x")
	}
	if useAsm {
		axpyAsm(alpha, x, y)
		return
	}
	axpyGeneric(alpha, x, y)
}

// DotRows sets dst[c] to Dot(x, b[c*n:(c+1)*n]) for c < len(dst), with
// n = len(x): the product of the len(dst) x n row-major matrix b with x.
// With b = U^T (r x d) and x a row of X it gives the row of X U; with b a
// column-major design it gives D^T x.
func DotRows(dst, x, b []float64) {
	n := len(x)
	if len(b) < len(dst)*n {
		panic("vec: DotRows: b shorter than len(dst)*len(x)")
	}
	if useAsm {
		dotRowsAsm(dst, x, b)
		return
	}
	dotRowsGeneric(dst, x, b)
}

// MulVec sets dst[i] to Dot(x[i*d:(i+1)*d], v) for i < len(dst), with
// d = len(v): dst = X v for the len(dst) x d row-major matrix X.
func MulVec(dst, x, v []float64) {
	d := len(v)
	if len(x) < len(dst)*d {
		panic("vec: MulVec: x shorter than len(dst)*len(v)")
	}
	for i := range dst {
		dst[i] = Dot(x[i*d:(i+1)*d], v)
	}
}

// MulVecTrans sets dst to X^T v, dst[j] = sum over i < len(v) of
// v[i]*x[i*d+j] for j < d = len(dst): the product of the transpose of the
// len(v) x d row-major matrix X with v, computed by rows (one pass over X).
func MulVecTrans(dst, x, v []float64) {
	clear(dst)
	AddMulVecTrans(dst, x, v)
}

// AddMulVecTrans is MulVecTrans that adds X^T v to dst instead of
// overwriting it.
func AddMulVecTrans(dst, x, v []float64) {
	d := len(dst)
	if len(x) < len(v)*d {
		panic("vec: AddMulVecTrans: x shorter than len(v)*len(dst)")
	}
	if useAsm {
		mulVecTransAsm(dst, x, v)
		return
	}
	addMulVecTransGeneric(dst, x, v)
}

// AddSquares sets dst[j] += sum over the rows x_i of the len(x)/d x d
// row-major matrix x of x_i[j]^2, with d = len(dst): it accumulates the
// squared column norms of x. len(x) must be a multiple of len(dst).
func AddSquares(dst, x []float64) {
	d := len(dst)
	if d == 0 {
		return
	}
	if len(x)%d != 0 {
		panic("vec: AddSquares: len(x) not a multiple of len(dst)")
	}
	for i := 0; i+d <= len(x); i += d {
		row := x[i : i+d]
		if useAsm {
			addSquaresAsm(dst, row)
		} else {
			addSquaresGeneric(dst, row)
		}
	}
}

// SubSquares sets dst[j] -= x[j]*x[j] for j < len(dst), rounding each
// product before the subtraction (no fused multiply-add), as the Go
// expression does: the assembly and the pure-Go loop give the same bits.
// x must be at least as long as dst.
func SubSquares(dst, x []float64) {
	if len(x) < len(dst) {
		panic("vec: SubSquares: x shorter than dst")
	}
	n := 0
	if useAsm {
		n = len(dst) &^ 3
		subSquares4Asm(dst[:n], x[:n])
	}
	subSquaresGeneric(dst[n:], x[n:len(dst)])
}

// InvAbove sets, for j < len(v), v[j] and inv[j] to 0 where v[j] <= floor,
// and inv[j] = 1/v[j] elsewhere (a NaN v[j] is not at or below floor: its
// inv[j] is NaN). The assembly and the pure-Go loop give the same bits. inv
// must be at least as long as v.
func InvAbove(v, inv []float64, floor float64) {
	if len(inv) < len(v) {
		panic("vec: InvAbove: inv shorter than v")
	}
	n := 0
	if useAsm {
		n = len(v) &^ 3
		invAbove4Asm(v[:n], inv[:n], floor)
	}
	invAboveGeneric(v[n:], inv[n:len(v)], floor)
}

// ScoreMax sets c[j] = (c[j]*w[j])*c[j] for j < len(c), the scores of
// correlations c with weights w, and returns the index of the first of the
// largest scores above zero, or -1 when none is (NaN scores never count).
// The assembly and the pure-Go loop give the same scores and index. w must
// be at least as long as c.
func ScoreMax(c, w []float64) int {
	if len(w) < len(c) {
		panic("vec: ScoreMax: w shorter than c")
	}
	best, bj, n := 0.0, -1, 0
	if useAsm && len(c) >= 4 {
		n = len(c) &^ 3
		lane, idx := [4]float64{}, [4]float64{-1, -1, -1, -1}
		scoreMax4Asm(c[:n], w[:n], &lane, &idx)
		// Each lane holds its first largest score: the first of the
		// largest overall is the lowest index among the lanes' equals.
		for l, v := range lane {
			if j := int(idx[l]); j >= 0 && (v > best || v == best && j < bj) {
				best, bj = v, j
			}
		}
	}
	_, bj = scoreMaxGeneric(c, w, n, best, bj)
	return bj
}

// Widen sets dst[i] = float64(src[i]) for i < len(dst): it converts
// float32 data, as a packed file stores it, to the float64 that the other
// kernels compute on. The conversion is exact, so the assembly and the
// pure-Go loop give the same bits. src must be at least as long as dst.
func Widen(dst []float64, src []float32) {
	if len(src) < len(dst) {
		panic("vec: Widen: src shorter than dst")
	}
	if useAsm {
		widenAsm(dst, src)
		return
	}
	widenGeneric(dst, src)
}

// NormalEquations sets the upper triangle of the n x n row-major matrix g to
// D^T D and z[:n] to D^T y, for the design D given column-major: column a
// is D[a*m:(a+1)*m], with m = len(y). The lower triangle of g is left
// alone. It is the accumulation of a thin least-squares fit
// (n = r + |S| columns), one DotRows per row of g.
func NormalEquations(g, z, D, y []float64, n int) {
	m := len(y)
	if len(D) < n*m || len(g) < n*n || len(z) < n {
		panic("vec: NormalEquations: slice shorter than n*len(y), n*n or n")
	}
	DotRows(z[:n], y, D[:n*m])
	for a := 0; a < n; a++ {
		DotRows(g[a*n+a:(a+1)*n], D[a*m:(a+1)*m], D[a*m:n*m])
	}
}
