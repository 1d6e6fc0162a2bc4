package dp

import (
	"context"
	"math"
	"math/big"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/dataset"
)

// sqNormExceeds reports whether the integer vector v has squared L2 norm
// above (c)^2, exactly.
func sqNormExceeds(v []int64, c float64) bool {
	sq := new(big.Int)
	for _, x := range v {
		b := big.NewInt(x)
		sq.Add(sq, b.Mul(b, b))
	}
	bound := new(big.Float).SetPrec(256).SetFloat64(c)
	bound.Mul(bound, bound)
	return new(big.Float).SetPrec(256).SetInt(sq).Cmp(bound) > 0
}

// TestGridRound checks the rounding bound: a vector of norm Clip() stays
// within the sensitivity C after rounding, even when every coordinate
// rounds away from zero by almost half a step, and that round refuses a
// contribution beyond it.
func TestGridRound(t *testing.T) {
	for _, dim := range []int{1, 7, 100, 5000} {
		for _, tc := range []struct{ sigma, clip float64 }{{1, 1}, {0.3, 2}, {5, 0.01}} {
			g, err := NewGrid(tc.sigma, tc.clip, dim, 10, mrand.NewChaCha8([32]byte{}))
			if err != nil {
				t.Fatal(err)
			}
			step := math.Ldexp(1, g.e)
			c := math.Ldexp(tc.clip, -g.e)
			// Every coordinate is K + 1/2 + tiny steps, with K as large as the
			// norm allows: each rounds away from zero by almost half a step.
			adversarial := func(norm float64) []float64 {
				k := math.Floor(norm/math.Sqrt(float64(dim))/step - 0.5 - 1e-6)
				v := make([]float64, dim)
				for j := range v {
					v[j] = (k + 0.5 + 1e-6) * step
				}
				if n := math.Sqrt(dot(v, v)); n > norm {
					t.Fatalf("adversarial vector of norm %v > %v", n, norm)
				}
				return v
			}
			v := adversarial(g.Clip())
			acc := make([]int64, dim)
			if err := g.Round(acc, v); err != nil || sqNormExceeds(acc, c) {
				t.Errorf("d %d sigma %v clip %v: rounded contribution exceeds the clip norm (%v)", dim, tc.sigma, tc.clip, err)
			}
			// Random directions.
			rng := mrand.New(mrand.NewPCG(uint64(dim), 1))
			for range 20 {
				for j := range v {
					v[j] = rng.NormFloat64()
				}
				n := math.Sqrt(dot(v, v))
				for j := range v {
					v[j] *= g.Clip() * (1 - 1e-12) / n
				}
				clear(acc)
				if err := g.Round(acc, v); err != nil || sqNormExceeds(acc, c) {
					t.Fatalf("d %d: random contribution exceeds the clip norm after rounding (%v)", dim, err)
				}
			}
			// A contribution beyond the clip norm is refused.
			clear(acc)
			if err := g.Round(acc, adversarial(tc.clip*(1+1e-3))); err == nil || !sqNormExceeds(acc, c) {
				t.Errorf("d %d: a contribution beyond the clip norm passed the check", dim)
			}
		}
	}
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// TestGridSensitivity checks the sensitivity claim of the discrete noise
// on the integer sums themselves: adding one user, whatever its data,
// changes the rounded sum by at most C/2^e grid steps in L2 norm, exactly.
func TestGridSensitivity(t *testing.T) {
	ctx := context.Background()
	base := smallData(t, 40, 3).Train
	d := base.Dim()
	for _, clip := range []float64{0.01, 1, 100} {
		for name, xy := range extremeUsers(d) {
			with := withUser(base, "extreme", xy[0], xy[1])
			opt := Options{Rank: 2, Sparsity: 1, Clip: clip, NoiseMultiplier: 0.7, Delta: 1e-5, Workers: 2}
			opt = opt.withDefaults()
			sum := func(ds *dataset.Dataset) ([]int64, int) {
				tr, err := newTrainer(ds, opt)
				if err != nil {
					t.Fatal(err)
				}
				tr.u = make([]float64, d*2)
				tr.u[0], tr.u[3] = 1, 1
				all := make([]int, len(ds.Users))
				for i := range all {
					all[i] = i
				}
				_, isum, _, err := tr.sumClipped(ctx, all)
				if err != nil || isum == nil {
					t.Fatalf("%v (integer sum %v)", err, isum)
				}
				return isum, tr.roundGrid.e
			}
			s0, e := sum(base)
			s1, _ := sum(with)
			for j := range s1 {
				s1[j] -= s0[j]
			}
			if sqNormExceeds(s1, math.Ldexp(clip, -e)) {
				t.Errorf("%s C=%s: adding the user changed the integer sum by more than C/2^%d", name, strconv.FormatFloat(clip, 'g', -1, 64), e)
			}
		}
	}
	// The initialisation's contributions: the upper triangle of a unit
	// outer product, scaled and rounded.
	for name, xy := range extremeUsers(d) {
		g, err := NewGrid(0.7, 1, d*(d+1)/2, 10, mrand.NewChaCha8([32]byte{}))
		if err != nil {
			t.Fatal(err)
		}
		tri := make([]float64, d*(d+1)/2)
		acc := make([]int64, len(tri))
		if initUpper(tri, xy[0], xy[1], g.Clip()*(1-clipMargin), newScratch(d, len(xy[1]))) {
			if err := g.Round(acc, tri); err != nil || sqNormExceeds(acc, math.Ldexp(1, -g.e)) {
				t.Errorf("%s: init contribution exceeds 1 after rounding (%v)", name, err)
			}
		}
	}
}

// TestDiscreteNoiseScale checks that the discrete noise on the grid has
// standard deviation NoiseMultiplier * C and lies on the grid.
func TestDiscreteNoiseScale(t *testing.T) {
	for _, sigma := range []float64{0.5, 2.5, 1e6} {
		const clip = 3
		g, err := NewGrid(sigma, clip, 1, 10, mrand.NewChaCha8([32]byte{5}))
		if err != nil {
			t.Fatal(err)
		}
		v := g.Noisy(make([]int64, 20000))
		mean, ss := 0.0, 0.0
		for _, x := range v {
			if k := math.Ldexp(x, -g.e); k != math.Trunc(k) {
				t.Fatalf("noise %v is not on the grid 2^%d", x, g.e)
			}
			mean += x
			ss += x * x
		}
		mean /= float64(len(v))
		sd := math.Sqrt(ss/float64(len(v)) - mean*mean)
		// The sample sd has relative standard error 1/sqrt(2n) = 0.5%.
		if want := sigma * clip; math.Abs(sd-want) > 0.025*want || math.Abs(mean) > 0.03*want {
			t.Errorf("sigma %v: noise mean %v sd %v, want 0 and %v", sigma, mean, sd, want)
		}
	}
}

// TestNoiseChoice trains with both samplers: both are recorded, a noise
// seed reproduces the discrete run, and the noiseless path ignores the
// choice.
func TestNoiseChoice(t *testing.T) {
	ds := smallData(t, 150, 4).Train
	run := func(noise Noise, noiseSeed uint64, noiseless bool) *Result {
		opt := Options{Rank: 2, Sparsity: 1, Rounds: 3, NoiseMultiplier: 1, Delta: 1e-5, SampleRate: 0.8, Seed: 3,
			NoiseSeed: noiseSeed, Noise: noise, Noiseless: noiseless}
		if noiseless {
			opt.NoiseMultiplier, opt.Delta = 0, 0
		}
		res, err := Train(context.Background(), ds, opt)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b, c := run(NoiseDiscrete, 9, false), run(NoiseDiscrete, 9, false), run(NoiseContinuous, 9, false)
	if !slices.Equal(a.Model.U, b.Model.U) {
		t.Error("the discrete noise is not reproducible with a noise seed")
	}
	if slices.Equal(a.Model.U, c.Model.U) {
		t.Error("the continuous and discrete noise give the same U")
	}
	if a.Model.Config.DP.Noise != "discrete" || c.Model.Config.DP.Noise != "continuous" {
		t.Errorf("configured noise %q and %q", a.Model.Config.DP.Noise, c.Model.Config.DP.Noise)
	}
	if slices.Equal(a.Model.U, run(NoiseDiscrete, 10, false).Model.U) {
		t.Error("U does not depend on the noise seed")
	}
	n1, n2 := run(NoiseDiscrete, 4, true), run(NoiseContinuous, 4, true)
	if !slices.Equal(n1.Model.U, n2.Model.U) || n1.Model.Config.DP.Noise != "" {
		t.Errorf("the noiseless path depends on the noise choice (config noise %q)", n1.Model.Config.DP.Noise)
	}
	// The ledgers (private runs: no noise seed).
	for _, noise := range []Noise{NoiseDiscrete, NoiseContinuous} {
		r := run(noise, 0, false)
		l := r.Model.Privacy
		discrete := strings.HasPrefix(l.Mechanism, "discrete gaussian (Canonne-Kamath-Steinke 2020")
		if l == nil || discrete != (noise == NoiseDiscrete) || !strings.HasSuffix(l.Mechanism, Mechanism) ||
			strings.Contains(l.Init, "grid") != (noise == NoiseDiscrete) {
			t.Errorf("%v: ledger %+v", noise, l)
		}
	}
}

// TestSqFloor checks the allocation-free floor(s^2) against math/big.
func TestSqFloor(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(7, 7))
	cases := []float64{0, 0.5, 1, 1.5, 3, math.Ldexp(1, 20) + 0.25, math.Ldexp(1, 63), math.Ldexp(1.5, 70), 1e-300,
		math.Nextafter(1, 2), math.Ldexp(1, 64), math.Ldexp(1, 70)}
	for range 2000 {
		cases = append(cases, math.Ldexp(rng.Float64(), rng.IntN(160)-80))
	}
	max128 := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))
	for _, s := range cases {
		hi, lo, ok := sqFloor(s)
		if !ok {
			t.Fatalf("sqFloor(%v) not ok", s)
		}
		r := new(big.Rat).SetFloat64(s)
		r.Mul(r, r)
		want := new(big.Int).Quo(r.Num(), r.Denom())
		if want.Cmp(max128) > 0 {
			want = max128
		}
		got := new(big.Int).Lsh(new(big.Int).SetUint64(hi), 64)
		got.Or(got, new(big.Int).SetUint64(lo))
		if got.Cmp(want) != 0 {
			t.Fatalf("sqFloor(%v) = %v, want %v", s, got, want)
		}
	}
	for _, s := range []float64{-1, math.NaN(), math.Inf(1)} {
		if _, _, ok := sqFloor(s); ok {
			t.Errorf("sqFloor(%v) ok", s)
		}
	}
}
