package logistic_test

import (
	"context"
	"fmt"

	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/logistic"
	"github.com/lrsp/lrsp/synth"
)

// Example trains logistic LRS on synthetic 0/1 data, personalizes new
// users with U fixed, and scores their held-out probabilities.
func Example() {
	data, err := logistic.Generate(synth.Options{Users: 200, Samples: 200, Dim: 20, Rank: 2, Sparsity: 2,
		NewUsers: 50, TestSamples: 100, Seed: 1}, 1.5)
	if err != nil {
		panic(err)
	}
	res, err := logistic.Train(context.Background(), data.Train, nil, logistic.Options{Rank: 2, Sparsity: 2, Tolerance: 1e-6})
	if err != nil {
		panic(err)
	}
	users, err := logistic.Personalize(context.Background(), res.Model, data.New, logistic.PersonalizeOptions{})
	if err != nil {
		panic(err)
	}
	res.Model.Upsert(users)
	prob, err := eval.Predict(res.Model, data.Test, eval.UnknownError)
	if err != nil {
		panic(err)
	}
	c, err := eval.Classify(data.Test, prob)
	if err != nil {
		panic(err)
	}
	rec, err := eval.CompareTruth(res.Model, data.Truth)
	if err != nil {
		panic(err)
	}
	fmt.Printf("test AUC above 0.85: %v\n", c.AUC > 0.85)
	fmt.Printf("parameter error below 0.3: %v\n", rec.ParamError < 0.3)
	// Output:
	// test AUC above 0.85: true
	// parameter error below 0.3: true
}

// ExampleTrainMethod trains the logistic fine-tune baseline (the global
// model, then a dense per-user correction toward it) and compares its
// training log loss with the global model's.
func ExampleTrainMethod() {
	data, err := logistic.Generate(synth.Options{Users: 50, Samples: 60, Dim: 6, Rank: 1, Sparsity: 1, Seed: 2}, 1.5)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	g, err := logistic.TrainMethod(ctx, data.Train, nil, "global", logistic.Options{Ridge: 0.01})
	if err != nil {
		panic(err)
	}
	f, err := logistic.TrainMethod(ctx, data.Train, nil, "finetune", logistic.Options{Ridge: 0.1, SharedRidge: 0.01})
	if err != nil {
		panic(err)
	}
	pg, _ := eval.Predict(g.Model, data.Train, eval.UnknownError)
	pf, _ := eval.Predict(f.Model, data.Train, eval.UnknownError)
	cg, _ := eval.Classify(data.Train, pg)
	cf, _ := eval.Classify(data.Train, pf)
	fmt.Println(f.Model.Method, f.Model.BytesPerUser() > 0)
	fmt.Printf("finetune training log loss below global's: %v\n", cf.LogLoss < cg.LogLoss)
	// Output:
	// finetune true
	// finetune training log loss below global's: true
}
