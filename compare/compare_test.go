package compare_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/compare"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/logistic"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/neural"
	"github.com/lrsp/lrsp/synth"
)

func generate(t testing.TB, o synth.Options) (train, test *dataset.Dataset) {
	t.Helper()
	data, err := synth.Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	return data.Train, data.Test
}

func row(t *testing.T, res *compare.Result, method string) compare.Row {
	t.Helper()
	i := slices.IndexFunc(res.Rows, func(r compare.Row) bool { return r.Method == method })
	if i < 0 {
		t.Fatalf("no row for %s", method)
	}
	return res.Rows[i]
}

func TestRunSmallSynthetic(t *testing.T) {
	train, test := generate(t, synth.Options{Users: 60, Samples: 12, Dim: 10, Rank: 2, Sparsity: 1, Noise: 0.05,
		TestSamples: 5, Seed: 1})
	res, err := compare.Run(context.Background(), train, test, compare.Options{Methods: []string{"global", "local", "lrs"},
		Shots: 10, NewUsers: 0.2, Seed: 1, Rounds: 50, Tolerance: 1e-6})
	if err != nil {
		t.Fatal(err)
	}
	if res.Users != 48 || res.NewUsers != 12 || res.Samples != 48*10 || res.Dim != 10 || res.Shots != 10 || res.Loss != model.LossSquared {
		t.Fatalf("users %d, new users %d, samples %d, d %d, shots %d, loss %q: want 48, 12, 480, 10, 10, squared",
			res.Users, res.NewUsers, res.Samples, res.Dim, res.Shots, res.Loss)
	}
	if len(res.Rows) != 3 || res.Rows[0].Method != "global" || res.Rows[2].Method != "lrs" {
		t.Fatalf("rows %+v, want global, local, lrs in order", res.Rows)
	}
	if !(res.RidgeScale > 0) {
		t.Errorf("ridge scale %v", res.RidgeScale)
	}
	for _, r := range res.Rows {
		if r.New == nil || r.Test.Samples != 48*5 || r.New.Samples != 12*5 {
			t.Fatalf("%s: test/new-user scores missing or on the wrong samples: %+v", r.Method, r)
		}
		if r.Candidates < 1 || r.Classification != nil || r.Hidden != nil {
			t.Errorf("%s: %d candidates, classification %v, hidden %v", r.Method, r.Candidates, r.Classification, r.Hidden)
		}
	}
	// The data are low rank + sparse with little noise: lrs beats the
	// global model by far, for training and new users alike.
	g, l := row(t, res, "global"), row(t, res, "lrs")
	if !(l.Test.RMSE < 0.5*g.Test.RMSE && l.New.RMSE < 0.5*g.New.RMSE) {
		t.Fatalf("lrs RMSE %.3g (new %.3g) not well below global's %.3g (new %.3g)", l.Test.RMSE, l.New.RMSE, g.Test.RMSE, g.New.RMSE)
	}
	if g.BytesPerUser != 0 || row(t, res, "local").BytesPerUser < 80 {
		t.Fatalf("bytes per user: global %.1f, local %.1f", g.BytesPerUser, row(t, res, "local").BytesPerUser)
	}

	// Without new users, every training user is scored and nothing else.
	res, err = compare.Run(context.Background(), train, test, compare.Options{Methods: []string{"global"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Rows[0]; res.Users != 60 || res.NewUsers != 0 || r.New != nil || r.Test.Samples != 60*5 {
		t.Fatalf("no new users: users %d, new users %d, row %+v", res.Users, res.NewUsers, r)
	}
}

// TestRunNeural compares the three network methods and linear lrs on tiny
// non-linear data, and checks that every method is scored on the training
// users' and the new users' test samples, with the network's settings and
// each model's bytes per user.
func TestRunNeural(t *testing.T) {
	data, err := neural.Generate(neural.SynthOptions{Users: 40, Samples: 15, Dim: 4, Latent: 3, Rank: 2, TestSamples: 5, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	opt := compare.Options{Methods: []string{"lrs", compare.NeuralLRS, compare.NeuralDense, compare.NeuralGlobal},
		NewUsers: 0.25, Seed: 1, Workers: 2,
		Neural: compare.NeuralOptions{Hidden: []int{8, 4}, Rank: 2, Rounds: 8, Batch: 8, LearningRate: 0.01, Validation: 0.2},
		Progress: func(e compare.Event) {
			switch {
			case e.Start:
				events = append(events, "start "+e.Method)
			case e.Done:
				events = append(events, "done "+e.Method)
			case e.Round != nil:
				if e.Method == compare.NeuralLRS {
					events = append(events, fmt.Sprint("round ", e.Round.Round))
				}
			}
		}}
	res, err := compare.Run(context.Background(), data.Train, data.Test, opt)
	if err != nil {
		t.Fatal(err)
	}
	if res.Users != 30 || res.NewUsers != 10 || len(res.Rows) != 4 {
		t.Fatalf("users %d, new users %d, %d rows: want 30, 10, 4", res.Users, res.NewUsers, len(res.Rows))
	}
	for _, tc := range []struct {
		method       string
		hidden       bool
		rank         int
		bytesPerUser float64
	}{
		{"lrs", false, -1, -1},
		// w (2 float64) and the count 0 of b's non-zeros (1 byte).
		{compare.NeuralLRS, true, 2, 17},
		// A dense b over the 4 features: its count and 4 float64, no indices.
		{compare.NeuralDense, true, 0, 33},
		// The global network keeps its users, each with an empty b (1 byte).
		{compare.NeuralGlobal, true, 0, 1},
	} {
		r := row(t, res, tc.method)
		if r.New == nil || r.Test.Samples != 30*5 || r.New.Samples != 10*5 || !(r.Test.RMSE > 0) || !(r.New.RMSE > 0) {
			t.Fatalf("%s: test/new-user scores missing or on the wrong samples: %+v", tc.method, r)
		}
		if got := slices.Equal(r.Hidden, []int{8, 4}) && r.Rounds >= 1 && r.Rounds <= 8; got != tc.hidden {
			t.Errorf("%s: hidden %v, rounds %d", tc.method, r.Hidden, r.Rounds)
		}
		if tc.rank >= 0 && (r.Rank != tc.rank || r.Sparsity != 0 || r.Candidates != 0) {
			t.Errorf("%s: r=%d k=%d, %d candidates; want r=%d k=0, none", tc.method, r.Rank, r.Sparsity, r.Candidates, tc.rank)
		}
		if tc.bytesPerUser >= 0 && r.BytesPerUser != tc.bytesPerUser {
			t.Errorf("%s: %.1f bytes per user, want %.0f", tc.method, r.BytesPerUser, tc.bytesPerUser)
		}
	}
	// Every method starts and ends in order; the network reports its rounds
	// in between.
	lrs := row(t, res, compare.NeuralLRS)
	want := []string{"start lrs", "done lrs", "start neural-lrs"}
	for i := range lrs.Rounds {
		want = append(want, fmt.Sprint("round ", i+1))
	}
	want = append(want, "done neural-lrs", "start neural-dense", "done neural-dense", "start neural-global", "done neural-global")
	if !slices.Equal(events, want) {
		t.Errorf("events %v, want %v", events, want)
	}
}

func TestRunLogistic(t *testing.T) {
	data, err := logistic.Generate(synth.Options{Users: 40, Samples: 40, Dim: 6, Rank: 2, Sparsity: 1, TestSamples: 20, Seed: 4}, 1.5)
	if err != nil {
		t.Fatal(err)
	}
	res, err := compare.Run(context.Background(), data.Train, data.Test, compare.Options{Loss: model.LossLogistic,
		Methods: []string{"global", "finetune", "lrs"}, Rounds: 5, NewUsers: 0.2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Loss != model.LossLogistic || len(res.Rows) != 3 {
		t.Fatalf("loss %q, %d rows", res.Loss, len(res.Rows))
	}
	for _, r := range res.Rows {
		c, n := r.Classification, r.NewClassification
		// The users' parameters have mean zero, so the global model is at
		// chance: only the personalized ones must beat it.
		better := r.Method == "global" || (c != nil && c.MeanUserAUC > 0.5 && c.Accuracy > 0.5)
		if c == nil || n == nil || !better || !(c.LogLoss > 0) || c.Samples != 32*20 || n.Samples != 8*20 {
			t.Fatalf("%s: classification scores missing or wrong: %+v %+v", r.Method, c, n)
		}
	}
	// Targets that are not 0/1 are an error naming the data.
	train, test := generate(t, synth.Options{Users: 10, Samples: 6, Dim: 3, Rank: 1, Sparsity: 1, TestSamples: 2, Seed: 1})
	_, err = compare.Run(context.Background(), train, test, compare.Options{Loss: model.LossLogistic, Methods: []string{"global"},
		TrainName: "train.csv"})
	if err == nil || !strings.HasPrefix(err.Error(), "compare: global: train.csv: ") {
		t.Fatalf("real-valued targets with the logistic loss: error %v", err)
	}
}

func TestRunErrors(t *testing.T) {
	train, test := generate(t, synth.Options{Users: 5, Samples: 6, Dim: 4, Rank: 1, Sparsity: 1, TestSamples: 2, Seed: 1})
	other := *test
	other.Features = []string{"a", "b", "c", "d"}
	extra, _ := generate(t, synth.Options{Users: 6, Samples: 2, Dim: 4, Rank: 1, Sparsity: 1, Seed: 1})
	net := []string{compare.NeuralLRS}
	for _, tc := range []struct {
		name  string
		test  *dataset.Dataset
		opt   compare.Options
		want  string
		isErr error
	}{
		{"unknown method", test, compare.Options{Methods: []string{"nope"}}, `unknown method "nope"`, nil},
		{"network with the logistic loss", test, compare.Options{Methods: net, Loss: model.LossLogistic}, `unknown method "neural-lrs"`, nil},
		{"unknown loss", test, compare.Options{Loss: "hinge"}, `unknown loss "hinge"`, nil},
		{"negative shots", test, compare.Options{Shots: -1}, "Shots -1", nil},
		{"all new users", test, compare.Options{NewUsers: 1}, "NewUsers 1", nil},
		{"too many new users", test, compare.Options{NewUsers: 0.95}, "would hold out all 5", nil},
		{"other features", &other, compare.Options{TestName: "t.csv"}, "training data and t.csv have different feature columns", nil},
		{"unknown test user", extra, compare.Options{TestName: "t.csv"}, `t.csv: user "u5" (input row 11) has no training samples`, nil},
		{"neural rank", test, compare.Options{Methods: net, Neural: compare.NeuralOptions{Hidden: []int{8, 4}, Rank: 5}}, "neural rank 5", nil},
		{"neural validation", test, compare.Options{Methods: net, Neural: compare.NeuralOptions{Validation: 1}}, "neural validation 1", nil},
		{"hidden width", test, compare.Options{Methods: net, Neural: compare.NeuralOptions{Hidden: []int{0}}}, "hidden widths [0]", nil},
		{"cancelled", test, compare.Options{}, "context canceled", context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.isErr != nil {
				cancel()
			}
			res, err := compare.Run(ctx, train, tc.test, tc.opt)
			if err == nil || res != nil {
				t.Fatalf("result %v, error %v: want an error", res, err)
			}
			if !strings.HasPrefix(err.Error(), "compare: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want one starting with compare: and holding %q", err, tc.want)
			}
			if tc.isErr != nil && !errors.Is(err, tc.isErr) {
				t.Errorf("error %v is not %v", err, tc.isErr)
			}
		})
	}
}
