package accountant

import (
	"fmt"
	"math"
)

// Query is one of the two questions that lrsp privacy answers about a run
// of Rounds releases with Poisson sampling at SampleRate: with Calibrate,
// the smallest noise multiplier that meets (Epsilon, Delta); without, the
// epsilon that NoiseMultiplier spends at Delta.
type Query struct {
	// Calibrate selects calibration of the noise multiplier for Epsilon;
	// otherwise NoiseMultiplier is accounted and Epsilon is ignored.
	Calibrate bool
	// Epsilon is the target epsilon; it must be positive and finite when
	// Calibrate is set.
	Epsilon float64
	// NoiseMultiplier is the noise multiplier to account; it must be
	// positive and finite when Calibrate is not set.
	NoiseMultiplier float64
	// Delta is the target delta, in (0, 1).
	Delta float64
	// SampleRate is the probability that a user takes part in a release,
	// in (0, 1].
	SampleRate float64
	// Rounds is the number of releases, at least 1.
	Rounds int
	// Accountant selects the accountant used with sampling: "pld" (or
	// empty, the default) or "rdp"; see [Params].
	Accountant string
}

// Report answers a Query: the noise multiplier (calibrated or given) and
// the epsilon it achieves (at most the target when calibrating), with the
// accountant that proved it. Its JSON is lrsp privacy --json.
type Report struct {
	Epsilon         float64 `json:"epsilon"`
	Delta           float64 `json:"delta"`
	NoiseMultiplier float64 `json:"noise_multiplier"`
	Rounds          int     `json:"rounds"`
	SampleRate      float64 `json:"sample_rate"`
	Accountant      string  `json:"accountant"`
	Warning         string  `json:"warning,omitempty"`
}

// Answer validates q and answers it: it calibrates the noise multiplier
// with [NoiseMultiplier] when q.Calibrate is set, then reports the epsilon
// actually achieved with [Epsilon]. Errors name the field at fault.
func Answer(q Query) (Report, error) {
	switch {
	case !(q.Delta > 0 && q.Delta < 1):
		return Report{}, fmt.Errorf("accountant: delta %v must be in (0, 1)", q.Delta)
	case !(q.SampleRate > 0 && q.SampleRate <= 1):
		return Report{}, fmt.Errorf("accountant: sample rate %v must be in (0, 1]", q.SampleRate)
	case q.Rounds < 1:
		return Report{}, fmt.Errorf("accountant: rounds %d must be at least 1", q.Rounds)
	case q.Calibrate && (!(q.Epsilon > 0) || math.IsInf(q.Epsilon, 1)):
		return Report{}, fmt.Errorf("accountant: epsilon %v must be positive and finite", q.Epsilon)
	case !q.Calibrate && (!(q.NoiseMultiplier > 0) || math.IsInf(q.NoiseMultiplier, 1)):
		return Report{}, fmt.Errorf("accountant: noise multiplier %v must be positive and finite", q.NoiseMultiplier)
	}
	if err := CheckAccountant(q.Accountant); err != nil {
		return Report{}, err
	}
	r := Report{Delta: q.Delta, Rounds: q.Rounds, SampleRate: q.SampleRate, NoiseMultiplier: q.NoiseMultiplier}
	if q.Calibrate {
		sigma, err := NoiseMultiplierFor(q.Epsilon, Params{Delta: q.Delta, Rounds: q.Rounds, SampleRate: q.SampleRate, Accountant: q.Accountant})
		if err != nil {
			return r, err
		}
		r.NoiseMultiplier = sigma
	}
	res, err := Epsilon(Params{NoiseMultiplier: r.NoiseMultiplier, SampleRate: q.SampleRate, Rounds: q.Rounds, Delta: q.Delta,
		Accountant: q.Accountant})
	if err != nil {
		return r, err
	}
	r.Epsilon, r.Accountant, r.Warning = res.Epsilon, res.Accountant, res.Warning
	return r, nil
}

// Rows returns r as the label and value of each line of lrsp privacy's
// text output, in order.
func (r Report) Rows() [][2]string {
	rows := [][2]string{
		{"noise multiplier", fmt.Sprintf("%.6g", r.NoiseMultiplier)},
		{"epsilon", fmt.Sprintf("%.6g", r.Epsilon)},
		{"delta", fmt.Sprintf("%.3g", r.Delta)},
		{"rounds", fmt.Sprintf("%d", r.Rounds)},
		{"sample rate", fmt.Sprintf("%g", r.SampleRate)},
		{"accountant", r.Accountant},
	}
	if r.Warning != "" {
		rows = append(rows, [2]string{"warning", r.Warning})
	}
	return rows
}
