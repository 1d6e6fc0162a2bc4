package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/model"
)

// TestTrainDefaultIsAuto checks lrsp train with no method flag: it chooses
// the method by cross-validation, prints the table and what it chose, and
// writes a model of a method of that table; with --rank it is lrs, as
// before the default existed.
func TestTrainDefaultIsAuto(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	mustRun(t, "synth", "--users", "60", "--samples", "8", "--dim", "4", "--rank", "1", "--sparsity", "0", "--noise", "0.3",
		"--seed", "3", "--out", p("d.csv"), "--new-users", "10", "--test-samples", "5")
	out := mustRun(t, "train", "--data", p("d.csv"), "--out", p("m.lrsp"))
	for _, want := range []string{"model selection for lrsp train (--method auto)", "mixed-lrs", "global", "<- best", "chose "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	m, err := model.Load(p("m.lrsp"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "chose "+m.Config.Method+" ") || !strings.HasPrefix(m.Config.SelectedBy, "auto:") {
		t.Errorf("model of method %s (selected by %q) is not what the output says it chose:\n%s", m.Config.Method, m.Config.SelectedBy, out)
	}
	mustRun(t, "train", "--data", p("d.csv"), "--out", p("lrs.lrsp"), "--rank", "1", "--sparsity", "0")
	if m, err := model.Load(p("lrs.lrsp")); err != nil || m.Config.Method != model.MethodLRS {
		t.Errorf("train --rank 1: method %v, %v; want lrs", m.Config.Method, err)
	}
}

// TestPredictInterval trains a mixed-model LRS, personalizes new users and
// checks lrsp predict --interval's columns: lower <= prediction <= upper,
// the prediction column equal to plain predict's, and an error for a
// model that is not a mixed model.
func TestPredictInterval(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	mustRun(t, "synth", "--users", "80", "--samples", "10", "--dim", "5", "--rank", "2", "--sparsity", "0", "--noise", "0.3",
		"--seed", "5", "--out", p("d.csv"), "--new-users", "10", "--test-samples", "5")
	mustRun(t, "train", "--data", p("d.csv"), "--out", p("m.lrsp"), "--method", "mixed-lrs", "--rank", "2")
	mustRun(t, "personalize", "--model", p("m.lrsp"), "--data", p("d-new.csv"), "--out", p("m2.lrsp"))
	mustRun(t, "predict", "--model", p("m2.lrsp"), "--data", p("d-new-test.csv"), "--interval", "0.9", "--out", p("i.csv"))
	mustRun(t, "predict", "--model", p("m2.lrsp"), "--data", p("d-new-test.csv"), "--out", p("p.csv"))
	read := func(name string) [][]string {
		f, err := os.Open(p(name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rows, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	iv, pl := read("i.csv"), read("p.csv")
	if want := []string{"user", "prediction", "lower", "upper", "y"}; !slices.Equal(iv[0], want) {
		t.Fatalf("header %v, want %v", iv[0], want)
	}
	if len(iv) != len(pl) || len(iv) < 2 {
		t.Fatalf("%d interval rows, %d prediction rows", len(iv), len(pl))
	}
	for i, row := range iv[1:] {
		v := make([]float64, 3)
		for c := range v {
			v[c], _ = strconv.ParseFloat(row[1+c], 64)
		}
		if !(v[1] < v[0] && v[0] < v[2]) {
			t.Errorf("row %d: prediction %v not inside (%v, %v)", i+1, v[0], v[1], v[2])
		}
		if row[0] != pl[i+1][0] || row[1] != pl[i+1][1] {
			t.Errorf("row %d: %v, plain predict %v", i+1, row[:2], pl[i+1][:2])
		}
	}
	mustRun(t, "train", "--data", p("d.csv"), "--out", p("lrs.lrsp"), "--rank", "2", "--sparsity", "0")
	wantErr(t, []string{"predict", "--model", p("lrs.lrsp"), "--data", p("d.csv"), "--interval", "0.9"}, "not a mixed model")
	wantErr(t, []string{"predict", "--model", p("m2.lrsp"), "--data", p("d.csv"), "--interval", "1.5"}, "--interval 1.5")
}
