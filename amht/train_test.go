package amht

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/synth"
)

// TestTrimmedGradient checks the U gradient that a round hands to the U
// update against a direct sum over the users that trimOutliers keeps,
// (1/m_i) X_i^T (y_i - X_i theta_i) w_i^T. solveUsers leaves out the users
// over the last round's outlier cut and trimOutliers corrects for the users
// whose status changed, so the check needs rounds in which users cross the
// cut both ways; the test fails unless it saw both.
func TestTrimmedGradient(t *testing.T) {
	prev := chunkBytes
	chunkBytes = 1 << 12 // many chunks, so that a correction reads few of them
	defer func() { chunkBytes = prev }()
	data, err := synth.Generate(synth.Options{Users: 300, Samples: 14, Dim: 30, Rank: 3, Sparsity: 3, Noise: 0.3, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	ds := data.Train
	opt := (&Options{Rank: 3, Sparsity: 3, Update: UpdateGradient, TrimFactor: 1.5, Refresh: 2}).withDefaults()
	tr := newTrainer(ds, nil, opt)
	if _, err := tr.stats(); err != nil {
		t.Fatal(err)
	}
	if tr.u, err = tr.initialize(context.Background()); err != nil {
		t.Fatal(err)
	}
	d, r := tr.d, tr.r
	added, removed := 0, 0
	for round := 1; round <= 12; round++ {
		if _, err := tr.solveUsers(0, round); err != nil {
			t.Fatal(err)
		}
		grad := append([]float64(nil), tr.total.acc...)
		left := append([]bool(nil), tr.left...)
		if _, _, err := tr.trimOutliers(grad); err != nil {
			t.Fatal(err)
		}
		want := make([]float64, d*r)
		scale := 0.0
		for i, u := range ds.Users {
			if left[i] && !tr.skip[i] {
				added++
			}
			if !left[i] && tr.skip[i] {
				removed++
			}
			if tr.skip[i] {
				continue
			}
			w, idx, val := tr.p.user(i)
			theta := make([]float64, d)
			for j := 0; j < d; j++ {
				for c := 0; c < r; c++ {
					theta[j] += tr.u[j*r+c] * w[c]
				}
			}
			for q, j := range idx {
				theta[j] += val[q]
			}
			m := u.Len()
			for s := 0; s < m; s++ {
				e := u.Y[s]
				for j := 0; j < d; j++ {
					e -= u.X[s*d+j] * theta[j]
				}
				for j := 0; j < d; j++ {
					for c := 0; c < r; c++ {
						v := u.X[s*d+j] * e * w[c] / float64(m)
						want[j*r+c] += v
						scale += math.Abs(v)
					}
				}
			}
		}
		for j := range want {
			if math.Abs(grad[j]-want[j]) > 1e-12*scale {
				t.Fatalf("round %d: gradient entry %d = %v, direct sum %v", round, j, grad[j], want[j])
			}
		}
		if err := tr.updateU(grad); err != nil {
			t.Fatal(err)
		}
		if err := tr.orthonormalize(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("users added back %d, removed %d", added, removed)
	if added == 0 || removed == 0 {
		t.Errorf("no user crossed the outlier cut both ways (added back %d, removed %d): the test checks nothing", added, removed)
	}
}

// TestSubsampledMoments checks that InitMoments from a subset of the
// chunks (as for data sets above momentWork) still starts a training run
// that recovers noiseless data exactly, and that it reads only that subset.
func TestSubsampledMoments(t *testing.T) {
	prevChunk, prevWork := chunkBytes, momentWork
	chunkBytes, momentWork = 1<<13, 2e6 // 300 users x 30 x 40^2 = 1.44e7: every 8th chunk
	defer func() { chunkBytes, momentWork = prevChunk, prevWork }()
	data, err := synth.Generate(synth.Options{Users: 300, Samples: 30, Dim: 40, Rank: 3, Sparsity: 3, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	var read atomic.Int64
	src := countingSource{data.Train, &read}
	opt := (&Options{Rank: 3, Sparsity: 3}).withDefaults()
	tr := newTrainer(src, nil, opt)
	if _, err := tr.stats(); err != nil {
		t.Fatal(err)
	}
	read.Store(0)
	if tr.u, err = tr.initialize(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := read.Load(); n == 0 || n > 300/7 {
		t.Errorf("the moments read %d of 300 users, want about 300/8", n)
	}
	res, err := TrainSource(context.Background(), src, nil, Options{Rank: 3, Sparsity: 3})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := eval.CompareTruth(res.Model, data.Truth)
	if err != nil {
		t.Fatal(err)
	}
	if rec.ParamError > 1e-8 || rec.SupportRecovered != 1 {
		t.Errorf("after %d rounds: %+v", len(res.Rounds), rec)
	}
}

// countingSource counts the users that Scan reads.
type countingSource struct {
	*dataset.Dataset
	n *atomic.Int64
}

func (s countingSource) Scan(lo, hi int, sc *dataset.Scratch, fn func(i int, x, y []float64) error) error {
	s.n.Add(int64(hi - lo))
	return s.Dataset.Scan(lo, hi, sc, fn)
}

// TestRoundStatsCountSearches checks RoundStats.Searched and Deep: every
// user searches in rounds 1 and 2 (the schedule's first gap is one round),
// fewer once supports settle, none without a sparse part, and deep
// searches are a subset of the searches.
func TestRoundStatsCountSearches(t *testing.T) {
	const users = 300
	data, err := synth.Generate(synth.Options{Users: users, Samples: 30, Dim: 30, Rank: 3, Sparsity: 3, Noise: 0.05, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		sparsity int
	}{{"sparse", 3}, {"low rank only", 0}} {
		t.Run(c.name, func(t *testing.T) {
			res, err := Train(context.Background(), data.Train, nil, Options{Rank: 3, Sparsity: c.sparsity, Rounds: 10, Tolerance: 0, Update: UpdateGradient})
			if err != nil {
				t.Fatal(err)
			}
			fewer := false
			for _, st := range res.Rounds {
				if st.Deep > st.Searched || st.Searched > users {
					t.Errorf("round %d: %d deep of %d searched, %d users", st.Round, st.Deep, st.Searched, users)
				}
				switch {
				case c.sparsity == 0 && st.Searched != 0:
					t.Errorf("round %d: %d searched without a sparse part", st.Round, st.Searched)
				case c.sparsity > 0 && st.Round <= 2 && st.Searched != users:
					t.Errorf("round %d: %d searched, want all %d", st.Round, st.Searched, users)
				case c.sparsity > 0 && st.Round > 2 && st.Searched < users:
					fewer = true
				}
			}
			if c.sparsity > 0 && !fewer {
				t.Errorf("every round searched every user: %+v", res.Rounds)
			}
		})
	}
}

// TestMomentMatrix checks the moment matrix of InitMoments, whose upper
// triangle is summed by blocks of rows and mirrored, against the direct
// sum (1/t) sum_i (1/m_i) sum_s y_is^2 x_is x_is^T, for dimensions around
// the block size, and that it is exactly symmetric.
func TestMomentMatrix(t *testing.T) {
	for _, d := range []int{1, 5, momentBlock, momentBlock + 1, 2*momentBlock + 3} {
		data, err := synth.Generate(synth.Options{Users: 40, Samples: 7, Dim: d, Rank: 1, Sparsity: 1, Noise: 0.1, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		ds := data.Train
		tr := newTrainer(ds, nil, (&Options{Rank: 1, Sparsity: 1}).withDefaults())
		tr.resize(d * d)
		got, err := tr.momentMatrix()
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float64, d*d)
		users := float64(len(ds.Users))
		for _, u := range ds.Users {
			m := float64(len(u.Y))
			for s, y := range u.Y {
				x := u.X[s*d : (s+1)*d]
				for j := range d {
					for k := range d {
						want[j*d+k] += y * y * x[j] * x[k] / (m * users)
					}
				}
			}
		}
		scale := 0.0
		for j := range d {
			scale = max(scale, want[j*d+j])
		}
		for j := range d {
			for k := range d {
				if got[j*d+k] != got[k*d+j] {
					t.Errorf("d=%d: M[%d][%d] = %v but M[%d][%d] = %v", d, j, k, got[j*d+k], k, j, got[k*d+j])
				}
				if e := math.Abs(got[j*d+k] - want[j*d+k]); e > 1e-13*scale {
					t.Errorf("d=%d: M[%d][%d] = %v, want %v", d, j, k, got[j*d+k], want[j*d+k])
				}
			}
		}
	}
}

// TestFinalProgressAndCancel checks Options.FinalProgress (from 0 to every
// user, in order) and that cancelling the context stops the final
// per-user solves between chunks, not after them.
func TestFinalProgressAndCancel(t *testing.T) {
	prev := chunkBytes
	chunkBytes = 1 << 12 // many chunks
	defer func() { chunkBytes = prev }()
	const users = 400
	data, err := synth.Generate(synth.Options{Users: users, Samples: 20, Dim: 20, Rank: 2, Sparsity: 2, Noise: 0.1, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	var calls []int
	res, err := Train(context.Background(), data.Train, nil, Options{Rank: 2, Sparsity: 2, Rounds: 2,
		FinalProgress: func(done, n int) {
			if n != users {
				t.Errorf("FinalProgress(%d, %d): want %d users", done, n, users)
			}
			calls = append(calls, done)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) < 3 || calls[0] != 0 || calls[len(calls)-1] != users || !slices.IsSorted(calls) {
		t.Errorf("FinalProgress calls %v: want 0, increasing, ..., %d", calls, users)
	}
	if res.Timing.SetupSeconds <= 0 || res.Timing.FinalSeconds <= 0 {
		t.Errorf("timing %+v: want both parts positive", res.Timing)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	last := 0
	_, err = Train(ctx, data.Train, nil, Options{Rank: 2, Sparsity: 2, Rounds: 2,
		FinalProgress: func(done, _ int) {
			last = done
			if done > 0 {
				cancel()
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled in the final pass: err %v, want context.Canceled", err)
	}
	if last >= users {
		t.Errorf("the final pass ran to the end (%d users) after the cancel", last)
	}
}
