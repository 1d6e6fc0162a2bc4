package experiment

import (
	"slices"
	"testing"
)

func TestTicks125(t *testing.T) {
	tests := []struct {
		lo, hi float64
		want   []string
	}{
		{0.11, 6, []string{"0.2", "0.5", "1", "2", "5"}},
		{1, 10, []string{"1", "2", "5", "10"}},
		{0.003, 0.004, nil},
		{0, 1, nil},
	}
	for _, tc := range tests {
		var got []string
		for _, tk := range (ticks125{}).Ticks(tc.lo, tc.hi) {
			got = append(got, tk.Label)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("ticks in [%g, %g] = %v, want %v", tc.lo, tc.hi, got, tc.want)
		}
	}
}

func TestDecades(t *testing.T) {
	var got []string
	for _, tk := range (decades{}).Ticks(3e-5, 20) {
		got = append(got, tk.Label)
	}
	if want := []string{"1e-4", "1e-3", "1e-2", "1e-1", "1", "10"}; !slices.Equal(got, want) {
		t.Errorf("decades in [3e-5, 20] = %v, want %v", got, want)
	}
}

func TestMixSeed(t *testing.T) {
	seen := map[uint64]bool{}
	for _, c := range [][]int{{1, 2}, {2, 1}, {1, 3}, {1}, {}} {
		s := mixSeed(7, c...)
		if seen[s] {
			t.Errorf("mixSeed(7, %v) = %d repeats an earlier seed", c, s)
		}
		seen[s] = true
	}
	if a, b := mixSeed(7, 1, 2), mixSeed(7, 1, 2); a != b {
		t.Errorf("mixSeed is not deterministic: %d, then %d", a, b)
	}
}
