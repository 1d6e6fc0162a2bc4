package neural

import (
	"context"
	"fmt"
	"testing"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/internal/modeltest"
	"github.com/lrsp/lrsp/model"
)

// TestWorkersDeterministic checks that training (the network, U or
// theta_0, every user's head, the losses) and Personalize give
// bit-identical results for any number of workers.
func TestWorkersDeterministic(t *testing.T) {
	data, err := Generate(SynthOptions{Users: 40, Samples: 12, Dim: 4, Latent: 3, Rank: 2, Sparsity: 1,
		Noise: 0.1, NewUsers: 10, NewSamples: 8, TestSamples: 6, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	train, held, err := dataset.Split(data.Train, 0.2, 1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opt  Options
		val  bool
	}{
		{"lrs", Options{Rank: 2, Sparsity: 1}, false},
		{"global", Options{Global: true}, false},
		{"dense+validation", Options{Dense: true, Ridge: 0.1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var first *Result
			var firstUsers []model.User
			for _, workers := range modeltest.WorkerCounts() {
				opt := tt.opt
				opt.Hidden, opt.Rounds, opt.Batch, opt.Seed, opt.Workers = []int{6}, 3, 8, 1, workers
				val := held
				if !tt.val {
					val = nil
				}
				res, err := Train(context.Background(), train, val, opt)
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
				if err := modeltest.Diff(first.Model, res.Model); err != nil {
					t.Errorf("workers 1 vs %d: %v", workers, err)
				}
				if err := sameStats(first, res); err != nil {
					t.Errorf("workers 1 vs %d: %v", workers, err)
				}
				a, b := *first.Model, *first.Model
				a.Users, b.Users = firstUsers, users
				if err := modeltest.Diff(&a, &b); err != nil {
					t.Errorf("personalize, workers 1 vs %d: %v", workers, err)
				}
			}
		})
	}
}

// sameStats reports the first difference between two runs' statistics,
// ignoring the wall times.
func sameStats(a, b *Result) error {
	if a.Stopped != b.Stopped {
		return fmt.Errorf("stopped %s vs %s", a.Stopped, b.Stopped)
	}
	return modeltest.DiffRounds(a.Rounds, b.Rounds)
}
