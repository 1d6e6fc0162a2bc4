package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestThetaEqualsOneChain checks that Theta, which computes eight (then
// four) entries at a time, equals thetaOneChain bit for bit, over
// dimensions with and without a remainder of eight and four, ranks 0 to
// 11, with and without theta_0, signed zeros and users whose w does not
// have r entries.
func TestThetaEqualsOneChain(t *testing.T) {
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
				m := &Model{Dim: d, Rank: r, U: make([]float64, d*r)}
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
					u := User{W: make([]float64, wlen)}
					for c := range u.W {
						u.W[c] = val()
					}
					for j := 0; j < d; j += 1 + rng.IntN(3) {
						u.Index = append(u.Index, int32(j))
						u.Value = append(u.Value, val())
					}
					want := m.thetaOneChain(&u, make([]float64, d))
					got := m.Theta(&u, make([]float64, d))
					for j := range want {
						if math.Float64bits(got[j]) != math.Float64bits(want[j]) {
							t.Fatalf("d=%d r=%d theta0=%v trial %d: Theta[%d] = %v, thetaOneChain %v", d, r, t0, trial, j, got[j], want[j])
						}
					}
				}
			}
		}
	}
}

// BenchmarkTheta compares Theta with thetaOneChain at d = 100,
// r = k = 10.
func BenchmarkTheta(b *testing.B) {
	const d, r = 100, 10
	rng := rand.New(rand.NewPCG(1, 2))
	m := &Model{Dim: d, Rank: r, U: make([]float64, d*r), Theta0: make([]float64, d)}
	for i := range m.U {
		m.U[i] = rng.NormFloat64()
	}
	u := User{W: make([]float64, r)}
	for c := range u.W {
		u.W[c] = rng.NormFloat64()
	}
	for j := 0; j < d; j += 10 {
		u.Index = append(u.Index, int32(j))
		u.Value = append(u.Value, 1)
	}
	dst := make([]float64, d)
	b.Run("chains", func(b *testing.B) {
		for b.Loop() {
			m.Theta(&u, dst)
		}
	})
	b.Run("one-chain", func(b *testing.B) {
		for b.Loop() {
			m.thetaOneChain(&u, dst)
		}
	})
}
