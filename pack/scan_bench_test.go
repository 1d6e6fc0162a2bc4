package pack_test

import (
	"flag"
	"testing"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/pack"
	"github.com/lrsp/lrsp/synth"
)

var packedPath = flag.String("packed", "", "packed data file for BenchmarkScan (default: a generated 16 MB float32 file)")

// BenchmarkScan is one pass over every user of a packed file, as a round
// of training makes it (one Scan per 1 MB of float64 features, as package
// amht hands users to its workers), through the memory map and with
// ReadAt: reading, checksums and decoding, with a callback that reads
// one feature of each user. In the open=each variants every pass opens the file, so
// that a mapped pass also pays for mapping the pages.
func BenchmarkScan(b *testing.B) {
	path := *packedPath
	if path == "" {
		data, err := synth.Generate(synth.Options{Users: 1000, Samples: 20, Dim: 200, Rank: 2, Sparsity: 2, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		path = write(b, data.Train, pack.Float32)
	}
	for _, tc := range []struct {
		name string
		open func(string) (*pack.File, error)
	}{{"mapped", pack.Open}, {"readat", pack.OpenReadAt}} {
		for _, each := range []bool{false, true} {
			name := "read=" + tc.name + "/open=once"
			if each {
				name = "read=" + tc.name + "/open=each"
			}
			b.Run(name, func(b *testing.B) {
				p, err := tc.open(path)
				if err != nil {
					b.Fatal(err)
				}
				defer func() { p.Close() }()
				b.SetBytes(p.DataBytes())
				chunks, size := []int{0}, 0
				for i := range p.NumUsers() {
					size += 8 * p.UserLen(i) * p.Dim()
					if size >= 1<<20 || i == p.NumUsers()-1 {
						chunks, size = append(chunks, i+1), 0
					}
				}
				var sc dataset.Scratch
				var sink float64
				for b.Loop() {
					if each {
						p.Close()
						if p, err = tc.open(path); err != nil {
							b.Fatal(err)
						}
					}
					for c := 0; c+1 < len(chunks); c++ {
						err := p.Scan(chunks[c], chunks[c+1], &sc, func(_ int, x, _ []float64) error {
							sink += x[len(x)-1]
							return nil
						})
						if err != nil {
							b.Fatal(err)
						}
					}
				}
				if sink == 0.5 {
					b.Log(sink)
				}
			})
		}
	}
}
