package amht_test

import (
	"context"
	"fmt"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/synth"
)

// Train on noiseless synthetic users, then personalize new users with the
// shared basis fixed.
func Example() {
	data, _ := synth.Generate(synth.Options{Users: 200, Samples: 30, Dim: 30, Rank: 3, Sparsity: 2, NewUsers: 20, Seed: 1})
	res, err := amht.Train(context.Background(), data.Train, nil, amht.Options{Rank: 3, Sparsity: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	rec, _ := eval.CompareTruth(res.Model, data.Truth)
	fmt.Printf("training users: error below 1e-9: %v, supports recovered: %.0f%%\n", rec.ParamError < 1e-9, 100*rec.SupportRecovered)

	users, _ := amht.Personalize(context.Background(), res.Model, data.New, amht.PersonalizeOptions{})
	res.Model.Upsert(users)
	fmt.Println("users in the model:", len(res.Model.Users))
	// Output:
	// training users: error below 1e-9: true, supports recovered: 100%
	// users in the model: 220
}
