package baseline

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/lrsp/lrsp/amht"
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
			for _, workers := range []int{1, 2, 3, 7} {
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
				if err := sameModel(first, m); err != nil {
					t.Errorf("workers 1 vs %d: %v", workers, err)
				}
				a, b := *first, *first
				a.Users, b.Users = firstUsers, users
				if err := sameModel(&a, &b); err != nil {
					t.Errorf("personalize, workers 1 vs %d: %v", workers, err)
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
