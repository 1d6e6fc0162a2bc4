package tune_test

import (
	"context"
	"testing"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/synth"
	"github.com/lrsp/lrsp/tune"
)

func rmse(t *testing.T, m *model.Model, test *dataset.Dataset) float64 {
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

// TestAutoPrefersMixedLRSOnLowRankUsers draws users whose parameters vary
// in a rank-2 subspace, with noise and 8 samples each: the automatic
// choice must be the mixed-model LRS, and its test error must beat every
// ridge baseline's.
func TestAutoPrefersMixedLRSOnLowRankUsers(t *testing.T) {
	data, err := synth.Generate(synth.Options{Users: 150, Samples: 8, Dim: 10, Rank: 2, Noise: 0.3, TestSamples: 20, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	res, sel, err := tune.TrainAuto(context.Background(), data.Train, tune.AutoOptions{Seed: 1, Repeats: 1})
	if err != nil {
		t.Fatal(err)
	}
	if sel.Best.Method != model.MethodMixedLRS {
		t.Fatalf("chose %s, want %s", sel.Best.Method, model.MethodMixedLRS)
	}
	got := rmse(t, res.Model, data.Test)
	for _, s := range sel.Scores {
		if s.Method == model.MethodMixedLRS || s.Err != "" {
			continue
		}
		if s.RMSE <= sel.BestScore.RMSE {
			t.Errorf("%s scored %.4g, below the winner's %.4g", s.Method, s.RMSE, sel.BestScore.RMSE)
		}
	}
	if got > 0.3*1.5 {
		t.Errorf("test RMSE %.4g, want within 1.5x of the noise 0.3", got)
	}
	t.Logf("chose rank %d sparsity %d: test RMSE %.4g", sel.Best.Rank, sel.Best.Sparsity, got)
}

func TestAutoRejectsBadOptions(t *testing.T) {
	data, err := synth.Generate(synth.Options{Users: 10, Samples: 4, Dim: 3, Rank: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, opt := range []tune.AutoOptions{{Folds: 1}, {Repeats: -1}, {MaxRank: -2}, {Methods: []string{"nope"}}} {
		if _, err := tune.Auto(context.Background(), data.Train, opt); err == nil {
			t.Errorf("Auto(%+v): no error", opt)
		}
	}
}

// TestAutoByBIC runs Auto with the mixed-model LRS chosen by BIC: the
// chosen rank and sparsity must still be cross-validated against the other
// methods (a score of its own, not the BIC fit's) and win on data from the
// model.
func TestAutoByBIC(t *testing.T) {
	data, err := synth.Generate(synth.Options{Users: 150, Samples: 8, Dim: 10, Rank: 2, Noise: 0.3, TestSamples: 20, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	sel, err := tune.Auto(context.Background(), data.Train, tune.AutoOptions{Seed: 1, Repeats: 1, BICSamples: 1, MaxRank: 4})
	if err != nil {
		t.Fatal(err)
	}
	bic, cv := 0, 0
	for _, s := range sel.Scores {
		if s.Method != model.MethodMixedLRS {
			continue
		}
		if s.BIC != 0 {
			bic++
		} else {
			cv++
			if !(s.RMSE > 0) {
				t.Errorf("cross-validated mixed-lrs scored RMSE %v", s.RMSE)
			}
		}
	}
	if bic == 0 || cv != 1 {
		t.Errorf("%d BIC fits and %d cross-validated mixed-lrs scores, want some and 1", bic, cv)
	}
	if sel.Best.Method != model.MethodMixedLRS || sel.Best.Rank != 2 || sel.BestScore.BIC != 0 {
		t.Errorf("chose %s rank %d (BIC %v), want mixed-lrs rank 2 by its cross-validated score", sel.Best.Method,
			sel.Best.Rank, sel.BestScore.BIC)
	}
}
