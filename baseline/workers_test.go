package baseline

import (
	"context"
	"testing"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/internal/modeltest"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/synth"
)

// TestWorkersDeterministic checks that every method gives a bit-identical
// model, and Personalize bit-identical users, for any number of workers.
// The data (1.25 MB) span two of amht's chunks, so that the amht-based
// methods sum partial results across workers.
func TestWorkersDeterministic(t *testing.T) {
	data, err := synth.Generate(synth.Options{Users: 300, Samples: 40, Dim: 12, Rank: 2, Sparsity: 2,
		Noise: 0.1, NewUsers: 20, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	tests := []Options{
		{Method: model.MethodLRS, Rank: 2, Sparsity: 2, Center: true},
		{Method: model.MethodLowRank, Rank: 2},
		{Method: model.MethodGlobal},
		{Method: model.MethodLocal, Ridge: 0.1},
		{Method: model.MethodFinetune, Ridge: 0.1},
		{Method: model.MethodGlobalSparse, Sparsity: 2},
	}
	for _, tt := range tests {
		t.Run(tt.Method, func(t *testing.T) {
			var first *model.Model
			var firstUsers []model.User
			for _, workers := range modeltest.WorkerCounts() {
				opt := tt
				opt.AMHT = amht.Options{Rounds: 3, Seed: 1, Workers: workers, Pursuit: amht.PursuitGreedy}
				m, err := Train(context.Background(), data.Train, nil, opt)
				if err != nil {
					t.Fatal(err)
				}
				if first == nil {
					first = m
				}
				users, err := personalize(context.Background(), first, data.New)
				if err != nil {
					t.Fatal(err)
				}
				if firstUsers == nil {
					firstUsers = users
					continue
				}
				if err := modeltest.Diff(first, m); err != nil {
					t.Errorf("workers 1 vs %d: %v", workers, err)
				}
				a, b := *first, *first
				a.Users, b.Users = firstUsers, users
				if err := modeltest.Diff(&a, &b); err != nil {
					t.Errorf("personalize, workers 1 vs %d: %v", workers, err)
				}
			}
		})
	}
}
