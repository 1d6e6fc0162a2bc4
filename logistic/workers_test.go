package logistic

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/synth"
)

// TestWorkersDeterministic checks that training and Personalize give
// bit-identical models and statistics for any number of workers.
func TestWorkersDeterministic(t *testing.T) {
	data, err := Generate(synth.Options{Users: 100, Samples: 24, Dim: 8, Rank: 2, Sparsity: 1,
		NewUsers: 20, TestSamples: 8, Seed: 3}, 1.5)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opt  Options
		val  bool
	}{
		{"moments", Options{}, false},
		{"random", Options{Init: InitRandom}, false},
		{"center+validation", Options{Center: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var first *Result
			var firstUsers []model.User
			for _, workers := range []int{1, 2, 3, 7} {
				opt := tt.opt
				opt.Rank, opt.Sparsity, opt.Rounds, opt.Seed, opt.Workers = 2, 1, 4, 1, workers
				val := data.Test
				if !tt.val {
					val = nil
				}
				res, err := Train(context.Background(), data.Train, val, opt)
				if err != nil {
					t.Fatal(err)
				}
				if first == nil {
					first = res
				}
				// Personalize with the same model for every worker count.
				users, err := Personalize(context.Background(), first.Model, data.New, PersonalizeOptions{Workers: workers})
				if err != nil {
					t.Fatal(err)
				}
				if firstUsers == nil {
					firstUsers = users
					continue
				}
				if err := sameModel(first.Model, res.Model); err != nil {
					t.Errorf("workers 1 vs %d: %v", workers, err)
				}
				if err := sameStats(first, res); err != nil {
					t.Errorf("workers 1 vs %d: %v", workers, err)
				}
				a, b := *first.Model, *first.Model
				a.Users, b.Users = firstUsers, users
				if err := sameModel(&a, &b); err != nil {
					t.Errorf("personalize, workers 1 vs %d: %v", workers, err)
				}
			}
		})
	}
}

// sameStats reports the first difference between two runs' statistics,
// ignoring the wall times.
func sameStats(a, b *Result) error {
	if a.Stopped != b.Stopped || len(a.Rounds) != len(b.Rounds) {
		return fmt.Errorf("stopped %q after %d rounds vs %q after %d", a.Stopped, len(a.Rounds), b.Stopped, len(b.Rounds))
	}
	for k := range a.Rounds {
		ra, rb := a.Rounds[k], b.Rounds[k]
		va, vb := math.NaN(), math.NaN()
		if ra.ValidationLoss != nil {
			va = *ra.ValidationLoss
		}
		if rb.ValidationLoss != nil {
			vb = *rb.ValidationLoss
		}
		if math.Float64bits(ra.TrainLoss) != math.Float64bits(rb.TrainLoss) || math.Float64bits(va) != math.Float64bits(vb) {
			return fmt.Errorf("round %d: train loss %v, validation %v vs %v, %v", k+1, ra.TrainLoss, va, rb.TrainLoss, vb)
		}
	}
	return nil
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
