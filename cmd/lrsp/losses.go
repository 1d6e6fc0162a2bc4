package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/logistic"
	"github.com/lrsp/lrsp/model"
)

// This file wires the logistic loss into train, personalize and eval.

// lossName validates the --loss flag and returns model.LossSquared or
// model.LossLogistic.
func lossName(s string) (string, error) {
	i, err := oneOf("loss", s, model.LossSquared, model.LossLogistic)
	if err != nil {
		return "", err
	}
	return []string{model.LossSquared, model.LossLogistic}[i], nil
}

// logisticOptions maps the train flags onto logistic.Options, rejecting
// the flags that only the squared loss understands.
func (f *trainFlags) logisticOptions(c *cobra.Command) (logistic.Options, error) {
	o := logistic.Options{Rank: f.opt.Rank, Sparsity: f.opt.Sparsity, Rounds: f.opt.Rounds, Tolerance: f.opt.Tolerance,
		Ridge: f.opt.Ridge, Workers: f.opt.Workers, Seed: f.opt.Seed, Patience: f.opt.Patience}
	if c.Flags().Changed("cg-iterations") {
		o.CGIterations = f.opt.CGIterations
	}
	i, err := oneOf("init", f.init, "moments", "random")
	if err != nil {
		return o, fmt.Errorf("%w (with --loss logistic)", err)
	}
	o.Init = logistic.Init(i)
	for _, name := range []string{"update", "threshold", "pursuit"} {
		if c.Flags().Changed(name) {
			return o, fmt.Errorf("--%s applies to the squared loss only; --loss logistic uses Newton steps and logistic hard-thresholding pursuit", name)
		}
	}
	if f.method.anyAuto() || f.method.center != "false" {
		return o, fmt.Errorf("--loss logistic does not support auto values or --center yet")
	}
	switch f.method.method {
	case model.MethodLRS, model.MethodGlobal, model.MethodLocal:
	case model.MethodLowRank:
		o.Sparsity = 0
	default:
		return o, fmt.Errorf("--method %s is not available with --loss logistic (use lrs, lowrank, global or local)", f.method.method)
	}
	if o.Rounds < 1 {
		return o, fmt.Errorf("--rounds %d must be at least 1", o.Rounds)
	}
	if !(f.validation >= 0 && f.validation < 1) {
		return o, fmt.Errorf("--validation %v must be in [0, 1)", f.validation)
	}
	return o, nil
}

// trainLogistic runs lrsp train with --loss logistic.
func trainLogistic(c *cobra.Command, f *trainFlags) error {
	opt, err := f.logisticOptions(c)
	if err != nil {
		return err
	}
	ds, err := readData(c.Context(), c, f.data, f.cols.options(true))
	if err != nil {
		return err
	}
	if err := logistic.CheckTargets(ds); err != nil {
		return fmt.Errorf("%s: %w", f.data, err)
	}
	train, held, err := splitValidation(ds, f.validation, opt.Seed)
	if err != nil {
		return err
	}
	show, done := roundBar(c, opt.Rounds, "log loss")
	defer done()
	if show != nil {
		opt.Progress = func(st logistic.RoundStats) { show(st.Round, st.TrainLoss, st.ValidationLoss) }
	}
	switch f.method.method {
	case model.MethodGlobal, model.MethodLocal:
		bo := logistic.BaselineOptions{Ridge: opt.Ridge, Workers: opt.Workers}
		fitBaseline := logistic.Global
		if f.method.method == model.MethodLocal {
			fitBaseline = logistic.Local
		}
		m, err := fitBaseline(c.Context(), ds, bo)
		if err != nil {
			return err
		}
		if err := model.Save(f.out, m); err != nil {
			return err
		}
		fmt.Fprintf(c.OutOrStdout(), "trained logistic %s on %d users, %d samples (d=%d)\nwrote %s\n", m.Method, len(ds.Users), ds.Samples(), ds.Dim(), f.out)
		return nil
	}
	res, err := logistic.Train(c.Context(), train, held, opt)
	if err != nil {
		return err
	}
	if f.metricsOut != "" {
		if err := writeJSON(f.metricsOut, map[string]any{"rounds": res.Rounds}); err != nil {
			return err
		}
	}
	if err := model.Save(f.out, res.Model); err != nil {
		return err
	}
	last := res.Rounds[len(res.Rounds)-1]
	fmt.Fprintf(c.OutOrStdout(), "trained logistic %s on %d users, %d samples (d=%d, r=%d, k=%d): %d rounds (stopped: %s), train log loss %.6g\n",
		res.Model.Method, len(ds.Users), ds.Samples(), ds.Dim(), opt.Rank, opt.Sparsity, len(res.Rounds), res.Stopped, last.TrainLoss)
	fmt.Fprintf(c.OutOrStdout(), "wrote %s\n", f.out)
	return nil
}

// personalizeLogistic fits the users of ds to a logistic model with U
// fixed, using the ridge and workers of the personalize flags.
func personalizeLogistic(c *cobra.Command, m *model.Model, ds *dataset.Dataset, ridge float64, workers int) ([]model.User, error) {
	if c.Flags().Changed("pursuit") {
		return nil, fmt.Errorf("--pursuit applies to squared-loss models only")
	}
	return logistic.Personalize(c.Context(), m, ds, logistic.PersonalizeOptions{Ridge: ridge, Workers: workers})
}

// printClassification writes the classification scores of lrsp eval.
func printClassification(w io.Writer, e *eval.Classification) {
	fmt.Fprintf(w, "samples %d, users %d\nlog loss %.6g  accuracy %.6g  ROC AUC %.6g\n", e.Samples, e.Users, e.LogLoss, e.Accuracy, e.AUC)
	fmt.Fprintf(w, "mean per-user ROC AUC %.6g over %d users with both classes\n", e.MeanUserAUC, e.AUCUsers)
	if e.AUCUsers > 0 {
		printQuantiles(w, "per-user ROC AUC", e.UserAUC)
	}
	printQuantiles(w, "per-user log loss", e.UserLogLoss)
}
