package dp

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/accountant"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/internal/linalg"
	"github.com/lrsp/lrsp/synth"
)

func frob(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

// smallData returns a small synthetic training set.
func smallData(t *testing.T, users int, seed uint64) *synth.Data {
	t.Helper()
	data, err := synth.Generate(synth.Options{Users: users, Samples: 12, Dim: 8, Rank: 2, Sparsity: 1, Noise: 0.1, TestSamples: 5, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// withUser returns a copy of ds with one more user.
func withUser(ds *dataset.Dataset, id string, x, y []float64) *dataset.Dataset {
	b := dataset.NewBuilder(ds.Features, true)
	row := 0
	d := ds.Dim()
	for _, u := range ds.Users {
		for s := 0; s < u.Len(); s++ {
			b.Add(u.ID, u.X[s*d:(s+1)*d], u.Y[s], row)
			row++
		}
	}
	for s := range y {
		b.Add(id, x[s*d:(s+1)*d], y[s], row)
		row++
	}
	return b.Dataset()
}

// extremeUsers returns users whose data push the clipped update to its
// limits: huge, tiny, constant, zero, mixed-sign and overflowing values.
func extremeUsers(d int) map[string][2][]float64 {
	fill := func(m int, f func(s, j int) float64, g func(s int) float64) [2][]float64 {
		x, y := make([]float64, m*d), make([]float64, m)
		for s := 0; s < m; s++ {
			for j := 0; j < d; j++ {
				x[s*d+j] = f(s, j)
			}
			y[s] = g(s)
		}
		return [2][]float64{x, y}
	}
	rng := rand.New(rand.NewPCG(7, 7))
	gauss := func(int, int) float64 { return rng.NormFloat64() }
	return map[string][2][]float64{
		"huge-y":           fill(12, gauss, func(s int) float64 { return 1e150 * float64(s%3-1) }),
		"huge-x-huge-y":    fill(12, func(s, j int) float64 { return 1e100 * float64((s+j)%3-1) }, func(int) float64 { return 1e100 }),
		"overflowing":      fill(12, func(s, j int) float64 { return 1e300 }, func(int) float64 { return -1e300 }),
		"tiny":             fill(12, func(s, j int) float64 { return 1e-300 * float64(j+1) }, func(s int) float64 { return 1e-300 }),
		"zero-y":           fill(12, gauss, func(int) float64 { return 0 }),
		"zero-x":           fill(12, func(int, int) float64 { return 0 }, func(int) float64 { return 5 }),
		"one-sample":       fill(1, gauss, func(int) float64 { return 1e6 }),
		"many-samples":     fill(200, gauss, func(s int) float64 { return 1e8 * rng.NormFloat64() }),
		"constant-rows":    fill(12, func(int, int) float64 { return 3 }, func(s int) float64 { return float64(s) * 1e50 }),
		"single-direction": fill(12, func(s, j int) float64 { return float64(j % 2) }, func(s int) float64 { return 1e20 }),
	}
}

// TestSensitivity checks the sensitivity claim: adding or removing one
// user, whatever its data, changes the sum of clipped updates that the
// server receives by at most C in Frobenius norm.
func TestSensitivity(t *testing.T) {
	ctx := context.Background()
	base := smallData(t, 40, 3).Train
	d := base.Dim()
	for _, clip := range []float64{0.01, 1, 100} {
		for name, xy := range extremeUsers(d) {
			t.Run(name+"/C="+strconv.FormatFloat(clip, 'g', -1, 64), func(t *testing.T) {
				with := withUser(base, "extreme", xy[0], xy[1])
				opt := Options{Rank: 2, Sparsity: 1, Clip: clip, NoiseMultiplier: 1, Delta: 1e-5, Workers: 2}
				if err := opt.validate(d); err != nil {
					t.Fatal(err)
				}
				opt = opt.withDefaults()
				u := linalg.RandomBasis(d, 2, rand.New(rand.NewPCG(1, 2)))
				sum := func(ds *dataset.Dataset, skip int) []float64 {
					tr, err := newTrainer(ds, opt)
					if err != nil {
						t.Fatal(err)
					}
					tr.u = slices.Clone(u)
					var users []int
					for i := range ds.Users {
						if i != skip {
							users = append(users, i)
						}
					}
					s, _, _, err := tr.sumClipped(ctx, users)
					if err != nil {
						t.Fatal(err)
					}
					return s
				}
				s0 := sum(base, -1)
				// Add the extreme user.
				s1 := sum(with, -1)
				diff := make([]float64, len(s0))
				for j := range diff {
					diff[j] = s1[j] - s0[j]
					if !isFinite(s1[j]) {
						t.Fatalf("sum entry %d is %v", j, s1[j])
					}
				}
				// Rounding in a sum of 40 terms of norm <= C allows a relative
				// error far below 1e-9.
				if n := frob(diff); n > clip*(1+1e-9) {
					t.Errorf("adding the user changed the sum by %v > C = %v", n, clip)
				}
				// Remove an ordinary user from the data with the extreme user.
				s2 := sum(with, 5)
				for j := range diff {
					diff[j] = s1[j] - s2[j]
				}
				if n := frob(diff); n > clip*(1+1e-9) {
					t.Errorf("removing a user changed the sum by %v > C = %v", n, clip)
				}
			})
		}
	}
}

// TestClippedUpdateBound checks the per-user bound on random inputs of
// random scale, and that unclipped updates are the exact formula.
func TestClippedUpdateBound(t *testing.T) {
	const d, r = 6, 3
	rng := rand.New(rand.NewPCG(9, 9))
	s := newScratch(d, 10)
	g := make([]float64, d*r)
	for trial := 0; trial < 2000; trial++ {
		m := 1 + rng.IntN(10)
		scale := math.Pow(10, rng.Float64()*600-300)
		x, y, w := make([]float64, m*d), make([]float64, m), make([]float64, r)
		for j := range x {
			x[j] = scale * rng.NormFloat64()
		}
		for j := range y {
			y[j] = scale * rng.NormFloat64()
		}
		for j := range w {
			w[j] = math.Pow(10, rng.Float64()*20-10) * rng.NormFloat64()
		}
		u := linalg.RandomBasis(d, r, rng)
		clip := math.Pow(10, rng.Float64()*6-3)
		ok := clippedUpdate(g, x, y, u, w, []int32{2}, []float64{scale}, clip, s)
		n := frob(g)
		if n > clip || math.IsNaN(n) {
			t.Fatalf("trial %d: norm %v > clip %v (ok %v)", trial, n, clip, ok)
		}
		if !ok && n != 0 {
			t.Fatalf("trial %d: overflowing update not zero", trial)
		}
	}
	// Exact formula when the bound is not active: G = (1/m) X^T e w^T / ||w||^2.
	x := []float64{1, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0}
	y := []float64{3, 4}
	u := []float64{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0} // e_1, e_2, e_3
	w := []float64{1, 0, 0}
	s = newScratch(d, 2)
	clippedUpdate(g, x, y, u, w, nil, nil, 100, s)
	// theta = e_1; e = y - X theta = (3-1, 4-0) = (2, 4); X^T e / 2 = (1, 4, 0, ...).
	want := make([]float64, d*r)
	want[0*r+0], want[1*r+0] = 1, 4
	for j := range want {
		if math.Abs(g[j]-want[j]) > 1e-15 {
			t.Fatalf("G = %v, want %v", g, want)
		}
	}
}

// TestInitSensitivity checks that one user's contribution to the private
// initialisation has Frobenius norm exactly 1 (or 0), and its upper
// triangle at most 1.
func TestInitSensitivity(t *testing.T) {
	const d = 8
	for name, xy := range extremeUsers(d) {
		acc := make([]float64, d*d)
		ok := initContribution(acc, xy[0], xy[1], newScratch(d, len(xy[1])))
		full, upper := 0.0, 0.0
		for a := 0; a < d; a++ {
			for c := a; c < d; c++ {
				v := acc[a*d+c]
				upper += v * v
				full += v * v
				if c > a {
					full += v * v
				}
			}
		}
		if math.Sqrt(upper) > 1+1e-12 || !(math.Abs(math.Sqrt(full)-1) < 1e-12 || full == 0) {
			t.Errorf("%s: upper-triangle norm %v, full norm %v (ok %v)", name, math.Sqrt(upper), math.Sqrt(full), ok)
		}
	}
}

// TestNoiseScale checks that the noise added to the sum has standard
// deviation NoiseMultiplier * C.
func TestNoiseScale(t *testing.T) {
	opt := Options{Rank: 1, NoiseMultiplier: 2.5, Delta: 1e-5, Clip: 3, NoiseSeed: 5}
	opt = opt.withDefaults()
	tr, err := newTrainer(smallData(t, 5, 1).Train, opt)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float64, 200000)
	tr.addNoise(v, opt.Clip)
	mean, ss := 0.0, 0.0
	for _, x := range v {
		mean += x
		ss += x * x
	}
	mean /= float64(len(v))
	sd := math.Sqrt(ss/float64(len(v)) - mean*mean)
	// The sample sd has relative standard error 1/sqrt(2n) = 0.16%.
	if want := 7.5; math.Abs(sd-want) > 0.01*want || math.Abs(mean) > 0.1 {
		t.Errorf("noise mean %v sd %v, want 0 and %v", mean, sd, want)
	}
}

// TestInvalidParameters checks that invalid privacy parameters are clear
// errors, in Train and in Calibrate.
func TestInvalidParameters(t *testing.T) {
	ds := smallData(t, 10, 1).Train
	ok := Options{Rank: 2, Sparsity: 1, Rounds: 2, NoiseMultiplier: 1, Delta: 1e-5}
	nan, inf := math.NaN(), math.Inf(1)
	trainCases := []struct {
		name string
		edit func(o *Options)
		want string
	}{
		{"delta zero", func(o *Options) { o.Delta = 0 }, "delta"},
		{"delta one", func(o *Options) { o.Delta = 1 }, "delta"},
		{"delta negative", func(o *Options) { o.Delta = -0.1 }, "delta"},
		{"delta NaN", func(o *Options) { o.Delta = nan }, "delta"},
		{"sample rate negative", func(o *Options) { o.SampleRate = -0.5 }, "sample rate"},
		{"sample rate above one", func(o *Options) { o.SampleRate = 1.5 }, "sample rate"},
		{"sample rate NaN", func(o *Options) { o.SampleRate = nan }, "sample rate"},
		{"clip negative", func(o *Options) { o.Clip = -1 }, "clip"},
		{"clip infinite", func(o *Options) { o.Clip = inf }, "clip"},
		{"clip NaN", func(o *Options) { o.Clip = nan }, "clip"},
		{"noise zero", func(o *Options) { o.NoiseMultiplier = 0 }, "noise multiplier"},
		{"noise negative", func(o *Options) { o.NoiseMultiplier = -1 }, "noise multiplier"},
		{"noise infinite", func(o *Options) { o.NoiseMultiplier = inf }, "noise multiplier"},
		{"noiseless with noise", func(o *Options) { o.Noiseless = true }, "noiseless"},
		{"rank zero", func(o *Options) { o.Rank = 0 }, "rank"},
		{"rank too large", func(o *Options) { o.Rank = 9 }, "rank"},
		{"rounds negative", func(o *Options) { o.Rounds = -1 }, "rounds"},
		{"rounds too many", func(o *Options) { o.Rounds = 1_000_001 }, "rounds 1000001 must be in [0, 1000000]"},
		{"step negative", func(o *Options) { o.StepSize = -1 }, "step size"},
		{"unknown init", func(o *Options) { o.Init = 7 }, "init"},
		// Regression: an invalid pursuit trained for the whole run, then
		// panicked with index out of range.
		{"unknown pursuit", func(o *Options) { o.Pursuit = 9 }, "pursuit"},
		{"negative pursuit", func(o *Options) { o.Pursuit = -1 }, "pursuit"},
	}
	for _, c := range trainCases {
		t.Run("train/"+c.name, func(t *testing.T) {
			o := ok
			c.edit(&o)
			_, err := Train(context.Background(), ds, o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Train error %v, want one mentioning %q", err, c.want)
			} else if msg := err.Error(); !strings.HasPrefix(msg, "dp: ") || strings.Count(msg, "dp: ") != 1 {
				t.Errorf("Train error %q: want it to start with \"dp: \" and name the package once", msg)
			}
		})
	}
	calCases := []struct {
		name           string
		epsilon, delta float64
		sampleRate     float64
		want           string
	}{
		{"epsilon zero", 0, 1e-5, 1, "epsilon"},
		{"epsilon negative", -1, 1e-5, 1, "epsilon"},
		{"epsilon NaN", nan, 1e-5, 1, "epsilon"},
		{"epsilon infinite", inf, 1e-5, 1, "epsilon"},
		{"delta zero", 1, 0, 1, "delta"},
		{"delta one", 1, 1, 1, "delta"},
		{"sample rate above one", 1, 1e-5, 2, "sample rate"},
		{"sample rate negative", 1, 1e-5, -0.1, "sample rate"},
	}
	for _, rounds := range []int{-1, 1_000_001} {
		if _, err := Calibrate(1, 1e-5, Options{Rank: 1, Rounds: rounds}); err == nil || !strings.HasPrefix(err.Error(), "dp: rounds") {
			t.Errorf("Calibrate with %d rounds: error %v, want one about the rounds", rounds, err)
		}
	}
	for _, c := range calCases {
		t.Run("calibrate/"+c.name, func(t *testing.T) {
			_, err := Calibrate(c.epsilon, c.delta, Options{Rank: 1, Rounds: 5, SampleRate: c.sampleRate})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Calibrate error %v, want one mentioning %q", err, c.want)
			}
		})
	}
	// The valid options train.
	if _, err := Train(context.Background(), ds, ok); err != nil {
		t.Fatalf("valid options: %v", err)
	}
}

// TestLedger checks that the ledger accounts every release, including a
// private initialisation, and that calibration meets the target.
func TestLedger(t *testing.T) {
	ds := smallData(t, 30, 2).Train
	for _, c := range []struct {
		init Init
		q    float64
	}{{InitRandom, 0}, {InitPrivate, 0}, {InitRandom, 0.5}, {InitPrivate, 0.3}} {
		opt := Options{Rank: 2, Sparsity: 1, Rounds: 4, Init: c.init, SampleRate: c.q, Delta: 1e-5}
		sigma, err := Calibrate(2, 1e-5, opt)
		if err != nil {
			t.Fatal(err)
		}
		opt.NoiseMultiplier = sigma
		var seen []int
		opt.Progress = func(st RoundStats) { seen = append(seen, st.Round) }
		res, err := Train(context.Background(), ds, opt)
		if err != nil {
			t.Fatal(err)
		}
		l := res.Model.Privacy
		releases := 4
		if c.init == InitPrivate {
			releases = 5
		}
		q := c.q
		if q == 0 {
			q = 1
		}
		want, err := accountant.Epsilon(accountant.Params{NoiseMultiplier: sigma, SampleRate: q, Rounds: releases, Delta: 1e-5})
		if err != nil {
			t.Fatal(err)
		}
		if l == nil || l.Rounds != releases || l.Epsilon != want.Epsilon || l.Epsilon > 2 || l.Epsilon < 1.99 ||
			l.NoiseMultiplier != sigma || l.SampleRate != q || l.Clip != DefaultClip || l.Delta != 1e-5 ||
			l.Accountant != want.Accountant || !strings.HasPrefix(l.Init, opt.initDescription()) {
			t.Errorf("init %v q %v: ledger %+v, want %d releases and epsilon %v", c.init, c.q, l, releases, want.Epsilon)
		}
		if len(seen) != releases || len(res.Rounds) != releases || *res.Rounds[releases-1].Epsilon != l.Epsilon {
			t.Errorf("init %v: progress rounds %v, stats %d", c.init, seen, len(res.Rounds))
		}
		if err := res.Model.Validate(); err != nil {
			t.Error(err)
		}
	}
}

// TestDeterministic checks that fixed seeds give the same U whatever the
// number of workers, and that the noise seed changes it.
func TestDeterministic(t *testing.T) {
	ds := smallData(t, 300, 4).Train // more than two chunks
	run := func(workers int, noiseSeed uint64) []float64 {
		res, err := Train(context.Background(), ds, Options{Rank: 2, Sparsity: 1, Rounds: 3, NoiseMultiplier: 1, Delta: 1e-5,
			SampleRate: 0.7, Init: InitPrivate, Workers: workers, Seed: 3, NoiseSeed: noiseSeed})
		if err != nil {
			t.Fatal(err)
		}
		return res.Model.U
	}
	a, b, c := run(1, 9), run(3, 9), run(2, 10)
	if !slices.Equal(a, b) {
		t.Error("U depends on the number of workers")
	}
	if slices.Equal(a, c) {
		t.Error("U does not depend on the noise seed")
	}
}

// TestLearns checks that with mild noise the private trainer recovers the
// subspace far better than the random initial U and predicts well.
func TestLearns(t *testing.T) {
	data, err := synth.Generate(synth.Options{Users: 1000, Samples: 20, Dim: 10, Rank: 2, Sparsity: 1, Noise: 0.1, TestSamples: 5, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{Rank: 2, Sparsity: 1, Rounds: 10, Delta: 1e-5, Seed: 1, NoiseSeed: 2}
	if opt.NoiseMultiplier, err = Calibrate(8, 1e-5, opt); err != nil {
		t.Fatal(err)
	}
	res, err := Train(context.Background(), data.Train, opt)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := eval.CompareTruth(res.Model, data.Truth)
	if err != nil {
		t.Fatal(err)
	}
	pred, err := eval.Predict(res.Model, data.Test, eval.UnknownError)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := eval.Score(data.Test, pred)
	if err != nil {
		t.Fatal(err)
	}
	// A random 2-dimensional subspace of R^10 is at distance about 1.3; the
	// noise is sigma = 1.2 times the clip against a sum of 1000 updates.
	if rec.SubspaceDistance > 0.2 || sc.RMSE > 0.3 {
		t.Errorf("subspace distance %v, test RMSE %v; want <= 0.2 and <= 0.3", rec.SubspaceDistance, sc.RMSE)
	}
}

// TestCancel checks that a cancelled context stops training with its error.
func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ds := smallData(t, 50, 1).Train
	_, err := Train(ctx, ds, Options{Rank: 2, Rounds: 5, NoiseMultiplier: 1, Delta: 1e-5,
		Progress: func(st RoundStats) {
			if st.Round == 2 {
				cancel()
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}
