package amht_test

import (
	"context"
	"testing"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/synth"
)

func TestRecoveryScratch(t *testing.T) {
	for _, m := range []int{60, 40} {
		data, err := synth.Generate(synth.Options{Users: 1000, Samples: m, Dim: 100, Rank: 5, Sparsity: 5, Seed: 1})
		ds, truth := data.Train, data.Truth
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []amht.Pursuit{amht.PursuitSwap, amht.PursuitHTP} {
			res, err := amht.Train(context.Background(), ds, nil, amht.Options{Rank: 5, Sparsity: 5, Pursuit: p})
			if err != nil {
				t.Fatal(err)
			}
			rec, err := eval.CompareTruth(res.Model, truth)
			if err != nil {
				t.Fatal(err)
			}
			last := res.Rounds[len(res.Rounds)-1]
			t.Logf("m=%d pursuit=%d rounds=%d stop=%s loss=%.3g s/round=%.3f  %+v", m, p, len(res.Rounds), res.Stopped, last.TrainLoss, last.Seconds, rec)
		}
	}
}
