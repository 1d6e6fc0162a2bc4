package main

import (
	"fmt"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/pack"
)

// trainFlags are the flags of lrsp train.
type trainFlags struct {
	data, out, metricsOut            string
	loss                             string
	init, update, threshold, pursuit string
	validation                       float64
	opt                              amht.Options
	cols                             dataFlags
	method                           methodFlags
	neural                           neuralFlags
	dp                               dpFlags
}

func (f *trainFlags) register(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.data, "data", "", "training data: CSV, Parquet (file or directory) or packed .lrspd (required)")
	fl.StringVar(&f.out, "out", "model.lrsp", "model file to write")
	fl.StringVar(&f.loss, "loss", model.LossSquared, "training loss: squared, or logistic for 0/1 targets (predictions become probabilities)")
	fl.StringVar(&f.metricsOut, "metrics-out", "", "write per-round metrics as JSON to this file")
	fl.IntVar(&f.opt.Rounds, "rounds", 50, "maximum number of alternating rounds")
	fl.Float64Var(&f.opt.Tolerance, "tolerance", 1e-6, "stop when a round improves the loss by less than this fraction (0 runs all rounds)")
	fl.StringVar(&f.init, "init", "moments", "initialisation of U: moments, ridge-svd or random")
	fl.StringVar(&f.update, "update", "cg", "U update: cg (least squares by conjugate gradient) or gradient (one step)")
	fl.StringVar(&f.threshold, "threshold", "topk", "hard thresholding of b: topk or value (shrinking threshold)")
	fl.StringVar(&f.pursuit, "pursuit", "swap", "support search for b: swap, greedy or htp")
	fl.IntVar(&f.opt.CGIterations, "cg-iterations", 3, "conjugate-gradient iterations per round")
	fl.IntVar(&f.opt.Refresh, "refresh", 8, "most rounds between full support searches of a user (1: every round); in between a user keeps its support while it is a hard-thresholding fixed point")
	fl.IntVar(&f.opt.Workers, "workers", 0, "parallel workers (0: one per CPU)")
	fl.Uint64Var(&f.opt.Seed, "seed", 1, "random seed")
	fl.Float64Var(&f.validation, "validation", 0, "fraction of each user's samples held out for early stopping")
	fl.IntVar(&f.opt.Patience, "patience", 3, "rounds without validation improvement before stopping")
	f.method.register(c, &f.opt)
	f.neural.register(c)
	f.dp.register(c)
	f.cols.register(c)
}

// options resolves the string flags into f.opt.
func (f *trainFlags) options() (amht.Options, error) {
	o := f.opt
	i, err := oneOf("init", f.init, "moments", "ridge-svd", "random")
	if err != nil {
		return o, err
	}
	o.Init = amht.Init(i)
	if i, err = oneOf("update", f.update, "cg", "gradient"); err != nil {
		return o, err
	}
	o.Update = amht.Update(i)
	if i, err = oneOf("threshold", f.threshold, "topk", "value"); err != nil {
		return o, err
	}
	o.Threshold = amht.Threshold(i)
	if i, err = oneOf("pursuit", f.pursuit, "swap", "greedy", "htp"); err != nil {
		return o, err
	}
	o.Pursuit = amht.Pursuit(i)
	if o.Rounds < 1 {
		return o, fmt.Errorf("--rounds %d must be at least 1", o.Rounds)
	}
	if o.CGIterations < 1 {
		return o, fmt.Errorf("--cg-iterations %d must be at least 1", o.CGIterations)
	}
	if o.Refresh < 1 || o.Refresh > 255 {
		return o, fmt.Errorf("--refresh %d must be in [1, 255]", o.Refresh)
	}
	if !(f.validation >= 0 && f.validation < 1) {
		return o, fmt.Errorf("--validation %v must be in [0, 1)", f.validation)
	}
	return o, nil
}

func newTrainCmd() *cobra.Command {
	var f trainFlags
	c := &cobra.Command{
		Use:     "train",
		Short:   "Train a low-rank + sparse model with AMHT-LRS",
		Example: "  lrsp train --data data.csv --rank 5 --sparsity 5 --out model.lrsp",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if f.dp.enabled(c) {
				return trainPrivate(c, &f)
			}
			if loss, err := lossName(f.loss); err != nil {
				return err
			} else if loss == model.LossLogistic {
				return trainLogistic(c, &f)
			}
			if isNeural(f.method.method) {
				return trainNeural(c, &f)
			}
			opt, err := f.options()
			if err != nil {
				return err
			}
			if pack.IsPath(f.data) && !f.method.usesBaseline() && f.validation == 0 {
				return trainPacked(c, &f, opt)
			}
			ds, err := readData(c.Context(), c, f.data, f.cols.options(true))
			if err != nil {
				return err
			}
			if f.method.usesBaseline() {
				return runBaselineTrain(c, &f, ds, opt)
			}
			warnFewSamples(c, ds, opt)
			res, err := trainModel(c, ds, f.validation, opt)
			if err != nil {
				return err
			}
			return saveTrained(c, &f, res, ds.Samples())
		},
	}
	f.register(c)
	return c
}

// trainModel splits off validation samples if asked, and trains with a
// progress bar on a terminal.
func trainModel(c *cobra.Command, ds *dataset.Dataset, validation float64, opt amht.Options) (*amht.Result, error) {
	train, held, err := dataset.SplitValidation(ds, validation, opt.Seed)
	if err != nil {
		return nil, err
	}
	var done func()
	opt.Progress, done = roundProgress(c, opt.Rounds)
	defer done()
	return amht.Train(c.Context(), train, held, opt)
}

// roundProgress returns a progress callback for amht training and a
// function that ends its bar; see roundBar.
func roundProgress(c *cobra.Command, rounds int) (func(amht.RoundStats), func()) {
	if !isTerminal(c.ErrOrStderr()) {
		start := time.Now()
		return func(st amht.RoundStats) {
			line := fmt.Sprintf("round %d/%d: train loss %.6g, inliers %.6g (%d outliers)", st.Round, rounds,
				st.TrainLoss, st.InlierLoss, st.Outliers)
			if st.ValidationLoss != nil {
				line += fmt.Sprintf(", validation %.6g", *st.ValidationLoss)
			}
			fmt.Fprintf(c.ErrOrStderr(), "%s (%.1f s)\n", line, time.Since(start).Seconds())
		}, func() {}
	}
	show, done := roundBar(c, rounds, "loss")
	if show == nil {
		return nil, done
	}
	return func(st amht.RoundStats) { show(st.Round, st.TrainLoss, st.ValidationLoss) }, done
}

// roundBar returns a function that draws a bar of training rounds on a
// terminal, describing each round by its training loss (named by label)
// and validation loss, and a function that ends the bar. Off a terminal
// (a log file, a batch job) it writes one line per round instead, with the
// elapsed time, so that long runs can be followed with tail -f.
func roundBar(c *cobra.Command, rounds int, label string) (func(round int, loss float64, val *float64), func()) {
	if !isTerminal(c.ErrOrStderr()) {
		start := time.Now()
		return func(round int, loss float64, val *float64) {
			line := fmt.Sprintf("round %d/%d: train %s %.6g", round, rounds, label, loss)
			if val != nil {
				line += fmt.Sprintf(", validation %.6g", *val)
			}
			fmt.Fprintf(c.ErrOrStderr(), "%s (%.1f s)\n", line, time.Since(start).Seconds())
		}, func() {}
	}
	bar := progressbar.NewOptions(max(rounds, 1), progressbar.OptionSetWriter(c.ErrOrStderr()),
		progressbar.OptionSetDescription("train"), progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
	return func(round int, loss float64, val *float64) {
		desc := fmt.Sprintf("train: %s %.4g", label, loss)
		if val != nil {
			desc += fmt.Sprintf(" val %.4g", *val)
		}
		bar.Describe(desc)
		bar.Set(round)
	}, func() { bar.Finish() }
}

// warnFewSamples tells the user when most users have too few samples for
// the requested rank and sparsity without regularization.
func warnFewSamples(c *cobra.Command, src dataset.Source, opt amht.Options) {
	few := 0
	for i := 0; i < src.NumUsers(); i++ {
		if src.UserLen(i) < 2*(opt.Rank+opt.Sparsity) {
			few++
		}
	}
	if opt.Ridge == 0 && 2*few > src.NumUsers() {
		fmt.Fprintf(c.ErrOrStderr(), "lrsp: warning: %d of %d users have fewer than 2(r+k) = %d samples and --ridge is 0; "+
			"their fits may overfit badly: consider --ridge, a smaller --rank/--sparsity, or --rank auto --sparsity auto\n",
			few, src.NumUsers(), 2*(opt.Rank+opt.Sparsity))
	}
}

// saveTrained writes the metrics and the model of an AMHT-LRS run and
// reports it.
func saveTrained(c *cobra.Command, f *trainFlags, res *amht.Result, samples int) error {
	if f.metricsOut != "" {
		if err := writeJSON(f.metricsOut, map[string]any{"rounds": res.Rounds, "train_loss": res.TrainLoss}); err != nil {
			return err
		}
	}
	if err := model.Save(f.out, res.Model); err != nil {
		return err
	}
	m := res.Model
	fmt.Fprintf(c.OutOrStdout(), "trained %s on %d users, %d samples (d=%d, r=%d, k=%d): %d rounds (stopped: %s), train MSE %.6g\n",
		m.Method, len(m.Users), samples, m.Dim, m.Rank, m.Sparsity, len(res.Rounds), res.Stopped, res.TrainLoss)
	fmt.Fprintf(c.OutOrStdout(), "wrote %s\n", f.out)
	return nil
}
