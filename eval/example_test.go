package eval_test

import (
	"context"
	"fmt"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/synth"
)

// ExampleCompareTruth trains on noiseless synthetic data and checks how
// much of the truth was recovered.
func ExampleCompareTruth() {
	data, err := synth.Generate(synth.Options{Users: 200, Samples: 40, Dim: 30, Rank: 3, Sparsity: 3, TestSamples: 5, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := amht.Train(context.Background(), data.Train, nil, amht.Options{Rank: 3, Sparsity: 3, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	rec, err := eval.CompareTruth(res.Model, data.Truth)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("users compared:", rec.Users)
	fmt.Println("relative parameter error below 1e-6:", rec.ParamError < 1e-6)
	fmt.Println("subspace distance below 1e-6:", rec.SubspaceDistance < 1e-6)
	fmt.Println("exact support:", rec.SupportRecovered*float64(rec.Users), "users")

	// Held-out samples of the same users are predicted exactly too.
	pred, err := eval.Predict(res.Model, data.Test, eval.UnknownError)
	if err != nil {
		fmt.Println(err)
		return
	}
	e, err := eval.Score(data.Test, pred)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("test: %d samples, RMSE below 1e-6: %v\n", e.Samples, e.RMSE < 1e-6)
	// Output:
	// users compared: 200
	// relative parameter error below 1e-6: true
	// subspace distance below 1e-6: true
	// exact support: 200 users
	// test: 1000 samples, RMSE below 1e-6: true
}

func ExampleScore() {
	b := dataset.NewBuilder([]string{"a", "b"}, true)
	b.Add("u1", []float64{1, 0}, 1, 0) // user, x, y, input row
	b.Add("u2", []float64{0, 1}, 4, 1)
	b.Add("u1", []float64{1, 1}, 2, 2)
	// Predictions are indexed by input row.
	e, err := eval.Score(b.Dataset(), []float64{1.5, 4, 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("RMSE %.4f, MAE %.4f, R^2 %.4f over %d samples of %d users\n", e.RMSE, e.MAE, e.R2, e.Samples, e.Users)
	// Output: RMSE 0.6455, MAE 0.5000, R^2 0.7321 over 3 samples of 2 users
}
