package dp

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/lrsp/lrsp/model"
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
			for _, workers := range []int{1, 2, 3, 7} {
				opt := tt.opt
				opt.Rank, opt.Sparsity, opt.Rounds, opt.SampleRate, opt.Workers, opt.Seed = 2, 1, 2, 0.7, workers, 3
				if !opt.Noiseless {
					opt.NoiseMultiplier, opt.Delta, opt.NoiseSeed = 1, 1e-5, 9
				}
				res, err := Train(context.Background(), ds, opt)
				if err != nil {
					t.Fatal(err)
				}
				if first == nil {
					first = res
					continue
				}
				if err := sameModel(first.Model, res.Model); err != nil {
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

// sameBits reports whether a and b hold the same float64 values bit for
// bit (so NaN equals NaN), and the first index where they differ.
func sameBits(a, b []float64) (int, bool) {
	if len(a) != len(b) {
		return -1, false
	}
	for j := range a {
		if math.Float64bits(a[j]) != math.Float64bits(b[j]) {
			return j, false
		}
	}
	return 0, true
}

// sameModel reports the first difference between two models' parameters.
func sameModel(a, b *model.Model) error {
	if j, ok := sameBits(a.U, b.U); !ok {
		diff := 0
		for j := range min(len(a.U), len(b.U)) {
			if a.U[j] != b.U[j] {
				diff++
			}
		}
		j = max(j, 0)
		return fmt.Errorf("U differs in %d of %d entries, first U[%d] = %v vs %v", diff, len(a.U), j, a.U[j], b.U[j])
	}
	if _, ok := sameBits(a.Theta0, b.Theta0); !ok {
		return fmt.Errorf("Theta0 differs")
	}
	if len(a.Users) != len(b.Users) {
		return fmt.Errorf("%d vs %d users", len(a.Users), len(b.Users))
	}
	for i := range a.Users {
		ua, ub := &a.Users[i], &b.Users[i]
		_, w := sameBits(ua.W, ub.W)
		_, v := sameBits(ua.Value, ub.Value)
		if ua.ID != ub.ID || !w || !v || fmt.Sprint(ua.Index) != fmt.Sprint(ub.Index) {
			return fmt.Errorf("user %q differs: %+v vs %+v", ua.ID, *ua, *ub)
		}
	}
	return nil
}
