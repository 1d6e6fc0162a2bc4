package vec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The assembly kernels are held to the pure-Go ones within the rounding
// error bound of a sum of n products: computed in any order, with or
// without fused multiply-adds, a sum of n products is within
// gamma_n * sum |x_i y_i| of the exact value, gamma_n = n u / (1 - n u) and
// u = eps/2 the unit roundoff, so two such sums are within about
// n * eps * sum |x_i y_i| of each other. tolerance allows (n+1) eps times
// the sum of magnitudes. An axpy or squares update (y + a x, one product)
// is within eps * (|y| + |a x|). Results that are not finite must agree
// exactly in kind: NaN for NaN, and the same infinity.

const eps = 0x1p-52

// sizes are the lengths that every kernel is tried on: empty, one, every
// tail of the 4- and 8- and 16-element blocks, and a few larger ones.
var sizes = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 15, 16, 17, 19, 20, 23, 31, 32, 33, 47, 50, 63, 64, 65, 100, 200, 203, 1029}

// slice returns n normal deviates in a sub-slice that starts off elements
// into its backing array (misaligned for off not a multiple of 4), with
// NaN on both sides: a kernel that reads outside the slice turns its
// result into NaN.
func slice(rng *rand.Rand, n, off int) []float64 {
	buf := make([]float64, off+n+8)
	for i := range buf {
		buf[i] = math.NaN()
	}
	s := buf[off : off+n]
	for i := range s {
		s[i] = rng.NormFloat64()
	}
	return s
}

// agree reports whether got agrees with want within tol, or both are the
// same non-finite value.
func agree(got, want, tol float64) bool {
	switch {
	case math.IsNaN(want):
		return math.IsNaN(got)
	case math.IsInf(want, 0):
		return got == want
	}
	return math.Abs(got-want) <= tol
}

// dotTol is the tolerance for a sum of the products x[i]*y[i].
func dotTol(x, y []float64) float64 {
	s := 0.0
	for i, v := range x {
		s += math.Abs(v * y[i])
	}
	return float64(len(x)+1) * eps * s
}

func TestDot(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range sizes {
		for off := 0; off < 4; off++ {
			x, y := slice(rng, n, off), slice(rng, n, 3-off)
			got, want := Dot(x, y), dotGeneric(x, y)
			if !agree(got, want, dotTol(x, y)) {
				t.Errorf("n=%d off=%d: Dot = %v, generic %v", n, off, got, want)
			}
		}
	}
}

func TestAxpy(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range sizes {
		for off := 0; off < 4; off++ {
			alpha := rng.NormFloat64()
			x, y := slice(rng, n, off), slice(rng, n, (off+1)%4)
			want := append([]float64(nil), y...)
			axpyGeneric(alpha, x, want)
			Axpy(alpha, x, y)
			for i := range y {
				tol := eps * (math.Abs(want[i]) + math.Abs(alpha*x[i]))
				if !agree(y[i], want[i], tol) {
					t.Errorf("n=%d off=%d: y[%d] = %v, generic %v", n, off, i, y[i], want[i])
				}
			}
			checkGuards(t, y, fmt.Sprintf("Axpy n=%d off=%d", n, off))
		}
	}
}

// checkGuards fails when the NaN guard just past the end of s (see slice)
// was overwritten: a kernel wrote outside its slice.
func checkGuards(t *testing.T, s []float64, name string) {
	t.Helper()
	if g := s[:len(s)+1][len(s)]; !math.IsNaN(g) {
		t.Errorf("%s: wrote %v past the end", name, g)
	}
}

func TestDotRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range sizes {
		for _, rows := range []int{0, 1, 3, 4, 5, 8, 10} {
			off := (n + rows) % 4
			x, b := slice(rng, n, off), slice(rng, rows*n, 3-off)
			got, want := slice(rng, rows, 1), make([]float64, rows)
			DotRows(got, x, b)
			dotRowsGeneric(want, x, b)
			for c := range got {
				if !agree(got[c], want[c], dotTol(x, b[c*n:(c+1)*n])) {
					t.Errorf("n=%d rows=%d: row %d = %v, generic %v", n, rows, c, got[c], want[c])
				}
			}
			checkGuards(t, got, fmt.Sprintf("DotRows n=%d rows=%d", n, rows))
		}
	}
}

func TestMulVec(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, d := range sizes {
		for _, m := range []int{0, 1, 5, 20} {
			x, v := slice(rng, m*d, d%4), slice(rng, d, 2)
			got := slice(rng, m, 0)
			MulVec(got, x, v)
			for i := range got {
				row := x[i*d : (i+1)*d]
				if want := dotGeneric(row, v); !agree(got[i], want, dotTol(row, v)) {
					t.Errorf("m=%d d=%d: row %d = %v, generic %v", m, d, i, got[i], want)
				}
			}
		}
	}
}

func TestMulVecTrans(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, d := range sizes {
		for _, m := range []int{0, 1, 3, 4, 5, 7, 8, 9, 20, 50} {
			x, v := slice(rng, m*d, (d+m)%4), slice(rng, m, 1)
			got, want := slice(rng, d, 3), make([]float64, d)
			MulVecTrans(got, x, v)
			mulVecTransGeneric(want, x, v)
			for j := range got {
				col := make([]float64, m)
				for i := range col {
					col[i] = x[i*d+j]
				}
				if !agree(got[j], want[j], dotTol(col, v)) {
					t.Errorf("m=%d d=%d: column %d = %v, generic %v", m, d, j, got[j], want[j])
				}
			}
			checkGuards(t, got, fmt.Sprintf("MulVecTrans m=%d d=%d", m, d))
		}
	}
}

func TestAddSquares(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, d := range sizes {
		for _, m := range []int{0, 1, 2, 5, 20} {
			x := slice(rng, m*d, d%4)
			got := slice(rng, d, 1)
			want := append([]float64(nil), got...)
			sum := make([]float64, d)
			for j := range got {
				sum[j] = math.Abs(got[j])
			}
			for i := 0; i < m; i++ {
				addSquaresGeneric(want, x[i*d:(i+1)*d])
				addSquaresGeneric(sum, x[i*d:(i+1)*d])
			}
			AddSquares(got, x)
			for j := range got {
				if !agree(got[j], want[j], float64(m+1)*eps*sum[j]) {
					t.Errorf("m=%d d=%d: column %d = %v, generic %v", m, d, j, got[j], want[j])
				}
			}
			checkGuards(t, got, fmt.Sprintf("AddSquares m=%d d=%d", m, d))
		}
	}
}

// TestNormalEquations holds the kernel to an independent computation, the
// textbook triple loop over the row-major design.
func TestNormalEquations(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, m := range []int{0, 1, 3, 7, 20, 50} {
		for _, n := range []int{0, 1, 4, 5, 7, 10, 12} {
			D, y := slice(rng, n*m, 1), slice(rng, m, 2)
			g, z := make([]float64, n*n), make([]float64, n)
			for i := range g {
				g[i] = math.Inf(1) // stale values in the upper triangle must go
			}
			NormalEquations(g, z, D, y, n)
			col := func(a int) []float64 { return D[a*m : (a+1)*m] }
			for a := 0; a < n; a++ {
				if want := dotGeneric(col(a), y); !agree(z[a], want, dotTol(col(a), y)) {
					t.Errorf("m=%d n=%d: z[%d] = %v, want %v", m, n, a, z[a], want)
				}
				for b := 0; b < n; b++ {
					got := g[a*n+b]
					if b < a {
						if !math.IsInf(got, 1) {
							t.Errorf("m=%d n=%d: lower G[%d,%d] written", m, n, a, b)
						}
						continue
					}
					want := 0.0
					for i := 0; i < m; i++ {
						want += D[a*m+i] * D[b*m+i]
					}
					if !agree(got, want, dotTol(col(a), col(b))) {
						t.Errorf("m=%d n=%d: G[%d,%d] = %v, want %v", m, n, a, b, got, want)
					}
				}
			}
		}
	}
}

// TestNonFinite checks that NaN and infinities propagate as in the pure-Go
// kernels, wherever they sit relative to the blocks and the tail.
func TestNonFinite(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, n := range []int{1, 3, 4, 5, 16, 17, 35} {
		for pos := 0; pos < n; pos++ {
			for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
				x, y := slice(rng, n, pos%4), slice(rng, n, 0)
				x[pos] = bad
				if got, want := Dot(x, y), dotGeneric(x, y); !agree(got, want, 0) || math.IsInf(want, 0) != math.IsInf(got, 0) {
					t.Errorf("n=%d x[%d]=%v: Dot = %v, generic %v", n, pos, bad, got, want)
				}
				b := slice(rng, 5*n, 1)
				copy(b[3*n:], x) // row 3 of five
				got, want := make([]float64, 5), make([]float64, 5)
				DotRows(got, y, b)
				dotRowsGeneric(want, y, b)
				for c := range got {
					if !agree(got[c], want[c], dotTol(y, b[c*n:(c+1)*n])) || math.IsNaN(got[c]) != math.IsNaN(want[c]) {
						t.Errorf("n=%d x[%d]=%v: DotRows[%d] = %v, generic %v", n, pos, bad, c, got[c], want[c])
					}
				}
				yy, wy := append([]float64(nil), y...), append([]float64(nil), y...)
				Axpy(2, x, yy)
				axpyGeneric(2, x, wy)
				if !agree(yy[pos], wy[pos], 0) {
					t.Errorf("n=%d x[%d]=%v: Axpy gives %v, generic %v", n, pos, bad, yy[pos], wy[pos])
				}
				// x as row 2 of a 6 x n matrix for MulVecTrans.
				X, v := slice(rng, 6*n, 2), slice(rng, 6, 0)
				copy(X[2*n:], x)
				gt, wt := make([]float64, n), make([]float64, n)
				MulVecTrans(gt, X, v)
				mulVecTransGeneric(wt, X, v)
				if !agree(gt[pos], wt[pos], 0) {
					t.Errorf("n=%d x[%d]=%v: MulVecTrans gives %v, generic %v", n, pos, bad, gt[pos], wt[pos])
				}
			}
		}
	}
}

// TestAlignmentInvariant checks that a result depends on the values only,
// not on where the slices start: the bits must be identical.
func TestAlignmentInvariant(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, n := range sizes {
		x0, y0 := slice(rng, n, 0), slice(rng, 4*n, 0)
		want := Dot(x0, y0[:n])
		want4 := make([]float64, 4)
		DotRows(want4, x0, y0)
		for off := 1; off < 4; off++ {
			x, y := slice(rng, n, off), slice(rng, 4*n, 3-off)
			copy(x, x0)
			copy(y, y0)
			if got := Dot(x, y[:n]); math.Float64bits(got) != math.Float64bits(want) {
				t.Errorf("n=%d off=%d: Dot = %v, at offset 0 %v", n, off, got, want)
			}
			got4 := make([]float64, 4)
			DotRows(got4, x, y)
			for c := range got4 {
				if math.Float64bits(got4[c]) != math.Float64bits(want4[c]) {
					t.Errorf("n=%d off=%d: DotRows[%d] = %v, at offset 0 %v", n, off, c, got4[c], want4[c])
				}
			}
		}
	}
}

func TestShortPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"Dot":         func() { Dot(make([]float64, 3), make([]float64, 2)) },
		"Axpy":        func() { Axpy(1, make([]float64, 3), make([]float64, 2)) },
		"DotRows":     func() { DotRows(make([]float64, 2), make([]float64, 3), make([]float64, 5)) },
		"MulVec":      func() { MulVec(make([]float64, 2), make([]float64, 5), make([]float64, 3)) },
		"MulVecTrans": func() { MulVecTrans(make([]float64, 3), make([]float64, 5), make([]float64, 2)) },
		"AddMulVecTrans": func() {
			AddMulVecTrans(make([]float64, 3), make([]float64, 5), make([]float64, 2))
		},
		"AddSquares": func() { AddSquares(make([]float64, 3), make([]float64, 5)) },
		"Widen":      func() { Widen(make([]float64, 3), make([]float32, 2)) },
		"NormalEquations": func() {
			NormalEquations(make([]float64, 4), make([]float64, 2), make([]float64, 5), make([]float64, 3), 2)
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic on a short slice", name)
				}
			}()
			f()
		}()
	}
}

// fuzzFloats turns fuzz bytes into floats of bounded magnitude (no
// overflow in any order of summation, so the tolerance holds), with the
// byte values 0xff, 0xfe and 0xfd standing for NaN, +Inf and -Inf.
func fuzzFloats(data []byte) []float64 {
	v := make([]float64, len(data)/2)
	for i := range v {
		b := data[2*i : 2*i+2]
		switch b[0] {
		case 0xff:
			v[i] = math.NaN()
		case 0xfe:
			v[i] = math.Inf(1)
		case 0xfd:
			v[i] = math.Inf(-1)
		default:
			v[i] = math.Ldexp(float64(int8(b[0]))+float64(b[1])/256, int(b[1]%17)-8)
		}
	}
	return v
}

// fuzzSplit returns the fuzz floats in a slice that starts off%4 elements
// into its backing array.
func fuzzSplit(data []byte, off uint8) []float64 {
	v := fuzzFloats(data)
	buf := make([]float64, len(v)+int(off%4))
	s := buf[off%4:]
	copy(s, v)
	return s
}

func FuzzDot(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}, uint8(1))
	f.Add(make([]byte, 70), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, off uint8) {
		v := fuzzSplit(data, off)
		n := len(v) / 2
		x, y := v[:n], v[n:2*n]
		if got, want := Dot(x, y), dotGeneric(x, y); !agree(got, want, dotTol(x, y)) {
			t.Errorf("n=%d: Dot = %v, generic %v", n, got, want)
		}
	})
}

func FuzzAxpy(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}, uint8(1), int8(3))
	f.Fuzz(func(t *testing.T, data []byte, off uint8, a int8) {
		v := fuzzSplit(data, off)
		n := len(v) / 2
		alpha := float64(a) / 16
		x, y := v[:n], v[n:2*n]
		want := append([]float64(nil), y...)
		axpyGeneric(alpha, x, want)
		Axpy(alpha, x, y)
		for i := range y {
			if !agree(y[i], want[i], eps*(math.Abs(want[i])+math.Abs(alpha*x[i]))) {
				t.Errorf("n=%d: y[%d] = %v, generic %v", n, i, y[i], want[i])
			}
		}
	})
}

func FuzzDotRows(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}, uint8(1), uint8(5))
	f.Fuzz(func(t *testing.T, data []byte, off, rows uint8) {
		v := fuzzSplit(data, off)
		r := int(rows%12) + 1
		n := len(v) / (r + 1)
		x, b := v[:n], v[n:n+r*n]
		got, want := make([]float64, r), make([]float64, r)
		DotRows(got, x, b)
		dotRowsGeneric(want, x, b)
		for c := range got {
			if !agree(got[c], want[c], dotTol(x, b[c*n:(c+1)*n])) {
				t.Errorf("n=%d r=%d: row %d = %v, generic %v", n, r, c, got[c], want[c])
			}
		}
	})
}

func FuzzMulVecTrans(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}, uint8(1), uint8(5))
	f.Fuzz(func(t *testing.T, data []byte, off, rows uint8) {
		v := fuzzSplit(data, off)
		m := int(rows%12) + 1
		d := len(v)/m - 1
		if d < 0 {
			return
		}
		x, w := v[:m*d], v[m*d:m*d+m]
		got, want := make([]float64, d), make([]float64, d)
		MulVecTrans(got, x, w)
		mulVecTransGeneric(want, x, w)
		for j := range got {
			col := make([]float64, m)
			for i := range col {
				col[i] = x[i*d+j]
			}
			if !agree(got[j], want[j], dotTol(col, w)) {
				t.Errorf("m=%d d=%d: column %d = %v, generic %v", m, d, j, got[j], want[j])
			}
		}
	})
}

func FuzzAddSquares(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}, uint8(1), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, off, rows uint8) {
		v := fuzzSplit(data, off)
		m := int(rows % 6)
		d := len(v) / (m + 1)
		got, x := v[:d], v[d:d+m*d]
		want := append([]float64(nil), got...)
		sum := make([]float64, d)
		for j := range sum {
			sum[j] = math.Abs(got[j])
		}
		for i := 0; i < m; i++ {
			addSquaresGeneric(want, x[i*d:(i+1)*d])
			addSquaresGeneric(sum, x[i*d:(i+1)*d])
		}
		if d > 0 {
			AddSquares(got, x)
		}
		for j := range got {
			if !agree(got[j], want[j], float64(m+1)*eps*sum[j]) {
				t.Errorf("m=%d d=%d: column %d = %v, generic %v", m, d, j, got[j], want[j])
			}
		}
	})
}

func FuzzNormalEquations(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}, uint8(1), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, off, cols uint8) {
		v := fuzzSplit(data, off)
		n := int(cols % 12)
		m := len(v) / (n + 1)
		D, y := v[:n*m], v[n*m:n*m+m]
		g, z := make([]float64, n*n), make([]float64, n)
		NormalEquations(g, z, D, y, n)
		col := func(a int) []float64 { return D[a*m : (a+1)*m] }
		for a := 0; a < n; a++ {
			if want := dotGeneric(col(a), y); !agree(z[a], want, dotTol(col(a), y)) {
				t.Errorf("m=%d n=%d: z[%d] = %v, generic %v", m, n, a, z[a], want)
			}
			for b := a; b < n; b++ {
				if want := dotGeneric(col(a), col(b)); !agree(g[a*n+b], want, dotTol(col(a), col(b))) {
					t.Errorf("m=%d n=%d: G[%d,%d] = %v, generic %v", m, n, a, b, g[a*n+b], want)
				}
			}
		}
	})
}

// widenCase returns n float32 values, some of them special (NaN with a
// payload, infinities, subnormals, signed zeros), in a sub-slice that
// starts off elements into its backing array.
func widenCase(rng *rand.Rand, n, off int) []float32 {
	special := []uint32{0x7fc00001, 0x7f800001, 0x7f800000, 0xff800000, 0x00000001, 0x807fffff, 0x80000000, 0}
	buf := make([]float32, off+n+8)
	s := buf[off : off+n]
	for i := range s {
		if rng.IntN(8) == 0 {
			s[i] = math.Float32frombits(special[rng.IntN(len(special))])
		} else {
			s[i] = float32(rng.NormFloat64())
		}
	}
	return s
}

// checkWiden fails unless Widen(dst, src) gives, bit for bit, the pure-Go
// conversion and leaves the NaN guards after dst alone.
func checkWiden(t *testing.T, src []float32, off int) {
	t.Helper()
	n := len(src)
	buf := make([]float64, off+n+8)
	for i := range buf {
		buf[i] = math.NaN()
	}
	dst := buf[off : off+n]
	want := make([]float64, n)
	widenGeneric(want, src)
	Widen(dst, src)
	for i := range dst {
		if math.Float64bits(dst[i]) != math.Float64bits(want[i]) {
			t.Errorf("n=%d off=%d: dst[%d] = %v (%#x), generic %v (%#x)", n, off, i, dst[i], math.Float64bits(dst[i]), want[i], math.Float64bits(want[i]))
		}
	}
	for i, v := range buf[off+n:] {
		if !math.IsNaN(v) {
			t.Errorf("n=%d off=%d: Widen wrote %v past dst (index %d)", n, off, v, n+i)
		}
	}
}

func TestWiden(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, n := range sizes {
		for off := 0; off < 8; off++ {
			checkWiden(t, widenCase(rng, n, off), (off*3)%4)
		}
	}
	// A longer src than dst: only len(dst) values are read.
	src := widenCase(rng, 37, 1)
	dst := make([]float64, 30)
	Widen(dst, src)
	for i, v := range dst {
		if v != float64(src[i]) && !math.IsNaN(v) {
			t.Errorf("dst[%d] = %v, want %v", i, v, src[i])
		}
	}
}

func FuzzWiden(f *testing.F) {
	f.Add([]byte{0, 0, 0xc0, 0x7f, 1, 0, 0x80, 0x7f, 0, 0, 0x80, 0xff, 1, 0, 0, 0, 9, 8, 7, 6}, uint8(1))
	f.Add(make([]byte, 4*37), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, off uint8) {
		buf := make([]float32, len(data)/4+int(off%8))
		src := buf[off%8:]
		for i := range src {
			src[i] = math.Float32frombits(uint32(data[4*i]) | uint32(data[4*i+1])<<8 | uint32(data[4*i+2])<<16 | uint32(data[4*i+3])<<24)
		}
		checkWiden(t, src, int(off/8)%4)
	})
}

// checkAddMulVecTrans fails unless AddMulVecTrans adds X^T v to a nonzero
// dst as the pure-Go loop does, within the bound of a sum of len(v)+1
// terms.
func checkAddMulVecTrans(t *testing.T, x, v, base []float64) {
	t.Helper()
	d, m := len(base), len(v)
	buf := append(append([]float64(nil), base...), math.NaN()) // a guard after dst
	got, want := buf[:d], append([]float64(nil), base...)
	AddMulVecTrans(got, x, v)
	checkGuards(t, got, fmt.Sprintf("AddMulVecTrans m=%d d=%d", m, d))
	addMulVecTransGeneric(want, x, v)
	for j := range got {
		col := make([]float64, m+1)
		w := make([]float64, m+1)
		for i := 0; i < m; i++ {
			col[i], w[i] = x[i*d+j], v[i]
		}
		col[m], w[m] = base[j], 1
		if !agree(got[j], want[j], dotTol(col, w)) {
			t.Errorf("m=%d d=%d: column %d = %v, generic %v", m, d, j, got[j], want[j])
		}
	}
}

func TestAddMulVecTrans(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, d := range sizes {
		for _, m := range []int{0, 1, 3, 4, 5, 7, 8, 9, 20} {
			x, v := slice(rng, m*d, (d+m)%4), slice(rng, m, 2)
			base := slice(rng, d, 1)
			checkAddMulVecTrans(t, x, v, base)
		}
	}
}

func FuzzAddMulVecTrans(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, uint8(1), uint8(5))
	f.Fuzz(func(t *testing.T, data []byte, off, rows uint8) {
		v := fuzzSplit(data, off)
		m := int(rows%12) + 1
		if len(v) < m {
			return
		}
		d := (len(v) - m) / (m + 1)
		checkAddMulVecTrans(t, v[:m*d], v[m*d:m*d+m], v[m*d+m:m*d+m+d])
	})
}

// specialCase returns n values in a sub-slice off elements into a buffer
// with NaN guards after it (see slice), a tenth of them zeros, infinities,
// NaNs or negative, so that the kernels' comparisons meet every kind.
func specialCase(rng *rand.Rand, n, off int) []float64 {
	s := slice(rng, n, off)
	special := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), -1, 1e-300, 1e300}
	for i := range s {
		if rng.IntN(10) == 0 {
			s[i] = special[rng.IntN(len(special))]
		}
	}
	return s
}

// sameBits fails unless got and want are equal bit for bit.
func sameBits(t *testing.T, name string, got, want []float64) {
	t.Helper()
	for j := range want {
		if math.Float64bits(got[j]) != math.Float64bits(want[j]) {
			t.Errorf("%s: [%d] = %v, pure Go %v", name, j, got[j], want[j])
			return
		}
	}
}

// checkRowKernels holds SubSquares, InvAbove and ScoreMax on a and
// b (len(b) >= len(a)) to their pure-Go loops, bit for bit, and checks
// that they write nothing past a and b's lengths (NaN guards).
func checkRowKernels(t *testing.T, a, b []float64, floor float64) {
	t.Helper()
	n := len(a)
	name := fmt.Sprintf("n=%d", n)
	guarded := func(s []float64) []float64 { // a copy of s with NaN guards after it
		buf := make([]float64, len(s)+4)
		for i := range buf {
			buf[i] = math.NaN()
		}
		copy(buf, s)
		return buf[:len(s)]
	}
	guards := func(kernel string, s []float64) {
		for i, v := range s[len(s):cap(s)] {
			if !math.IsNaN(v) {
				t.Errorf("%s %s: wrote %v past the slice (index %d)", name, kernel, v, len(s)+i)
			}
		}
	}

	got, want := guarded(a), guarded(a)
	SubSquares(got, b)
	subSquaresGeneric(want, b[:n])
	sameBits(t, name+" SubSquares", got, want)
	guards("SubSquares", got)

	got, want = guarded(a), guarded(a)
	gi, wi := guarded(b[:n]), guarded(b[:n])
	InvAbove(got, gi, floor)
	invAboveGeneric(want, wi, floor)
	sameBits(t, name+" InvAbove v", got, want)
	sameBits(t, name+" InvAbove inv", gi, wi)
	guards("InvAbove", got)
	guards("InvAbove", gi)

	got, want = guarded(a), guarded(a)
	j := ScoreMax(got, b)
	_, wj := scoreMaxGeneric(want, b[:n], 0, 0, -1)
	sameBits(t, name+" ScoreMax", got, want)
	if j != wj {
		t.Errorf("%s ScoreMax: index %d, pure Go %d", name, j, wj)
	}
	guards("ScoreMax", got)
}

func TestRowKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, n := range sizes {
		for off := 0; off < 4; off++ {
			a, b := specialCase(rng, n, off), specialCase(rng, n+off, (off+1)%4)
			checkRowKernels(t, a, b, 0.1)
			// Ties: ScoreMax must return the first of equal largest scores
			// whichever lane of the assembly holds them.
			for i := range a {
				a[i], b[i] = float64(1+rng.IntN(3)), 1
			}
			checkRowKernels(t, a, b, 1.5)
		}
	}
}

func FuzzRowKernels(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xff, 0, 0xfe, 0}, uint8(1), int8(1))
	f.Add(make([]byte, 70), uint8(3), int8(0))
	f.Fuzz(func(t *testing.T, data []byte, off uint8, floor int8) {
		v := fuzzSplit(data, off)
		n := len(v) / 2
		checkRowKernels(t, v[:n], v[n:], float64(floor)/8)
	})
}
