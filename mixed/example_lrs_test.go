package mixed_test

import (
	"context"
	"fmt"
	"math"

	"github.com/lrsp/lrsp/mixed"
	"github.com/lrsp/lrsp/synth"
)

// ExampleFitLRS fits the mixed-model LRS to noisy few-shot data drawn from
// a rank-2 model: the noise variance it estimates is close to the true
// 0.25, and a new user is personalized with everything shared fixed.
func ExampleFitLRS() {
	data, err := synth.Generate(synth.Options{Users: 300, Samples: 8, Dim: 10, Rank: 2, Noise: 0.5, NewUsers: 1, Seed: 2})
	if err != nil {
		panic(err)
	}
	res, err := mixed.FitLRS(context.Background(), data.Train, mixed.LRSOptions{Rank: 2, Seed: 1})
	if err != nil {
		panic(err)
	}
	m := res.Model
	fmt.Printf("%s, r = %d, noise variance within 20%% of 0.25: %v\n", m.Method, m.Rank, math.Abs(m.Prior.Noise-0.25) < 0.05)
	users, err := mixed.Personalize(context.Background(), m, data.New, 1)
	if err != nil {
		panic(err)
	}
	fmt.Println("new user", users[0].ID, "with", len(users[0].W), "random effects")
	// Output:
	// mixed-lrs, r = 2, noise variance within 20% of 0.25: true
	// new user n0 with 2 random effects
}
