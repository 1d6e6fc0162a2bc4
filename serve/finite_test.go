package serve

import (
	"math"
	"testing"
)

// TestAllFinite checks allFinite against math.IsNaN and math.IsInf on
// edge values and NaNs with payloads, in every position.
func TestAllFinite(t *testing.T) {
	vals := []float64{0, math.Copysign(0, -1), 1, -1, math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64,
		-math.SmallestNonzeroFloat64, 0x1p-1022, math.Inf(1), math.Inf(-1), math.NaN(),
		math.Float64frombits(0x7ff0000000000001), math.Float64frombits(0xfff8000000000000), math.Float64frombits(0x7fefffffffffffff)}
	for _, bad := range vals {
		for n := 1; n <= 11; n++ { // the four-at-a-time part and the tail
			for pos := range n {
				v := make([]float64, n)
				for i := range v {
					v[i] = float64(i) - 2.5
				}
				v[pos] = bad
				want := !math.IsNaN(bad) && !math.IsInf(bad, 0)
				if got := allFinite(v); got != want {
					t.Errorf("allFinite(%v) = %v, want %v", v, got, want)
				}
			}
		}
	}
	if !allFinite(nil) {
		t.Error("allFinite(nil) = false")
	}
}
