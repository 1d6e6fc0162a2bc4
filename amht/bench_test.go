package amht_test

import (
	"context"
	"testing"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/synth"
)

func BenchmarkDemoTrain(b *testing.B) {
	data, err := synth.Generate(synth.Options{Users: 1000, Samples: 50, Dim: 100, Rank: 5, Sparsity: 5, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := amht.Train(context.Background(), data.Train, nil, amht.Options{Rank: 5, Sparsity: 5}); err != nil {
			b.Fatal(err)
		}
	}
}
