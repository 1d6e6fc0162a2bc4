package mixed

import (
	"context"
	"math"
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
	s, n := 0.0, 0
	for _, u := range test.Users {
		for p, row := range u.Rows {
			e := pred[row] - u.Y[p]
			s += e * e
			n++
		}
	}
	return math.Sqrt(s / float64(n))
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
