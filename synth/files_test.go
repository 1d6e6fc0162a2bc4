package synth_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/pack"
	"github.com/lrsp/lrsp/synth"
)

func TestSibling(t *testing.T) {
	for _, tc := range []struct{ path, suffix, want string }{
		{"data.csv", "-test", "data-test.csv"},
		{"dir/data.lrspd", "-new", "dir/data-new.lrspd"},
		{"data", "-new", "data-new"},
		{"a.b/data.csv", "-new-test", "a.b/data-new-test.csv"},
	} {
		if got := synth.Sibling(tc.path, tc.suffix); got != tc.want {
			t.Errorf("Sibling(%q, %q) = %q, want %q", tc.path, tc.suffix, got, tc.want)
		}
	}
}

func TestFilesWithDefaults(t *testing.T) {
	for _, tc := range []struct{ in, want synth.Files }{
		{synth.Files{Train: "d.csv"}, synth.Files{Train: "d.csv", New: "d-new.csv", Test: "d-test.csv"}},
		{synth.Files{Train: "d.csv", New: "n.csv", Truth: "t.json"}, synth.Files{Train: "d.csv", New: "n.csv", Test: "d-test.csv", Truth: "t.json"}},
		{synth.Files{Train: "d.csv", Test: "x.csv", NewTest: "y.csv"}, synth.Files{Train: "d.csv", New: "d-new.csv", Test: "x.csv", NewTest: "y.csv"}},
	} {
		if got := tc.in.WithDefaults(); got != tc.want {
			t.Errorf("%+v.WithDefaults() = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// readCSV reads a CSV file written by WriteFiles.
func readCSV(t *testing.T, path string) *dataset.Dataset {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ds, err := dataset.ReadCSV(context.Background(), f, path, dataset.CSVOptions{UserColumn: "user", TargetColumn: "y"})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func userIDs(ds *dataset.Dataset) []string {
	var ids []string
	for _, u := range ds.Users {
		ids = append(ids, u.ID)
	}
	return ids
}

func TestWriteFiles(t *testing.T) {
	for _, tc := range []struct {
		name      string
		o         synth.Options
		newTest   bool
		truth     bool
		wantFiles []string
		// wantUsers maps a written file to its users.
		wantUsers map[string][]string
	}{
		{name: "train only", o: synth.Options{Users: 2, Samples: 3, Dim: 3, Rank: 1, Sparsity: 1},
			wantFiles: []string{"d.csv"}, wantUsers: map[string][]string{"d.csv": {"u0", "u1"}}},
		{name: "all parts", o: synth.Options{Users: 2, Samples: 3, Dim: 3, Rank: 1, Sparsity: 1, NewUsers: 1, TestSamples: 2}, truth: true,
			wantFiles: []string{"d-new.csv", "d-test.csv", "d.csv", "t.json"},
			wantUsers: map[string][]string{"d.csv": {"u0", "u1"}, "d-new.csv": {"n0"}, "d-test.csv": {"u0", "u1", "n0"}}},
		{name: "split test", o: synth.Options{Users: 2, Samples: 3, Dim: 3, Rank: 1, Sparsity: 1, NewUsers: 1, TestSamples: 2}, newTest: true,
			wantFiles: []string{"d-new-test.csv", "d-new.csv", "d-test.csv", "d.csv"},
			wantUsers: map[string][]string{"d-test.csv": {"u0", "u1"}, "d-new-test.csv": {"n0"}}},
		{name: "split test without new users", o: synth.Options{Users: 2, Samples: 3, Dim: 3, Rank: 1, Sparsity: 1, TestSamples: 2}, newTest: true,
			wantFiles: []string{"d-test.csv", "d.csv"}, wantUsers: map[string][]string{"d-test.csv": {"u0", "u1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f := synth.Files{Train: filepath.Join(dir, "d.csv")}
			if tc.newTest {
				f.NewTest = synth.Sibling(f.Train, "-new-test")
			}
			if tc.truth {
				f.Truth = filepath.Join(dir, "t.json")
			}
			data := generate(t, tc.o)
			if err := synth.WriteFiles(data, f); err != nil {
				t.Fatal(err)
			}
			entries, _ := os.ReadDir(dir)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if !slices.Equal(names, tc.wantFiles) {
				t.Errorf("wrote %v, want %v", names, tc.wantFiles)
			}
			for name, want := range tc.wantUsers {
				if got := userIDs(readCSV(t, filepath.Join(dir, name))); !slices.Equal(got, want) {
					t.Errorf("%s holds users %v, want %v", name, got, want)
				}
			}
			if tc.truth {
				tr, err := synth.ReadTruth(f.Truth)
				if err != nil {
					t.Fatal(err)
				}
				if len(tr.Users) != tc.o.Users+tc.o.NewUsers {
					t.Errorf("truth holds %d users", len(tr.Users))
				}
			}
		})
	}
}

func TestWriteFilesError(t *testing.T) {
	data := generate(t, synth.Options{Users: 2, Samples: 3, Dim: 3, Rank: 1, Sparsity: 1})
	if err := synth.WriteFiles(data, synth.Files{Train: filepath.Join(t.TempDir(), "no", "d.csv")}); err == nil {
		t.Error("WriteFiles into a missing directory: no error")
	}
}

func TestWritePacked(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    synth.Options
		prec pack.Precision
		want []string
	}{
		{"train only", synth.Options{Users: 3, Samples: 4, Dim: 3, Rank: 1, Sparsity: 1, Seed: 2}, pack.Float64, []string{"d.lrspd"}},
		{"all parts float32", synth.Options{Users: 3, Samples: 4, Dim: 3, Rank: 1, Sparsity: 1, NewUsers: 2, TestSamples: 2, Seed: 2},
			pack.Float32, []string{"d-new.lrspd", "d-test.lrspd", "d.lrspd", "t.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f := synth.Files{Train: filepath.Join(dir, "d.lrspd"), Truth: filepath.Join(dir, "t.json")}
			if len(tc.want) == 1 {
				f.Truth = ""
			}
			if err := synth.WritePacked(context.Background(), tc.o, tc.prec, f); err != nil {
				t.Fatal(err)
			}
			entries, _ := os.ReadDir(dir)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if !slices.Equal(names, tc.want) {
				t.Fatalf("wrote %v, want %v", names, tc.want)
			}
			// The packed data are those Generate draws.
			data := generate(t, tc.o)
			parts := map[string]*dataset.Dataset{"d.lrspd": data.Train, "d-new.lrspd": data.New, "d-test.lrspd": data.Test}
			for name, want := range parts {
				if want == nil {
					continue
				}
				p, err := pack.Open(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				got, err := p.ReadAll(context.Background())
				p.Close()
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(userIDs(got), userIDs(want)) || got.Samples() != want.Samples() {
					t.Errorf("%s: users %v (%d samples), want %v (%d)", name, userIDs(got), got.Samples(), userIDs(want), want.Samples())
				}
				if tc.prec == pack.Float64 && !sameData(got, want) {
					t.Errorf("%s differs from Generate's data", name)
				}
			}
		})
	}
}

func TestWritePackedCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	o := synth.Options{Users: 5000, Samples: 1, Dim: 2, Rank: 1, Sparsity: 1}
	if err := synth.WritePacked(ctx, o, pack.Float64, synth.Files{Train: filepath.Join(dir, "d.lrspd")}); err == nil {
		t.Fatal("WritePacked with a done context: no error")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("canceled WritePacked left %v", entries)
	}
}

func TestRandomModel(t *testing.T) {
	for _, tc := range []struct {
		name    string
		o       synth.RandomModelOptions
		method  string
		wantErr bool
	}{
		{name: "lrs", o: synth.RandomModelOptions{Users: 20, Dim: 6, Rank: 2, Sparsity: 3, Seed: 1}, method: model.MethodLRS},
		{name: "no rank", o: synth.RandomModelOptions{Users: 3, Dim: 4, Sparsity: 4}, method: model.MethodLRS},
		{name: "network, logistic", o: synth.RandomModelOptions{Users: 5, Dim: 4, Rank: 1, Sparsity: 1, Inputs: 3, Loss: model.LossLogistic},
			method: model.MethodNeuralLRS},
		{name: "zero value", wantErr: true},
		{name: "rank above d", o: synth.RandomModelOptions{Dim: 2, Rank: 3}, wantErr: true},
		{name: "sparsity above d", o: synth.RandomModelOptions{Dim: 2, Sparsity: 3}, wantErr: true},
		{name: "too many inputs", o: synth.RandomModelOptions{Dim: 2, Inputs: synth.MaxRandomInputs + 1}, wantErr: true},
		{name: "bad loss", o: synth.RandomModelOptions{Dim: 2, Loss: "hinge"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := synth.RandomModel(context.Background(), tc.o)
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				if got := err.Error(); len(got) < 7 || got[:7] != "synth: " {
					t.Errorf("error %q lacks the package prefix", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Validate(); err != nil {
				t.Fatalf("invalid model: %v", err)
			}
			if m.Method != tc.method || len(m.Users) != tc.o.Users || m.Dim != tc.o.Dim || m.Rank != tc.o.Rank {
				t.Errorf("model %s with %d users, d=%d r=%d", m.Method, len(m.Users), m.Dim, m.Rank)
			}
			if (m.Loss == model.LossLogistic) != (tc.o.Loss == model.LossLogistic) {
				t.Errorf("loss %q, want %q", m.Loss, tc.o.Loss)
			}
			for _, u := range m.Users {
				if len(u.Index) != tc.o.Sparsity || !slices.IsSorted(u.Index) {
					t.Fatalf("user %s: support %v", u.ID, u.Index)
				}
			}
			again, _ := synth.RandomModel(context.Background(), tc.o)
			if !slices.Equal(m.U, again.U) || len(m.Users) > 0 && !slices.Equal(m.Users[0].W, again.Users[0].W) {
				t.Error("RandomModel is not deterministic in the seed")
			}
		})
	}
}

// TestWritePackedSplitsNewUsersTest checks that WritePacked, like
// WriteFiles, writes the new users' held-out samples to Files.NewTest.
func TestWritePackedSplitsNewUsersTest(t *testing.T) {
	o := synth.Options{Users: 3, Samples: 4, Dim: 3, Rank: 1, Sparsity: 1, NewUsers: 2, TestSamples: 2, Seed: 2}
	dir := t.TempDir()
	f := synth.Files{Train: filepath.Join(dir, "d.lrspd")}
	f.NewTest = synth.Sibling(f.Train, "-new-test")
	if err := synth.WritePacked(context.Background(), o, pack.Float64, f); err != nil {
		t.Fatal(err)
	}
	test, newTest := dataset.SplitUsers(generate(t, o).Test, generate(t, o).Train)
	for name, want := range map[string]*dataset.Dataset{"d-test.lrspd": test, "d-new-test.lrspd": newTest} {
		p, err := pack.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.ReadAll(context.Background())
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(userIDs(got), userIDs(want)) || got.Samples() != want.Samples() {
			t.Errorf("%s: users %v (%d samples), want %v (%d)", name, userIDs(got), got.Samples(), userIDs(want), want.Samples())
		}
	}
}
