package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompareSmoke checks that lrsp compare wires its flags into
// package compare (which tests the comparison itself) and prints the
// table, its JSON form and the Markdown file.
func TestCompareSmoke(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "d.csv")
	mustRun(t, "synth", "--users", "30", "--samples", "8", "--dim", "4", "--rank", "1", "--sparsity", "1",
		"--noise", "0.05", "--test-samples", "3", "--out", data)
	test := filepath.Join(dir, "d-test.csv")
	table := filepath.Join(dir, "t.md")
	args := []string{"compare", "--data", data, "--test", test, "--new-users", "0.2", "--shots", "6",
		"--methods", "global,lrs,neural-global", "--hidden", "4", "--neural-rounds", "2", "--rounds", "5", "--out", table}
	out := mustRun(t, args...)
	for _, want := range []string{"24 training users, 144 training samples (shots: 6), d = 4, seed 1, 6 new users\n\n",
		"| method | r | k | ridge | center | test RMSE |", "new-user RMSE", "| global |", "| lrs |", "| neural-global [4] |"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if md := readFile(t, table); md != out {
		t.Errorf("--out wrote\n%s\nnot the table printed:\n%s", md, out)
	}
	var rep compareReport
	js := mustRun(t, append(args, "--json")...)
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatalf("compare --json: %v\n%s", err, js)
	}
	if rep.Data != data || rep.Test != test || rep.Shots != 6 || rep.Users != 24 || rep.NewUsers != 6 || len(rep.Rows) != 3 ||
		rep.Rows[2].Rounds < 1 || rep.Rows[2].Rounds > 2 {
		t.Fatalf("compare --json: %+v", rep)
	}
}

func TestCompareErrors(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "d.csv")
	mustRun(t, "synth", "--users", "5", "--samples", "6", "--dim", "4", "--rank", "1", "--sparsity", "1", "--test-samples", "2", "--out", data)
	test := filepath.Join(dir, "d-test.csv")
	more := filepath.Join(dir, "e.csv")
	mustRun(t, "synth", "--users", "6", "--samples", "2", "--dim", "4", "--rank", "1", "--sparsity", "1", "--test-samples", "1", "--out", more)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--methods", "nope"}, "--methods"},
		{[]string{"--shots", "-1"}, "--shots -1"},
		{[]string{"--new-users", "1"}, "--new-users 1"},
		{[]string{"--new-users", "0.95"}, "would hold out all 5"},
		{[]string{"--rounds", "0"}, "--rounds 0"},
		{[]string{"--loss", "hinge"}, "hinge"},
		{[]string{"--loss", "logistic", "--methods", "neural-lrs"}, "logistic"},
		{[]string{"--methods", "neural-lrs", "--hidden", "8,4", "--neural-rank", "5"}, "--neural-rank 5"},
		{[]string{"--methods", "neural-dense", "--neural-validation", "1"}, "--neural-validation"},
		{[]string{"--methods", "neural-global", "--hidden", "0"}, "--hidden"},
		{[]string{"--test", data + ".missing"}, ".missing"},
		{[]string{"--test", filepath.Join(dir, "e-test.csv")}, "e-test.csv: user \"u5\" (input row 6) has no training samples"},
	} {
		wantErr(t, append([]string{"compare", "--data", data, "--test", test}, tc.args...), tc.want)
	}
}

func TestTrainMethodAuto(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "d.csv")
	mustRun(t, "synth", "--users", "40", "--samples", "10", "--dim", "6", "--rank", "1", "--sparsity", "1", "--noise", "0.1", "--out", data)
	for _, meth := range []string{"local", "finetune", "global-sparse", "lowrank", "lrs"} {
		m := filepath.Join(dir, meth+".lrsp")
		out := mustRun(t, "train", "--data", data, "--method", meth, "--rank", "auto", "--sparsity", "auto", "--ridge", "auto", "--out", m)
		if !strings.Contains(out, "<- best") || !strings.Contains(out, "trained "+meth) {
			t.Fatalf("%s: output lacks the score table or summary:\n%s", meth, out)
		}
		insp := mustRun(t, "inspect", "--model", m)
		if !strings.Contains(insp, "method      "+meth) || !strings.Contains(insp, "bytes/user") {
			t.Fatalf("%s: inspect:\n%s", meth, insp)
		}
		mustRun(t, "personalize", "--model", m, "--data", data, "--out", m)
		mustRun(t, "eval", "--model", m, "--data", data)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
