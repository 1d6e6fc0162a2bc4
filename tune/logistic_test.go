package tune

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/logistic"
	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/synth"
)

// TestSelectLogisticFindsTrueRank checks that selection by validation log
// loss picks the rank (and, for lrs, the sparsity) that generated
// synthetic logistic data of the paper's model, tuning the ridge too.
func TestSelectLogisticFindsTrueRank(t *testing.T) {
	tests := []struct {
		name   string
		method string
		r, k   int
	}{
		{"lowrank r=3", model.MethodLowRank, 3, 0},
		{"lrs r=2 k=1", model.MethodLRS, 2, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := logistic.Generate(synth.Options{Users: 150, Samples: 150, Dim: 12, Rank: tc.r, Sparsity: tc.k, Seed: 4}, 2)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Select(context.Background(), data.Train, Options{
				Base: method.Config{Method: tc.method, Loss: model.LossLogistic, Rounds: 20, Tolerance: 1e-5, Seed: 1},
				Rank: true, Sparsity: true, Ridge: true, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range res.Scores {
				t.Logf("r=%d k=%d ridge=%g log loss=%.5f rmse=%.5f %s", s.Rank, s.Sparsity, s.Ridge, s.LogLoss, s.RMSE, s.Err)
			}
			b := res.Best
			wantK := tc.k
			if tc.method == model.MethodLowRank {
				wantK = b.Sparsity
			}
			if b.Rank != tc.r || b.Sparsity != wantK {
				t.Fatalf("picked r=%d k=%d, want r=%d k=%d", b.Rank, b.Sparsity, tc.r, wantK)
			}
			if res.Criterion != "log loss" || res.BestScore.Criterion() != res.BestScore.LogLoss {
				t.Fatalf("criterion %q / %v, want the log loss", res.Criterion, res.BestScore.Criterion())
			}
			for _, s := range res.Scores {
				if s.Err == "" && s.LogLoss < res.BestScore.LogLoss {
					t.Fatalf("candidate %+v has a lower log loss than the winner %+v", s, res.BestScore)
				}
				if !(s.LogLoss > 0 && s.LogLoss < math.Log(2)) || !(s.RMSE > 0 && s.RMSE < 0.5) {
					t.Fatalf("candidate %+v: log loss or probability RMSE out of range", s)
				}
			}
		})
	}
}

// TestTrainLogisticEveryMethod tunes and retrains every logistic method
// on small data: the winner is a logistic model of the method, and the
// ridge candidates are LogisticRidges.
func TestTrainLogisticEveryMethod(t *testing.T) {
	data, err := logistic.Generate(synth.Options{Users: 40, Samples: 30, Dim: 6, Rank: 1, Sparsity: 1, Seed: 2}, 1.5)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range logistic.Methods {
		t.Run(name, func(t *testing.T) {
			m, res, err := Train(context.Background(), data.Train, Options{
				Base: method.Config{Method: name, Loss: model.LossLogistic, Rounds: 5, Seed: 1},
				Rank: true, Sparsity: true, Ridge: true, Center: true, Grid: Grid{Ranks: []int{1, 2}, Sparsities: []int{0, 1, 2}}})
			if err != nil {
				t.Fatal(err)
			}
			if m.Method != name || m.Loss != model.LossLogistic {
				t.Fatalf("model %s/%s, want %s/logistic", m.Method, m.Loss, name)
			}
			ridges := map[float64]bool{}
			for _, r := range LogisticRidges {
				ridges[r*res.RidgeScale] = true
			}
			for _, s := range res.Scores {
				if !ridges[s.Ridge] {
					t.Fatalf("ridge %g is not a logistic grid value", s.Ridge)
				}
			}
		})
	}
	_, err = Select(context.Background(), data.Train, Options{Base: method.Config{Method: model.MethodLRS, Loss: "hinge"}})
	if err == nil || !strings.Contains(err.Error(), "hinge") {
		t.Fatalf("unknown loss: error %v", err)
	}
	real, err := synth.Generate(synth.Options{Users: 5, Samples: 10, Dim: 3, Rank: 1, Noise: 0.1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Select(context.Background(), real.Train, Options{Base: method.Config{Method: model.MethodLRS, Loss: model.LossLogistic}, Rank: true})
	if err == nil || !strings.Contains(err.Error(), "not 0 or 1") {
		t.Fatalf("real-valued targets with the logistic loss: error %v", err)
	}
}
