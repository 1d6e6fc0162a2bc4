package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/accountant"
	"github.com/lrsp/lrsp/dp"
)

// privacyFlags are the flags of lrsp privacy.
type privacyFlags struct {
	q          accountant.Query
	users      int
	allowLarge bool
	asJSON     bool
}

// query checks that the flags of c ask one question and returns it;
// accountant.Answer validates the values.
func (f *privacyFlags) query(c *cobra.Command) (accountant.Query, error) {
	fl := c.Flags()
	f.q.Calibrate = fl.Changed("epsilon")
	switch {
	case f.q.Calibrate == fl.Changed("noise-multiplier"):
		return f.q, fmt.Errorf("give exactly one of --epsilon (to calibrate the noise) and --noise-multiplier (to compute epsilon)")
	case !fl.Changed("delta"):
		return f.q, fmt.Errorf("--delta is required")
	case !fl.Changed("rounds"):
		return f.q, fmt.Errorf("--rounds is required")
	case fl.Changed("users") && f.users < 1:
		return f.q, fmt.Errorf("--users %d must be positive", f.users)
	case fl.Changed("users"):
		if err := dp.CheckDelta(f.q.Delta, f.users, f.allowLarge); err != nil {
			return f.q, fmt.Errorf("--delta: %w; --allow-large-delta overrides", err)
		}
	}
	return f.q, nil
}

func newPrivacyCmd() *cobra.Command {
	var f privacyFlags
	c := &cobra.Command{
		Use:   "privacy",
		Short: "Calibrate the noise multiplier for a privacy target, or compute the epsilon of a noise multiplier",
		Long: `privacy runs the differential-privacy accountant for user-level training with
the Gaussian mechanism: --rounds noisy releases, each with L2 sensitivity C and
noise standard deviation noise_multiplier*C, each user taking part in each
release with probability --sample-rate (Poisson sampling; 1 = every user).

With --epsilon it prints the smallest noise multiplier that meets (epsilon,
delta); with --noise-multiplier it prints the epsilon spent. Without sampling
the exact Gaussian accountant is used; with sampling, --accountant pld (the
default) uses the privacy loss distribution of the sampled Gaussian mechanism
(a certified upper bound within about 1% of the exact epsilon) and
--accountant rdp the looser Renyi-DP accountant. The JSON names the
accountant used.

For "lrsp train --dp-init private" the number of releases is --rounds + 1
(the private initialisation is one more release).

With --users N, a --delta of 1/N or more is refused, as lrsp train refuses
it (such a delta allows publishing some user's data outright), unless
--allow-large-delta is given.`,
		Example: `  lrsp privacy --epsilon 1 --delta 1e-5 --rounds 20 --users 5000
  lrsp privacy --noise-multiplier 1.1 --delta 1e-5 --rounds 1000 --sample-rate 0.01 --json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			q, err := f.query(c)
			if err != nil {
				return err
			}
			rep, err := accountant.Answer(q)
			if err != nil {
				return err
			}
			w := c.OutOrStdout()
			if f.asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", " ")
				return enc.Encode(rep)
			}
			for _, row := range rep.Rows() {
				fmt.Fprintf(w, "%-18s%s\n", row[0], row[1])
			}
			return nil
		},
	}
	fl := c.Flags()
	fl.Float64Var(&f.q.Epsilon, "epsilon", 0, "target epsilon: print the noise multiplier that achieves it")
	fl.Float64Var(&f.q.NoiseMultiplier, "noise-multiplier", 0, "noise multiplier (noise sd / clip norm): print the epsilon it gives")
	fl.Float64Var(&f.q.Delta, "delta", 0, "target delta, in (0, 1) (required)")
	fl.IntVar(&f.q.Rounds, "rounds", 0, "number of noisy releases (required)")
	fl.Float64Var(&f.q.SampleRate, "sample-rate", 1, "probability that a user takes part in a release, in (0, 1]")
	fl.IntVar(&f.users, "users", 0, "number of users: refuse a --delta of 1/users or more")
	fl.BoolVar(&f.allowLarge, "allow-large-delta", false, "with --users, accept a --delta of 1/users or more")
	fl.StringVar(&f.q.Accountant, "accountant", accountant.AccountantPLD, "accountant with sampling: pld (privacy loss distribution, tighter) or rdp (Renyi DP)")
	fl.BoolVar(&f.asJSON, "json", false, "print one JSON object with epsilon, delta, noise_multiplier, rounds, sample_rate")
	return c
}
