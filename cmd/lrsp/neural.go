package main

import (
	"fmt"
	"math"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/neural"
	"github.com/lrsp/lrsp/synth"
)

// This file holds the network methods' flags of lrsp train and lrsp
// synth-neural.

// neuralFlags are the flags of lrsp train that only the network methods
// use.
type neuralFlags struct {
	hidden []int
	batch  int
	rate   float64
}

func (n *neuralFlags) register(c *cobra.Command) {
	fl := c.Flags()
	fl.IntSliceVar(&n.hidden, "hidden", []int{64, 32}, "neural-lrs, neural-dense, neural-global: hidden layer widths (the last is the dimension of theta_i)")
	fl.IntVar(&n.batch, "batch", 16, "neural-lrs, neural-dense, neural-global: users per Adam mini-batch")
	fl.Float64Var(&n.rate, "learning-rate", 0.003, "neural-lrs, neural-dense, neural-global: Adam step size")
}

// checkNetworkFlags checks --hidden, --batch and --learning-rate, shared
// by lrsp train and lrsp compare.
func checkNetworkFlags(hidden []int, batch int, rate float64) error {
	switch {
	case len(hidden) == 0:
		return fmt.Errorf("--hidden must list at least one width")
	case batch < 1:
		return fmt.Errorf("--batch %d must be at least 1", batch)
	case !(rate > 0) || math.IsInf(rate, 0):
		return fmt.Errorf("--learning-rate %v must be positive and finite", rate)
	}
	for _, h := range hidden {
		if h < 1 || h > neural.MaxWidth {
			return fmt.Errorf("--hidden %v: every width must be in [1, %d]", hidden, neural.MaxWidth)
		}
	}
	return nil
}

func newSynthNeuralCmd() *cobra.Command {
	var o neural.SynthOptions
	var files synth.Files
	c := &cobra.Command{
		Use:   "synth-neural",
		Short: "Write synthetic data whose per-user functions are non-linear in x",
		Long: `synth-neural draws x ~ N(0, I_d) and y = <tanh(A x), U* w_i + b_i> + N(0, noise^2), with A a fixed
random p x d projection (entries N(0, scale^2/d)), U* a random orthonormal p x r basis, w_i ~ N(0, I_r)
and b_i with k non-zeros ~ N(0, 1): every user's function is non-linear in x, and all share the same p
features and r-dimensional subspace (the model of lrsp train --method neural-lrs).`,
		Example: "  lrsp synth-neural --users 300 --samples 40 --new-users 100 --new-samples 20 --test-samples 50 --out nl.csv",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if files.Train == "" {
				return fmt.Errorf("--out is required")
			}
			data, err := neural.Generate(o)
			if err != nil {
				return err
			}
			// The held-out samples of training users and of new users go
			// to separate files, to be scored separately.
			if files.NewTest == "" {
				files.NewTest = synth.Sibling(files.Train, "-new-test")
			}
			files = files.WithDefaults()
			if err := synth.WriteFiles(data, files); err != nil {
				return err
			}
			w := c.OutOrStdout()
			fmt.Fprintf(w, "wrote %d users x %d samples (d=%d, p=%d, r=%d, k=%d, scale=%g, noise=%g) to %s\n",
				o.Users, o.Samples, o.Dim, o.Latent, o.Rank, o.Sparsity, o.Scale, o.Noise, files.Train)
			if data.New != nil {
				fmt.Fprintf(w, "wrote %d new users to %s\n", o.NewUsers, files.New)
			}
			if data.Test != nil {
				fmt.Fprintf(w, "wrote %d test samples per training user to %s\n", o.TestSamples, files.Test)
				if data.New != nil {
					fmt.Fprintf(w, "wrote %d test samples per new user to %s\n", o.TestSamples, files.NewTest)
				}
			}
			return nil
		},
	}
	f := c.Flags()
	f.IntVar(&o.Users, "users", 300, "number of training users t")
	f.IntVar(&o.Samples, "samples", 40, "samples per training user m")
	f.IntVar(&o.Dim, "dim", 10, "number of input features d")
	f.IntVar(&o.Latent, "latent", 8, "number p of shared non-linear features tanh(A x)")
	f.IntVar(&o.Rank, "rank", 3, "rank r of U*")
	f.IntVar(&o.Sparsity, "sparsity", 1, "non-zeros k of each b_i (over the p latent features)")
	f.Float64Var(&o.Scale, "scale", 2, "standard deviation of each pre-activation a_l^T x (larger: less linear)")
	f.Float64Var(&o.Noise, "noise", 0.1, "standard deviation of the target noise")
	f.IntVar(&o.NewUsers, "new-users", 0, "also write this many new users")
	f.IntVar(&o.NewSamples, "new-samples", 0, "samples per new user (0: --samples)")
	f.IntVar(&o.TestSamples, "test-samples", 0, "also write this many held-out samples per user (training and new)")
	f.Uint64Var(&o.Seed, "seed", 1, "random seed")
	f.StringVar(&files.Train, "out", "", "training data CSV to write")
	f.StringVar(&files.New, "new-out", "", "new users' CSV (default: --out with -new before the extension)")
	f.StringVar(&files.Test, "test-out", "", "training users' test CSV (default: --out with -test before the extension)")
	f.StringVar(&files.NewTest, "new-test-out", "", "new users' test CSV (default: --out with -new-test before the extension)")
	return c
}
