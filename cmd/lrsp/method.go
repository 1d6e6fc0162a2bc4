package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/method"
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
// (which accept "auto").
func (m *methodFlags) register(c *cobra.Command, rank, sparsity *int, ridge *float64) {
	fl := c.Flags()
	*rank, *sparsity = 5, 5
	fl.Var(autoInt{rank, &m.autoRank}, "rank", "rank r of the shared basis U, or auto (chosen by validation)")
	fl.Var(autoInt{sparsity, &m.autoSparsity}, "sparsity", "non-zeros k of each user's sparse part b_i (0: low rank only), or auto")
	fl.Var(autoFloat{ridge, &m.autoRidge}, "ridge", "per-user ridge penalty (and theta_0's, see lrsp help train), or auto")
	fl.StringVar(&m.method, "method", autoMethod, "method: auto, "+strings.Join(method.Names(), ", ")+
		" (auto, the default: chosen with its settings by per-user cross-validation; with a flag that configures a method, such as --rank, auto means lrs; the neural-* methods train a shared network, see --hidden)")
	fl.StringVar(&m.center, "center", "false", "lrs/lowrank: fit a shared theta_0 first (true, false or auto)")
	fl.Float64Var(&m.tuneHoldout, "tune-holdout", 0.2, "with auto values: fraction of each user's samples held out to score candidates")
	fl.IntVar(&m.tuneRepeats, "tune-repeats", 1, "with auto values: random hold-out splits pooled per candidate")
}

// anyAuto reports whether a value is to be tuned.
func (m *methodFlags) anyAuto() bool {
	return m.autoRank || m.autoSparsity || m.autoRidge || m.center == "auto"
}

// runTune is lrsp train with auto values: it picks them by validation
// (package tune), retrains the winner on all the data and writes it.
func runTune(c *cobra.Command, f *trainFlags, cfg method.Config) error {
	mf := &f.method
	if s, _ := method.Lookup(cfg.Method, cfg.Loss); s.Network {
		return fmt.Errorf("--method %s does not support auto values", cfg.Method)
	}
	if f.validation > 0 {
		return fmt.Errorf("--validation cannot be combined with auto values, which hold out --tune-holdout")
	}
	ds, err := readData(c.Context(), c, f.data, f.cols.options(true))
	if err != nil {
		return err
	}
	topt := tune.Options{Base: cfg, Rank: mf.autoRank, Sparsity: mf.autoSparsity, Ridge: mf.autoRidge,
		Center: mf.center == "auto", Holdout: mf.tuneHoldout, Repeats: mf.tuneRepeats, Seed: cfg.Seed,
		Workers: f.workers, Patience: f.options(c).Patience}
	p := newProgress(c)
	n, criterion := 0, "RMSE"
	if cfg.Loss == model.LossLogistic {
		criterion = "log loss"
	}
	topt.Progress = func(s tune.Score) {
		n++
		p.note(candidateLine("tune "+cfg.Method, n, s, criterion))
	}
	start := time.Now()
	m, res, err := tune.Train(c.Context(), ds, topt)
	if p.term {
		p.status("")
	} else if err == nil {
		fmt.Fprintf(p.w, "tune %s: scored %s and retrained the best on all the data in %.1f s\n", cfg.Method,
			count(n, "candidate"), time.Since(start).Seconds())
	}
	w := c.OutOrStdout()
	if res != nil {
		if err := res.WriteTable(w, cfg.Method); err != nil {
			return err
		}
	}
	if err != nil {
		return err
	}
	m.Config.SelectedBy = fmt.Sprintf("validation %s: %d candidates, holdout %g, repeats %d", res.Criterion, len(res.Scores),
		mf.tuneHoldout, max(mf.tuneRepeats, 1))
	if err := saveModel(c.Context(), f.out, m); err != nil {
		return err
	}
	printTrained(c, &method.Result{Model: m}, len(ds.Users), ds.Samples(), time.Since(start))
	fmt.Fprintf(w, "wrote %s\n", f.out)
	return nil
}
