package logistic

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
)

// The landmine data (Xue et al. 2007) is research-only and not in the
// repository. These tests read it from LRSP_LANDMINE (default
// /work/shared/data/landmine/landmine.csv) and skip when it is absent.
// LRSP_LANDMINE_FULL=1 runs the whole few-shot protocol and prints the
// table of docs/results.md.
func landminePath() string {
	if p := os.Getenv("LRSP_LANDMINE"); p != "" {
		return p
	}
	return "/work/shared/data/landmine/landmine.csv"
}

func loadLandmine(t *testing.T) *dataset.Dataset {
	t.Helper()
	p := landminePath()
	if _, err := os.Stat(p); err != nil {
		t.Skipf("landmine data not available at %s", p)
	}
	ds, err := dataset.ReadCSVFile(context.Background(), p, dataset.CSVOptions{UserColumn: "task", TargetColumn: "label", RequireTarget: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Users) != 29 || ds.Dim() != 9 {
		t.Fatalf("landmine: %d tasks, %d features; want 29 and 9", len(ds.Users), ds.Dim())
	}
	return ds
}

// fewShotSplit draws m training samples per task at random (the rest is
// the test part), standardizes the features with the pooled training mean
// and standard deviation, and appends a constant feature (the intercept).
func fewShotSplit(ds *dataset.Dataset, m int, seed uint64) (train, test *dataset.Dataset) {
	rng := rand.New(rand.NewPCG(seed, 0x6c616e64))
	d := ds.Dim()
	feats := append(append([]string(nil), ds.Features...), "const")
	isTrain := make([][]bool, len(ds.Users))
	mean, sq := make([]float64, d), make([]float64, d)
	n := 0.0
	for i := range ds.Users {
		u := &ds.Users[i]
		isTrain[i] = make([]bool, u.Len())
		for _, s := range rng.Perm(u.Len())[:m] {
			isTrain[i][s] = true
			for j, v := range u.X[s*d : (s+1)*d] {
				mean[j] += v
				sq[j] += v * v
			}
			n++
		}
	}
	for j := range mean {
		mean[j] /= n
		sq[j] = math.Sqrt(math.Max(sq[j]/n-mean[j]*mean[j], 1e-12))
	}
	tb, hb := dataset.NewBuilder(feats, true), dataset.NewBuilder(feats, true)
	x := make([]float64, d+1)
	for i := range ds.Users {
		u := &ds.Users[i]
		for s := 0; s < u.Len(); s++ {
			for j, v := range u.X[s*d : (s+1)*d] {
				x[j] = (v - mean[j]) / sq[j]
			}
			x[d] = 1
			b := hb
			if isTrain[i][s] {
				b = tb
			}
			b.Add(u.ID, x, u.Y[s], u.Rows[s])
		}
	}
	return tb.Dataset(), hb.Dataset()
}

// landmineMethod trains one method on a split.
type landmineMethod struct {
	name  string
	train func(ctx context.Context, ds *dataset.Dataset) (*model.Model, error)
}

func landmineMethods(full bool) []landmineMethod {
	ms := []landmineMethod{}
	ridges := []float64{1e-2, 1e-1}
	if full {
		ridges = []float64{1e-3, 1e-2, 1e-1, 1}
	}
	for _, l := range ridges {
		ms = append(ms, landmineMethod{fmt.Sprintf("global logistic, ridge %g", l), func(ctx context.Context, ds *dataset.Dataset) (*model.Model, error) {
			return Global(ctx, ds, BaselineOptions{Ridge: l})
		}})
	}
	for _, l := range ridges {
		ms = append(ms, landmineMethod{fmt.Sprintf("local logistic, ridge %g", l), func(ctx context.Context, ds *dataset.Dataset) (*model.Model, error) {
			return Local(ctx, ds, BaselineOptions{Ridge: l})
		}})
	}
	if full {
		// Fine-tune from the global model (theta_0's ridge is the default
		// Ridge/t), and global + sparse.
		for _, l := range []float64{1e-2, 1e-1, 1} {
			ms = append(ms, landmineMethod{fmt.Sprintf("finetune logistic, ridge %g", l), func(ctx context.Context, ds *dataset.Dataset) (*model.Model, error) {
				return Finetune(ctx, ds, BaselineOptions{Ridge: l})
			}})
		}
		for _, k := range []int{1, 2} {
			for _, l := range []float64{1e-2, 1e-1} {
				ms = append(ms, landmineMethod{fmt.Sprintf("global-sparse logistic k=%d, ridge %g", k, l), func(ctx context.Context, ds *dataset.Dataset) (*model.Model, error) {
					res, err := GlobalSparse(ctx, ds, nil, Options{Sparsity: k, Ridge: l, Rounds: 30, Tolerance: 1e-6, Seed: 1})
					if err != nil {
						return nil, err
					}
					return res.Model, nil
				}})
			}
		}
	}
	type rk struct{ r, k int }
	var cfgs []rk
	if full {
		cfgs = []rk{{1, 0}, {2, 0}, {3, 0}, {1, 1}, {2, 1}, {3, 1}, {2, 2}}
	} else {
		cfgs = []rk{{2, 0}, {2, 1}}
	}
	lrsRidges := []float64{1e-1}
	if full {
		lrsRidges = []float64{1e-2, 1e-1}
	}
	for _, c := range cfgs {
		for _, l := range lrsRidges {
			name := "logistic lrs"
			if c.k == 0 {
				name = "logistic lowrank"
			}
			ms = append(ms, landmineMethod{fmt.Sprintf("%s r=%d k=%d, ridge %g", name, c.r, c.k, l), func(ctx context.Context, ds *dataset.Dataset) (*model.Model, error) {
				res, err := Train(ctx, ds, nil, Options{Rank: c.r, Sparsity: c.k, Ridge: l, Rounds: 30, Tolerance: 1e-6, Seed: 1})
				if err != nil {
					return nil, err
				}
				return res.Model, nil
			}})
		}
	}
	if full {
		// Centred: theta_0 (the pooled fit, ridge Ridge/t) + low rank (+ sparse).
		for _, c := range []rk{{1, 0}, {2, 0}, {1, 1}, {2, 1}} {
			for _, l := range lrsRidges {
				name := "logistic centred lrs"
				if c.k == 0 {
					name = "logistic centred lowrank"
				}
				ms = append(ms, landmineMethod{fmt.Sprintf("%s r=%d k=%d, ridge %g", name, c.r, c.k, l), func(ctx context.Context, ds *dataset.Dataset) (*model.Model, error) {
					res, err := Train(ctx, ds, nil, Options{Rank: c.r, Sparsity: c.k, Ridge: l, Rounds: 30, Tolerance: 1e-6, Seed: 1, Center: true})
					if err != nil {
						return nil, err
					}
					return res.Model, nil
				}})
			}
		}
	}
	return ms
}

// landmineAUC trains every method on splits of m samples per task and
// returns, per method, the mean over splits of the mean test AUC over tasks
// and its standard error.
func landmineAUC(t *testing.T, ds *dataset.Dataset, methods []landmineMethod, m int, seeds []uint64) (mean, se []float64) {
	ctx := context.Background()
	aucs := make([][]float64, len(methods))
	for _, seed := range seeds {
		train, test := fewShotSplit(ds, m, seed)
		for k, meth := range methods {
			mod, err := meth.train(ctx, train)
			if err != nil {
				t.Fatalf("%s, m=%d, seed %d: %v", meth.name, m, seed, err)
			}
			pred, err := eval.Predict(mod, test, eval.UnknownError)
			if err != nil {
				t.Fatal(err)
			}
			c, err := eval.Classify(test, pred)
			if err != nil {
				t.Fatal(err)
			}
			aucs[k] = append(aucs[k], c.MeanUserAUC)
		}
	}
	for _, a := range aucs {
		s, ss := 0.0, 0.0
		for _, v := range a {
			s += v
		}
		mu := s / float64(len(a))
		for _, v := range a {
			ss += (v - mu) * (v - mu)
		}
		mean = append(mean, mu)
		se = append(se, math.Sqrt(ss/float64(max(len(a)-1, 1))/float64(len(a))))
	}
	return mean, se
}

// TestLandmineFewShot checks, on a few splits, that logistic LRS beats
// both the global and the local logistic baselines in mean task AUC at
// 50 training samples per task. With LRSP_LANDMINE_FULL=1 it runs the
// protocol of docs/results.md (20, 50 and 100 samples, 10 splits, the full
// grid) and prints the table.
func TestLandmineFewShot(t *testing.T) {
	ds := loadLandmine(t)
	full := os.Getenv("LRSP_LANDMINE_FULL") == "1"
	if testing.Short() && !full {
		t.Skip("landmine: skipped in -short mode")
	}
	methods := landmineMethods(full)
	sizes := []int{50}
	seeds := []uint64{1, 2, 3}
	if full {
		sizes = []int{20, 50, 100}
		seeds = []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	}
	var table strings.Builder
	fmt.Fprintf(&table, "| method |")
	for _, m := range sizes {
		fmt.Fprintf(&table, " m=%d |", m)
	}
	fmt.Fprintf(&table, "\n|---|%s\n", strings.Repeat("---|", len(sizes)))
	res := make([][2][]float64, len(sizes))
	for s, m := range sizes {
		mean, se := landmineAUC(t, ds, methods, m, seeds)
		res[s] = [2][]float64{mean, se}
	}
	for k, meth := range methods {
		fmt.Fprintf(&table, "| %s |", meth.name)
		for s := range sizes {
			fmt.Fprintf(&table, " %.4f ± %.4f |", res[s][0][k], res[s][1][k])
		}
		fmt.Fprintln(&table)
	}
	t.Logf("landmine mean test AUC over tasks (mean ± s.e. over %d splits):\n%s", len(seeds), table.String())
	if full {
		return
	}
	// methods: global (2 ridges), local (2 ridges), lowrank r=2, lrs r=2 k=1.
	mean := res[0][0]
	bestGlobal, bestLocal, lrs := math.Max(mean[0], mean[1]), math.Max(mean[2], mean[3]), mean[5]
	if !(lrs > bestGlobal && lrs > bestLocal) {
		t.Errorf("logistic lrs mean AUC %.4f does not beat global %.4f and local %.4f", lrs, bestGlobal, bestLocal)
	}
}
