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
		for pos := range 3 {
			v := []float64{1, 2, 3}
			v[pos] = bad
			want := !math.IsNaN(bad) && !math.IsInf(bad, 0)
			if got := allFinite(v); got != want {
				t.Errorf("allFinite(%v) = %v, want %v", v, got, want)
			}
		}
	}
	if !allFinite(nil) {
		t.Error("allFinite(nil) = false")
	}
}
