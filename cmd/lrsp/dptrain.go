package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/accountant"
	"github.com/lrsp/lrsp/dp"
	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
)

// dpFlags are the --dp-* flags of lrsp train.
type dpFlags struct {
	epsilon, delta, clip, sampleRate, noise, step float64
	init, noiseKind, accountant                   string
	allowLargeDelta                               bool
}

// dpFlagNames lists the flags that switch lrsp train to private training.
var dpFlagNames = []string{"dp-epsilon", "dp-delta", "dp-clip", "dp-sample-rate", "dp-noise-multiplier", "dp-init", "dp-step",
	"dp-allow-large-delta", "dp-noise", "dp-accountant"}

func (d *dpFlags) register(c *cobra.Command) {
	c.Long = strings.TrimSpace(c.Long + "\n\n" + dpHelp)
	fl := c.Flags()
	fl.Float64Var(&d.epsilon, "dp-epsilon", 0, "train with user-level (epsilon, delta)-DP for the published U: the target epsilon (see lrsp help train)")
	fl.Float64Var(&d.delta, "dp-delta", 0, "DP: target delta, in (0, 1) and below 1/users (see --dp-allow-large-delta)")
	fl.BoolVar(&d.allowLargeDelta, "dp-allow-large-delta", false, "DP: accept a --dp-delta of 1/users or more, which is otherwise refused")
	fl.Float64Var(&d.clip, "dp-clip", dp.DefaultClip, "DP: clip norm C of each user's (dimensionless) U-update")
	fl.Float64Var(&d.sampleRate, "dp-sample-rate", 1, "DP: probability that a user takes part in a round, in (0, 1] (Poisson sampling)")
	fl.Float64Var(&d.noise, "dp-noise-multiplier", 0, "DP, instead of --dp-epsilon: the noise multiplier (noise sd / clip); the epsilon it gives is reported")
	fl.StringVar(&d.init, "dp-init", "private", "DP: initialisation of U: private (one accounted noisy release) or random (no privacy cost)")
	fl.Float64Var(&d.step, "dp-step", dp.DefaultStepSize, "DP: step size of the U update")
	fl.StringVar(&d.noiseKind, "dp-noise", dp.NoiseDiscrete.String(), "DP: noise sampler: discrete (exact discrete Gaussian on a fine grid) or continuous (floating point, for comparison)")
	fl.StringVar(&d.accountant, "dp-accountant", accountant.AccountantPLD, "DP: privacy accountant with sampling: pld (privacy loss distribution, tighter) or rdp (Renyi DP)")
}

// enabled reports whether any --dp-* flag was given.
func (d *dpFlags) enabled(c *cobra.Command) bool {
	for _, n := range dpFlagNames {
		if c.Flags().Changed(n) {
			return true
		}
	}
	return false
}

// config validates the --dp-* flags and sets cfg.DP (and cfg.Rounds:
// dp.DefaultRounds unless --rounds is given), calibrating the noise
// multiplier from --dp-epsilon when it is given.
func (d *dpFlags) config(c *cobra.Command, cfg *method.Config) error {
	fl := c.Flags()
	hasEps, hasNoise := fl.Changed("dp-epsilon"), fl.Changed("dp-noise-multiplier")
	switch {
	case hasEps == hasNoise:
		return fmt.Errorf("private training needs exactly one of --dp-epsilon and --dp-noise-multiplier")
	case !fl.Changed("dp-delta"):
		return fmt.Errorf("private training needs --dp-delta")
	case hasNoise && (!(d.noise > 0) || math.IsInf(d.noise, 1)):
		return fmt.Errorf("--dp-noise-multiplier %v must be positive and finite", d.noise)
	case !(d.sampleRate > 0 && d.sampleRate <= 1):
		return fmt.Errorf("--dp-sample-rate %v must be in (0, 1]", d.sampleRate)
	case !(d.clip > 0) || math.IsInf(d.clip, 1):
		return fmt.Errorf("--dp-clip %v must be positive and finite", d.clip)
	case !(d.step > 0) || math.IsInf(d.step, 1):
		return fmt.Errorf("--dp-step %v must be positive and finite", d.step)
	case accountant.CheckAccountant(d.accountant) != nil:
		return fmt.Errorf("--dp-accountant %q: want pld or rdp", d.accountant)
	}
	if !fl.Changed("rounds") {
		cfg.Rounds = dp.DefaultRounds
	}
	cfg.Tolerance, cfg.Init, cfg.Update, cfg.Threshold, cfg.CGIterations, cfg.Refresh = 0, "", "", "", 0, 0
	cfg.DP = &model.DPConfig{Init: d.init, Clip: d.clip, SampleRate: d.sampleRate, Delta: d.delta, StepSize: d.step,
		NoiseMultiplier: d.noise, Noise: d.noiseKind, Accountant: d.accountant}
	if hasEps {
		// dp.Calibrate checks epsilon and delta; package method checks
		// the other values and the name of the initialisation.
		o := dp.Options{Rounds: cfg.Rounds, Init: dp.InitPrivate, SampleRate: d.sampleRate, Accountant: d.accountant}
		if d.init == dp.InitRandom.String() {
			o.Init = dp.InitRandom
		}
		var err error
		if cfg.DP.NoiseMultiplier, err = dp.Calibrate(d.epsilon, d.delta, o); err != nil {
			return err
		}
	}
	return nil
}

// dpIgnored lists lrsp train flags that have no meaning for private
// training; giving one with --dp-* is an error rather than silently ignored.
var dpIgnored = map[string]string{
	"tolerance":     "private training runs exactly --rounds rounds (stopping early would use private data)",
	"validation":    "selecting the best round on held-out samples would use private data",
	"patience":      "private training does not stop early",
	"update":        "private training takes one noisy gradient step per round",
	"cg-iterations": "private training takes one noisy gradient step per round",
	"threshold":     "private training fits b_i with top-k pursuit",
	"init":          "use --dp-init",
	"center":        "a shared theta_0 would be published without privacy",
}

// trainPrivate is lrsp train with --dp-* flags.
func trainPrivate(c *cobra.Command, f *trainFlags, cfg method.Config) error {
	fl := c.Flags()
	for _, name := range []string{"tolerance", "validation", "patience", "update", "cg-iterations", "threshold", "init", "center"} {
		if fl.Lookup(name) != nil && fl.Changed(name) {
			return fmt.Errorf("--%s cannot be used with --dp-*: %s", name, dpIgnored[name])
		}
	}
	if f.method.anyAuto() {
		return fmt.Errorf("--dp-* cannot tune auto values: tuning on private data would need its own privacy budget")
	}
	if s, _ := method.Lookup(cfg.Method, cfg.Loss); !s.Private {
		return fmt.Errorf("--dp-* supports --method lrs and lowrank only, with the squared loss; not %s with the %s loss", cfg.Method, cfg.Loss)
	}
	if err := f.dp.config(c, &cfg); err != nil {
		return err
	}
	ds, err := readData(c.Context(), c, f.data, f.cols.options(true))
	if err != nil {
		return err
	}
	if err := dp.CheckDelta(f.dp.delta, len(ds.Users), f.dp.allowLargeDelta); err != nil {
		return fmt.Errorf("--dp-delta: %w; --dp-allow-large-delta overrides", err)
	}
	if f.dp.delta >= 1/float64(len(ds.Users)) {
		fmt.Fprintf(c.ErrOrStderr(), "warning: --dp-delta %g is not below 1/users = %.3g; such a delta allows publishing some user's data outright\n",
			f.dp.delta, 1/float64(len(ds.Users)))
	}
	o := method.Options{Workers: f.workers, AllowLargeDelta: f.dp.allowLargeDelta}
	releases := cfg.Rounds
	if cfg.DP.Init == "private" {
		releases++
	}
	p, n := newProgress(c, progressbar.OptionSetDescription("private train"), progressbar.OptionShowCount()), int64(0)
	defer p.finish()
	o.Release = func(st dp.RoundStats) {
		n++
		msg := "private train: no guarantee"
		if st.Epsilon != nil {
			msg = fmt.Sprintf("private train: epsilon spent %.3g", *st.Epsilon)
		}
		p.step(n, int64(releases), msg, "")
	}
	res, err := method.Train(c.Context(), ds, cfg, o)
	if err != nil {
		return err
	}
	if f.metricsOut != "" {
		// Public quantities only (see dpOutputs): per release its number,
		// the norm of the noisy step and the epsilon spent; the ledger.
		if err := writeJSON(f.metricsOut, map[string]any{"rounds": res.Releases, "privacy": res.Model.Privacy}); err != nil {
			return err
		}
	}
	if err := saveModel(c.Context(), f.out, res.Model); err != nil {
		return err
	}
	l := res.Model.Privacy
	w := c.OutOrStdout()
	// The number of users is public (the server divides by it); the number
	// of samples is not, and is not printed.
	fmt.Fprintf(w, "trained %s privately on %d users (d=%d, r=%d, k=%d): %s\n",
		res.Model.Method, len(ds.Users), ds.Dim(), res.Model.Rank, res.Model.Sparsity, count(cfg.Rounds, "round"))
	if l != nil {
		fmt.Fprintf(w, "privacy: the published U is (%.4g, %.3g)-DP at the user level; noise multiplier %.4g, clip %g, %s, sample rate %g, init %s\n",
			l.Epsilon, l.Delta, l.NoiseMultiplier, l.Clip, count(l.Rounds, "release"), l.SampleRate, cfg.DP.Init)
		fmt.Fprintf(w, "accountant: %s\n", l.Accountant)
	} else {
		fmt.Fprintf(w, "privacy: NOT PRIVATE: %s\n", res.Model.Config.NotPrivate())
	}
	fmt.Fprintf(w, "note: %s also holds every user's (w, b), each user's own local state in deployment; publish only U\n", f.out)
	if res.NonFinite > 0 {
		// A count of private data: a local diagnostic for the operator on
		// stderr, never on stdout or in a written output.
		fmt.Fprintf(c.ErrOrStderr(), "local diagnostic (PRIVATE: computed from the users' data, not covered by the guarantee; do not publish): "+
			"%d user-rounds overflowed and contributed nothing (data values near 1e150 or beyond); rescale the data\n", res.NonFinite)
	}
	fmt.Fprintf(w, "wrote %s\n", f.out)
	return nil
}

// dpHelp is appended to lrsp train's long help.
var dpHelp = strings.TrimSpace(`
Differential privacy (--dp-*): trains in the billboard model, where only U is
published and each user fits its own (w, b) against it. Every published U is
(epsilon, delta)-DP with respect to adding or removing one user: each round,
each (sampled) user's update for U is clipped to --dp-clip and the server adds
Gaussian noise of standard deviation noise_multiplier * clip to their sum. Give
--dp-epsilon to calibrate the noise multiplier (every release counted: --rounds,
default 10 with DP, plus one for --dp-init private) or --dp-noise-multiplier
to be told the epsilon. With --dp-sample-rate below 1, --dp-accountant pld (the
default, privacy loss distribution) or rdp (Renyi DP, looser) does the
accounting. --dp-delta must be below 1/users (a delta of 1/users
allows publishing some user's data outright); --dp-allow-large-delta overrides
that. The model records the ledger; see lrsp inspect.

Outputs of a private run: the model file holds the published U, the ledger
and the configuration, and also every user's (w, b), which in deployment is
each user's own local state: publish only U. --metrics-out holds, per
release, its number, the norm of the noisy step and the epsilon spent so
far, and the ledger; all of them are post-processing of the published U or
public settings. No training losses, sample or participant counts or
timings are written or printed. The number of users is treated as public.
A model trained with --dp-* cannot be used with --unknown global (predict,
eval, serve): the average user's w is not private.`)
