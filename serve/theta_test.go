package serve

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lrsp/lrsp/model"
)

// TestThetaEqualsModelTheta checks that theta, which computes four entries
// at a time, equals model.Model.Theta bit for bit, over dimensions with and
// without a remainder of four, ranks 0 to 11, with and without theta_0,
// signed zeros and users whose w does not have r entries.
func TestThetaEqualsModelTheta(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	val := func() float64 {
		switch rng.IntN(8) {
		case 0:
			return math.Copysign(0, -1)
		case 1:
			return 0
		case 2:
			return rng.NormFloat64() * 1e200
		}
		return rng.NormFloat64()
	}
	for _, d := range []int{1, 2, 3, 4, 5, 7, 8, 13, 100} {
		for r := 0; r <= 11; r++ {
			for _, t0 := range []bool{false, true} {
				m := &model.Model{Dim: d, Rank: r, U: make([]float64, d*r)}
				for i := range m.U {
					m.U[i] = val()
				}
				if t0 {
					m.Theta0 = make([]float64, d)
					for j := range m.Theta0 {
						m.Theta0[j] = val()
					}
				}
				for trial := range 5 {
					wlen := r
					if trial == 4 {
						wlen = r + 1
					}
					u := model.User{W: make([]float64, wlen)}
					for c := range u.W {
						u.W[c] = val()
					}
					for j := 0; j < d; j += 1 + rng.IntN(3) {
						u.Index = append(u.Index, int32(j))
						u.Value = append(u.Value, val())
					}
					want := m.Theta(&u, make([]float64, d))
					got := make([]float64, d)
					theta(m, &u, got)
					for j := range want {
						if math.Float64bits(got[j]) != math.Float64bits(want[j]) {
							t.Fatalf("d=%d r=%d theta0=%v trial %d: theta[%d] = %v, model.Theta %v", d, r, t0, trial, j, got[j], want[j])
						}
					}
				}
			}
		}
	}
}

// BenchmarkTheta compares theta with model.Model.Theta at d = 100,
// r = k = 10.
func BenchmarkTheta(b *testing.B) {
	const d, r = 100, 10
	rng := rand.New(rand.NewPCG(1, 2))
	m := &model.Model{Dim: d, Rank: r, U: make([]float64, d*r), Theta0: make([]float64, d)}
	for i := range m.U {
		m.U[i] = rng.NormFloat64()
	}
	u := model.User{W: make([]float64, r)}
	for c := range u.W {
		u.W[c] = rng.NormFloat64()
	}
	for j := 0; j < d; j += 10 {
		u.Index = append(u.Index, int32(j))
		u.Value = append(u.Value, 1)
	}
	dst := make([]float64, d)
	b.Run("serve", func(b *testing.B) {
		for b.Loop() {
			theta(m, &u, dst)
		}
	})
	b.Run("model", func(b *testing.B) {
		for b.Loop() {
			m.Theta(&u, dst)
		}
	})
}

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
