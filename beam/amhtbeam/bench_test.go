package amhtbeam

import (
	"context"
	"fmt"
	"testing"

	"github.com/lrsp/lrsp/synth"
)

// BenchmarkRound times one round pass (per-user fits, combined U-update
// statistics) on the in-process engine and on Prism, for two numbers of
// users, so that Prism's fixed cost per round and its cost per user can be
// read off: fixed = prism - in-process at equal users; per user = the
// slope of (prism - in-process) between the two sizes. ns/user is the
// time per round divided by the number of users.
func BenchmarkRound(b *testing.B) {
	for _, users := range []int{100, 800} {
		data, err := synth.Generate(synth.Options{Users: users, Samples: 40, Dim: 20, Rank: 2, Sparsity: 2, Seed: 7})
		if err != nil {
			b.Fatal(err)
		}
		recs, err := RecordsOf(data.Train)
		if err != nil {
			b.Fatal(err)
		}
		u := randomBasis(20, 2, 1)
		pass := Pass{Round: 1, Config: StepConfig{Kind: passRound, D: 20, R: 2, K: 2}, State: State{U: u}}
		dir := b.TempDir()
		engines := []Engine{&InProcess{Source: data.Train}, &Pipeline{Records: recs, TempDir: dir}}
		for _, e := range engines {
			name := "in-process"
			if _, ok := e.(*Pipeline); ok {
				name = "prism"
			}
			b.Run(fmt.Sprintf("engine=%s/users=%d", name, users), func(b *testing.B) {
				for b.Loop() {
					if _, _, err := e.Run(context.Background(), pass); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(users), "ns/user")
			})
		}
	}
}
