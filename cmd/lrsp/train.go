package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/datafile"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/internal/memstat"
	"github.com/lrsp/lrsp/logistic"
	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/pack"
)

// trainFlags are the flags of lrsp train.
type trainFlags struct {
	data, out, metricsOut            string
	loss                             string
	init, update, threshold, pursuit string
	rank, sparsity                   int
	ridge, tolerance, validation     float64
	rounds, cgIterations, refresh    int
	workers, patience                int
	seed                             uint64
	cols                             dataFlags
	method                           methodFlags
	mixed                            mixedFlags
	neural                           neuralFlags
	dp                               dpFlags
}

func (f *trainFlags) register(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.data, "data", "", "training data: CSV, Parquet (file or directory) or packed .lrspd (required)")
	c.MarkFlagRequired("data")
	fl.StringVar(&f.out, "out", "", "model file to write (required; an existing file is replaced)")
	fl.StringVar(&f.loss, "loss", model.LossSquared, "training loss: squared, or logistic for 0/1 targets (predictions become probabilities)")
	fl.StringVar(&f.metricsOut, "metrics-out", "", "write per-round metrics as JSON to this file")
	fl.IntVar(&f.rounds, "rounds", 50, "maximum number of alternating rounds")
	fl.Float64Var(&f.tolerance, "tolerance", 1e-6, "without --validation, stop when a round improves the training loss by less than this fraction (0 runs all rounds); with it, the least relative improvement of the validation loss that resets --patience")
	fl.StringVar(&f.init, "init", "moments", "initialisation of U: moments, ridge-svd or random")
	fl.StringVar(&f.update, "update", "gradient", "U update: gradient (one over-relaxed preconditioned step, no pass over the data beyond the per-user solves) or cg (least squares by conjugate gradient, one more pass per iteration; pays on strongly correlated features)")
	fl.StringVar(&f.threshold, "threshold", "topk", "hard thresholding of b: topk or value (shrinking threshold)")
	fl.StringVar(&f.pursuit, "pursuit", "swap", "support search for b: "+strings.Join(fit.Pursuits(), ", ")+"")
	fl.IntVar(&f.cgIterations, "cg-iterations", 3, "conjugate-gradient iterations per round")
	fl.IntVar(&f.refresh, "refresh", 8, "most rounds between full support searches of a user (1: every round); in between a user keeps its support while it is a hard-thresholding fixed point")
	fl.IntVar(&f.workers, "workers", 0, "parallel workers (0: one per CPU); the model does not depend on it")
	fl.Uint64Var(&f.seed, "seed", 1, "random seed")
	fl.Float64Var(&f.validation, "validation", 0, "fraction of each user's samples held out for early stopping")
	fl.IntVar(&f.patience, "patience", 3, "with --validation, rounds without a validation improvement (of at least --tolerance) before stopping; the best round's model is kept")
	f.method.register(c, &f.rank, &f.sparsity, &f.ridge)
	f.mixed.register(c)
	f.neural.register(c)
	f.dp.register(c)
	f.cols.register(c)
}

// flagParams maps the flags of lrsp train that configure a method to the
// method.Config field (by JSON name) each sets, so that a flag the chosen
// method does not use is an error rather than silently ignored.
var flagParams = map[string]string{
	"rank": "rank", "sparsity": "sparsity", "ridge": "ridge", "pursuit": "pursuit", "init": "init",
	"update": "update", "threshold": "threshold", "refresh": "refresh", "cg-iterations": "cg_iterations",
	"tolerance": "tolerance", "center": "center", "hidden": "hidden", "batch": "batch",
	"learning-rate": "learning_rate", "random-effects": "random_effects", "criterion": "criterion",
}

// config builds the method's configuration from the flags; package method
// validates it.
func (f *trainFlags) config(c *cobra.Command) (method.Config, error) {
	fl := c.Flags()
	loss, err := lossName(f.loss)
	if err != nil {
		return method.Config{}, err
	}
	s, err := method.Lookup(f.method.method, loss)
	if err != nil {
		return method.Config{}, err
	}
	params := s.Params()
	if _, err := oneOf("center", f.method.center, "false", "true", "auto"); err != nil {
		return method.Config{}, err
	}
	for _, flag := range slices.Sorted(maps.Keys(flagParams)) {
		field := flagParams[flag]
		// auto values of dimensions a method lacks are ignored, as
		// package tune does.
		if fl.Changed(flag) && fl.Lookup(flag).Value.String() != "auto" && !slices.Contains(params, field) {
			if flag == "center" {
				return method.Config{}, fmt.Errorf("--center applies to lrs and lowrank only, not --method %s", s.Name)
			}
			return method.Config{}, fmt.Errorf("--%s does not apply to --method %s with the %s loss", flag, s.Name, s.Loss)
		}
	}
	if f.rounds < 1 {
		return method.Config{}, fmt.Errorf("--rounds %d must be at least 1", f.rounds)
	}
	if !(f.validation >= 0 && f.validation < 1) {
		return method.Config{}, fmt.Errorf("--validation %v must be in [0, 1)", f.validation)
	}
	// Every flag goes into the configuration; Restrict then drops the
	// fields the method does not use.
	cfg := method.Config{Version: model.ConfigVersion, Method: s.Name, Loss: s.Loss, Rounds: f.rounds, Seed: f.seed,
		Rank: f.rank, Sparsity: f.sparsity, Ridge: f.ridge, Tolerance: f.tolerance, Center: f.method.center == "true",
		RandomEffects: f.mixed.randomEffects, Criterion: f.mixed.criterion}
	if s.Name == model.MethodMixedLRS {
		// EM's schedule: its own defaults unless given.
		def, _ := method.Defaults(s.Name, "")
		if !fl.Changed("rounds") {
			cfg.Rounds = def.Rounds
		}
		if !fl.Changed("tolerance") {
			cfg.Tolerance = def.Tolerance
		}
		if !fl.Changed("sparsity") {
			cfg.Sparsity = def.Sparsity
		}
	}
	if err := f.pursuitConfig(&cfg, params); err != nil {
		return cfg, err
	}
	switch {
	case s.Network:
		n := &f.neural
		cfg.Hidden, cfg.Batch, cfg.LearningRate = n.hidden, n.batch, n.rate
		if err := checkNetworkFlags(n.hidden, n.batch, n.rate); err != nil {
			return cfg, err
		}
		if s.Name != model.MethodNeuralLRS {
			cfg.Rank, cfg.Sparsity = 0, 0
		}
	case s.Loss == model.LossLogistic:
		cfg.Init = f.init
		if fl.Changed("cg-iterations") {
			cfg.CGIterations = f.cgIterations
		}
	case slices.Contains(params, "update"):
		// package method checks the names of init, update and threshold.
		cfg.Init, cfg.Update, cfg.Threshold = f.init, f.update, f.threshold
		cfg.CGIterations, cfg.Refresh = f.cgIterations, f.refresh
		if f.cgIterations < 1 {
			return cfg, fmt.Errorf("--cg-iterations %d must be at least 1", f.cgIterations)
		}
		if f.refresh < 1 || f.refresh > 255 {
			return cfg, fmt.Errorf("--refresh %d must be in [1, 255]", f.refresh)
		}
	}
	switch s.Name {
	case model.MethodLowRank:
		if !fl.Changed("sparsity") {
			cfg.Sparsity = 0
		}
	case model.MethodGlobalSparse:
		cfg.Rank = 0
	}
	return s.Restrict(cfg), nil
}

// pursuitConfig sets cfg.Pursuit from --pursuit for the methods that
// search supports.
func (f *trainFlags) pursuitConfig(cfg *method.Config, params []string) error {
	if !slices.Contains(params, "pursuit") || cfg.Method == model.MethodNeuralDense || cfg.Method == model.MethodNeuralGlobal {
		return nil
	}
	if err := cfg.Pursuit.UnmarshalText([]byte(f.pursuit)); err != nil {
		return fmt.Errorf("--pursuit: %w", err)
	}
	return nil
}

// options returns the run options of the flags.
func (f *trainFlags) options(c *cobra.Command) method.Options {
	o := method.Options{Holdout: f.validation, Workers: f.workers}
	if c.Flags().Changed("patience") {
		o.Patience = f.patience
	}
	return o
}

func newTrainCmd() *cobra.Command {
	var f trainFlags
	var cpuProfile string
	c := &cobra.Command{
		Use:   "train",
		Short: "Train a personalization model (AMHT-LRS by default)",
		Long: `train learns one linear model per user from --data (CSV, Parquet or packed .lrspd: a user
column, the feature columns and the target y; see --user-column, --target-column, --features)
and writes the model file --out, which predict, eval, personalize, inspect and store import read.

The default method, lrs, fits theta_i = U w_i + b_i (plus a shared theta_0 with --center true)
by AMHT-LRS: rounds of per-user solves (w_i by least squares, the k non-zeros of b_i by
--pursuit) and an update of the shared basis U (--update), for at most --rounds rounds,
stopping once a round improves the training loss by less than --tolerance of itself. With
--validation F, a fraction F of each user's samples is held out and training stops after
--patience rounds without a better held-out loss. --ridge penalizes each user's fit (and
theta_0's with --center). --workers changes the speed, never the model.

--method picks another method (lrs, lowrank, global, local, global-sparse, finetune, and
the neural-* methods with --hidden; lrsp compare compares them on your data); --loss
logistic fits 0/1 targets with predictions as probabilities. --rank, --sparsity, --ridge
and --center accept auto: candidates are scored on held-out samples (--tune-holdout,
--tune-repeats), the table is printed and the best is retrained on all the data. Any
--dp-* flag trains with differential privacy instead, as described below.`,
		Example: "  lrsp train --data data.csv --rank 5 --sparsity 5 --out model.lrsp\n" +
			"  lrsp train --data data.csv --rank auto --sparsity auto --ridge auto\n" +
			"  lrsp train --data labels.csv --loss logistic --validation 0.2",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) (err error) {
			stopProfile, err := startCPUProfile(cpuProfile)
			if err != nil {
				return err
			}
			defer func() { err = errors.Join(err, stopProfile()) }()
			if resolveAuto(c, &f) {
				return runAuto(c, &f)
			}
			cfg, err := f.config(c)
			if err != nil {
				return err
			}
			if f.dp.enabled(c) {
				return trainPrivate(c, &f, cfg)
			}
			if f.method.anyAuto() {
				return runTune(c, &f, cfg)
			}
			return runTrain(c, &f, cfg, f.options(c))
		},
	}
	f.register(c)
	addCPUProfileFlag(c, &cpuProfile)
	// --out has no default: a default name silently replaced ./model.lrsp.
	c.MarkFlagRequired("out")
	return c
}

// loadTraining reads the training data: a packed file is streamed from
// disk when the method trains from a stream (see method.Streams), else
// every format is read into memory. close releases a streamed file.
func loadTraining(c *cobra.Command, f *trainFlags, stream bool) (src dataset.Source, samples int, close func(), err error) {
	if stream && pack.IsPath(f.data) {
		p, err := datafile.OpenPacked(f.data, f.cols.options(true))
		if err != nil {
			return nil, 0, nil, err
		}
		return p, p.Samples(), func() { p.Close() }, nil
	}
	ds, err := readData(c.Context(), c, f.data, f.cols.options(true))
	if err != nil {
		return nil, 0, nil, err
	}
	return ds, ds.Samples(), func() {}, nil
}

// runTrain trains cfg with method.Train and writes the model and metrics.
func runTrain(c *cobra.Command, f *trainFlags, cfg method.Config, o method.Options) error {
	src, samples, closeData, err := loadTraining(c, f, method.Streams(cfg, o))
	if err != nil {
		return err
	}
	defer closeData()
	if ds, ok := src.(*dataset.Dataset); ok && cfg.Loss == model.LossLogistic {
		if err := logistic.CheckTargets(ds); err != nil {
			return fmt.Errorf("%s: %w", f.data, err)
		}
	}
	if cfg.Method == model.MethodLRS || cfg.Method == model.MethodLowRank {
		warnFewSamples(c, src, cfg)
	}
	label := "loss"
	if cfg.Loss == model.LossLogistic {
		label = "log loss"
	}
	var done, doneFinal func()
	o.Progress, done = roundProgress(c, cfg.Rounds, label)
	o.FinalProgress, doneFinal = finalProgress(c)
	start := time.Now()
	res, err := method.Train(c.Context(), src, cfg, o)
	done()
	doneFinal()
	if err != nil {
		return err
	}
	if f.metricsOut != "" {
		if err := writeJSON(f.metricsOut, newTrainMetrics(res)); err != nil {
			return err
		}
	}
	if err := saveModel(c.Context(), f.out, res.Model); err != nil {
		return err
	}
	printTrained(c, res, src.NumUsers(), samples, time.Since(start))
	if p, ok := src.(*pack.File); ok {
		fmt.Fprintf(c.OutOrStdout(), "streamed %s: %.3g GB of samples per pass; peak heap %.0f MB, peak RSS %.0f MB", f.data,
			float64(p.DataBytes())/1e9, float64(memstat.Heap())/1e6, float64(memstat.PeakRSS())/1e6)
		if fileRSS := memstat.FileRSS(); fileRSS > 0 {
			// A mapped data file's pages count in the RSS.
			fmt.Fprintf(c.OutOrStdout(), "; file pages resident at the end %.0f MB (the data file is read through a "+
				"memory map: page cache that the kernel reclaims as needed)", float64(fileRSS)/1e6)
		}
		fmt.Fprintln(c.OutOrStdout())
	}
	fmt.Fprintf(c.OutOrStdout(), "wrote %s\n", f.out)
	return nil
}

// Descriptions of the two training losses that lrsp train reports, for its
// output and metrics.json: they differ because the published model refits
// every user to the final U, after the last round.
const (
	roundLossMeaning = "per round: mean per-user training loss of that round's per-user fits, " +
		"made with the round's U before its update"
	finalLossMeaning = "mean per-user training loss of the published model: every user refitted " +
		"to the final U after the last round"
)

// trainMetrics is the JSON that --metrics-out writes.
type trainMetrics struct {
	Rounds         []fit.RoundStats  `json:"rounds"`
	Stopped        fit.StopReason    `json:"stopped"`
	FinalTrainLoss float64           `json:"final_train_loss"`
	Definitions    map[string]string `json:"definitions"`
	fit.Timing
}

func newTrainMetrics(res *method.Result) trainMetrics {
	return trainMetrics{Rounds: res.Rounds, Stopped: res.Stopped, FinalTrainLoss: res.TrainLoss, Timing: res.Timing,
		Definitions: map[string]string{"rounds[].train_loss": roundLossMeaning, "final_train_loss": finalLossMeaning}}
}

// printTrained reports a training run in one line.
func printTrained(c *cobra.Command, res *method.Result, users, samples int, took time.Duration) {
	m := res.Model
	name := m.Config.Method
	if m.Loss == model.LossLogistic {
		name = "logistic " + name
	}
	w := c.OutOrStdout()
	fmt.Fprintf(w, "trained %s on %d users, %d samples (d=%d, r=%d, k=%d) in %.2fs", name, users, samples, m.Dim, m.Rank,
		m.Sparsity, took.Seconds())
	if t := res.Timing; t != (fit.Timing{}) {
		rounds := 0.0
		for _, st := range res.Rounds {
			rounds += st.Seconds
		}
		fmt.Fprintf(w, " (setup %.2fs, rounds %.2fs, final per-user pass %.2fs)", t.SetupSeconds, rounds, t.FinalSeconds)
	}
	if m.Network != nil {
		fmt.Fprintf(w, ", network %v", m.Network.Sizes)
	}
	if n := len(res.Rounds); n > 0 {
		loss := "MSE"
		if m.Loss == model.LossLogistic {
			loss = "log loss"
		}
		fmt.Fprintf(w, ": %s (stopped: %s); published model (users refitted to the final U): train %s %.6g",
			count(n, "round"), res.Stopped, loss, res.TrainLoss)
	}
	fmt.Fprintf(w, "; %.1f bytes per user\n", m.BytesPerUser())
}

// finalProgress returns a progress callback for the final per-user pass of
// AMHT-LRS (see method.Options.FinalProgress) and a function that ends it:
// a bar on a terminal, else a line at the start and at every tenth of the
// users.
func finalProgress(c *cobra.Command) (func(done, users int), func()) {
	p := newProgress(c, progressbar.OptionSetDescription("final per-user pass"), progressbar.OptionShowCount())
	start := time.Now()
	next := 0 // off a terminal: the next tenth of the users to report
	return func(done, users int) {
		line := ""
		if tenth := done * 10 / max(users, 1); tenth >= next {
			next = tenth + 1
			line = fmt.Sprintf("final per-user pass: %d of %d users refitted to the final U (%.1f s)",
				done, users, time.Since(start).Seconds())
		}
		p.step(int64(done), int64(users), "", line)
	}, p.finish
}

// roundProgress returns a progress callback for training rounds and a
// function that ends it: a bar on a terminal, else one line per round with
// the elapsed time (see progress). rounds is the most rounds training may
// run; 0 means no bound is known, and the lines then count rounds without
// a total ("round 31", not "round 31/0").
func roundProgress(c *cobra.Command, rounds int, label string) (func(fit.RoundStats), func()) {
	p := newProgress(c, progressbar.OptionSetDescription("train"), progressbar.OptionShowCount())
	start := time.Now()
	return func(st fit.RoundStats) {
		desc := fmt.Sprintf("train: %s %.4g", label, st.TrainLoss)
		of := ""
		if rounds > 0 {
			of = fmt.Sprintf("/%d", rounds)
		}
		line := fmt.Sprintf("round %d%s: fits with this round's U: train %s %.6g", st.Round, of, label, st.TrainLoss)
		if st.Outliers > 0 {
			line += fmt.Sprintf(", inliers %.6g (%d outliers)", st.InlierLoss, st.Outliers)
		}
		if st.Searched > 0 {
			line += fmt.Sprintf(", %d supports searched", st.Searched)
		}
		if st.ValidationLoss != nil {
			desc += fmt.Sprintf(" val %.4g", *st.ValidationLoss)
			line += fmt.Sprintf(", validation %.6g", *st.ValidationLoss)
		}
		p.step(int64(st.Round), int64(max(rounds, st.Round, 1)), desc, fmt.Sprintf("%s (%.1f s)", line, time.Since(start).Seconds()))
	}, p.finish
}

// warnFewSamples tells the user when most users have too few samples for
// the requested rank and sparsity without regularization.
func warnFewSamples(c *cobra.Command, src dataset.Source, cfg method.Config) {
	few, need := 0, 2*(cfg.Rank+cfg.Sparsity)
	for i := 0; i < src.NumUsers(); i++ {
		if src.UserLen(i) < need {
			few++
		}
	}
	if cfg.Ridge == 0 && 2*few > src.NumUsers() {
		fmt.Fprintf(c.ErrOrStderr(), "lrsp: warning: %d of %d users have fewer than 2(r+k) = %d samples and --ridge is 0; "+
			"their fits may overfit badly: consider --ridge, a smaller --rank/--sparsity, or --rank auto --sparsity auto\n",
			few, src.NumUsers(), need)
	}
}
