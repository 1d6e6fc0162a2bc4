package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/baseline"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/tune"
)

// autoInt is a flag value that holds an integer or "auto".
type autoInt struct {
	v    *int
	auto *bool
}

func (a autoInt) String() string {
	if a.auto != nil && *a.auto {
		return "auto"
	}
	if a.v == nil {
		return "0"
	}
	return strconv.Itoa(*a.v)
}

func (a autoInt) Set(s string) error {
	if s == "auto" {
		*a.auto = true
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return fmt.Errorf("want a non-negative integer or auto, got %q", s)
	}
	*a.v, *a.auto = n, false
	return nil
}

func (a autoInt) Type() string { return "int|auto" }

// autoFloat is a flag value that holds a non-negative number or "auto".
type autoFloat struct {
	v    *float64
	auto *bool
}

func (a autoFloat) String() string {
	if a.auto != nil && *a.auto {
		return "auto"
	}
	if a.v == nil {
		return "0"
	}
	return strconv.FormatFloat(*a.v, 'g', -1, 64)
}

func (a autoFloat) Set(s string) error {
	if s == "auto" {
		*a.auto = true
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v >= 0) || v > 1e300 {
		return fmt.Errorf("want a finite non-negative number or auto, got %q", s)
	}
	*a.v, *a.auto = v, false
	return nil
}

func (a autoFloat) Type() string { return "float|auto" }

// methodFlags are the flags of lrsp train that select the method and its
// automatic tuning.
type methodFlags struct {
	method                            string
	center                            string
	autoRank, autoSparsity, autoRidge bool
	tuneHoldout                       float64
	tuneRepeats                       int
}

// register registers the method flags, and --rank, --sparsity and --ridge
// (which accept "auto") bound to o.
func (m *methodFlags) register(c *cobra.Command, o *amht.Options) {
	fl := c.Flags()
	o.Rank, o.Sparsity = 5, 5
	fl.Var(autoInt{&o.Rank, &m.autoRank}, "rank", "rank r of the shared basis U, or auto (chosen by validation)")
	fl.Var(autoInt{&o.Sparsity, &m.autoSparsity}, "sparsity", "non-zeros k of each user's sparse part b_i (0: low rank only), or auto")
	fl.Var(autoFloat{&o.Ridge, &m.autoRidge}, "ridge", "per-user ridge penalty (and theta_0's, see lrsp help train), or auto")
	fl.StringVar(&m.method, "method", model.MethodLRS, "method: lrs, lowrank, global, local, global-sparse, finetune, or neural-lrs / neural-dense / neural-global (a shared network, see --hidden)")
	fl.StringVar(&m.center, "center", "false", "lrs/lowrank: fit a shared theta_0 first (true, false or auto)")
	fl.Float64Var(&m.tuneHoldout, "tune-holdout", 0.2, "with auto values: fraction of each user's samples held out to score candidates")
	fl.IntVar(&m.tuneRepeats, "tune-repeats", 1, "with auto values: random hold-out splits pooled per candidate")
}

// anyAuto reports whether a value is to be tuned.
func (m *methodFlags) anyAuto() bool {
	return m.autoRank || m.autoSparsity || m.autoRidge || m.center == "auto"
}

// usesBaseline reports whether lrsp train must go through the baseline
// package (another method, automatic tuning or centring) rather than plain
// AMHT-LRS training.
func (m *methodFlags) usesBaseline() bool {
	return m.method != model.MethodLRS || m.anyAuto() || m.center != "false"
}

// baselineOptions builds the baseline options from the flags.
func (m *methodFlags) baselineOptions(o amht.Options) (baseline.Options, error) {
	if _, err := oneOf("method", m.method, baseline.Methods...); err != nil {
		return baseline.Options{}, err
	}
	ci, err := oneOf("center", m.center, "false", "true", "auto")
	if err != nil {
		return baseline.Options{}, err
	}
	b := baseline.Options{Method: m.method, Rank: o.Rank, Sparsity: o.Sparsity, Ridge: o.Ridge, Center: ci == 1, AMHT: o}
	if m.method == model.MethodLowRank {
		b.Sparsity = 0
	}
	return b, nil
}

// runBaselineTrain trains any method, tuning the values given as auto, and
// writes the model; it is lrsp train's path for everything but plain lrs.
func runBaselineTrain(c *cobra.Command, f *trainFlags, ds *dataset.Dataset, o amht.Options) error {
	mf := &f.method
	bo, err := mf.baselineOptions(o)
	if err != nil {
		return err
	}
	w := c.OutOrStdout()
	start := time.Now()
	var m *model.Model
	if mf.anyAuto() {
		topt := tune.Options{Base: bo, Rank: mf.autoRank, Sparsity: mf.autoSparsity, Ridge: mf.autoRidge,
			Center: mf.center == "auto", Holdout: mf.tuneHoldout, Repeats: mf.tuneRepeats, Seed: o.Seed}
		if isTerminal(c.ErrOrStderr()) {
			topt.Progress = func(s tune.Score) {
				fmt.Fprintf(c.ErrOrStderr(), "\rtune %s: r=%d k=%d ridge=%.3g center=%v: validation RMSE %.5g   ",
					bo.Method, s.Rank, s.Sparsity, s.Ridge, s.Center, s.RMSE)
			}
		}
		var res *tune.Result
		m, res, err = tune.Train(c.Context(), ds, topt)
		if isTerminal(c.ErrOrStderr()) {
			fmt.Fprintln(c.ErrOrStderr())
		}
		if res != nil {
			printScores(w, bo.Method, res)
		}
		if err != nil {
			return err
		}
		m.Config["selected_by"] = fmt.Sprintf("validation: %d candidates, holdout %g, repeats %d", len(res.Scores), mf.tuneHoldout, max(mf.tuneRepeats, 1))
	} else {
		train, held := ds, (*dataset.Dataset)(nil)
		if f.validation > 0 {
			if train, held, err = dataset.Split(ds, f.validation, o.Seed); err != nil {
				return err
			}
		}
		if m, err = baseline.Train(c.Context(), train, held, bo); err != nil {
			return err
		}
	}
	if err := model.Save(f.out, m); err != nil {
		return err
	}
	fmt.Fprintf(w, "trained %s on %d users, %d samples (d=%d, r=%d, k=%d) in %.2fs; %.1f bytes per user\n",
		m.Method, len(ds.Users), ds.Samples(), ds.Dim(), m.Rank, m.Sparsity, time.Since(start).Seconds(), m.BytesPerUser())
	fmt.Fprintf(w, "wrote %s\n", f.out)
	return nil
}

// printScores writes the validation score of every candidate, marking the
// winner.
func printScores(w io.Writer, method string, res *tune.Result) {
	fmt.Fprintf(w, "model selection for %s (validation %s on held-out samples of every user; ridge scale %.4g):\n", method, res.Criterion, res.RidgeScale)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "rank\tsparsity\tridge\tcenter\tvalidation %s\tseconds\t\t\n", res.Criterion)
	for i, s := range res.Scores {
		mark := ""
		if i == res.BestIndex {
			mark = "<- best"
		}
		rmse := strconv.FormatFloat(s.Criterion(), 'g', 6, 64)
		if s.Err != "" {
			rmse = "failed"
		}
		fmt.Fprintf(tw, "%d\t%d\t%.4g\t%v\t%s\t%.2f\t%s\t\n", s.Rank, s.Sparsity, s.Ridge, s.Center, rmse, s.Seconds, mark)
	}
	tw.Flush()
}
