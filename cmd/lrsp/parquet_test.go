package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/lrsp/lrsp/dataset"
)

// parquetRow is one sample of three features, in the column order that
// lrsp synth writes.
type parquetRow struct {
	User string  `parquet:"user"`
	X0   float64 `parquet:"x0"`
	X1   float64 `parquet:"x1"`
	X2   float64 `parquet:"x2"`
	Y    float64 `parquet:"y"`
}

// writeParquetRows writes rows to path with parquet-go's generic writer.
func writeParquetRows(t *testing.T, path string, rows []parquetRow) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[parquetRow](f, parquet.Compression(&parquet.Snappy))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestParquetData runs the subcommands that read data on the same samples
// as CSV, as one Parquet file and as a directory of two, and wants the same
// output from each.
func TestParquetData(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	mustRun(t, "synth", "--users", "60", "--samples", "20", "--dim", "3", "--rank", "1", "--sparsity", "1",
		"--noise", "0.1", "--seed", "4", "--out", p("data.csv"))
	ds, err := dataset.ReadCSVFile(context.Background(), p("data.csv"), dataset.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]parquetRow, ds.Rows())
	for _, u := range ds.Users {
		for j, r := range u.Rows {
			x := u.X[3*j : 3*j+3]
			rows[r] = parquetRow{u.ID, x[0], x[1], x[2], u.Y[j]}
		}
	}
	writeParquetRows(t, p("data.parquet"), rows)
	if err := os.Mkdir(p("parts"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeParquetRows(t, p("parts/b.parquet"), rows[500:])
	writeParquetRows(t, p("parts/a.parquet"), rows[:500])

	mustRun(t, "train", "--data", p("data.csv"), "--rank", "1", "--sparsity", "1", "--out", p("model.lrsp"))
	for _, args := range [][]string{
		{"predict", "--model", p("model.lrsp")},
		{"eval", "--model", p("model.lrsp")},
		{"eval", "--model", p("model.lrsp"), "--features", "x0,x1,x2", "--user-column", "user"},
	} {
		want := mustRun(t, append(args, "--data", p("data.csv"))...)
		for _, data := range []string{p("data.parquet"), p("parts")} {
			if got := mustRun(t, append(args, "--data", data)...); got != want {
				t.Errorf("%v --data %s:\n%s\nwant (from CSV):\n%s", args, data, got, want)
			}
		}
	}
	if err := os.Mkdir(p("empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	wantErr(t, []string{"train", "--out", filepath.Join(t.TempDir(), "x.lrsp"), "--data", p("empty")}, p("empty"), "no *.parquet files")
	wantErr(t, []string{"train", "--out", filepath.Join(t.TempDir(), "x.lrsp"), "--data", p("missing.parquet")}, "missing.parquet")
	wantErr(t, []string{"train", "--out", filepath.Join(t.TempDir(), "x.lrsp"), "--data", p("data.parquet"), "--target-column", "z"}, p("data.parquet"), `missing target column "z"`)
}
