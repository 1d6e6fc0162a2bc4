package amht

import (
	"flag"
	"os"
	"testing"
	"unsafe"

	"github.com/lrsp/lrsp/pack"
)

// packedPath names the packed data file of BenchmarkRoundPacked and
// BenchmarkPackedPass, for example issue 15's 30,000 users (lrsp synth
// --users 30000 --samples 20 --dim 200 --rank 5 --sparsity 5 --noise 0.1
// --precision float32 --out x.lrspd).
var packedPath = flag.String("packed", "", "packed data file for BenchmarkRoundPacked and BenchmarkPackedPass")

// BenchmarkRoundPacked is BenchmarkRound on the packed file named by
// -packed, streamed from disk (the page cache once warm) as lrsp train
// streams it. Compare with BenchmarkPackedPass on the same file.
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

// BenchmarkPackedPass is the floor that issue 15 measures a round
// against: one pass over as many bytes as the data section of the -packed
// file holds (float32 features, float64 targets), in memory, on one core.
// It adds the bytes as 64-bit words in four chains, so that the loop is
// bound by memory, not by the latency of the additions.
func BenchmarkPackedPass(b *testing.B) {
	if *packedPath == "" {
		b.Skip("no -packed file")
	}
	p, err := pack.Open(*packedPath)
	if err != nil {
		b.Fatal(err)
	}
	n := p.DataBytes() / 8
	p.Close()
	raw, err := os.ReadFile(*packedPath)
	if err != nil {
		b.Fatal(err)
	}
	x := make([]uint64, n)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 8*n), raw)
	raw = nil
	b.SetBytes(8 * n)
	var sink uint64
	for b.Loop() {
		var s0, s1, s2, s3 uint64
		for i := 0; i+3 < len(x); i += 4 {
			s0 += x[i]
			s1 += x[i+1]
			s2 += x[i+2]
			s3 += x[i+3]
		}
		sink += s0 ^ s1 ^ s2 ^ s3
	}
	if sink == 1 {
		b.Log(sink)
	}
}
