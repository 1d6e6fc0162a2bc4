package main

import (
	"context"
	"fmt"
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/experiment"
)

// experimentFlags are the flags shared by every experiment.
type experimentFlags struct {
	out      string
	seed     uint64
	parallel int
}

func (f *experimentFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.out, "out", "", "directory to write the CSV and PNG files into, created if absent (required)")
	c.MarkFlagRequired("out")
	c.Flags().Uint64Var(&f.seed, "seed", 1, "random seed of the data and the training")
	c.Flags().IntVar(&f.parallel, "parallel", 0, "training runs at a time, one core each (0: all cores)")
}

// prepare checks the flags and creates the output directory.
func (f *experimentFlags) prepare() error {
	if f.out == "" {
		return fmt.Errorf("--out is required")
	}
	if f.parallel < 0 {
		return fmt.Errorf("--parallel %d must not be negative", f.parallel)
	}
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}

// run checks the flags, runs an experiment with a progress display and
// writes its result into --out, listing the files written. exp runs the
// experiment with the given progress callback and returns the result's
// Write method.
func (f *experimentFlags) run(c *cobra.Command, name string,
	exp func(ctx context.Context, progress func(experiment.Step)) (func(string) ([]string, error), error)) error {
	if err := f.prepare(); err != nil {
		return err
	}
	p := newProgress(c, progressbar.OptionSetDescription(name), progressbar.OptionShowCount(),
		progressbar.OptionSetElapsedTime(true), progressbar.OptionSetPredictTime(true))
	write, err := exp(c.Context(), func(s experiment.Step) {
		p.step(int64(s.Done), int64(s.Total), name+": "+s.What, fmt.Sprintf("%s [%d/%d] %s", name, s.Done, s.Total, s.What))
	})
	p.finish()
	if err != nil {
		return err
	}
	paths, err := write(f.out)
	for _, p := range paths {
		fmt.Fprintln(c.OutOrStdout(), "wrote", p)
	}
	return err
}

func newExperimentCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "experiment NAME",
		Short: "Run a synthetic experiment and write CSV tables and PNG plots",
		Long: `experiment runs one of the synthetic experiments that show the theory of low-rank +
sparse personalization and writes its CSV tables and PNG plots into --out:

  phase     fraction of users recovered exactly as samples per user m and users t vary
  rounds    relative parameter error per round of lrs and lowrank, with and without noise
  sparsity  test RMSE of lrs, lowrank, global-sparse and local as the sparsity k grows

The CSV columns are documented in docs/results.md and in package experiment.`,
	}
	c.AddCommand(newPhaseCmd(), newRoundsCmd(), newSparsityCmd())
	return group(c)
}

func newPhaseCmd() *cobra.Command {
	var (
		ef       experimentFlags
		o        experiment.PhaseOptions
		pursuits []string
	)
	c := &cobra.Command{
		Use:   "phase",
		Short: "Exact recovery as samples per user m and users t vary (heat map)",
		Long: `phase trains AMHT-LRS on noiseless synthetic data for every m in --samples and t in --users
and reports the fraction of users recovered exactly: support of b_i equal to the true
support and ||theta_i - theta_i*|| / ||theta_i*|| below --tolerance. With several
--pursuit values it draws one heat map per pursuit and a line plot comparing them at
--line-users users. It writes phase.csv, phase-PURSUIT.png and phase-pursuits.png.`,
		Example: "  lrsp experiment phase --out docs/figures",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.Pursuits = nil
			for _, p := range pursuits {
				var v amht.Pursuit
				if err := v.UnmarshalText([]byte(p)); err != nil {
					return fmt.Errorf("--pursuit: %w", err)
				}
				o.Pursuits = append(o.Pursuits, v)
			}
			return ef.run(c, "phase", func(ctx context.Context, progress func(experiment.Step)) (func(string) ([]string, error), error) {
				o.Seed, o.Parallel, o.Progress = ef.seed, ef.parallel, progress
				res, err := experiment.Phase(ctx, o)
				if err != nil {
					return nil, err
				}
				return res.Write, nil
			})
		},
	}
	ef.register(c)
	f := c.Flags()
	f.IntVar(&o.Dim, "dim", 100, "features d")
	f.IntVar(&o.Rank, "rank", 5, "rank r")
	f.IntVar(&o.Sparsity, "sparsity", 5, "sparsity k")
	f.IntSliceVar(&o.Samples, "samples", []int{10, 15, 20, 25, 30, 40, 50, 60}, "samples per user m (heat-map columns)")
	f.IntSliceVar(&o.Users, "users", []int{50, 100, 200, 500, 1000, 2000}, "numbers of users t (heat-map rows)")
	f.StringSliceVar(&pursuits, "pursuit", []string{"swap", "htp"}, "support searches to compare: swap, greedy, htp")
	f.IntVar(&o.LineUsers, "line-users", 0, "t of the line plot comparing pursuits (0: the largest --users)")
	f.Float64Var(&o.Tolerance, "tolerance", 1e-6, "largest relative parameter error of a user recovered exactly")
	f.IntVar(&o.Rounds, "rounds", 50, "bound on AMHT-LRS rounds")
	return c
}

func newRoundsCmd() *cobra.Command {
	var (
		ef experimentFlags
		o  experiment.RoundsOptions
	)
	c := &cobra.Command{
		Use:   "rounds",
		Short: "Relative parameter error per round of lrs and lowrank, with and without noise",
		Long: `rounds trains lrs (AMHT-LRS with the true r and k) and lowrank (the true r, no sparse part)
on the same synthetic low-rank + sparse data at every --noise level, and records the
relative parameter error ||Theta - Theta*||_F / ||Theta*||_F after each round. The model
after L rounds is the model of a run with exactly L rounds (training is deterministic on
one core), so a curve costs max-rounds*(max-rounds+1)/2 rounds. It writes rounds.csv and
rounds.png.`,
		Example: "  lrsp experiment rounds --out docs/figures",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return ef.run(c, "rounds", func(ctx context.Context, progress func(experiment.Step)) (func(string) ([]string, error), error) {
				o.Seed, o.Parallel, o.Progress = ef.seed, ef.parallel, progress
				res, err := experiment.Rounds(ctx, o)
				if err != nil {
					return nil, err
				}
				return res.Write, nil
			})
		},
	}
	ef.register(c)
	f := c.Flags()
	f.IntVar(&o.Users, "users", 1000, "users t")
	f.IntVar(&o.Samples, "samples", 60, "samples per user m")
	f.IntVar(&o.Dim, "dim", 100, "features d")
	f.IntVar(&o.Rank, "rank", 5, "rank r")
	f.IntVar(&o.Sparsity, "sparsity", 5, "sparsity k of the data (and of lrs)")
	f.Var(newFloats(&o.Noises, []float64{0, 0.1}), "noise", "standard deviations of the target noise")
	f.IntVar(&o.MaxRounds, "max-rounds", 20, "rounds to trace")
	return c
}

func newSparsityCmd() *cobra.Command {
	var (
		ef experimentFlags
		o  experiment.SparsityOptions
	)
	c := &cobra.Command{
		Use:   "sparsity",
		Short: "Test RMSE of lrs, lowrank, global-sparse and local as the sparsity k grows",
		Long: `sparsity draws low-rank + sparse data for every k in --sparsity at fixed m, trains lrs (true r and k),
lowrank (true r), global-sparse (true k, at least 1) and local (ridge --local-ridge), and
measures the test RMSE on --test-samples held-out samples per user, for the training users
and for --new-users new users personalized from m samples with everything shared fixed.
It writes sparsity.csv, sparsity.png and sparsity-new.png.`,
		Example: "  lrsp experiment sparsity --out docs/figures",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return ef.run(c, "sparsity", func(ctx context.Context, progress func(experiment.Step)) (func(string) ([]string, error), error) {
				o.Seed, o.Parallel, o.Progress = ef.seed, ef.parallel, progress
				res, err := experiment.Sparsity(ctx, o)
				if err != nil {
					return nil, err
				}
				return res.Write, nil
			})
		},
	}
	ef.register(c)
	f := c.Flags()
	f.IntVar(&o.Users, "users", 500, "training users t")
	f.IntVar(&o.Samples, "samples", 30, "samples per user m")
	f.IntVar(&o.Dim, "dim", 100, "features d")
	f.IntVar(&o.Rank, "rank", 5, "rank r")
	f.IntSliceVar(&o.Sparsities, "sparsity", []int{0, 1, 2, 3, 5, 8, 12, 16}, "sparsities k of the data")
	// --k was this flag's name before it took the name --sparsity has
	// everywhere else.
	f.IntSliceVar(&o.Sparsities, "k", []int{0, 1, 2, 3, 5, 8, 12, 16}, "sparsities k of the data")
	renamed(f, "k", "sparsity")
	f.Float64Var(&o.Noise, "noise", 0.1, "standard deviation of the target noise")
	f.IntVar(&o.NewUsers, "new-users", 100, "new users personalized with everything shared fixed")
	f.IntVar(&o.TestSamples, "test-samples", 50, "held-out samples per user")
	f.Float64Var(&o.LocalRidge, "local-ridge", 0.1, "ridge strength of local")
	return c
}
