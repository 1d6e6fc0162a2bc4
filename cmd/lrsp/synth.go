package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/logistic"
	"github.com/lrsp/lrsp/pack"
	"github.com/lrsp/lrsp/synth"
)

func newSynthCmd() *cobra.Command {
	var o synth.Options
	var files synth.Files
	var logisticScale float64
	var precision string
	c := &cobra.Command{
		Use:   "synth",
		Short: "Write synthetic data from the low-rank + sparse model",
		Long: `synth draws x ~ N(0, I_d) and y = <x, U* w_i* + b_i*> + N(0, noise^2) for every user,
with U* a random orthonormal d x r basis, w_i* ~ N(0, I_r) and b_i* with k non-zeros ~ N(0, 1).`,
		Example: "  lrsp synth --users 1000 --samples 60 --dim 100 --rank 5 --sparsity 5 --out data.csv --truth truth.json",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if files.Train == "" {
				return fmt.Errorf("--out is required")
			}
			files = files.WithDefaults()
			if files.NewTest == "" {
				files.NewTest = synth.Sibling(files.Train, "-new-test")
			}
			w := c.OutOrStdout()
			if pack.IsPath(files.Train) {
				if logisticScale != 0 {
					return fmt.Errorf("--logistic-scale writes CSV only; give --out a .csv name")
				}
				prec, err := parsePrecision(precision)
				if err != nil {
					return err
				}
				if err := synth.WritePacked(c.Context(), o, prec, files); err != nil {
					return err
				}
				fmt.Fprintf(w, "wrote %d users x %d samples (d=%d, r=%d, k=%d, noise=%g) to %s\n",
					o.Users, o.Samples, o.Dim, o.Rank, o.Sparsity, o.Noise, files.Train)
				return nil
			}
			generate := synth.Generate
			if logisticScale != 0 {
				generate = func(o synth.Options) (*synth.Data, error) { return logistic.Generate(o, logisticScale) }
			}
			data, err := generate(o)
			if err != nil {
				return err
			}
			if err := synth.WriteFiles(data, files); err != nil {
				return err
			}
			fmt.Fprintf(w, "wrote %d users x %d samples (d=%d, r=%d, k=%d, noise=%g) to %s\n",
				o.Users, o.Samples, o.Dim, o.Rank, o.Sparsity, o.Noise, files.Train)
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
	f.IntVar(&o.Users, "users", 1000, "number of training users t")
	f.IntVar(&o.Samples, "samples", 60, "samples per user m")
	f.IntVar(&o.Dim, "dim", 100, "number of features d")
	f.IntVar(&o.Rank, "rank", 5, "rank r of U*")
	f.IntVar(&o.Sparsity, "sparsity", 5, "non-zeros k of each b_i*")
	f.Float64Var(&o.Noise, "noise", 0, "standard deviation of the target noise")
	f.Float64Var(&logisticScale, "logistic-scale", 0, "draw 0/1 targets y ~ Bernoulli(sigmoid(scale <x, theta_i>)) instead (truth scaled too)")
	f.Uint64Var(&o.Seed, "seed", 1, "random seed")
	f.IntVar(&o.NewUsers, "new-users", 0, "also write this many new users from the same U*")
	f.IntVar(&o.TestSamples, "test-samples", 0, "also write this many held-out samples per user: the training users' to --test-out, the new users' to --new-test-out (drawn apart: the training data do not depend on it)")
	f.StringVar(&files.Train, "out", "", "training data to write: CSV, or packed when the name ends in .lrspd (written user by user) (required)")
	c.MarkFlagRequired("out")
	f.StringVar(&precision, "precision", "float64", "feature storage of packed output: float64 or float32")
	f.StringVar(&files.Truth, "truth", "", "truth JSON to write (U*, every user's w and b)")
	f.StringVar(&files.New, "new-out", "", "new users' CSV (default: --out with -new before the extension)")
	f.StringVar(&files.Test, "test-out", "", "training users' test data (default: --out with -test before the extension)")
	f.StringVar(&files.NewTest, "new-test-out", "", "new users' test data (default: --out with -new-test before the extension)")
	return c
}
