package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/baseline"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/logistic"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/tune"
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
	if _, err := oneOf("method", f.method.method, logistic.Methods...); err != nil {
		return o, fmt.Errorf("%w (with --loss logistic)", err)
	}
	ci, err := oneOf("center", f.method.center, "false", "true", "auto")
	if err != nil {
		return o, err
	}
	o.Center = ci == 1
	if ci != 0 && f.method.method != model.MethodLRS && f.method.method != model.MethodLowRank {
		return o, fmt.Errorf("--center %s applies to lrs and lowrank only", f.method.center)
	}
	switch f.method.method {
	case model.MethodLowRank:
		o.Sparsity = 0
	case model.MethodGlobalSparse:
		o.Rank = 0
	}
	if o.Rounds < 1 {
		return o, fmt.Errorf("--rounds %d must be at least 1", o.Rounds)
	}
	if !(f.validation >= 0 && f.validation < 1) {
		return o, fmt.Errorf("--validation %v must be in [0, 1)", f.validation)
	}
	return o, nil
}

// trainLogistic runs lrsp train with --loss logistic: any method, with
// the values given as auto chosen by validation log loss.
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
	method := f.method.method
	w := c.OutOrStdout()
	if f.method.anyAuto() {
		return tuneLogistic(c, f, ds, opt)
	}
	train, held, err := dataset.SplitValidation(ds, f.validation, opt.Seed)
	if err != nil {
		return err
	}
	show, done := roundBar(c, opt.Rounds, "log loss")
	defer done()
	if show != nil {
		opt.Progress = func(st logistic.RoundStats) { show(st.Round, st.TrainLoss, st.ValidationLoss) }
	}
	start := time.Now()
	res, err := logistic.TrainMethod(c.Context(), train, held, method, opt)
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
	m := res.Model
	fmt.Fprintf(w, "trained logistic %s on %d users, %d samples (d=%d, r=%d, k=%d) in %.2fs", m.Method, len(ds.Users),
		ds.Samples(), ds.Dim(), m.Rank, m.Sparsity, time.Since(start).Seconds())
	if len(res.Rounds) > 0 {
		last := res.Rounds[len(res.Rounds)-1]
		fmt.Fprintf(w, ": %d rounds (stopped: %s), train log loss %.6g", len(res.Rounds), res.Stopped, last.TrainLoss)
	}
	fmt.Fprintf(w, "; %.1f bytes per user\nwrote %s\n", m.BytesPerUser(), f.out)
	return nil
}

// tuneLogistic runs lrsp train --loss logistic with auto values: it picks
// them by validation log loss (package tune), retrains the winner on all
// of ds and writes it.
func tuneLogistic(c *cobra.Command, f *trainFlags, ds *dataset.Dataset, opt logistic.Options) error {
	mf := &f.method
	bo := baseline.Options{Method: mf.method, Rank: opt.Rank, Sparsity: opt.Sparsity, Ridge: opt.Ridge, Center: opt.Center,
		AMHT: amht.Options{Rounds: opt.Rounds, Tolerance: opt.Tolerance, Workers: opt.Workers, Seed: opt.Seed, Patience: opt.Patience}}
	topt := tune.Options{Loss: model.LossLogistic, Base: bo, Rank: mf.autoRank, Sparsity: mf.autoSparsity, Ridge: mf.autoRidge,
		Center: mf.center == "auto", Holdout: mf.tuneHoldout, Repeats: mf.tuneRepeats, Seed: opt.Seed}
	errw := c.ErrOrStderr()
	if isTerminal(errw) {
		topt.Progress = func(s tune.Score) {
			fmt.Fprintf(errw, "\r\033[Ktune logistic %s: r=%d k=%d ridge=%.3g center=%v: validation log loss %.5g",
				mf.method, s.Rank, s.Sparsity, s.Ridge, s.Center, s.LogLoss)
		}
	}
	start := time.Now()
	m, res, err := tune.Train(c.Context(), ds, topt)
	if isTerminal(errw) {
		fmt.Fprint(errw, "\r\033[K")
	}
	w := c.OutOrStdout()
	if res != nil {
		printScores(w, mf.method, res)
	}
	if err != nil {
		return err
	}
	m.Config["selected_by"] = fmt.Sprintf("validation log loss: %d candidates, holdout %g, repeats %d", len(res.Scores),
		mf.tuneHoldout, max(mf.tuneRepeats, 1))
	if err := model.Save(f.out, m); err != nil {
		return err
	}
	fmt.Fprintf(w, "trained logistic %s on %d users, %d samples (d=%d, r=%d, k=%d, ridge %.4g, center %v) in %.2fs; %.1f bytes per user\n",
		m.Method, len(ds.Users), ds.Samples(), ds.Dim(), m.Rank, m.Sparsity, res.Best.Ridge, res.Best.Center,
		time.Since(start).Seconds(), m.BytesPerUser())
	fmt.Fprintf(w, "wrote %s\n", f.out)
	return nil
}

// personalizeLogistic fits the users of ds to a logistic model with
// everything shared fixed, by the model's method, using the ridge (0: the
// model's) and workers of the personalize flags.
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
