package dp

import (
	"context"
	"math"
	mrand "math/rand/v2"
	"slices"
	"testing"

	"github.com/lrsp/lrsp/dataset"
)

// draws returns the participants of the given number of releases of a
// trainer for opt, one list per release.
func draws(t *testing.T, ds *dataset.Dataset, opt Options, releases int) [][]int {
	t.Helper()
	if ds == nil {
		ds = smallData(t, 200, 1).Train
	}
	opt = opt.withDefaults()
	tr, err := newTrainer(ds, opt)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]int, releases)
	for l := range out {
		out[l] = tr.sampleUsers()
	}
	return out
}

// TestSamplingSecret checks that the sampling of users is secret: without a
// noise seed, two runs with the same public Seed draw different
// participants; the participants do not depend on Seed; and a noise seed
// makes them reproducible.
func TestSamplingSecret(t *testing.T) {
	base := Options{Rank: 2, SampleRate: 0.5, NoiseMultiplier: 1, Delta: 1e-5, Seed: 1}
	with := func(seed, noiseSeed uint64) Options {
		o := base
		o.Seed, o.NoiseSeed = seed, noiseSeed
		return o
	}
	eq := func(a, b [][]int) bool { return slices.EqualFunc(a, b, slices.Equal) }
	if eq(draws(t, nil, with(1, 0), 5), draws(t, nil, with(1, 0), 5)) {
		t.Error("two runs with the same Seed and no noise seed drew the same participants: the sampling is not secret")
	}
	if !eq(draws(t, nil, with(1, 7), 5), draws(t, nil, with(2, 7), 5)) {
		t.Error("the participants depend on the public Seed")
	}
	if !eq(draws(t, nil, with(1, 7), 5), draws(t, nil, with(1, 7), 5)) {
		t.Error("a noise seed does not make the sampling reproducible")
	}
	if eq(draws(t, nil, with(1, 7), 5), draws(t, nil, with(1, 8), 5)) {
		t.Error("the participants do not depend on the noise seed")
	}
}

// TestSamplingNotPredictable replays, from the public Seed, the draws that
// earlier releases took the participants from (a PCG seeded by Seed) and
// checks that they predict the real participation no better than chance.
func TestSamplingNotPredictable(t *testing.T) {
	const releases, q = 20, 0.5
	for _, seed := range []uint64{1, 2} {
		got := draws(t, nil, Options{Rank: 2, SampleRate: q, NoiseMultiplier: 1, Delta: 1e-5, Seed: seed}, releases)
		attacker := mrand.New(mrand.NewPCG(seed, 0x64702d73616d70))
		agree, n := 0, 0
		for _, part := range got {
			in := make(map[int]bool, len(part))
			for _, i := range part {
				in[i] = true
			}
			for i := range 200 {
				if (attacker.Float64() < q) == in[i] {
					agree++
				}
				n++
			}
		}
		// Independent guesses agree with probability 1/2: the rate has
		// standard deviation 0.5/sqrt(4000) = 0.008, and the bound is more
		// than 7 of them. The old, Seed-driven sampling agrees every time.
		if rate := float64(agree) / float64(n); math.Abs(rate-0.5) > 0.06 {
			t.Errorf("seed %d: the attacker's replay agrees with the participation in %.3f of %d draws, want 0.5 +- 0.06",
				seed, rate, n)
		}
	}
}

// TestSeedDoesNotChangePrivateRun checks, end to end, that with a private
// initialisation and sampling the public Seed changes nothing: it only
// seeds the random initialisation.
func TestSeedDoesNotChangePrivateRun(t *testing.T) {
	ds := smallData(t, 60, 3).Train
	run := func(seed uint64) []float64 {
		res, err := Train(context.Background(), ds, Options{Rank: 2, Sparsity: 1, Rounds: 3, NoiseMultiplier: 1,
			Delta: 1e-5, SampleRate: 0.5, Init: InitPrivate, Seed: seed, NoiseSeed: 4})
		if err != nil {
			t.Fatal(err)
		}
		return res.Model.U
	}
	if !slices.Equal(run(1), run(2)) {
		t.Error("U depends on the public Seed in a run with a private initialisation")
	}
}
