package tune

import (
	"context"
	"math"
	"testing"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/synth"
)

// TestSelectFindsTrueRankAndSparsity checks that validation picks the rank
// and sparsity that generated clean synthetic data. Users have fewer
// samples (25, 20 after the hold-out) than features (30), so that no dense
// per-user model (a large rank) fits them exactly.
func TestSelectFindsTrueRankAndSparsity(t *testing.T) {
	tests := []struct {
		name   string
		method string
		r, k   int
	}{
		{"lrs r=3 k=2", model.MethodLRS, 3, 2},
		{"lrs r=2 k=0", model.MethodLRS, 2, 0},
		{"lowrank r=3", model.MethodLowRank, 3, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := synth.Generate(synth.Options{Users: 200, Samples: 25, Dim: 30, Rank: tc.r, Sparsity: tc.k,
				Noise: 0.01, Seed: 5})
			if err != nil {
				t.Fatal(err)
			}
			res, err := Select(context.Background(), data.Train, Options{
				Base: method.Config{Method: tc.method, Tolerance: 1e-6},
				Rank: true, Sparsity: true, Ridge: true, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			b := res.Best
			wantR := tc.r
			if tc.method == model.MethodGlobalSparse {
				wantR = b.Rank // not tuned
			}
			wantK := tc.k
			if tc.method == model.MethodLowRank {
				wantK = b.Sparsity
			}
			if b.Rank != wantR || b.Sparsity != wantK {
				for _, s := range res.Scores {
					t.Logf("r=%d k=%d ridge=%g center=%v rmse=%.4g %s", s.Rank, s.Sparsity, s.Ridge, s.Center, s.RMSE, s.Err)
				}
				t.Fatalf("picked r=%d k=%d, want r=%d k=%d", b.Rank, b.Sparsity, wantR, wantK)
			}
			// Near the noise floor: the validation RMSE is within a few
			// times the noise.
			if !(res.BestScore.RMSE < 0.05) {
				t.Fatalf("best validation RMSE %.4g, want near the noise 0.01", res.BestScore.RMSE)
			}
			if len(res.Scores) > 60 {
				t.Fatalf("%d candidates: the coordinate search should need far fewer", len(res.Scores))
			}
		})
	}
}

func TestSelectRidgeOnly(t *testing.T) {
	data, err := synth.Generate(synth.Options{Users: 50, Samples: 10, Dim: 5, Rank: 1, Sparsity: 0, Noise: 1, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, meth := range []string{model.MethodGlobal, model.MethodLocal, model.MethodFinetune} {
		res, err := Select(context.Background(), data.Train, Options{Base: method.Config{Method: meth}, Rank: true, Sparsity: true, Ridge: true, Center: true})
		if err != nil {
			t.Fatal(err)
		}
		grid := DefaultGrid(5).Ridges
		if len(res.Scores) != len(grid) {
			t.Fatalf("%s: %d candidates, want one per ridge (%d)", meth, len(res.Scores), len(grid))
		}
		best := math.Inf(1)
		for _, s := range res.Scores {
			if s.Rank != 0 || s.Sparsity != 0 || s.Center {
				t.Fatalf("%s: candidate %+v tunes a dimension the method does not have", meth, s)
			}
			best = math.Min(best, s.RMSE)
		}
		if res.BestScore.RMSE != best || res.Scores[res.BestIndex].RMSE != best {
			t.Fatalf("%s: picked %v, not the minimum %v", meth, res.BestScore.RMSE, best)
		}
	}
}

func TestSelectErrors(t *testing.T) {
	data, _ := synth.Generate(synth.Options{Users: 5, Samples: 1, Dim: 3, Rank: 1, Seed: 1})
	base := Options{Base: method.Config{Method: model.MethodLRS, Rank: 1, Sparsity: 1}, Rank: true}
	if _, err := Select(context.Background(), data.Train, base); err == nil {
		t.Error("one sample per user: want an error (nothing to validate on)")
	}
	data, _ = synth.Generate(synth.Options{Users: 5, Samples: 10, Dim: 3, Rank: 1, Seed: 1})
	bad := base
	bad.Grid.Ranks = []int{2, 1}
	if _, err := Select(context.Background(), data.Train, bad); err == nil {
		t.Error("decreasing rank grid: want an error")
	}
	bad = base
	bad.Holdout = 1
	if _, err := Select(context.Background(), data.Train, bad); err == nil {
		t.Error("holdout 1: want an error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Select(ctx, data.Train, base); err == nil {
		t.Error("cancelled context: want an error")
	}
	_ = dataset.Split
}
