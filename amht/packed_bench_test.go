package amht

import (
	"flag"
	"testing"

	"github.com/lrsp/lrsp/pack"
)

var packedPath = flag.String("packed", "", "packed data file for BenchmarkRoundPacked")

func BenchmarkRoundPacked(b *testing.B) {
	if *packedPath == "" {
		b.Skip("no -packed file")
	}
	p, err := pack.Open(*packedPath)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	benchmarkRounds(b, p, "packed")
}
