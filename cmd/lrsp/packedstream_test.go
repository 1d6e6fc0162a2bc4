package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/lrsp/lrsp/dataset"
)

// TestPackedStreams checks that lrsp eval, predict and personalize,
// which stream a packed file a chunk of users at a time, give exactly what
// they give for the same samples read whole from CSV (with and without
// targets). Package datafile checks that scores do not depend on the chunk
// size.
func TestPackedStreams(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	mustRun(t, "synth", "--users", "40", "--samples", "15", "--dim", "4", "--rank", "1", "--sparsity", "1",
		"--noise", "0.1", "--seed", "5", "--out", p("data.csv"))
	mustRun(t, "pack", "--data", p("data.csv"), "--out", p("data.lrspd"), "--precision", "float64")
	mustRun(t, "train", "--data", p("data.csv"), "--rank", "1", "--sparsity", "1", "--out", p("model.lrsp"))
	// The same samples without targets, for predict.
	noY, err := dataset.ReadCSVFile(context.Background(), p("data.csv"), dataset.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	noY.HasTarget = false
	for i := range noY.Users {
		noY.Users[i].Y = nil
	}
	var buf bytes.Buffer
	if err := dataset.WriteCSV(&buf, noY); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p("noy.csv"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "pack", "--data", p("noy.csv"), "--out", p("noy.lrspd"), "--precision", "float64")
	for _, tc := range []struct {
		args      []string
		csv, pack string
	}{
		{[]string{"eval"}, "data.csv", "data.lrspd"},
		{[]string{"eval", "--json"}, "data.csv", "data.lrspd"},
		{[]string{"predict"}, "data.csv", "data.lrspd"},
		{[]string{"predict"}, "noy.csv", "noy.lrspd"},
	} {
		args := append(tc.args, "--model", p("model.lrsp"))
		want := mustRun(t, append(args, "--data", p(tc.csv))...)
		if got := mustRun(t, append(args, "--data", p(tc.pack))...); got != want {
			t.Errorf("%v --data %s:\n%s\nwant (from %s):\n%s", tc.args, tc.pack, got, tc.csv, want)
		}
	}

	// personalize writes the same model from either file.
	mustRun(t, "personalize", "--model", p("model.lrsp"), "--data", p("data.csv"), "--out", p("csv.lrsp"))
	mustRun(t, "personalize", "--model", p("model.lrsp"), "--data", p("data.lrspd"), "--out", p("packed.lrsp"))
	a, errA := os.ReadFile(p("csv.lrsp"))
	b, errB := os.ReadFile(p("packed.lrsp"))
	if errA != nil || errB != nil || !bytes.Equal(a, b) {
		t.Errorf("personalize from the packed file wrote a different model (%v, %v)", errA, errB)
	}

}
