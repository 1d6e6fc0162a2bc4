//go:build amd64 && !purego

package vec

import "golang.org/x/sys/cpu"

// useAsm says that the CPU runs the AVX2/FMA kernels of vec_amd64.s. The
// operating system's support for the YMM state is part of HasAVX2.
var useAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dotAsm returns the sum of x[i]*y[i] over i < len(x); len(y) >= len(x).
//
//go:noescape
func dotAsm(x, y []float64) float64

// axpyAsm sets y[i] += alpha*x[i] over i < len(x); len(y) >= len(x).
//
//go:noescape
func axpyAsm(alpha float64, x, y []float64)

// dot4Asm sets dst[c] to the dot product of x with b[c*len(x):(c+1)*len(x)]
// for c < 4; len(b) >= 4*len(x).
//
//go:noescape
func dot4Asm(dst *[4]float64, x, b []float64)

// axpy4Asm sets y[j] += a[0]*x[j] + a[1]*x[n+j] + a[2]*x[2n+j] + a[3]*x[3n+j]
// for j < n = len(y), adding the four rows in that order; len(x) >= 4*len(y).
//
//go:noescape
func axpy4Asm(a *[4]float64, x, y []float64)

// addSquaresAsm sets dst[j] += x[j]*x[j] over j < len(dst); len(x) >= len(dst).
//
//go:noescape
func addSquaresAsm(dst, x []float64)

// widenAsm sets dst[i] = float64(src[i]) for i < len(dst); len(src) >= len(dst).
//
//go:noescape
func widenAsm(dst []float64, src []float32)

// dotRowsAsm is DotRows on the assembly kernels: four rows of b at a time
// (sharing the loads of x), then one at a time.
func dotRowsAsm(dst, x, b []float64) {
	n := len(x)
	c := 0
	for ; c+4 <= len(dst); c += 4 {
		dot4Asm((*[4]float64)(dst[c:c+4]), x, b[c*n:(c+4)*n])
	}
	for ; c < len(dst); c++ {
		dst[c] = dotAsm(x, b[c*n:(c+1)*n])
	}
}

// mulVecTransAsm adds X^T v to dst (d = len(dst)): four rows of X at a
// time (one load and store of dst per four rows), then one at a time.
func mulVecTransAsm(dst, x, v []float64) {
	d := len(dst)
	i := 0
	for ; i+4 <= len(v); i += 4 {
		axpy4Asm((*[4]float64)(v[i:i+4]), x[i*d:(i+4)*d], dst)
	}
	for ; i < len(v); i++ {
		axpyAsm(v[i], x[i*d:(i+1)*d], dst)
	}
}

// subSquares4Asm sets dst[j] -= x[j]*x[j] for j < len(dst)&^3, rounding
// the product first; len(x) >= len(dst).
//
//go:noescape
func subSquares4Asm(dst, x []float64)

// invAbove4Asm is InvAbove for j < len(v)&^3; len(inv) >= len(v).
//
//go:noescape
func invAbove4Asm(v, inv []float64, floor float64)

// scoreMax4Asm is ScoreMax's loop for j < len(c)&^3, with per-lane bests
// and indices (see vec_amd64.s); len(w) >= len(c).
//
//go:noescape
func scoreMax4Asm(c, w []float64, best, idx *[4]float64)
