package neural

import (
	"context"
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/synth"
)

// split returns the test samples of the users in ds.
func testOf(test, ds *dataset.Dataset) *dataset.Dataset {
	idx := ds.Index()
	out := &dataset.Dataset{Features: test.Features, HasTarget: true}
	for _, u := range test.Users {
		if _, ok := idx[u.ID]; ok {
			out.Users = append(out.Users, u)
		}
	}
	return out
}

// scores returns the test RMSE of m on the training users' and the new
// users' test samples, personalizing the new users first with personalize.
func scores(t testing.TB, m *model.Model, data *synth.Data, personalize func(*model.Model, *dataset.Dataset) ([]model.User, error)) (train, new float64) {
	t.Helper()
	users, err := personalize(m, data.New)
	if err != nil {
		t.Fatal(err)
	}
	m.Upsert(users)
	rmse := func(ds *dataset.Dataset) float64 {
		pred, err := eval.Predict(m, ds, eval.UnknownError)
		if err != nil {
			t.Fatal(err)
		}
		e, err := eval.Score(ds, pred)
		if err != nil {
			t.Fatal(err)
		}
		return e.RMSE
	}
	return rmse(testOf(data.Test, data.Train)), rmse(testOf(data.Test, data.New))
}

type comparison struct {
	name               string
	trainRMSE, newRMSE float64
	seconds            float64
	// validation is a network's best validation MSE (NaN for linear LRS).
	validation float64
}

// compareMethods trains neural LRS, the global network and linear LRS on
// data and scores them.
func compareMethods(t testing.TB, data *synth.Data, nopt Options, linear []amht.Options) []comparison {
	g := nopt
	g.Global = true
	return compareVariants(t, data, []Options{nopt, g}, linear)
}

// variantName names a network variant in the tables.
func variantName(o Options) string {
	switch {
	case o.Global:
		return fmt.Sprintf("global network %v", o.Hidden)
	case o.Dense:
		return fmt.Sprintf("neural-dense %v", o.Hidden)
	case o.Ridge > 0:
		return fmt.Sprintf("neural-lrs %v r=%d k=%d ridge %g", o.Hidden, o.Rank, o.Sparsity, o.Ridge)
	}
	return fmt.Sprintf("neural-lrs %v r=%d k=%d", o.Hidden, o.Rank, o.Sparsity)
}

// compareVariants trains every network variant (early stopping on 20% of
// the training samples, then the users refitted on all of them) and every
// linear LRS on data, and scores them.
func compareVariants(t testing.TB, data *synth.Data, variants []Options, linear []amht.Options) []comparison {
	ctx := context.Background()
	var out []comparison
	neural := func(m *model.Model, ds *dataset.Dataset) ([]model.User, error) {
		o, err := ModelOptions(m)
		if err != nil {
			return nil, err
		}
		return Personalize(ctx, m, ds, o)
	}
	train, held, err := dataset.Split(data.Train, 0.2, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range variants {
		start := time.Now()
		res, err := Train(ctx, train, held, o)
		if err != nil {
			t.Fatal(err)
		}
		name := variantName(o) + fmt.Sprintf(" (%d rounds, %s)", len(res.Rounds), res.Stopped)
		// Refit the users on all their training samples.
		users, err := neural(res.Model, data.Train)
		if err != nil {
			t.Fatal(err)
		}
		res.Model.Upsert(users)
		tr, nw := scores(t, res.Model, data, neural)
		best := math.Inf(1)
		for _, r := range res.Rounds {
			best = min(best, *r.ValidationLoss)
		}
		out = append(out, comparison{name, tr, nw, time.Since(start).Seconds(), best})
	}
	for _, lopt := range linear {
		start := time.Now()
		lres, err := amht.Train(ctx, data.Train, nil, lopt)
		if err != nil {
			t.Fatal(err)
		}
		tr, nw := scores(t, lres.Model, data, func(m *model.Model, ds *dataset.Dataset) ([]model.User, error) {
			return amht.Personalize(ctx, m, ds, amht.PersonalizeOptions{Ridge: lopt.Ridge})
		})
		out = append(out, comparison{fmt.Sprintf("linear lrs r=%d k=%d", lopt.Rank, lopt.Sparsity), tr, nw, time.Since(start).Seconds(), math.NaN()})
	}
	return out
}

// TestNeuralTable prints the comparison table of docs/results.md:
//
//	LRSP_NEURAL_TABLE=1 go test ./neural -run TestNeuralTable -v -timeout 30m
func TestNeuralTable(t *testing.T) {
	if os.Getenv("LRSP_NEURAL_TABLE") == "" {
		t.Skip("set LRSP_NEURAL_TABLE=1 to print the results table (minutes)")
	}
	data, err := Generate(SynthOptions{Users: 300, Samples: 40, Dim: 10, Latent: 8, Rank: 3, Sparsity: 1,
		Noise: 0.1, NewUsers: 100, NewSamples: 20, TestSamples: 50, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	linear := []amht.Options{{Rank: 3, Sparsity: 1, Tolerance: 1e-6}, {Rank: 5, Sparsity: 2, Tolerance: 1e-6}, {Rank: 10, Tolerance: 1e-6}}
	rows := compareMethods(t, data, Options{Hidden: []int{64, 32}, Rank: 3, Sparsity: 1, Rounds: 200, Seed: 1}, linear)
	fmt.Println("| method | test RMSE, training users | test RMSE, new users (20 samples) | seconds |")
	fmt.Println("|---|---|---|---|")
	for _, c := range rows {
		fmt.Printf("| %s | %.4f | %.4f | %.1f |\n", c.name, c.trainRMSE, c.newRMSE, c.seconds)
	}
}
