package amht

import (
	"context"
	"fmt"
	"testing"

	"github.com/lrsp/lrsp/synth"
)

// BenchmarkRound measures one AMHT-LRS round (per-user solves with the
// fused U-gradient, U update, re-orthonormalization) at the sizes of the
// core issue: t = 10,000 users, d = 200, m = 50, r = 5, k = 5, noise 0.1.
// It reports the bytes of X streamed per second by the per-user pass
// (X-GB/s, counting one pass over X per round).
func BenchmarkRound(b *testing.B) {
	data, err := synth.Generate(synth.Options{Users: 10000, Samples: 50, Dim: 200, Rank: 5, Sparsity: 5, Noise: 0.1, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	xBytes := float64(data.Train.Samples() * data.Train.Dim() * 8)
	for _, upd := range []Update{UpdateCG, UpdateGradient} {
		b.Run(fmt.Sprintf("update=%s", [...]string{"cg", "gradient"}[upd]), func(b *testing.B) {
			opt := (&Options{Rank: 5, Sparsity: 5, Update: upd, Init: InitRandom}).withDefaults()
			tr := newTrainer(data.Train, nil, opt)
			if _, err := tr.stats(); err != nil {
				b.Fatal(err)
			}
			if tr.u, err = tr.initialize(context.Background()); err != nil {
				b.Fatal(err)
			}
			round := func() {
				if _, err := tr.solveUsers(0); err != nil {
					b.Fatal(err)
				}
				grad := append([]float64(nil), tr.work[0].acc...)
				if _, err := tr.trimOutliers(grad); err != nil {
					b.Fatal(err)
				}
				if err := tr.updateU(grad); err != nil {
					b.Fatal(err)
				}
				if err := tr.orthonormalize(); err != nil {
					b.Fatal(err)
				}
			}
			for i := 0; i < 3; i++ { // leave the random start behind
				round()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				round()
			}
			b.ReportMetric(xBytes*float64(b.N)/b.Elapsed().Seconds()/1e9, "X-GB/s")
		})
	}
}

// BenchmarkTrain measures a whole training run on the recovery problem of
// the core issue (t = 1000, d = 100, r = 5, k = 5, m = 40, noiseless).
func BenchmarkTrain(b *testing.B) {
	data, err := synth.Generate(synth.Options{Users: 1000, Samples: 40, Dim: 100, Rank: 5, Sparsity: 5, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Train(context.Background(), data.Train, nil, Options{Rank: 5, Sparsity: 5}); err != nil {
			b.Fatal(err)
		}
	}
}
