package logistic

import (
	"context"
	"fmt"
	"testing"

	"github.com/lrsp/lrsp/internal/modeltest"
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
			for _, workers := range modeltest.WorkerCounts() {
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
