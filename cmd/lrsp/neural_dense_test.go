package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/model"
)

// TestNeuralDenseCLI runs train --method neural-dense, personalize,
// predict and eval end to end, and checks the model file holds a dense
// head per user.
func TestNeuralDenseCLI(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	mustRun(t, "synth-neural", "--users", "40", "--samples", "20", "--dim", "4", "--latent", "3", "--rank", "2", "--sparsity", "0",
		"--new-users", "10", "--new-samples", "10", "--test-samples", "5", "--seed", "4", "--out", p("nl.csv"))
	out := mustRun(t, "train", "--method", "neural-dense", "--data", p("nl.csv"), "--hidden", "8,4", "--rounds", "10",
		"--batch", "8", "--learning-rate", "0.01", "--validation", "0.2", "--workers", "2", "--out", p("d.lrsp"))
	if !strings.Contains(out, "trained neural-dense") {
		t.Fatalf("train output: %s", out)
	}
	mustRun(t, "personalize", "--model", p("d.lrsp"), "--data", p("nl-new.csv"), "--out", p("d2.lrsp"))
	m, err := model.Load(p("d2.lrsp"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Method != model.MethodNeuralDense || m.Dim != 4 || len(m.Users) != 50 {
		t.Fatalf("model %s d=%d with %d users, want neural-dense, d=4, 50 users", m.Method, m.Dim, len(m.Users))
	}
	for _, u := range m.Users {
		if len(u.W) != 0 || len(u.Value) != 4 {
			t.Fatalf("user %q: w %v, b %v: want a dense head of 4", u.ID, u.W, u.Value)
		}
	}
	for _, test := range []string{"nl-test.csv", "nl-new-test.csv"} {
		if rmse := rmseOf(t, mustRun(t, "eval", "--model", p("d2.lrsp"), "--data", p(test))); !(rmse > 0 && rmse < 10) {
			t.Errorf("%s: RMSE %v", test, rmse)
		}
	}
	out = mustRun(t, "predict", "--model", p("d2.lrsp"), "--data", p("nl-new-test.csv"))
	if recs := regexp.MustCompile(`(?m)^n\d+,`).FindAllString(out, -1); len(recs) != 10*5 {
		t.Errorf("predict wrote %d rows of new users, want %d", len(recs), 10*5)
	}
}
