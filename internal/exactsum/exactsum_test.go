package exactsum

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// TestAddSubRestoresExactly guards the property the store's fallback
// relies on: adding extreme values and subtracting them again leaves the
// sum bit-identical (a float64 running sum loses the small values).
func TestAddSubRestoresExactly(t *testing.T) {
	var s Sum
	small := []float64{0.1238, -3.5e-7, 2.25, 5e-324}
	for _, x := range small {
		s.Add(x)
	}
	before, mean := s.Float64(), s.Mean(4)
	extreme := []float64{1.7e308, -1e200, math.MaxFloat64, 1e300, -5e-324}
	for _, x := range extreme {
		s.Add(x)
	}
	for _, x := range extreme {
		s.Sub(x)
	}
	if got := s.Float64(); math.Float64bits(got) != math.Float64bits(before) {
		t.Fatalf("sum after add/sub = %v, want %v", got, before)
	}
	if got := s.Mean(4); math.Float64bits(got) != math.Float64bits(mean) {
		t.Fatalf("mean after add/sub = %v, want %v", got, mean)
	}
	// A float64 running sum does not restore: the old code's behaviour.
	f := 0.0
	for _, x := range small {
		f += x
	}
	g := f + 1e200 - 1e200
	if g == f {
		t.Fatal("float64 sum restored; the test values do not show the problem")
	}
}

// TestFloat64AndMeanRound checks the rounding against math/big computed
// independently on random values.
func TestFloat64AndMeanRound(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		var s Sum
		exact := new(big.Float).SetPrec(4000)
		n := 1 + r.IntN(20)
		for range n {
			x := math.Ldexp(r.NormFloat64(), r.IntN(200)-100)
			if trial%7 == 0 {
				x = math.Float64frombits(r.Uint64() &^ (0x7ff << 52)) // subnormal or zero
			}
			s.Add(x)
			exact.Add(exact, new(big.Float).SetFloat64(x))
		}
		want, _ := exact.Float64()
		if got := s.Float64(); got != want {
			t.Fatalf("trial %d: Float64 = %v, want %v", trial, got, want)
		}
		q := new(big.Float).SetPrec(4000).Quo(exact, new(big.Float).SetInt64(int64(n)))
		wantMean, _ := q.Float64()
		if got := s.Mean(int64(n)); got != wantMean {
			t.Fatalf("trial %d: Mean = %v, want %v", trial, got, wantMean)
		}
	}
}

// FuzzDecode checks that decoding arbitrary bytes errs or round-trips.
func FuzzDecode(f *testing.F) {
	var s Sum
	s.Add(-1.5)
	f.Add(s.AppendBinary(nil))
	f.Add([]byte{1, 0, 0})
	f.Add([]byte{0, 0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Sum
		rest, err := s.Decode(b)
		if err != nil {
			return
		}
		enc := s.AppendBinary(nil)
		if string(enc) != string(b[:len(b)-len(rest)]) {
			t.Fatalf("decode(%x) re-encodes as %x", b, enc)
		}
	})
}

// TestMatchesBigInt checks the fixed-width accumulator against math/big
// sums of the same scaled values, including carries and borrows across
// many words and signs changing back and forth.
func TestMatchesBigInt(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var s Sum
	want := new(big.Int)
	scaled := func(x float64) *big.Int {
		f := new(big.Float).SetFloat64(x)
		f.SetMantExp(f, 1074)
		z, acc := f.Int(nil)
		if acc != big.Exact {
			t.Fatalf("%v is not an integer in units of 2^-1074", x)
		}
		return z
	}
	for i := range 20000 {
		var x float64
		switch i % 4 {
		case 0:
			x = math.Ldexp(r.NormFloat64(), r.IntN(2098)-1074)
		case 1:
			x = math.Float64frombits(r.Uint64() &^ (1 << 62)) // any exponent below 1024, may be subnormal
		case 2:
			x = math.MaxFloat64 * (2*r.Float64() - 1)
		default:
			x = float64(r.IntN(5) - 2)
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			continue
		}
		if r.IntN(2) == 0 {
			s.Add(x)
			want.Add(want, scaled(x))
		} else {
			s.Sub(x)
			want.Sub(want, scaled(x))
		}
		if i%97 == 0 || i > 19990 {
			if got := s.int(); got.Cmp(want) != 0 {
				t.Fatalf("step %d: sum %v, want %v", i, got, want)
			}
			var back Sum
			if rest, err := back.Decode(s.AppendBinary(nil)); err != nil || len(rest) != 0 || !back.Equal(&s) {
				t.Fatalf("step %d: encoding does not round-trip (%v)", i, err)
			}
		}
	}
}

func BenchmarkAdd(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	xs := make([]float64, 1024)
	for i := range xs {
		xs[i] = r.NormFloat64()
	}
	var s Sum
	for i := 0; b.Loop(); i++ {
		s.Add(xs[i&1023])
	}
}
