package logistic_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/logistic"
	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/tune"
)

// TestLandmineAutoTuned runs the landmine few-shot protocol of
// TestLandmineFewShot with every method's rank, sparsity, ridge and
// centring chosen on each training split alone, by validation log loss
// (package tune: LRSP_LANDMINE_REPEATS hold-out splits of 25% of every
// task's training samples, default 3), as lrsp train --loss logistic ...
// auto does. It runs only with LRSP_LANDMINE_FULL=1 (it takes minutes) and
// skips when the data file is absent.
func TestLandmineAutoTuned(t *testing.T) {
	if os.Getenv("LRSP_LANDMINE_FULL") != "1" {
		t.Skip("landmine auto-tuned table: set LRSP_LANDMINE_FULL=1")
	}
	ds := logistic.LoadLandmine(t)
	repeats := 3
	if v := os.Getenv("LRSP_LANDMINE_REPEATS"); v != "" {
		fmt.Sscan(v, &repeats)
	}
	type variant struct {
		name, method string
		center       bool
	}
	variants := []variant{{"global", model.MethodGlobal, false}, {"local", model.MethodLocal, false},
		{"finetune", model.MethodFinetune, false}, {"global-sparse", model.MethodGlobalSparse, false},
		{"lowrank", model.MethodLowRank, false}, {"lrs", model.MethodLRS, false},
		{"lowrank, centring auto", model.MethodLowRank, true}, {"lrs, centring auto", model.MethodLRS, true}}
	sizes := []int{20, 50, 100}
	seeds := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	ctx := context.Background()
	type cell struct{ auc []float64 }
	res := make([][]cell, len(variants))
	picks := make([][]string, len(variants))
	for v := range variants {
		res[v] = make([]cell, len(sizes))
	}
	for s, m := range sizes {
		for _, seed := range seeds {
			train, test := logistic.FewShotSplit(ds, m, seed)
			for v, vr := range variants {
				o := tune.Options{Rank: true, Sparsity: true, Ridge: true, Center: vr.center,
					Holdout: 0.25, Repeats: repeats, Seed: seed,
					Base: method.Config{Method: vr.method, Loss: model.LossLogistic, Rounds: 30, Tolerance: 1e-6, Seed: 1}}
				mod, sel, err := tune.Train(ctx, train, o)
				if err != nil {
					t.Fatalf("%s, m=%d, seed %d: %v", vr.name, m, seed, err)
				}
				pred, err := eval.Predict(mod, test, eval.UnknownError)
				if err != nil {
					t.Fatal(err)
				}
				c, err := eval.Classify(test, pred)
				if err != nil {
					t.Fatal(err)
				}
				res[v][s].auc = append(res[v][s].auc, c.MeanUserAUC)
				b := sel.BestScore
				picks[v] = append(picks[v], fmt.Sprintf("m=%d/%d: r=%d k=%d ridge=%.3g center=%v", m, seed, b.Rank, b.Sparsity, b.Ridge, b.Center))
			}
		}
	}
	var table strings.Builder
	fmt.Fprintf(&table, "| method (auto-tuned) |")
	for _, m := range sizes {
		fmt.Fprintf(&table, " m=%d |", m)
	}
	fmt.Fprintf(&table, "\n|---|%s\n", strings.Repeat("---|", len(sizes)))
	for v, vr := range variants {
		fmt.Fprintf(&table, "| %s |", vr.name)
		for s := range sizes {
			a := res[v][s].auc
			mu, ss := 0.0, 0.0
			for _, x := range a {
				mu += x / float64(len(a))
			}
			for _, x := range a {
				ss += (x - mu) * (x - mu)
			}
			fmt.Fprintf(&table, " %.4f ± %.4f |", mu, math.Sqrt(ss/float64(len(a)-1)/float64(len(a))))
		}
		fmt.Fprintln(&table)
	}
	t.Logf("landmine mean test AUC over tasks, auto-tuned per split (mean ± s.e. over %d splits, %d validation repeats):\n%s",
		len(seeds), repeats, table.String())
	for v, vr := range variants {
		t.Logf("%s picks: %s", vr.name, strings.Join(picks[v], "; "))
	}
}
