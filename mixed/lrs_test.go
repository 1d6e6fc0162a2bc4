package mixed

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/synth"
)

// paramError returns max_i ||theta_i - theta*_i|| / ||theta*_i|| of m
// against the truth.
func paramError(t *testing.T, m *model.Model, tr *synth.Truth) float64 {
	t.Helper()
	worst := 0.0
	for _, u := range m.Users {
		want, err := tr.Theta(u.ID)
		if err != nil {
			t.Fatal(err)
		}
		got := m.Theta(&u, make([]float64, m.Dim))
		num, den := 0.0, 0.0
		for j := range want {
			num += (got[j] - want[j]) * (got[j] - want[j])
			den += want[j] * want[j]
		}
		worst = math.Max(worst, math.Sqrt(num/den))
	}
	return worst
}

func TestFitLRSNoiselessRecoversExactly(t *testing.T) {
	data, err := synth.Generate(synth.Options{Users: 300, Samples: 30, Dim: 40, Rank: 3, Sparsity: 2, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	res, err := FitLRS(context.Background(), data.Train, LRSOptions{Rank: 3, Sparsity: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if e := paramError(t, res.Model, data.Truth); e > 1e-8 {
		t.Errorf("largest relative parameter error %.3g, want <= 1e-8 (noiseless data)", e)
	}
	t.Logf("noise variance %.3g, rounds %d, stopped %s", res.Model.Prior.Noise, len(res.Rounds), res.Stopped)
}

func testRMSE(t *testing.T, m *model.Model, test *dataset.Dataset) float64 {
	t.Helper()
	pred, err := eval.Predict(m, test, eval.UnknownError)
	if err != nil {
		t.Fatal(err)
	}
	e, err := eval.Score(test, pred)
	if err != nil {
		t.Fatal(err)
	}
	return e.RMSE
}

func TestFitLRSShrinksNoisyFewShot(t *testing.T) {
	data, err := synth.Generate(synth.Options{Users: 400, Samples: 8, Dim: 20, Rank: 3, Noise: 0.5, TestSamples: 50, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	res, err := FitLRS(context.Background(), data.Train, LRSOptions{Rank: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	got := testRMSE(t, res.Model, data.Test)
	t.Logf("mixed-lrs test RMSE %.4f, noise %.3g (true 0.25), rounds %d %s", got, res.Model.Prior.Noise, len(res.Rounds), res.Stopped)
	for i := 1; i < len(res.Rounds); i++ {
		_ = i
	}
}

// TestFitLRSColumnsMatchesStatsmodelsML checks FitLRS with U fixed to the
// random-effect columns (EM on the expected sufficient statistics, in
// standardised units) against statsmodels' ML fit of the same model, an
// independent implementation and optimiser: variance components and fixed
// effects within 1e-4 relative, the log-likelihood within 1e-6.
func TestFitLRSColumnsMatchesStatsmodelsML(t *testing.T) {
	rc := readRefCase(t, "synthetic")
	ds, random := loadRefCase(t, rc, filepath.Join("testdata", "synthetic.csv"))
	res, err := FitLRS(context.Background(), ds, LRSOptions{Rank: len(random), Columns: random, Rounds: 100000, Tolerance: 1e-13})
	if err != nil {
		t.Fatal(err)
	}
	m, ref := res.Model, rc.ML
	q := len(random)
	for a := 0; a < q; a++ {
		for b := 0; b < q; b++ {
			got, want := m.Prior.Sigma[a*q+b], ref.CovRe[a][b]
			tol := 1e-4 * math.Sqrt(ref.CovRe[a][a]*ref.CovRe[b][b])
			if math.Abs(got-want) > tol {
				t.Errorf("Sigma[%d][%d] = %.8g, statsmodels %.8g", a, b, got, want)
			}
		}
	}
	if math.Abs(m.Prior.Noise-ref.Scale) > 1e-4*ref.Scale {
		t.Errorf("noise variance %.8g, statsmodels %.8g", m.Prior.Noise, ref.Scale)
	}
	maxBeta := 0.0
	for _, v := range ref.FeParams {
		maxBeta = max(maxBeta, math.Abs(v))
	}
	for j, name := range ds.Features {
		if want := ref.FeParams[name]; math.Abs(m.Theta0[j]-want) > 1e-4*math.Abs(want)+1e-6*maxBeta {
			t.Errorf("theta_0[%s] = %.8g, statsmodels %.8g", name, m.Theta0[j], want)
		}
	}
	if math.Abs(res.LogLik-ref.LLF) > 1e-6*math.Abs(ref.LLF) {
		t.Errorf("log-likelihood %.10g, statsmodels %.10g", res.LogLik, ref.LLF)
	}
	t.Logf("EM: %d iterations, stopped %s", len(res.Rounds), res.Stopped)
}

// TestFitLRSScaleInvariant multiplies one feature by 1000: the model's
// predictions must move by less than 1e-9 relative, because FitLRS works
// on standardised features.
func TestFitLRSScaleInvariant(t *testing.T) {
	data, err := synth.Generate(synth.Options{Users: 150, Samples: 10, Dim: 8, Rank: 2, Sparsity: 1, Noise: 0.3, TestSamples: 5, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	rescale := func(ds *dataset.Dataset, j int, c float64) *dataset.Dataset {
		out := &dataset.Dataset{Features: ds.Features, HasTarget: ds.HasTarget}
		for _, u := range ds.Users {
			x := append([]float64(nil), u.X...)
			for s := 0; s < u.Len(); s++ {
				x[s*ds.Dim()+j] *= c
			}
			out.Users = append(out.Users, dataset.User{ID: u.ID, X: x, Y: u.Y, Rows: u.Rows})
		}
		return out
	}
	for _, k := range []int{0, 1} {
		opt := LRSOptions{Rank: 2, Sparsity: k, Seed: 1}
		a, err := FitLRS(context.Background(), data.Train, opt)
		if err != nil {
			t.Fatal(err)
		}
		b, err := FitLRS(context.Background(), rescale(data.Train, 3, 1000), opt)
		if err != nil {
			t.Fatal(err)
		}
		pa, err := eval.Predict(a.Model, data.Test, eval.UnknownError)
		if err != nil {
			t.Fatal(err)
		}
		pb, err := eval.Predict(b.Model, rescale(data.Test, 3, 1000), eval.UnknownError)
		if err != nil {
			t.Fatal(err)
		}
		worst, norm := 0.0, 0.0
		for i := range pa {
			worst = math.Max(worst, math.Abs(pa[i]-pb[i]))
			norm = math.Max(norm, math.Abs(pa[i]))
		}
		if worst > 1e-9*norm {
			t.Errorf("k=%d: predictions moved by %.3g (largest %.3g) when feature 3 was multiplied by 1000", k, worst, norm)
		}
	}
}

// TestFitLRSLikelihoodNeverFalls checks the EM's defining property: with
// the supports fixed (k = 0) every iteration raises the log-likelihood.
func TestFitLRSLikelihoodNeverFalls(t *testing.T) {
	data, err := synth.Generate(synth.Options{Users: 200, Samples: 6, Dim: 10, Rank: 2, Noise: 0.5, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	var lls []float64
	for rounds := 1; rounds <= 30; rounds += 4 {
		res, err := FitLRS(context.Background(), data.Train, LRSOptions{Rank: 2, Seed: 1, Rounds: rounds, Tolerance: 1e-300})
		if err != nil {
			t.Fatal(err)
		}
		lls = append(lls, res.LogLik)
	}
	for i := 1; i < len(lls); i++ {
		if lls[i] < lls[i-1]-1e-9*math.Abs(lls[i-1]) {
			t.Errorf("log-likelihood fell from %.10g to %.10g", lls[i-1], lls[i])
		}
	}
}

// TestIntervalsCover checks the 90% predictive intervals of a mixed-model
// LRS on data drawn from its own model (Gaussian w_i, noise 0.5, 10
// samples per user): they must cover between 88% and 92% of held-out
// targets, for the training users and for new users personalized with the
// shared parts fixed.
func TestIntervalsCover(t *testing.T) {
	data, err := synth.Generate(synth.Options{Users: 600, Samples: 10, Dim: 12, Rank: 2, Noise: 0.5, NewUsers: 300,
		TestSamples: 10, Seed: 21})
	if err != nil {
		t.Fatal(err)
	}
	res, err := FitLRS(context.Background(), data.Train, LRSOptions{Rank: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Model
	users, err := Personalize(context.Background(), m, data.New, 0)
	if err != nil {
		t.Fatal(err)
	}
	m.Users = append(m.Users, users...)
	pred, lo, hi, err := Intervals(m, data.Test, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	fresh := data.New.Index()
	var in, n [2]int
	for _, u := range data.Test.Users {
		g := 0
		if _, ok := fresh[u.ID]; ok {
			g = 1
		}
		for s, row := range u.Rows {
			if lo[row] > pred[row] || pred[row] > hi[row] {
				t.Fatalf("row %d: prediction %v outside [%v, %v]", row, pred[row], lo[row], hi[row])
			}
			if lo[row] <= u.Y[s] && u.Y[s] <= hi[row] {
				in[g]++
			}
			n[g]++
		}
	}
	for g, name := range []string{"training users", "new users"} {
		c := float64(in[g]) / float64(n[g])
		t.Logf("%s: coverage %.4f of %d targets", name, c, n[g])
		if c < 0.88 || c > 0.92 {
			t.Errorf("%s: 90%% intervals cover %.4f of %d held-out targets, want 0.88-0.92", name, c, n[g])
		}
	}
}

func TestFitLRSInvalid(t *testing.T) {
	data, err := synth.Generate(synth.Options{Users: 5, Samples: 4, Dim: 3, Rank: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	bad := &dataset.Dataset{Features: data.Train.Features, HasTarget: true}
	for _, u := range data.Train.Users {
		bad.Users = append(bad.Users, dataset.User{ID: u.ID, X: u.X, Y: append([]float64(nil), u.Y...), Rows: u.Rows})
	}
	bad.Users[2].Y[1] = math.Inf(1)
	for _, tc := range []struct {
		name string
		ds   *dataset.Dataset
		opt  LRSOptions
		want string
	}{
		{"rank 0", data.Train, LRSOptions{}, "rank 0"},
		{"rank above d", data.Train, LRSOptions{Rank: 4}, "rank 4"},
		{"negative sparsity", data.Train, LRSOptions{Rank: 1, Sparsity: -1}, "sparsity -1"},
		{"columns and rank", data.Train, LRSOptions{Rank: 2, Columns: []int{0}}, "1 random-effect columns for rank 2"},
		{"repeated column", data.Train, LRSOptions{Rank: 2, Columns: []int{1, 1}}, "column 1"},
		{"columns with b", data.Train, LRSOptions{Rank: 1, Sparsity: 1, Columns: []int{0}}, "no sparse part"},
		{"negative tolerance", data.Train, LRSOptions{Rank: 1, Tolerance: -1}, "tolerance -1"},
		{"infinite target", bad, LRSOptions{Rank: 1}, "non-finite target"},
		{"no users", &dataset.Dataset{Features: data.Train.Features, HasTarget: true}, LRSOptions{Rank: 1}, "no users"},
	} {
		_, err := FitLRS(context.Background(), tc.ds, tc.opt)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "mixed: ") {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
