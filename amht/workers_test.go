package amht

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/internal/modeltest"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/pack"
	"github.com/lrsp/lrsp/synth"
)

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
			for _, workers := range modeltest.WorkerCounts() {
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
				if err := modeltest.Diff(first.Model, res.Model); err != nil {
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
		for _, workers := range modeltest.WorkerCounts() {
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
			if err := modeltest.Diff(&a, &b); err != nil {
				t.Errorf("workers 1 vs %d: %v", workers, err)
			}
		}
	})
}

// sameStats reports the first difference between two runs' statistics,
// ignoring the wall times.
func sameStats(a, b *Result) error {
	if a.Stopped != b.Stopped || math.Float64bits(a.TrainLoss) != math.Float64bits(b.TrainLoss) {
		return fmt.Errorf("stopped %s at loss %v vs %s at %v", a.Stopped, a.TrainLoss, b.Stopped, b.TrainLoss)
	}
	return modeltest.DiffRounds(a.Rounds, b.Rounds)
}
