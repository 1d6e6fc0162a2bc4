package amhtbeam

import (
	"context"

	"github.com/lrsp/lrsp/dataset"
)

// InProcess is the reference Engine: it runs the same per-user step as
// Pipeline in a plain loop over the users of Source, in order, summing
// their contributions in that order.
type InProcess struct {
	// Source holds the users.
	Source dataset.Source
}

// Name returns "in-process".
func (e *InProcess) Name() string { return "in-process" }

// Run runs one pass.
func (e *InProcess) Run(ctx context.Context, pass Pass) ([]float64, []Fit, error) {
	cfg := pass.Config
	s := newStepper(cfg, pass.State.U)
	n := cfg.size()
	sum := make([]float64, n)
	out := make([]float64, n)
	var fits []Fit
	var sc dataset.Scratch
	err := e.Source.Scan(0, e.Source.NumUsers(), &sc, func(i int, x, y []float64) error {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		rec := Record{ID: e.Source.UserID(i), X: x, Y: y}
		if cfg.Kind == passStats {
			if err := s.stats(&rec, out); err != nil {
				return err
			}
		} else {
			f, err := s.round(&rec, out)
			if err != nil {
				return err
			}
			if cfg.WriteFit {
				fits = append(fits, f)
			}
		}
		for j, v := range out {
			sum[j] += v
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	AddNoise(sum, pass)
	return sum, fits, nil
}
