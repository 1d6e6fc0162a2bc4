package tune

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/synth"
)

// TestOneSE checks the one-standard-error rule on scores whose per-row
// squared errors differ from the lowest one's by a chosen shift plus, for
// every user, +jitter or -jitter (alternately): 40 users of 8 rows, so the
// mean difference is the shift and its clustered standard error is
// 8 jitter sqrt(40 * 40/39) / 320 = 0.16 jitter.
func TestOneSE(t *testing.T) {
	const users, rows = 40, 8
	rowUser := make([]int32, users*rows+3)
	for i := range rowUser {
		rowUser[i] = int32(i / rows)
	}
	// Rows never held out are ignored.
	for i := users * rows; i < len(rowUser); i++ {
		rowUser[i] = -1
	}
	rng := rand.New(rand.NewPCG(1, 2))
	base := make([]float64, len(rowUser))
	for i := range base {
		base[i] = 5 + rng.NormFloat64()
	}
	errs := func(shift, jitter float64) []float64 {
		e := make([]float64, len(rowUser))
		for i := range e {
			e[i] = base[i] + shift
			if u := rowUser[i]; u >= 0 {
				e[i] += jitter * float64(1-2*(u%2))
			} else {
				e[i] += 1000 // must not count
			}
		}
		return e
	}
	cfg := func(meth string, r int) method.Config { return method.Config{Method: meth, Rank: r} }
	score := func(c method.Config, sq []float64, err string) Score {
		mse := 0.0
		for i, v := range sq {
			if rowUser[i] >= 0 {
				mse += v
			}
		}
		return Score{Config: c, Method: c.Method, Rank: c.Rank, RMSE: math.Sqrt(mse / (users * rows)), sqErr: sq, Err: err}
	}
	tests := []struct {
		name   string
		scores []Score
		want   int
	}{
		{"simpler and slightly worse: chosen", []Score{
			score(cfg(model.MethodLocal, 0), errs(0, 0), ""),
			score(cfg(model.MethodGlobal, 0), errs(0.15, 1), ""),
		}, 1},
		{"simpler and worse by more than one error: kept the best", []Score{
			score(cfg(model.MethodFinetune, 0), errs(0, 0), ""),
			score(cfg(model.MethodMixed, 0), errs(0.17, 1), ""),
		}, 0},
		{"more complex and slightly worse: kept the best", []Score{
			score(cfg(model.MethodGlobal, 0), errs(0, 0), ""),
			score(cfg(model.MethodLocal, 0), errs(0.01, 1), ""),
		}, 0},
		{"equally simple and slightly worse: kept the best", []Score{
			score(cfg(model.MethodMixed, 0), errs(0, 0), ""),
			score(cfg(model.MethodGlobal, 0), errs(0.01, 1), ""),
		}, 0},
		{"the simplest of two within reach", []Score{
			score(cfg(model.MethodLRS, 4), errs(0, 0), ""),
			score(cfg(model.MethodLRS, 2), errs(0.05, 1), ""),
			score(cfg(model.MethodLRS, 1), errs(0.1, 1), ""),
		}, 2},
		{"a failed candidate is never chosen", []Score{
			score(cfg(model.MethodLocal, 0), errs(0, 0), ""),
			{Config: cfg(model.MethodGlobal, 0), Method: model.MethodGlobal, RMSE: math.Inf(1), Err: "diverged"},
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := oneSE(tc.scores, 0, rowUser, users, 10); got != tc.want {
				t.Errorf("chose %d (%s rank %d), want %d", got, tc.scores[got].Method, tc.scores[got].Rank, tc.want)
			}
		})
	}
}

// TestBICSearchFindsRankAndSparsity: on noiseless data from the model the
// criterion must pick the true rank and sparsity, the smallest model that
// fits exactly.
func TestBICSearchFindsRankAndSparsity(t *testing.T) {
	if testing.Short() {
		t.Skip("fits the mixed-model LRS about fifteen times")
	}
	data, err := synth.Generate(synth.Options{Users: 120, Samples: 16, Dim: 10, Rank: 2, Sparsity: 1, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	res := &Result{}
	c, err := bicSearch(context.Background(), data.Train, []int{1, 2, 3, 4}, res, AutoOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Scores {
		t.Logf("rank %d sparsity %d: BIC %.6g", s.Rank, s.Sparsity, s.BIC)
	}
	if c.Rank != 2 || c.Sparsity != 1 {
		t.Errorf("chose rank %d sparsity %d, want 2 and 1", c.Rank, c.Sparsity)
	}
}
