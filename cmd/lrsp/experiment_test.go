package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExperimentCommands(t *testing.T) {
	tests := []struct {
		args  []string
		files []string
	}{
		{[]string{"phase", "--dim", "12", "--rank", "1", "--sparsity", "1", "--samples", "3,20", "--users", "30", "--pursuit", "swap,htp", "--rounds", "20"},
			[]string{"phase.csv", "phase-swap.png", "phase-htp.png", "phase-pursuits.png"}},
		{[]string{"rounds", "--users", "30", "--samples", "20", "--dim", "12", "--rank", "1", "--sparsity", "1", "--max-rounds", "3"},
			[]string{"rounds.csv", "rounds.png"}},
		{[]string{"sparsity", "--users", "30", "--samples", "20", "--dim", "12", "--rank", "1", "--sparsity", "0,2", "--new-users", "5", "--test-samples", "5"},
			[]string{"sparsity.csv", "sparsity.png", "sparsity-new.png"}},
	}
	for _, tc := range tests {
		t.Run(tc.args[0], func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "new", "dir")
			out := mustRun(t, append([]string{"experiment"}, append(tc.args, "--out", dir, "--parallel", "1")...)...)
			for _, f := range tc.files {
				p := filepath.Join(dir, f)
				if !strings.Contains(out, "wrote "+p+"\n") {
					t.Errorf("output does not list %s:\n%s", p, out)
				}
				if st, err := os.Stat(p); err != nil || st.Size() == 0 {
					t.Errorf("%s: %v", p, err)
				}
			}
			rows := readCSV(t, filepath.Join(dir, tc.files[0]))
			if len(rows) < 2 {
				t.Errorf("%s has %d rows", tc.files[0], len(rows))
			}
		})
	}
}

func TestExperimentErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"experiment", "phase"}, `required flag(s) "out" not set`},
		{[]string{"experiment", "phase", "--out", dir, "--pursuit", "magic"}, `unknown pursuit "magic"`},
		{[]string{"experiment", "phase", "--out", dir, "--rank", "0"}, "rank"},
		{[]string{"experiment", "rounds", "--out", dir, "--noise", "-1"}, "noise -1"},
		{[]string{"experiment", "sparsity", "--out", dir, "--sparsity", "500"}, "sparsities [500]"},
		{[]string{"experiment", "sparsity", "--out", dir, "--parallel", "-2"}, "--parallel -2"},
	}
	for _, tc := range tests {
		wantErr(t, tc.args, tc.want)
	}
}
