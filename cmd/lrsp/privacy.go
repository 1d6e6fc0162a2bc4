package main

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/accountant"
)

// privacyReport is the output of lrsp privacy.
type privacyReport struct {
	Epsilon         float64 `json:"epsilon"`
	Delta           float64 `json:"delta"`
	NoiseMultiplier float64 `json:"noise_multiplier"`
	Rounds          int     `json:"rounds"`
	SampleRate      float64 `json:"sample_rate"`
	Accountant      string  `json:"accountant"`
}

// privacyFlags are the flags of lrsp privacy.
type privacyFlags struct {
	epsilon, delta, noise, sampleRate float64
	rounds                            int
	asJSON                            bool
}

// resolve validates the flags of c and returns the report.
func (f *privacyFlags) resolve(c *cobra.Command) (privacyReport, error) {
	fl := c.Flags()
	hasEps, hasNoise := fl.Changed("epsilon"), fl.Changed("noise-multiplier")
	switch {
	case hasEps == hasNoise:
		return privacyReport{}, fmt.Errorf("give exactly one of --epsilon (to calibrate the noise) and --noise-multiplier (to compute epsilon)")
	case !fl.Changed("delta"):
		return privacyReport{}, fmt.Errorf("--delta is required")
	case !fl.Changed("rounds"):
		return privacyReport{}, fmt.Errorf("--rounds is required")
	}
	if err := checkPrivacyFlags(f.delta, f.sampleRate, f.rounds); err != nil {
		return privacyReport{}, err
	}
	rep := privacyReport{Delta: f.delta, Rounds: f.rounds, SampleRate: f.sampleRate}
	if hasEps {
		if !(f.epsilon > 0) || math.IsInf(f.epsilon, 1) {
			return rep, fmt.Errorf("--epsilon %v must be positive and finite", f.epsilon)
		}
		sigma, err := accountant.NoiseMultiplier(f.epsilon, f.delta, f.rounds, f.sampleRate)
		if err != nil {
			return rep, err
		}
		rep.NoiseMultiplier = sigma
	} else {
		if !(f.noise > 0) || math.IsInf(f.noise, 1) {
			return rep, fmt.Errorf("--noise-multiplier %v must be positive and finite", f.noise)
		}
		rep.NoiseMultiplier = f.noise
	}
	// Report the epsilon actually achieved (at most the target when
	// calibrating), with the accountant that proved it.
	res, err := accountant.Epsilon(accountant.Params{NoiseMultiplier: rep.NoiseMultiplier, SampleRate: f.sampleRate,
		Rounds: f.rounds, Delta: f.delta})
	if err != nil {
		return rep, err
	}
	rep.Epsilon, rep.Accountant = res.Epsilon, res.Accountant
	return rep, nil
}

// checkPrivacyFlags validates the parameters shared by lrsp privacy and the
// --dp-* flags of lrsp train.
func checkPrivacyFlags(delta, sampleRate float64, rounds int) error {
	switch {
	case !(delta > 0 && delta < 1):
		return fmt.Errorf("delta %v must be in (0, 1)", delta)
	case !(sampleRate > 0 && sampleRate <= 1):
		return fmt.Errorf("sample rate %v must be in (0, 1]", sampleRate)
	case rounds < 1:
		return fmt.Errorf("rounds %d must be at least 1", rounds)
	}
	return nil
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
the exact Gaussian accountant is used, with sampling the Renyi-DP accountant
of the sampled Gaussian mechanism.

For "lrsp train --dp-init private" the number of releases is --rounds + 1
(the private initialisation is one more release).`,
		Example: `  lrsp privacy --epsilon 1 --delta 1e-5 --rounds 20
  lrsp privacy --noise-multiplier 1.1 --delta 1e-5 --rounds 1000 --sample-rate 0.01 --json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			rep, err := f.resolve(c)
			if err != nil {
				return err
			}
			w := c.OutOrStdout()
			if f.asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", " ")
				return enc.Encode(rep)
			}
			fmt.Fprintf(w, "noise multiplier  %.6g\n", rep.NoiseMultiplier)
			fmt.Fprintf(w, "epsilon           %.6g\n", rep.Epsilon)
			fmt.Fprintf(w, "delta             %.3g\n", rep.Delta)
			fmt.Fprintf(w, "rounds            %d\n", rep.Rounds)
			fmt.Fprintf(w, "sample rate       %g\n", rep.SampleRate)
			fmt.Fprintf(w, "accountant        %s\n", rep.Accountant)
			return nil
		},
	}
	fl := c.Flags()
	fl.Float64Var(&f.epsilon, "epsilon", 0, "target epsilon: print the noise multiplier that achieves it")
	fl.Float64Var(&f.noise, "noise-multiplier", 0, "noise multiplier (noise sd / clip norm): print the epsilon it gives")
	fl.Float64Var(&f.delta, "delta", 0, "target delta, in (0, 1) (required)")
	fl.IntVar(&f.rounds, "rounds", 0, "number of noisy releases (required)")
	fl.Float64Var(&f.sampleRate, "sample-rate", 1, "probability that a user takes part in a release, in (0, 1]")
	fl.BoolVar(&f.asJSON, "json", false, "print one JSON object with epsilon, delta, noise_multiplier, rounds, sample_rate")
	return c
}
