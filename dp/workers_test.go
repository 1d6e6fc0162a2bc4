package dp

import (
	"context"
	"math"
	"testing"

	"github.com/lrsp/lrsp/internal/modeltest"
)

// TestWorkersDeterministic checks the claim of Options.Workers: with fixed
// seeds, the model (U and every user's local fit) and the per-round
// statistics are bit-identical for any number of workers.
func TestWorkersDeterministic(t *testing.T) {
	ds := smallData(t, 300, 4).Train // three chunks
	tests := []struct {
		name string
		opt  Options
	}{
		{"private-init", Options{Init: InitPrivate}},
		{"noiseless", Options{Init: InitPrivate, Noiseless: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var first *Result
			for _, workers := range modeltest.WorkerCounts() {
				opt := tt.opt
				// The sampling is drawn from the noise seed, so both runs fix it.
				opt.Rank, opt.Sparsity, opt.Rounds, opt.SampleRate, opt.Workers, opt.Seed, opt.NoiseSeed = 2, 1, 2, 0.7, workers, 3, 9
				if !opt.Noiseless {
					opt.NoiseMultiplier, opt.Delta = 1, 1e-5
				}
				res, err := Train(context.Background(), ds, opt)
				if err != nil {
					t.Fatal(err)
				}
				if first == nil {
					first = res
					continue
				}
				if err := modeltest.Diff(first.Model, res.Model); err != nil {
					t.Errorf("workers 1 vs %d: %v", workers, err)
				}
				if len(first.Rounds) != len(res.Rounds) {
					t.Fatalf("workers 1 vs %d: %d vs %d rounds", workers, len(first.Rounds), len(res.Rounds))
				}
				for k := range first.Rounds {
					a, b := first.Rounds[k], res.Rounds[k]
					ea, eb := math.NaN(), math.NaN()
					if a.Epsilon != nil {
						ea = *a.Epsilon
					}
					if b.Epsilon != nil {
						eb = *b.Epsilon
					}
					if a.Round != b.Round || a.StepNorm != b.StepNorm || math.Float64bits(ea) != math.Float64bits(eb) {
						t.Errorf("workers 1 vs %d: release %d: round %d, step %v, epsilon %v vs round %d, step %v, epsilon %v",
							workers, k+1, a.Round, a.StepNorm, ea, b.Round, b.StepNorm, eb)
					}
				}
			}
		})
	}
}
