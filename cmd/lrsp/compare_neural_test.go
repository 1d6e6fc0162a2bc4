package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCompareNeural runs lrsp compare with the three network methods and
// linear lrs on tiny non-linear data, and checks that every method is
// scored on the training users' and the new users' test samples, with the
// network's settings and each model's bytes per user.
func TestCompareNeural(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "nl.csv")
	mustRun(t, "synth-neural", "--users", "40", "--samples", "15", "--dim", "4", "--latent", "3", "--rank", "2", "--sparsity", "0",
		"--test-samples", "5", "--seed", "2", "--out", data)
	table := filepath.Join(dir, "t.md")
	args := []string{"compare", "--data", data, "--test", filepath.Join(dir, "nl-test.csv"), "--new-users", "0.25",
		"--methods", "lrs,neural-lrs,neural-dense,neural-global", "--hidden", "8,4", "--neural-rank", "2", "--neural-sparsity", "0",
		"--neural-rounds", "8", "--batch", "8", "--learning-rate", "0.01", "--workers", "2", "--out", table}
	out := mustRun(t, append(args, "--json")...)
	var rep compareReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("compare --json: %v\n%s", err, out)
	}
	if rep.Users != 30 || rep.NewUsers != 10 || len(rep.Rows) != 4 {
		t.Fatalf("users %d, new users %d, %d rows: want 30, 10, 4", rep.Users, rep.NewUsers, len(rep.Rows))
	}
	for _, tc := range []struct {
		method       string
		hidden       bool
		rank         int
		bytesPerUser float64
	}{
		{"lrs", false, -1, -1},
		// w (2 float64) and the count 0 of b's non-zeros (1 byte).
		{"neural-lrs", true, 2, 17},
		// A dense b over the 4 features: its count and 4 float64, no indices.
		{"neural-dense", true, 0, 33},
		// The global network keeps its users, each with an empty b (1 byte).
		{"neural-global", true, 0, 1},
	} {
		i := slices.IndexFunc(rep.Rows, func(r compareRow) bool { return r.Method == tc.method })
		if i < 0 {
			t.Fatalf("no row for %s", tc.method)
		}
		r := rep.Rows[i]
		if r.New == nil || r.Test.Samples != 30*5 || r.New.Samples != 10*5 || !(r.Test.RMSE > 0) || !(r.New.RMSE > 0) {
			t.Fatalf("%s: test/new-user scores missing or on the wrong samples: %+v", tc.method, r)
		}
		if got := slices.Equal(r.Hidden, []int{8, 4}) && r.Rounds >= 1 && r.Rounds <= 8; got != tc.hidden {
			t.Errorf("%s: hidden %v, rounds %d", tc.method, r.Hidden, r.Rounds)
		}
		if tc.rank >= 0 && (r.Rank != tc.rank || r.Sparsity != 0) {
			t.Errorf("%s: r=%d k=%d, want r=%d k=0", tc.method, r.Rank, r.Sparsity, tc.rank)
		}
		if tc.bytesPerUser >= 0 && r.BytesPerUser != tc.bytesPerUser {
			t.Errorf("%s: %.1f bytes per user, want %.0f", tc.method, r.BytesPerUser, tc.bytesPerUser)
		}
	}
	md := readFile(t, table)
	for _, want := range []string{"| neural-lrs [8 4] |", "| neural-dense [8 4] |", "| neural-global [8 4] |", "| lrs |"} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
	wantErr(t, append(args, "--neural-rank", "5"), "--neural-rank 5")
	wantErr(t, append(args, "--neural-validation", "1"), "--neural-validation")
	wantErr(t, append(args, "--hidden", "0"), "--hidden")
}
