package method_test

import (
	"context"
	"testing"

	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/logistic"
	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/synth"
)

// TestPatienceSurvivesValidationRise guards --patience with a positive
// tolerance: the tolerance test used to stop training at the first round
// whose validation loss rose, so that --patience did nothing. On noisy data
// with few samples per user the validation loss rises and falls; with
// patience 10 training must go on past the first rise, and can stop early
// only by patience.
func TestPatienceSurvivesValidationRise(t *testing.T) {
	o := synth.Options{Users: 150, Samples: 14, Dim: 20, Rank: 3, Sparsity: 2, Noise: 0.5, Seed: 9}
	squared, err := synth.Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	o.Noise = 0 // the Bernoulli draw is the logistic data's noise
	labels, err := logistic.Generate(o, 1.5)
	if err != nil {
		t.Fatal(err)
	}
	for loss, data := range map[string]*synth.Data{model.LossSquared: squared, model.LossLogistic: labels} {
		cfg := method.Config{Version: model.ConfigVersion, Method: model.MethodLRS, Loss: loss, Rank: 3, Sparsity: 2,
			Rounds: 40, Tolerance: 1e-6, Seed: 1}
		var val []float64
		o := method.Options{Holdout: 0.25, Patience: 10, Workers: 2, Progress: func(st fit.RoundStats) {
			if st.ValidationLoss != nil {
				val = append(val, *st.ValidationLoss)
			}
		}}
		res, err := method.Train(context.Background(), data.Train, cfg, o)
		if err != nil {
			t.Fatal(err)
		}
		rise := 0 // the first round whose validation loss rose
		for r := 1; r < len(val) && rise == 0; r++ {
			if val[r] > val[r-1] {
				rise = r + 1
			}
		}
		if rise == 0 {
			t.Fatalf("%s: the validation loss never rose in %d rounds %v: the test needs data where it does", loss, len(val), val)
		}
		if res.Stopped == fit.StopTolerance {
			t.Errorf("%s: a validated run stopped by the tolerance after round %d (first validation rise: round %d)", loss, len(val), rise)
		}
		if len(val) <= rise {
			t.Errorf("%s: stopped at round %d, the first validation rise (%s)", loss, len(val), res.Stopped)
		}
		t.Logf("%s: first validation rise at round %d; stopped after %d rounds (%s)", loss, rise, len(val), res.Stopped)
	}
}
