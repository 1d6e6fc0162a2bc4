package main

import (
	"bytes"
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
)

// TestEvalPackedStreams checks that lrsp eval scores a packed file, which
// it streams a chunk of users at a time, exactly as it scores the same
// samples read whole from CSV, for every chunk size.
func TestEvalPackedStreams(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	mustRun(t, "synth", "--users", "40", "--samples", "15", "--dim", "4", "--rank", "1", "--sparsity", "1",
		"--noise", "0.1", "--seed", "5", "--out", p("data.csv"))
	mustRun(t, "pack", "--data", p("data.csv"), "--out", p("data.lrspd"), "--precision", "float64")
	mustRun(t, "train", "--data", p("data.csv"), "--rank", "1", "--sparsity", "1", "--out", p("model.lrsp"))
	for _, extra := range [][]string{nil, {"--json"}} {
		args := append([]string{"eval", "--model", p("model.lrsp")}, extra...)
		want := mustRun(t, append(args, "--data", p("data.csv"))...)
		if got := mustRun(t, append(args, "--data", p("data.lrspd"))...); got != want {
			t.Errorf("%v: packed:\n%s\nwant (from CSV):\n%s", extra, got, want)
		}
	}

	m, err := model.Load(p("model.lrsp"))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.ReadCSVFile(context.Background(), p("data.csv"), dataset.CSVOptions{RequireTarget: true})
	if err != nil {
		t.Fatal(err)
	}
	pred, err := eval.Predict(m, ds, eval.UnknownError)
	if err != nil {
		t.Fatal(err)
	}
	want, err := eval.Score(ds, pred)
	if err != nil {
		t.Fatal(err)
	}
	c := newRoot(new(bytes.Buffer), new(bytes.Buffer))
	for _, chunk := range []int{1, 8 * 15 * 4 * 3, evalChunkBytes} {
		sds, spred, err := predictPacked(context.Background(), c, p("data.lrspd"), dataset.CSVOptions{RequireTarget: true},
			m, eval.UnknownError, chunk)
		if err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		got, err := eval.Score(sds, spred)
		if err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("chunk %d bytes: %+v, want %+v", chunk, got, want)
		}
	}
}
