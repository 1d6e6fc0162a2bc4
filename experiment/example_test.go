package experiment_test

import (
	"context"
	"fmt"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/experiment"
)

// ExamplePhase measures exact recovery at two sample sizes: 3 samples per
// user cannot determine the r + k = 4 unknowns of a user, 40 samples
// recover every user.
func ExamplePhase() {
	res, err := experiment.Phase(context.Background(), experiment.PhaseOptions{
		Dim: 20, Rank: 2, Sparsity: 2, Samples: []int{3, 40}, Users: []int{40},
		Pursuits: []amht.Pursuit{amht.PursuitSwap}, Seed: 1,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range res.Cells {
		fmt.Printf("t=%d m=%d: %.2f of the users recovered exactly\n", c.Users, c.Samples, c.Recovered)
	}
	// Output:
	// t=40 m=3: 0.00 of the users recovered exactly
	// t=40 m=40: 1.00 of the users recovered exactly
}

// ExampleRounds traces the relative parameter error of lrs and lowrank
// round by round on noiseless data with sparse parts: lrs converges
// linearly, lowrank stalls at the error of the sparse parts it cannot
// represent.
func ExampleRounds() {
	res, err := experiment.Rounds(context.Background(), experiment.RoundsOptions{
		Users: 100, Samples: 30, Dim: 20, Rank: 2, Sparsity: 2, Noises: []float64{0}, MaxRounds: 12, Seed: 2,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range res.Curves {
		first, last := c.Points[0].ParamError, c.Points[len(c.Points)-1].ParamError
		fmt.Printf("%s: error fell more than 1000-fold in 12 rounds: %v; less than 2-fold: %v\n",
			c.Method, last < first/1000, last > first/2)
	}
	// Output:
	// lrs: error fell more than 1000-fold in 12 rounds: true; less than 2-fold: false
	// lowrank: error fell more than 1000-fold in 12 rounds: false; less than 2-fold: true
}
