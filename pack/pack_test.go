package pack_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/pack"
	"github.com/lrsp/lrsp/synth"
)

func synthData(t testing.TB, o synth.Options) *synth.Data {
	t.Helper()
	data, err := synth.Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func write(t testing.TB, ds *dataset.Dataset, prec pack.Precision) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data.lrspd")
	if err := pack.WriteDataset(path, ds, prec); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRoundTrip(t *testing.T) {
	data := synthData(t, synth.Options{Users: 37, Samples: 9, Dim: 7, Rank: 2, Sparsity: 1, Noise: 0.3, Seed: 1})
	for _, tt := range []struct {
		prec pack.Precision
		tol  float64
	}{{pack.Float64, 0}, {pack.Float32, 1e-6}} {
		p, err := pack.Open(write(t, data.Train, tt.prec))
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.ReadAll(context.Background())
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := data.Train
		if len(got.Users) != len(want.Users) || strings.Join(got.Features, ",") != strings.Join(want.Features, ",") || !got.HasTarget {
			t.Fatalf("precision %d: shape differs", tt.prec)
		}
		for i := range want.Users {
			g, w := &got.Users[i], &want.Users[i]
			if g.ID != w.ID || g.Len() != w.Len() {
				t.Fatalf("user %d: %s/%d, want %s/%d", i, g.ID, g.Len(), w.ID, w.Len())
			}
			for s := range w.Y {
				if g.Y[s] != w.Y[s] || g.Rows[s] != w.Rows[s] {
					t.Fatalf("user %s sample %d: y or row differs", w.ID, s)
				}
			}
			for j := range w.X {
				if e := math.Abs(g.X[j] - w.X[j]); e > tt.tol*math.Max(1, math.Abs(w.X[j])) {
					t.Fatalf("precision %d: user %s x[%d] = %v, want %v", tt.prec, w.ID, j, g.X[j], w.X[j])
				}
			}
		}
	}
}

// trainPacked trains AMHT-LRS streamed from data's training users
// written to a packed file of precision prec, and compares the model with
// data's truth.
func trainPacked(t *testing.T, data *synth.Data, prec pack.Precision, opt amht.Options) (*amht.Result, eval.Recovery) {
	t.Helper()
	p, err := pack.Open(write(t, data.Train, prec))
	if err != nil {
		t.Fatal(err)
	}
	res, err := amht.TrainSource(context.Background(), p, nil, opt)
	p.Close()
	if err != nil {
		t.Fatal(err)
	}
	rec, err := eval.CompareTruth(res.Model, data.Truth)
	if err != nil {
		t.Fatal(err)
	}
	return res, rec
}

// TestTrainStreamed checks that training streamed from a packed float64
// file gives the same model as training in memory, and that float32
// storage still recovers noiseless data to relative error below 1e-5.
func TestTrainStreamed(t *testing.T) {
	data := synthData(t, synth.Options{Users: 300, Samples: 30, Dim: 40, Rank: 3, Sparsity: 3, Seed: 2})
	opt := amht.Options{Rank: 3, Sparsity: 3}
	mem, err := amht.Train(context.Background(), data.Train, nil, opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, prec := range []pack.Precision{pack.Float64, pack.Float32} {
		res, rec := trainPacked(t, data, prec, opt)
		t.Logf("precision %d: %+v", prec, rec)
		switch prec {
		case pack.Float64:
			diff := 0.0
			for j := range mem.Model.U {
				diff = math.Max(diff, math.Abs(mem.Model.U[j]-res.Model.U[j]))
			}
			if diff > 1e-12 {
				t.Errorf("streamed U differs from in-memory U by %g", diff)
			}
		case pack.Float32:
			if rec.ParamError > 1e-5 || rec.SupportRecovered != 1 {
				t.Errorf("float32: %+v", rec)
			}
		}
	}
}

func TestCorruption(t *testing.T) {
	data := synthData(t, synth.Options{Users: 5, Samples: 4, Dim: 3, Rank: 1, Seed: 3})
	path := write(t, data.Train, pack.Float64)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	scanAll := func(p *pack.File) error {
		var sc dataset.Scratch
		return p.Scan(0, p.NumUsers(), &sc, func(int, []float64, []float64) error { return nil })
	}
	// Every truncation and every single-byte change is an error at Open or
	// at Scan, never a panic or silent success, whether the file is
	// mapped or read.
	for n := 0; n < len(orig); n++ {
		for _, b := range [][]byte{orig[:n], flip(orig, n)} {
			bad := filepath.Join(t.TempDir(), "bad.lrspd")
			if err := os.WriteFile(bad, b, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, open := range []func(string) (*pack.File, error){pack.Open, pack.OpenReadAt} {
				p, err := open(bad)
				if err == nil {
					err = scanAll(p)
					p.Close()
				}
				if err == nil && len(b) != len(orig) {
					t.Fatalf("truncation to %d bytes: no error", n)
				}
				if err == nil && len(b) == len(orig) {
					t.Fatalf("byte %d changed: no error", n)
				}
			}
		}
	}
	// Another version.
	v2 := append([]byte(nil), orig...)
	v2[8] = 2
	bad := filepath.Join(t.TempDir(), "v2.lrspd")
	os.WriteFile(bad, v2, 0o644)
	if _, err := pack.Open(bad); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("version 2: %v", err)
	}
}

func flip(b []byte, n int) []byte {
	c := append([]byte(nil), b...)
	c[n] ^= 0x20
	return c
}

func TestWriterErrors(t *testing.T) {
	dir := t.TempDir()
	w, err := pack.Create(filepath.Join(dir, "x.lrspd"), []string{"a", "b"}, true, pack.Float64)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	tests := []struct {
		name string
		id   string
		x, y []float64
		rows []int
	}{
		{"empty id", "", []float64{1, 2}, []float64{1}, []int{0}},
		{"no samples", "u", nil, nil, nil},
		{"ragged x", "u", []float64{1}, []float64{1}, []int{0}},
		{"missing y", "u", []float64{1, 2}, nil, []int{0}},
	}
	for _, tt := range tests {
		if err := w.Add(tt.id, tt.x, tt.y, tt.rows); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	if err := w.Add("u", []float64{1, 2}, []float64{3}, []int{0}); err != nil {
		t.Fatal(err)
	}
	if err := w.Add("u", []float64{1, 2}, []float64{3}, []int{1}); err == nil {
		t.Error("duplicate user: no error")
	}
	if _, err := pack.Create(filepath.Join(dir, "y.lrspd"), []string{"a"}, true, 3); err == nil {
		t.Error("precision 3: no error")
	}
}

// FuzzOpen checks that no file content makes Open or Scan panic, and that
// Scan reads the same through the memory map as with ReadAt.
func FuzzOpen(f *testing.F) {
	data, err := synth.Generate(synth.Options{Users: 3, Samples: 2, Dim: 2, Rank: 1, Seed: 1})
	if err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	for i, prec := range []pack.Precision{pack.Float64, pack.Float32} {
		path := filepath.Join(dir, string(rune('a'+i)))
		if err := pack.WriteDataset(path, data.Train, prec); err != nil {
			f.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "f.lrspd")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := pack.Open(path)
		if err != nil {
			return
		}
		defer p.Close()
		got, err := scanRanges(p, [][2]int{{0, p.NumUsers()}})
		// The ReadAt path reads the same values, or fails the same way.
		rp, rerr := pack.OpenReadAt(path)
		if rerr != nil {
			t.Fatalf("Open succeeds, OpenReadAt fails: %v", rerr)
		}
		defer rp.Close()
		want, rerr := scanRanges(rp, [][2]int{{0, rp.NumUsers()}})
		if (err == nil) != (rerr == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("mapped Scan: %d users, error %v; ReadAt: %d users, error %v", len(got.users), err, len(want.users), rerr)
		}
	})
}

// TestOpenBadRowNumbers checks that a file whose input row numbers are not
// 0..n-1, each once, is refused at Open: predictions are written by them.
func TestOpenBadRowNumbers(t *testing.T) {
	for _, tc := range []struct {
		name string
		rows [][]int
	}{
		{"repeated", [][]int{{0, 1}, {1, 2}}},
		{"out of range", [][]int{{0, 1}, {2, 4}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "d.lrspd")
			w, err := pack.Create(path, []string{"x"}, false, pack.Float64)
			if err != nil {
				t.Fatal(err)
			}
			for i, rows := range tc.rows {
				if err := w.Add(string(rune('a'+i)), make([]float64, len(rows)), nil, rows); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			p, err := pack.Open(path)
			if err == nil {
				p.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "input row number") {
				t.Errorf("error %v, want one about input row numbers", err)
			}
		})
	}
}

// TestWriteDatasetKeepsSymlink guards against a packed --out replacing a
// symbolic link with a regular file (or a FIFO, which cannot hold a packed
// file: its header is rewritten at the end).
func TestWriteDatasetKeepsSymlink(t *testing.T) {
	data := synthData(t, synth.Options{Users: 3, Samples: 4, Dim: 2, Rank: 1, Sparsity: 1, Seed: 1})
	dir := t.TempDir()
	link := filepath.Join(dir, "link.lrspd")
	if err := os.Symlink("real.lrspd", link); err != nil {
		t.Fatal(err)
	}
	if err := pack.WriteDataset(link, data.Train, pack.Float64); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the link was replaced")
	}
	p, err := pack.Open(filepath.Join(dir, "real.lrspd"))
	if err != nil {
		t.Fatal(err)
	}
	if p.NumUsers() != 3 {
		t.Errorf("%d users", p.NumUsers())
	}
	p.Close()
	fifo := filepath.Join(dir, "pipe.lrspd")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if err := pack.WriteDataset(fifo, data.Train, pack.Float64); err == nil || !strings.Contains(err.Error(), "FIFO") {
		t.Errorf("packing into a FIFO: err %v", err)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Error("the FIFO was replaced")
	}
}

// TestFloat32Accuracy checks that training on float32 features, streamed
// and widened user by user, keeps noiseless recovery exact to the float32
// level and leaves the noise floor where float64 features put it, with
// both U updates.
func TestFloat32Accuracy(t *testing.T) {
	for _, tt := range []struct {
		name  string
		noise float64
		// maxErr bounds the float32 run's relative parameter error when
		// noiseless; with noise, its error must be within 1% of the
		// float64 run's.
		maxErr float64
	}{
		{"noiseless", 0, 1e-6},
		{"noise-0.1", 0.1, 0},
	} {
		data := synthData(t, synth.Options{Users: 400, Samples: 40, Dim: 40, Rank: 3, Sparsity: 3, Noise: tt.noise, Seed: 3})
		for _, upd := range []amht.Update{amht.UpdateGradient, amht.UpdateCG} {
			t.Run(tt.name+"/"+upd.String(), func(t *testing.T) {
				errs := map[pack.Precision]float64{}
				for _, prec := range []pack.Precision{pack.Float64, pack.Float32} {
					res, rec := trainPacked(t, data, prec, amht.Options{Rank: 3, Sparsity: 3, Update: upd, Tolerance: 1e-8})
					t.Logf("precision %d: %d rounds, error %.3g, support %.3f", prec, len(res.Rounds), rec.ParamError, rec.SupportRecovered)
					errs[prec] = rec.ParamError
					if tt.noise == 0 && (rec.ParamError > tt.maxErr || rec.SupportRecovered != 1) {
						t.Errorf("precision %d: %+v", prec, rec)
					}
				}
				if e32, e64 := errs[pack.Float32], errs[pack.Float64]; tt.noise > 0 && math.Abs(e32-e64) > 0.01*e64 {
					t.Errorf("noise floor: float32 error %.4g, float64 %.4g", e32, e64)
				}
			})
		}
	}
}
