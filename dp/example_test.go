package dp_test

import (
	"context"
	"fmt"

	"github.com/lrsp/lrsp/dp"
	"github.com/lrsp/lrsp/synth"
)

// This example trains with user-level (4, 1e-5)-DP for the published U,
// calibrating the noise over every release (10 rounds plus the private
// initialisation), and prints the ledger.
func Example() {
	data, err := synth.Generate(synth.Options{Users: 200, Samples: 20, Dim: 8, Rank: 2, Sparsity: 1, Noise: 0.1, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	opt := dp.Options{Rank: 2, Sparsity: 1, Delta: 1e-5, Seed: 1}
	if opt.NoiseMultiplier, err = dp.Calibrate(4, 1e-5, opt); err != nil {
		fmt.Println(err)
		return
	}
	res, err := dp.Train(context.Background(), data.Train, opt)
	if err != nil {
		fmt.Println(err)
		return
	}
	l := res.Model.Privacy
	fmt.Printf("(%.3g, %g)-DP over %d releases, noise multiplier %.3f, clip %g\n", l.Epsilon, l.Delta, l.Rounds, l.NoiseMultiplier, l.Clip)
	fmt.Println("accountant:", l.Accountant)
	// Output:
	// (4, 1e-05)-DP over 11 releases, noise multiplier 3.586, clip 1
	// accountant: gaussian-exact (Balle-Wang 2018)
}
