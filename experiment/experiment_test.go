package experiment_test

import (
	"context"
	"encoding/csv"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/experiment"
)

// readCSV reads a CSV file written by an experiment and checks that every
// row has the header's width.
func readCSV(t *testing.T, path string) (header []string, rows [][]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(all) == 0 {
		t.Fatalf("%s is empty", path)
	}
	return all[0], all[1:]
}

// checkPNG checks that path is a valid PNG of the plots' size.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	if cfg.Width < 100 || cfg.Height < 100 {
		t.Errorf("%s is %dx%d pixels", path, cfg.Width, cfg.Height)
	}
}

func checkFiles(t *testing.T, dir string, paths []string, want ...string) {
	t.Helper()
	if len(paths) != len(want) {
		t.Fatalf("wrote %v, want %v", paths, want)
	}
	for i, p := range paths {
		if p != filepath.Join(dir, want[i]) {
			t.Errorf("file %d is %s, want %s", i, p, want[i])
		}
		if strings.HasSuffix(p, ".png") {
			checkPNG(t, p)
		}
	}
}

func TestPhase(t *testing.T) {
	opt := experiment.PhaseOptions{Dim: 20, Rank: 2, Sparsity: 2, Samples: []int{40, 3}, Users: []int{40, 80},
		Pursuits: []amht.Pursuit{amht.PursuitSwap, amht.PursuitHTP}, Rounds: 30, Seed: 3}
	var steps int
	opt.Progress = func(s experiment.Step) {
		steps++
		if s.Done != steps || s.Total != 8 {
			t.Errorf("progress %+v after %d steps of 8", s, steps)
		}
	}
	res, err := experiment.Phase(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if steps != 8 {
		t.Errorf("%d progress calls, want 8", steps)
	}
	dir := t.TempDir()
	paths, err := res.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, paths, "phase.csv", "phase-swap.png", "phase-htp.png", "phase-pursuits.png")
	header, rows := readCSV(t, paths[0])
	if want := "pursuit,users,samples,dim,rank,sparsity,recovered,support_recovered,parameter_error,subspace_distance,rounds,stopped,seconds"; strings.Join(header, ",") != want {
		t.Errorf("header %v, want %s", header, want)
	}
	if len(rows) != 8 {
		t.Fatalf("%d rows, want 2 pursuits x 2 t x 2 m = 8", len(rows))
	}
	for _, c := range res.Cells {
		switch {
		case c.Samples == 40 && c.Pursuit == "swap" && c.Recovered != 1:
			t.Errorf("t=%d m=40: recovered %v, want 1 (m is 10 times r + k)", c.Users, c.Recovered)
		case c.Samples == 3 && c.Recovered != 0:
			// Three samples cannot determine the r + k = 4 unknowns of a user.
			t.Errorf("t=%d m=3: recovered %v, want 0", c.Users, c.Recovered)
		case c.Recovered > c.SupportRecovered:
			t.Errorf("%+v: more users recovered than supports", c)
		}
	}
}

func TestRounds(t *testing.T) {
	opt := experiment.RoundsOptions{Users: 100, Samples: 30, Dim: 20, Rank: 2, Sparsity: 2, MaxRounds: 12, Seed: 2}
	res, err := experiment.Rounds(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	paths, err := res.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, paths, "rounds.csv", "rounds.png")
	header, rows := readCSV(t, paths[0])
	if len(header) != 13 || header[0] != "method" || header[9] != "parameter_error" {
		t.Errorf("header %v", header)
	}
	if len(rows) != 2*2*12 {
		t.Fatalf("%d rows, want 2 methods x 2 noises x 12 rounds", len(rows))
	}
	for _, c := range res.Curves {
		// The run with L rounds must repeat the first L rounds of the
		// longest run exactly, or the curve would mix different runs.
		for _, p := range c.Points {
			if p.RoundsRun != p.Round {
				continue
			}
			if got, want := p.TrainLoss, c.Stats[p.Round-1].TrainLoss; got != want {
				t.Errorf("%s noise %g round %d: loss %v, but round %d of the longest run had %v", c.Method, c.Noise, p.Round, got, p.Round, want)
			}
		}
	}
	// lowrank cannot represent the sparse parts; lrs should be far better
	// after a few rounds, noiseless or not.
	lrs, low := res.Curves[0], res.Curves[2]
	if lrs.Method != "lrs" || low.Method != "lowrank" || lrs.Noise != 0 || low.Noise != 0 {
		t.Fatalf("curves out of order: %s %g, %s %g", lrs.Method, lrs.Noise, low.Method, low.Noise)
	}
	last := opt.MaxRounds - 1
	// Noiseless lrs converges linearly (the error falls by about 2.5x a
	// round here), so 12 rounds take it far below its first-round error.
	if e, e1 := lrs.Points[last].ParamError, lrs.Points[0].ParamError; !(e < 1e-3*e1) {
		t.Errorf("lrs noiseless error after %d rounds %v, want < 1e-3 x the first round's %v", opt.MaxRounds, e, e1)
	}
	if e := low.Points[last].ParamError; !(e > 0.1) {
		t.Errorf("lowrank error %v on data with sparse parts, want > 0.1", e)
	}
}

func TestOptionErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func() error
		want string
	}{
		{"phase rank 0", func() error {
			_, err := experiment.Phase(ctx, experiment.PhaseOptions{Dim: 10, Sparsity: 1})
			return err
		}, "rank"},
		{"phase negative samples", func() error {
			_, err := experiment.Phase(ctx, experiment.PhaseOptions{Dim: 10, Rank: 1, Samples: []int{-1, 5}})
			return err
		}, "samples per user"},
		{"phase line users", func() error {
			_, err := experiment.Phase(ctx, experiment.PhaseOptions{Dim: 10, Rank: 1, Users: []int{5}, LineUsers: 7})
			return err
		}, "line-plot users 7"},
		{"phase pursuit", func() error {
			_, err := experiment.Phase(ctx, experiment.PhaseOptions{Dim: 10, Rank: 1, Pursuits: []amht.Pursuit{9}})
			return err
		}, "unknown pursuit"},
		{"rounds sparsity 0", func() error {
			_, err := experiment.Rounds(ctx, experiment.RoundsOptions{Users: 5, Samples: 5, Dim: 5, Rank: 1})
			return err
		}, "positive"},
		{"rounds negative noise", func() error {
			_, err := experiment.Rounds(ctx, experiment.RoundsOptions{Users: 5, Samples: 5, Dim: 5, Rank: 1, Sparsity: 1, Noises: []float64{-1}})
			return err
		}, "noise -1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := experiment.Phase(ctx, experiment.PhaseOptions{Dim: 20, Rank: 2, Sparsity: 2, Samples: []int{20}, Users: []int{50}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("phase with a cancelled context: %v, want context.Canceled", err)
	}
	_, err = experiment.Rounds(ctx, experiment.RoundsOptions{Users: 20, Samples: 20, Dim: 10, Rank: 1, Sparsity: 1, MaxRounds: 3})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("rounds with a cancelled context: %v, want context.Canceled", err)
	}
}

func TestSparsity(t *testing.T) {
	opt := experiment.SparsityOptions{Users: 100, Samples: 30, Dim: 30, Rank: 2, Sparsities: []int{3, 0}, Noise: 0.05,
		NewUsers: 20, TestSamples: 20, Seed: 4}
	res, err := experiment.Sparsity(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	paths, err := res.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, paths, "sparsity.csv", "sparsity.png", "sparsity-new.png")
	header, rows := readCSV(t, paths[0])
	if want := "method,k,model_k,users,samples,dim,rank,noise,test_rmse,new_users_rmse,seconds"; strings.Join(header, ",") != want {
		t.Errorf("header %v, want %s", header, want)
	}
	if len(rows) != 2*len(experiment.SparsityMethods) {
		t.Fatalf("%d rows, want 2 sparsities x %d methods", len(rows), len(experiment.SparsityMethods))
	}
	rmse := map[string][2]float64{}
	for _, p := range res.Points {
		if p.K == 3 {
			rmse[p.Method] = [2]float64{p.TrainUsersRMSE, p.NewUsersRMSE}
		}
	}
	// With r + k = 5 unknowns per user and m = 30 samples, lrs recovers
	// every user up to the noise (0.05), which no other method can
	// represent: each leaves an error of the size of the part it lacks.
	lrs := rmse["lrs"]
	for _, m := range experiment.SparsityMethods[1:] {
		for i, who := range []string{"training", "new"} {
			if !(lrs[i] < 0.1 && lrs[i] < rmse[m][i]/3) {
				t.Errorf("k=3, %s users: lrs test RMSE %.3g, %s %.3g; want lrs < 0.1 and 3x better", who, lrs[i], m, rmse[m][i])
			}
		}
	}
}
