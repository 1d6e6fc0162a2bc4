package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/synth"
)

func newDemoCmd() *cobra.Command {
	var o synth.Options
	var rounds int
	c := &cobra.Command{
		Use:   "demo",
		Short: "Train on built-in synthetic data and show what was recovered",
		Long: `demo draws users from the low-rank + sparse model, trains AMHT-LRS on them, personalizes
new users from a few samples with U fixed, and prints how well the true parameters were
recovered. It writes no files.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			w := c.OutOrStdout()
			data, err := synth.Generate(o)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "data: %d users x %d samples, d=%d features, true rank r=%d, sparsity k=%d, noise %g\n",
				o.Users, o.Samples, o.Dim, o.Rank, o.Sparsity, o.Noise)
			fmt.Fprintf(w, "      (%d unknowns per user, %d samples each; plus %d new users with %d samples)\n",
				o.Dim, o.Samples, o.NewUsers, o.Samples)
			start := time.Now()
			cfg := method.Config{Method: model.MethodLRS, Rank: o.Rank, Sparsity: o.Sparsity, Rounds: rounds, Tolerance: 1e-6}
			var run method.Options
			var done func()
			run.Progress, done = roundProgress(c, cfg.Rounds, "loss")
			res, err := method.Train(c.Context(), data.Train, cfg, run)
			done()
			if err != nil {
				return err
			}
			rec, err := eval.CompareTruth(res.Model, data.Truth)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "\ntrained AMHT-LRS in %s, %.2fs (stopped: %s)\n", count(len(res.Rounds), "round"), time.Since(start).Seconds(), res.Stopped)
			fmt.Fprintf(w, "  relative parameter error ||Theta - Theta*||/||Theta*||  %.2e\n", rec.ParamError)
			fmt.Fprintf(w, "  subspace distance ||(I - U U^T) U*||                   %.2e\n", rec.SubspaceDistance)
			fmt.Fprintf(w, "  users whose sparse support was recovered exactly       %d of %d\n", int(rec.SupportRecovered*float64(rec.Users)+0.5), rec.Users)
			users, err := method.Personalize(c.Context(), res.Model, data.New, method.PersonalizeOptions{})
			if err != nil {
				return err
			}
			m := *res.Model
			m.Users = users
			nrec, err := eval.CompareTruth(&m, data.Truth)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "\npersonalized %d new users with U fixed\n", len(users))
			fmt.Fprintf(w, "  relative parameter error                               %.2e\n", nrec.ParamError)
			fmt.Fprintf(w, "  users whose sparse support was recovered exactly       %d of %d\n", int(nrec.SupportRecovered*float64(nrec.Users)+0.5), nrec.Users)
			fmt.Fprintf(w, "\nstorage per user: %.0f bytes (r + k numbers, k indices) instead of %d for a dense model\n", res.Model.BytesPerUser(), 8*o.Dim)
			return nil
		},
	}
	f := c.Flags()
	f.IntVar(&o.Users, "users", 1000, "training users")
	f.IntVar(&o.Samples, "samples", 50, "samples per user")
	f.IntVar(&o.Dim, "dim", 100, "features d")
	f.IntVar(&o.Rank, "rank", 5, "rank r")
	f.IntVar(&o.Sparsity, "sparsity", 5, "sparsity k")
	f.Float64Var(&o.Noise, "noise", 0, "target noise standard deviation")
	f.IntVar(&o.NewUsers, "new-users", 200, "new users to personalize")
	f.Uint64Var(&o.Seed, "seed", 1, "random seed")
	f.IntVar(&rounds, "rounds", 50, "most AMHT-LRS rounds; training stops earlier once a round improves the loss by less than 1e-6 of itself")
	return c
}
