package amht

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/pack"
	"github.com/lrsp/lrsp/synth"
)

// sameBits reports whether a and b hold the same float64 values bit for
// bit (so NaN equals NaN), and where they differ first.
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
		return fmt.Errorf("U differs in %d of %d entries, first U[%d] = %v vs %v", diff, len(a.U), j, a.U[max(j, 0)], b.U[max(j, 0)])
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

// sameStats reports the first difference between two runs' statistics,
// ignoring the wall times.
func sameStats(a, b *Result) error {
	if a.Stopped != b.Stopped || len(a.Rounds) != len(b.Rounds) || a.TrainLoss != b.TrainLoss {
		return fmt.Errorf("stopped %q after %d rounds at loss %v vs %q after %d at %v",
			a.Stopped, len(a.Rounds), a.TrainLoss, b.Stopped, len(b.Rounds), b.TrainLoss)
	}
	for k := range a.Rounds {
		ra, rb := a.Rounds[k], b.Rounds[k]
		ra.Seconds, rb.Seconds = 0, 0
		va, vb := math.NaN(), math.NaN()
		if ra.ValidationLoss != nil {
			va = *ra.ValidationLoss
		}
		if rb.ValidationLoss != nil {
			vb = *rb.ValidationLoss
		}
		ra.ValidationLoss, rb.ValidationLoss = nil, nil
		if ra != rb || math.Float64bits(va) != math.Float64bits(vb) {
			return fmt.Errorf("round %d: %+v (validation %v) vs %+v (validation %v)", k+1, ra, va, rb, vb)
		}
	}
	return nil
}

// TestWorkersDeterministic checks that training gives bit-identical models
// and statistics for any number of workers: every parallel sum is reduced
// in an order fixed by the data alone. The chunks are made small so that
// the few users here span many of them.
func TestWorkersDeterministic(t *testing.T) {
	defer func(b int) { chunkBytes = b }(chunkBytes)
	chunkBytes = 4 << 10
	data, err := synth.Generate(synth.Options{Users: 120, Samples: 16, Dim: 10, Rank: 2, Sparsity: 2,
		Noise: 0.05, NewUsers: 30, TestSamples: 4, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "train.lrspd")
	if err := pack.WriteDataset(path, data.Train, pack.Float64); err != nil {
		t.Fatal(err)
	}
	packed, err := pack.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer packed.Close()
	offset := make([]float64, data.Train.Dim())
	for j := range offset {
		offset[j] = 0.1 * float64(j%3)
	}
	tests := []struct {
		name       string
		src        dataset.Source
		validation *dataset.Dataset
		opt        Options
	}{
		{"moments+cg", data.Train, nil, Options{}},
		{"ridge-svd", data.Train, nil, Options{Init: InitRidgeSVD}},
		{"gradient+value", data.Train, nil, Options{Update: UpdateGradient, Threshold: ThresholdValue}},
		{"outliers+offset", data.Train, nil, Options{TrimFactor: 1.2, Offset: offset}},
		{"htp+refresh", data.Train, nil, Options{Pursuit: PursuitHTP, Refresh: 3}},
		{"validation", data.Train, data.Test, Options{Patience: 2}},
		{"packed", packed, nil, Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var first *Result
			for _, workers := range []int{1, 2, 3, 7} {
				opt := tt.opt
				opt.Rank, opt.Sparsity, opt.Rounds, opt.Seed, opt.Workers = 2, 2, 4, 1, workers
				res, err := TrainSource(context.Background(), tt.src, tt.validation, opt)
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
				if err := sameStats(first, res); err != nil {
					t.Errorf("workers 1 vs %d: %v", workers, err)
				}
			}
		})
	}
	t.Run("personalize", func(t *testing.T) {
		res, err := Train(context.Background(), data.Train, nil, Options{Rank: 2, Sparsity: 2, Rounds: 4, Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		var first []model.User
		for _, workers := range []int{1, 2, 3, 7} {
			users, err := Personalize(context.Background(), res.Model, data.New, PersonalizeOptions{Workers: workers})
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = users
				continue
			}
			a, b := *res.Model, *res.Model
			a.Users, b.Users = first, users
			if err := sameModel(&a, &b); err != nil {
				t.Errorf("workers 1 vs %d: %v", workers, err)
			}
		}
	})
}
