package neural

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/synth"
)

// smallData is a quick instance of Generate for the unit tests.
func smallData(t testing.TB) *synth.Data {
	t.Helper()
	data, err := Generate(SynthOptions{Users: 120, Samples: 30, Dim: 6, Latent: 4, Rank: 2, Sparsity: 0,
		Noise: 0.1, NewUsers: 40, NewSamples: 15, TestSamples: 30, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// smallOptions trains a small network in a few seconds.
func smallOptions() Options {
	return Options{Hidden: []int{16, 8}, Rank: 2, Rounds: 40, Batch: 8, LearningRate: 0.01, Seed: 1, Workers: 2}
}

// TestBeatsLinearAndGlobal checks the claim on a small instance:
// on data non-linear in x with shared low-dimensional structure, neural LRS
// has a lower test RMSE than linear LRS and than the global network, for
// training users and for new users personalized with V and U fixed.
func TestBeatsLinearAndGlobal(t *testing.T) {
	data := smallData(t)
	rows := compareMethods(t, data, smallOptions(), []amht.Options{{Rank: 2, Tolerance: 1e-6}})
	nlrs, global, linear := rows[0], rows[1], rows[2]
	for _, c := range rows {
		t.Logf("%-50s train users %.4f  new users %.4f", c.name, c.trainRMSE, c.newRMSE)
	}
	for _, other := range []comparison{global, linear} {
		if !(nlrs.trainRMSE < 0.8*other.trainRMSE && nlrs.newRMSE < 0.8*other.newRMSE) {
			t.Errorf("neural LRS (%.4f, %.4f) is not 20%% better than %s (%.4f, %.4f)",
				nlrs.trainRMSE, nlrs.newRMSE, other.name, other.trainRMSE, other.newRMSE)
		}
	}
}

// TestPersonalizeMatchesTraining checks that personalizing the training
// users with the trained network and U fixed gives back the parameters
// training stored (the last round's per-user solves), so that the network
// stored in the model (standardization folded in) is the trained one.
func TestPersonalizeMatchesTraining(t *testing.T) {
	data := smallData(t)
	opt := smallOptions()
	opt.Rounds, opt.Sparsity = 5, 1
	res, err := Train(context.Background(), data.Train, nil, opt)
	if err != nil {
		t.Fatal(err)
	}
	po, err := ModelOptions(res.Model)
	if err != nil {
		t.Fatal(err)
	}
	users, err := Personalize(context.Background(), res.Model, data.Train, po)
	if err != nil {
		t.Fatal(err)
	}
	theta, want := make([]float64, res.Model.Dim), make([]float64, res.Model.Dim)
	worst := 0.0
	for i, u := range users {
		res.Model.Theta(&u, theta)
		res.Model.Theta(&res.Model.Users[i], want)
		for a := range theta {
			worst = max(worst, math.Abs(theta[a]-want[a])/(1+math.Abs(want[a])))
		}
	}
	if worst > 1e-6 {
		t.Errorf("personalized training users differ from the trained ones by %.3g", worst)
	}
}

// TestModelFileRoundTrip checks that a saved and loaded neural model
// predicts exactly as the trained one.
func TestModelFileRoundTrip(t *testing.T) {
	data := smallData(t)
	for _, global := range []bool{false, true} {
		opt := smallOptions()
		opt.Rounds, opt.Global = 3, global
		res, err := Train(context.Background(), data.Train, nil, opt)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := model.Encode(&buf, res.Model); err != nil {
			t.Fatal(err)
		}
		back, err := model.Decode(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		test := testOf(data.Test, data.Train)
		p1, err := eval.Predict(res.Model, test, eval.UnknownError)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := eval.Predict(back, test, eval.UnknownError)
		if err != nil {
			t.Fatal(err)
		}
		for r := range p1 {
			if p1[r] != p2[r] {
				t.Fatalf("global=%v: row %d predicts %v after a round trip, %v before", global, r, p2[r], p1[r])
			}
		}
	}
}

func TestCancel(t *testing.T) {
	data := smallData(t)
	ctx, cancel := context.WithCancel(context.Background())
	opt := smallOptions()
	rounds := 0
	opt.Progress = func(RoundStats) {
		if rounds++; rounds == 2 {
			cancel()
		}
	}
	_, err := Train(ctx, data.Train, nil, opt)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled training: %v, want context.Canceled", err)
	}
	if rounds != 2 {
		t.Errorf("training ran %d rounds after cancellation at round 2", rounds)
	}
	if _, err := Personalize(ctx, &model.Model{}, data.New, PersonalizeOptions{}); err == nil {
		t.Error("Personalize accepted a model without a network")
	}
}

func TestTrainErrors(t *testing.T) {
	data := smallData(t)
	noTarget := *data.Train
	noTarget.HasTarget = false
	stranger := &dataset.Dataset{Features: data.Train.Features, HasTarget: true,
		Users: []dataset.User{{ID: "nobody", X: make([]float64, 6), Y: []float64{1}, Rows: []int{0}}}}
	for _, tc := range []struct {
		name     string
		ds, held *dataset.Dataset
		edit     func(*Options)
	}{
		{"rank 0", data.Train, nil, func(o *Options) { o.Rank = 0 }},
		{"rank above width", data.Train, nil, func(o *Options) { o.Rank = 9 }},
		{"sparsity above width", data.Train, nil, func(o *Options) { o.Sparsity = 9 }},
		{"zero width", data.Train, nil, func(o *Options) { o.Hidden = []int{4, 0} }},
		{"no hidden layer", data.Train, nil, func(o *Options) { o.Hidden = []int{} }},
		{"negative rate", data.Train, nil, func(o *Options) { o.LearningRate = -1 }},
		{"NaN ridge", data.Train, nil, func(o *Options) { o.Ridge = math.NaN() }},
		{"no target", &noTarget, nil, func(*Options) {}},
		{"unknown validation user", data.Train, stranger, func(*Options) {}},
		{"negative rounds", data.Train, nil, func(o *Options) { o.Rounds = -1 }},
		{"too many rounds", data.Train, nil, func(o *Options) { o.Rounds = 1_000_001 }},
		{"negative patience", data.Train, nil, func(o *Options) { o.Patience = -1 }},
	} {
		opt := smallOptions()
		tc.edit(&opt)
		_, err := Train(context.Background(), tc.ds, tc.held, opt)
		if err == nil {
			t.Errorf("%s: Train succeeded", tc.name)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "neural: ") || strings.Count(msg, "neural: ") != 1 {
			t.Errorf("%s: error %q: want it to start with \"neural: \" and name the package once", tc.name, msg)
		}
	}
}

// TestGenerateNonLinear checks that Generate's per-user functions are far
// from linear: with many samples and no noise, a user's least-squares
// linear fit leaves more than a tenth of the variance of y (R^2 0.87 here), while y is exactly
// the documented function of x.
func TestGenerateNonLinear(t *testing.T) {
	data, err := Generate(SynthOptions{Users: 5, Samples: 2000, Dim: 6, Latent: 4, Rank: 2, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Generate(SynthOptions{Users: 5, Samples: 2000, Dim: 6, Latent: 4, Rank: 2, Seed: 2})
	if data.Train.Users[3].Y[7] != again.Train.Users[3].Y[7] {
		t.Error("Generate is not deterministic in its seed")
	}
	ctx := context.Background()
	// rank d (= dense per-user linear regression) fitted per user.
	lin := &model.Model{Method: model.MethodLowRank, Dim: 6, Rank: 6, Features: data.Train.Features, U: identity(6)}
	users, err := amht.Personalize(ctx, lin, data.Train, amht.PersonalizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lin.Users = users
	pred, err := eval.Predict(lin, data.Train, eval.UnknownError)
	if err != nil {
		t.Fatal(err)
	}
	e, err := eval.Score(data.Train, pred)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("best linear fit per user: R^2 %.3f", e.R2)
	if e.R2 > 0.9 {
		t.Errorf("a linear fit explains R^2 = %.3f of the variance: the data are nearly linear", e.R2)
	}
	if _, err := Generate(SynthOptions{Users: 1, Samples: 1, Dim: 2, Latent: 2, Rank: 3}); err == nil {
		t.Error("Generate accepted rank 3 > latent 2")
	}
}

func identity(n int) []float64 {
	u := make([]float64, n*n)
	for i := range n {
		u[i*n+i] = 1
	}
	return u
}
