package method_test

import (
	"context"
	"fmt"

	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/synth"
)

// Train a per-user fine-tune and an LRS model on the same data through the
// one contract, then personalize unseen users against each with the shared
// parts fixed and score both on held-out samples.
func ExampleTrain() {
	data, err := synth.Generate(synth.Options{Users: 100, Samples: 20, Dim: 10, Rank: 2, Sparsity: 1,
		NewUsers: 10, TestSamples: 10, Seed: 1})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for _, cfg := range []method.Config{
		{Method: model.MethodFinetune, Ridge: 0.1},
		{Method: model.MethodLRS, Rank: 2, Sparsity: 1},
	} {
		res, err := method.Train(ctx, data.Train, cfg, method.Options{})
		if err != nil {
			panic(err)
		}
		m := res.Model
		users, err := method.Personalize(ctx, m, data.New, method.PersonalizeOptions{})
		if err != nil {
			panic(err)
		}
		m.Upsert(users)
		pred, err := method.Predict(m, data.Test, eval.UnknownError)
		if err != nil {
			panic(err)
		}
		e, _ := eval.Score(data.Test, pred)
		fmt.Printf("%s: %.0f bytes per user, test RMSE below 0.1: %v\n", m.Method, m.BytesPerUser(), e.RMSE < 0.1)
	}
	// Output:
	// finetune: 81 bytes per user, test RMSE below 0.1: false
	// lrs: 29 bytes per user, test RMSE below 0.1: true
}

// List the methods of the squared loss and the configuration fields each
// uses.
func ExampleMethods() {
	for _, s := range method.Methods() {
		if s.Loss == model.LossSquared && !s.Network {
			fmt.Printf("%-13s personal=%-5v private=%-5v %v\n", s.Name, s.Personal, s.Private, s.Params()[:2])
		}
	}
	// Output:
	// lrs           personal=true  private=true  [rank sparsity]
	// lowrank       personal=true  private=true  [rank sparsity]
	// global        personal=false private=false [ridge unpenalized]
	// local         personal=true  private=false [ridge unpenalized]
	// global-sparse personal=true  private=false [rank sparsity]
	// finetune      personal=true  private=false [ridge unpenalized]
	// mixed         personal=true  private=false [random_effects criterion]
	// mixed-lrs     personal=true  private=false [rank sparsity]
}
