package amht

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lrsp/lrsp/internal/linalg"
	"github.com/lrsp/lrsp/internal/vec"
	"github.com/lrsp/lrsp/synth"
)

// searchCase is one user population for the search tests: synthetic users
// and the basis they are solved with, the true one or a perturbed one (as
// in the rounds before training converges).
type searchCase struct {
	name          string
	d, m, r, k    int
	noise, ridge  float64
	perturb       float64 // relative size of the perturbation of U
	minAbs        float64
	pursuit       Pursuit
	users         int
	deep, keepRun bool // the solve's deep flag; keepRun also solves with the support found kept
}

var searchCases = []searchCase{
	{name: "deep d=200 m=20", d: 200, m: 20, r: 5, k: 5, noise: 0.1, users: 40, deep: true},
	{name: "deep noiseless", d: 60, m: 24, r: 3, k: 4, users: 40, deep: true},
	{name: "deep perturbed U", d: 80, m: 30, r: 4, k: 6, noise: 0.05, perturb: 0.3, users: 40, deep: true},
	{name: "deep ridge", d: 50, m: 20, r: 3, k: 4, noise: 0.1, ridge: 0.05, users: 30, deep: true},
	{name: "deep value threshold", d: 60, m: 25, r: 3, k: 5, noise: 0.1, minAbs: 0.3, users: 30, deep: true},
	{name: "deep few samples", d: 40, m: 9, r: 3, k: 5, noise: 0.1, users: 30, deep: true},
	{name: "deep rank 0", d: 40, m: 16, r: 0, k: 4, noise: 0.1, users: 30, deep: true},
	{name: "search", d: 100, m: 20, r: 5, k: 5, noise: 0.1, perturb: 0.2, users: 40, keepRun: true},
	{name: "htp", d: 100, m: 30, r: 5, k: 5, noise: 0.1, pursuit: PursuitHTP, users: 30},
	{name: "greedy deep", d: 100, m: 20, r: 5, k: 5, noise: 0.1, pursuit: PursuitGreedy, users: 30, deep: true},
}

// searchUsers generates c's users and the transposed basis that they are
// solved with.
func searchUsers(t testing.TB, c searchCase) (*synth.Data, []float64) {
	t.Helper()
	data, err := synth.Generate(synth.Options{Users: c.users, Samples: c.m, Dim: c.d, Rank: max(c.r, 1), Sparsity: c.k, Noise: c.noise, Seed: uint64(c.d*1000 + c.m)})
	if err != nil {
		t.Fatal(err)
	}
	u := make([]float64, c.d*c.r)
	rng := rand.New(rand.NewPCG(uint64(c.d), 9))
	for j := 0; j < c.d; j++ {
		for a := 0; a < c.r; a++ {
			u[j*c.r+a] = data.Truth.U[j][a] + c.perturb*rng.NormFloat64()/math.Sqrt(float64(c.d))
		}
	}
	if c.r > 0 {
		if _, ok := linalg.ThinQR(c.d, c.r, u); !ok {
			t.Fatal("perturbed basis is rank-deficient")
		}
	}
	return data, linalg.TransposeInto(nil, c.d, c.r, u)
}

// TestIncrementalSearchMatchesRefactoring checks that the search with
// incremental factor updates, pruning and the optima of the deep search
// finds, user by user, the support that the search refactoring every
// candidate's system finds (the search before them, kept as the solver's
// refactor mode), with the same coefficients and residual to 1e-10
// relative, whenever the budget of the deep search did not bind.
func TestIncrementalSearchMatchesRefactoring(t *testing.T) {
	for _, c := range searchCases {
		t.Run(c.name, func(t *testing.T) {
			data, ut := searchUsers(t, c)
			fast := newSolver(c.d, c.r, c.k, c.m, c.pursuit, c.ridge) // the default budget
			ref := newSolver(c.d, c.r, c.k, c.m, c.pursuit, c.ridge)
			ref.refactor, ref.deepFits = true, -1
			newFit := func() userFit {
				return userFit{w: make([]float64, c.r), idx: make([]int32, c.k), val: make([]float64, c.k)}
			}
			a, b := newFit(), newFit()
			for i := range data.Train.Users {
				us := &data.Train.Users[i]
				runs := [][]int32{nil}
				for _, keep := range runs {
					fast.solve(us.X, us.Y, ut, c.minAbs, c.deep, keep, &a)
					ref.solve(us.X, us.Y, ut, c.minAbs, c.deep, keep, &b)
					if fast.capped {
						// The default budget is meant not to bind on
						// such users: report it rather than skip them.
						t.Errorf("user %d: the default budget of %d fits ended the search", i, fast.budget)
						continue
					}
					compareFits(t, i, keep != nil, &a, &b)
					if fast.grad != ref.grad {
						t.Errorf("user %d: kept %v, refactoring kept %v", i, fast.grad, ref.grad)
					}
					if c.keepRun && keep == nil {
						runs = append(runs, append([]int32(nil), b.idx[:b.nnz]...))
					}
				}
			}
		})
	}
}

func compareFits(t *testing.T, i int, keep bool, a, b *userFit) {
	t.Helper()
	if !slices.Equal(a.idx[:a.nnz], b.idx[:b.nnz]) {
		t.Errorf("user %d (keep %v): support %v, refactoring found %v", i, keep, a.idx[:a.nnz], b.idx[:b.nnz])
		return
	}
	scale := 0.0
	for _, v := range slices.Concat(b.w, b.val[:b.nnz]) {
		scale = max(scale, math.Abs(v))
	}
	const tol = 1e-10
	for p := range a.w {
		if math.Abs(a.w[p]-b.w[p]) > tol*max(scale, 1e-300) {
			t.Errorf("user %d (keep %v): w[%d] = %v, refactoring %v", i, keep, p, a.w[p], b.w[p])
		}
	}
	for p := range a.val[:a.nnz] {
		if math.Abs(a.val[p]-b.val[p]) > tol*max(scale, 1e-300) {
			t.Errorf("user %d (keep %v): b[%d] = %v, refactoring %v", i, keep, a.idx[p], a.val[p], b.val[p])
		}
	}
	if math.Abs(a.rss-b.rss) > tol*b.rss+1e-20 {
		t.Errorf("user %d (keep %v): rss %v, refactoring %v", i, keep, a.rss, b.rss)
	}
}

// TestDeepFitsBudget checks Options.DeepFits: the default does not bind on
// typical users (noise 0.1 to 0.5, r and k from 3 to 10, the true or a
// perturbed U), a small budget bounds the fits of every user's deep search
// up to one restart's growth and refinement, and a search that the budget
// ended is still at least as good as the ordinary search: its first
// restart, which always runs, starts where that search starts and only
// adds exchanges.
func TestDeepFitsBudget(t *testing.T) {
	cases := []searchCase{
		{name: "d=200 m=20 r=k=5", d: 200, m: 20, r: 5, k: 5, noise: 0.1, users: 150},
		{name: "perturbed U", d: 100, m: 20, r: 5, k: 5, noise: 0.1, perturb: 0.2, users: 150},
		{name: "r=k=10", d: 100, m: 50, r: 10, k: 10, noise: 0.1, users: 60},
		{name: "noise 0.5 r=k=3", d: 100, m: 40, r: 3, k: 3, noise: 0.5, users: 150},
		{name: "k=10 m=30", d: 100, m: 30, r: 5, k: 10, noise: 0.1, users: 60},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data, ut := searchUsers(t, c)
			s := newSolver(c.d, c.r, c.k, c.m, PursuitSwap, 0)
			out := userFit{w: make([]float64, c.r), idx: make([]int32, c.k), val: make([]float64, c.k)}
			most := 0
			for i := range data.Train.Users {
				us := &data.Train.Users[i]
				s.deepFits = 0
				s.solve(us.X, us.Y, ut, 0, true, nil, &out)
				if s.capped {
					t.Errorf("user %d: the default budget of %d fits bound", i, s.budget)
				}
				most = max(most, s.fits)
				const small = 40
				s.deepFits = small
				s.solve(us.X, us.Y, ut, 0, true, nil, &out)
				capped := out.rss
				if limit := small + s.kEff + 16; s.fits > limit {
					t.Errorf("user %d: %d fits with a budget of %d, want at most %d", i, s.fits, small, limit)
				}
				s.solve(us.X, us.Y, ut, 0, false, nil, &out)
				if capped > out.rss*(1+1e-9) {
					t.Errorf("user %d: capped deep search rss %v above the ordinary search's %v", i, capped, out.rss)
				}
			}
			t.Logf("at most %d fits per user (default budget %d)", most, defaultDeepFits*c.k)
		})
	}
}

// BenchmarkFinalPass measures the deep search of the final per-user pass
// as Train runs it: users of the d = 100, m = 20, r = k = 5, noise 0.1
// population refitted with the deep search to a U trained for 5 rounds
// (not the true U, which makes the search easier than it is in
// practice). It reports the fits (candidate supports) per user, and the
// time per user.
func BenchmarkFinalPass(b *testing.B) {
	const d, m, r, k, users = 100, 20, 5, 5, 2000
	data, err := synth.Generate(synth.Options{Users: users, Samples: m, Dim: d, Rank: r, Sparsity: k, Noise: 0.1, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	res, err := Train(context.Background(), data.Train, nil, Options{Rank: r, Sparsity: k, Rounds: 5, Tolerance: 0})
	if err != nil {
		b.Fatal(err)
	}
	ut := linalg.TransposeInto(nil, d, r, res.Model.U)
	for _, mode := range []struct {
		name     string
		refactor bool
	}{{"incremental", false}, {"refactoring", true}} {
		b.Run("search="+mode.name, func(b *testing.B) {
			s := newSolver(d, r, k, m, PursuitSwap, 0)
			s.refactor = mode.refactor
			out := userFit{w: make([]float64, r), idx: make([]int32, k), val: make([]float64, k)}
			fits, i := 0, 0
			for b.Loop() {
				us := &data.Train.Users[i%users]
				s.solve(us.X, us.Y, ut, 0, true, nil, &out)
				fits += s.fits
				i++
			}
			b.ReportMetric(float64(fits)/float64(b.N), "fits/user")
		})
	}
}

// BenchmarkFinalSearch measures what the final per-user pass's deep search
// buys over cheaper searches, to the same U: on populations of d = 100 or
// 200, m = 20 to 60, r = k = 5, noise 0.1 (1000 users each), U trained to
// convergence (at most 40 rounds, tolerance 1e-4), then every user fitted
// by the deep search (as the final pass does), by the ordinary search
// (greedy pursuit and HTP, as the rounds do), and by the deep search
// bounded to DeepFits of 50 per unit of the support bound. It reports the
// mean squared parameter error against the truth (param-err, what the
// final pass is for), the training MSE and the time per user.
//
//	go test ./amht -run '^$' -bench FinalSearch -benchtime 1x
func BenchmarkFinalSearch(b *testing.B) {
	for _, c := range []struct{ d, m int }{{100, 20}, {200, 20}, {100, 30}, {100, 40}, {100, 60}} {
		const r, k, users = 5, 5, 1000
		data, err := synth.Generate(synth.Options{Users: users, Samples: c.m, Dim: c.d, Rank: r, Sparsity: k, Noise: 0.1, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		res, err := Train(context.Background(), data.Train, nil, Options{Rank: r, Sparsity: k, Rounds: 40, Tolerance: 1e-4})
		if err != nil {
			b.Fatal(err)
		}
		ut := linalg.TransposeInto(nil, c.d, r, res.Model.U)
		for _, p := range []struct {
			name     string
			deep     bool
			deepFits int
		}{{"deep", true, 0}, {"ordinary", false, 0}, {"deep-bounded-50", true, 50 * k}} {
			b.Run(fmt.Sprintf("d=%d/m=%d/search=%s", c.d, c.m, p.name), func(b *testing.B) {
				s := newSolver(c.d, r, k, c.m, PursuitSwap, 0)
				s.deepFits = p.deepFits
				out := userFit{w: make([]float64, r), idx: make([]int32, k), val: make([]float64, k)}
				var perr, mse float64
				for b.Loop() {
					perr, mse = 0, 0
					for i := range data.Train.Users {
						us := &data.Train.Users[i]
						s.solve(us.X, us.Y, ut, 0, p.deep, nil, &out)
						mse += out.rss / float64(c.m)
						theta := make([]float64, c.d)
						for j := range theta {
							theta[j] = vec.Dot(res.Model.U[j*r:(j+1)*r], out.w)
						}
						for q := range out.nnz {
							theta[out.idx[q]] += out.val[q]
						}
						truth, err := data.Truth.Theta(us.ID)
						if err != nil {
							b.Fatal(err)
						}
						for j, v := range truth {
							perr += (theta[j] - v) * (theta[j] - v)
						}
					}
				}
				b.ReportMetric(perr/users, "param-err")
				b.ReportMetric(mse/users, "train-mse")
				b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)/users*1e6, "us/user")
			})
		}
	}
}
