package main

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/tune"
)

// autoMethod is --method's default: the method and its settings chosen by
// tune.Auto, unless a flag configures a method (then it is lrs).
const autoMethod = "auto"

// mixedFlags are lrsp train's flags of the mixed methods.
type mixedFlags struct {
	randomEffects []string
	criterion     string
	folds         int
}

func (m *mixedFlags) register(c *cobra.Command) {
	fl := c.Flags()
	fl.StringSliceVar(&m.randomEffects, "random-effects", []string{method.Intercept},
		"--method mixed: features with random effects (intercept: the data's constant feature)")
	fl.StringVar(&m.criterion, "criterion", "reml", "--method mixed: reml or ml")
	fl.IntVar(&m.folds, "folds", 0, "--method auto: per-user cross-validation folds (0: 5, or 3 above 20,000 samples)")
}

// resolveAuto returns whether lrsp train runs the automatic choice: --method
// auto (the default) with no flag that configures a method or its rounds, no
// privacy, no validation fraction and the squared loss. Otherwise --method auto stands for lrs, as before auto
// existed.
func resolveAuto(c *cobra.Command, f *trainFlags) bool {
	if f.method.method != autoMethod {
		return false
	}
	fl := c.Flags()
	set := slices.ContainsFunc(slices.Collect(maps.Keys(flagParams)), fl.Changed) || fl.Changed("rounds") ||
		fl.Changed("patience")
	if set || f.dp.enabled(c) || f.loss != model.LossSquared || f.validation > 0 || f.method.anyAuto() {
		f.method.method = model.MethodLRS
		return false
	}
	return true
}

// runAuto is lrsp train's default: it chooses the method and its settings
// by per-user cross-validation (tune.Auto), prints the table, retrains the
// winner on all the data and writes it.
func runAuto(c *cobra.Command, f *trainFlags) error {
	ds, err := readData(c.Context(), c, f.data, f.cols.options(true))
	if err != nil {
		return err
	}
	p := newProgress(c)
	n := 0
	opt := tune.AutoOptions{Folds: f.mixed.folds, Seed: f.seed, Workers: f.workers,
		Progress: func(s tune.Score) {
			n++
			score := fmt.Sprintf("cross-validated RMSE %.5g", s.RMSE)
			if s.BIC != 0 {
				score = fmt.Sprintf("BIC %.8g on all data", s.BIC)
			}
			line := fmt.Sprintf("candidate %d: %s r=%d k=%d ridge=%.3g: %s (%.1f s)",
				n, s.Method, s.Rank, s.Sparsity, s.Ridge, score, s.Seconds)
			if p.term {
				p.status(line)
			} else {
				fmt.Fprintln(p.w, line)
			}
		}}
	if c.Flags().Changed("tune-repeats") {
		opt.Repeats = f.method.tuneRepeats
	}
	start := time.Now()
	res, sel, err := tune.TrainAuto(c.Context(), ds, opt)
	p.status("")
	w := c.OutOrStdout()
	if sel != nil {
		if err := sel.WriteTable(w, "lrsp train (--method auto)"); err != nil {
			return err
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "chose %s (%s)\n", sel.Best.Method, sel.Best.SelectedBy)
	if f.metricsOut != "" {
		if err := writeJSON(f.metricsOut, map[string]any{"selection": sel.Scores, "rounds": res.Rounds,
			"final_train_loss": res.TrainLoss}); err != nil {
			return err
		}
	}
	if err := saveModel(c.Context(), f.out, res.Model); err != nil {
		return err
	}
	printTrained(c, res, len(ds.Users), ds.Samples(), time.Since(start))
	fmt.Fprintf(w, "wrote %s\n", f.out)
	return nil
}
