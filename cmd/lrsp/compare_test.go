package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCompareSmallSynthetic(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "d.csv")
	mustRun(t, "synth", "--users", "60", "--samples", "12", "--dim", "10", "--rank", "2", "--sparsity", "1",
		"--noise", "0.05", "--test-samples", "5", "--out", data)
	test := filepath.Join(dir, "d-test.csv")
	table := filepath.Join(dir, "t.md")
	out := mustRun(t, "compare", "--data", data, "--test", test, "--new-users", "0.2", "--shots", "10",
		"--methods", "global,local,lrs", "--out", table, "--json")
	var rep compareReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("compare --json: %v\n%s", err, out)
	}
	if rep.Users != 48 || rep.NewUsers != 12 || rep.Samples != 48*10 {
		t.Fatalf("users %d, new users %d, samples %d: want 48, 12, 480", rep.Users, rep.NewUsers, rep.Samples)
	}
	if len(rep.Rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rep.Rows))
	}
	byMethod := map[string]compareRow{}
	for _, r := range rep.Rows {
		byMethod[r.Method] = r
		if r.New == nil || r.Test.Samples != 48*5 || r.New.Samples != 12*5 {
			t.Fatalf("%s: test/new-user scores missing or on the wrong samples: %+v", r.Method, r)
		}
	}
	// The data are low rank + sparse with little noise: lrs beats the
	// global model by far, for training and new users alike.
	g, l := byMethod["global"], byMethod["lrs"]
	if !(l.Test.RMSE < 0.5*g.Test.RMSE && l.New.RMSE < 0.5*g.New.RMSE) {
		t.Fatalf("lrs RMSE %.3g (new %.3g) not well below global's %.3g (new %.3g)", l.Test.RMSE, l.New.RMSE, g.Test.RMSE, g.New.RMSE)
	}
	if g.BytesPerUser != 0 || byMethod["local"].BytesPerUser < 80 {
		t.Fatalf("bytes per user: global %.1f, local %.1f", g.BytesPerUser, byMethod["local"].BytesPerUser)
	}
	md := readFile(t, table)
	for _, want := range []string{"| method |", "| lrs |", "new-user RMSE"} {
		if !strings.Contains(md, want) {
			t.Fatalf("table lacks %q:\n%s", want, md)
		}
	}
}

func TestCompareErrors(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "d.csv")
	mustRun(t, "synth", "--users", "5", "--samples", "6", "--dim", "4", "--rank", "1", "--sparsity", "1", "--test-samples", "2", "--out", data)
	test := filepath.Join(dir, "d-test.csv")
	for _, args := range [][]string{
		{"--methods", "nope"},
		{"--shots", "-1"},
		{"--new-users", "1"},
		{"--test", data + ".missing"},
	} {
		full := append([]string{"compare", "--data", data, "--test", test}, args...)
		if _, _, err := lrsp(t, full...); err == nil {
			t.Errorf("lrsp %s: want an error", strings.Join(full, " "))
		}
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
