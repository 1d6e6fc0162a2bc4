package neural_test

import (
	"context"
	"fmt"

	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/neural"
)

// Example trains neural LRS on data non-linear in x, personalizes new users
// with the network and U fixed, and scores the new users' held-out samples.
func Example() {
	data, err := neural.Generate(neural.SynthOptions{Users: 100, Samples: 30, Dim: 6, Latent: 4, Rank: 2,
		Noise: 0.1, NewUsers: 20, NewSamples: 15, TestSamples: 20, Seed: 3})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	res, err := neural.Train(ctx, data.Train, nil, neural.Options{Hidden: []int{16, 8}, Rank: 2, Rounds: 30,
		Batch: 8, LearningRate: 0.01, Seed: 1})
	if err != nil {
		panic(err)
	}
	popt, err := neural.ModelOptions(res.Model)
	if err != nil {
		panic(err)
	}
	users, err := neural.Personalize(ctx, res.Model, data.New, popt)
	if err != nil {
		panic(err)
	}
	res.Model.Upsert(users)
	pred, err := eval.Predict(res.Model, data.Test, eval.UnknownError)
	if err != nil {
		panic(err)
	}
	e, err := eval.Score(data.Test, pred)
	if err != nil {
		panic(err)
	}
	fmt.Println("method:", res.Model.Method, "network:", res.Model.Network.Sizes)
	fmt.Printf("test RMSE below 0.25 (noise 0.1): %v\n", e.RMSE < 0.25)
	// Output:
	// method: neural-lrs network: [6 16 8]
	// test RMSE below 0.25 (noise 0.1): true
}
