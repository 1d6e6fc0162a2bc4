package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/baseline"
	"github.com/lrsp/lrsp/compare"
	"github.com/lrsp/lrsp/internal/atomicfile"
	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
)

// compareFlags are the flags of lrsp compare.
type compareFlags struct {
	data, test, out string
	methods         []string
	randomEffects   []string
	shots           int
	seed            uint64
	newUsers        float64
	asJSON          bool
	loss            string
	holdout         float64
	repeats         int
	rounds          int
	tolerance       float64
	workers         int
	cols            dataFlags
	neural          compareNeuralFlags
}

// compareReport is the JSON output of lrsp compare: the data compared and
// the result.
type compareReport struct {
	Data string `json:"data"`
	Test string `json:"test"`
	compare.Result
}

func newCompareCmd() *cobra.Command {
	var f compareFlags
	c := &cobra.Command{
		Use:   "compare",
		Short: "Train every method (auto-tuned) and compare them on test data",
		Long: `compare trains each method with its rank, sparsity, ridge and centring chosen by
held-out per-user validation on the training data (as "lrsp train ... auto"), and
scores it on the test data: RMSE, MAE and R^2 over the test samples of the
training users, the bytes each user costs in the model file, and the seconds
taken. --shots keeps at most N training samples per user, to study the
data-starved regime; --new-users holds out that fraction of the users, whose
training samples only personalize them against the shared parts (U, theta_0)
learned from the others, and scores their test samples separately.
The network methods (neural-lrs, neural-dense, neural-global; not in the
default list) are not tuned: they use --hidden and the --neural-* values,
stop early on --neural-validation of the training users' samples, and
personalize new users with the network (and U) fixed.`,
		Example: "  lrsp compare --data train.csv --test test.csv --shots 8 --new-users 0.2 --out table.md",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runCompare(c, &f)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.data, "data", "", "training data: CSV, Parquet (file or directory) or packed .lrspd (required)")
	fl.StringVar(&f.test, "test", "", "test data CSV with the same columns (required)")
	fl.StringSliceVar(&f.methods, "methods", baseline.Methods, "methods to compare")
	fl.StringSliceVar(&f.randomEffects, "random-effects", nil, "mixed: features with random effects (default: intercept, the constant feature)")
	fl.IntVar(&f.shots, "shots", 0, "keep at most this many training samples per user (0: all)")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of --shots, --new-users, the validation splits and training")
	fl.Float64Var(&f.newUsers, "new-users", 0, "fraction of the users held out as new users (0: none)")
	fl.BoolVar(&f.asJSON, "json", false, "print JSON instead of the table")
	fl.StringVar(&f.out, "out", "", "also write the table as Markdown to this file")
	fl.Float64Var(&f.holdout, "tune-holdout", 0.2, "fraction of each user's samples held out to score candidates")
	fl.IntVar(&f.repeats, "tune-repeats", 1, "random hold-out splits pooled per candidate")
	fl.IntVar(&f.rounds, "rounds", 50, "maximum number of alternating rounds (lrs, lowrank, global-sparse)")
	fl.Float64Var(&f.tolerance, "tolerance", 1e-6, "stop when a round improves the loss by less than this fraction")
	fl.IntVar(&f.workers, "workers", 0, "parallel workers (0: one per CPU)")
	fl.StringVar(&f.loss, "loss", model.LossSquared, "squared, or logistic for 0/1 targets: tuned by validation log loss, scored by log loss, accuracy and mean per-user AUC")
	f.cols.register(c)
	f.neural.register(c)
	c.MarkFlagRequired("data")
	c.MarkFlagRequired("test")
	return c
}

func runCompare(c *cobra.Command, f *compareFlags) error {
	if err := checkCompareLoss(f); err != nil {
		return err
	}
	for _, m := range f.methods {
		if _, err := oneOf("methods", m, compare.Methods()...); err != nil {
			return err
		}
	}
	if len(f.methods) == 0 {
		return fmt.Errorf("--methods: give at least one method")
	}
	if f.shots < 0 {
		return fmt.Errorf("--shots %d must not be negative", f.shots)
	}
	if !(f.newUsers >= 0 && f.newUsers < 1) {
		return fmt.Errorf("--new-users %v must be in [0, 1)", f.newUsers)
	}
	if f.rounds < 1 {
		return fmt.Errorf("--rounds %d must be at least 1", f.rounds)
	}
	opt := compare.Options{Methods: f.methods, Loss: f.loss, Shots: f.shots, NewUsers: f.newUsers, Seed: f.seed,
		Holdout: f.holdout, Repeats: f.repeats, Rounds: f.rounds, Tolerance: f.tolerance, Workers: f.workers,
		TrainName: f.data, TestName: f.test, Progress: compareProgress(c, f), RandomEffects: f.randomEffects}
	if slices.ContainsFunc(f.methods, method.IsNetwork) {
		var err error
		if opt.Neural, err = f.neural.options(slices.Contains(f.methods, model.MethodNeuralLRS)); err != nil {
			return err
		}
	}
	ctx := c.Context()
	train, err := readData(ctx, c, f.data, f.cols.options(true))
	if err != nil {
		return err
	}
	test, err := readData(ctx, c, f.test, f.cols.options(true))
	if err != nil {
		return err
	}
	if !slices.Equal(train.Features, test.Features) {
		return fmt.Errorf("%s and %s have different feature columns", f.data, f.test)
	}
	res, err := compare.Run(ctx, train, test, opt)
	if err != nil {
		return err
	}
	rep := compareReport{Data: f.data, Test: f.test, Result: *res}
	w := c.OutOrStdout()
	if f.asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if err := rep.WriteMarkdown(w); err != nil {
		return err
	}
	if f.out != "" {
		if err := atomicfile.Write(f.out, rep.WriteMarkdown); err != nil {
			return fmt.Errorf("write %s: %w", f.out, err)
		}
	}
	return nil
}

// compareProgress returns the progress callback of lrsp compare: the
// tuning candidates of the linear methods on a terminal, and the training
// rounds of the network methods (see roundProgress).
func compareProgress(c *cobra.Command, f *compareFlags) func(compare.Event) {
	p := newProgress(c)
	label, name := "", "RMSE"
	if f.loss == model.LossLogistic {
		label, name = "logistic ", "log loss"
	}
	var show func(fit.RoundStats)
	var done func()
	var started time.Time
	n, methods := 0, 0
	return func(e compare.Event) {
		what := "compare " + label + e.Method
		switch {
		case e.Start:
			started, n = time.Now(), 0
			methods++
			if !p.term {
				fmt.Fprintf(p.w, "%s: started (method %d of %d)\n", what, methods, len(f.methods))
			}
			if method.IsNetwork(e.Method) {
				show, done = roundProgress(c, f.neural.rounds, e.Method+" MSE")
			}
		case e.Candidate != nil:
			n++
			p.note(candidateLine(what, n, *e.Candidate, name))
		case e.Round != nil && show != nil:
			show(*e.Round)
		case e.Done:
			if done != nil {
				done()
				show, done = nil, nil
			} else if !method.IsNetwork(e.Method) {
				p.status("")
			}
			if !p.term {
				fmt.Fprintf(p.w, "%s: done in %.1f s\n", what, time.Since(started).Seconds())
			}
		}
	}
}
