package datafile_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/lrsp/lrsp/datafile"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/pack"
	"github.com/lrsp/lrsp/synth"
)

type parquetRow struct {
	User string  `parquet:"user"`
	X0   float64 `parquet:"x0"`
	X1   float64 `parquet:"x1"`
	X2   float64 `parquet:"x2"`
	Y    float64 `parquet:"y"`
}

// files writes the same synthetic data as CSV, packed (with and without
// targets) and Parquet into dir and returns the data.
func files(t *testing.T, dir string) *dataset.Dataset {
	t.Helper()
	data, err := synth.Generate(synth.Options{Users: 12, Samples: 5, Dim: 3, Rank: 1, Sparsity: 1, Noise: 0.1, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	ds := data.Train
	var buf bytes.Buffer
	if err := dataset.WriteCSV(&buf, ds); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "d.csv"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := pack.WriteDataset(filepath.Join(dir, "d.lrspd"), ds, pack.Float64); err != nil {
		t.Fatal(err)
	}
	noY := *ds
	noY.HasTarget = false
	noY.Users = append([]dataset.User(nil), ds.Users...)
	for i := range noY.Users {
		noY.Users[i].Y = nil
	}
	if err := pack.WriteDataset(filepath.Join(dir, "noy.lrspd"), &noY, pack.Float64); err != nil {
		t.Fatal(err)
	}
	rows := make([]parquetRow, ds.Samples())
	for _, u := range ds.Users {
		for s, r := range u.Rows {
			x := u.X[s*3 : (s+1)*3]
			rows[r] = parquetRow{User: u.ID, X0: x[0], X1: x[1], X2: x[2], Y: u.Y[s]}
		}
	}
	f, err := os.Create(filepath.Join(dir, "d.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[parquetRow](f)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	want := files(t, dir)
	for _, tc := range []struct {
		name    string
		file    string
		cols    dataset.CSVOptions
		wantErr string
		bytes   bool
	}{
		{name: "csv", file: "d.csv", bytes: true},
		{name: "parquet", file: "d.parquet"},
		{name: "packed", file: "d.lrspd"},
		{name: "packed, features restated", file: "d.lrspd", cols: dataset.CSVOptions{Features: []string{"x0", "x1", "x2"}}},
		{name: "packed, features selected", file: "d.lrspd", cols: dataset.CSVOptions{Features: []string{"x1"}},
			wantErr: "--features cannot select columns of a packed file; it holds [x0 x1 x2]"},
		{name: "packed without targets", file: "noy.lrspd", cols: dataset.CSVOptions{RequireTarget: true},
			wantErr: "the packed data have no targets"},
		{name: "missing", file: "none.csv", wantErr: "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var done, total int64
			o := datafile.Options{Columns: tc.cols, Bytes: func(d, n int64) { done, total = d, n }}
			ds, err := datafile.Read(context.Background(), filepath.Join(dir, tc.file), o)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ds.Samples() != want.Samples() || len(ds.Users) != len(want.Users) || !reflect.DeepEqual(ds.Features, want.Features) {
				t.Errorf("read %d users, %d samples, features %v", len(ds.Users), ds.Samples(), ds.Features)
			}
			if tc.bytes && (total == 0 || done != total) {
				t.Errorf("Bytes reported %d of %d", done, total)
			}
		})
	}
}

func TestShort(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{nil, "[]"},
		{[]string{"a", "b"}, "[a b]"},
		{strings.Fields("a b c d e f g h"), "[a b c d e f g h]"},
		{strings.Fields("a b c d e f g h i"), "[a b c d e f g h] ... (9)"},
	} {
		if got := datafile.Short(tc.names); got != tc.want {
			t.Errorf("Short(%v) = %q, want %q", tc.names, got, tc.want)
		}
	}
}

// trained returns a model of the users of ds with random parameters of
// the right sizes.
func trained(t *testing.T, ds *dataset.Dataset) *model.Model {
	t.Helper()
	m, err := synth.RandomModel(context.Background(), synth.RandomModelOptions{Users: len(ds.Users), Dim: ds.Dim(), Rank: 1, Sparsity: 1, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	m.Features = ds.Features
	return m
}

// TestPredict checks that a streamed packed file predicts exactly what the
// same data read whole do, whatever the chunk size.
func TestPredict(t *testing.T) {
	dir := t.TempDir()
	ds := files(t, dir)
	m := trained(t, ds)
	wantPred, err := eval.Predict(m, ds, eval.UnknownError)
	if err != nil {
		t.Fatal(err)
	}
	want, err := eval.Score(ds, wantPred)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file  string
		chunk int64
	}{
		{"d.csv", 0}, {"d.parquet", 0}, {"d.lrspd", 1}, {"d.lrspd", 8 * 5 * 3 * 2}, {"d.lrspd", 0},
	} {
		var calls, done, total int
		o := datafile.PredictOptions{Options: datafile.Options{Columns: dataset.CSVOptions{RequireTarget: true}}, ChunkBytes: tc.chunk,
			Users: func(d, n int) { calls, done, total = calls+1, d, n }}
		sds, pred, err := datafile.Predict(context.Background(), filepath.Join(dir, tc.file), m, o)
		if err != nil {
			t.Fatalf("%s, chunk %d: %v", tc.file, tc.chunk, err)
		}
		if !reflect.DeepEqual(pred, wantPred) {
			t.Errorf("%s, chunk %d: predictions differ", tc.file, tc.chunk)
		}
		got, err := eval.Score(sds, pred)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s, chunk %d: %+v, want %+v", tc.file, tc.chunk, got, want)
		}
		if tc.file == "d.lrspd" && (calls < 2 || done != len(ds.Users) || total != len(ds.Users)) {
			t.Errorf("chunk %d: %d progress calls, last %d of %d", tc.chunk, calls, done, total)
		}
	}
	m.Users = m.Users[:1]
	for _, file := range []string{"d.csv", "d.lrspd"} {
		_, _, err := datafile.Predict(context.Background(), filepath.Join(dir, file), m, datafile.PredictOptions{})
		if err == nil || !strings.HasPrefix(err.Error(), filepath.Join(dir, file)+": ") {
			t.Errorf("%s with unknown users: error %v, want one naming the file", file, err)
		}
	}
}

func TestWritePredictions(t *testing.T) {
	ds := &dataset.Dataset{Features: []string{"x"}, HasTarget: true, Users: []dataset.User{
		{ID: "a", Y: []float64{1, 2}, Rows: []int{0, 2}},
		{ID: "b", Y: []float64{0.5}, Rows: []int{1}},
	}}
	for _, tc := range []struct {
		name   string
		target bool
		want   string
	}{
		{"with targets", true, "user,prediction,y\na,0.1,1\nb,0.2,0.5\na,0.3333333333333333,2\n"},
		{"without targets", false, "user,prediction\na,0.1\nb,0.2\na,0.3333333333333333\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := *ds
			d.HasTarget = tc.target
			var buf bytes.Buffer
			if err := datafile.WritePredictions(&buf, &d, []float64{0.1, 0.2, 1.0 / 3}); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tc.want {
				t.Errorf("wrote %q, want %q", buf.String(), tc.want)
			}
		})
	}
}

func TestForEachChunkError(t *testing.T) {
	dir := t.TempDir()
	files(t, dir)
	p, err := datafile.OpenPacked(filepath.Join(dir, "d.lrspd"), dataset.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	n := 0
	err = datafile.ForEachChunk(context.Background(), p, 1, nil, func(*dataset.Dataset) error {
		if n++; n == 2 {
			return os.ErrInvalid
		}
		return nil
	})
	if err != os.ErrInvalid || n != 2 {
		t.Errorf("ForEachChunk: %v after %d chunks, want fn's error after 2", err, n)
	}
}

// TestPredictPackedInputOrder checks that predictions of a packed file whose
// users' rows interleave in the input are indexed, and written, in input
// row order, as those of the same rows read from CSV are.
func TestPredictPackedInputOrder(t *testing.T) {
	dir := t.TempDir()
	ds := files(t, dir)
	n := len(ds.Users)
	for i := range ds.Users {
		for s := range ds.Users[i].Rows {
			ds.Users[i].Rows[s] = s*n + i // user i's sample s is input row s*n+i
		}
	}
	var buf bytes.Buffer
	if err := dataset.WriteCSV(&buf, ds); err != nil {
		t.Fatal(err)
	}
	csvPath, packPath := filepath.Join(dir, "i.csv"), filepath.Join(dir, "i.lrspd")
	if err := os.WriteFile(csvPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := pack.WriteDataset(packPath, ds, pack.Float64); err != nil {
		t.Fatal(err)
	}
	m := trained(t, ds)
	var outs []string
	var preds [][]float64
	for _, path := range []string{csvPath, packPath} {
		for _, chunk := range []int64{1, 0} {
			got, pred, err := datafile.Predict(context.Background(), path, m, datafile.PredictOptions{ChunkBytes: chunk})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := datafile.WritePredictions(&out, got, pred); err != nil {
				t.Fatal(err)
			}
			outs, preds = append(outs, out.String()), append(preds, pred)
		}
	}
	for i := 1; i < len(outs); i++ {
		if outs[i] != outs[0] || !reflect.DeepEqual(preds[i], preds[0]) {
			t.Fatalf("run %d: predictions differ from CSV's:\n%s\nwant\n%s", i, outs[i], outs[0])
		}
	}
	if !strings.HasPrefix(outs[0], "user,prediction,y\n"+ds.Users[0].ID+",") ||
		!strings.Contains(outs[0], "\n"+ds.Users[1].ID+",") {
		t.Errorf("predictions not in input order:\n%s", outs[0])
	}
}
