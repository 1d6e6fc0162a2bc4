package amhtbeam

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/dp"
)

// TestPrivateNoise checks the noise choice of the Beam trainer: the
// discrete noise by default, the continuous one on request, both recorded;
// a noise seed reproduces the discrete run.
func TestPrivateNoise(t *testing.T) {
	data := tinyData(t, 2) // 100 users
	info := Info(data.Train)
	run := func(noise dp.Noise, seed uint64) *Result {
		opt := Options{Rank: 2, Sparsity: 2, Rounds: 2, Seed: 1,
			Privacy: &Privacy{NoiseMultiplier: 1, Delta: 1e-5, NoiseSeed: seed, Noise: noise}}
		res, err := Train(context.Background(), &InProcess{Source: data.Train}, info, opt)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b, c := run(dp.NoiseDiscrete, 5), run(dp.NoiseDiscrete, 5), run(dp.NoiseContinuous, 5)
	if !slices.Equal(a.Model.U, b.Model.U) || slices.Equal(a.Model.U, c.Model.U) {
		t.Error("the discrete noise is not reproducible with a noise seed, or equals the continuous one")
	}
	if a.Model.Config.DP.Noise != "discrete" || c.Model.Config.DP.Noise != "continuous" {
		t.Errorf("configured noise %q, %q", a.Model.Config.DP.Noise, c.Model.Config.DP.Noise)
	}
	for _, noise := range []dp.Noise{dp.NoiseDiscrete, dp.NoiseContinuous} {
		l := run(noise, 0).Model.Privacy
		if l == nil || strings.HasPrefix(l.Mechanism, "discrete gaussian") != (noise == dp.NoiseDiscrete) {
			t.Errorf("%v: ledger %+v", noise, l)
		}
	}
	// The options round trip through the configuration.
	o, err := FromConfig(Config(Options{Rank: 2, Privacy: &Privacy{NoiseMultiplier: 1, Delta: 1e-5, Noise: dp.NoiseContinuous}}), 5)
	if err != nil || o.Privacy.Noise != dp.NoiseContinuous {
		t.Errorf("FromConfig: %v, %+v", err, o.Privacy)
	}
}

// TestNoisyGridSum checks that the engine adds discrete noise of the right
// scale to a sum on the grid and refuses a sum off the grid.
func TestNoisyGridSum(t *testing.T) {
	g, err := dp.NewGrid(2, 0.5, 4, 100, rand.New(rand.NewChaCha8([32]byte{1})))
	if err != nil {
		t.Fatal(err)
	}
	step := math.Ldexp(1, g.Exponent())
	if err := noisyGridSum(g, []float64{step / 2}); err == nil {
		t.Error("a sum off the grid was accepted")
	}
	out := make([]float64, 10000)
	for j := range out {
		out[j] = 3 * step
	}
	if err := noisyGridSum(g, out); err != nil {
		t.Fatal(err)
	}
	ss := 0.0
	for _, v := range out {
		ss += (v - 3*step) * (v - 3*step)
	}
	if sd := math.Sqrt(ss / float64(len(out))); math.Abs(sd-1) > 0.03 { // sigma * C = 1
		t.Errorf("noise sd %v, want 1", sd)
	}
}

// TestRoundToGridStep checks that a private step's contribution lies on
// the grid when the discrete noise is used.
func TestRoundToGridStep(t *testing.T) {
	v := []float64{0.3, -0.2, 1e-9}
	if err := dp.RoundToGrid(v, -20, 1<<20); err != nil {
		t.Fatal(err)
	}
	for _, x := range v {
		if k := math.Ldexp(x, 20); k != math.Trunc(k) {
			t.Errorf("%v is not on the grid", x)
		}
	}
	if err := dp.RoundToGrid([]float64{1.5}, -20, 1<<20); err == nil {
		t.Error("a contribution beyond the clip norm was accepted")
	}
}
