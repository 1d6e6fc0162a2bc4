package pack

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lrsp/lrsp/dataset"
)

// TestDecodeAlignment checks that decode gives the same float64s whether
// it reads the bytes in place (aligned) or byte by byte (misaligned), for
// both precisions, including special values and tails of the SIMD blocks.
func TestDecodeAlignment(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	special := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 1e-310, 3.5}
	for _, prec := range []Precision{Float32, Float64} {
		for _, n := range []int{1, 3, 4, 7, 15, 16, 17, 33, 4000} {
			want := make([]float64, n)
			for j := range want {
				want[j] = rng.NormFloat64()
				if j%5 == 0 {
					want[j] = special[j%len(special)]
				}
				if prec == Float32 {
					want[j] = float64(float32(want[j]))
				}
			}
			for off := 0; off < 8; off++ {
				buf := make([]byte, off+n*int(prec))
				b := buf[off:]
				for j, v := range want {
					if prec == Float32 {
						binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(float32(v)))
					} else {
						binary.LittleEndian.PutUint64(b[8*j:], math.Float64bits(v))
					}
				}
				var sc dataset.Scratch
				got := decode(&sc, b, prec)
				if len(got) != n {
					t.Fatalf("precision %d, n %d, offset %d: %d values", prec, n, off, len(got))
				}
				for j := range got {
					if math.Float64bits(got[j]) != math.Float64bits(want[j]) && !(math.IsNaN(got[j]) && math.IsNaN(want[j])) {
						t.Errorf("precision %d, n %d, offset %d: value %d = %v, want %v", prec, n, off, j, got[j], want[j])
					}
				}
			}
		}
	}
}
