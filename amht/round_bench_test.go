package amht

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/internal/linalg"

	"github.com/lrsp/lrsp/synth"
)

// BenchmarkRound measures one AMHT-LRS round (per-user solves with the
// fused U-gradient, U update, re-orthonormalization) at the sizes of the
// core issue: t = 10,000 users, d = 200, m = 50, r = 5, k = 5, noise 0.1.
// It reports the bytes of X streamed per second by the per-user pass
// (X-GB/s, counting one pass over X per round), to be compared with
// BenchmarkMemoryRead.
func BenchmarkRound(b *testing.B) {
	benchmarkSize(b, benchUsers, benchSamples)
}

// BenchmarkRoundLarge is BenchmarkRound at the sizes of the speed issue's
// bandwidth figure: t = 100,000 users, d = 200, m = 20 (3.2 GB of X).
func BenchmarkRoundLarge(b *testing.B) {
	benchmarkSize(b, 100000, 20)
}

func benchmarkSize(b *testing.B, users, samples int) {
	data, err := synth.Generate(synth.Options{Users: users, Samples: samples, Dim: benchDim, Rank: 5, Sparsity: 5, Noise: 0.1, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	benchmarkRounds(b, data.Train, "memory")
}

// benchmarkRounds runs BenchmarkRound's sub-benchmarks on src: both U
// updates, with every user searching every round (refresh=1) and with the
// default adaptive schedule of searches (refresh=8).
func benchmarkRounds(b *testing.B, src dataset.Source, name string) {
	var err error
	samples := 0
	for i := 0; i < src.NumUsers(); i++ {
		samples += src.UserLen(i)
	}
	xBytes := float64(samples * src.Dim() * 8)
	for _, upd := range []Update{UpdateCG, UpdateGradient} {
		for _, refresh := range []int{1, 8} {
			b.Run(fmt.Sprintf("source=%s/update=%s/refresh=%d", name, [...]string{"cg", "gradient"}[upd], refresh), func(b *testing.B) {
				opt := (&Options{Rank: 5, Sparsity: 5, Update: upd, Init: InitRandom, Refresh: refresh}).withDefaults()
				tr := newTrainer(src, nil, opt)
				if _, err := tr.stats(); err != nil {
					b.Fatal(err)
				}
				if tr.u, err = tr.initialize(context.Background()); err != nil {
					b.Fatal(err)
				}
				n := 0
				round := func() {
					n++
					if _, err := tr.solveUsers(0, n); err != nil {
						b.Fatal(err)
					}
					grad := append([]float64(nil), tr.total.acc...)
					if _, _, err := tr.trimOutliers(grad); err != nil {
						b.Fatal(err)
					}
					if err := tr.updateU(grad); err != nil {
						b.Fatal(err)
					}
					if err := tr.orthonormalize(); err != nil {
						b.Fatal(err)
					}
				}
				for i := 0; i < 8; i++ { // leave the random start behind
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
}

// BenchmarkMemoryRead measures the machine's sustained memory read
// bandwidth: every worker sums its share of a 1 GiB slice of float64, the
// access pattern of one pass over X. It is the bound that BenchmarkRound's
// X-GB/s is compared with.
func BenchmarkMemoryRead(b *testing.B) {
	x := make([]float64, 1<<27)
	for i := range x {
		x[i] = float64(i & 1023)
	}
	workers := runtime.GOMAXPROCS(0)
	b.SetBytes(int64(8 * len(x)))
	for b.Loop() {
		var wg sync.WaitGroup
		part := len(x) / workers
		sums := make([]float64, workers)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				s0, s1, s2, s3 := 0.0, 0.0, 0.0, 0.0
				v := x[w*part : (w+1)*part]
				for i := 0; i+3 < len(v); i += 4 {
					s0 += v[i]
					s1 += v[i+1]
					s2 += v[i+2]
					s3 += v[i+3]
				}
				sums[w] = s0 + s1 + s2 + s3
			}(w)
		}
		wg.Wait()
		if sums[0] < 0 {
			b.Fatal("impossible sum")
		}
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

// The sizes of BenchmarkRound: the core issue's t = 10,000, d = 200, m = 50.
const (
	benchUsers   = 10000
	benchSamples = 50
	benchDim     = 200
)

// BenchmarkUserSolve measures the arithmetic of one user's solve with its
// samples in cache, at the sizes of the speed issue's bandwidth figure
// (d = 200, m = 20, r = 5, k = 5, noise 0.1, U the true basis), for each
// path a round can take: keep (the support is refitted and kept), search
// (greedy pursuit refined by HTP) and deep (the outlier search). It
// reports each as a multiple of the time that streaming the user's X from
// memory takes at the bandwidth measured by BenchmarkMemoryRead, given in
// GB/s by -membw, with one user per core at a time (x-bound): a round
// cannot be faster than its users' paths, so this is the floor that
// BenchmarkRound is compared with.
func BenchmarkUserSolve(b *testing.B) {
	const d, m, r, k, users = 200, 20, 5, 5, 64
	data, err := synth.Generate(synth.Options{Users: users, Samples: m, Dim: d, Rank: r, Sparsity: k, Noise: 0.1, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	u := make([]float64, d*r)
	for j := 0; j < d; j++ {
		copy(u[j*r:], data.Truth.U[j])
	}
	ut := linalg.TransposeInto(nil, d, r, u)
	s := newSolver(d, r, k, m, PursuitSwap, 0)
	out := userFit{w: make([]float64, r), idx: make([]int32, k), val: make([]float64, k)}
	// The support each user's search finds, for the keep path.
	supp := make([][]int32, users)
	for i := range supp {
		us := &data.Train.Users[i]
		s.solve(us.X, us.Y, ut, 0, false, nil, &out)
		supp[i] = append([]int32(nil), out.idx[:out.nnz]...)
	}
	for _, path := range []string{"keep", "search", "deep"} {
		b.Run("path="+path, func(b *testing.B) {
			kept := 0
			i := 0
			for b.Loop() {
				us := &data.Train.Users[i%users]
				var keep []int32
				if path == "keep" {
					keep = supp[i%users]
				}
				s.solve(us.X, us.Y, ut, 0, path == "deep", keep, &out)
				if s.grad {
					kept++
				}
				i++
			}
			// A round runs GOMAXPROCS users at a time against the whole
			// machine's bandwidth.
			perUser := b.Elapsed().Seconds() / float64(b.N) / float64(runtime.GOMAXPROCS(0))
			b.ReportMetric(perUser/(float64(m*d*8)/(*memBandwidth*1e9)), "x-bound")
			if path == "keep" {
				b.ReportMetric(float64(kept)/float64(b.N), "kept")
			}
		})
	}
}

// memBandwidth is the memory read bandwidth, in GB/s, that
// BenchmarkUserSolve compares with; set it to BenchmarkMemoryRead's result
// on the machine at hand.
var memBandwidth = flag.Float64("membw", 17, "memory read bandwidth in GB/s for BenchmarkUserSolve's x-bound")

// BenchmarkMomentMatrix measures the moment matrix of InitMoments, the
// largest part of the initialisation, at the sizes of issue 15's round
// figure (d = 200, m = 20) on 5,000 users.
func BenchmarkMomentMatrix(b *testing.B) {
	const d = 200
	data, err := synth.Generate(synth.Options{Users: 5000, Samples: 20, Dim: d, Rank: 5, Sparsity: 5, Noise: 0.1, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	tr := newTrainer(data.Train, nil, (&Options{Rank: 5, Sparsity: 5}).withDefaults())
	tr.resize(d * d)
	for b.Loop() {
		if _, err := tr.momentMatrix(); err != nil {
			b.Fatal(err)
		}
	}
}
