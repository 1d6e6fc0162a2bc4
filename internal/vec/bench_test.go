package vec

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// The kernel benchmarks run each kernel at the shapes of a user's solve
// (d = 200 features, m = 20 or 50 samples, r = 5, designs of up to 10
// columns) twice: impl=asm, the exported kernel (skipped when the CPU has
// no assembly path), and impl=go, the pure-Go fallback; compare them with
// benchstat -col /impl.

func benchImpls(b *testing.B, name string, asm, generic func()) {
	b.Run(name+"/impl=asm", func(b *testing.B) {
		if !Accelerated() {
			b.Skip("no assembly kernels on this CPU or build")
		}
		for b.Loop() {
			asm()
		}
	})
	b.Run(name+"/impl=go", func(b *testing.B) {
		for b.Loop() {
			generic()
		}
	})
}

func benchSlice(n int) []float64 {
	rng := rand.New(rand.NewPCG(uint64(n), 1))
	s := make([]float64, n)
	for i := range s {
		s[i] = rng.NormFloat64()
	}
	return s
}

var sink float64

func BenchmarkDot(b *testing.B) {
	for _, n := range []int{20, 50, 200} {
		x, y := benchSlice(n), benchSlice(n + 1)[1:]
		benchImpls(b, fmt.Sprintf("n=%d", n), func() { sink += Dot(x, y) }, func() { sink += dotGeneric(x, y) })
	}
}

func BenchmarkAxpy(b *testing.B) {
	for _, n := range []int{20, 200} {
		x, y := benchSlice(n), benchSlice(n)
		benchImpls(b, fmt.Sprintf("n=%d", n), func() { Axpy(1e-9, x, y) }, func() { axpyGeneric(1e-9, x, y) })
	}
}

func BenchmarkDotRows(b *testing.B) {
	for _, c := range []struct{ r, n int }{{5, 200}, {10, 20}, {10, 50}} {
		x, m, dst := benchSlice(c.n), benchSlice(c.r*c.n), make([]float64, c.r)
		benchImpls(b, fmt.Sprintf("r=%d/n=%d", c.r, c.n), func() { DotRows(dst, x, m) }, func() { dotRowsGeneric(dst, x, m) })
	}
}

func BenchmarkMulVecTrans(b *testing.B) {
	for _, m := range []int{20, 50} {
		const d = 200
		x, v, dst := benchSlice(m*d), benchSlice(m), make([]float64, d)
		benchImpls(b, fmt.Sprintf("m=%d/d=%d", m, d), func() { MulVecTrans(dst, x, v) }, func() { mulVecTransGeneric(dst, x, v) })
	}
}

func BenchmarkAddSquares(b *testing.B) {
	const m, d = 20, 200
	x, dst := benchSlice(m*d), make([]float64, d)
	benchImpls(b, fmt.Sprintf("m=%d/d=%d", m, d), func() { AddSquares(dst, x) }, func() {
		for i := 0; i < m; i++ {
			addSquaresGeneric(dst, x[i*d:(i+1)*d])
		}
	})
}

func BenchmarkNormalEquations(b *testing.B) {
	for _, m := range []int{20, 50} {
		const n = 10
		D, y := benchSlice(n*m), benchSlice(m)
		g, z := make([]float64, n*n), make([]float64, n)
		benchImpls(b, fmt.Sprintf("m=%d/n=%d", m, n), func() { NormalEquations(g, z, D, y, n) }, func() {
			dotRowsGeneric(z, y, D)
			for a := 0; a < n; a++ {
				dotRowsGeneric(g[a*n+a:(a+1)*n], D[a*m:(a+1)*m], D[a*m:n*m])
			}
		})
	}
}

func BenchmarkWiden(b *testing.B) {
	// One user's X at d = 200, m = 20.
	const n = 200 * 20
	src, dst := make([]float32, n), make([]float64, n)
	for i := range src {
		src[i] = float32(i)
	}
	b.SetBytes(4 * n)
	benchImpls(b, fmt.Sprintf("n=%d", n), func() { Widen(dst, src) }, func() { widenGeneric(dst, src) })
}
