package baseline_test

import (
	"context"
	"fmt"

	"github.com/lrsp/lrsp/baseline"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/synth"
)

// Train a per-user fine-tune, then personalize unseen users against it with
// theta_0 fixed (package method trains and personalizes every method
// through one contract).
func ExampleTrain() {
	data, err := synth.Generate(synth.Options{Users: 100, Samples: 20, Dim: 10, Rank: 2, Sparsity: 1,
		NewUsers: 10, TestSamples: 10, Seed: 1})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	m, err := baseline.Train(ctx, data.Train, nil, baseline.Options{Method: model.MethodFinetune, Ridge: 0.1})
	if err != nil {
		panic(err)
	}
	users, err := baseline.PersonalizeDense(ctx, m, data.New, 0)
	if err != nil {
		panic(err)
	}
	m.Upsert(users)
	pred, err := eval.Predict(m, data.Test, eval.UnknownError)
	if err != nil {
		panic(err)
	}
	e, _ := eval.Score(data.Test, pred)
	fmt.Printf("%s: %.0f bytes per user, test RMSE below 0.1: %v\n", m.Method, m.BytesPerUser(), e.RMSE < 0.1)
	// Output:
	// finetune: 81 bytes per user, test RMSE below 0.1: false
}
