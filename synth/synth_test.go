package synth_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/synth"
)

func generate(t *testing.T, o synth.Options) *synth.Data {
	t.Helper()
	data, err := synth.Generate(o)
	if err != nil {
		t.Fatalf("Generate(%+v): %v", o, err)
	}
	return data
}

func sameData(a, b *dataset.Dataset) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	if a == nil {
		return true
	}
	if !slices.Equal(a.Features, b.Features) || a.HasTarget != b.HasTarget || len(a.Users) != len(b.Users) {
		return false
	}
	for i := range a.Users {
		u, v := a.Users[i], b.Users[i]
		if u.ID != v.ID || !slices.Equal(u.X, v.X) || !slices.Equal(u.Y, v.Y) || !slices.Equal(u.Rows, v.Rows) {
			return false
		}
	}
	return true
}

func TestGenerateDeterministic(t *testing.T) {
	o := synth.Options{Users: 20, Samples: 7, Dim: 12, Rank: 3, Sparsity: 2, Noise: 0.1, NewUsers: 4, TestSamples: 3, Seed: 42}
	a, b := generate(t, o), generate(t, o)
	if !sameData(a.Train, b.Train) || !sameData(a.New, b.New) || !sameData(a.Test, b.Test) || !reflect.DeepEqual(a.Truth, b.Truth) {
		t.Fatal("two runs with the same seed differ")
	}
	o.Seed = 43
	c := generate(t, o)
	if sameData(a.Train, c.Train) || reflect.DeepEqual(a.Truth.U, c.Truth.U) {
		t.Fatal("seeds 42 and 43 gave the same data")
	}
}

func TestGenerateShapes(t *testing.T) {
	for _, o := range []synth.Options{
		{Users: 30, Samples: 9, Dim: 15, Rank: 4, Sparsity: 3, NewUsers: 5, TestSamples: 2, Seed: 1},
		{Users: 3, Samples: 1, Dim: 1, Rank: 1, Sparsity: 1, Seed: 2},
		{Users: 4, Samples: 6, Dim: 5, Rank: 0, Sparsity: 5, Seed: 3},
		{Users: 4, Samples: 6, Dim: 5, Rank: 5, Sparsity: 0, NewUsers: 1, Seed: 4},
	} {
		t.Run(fmt.Sprintf("%+v", o), func(t *testing.T) {
			data := generate(t, o)
			checkUsers(t, "train", data.Train, "u", o.Users, o.Samples, o)
			if o.NewUsers > 0 {
				checkUsers(t, "new", data.New, "n", o.NewUsers, o.Samples, o)
			} else if data.New != nil {
				t.Errorf("New = %d users, want nil", len(data.New.Users))
			}
			if o.TestSamples > 0 {
				if len(data.Test.Users) != o.Users+o.NewUsers {
					t.Errorf("test data has %d users, want %d", len(data.Test.Users), o.Users+o.NewUsers)
				}
				checkUsers(t, "test", &dataset.Dataset{Features: data.Test.Features, HasTarget: true, Users: data.Test.Users[:o.Users]},
					"u", o.Users, o.TestSamples, o)
			} else if data.Test != nil {
				t.Errorf("Test = %d users, want nil", len(data.Test.Users))
			}
			tr := data.Truth
			if tr.D != o.Dim || tr.R != o.Rank || tr.K != o.Sparsity || len(tr.U) != o.Dim || len(tr.Users) != o.Users+o.NewUsers {
				t.Errorf("truth sizes d=%d r=%d k=%d, %d rows of U, %d users", tr.D, tr.R, tr.K, len(tr.U), len(tr.Users))
			}
			if err := tr.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

// checkUsers checks that ds holds n users prefix0.. with m samples each,
// rows numbered in order, and features x0..x{d-1}.
func checkUsers(t *testing.T, name string, ds *dataset.Dataset, prefix string, n, m int, o synth.Options) {
	t.Helper()
	if ds == nil {
		t.Fatalf("%s: no data", name)
	}
	if ds.Dim() != o.Dim || ds.Features[0] != "x0" || ds.Features[o.Dim-1] != "x"+strconv.Itoa(o.Dim-1) || !ds.HasTarget {
		t.Errorf("%s: features %v, target %v", name, ds.Features, ds.HasTarget)
	}
	if len(ds.Users) != n {
		t.Fatalf("%s: %d users, want %d", name, len(ds.Users), n)
	}
	row := 0
	for i, u := range ds.Users {
		if u.ID != prefix+strconv.Itoa(i) || u.Len() != m || len(u.X) != m*o.Dim || len(u.Y) != m {
			t.Fatalf("%s: user %d is %q with %d samples, %d x, %d y", name, i, u.ID, u.Len(), len(u.X), len(u.Y))
		}
		for _, r := range u.Rows {
			if name != "test" && r != row {
				t.Fatalf("%s: user %q has row %d, want %d", name, u.ID, r, row)
			}
			row++
		}
	}
}

func TestTruthBasisOrthonormal(t *testing.T) {
	for _, r := range []int{1, 3, 8, 20} {
		data := generate(t, synth.Options{Users: 1, Samples: 1, Dim: 20, Rank: r, Seed: uint64(r)})
		u := data.Truth.U
		for a := 0; a < r; a++ {
			for b := 0; b < r; b++ {
				s := 0.0
				for j := range u {
					s += u[j][a] * u[j][b]
				}
				want := 0.0
				if a == b {
					want = 1
				}
				if math.Abs(s-want) > 1e-12 {
					t.Errorf("r=%d: <U_%d, U_%d> = %v, want %v", r, a, b, s, want)
				}
			}
		}
	}
}

func TestTruthSparsity(t *testing.T) {
	for _, k := range []int{0, 1, 4, 16} {
		o := synth.Options{Users: 40, Samples: 1, Dim: 16, Rank: 2, Sparsity: k, NewUsers: 10, Seed: 9}
		data := generate(t, o)
		for id, u := range data.Truth.Users {
			if len(u.B) != k {
				t.Fatalf("k=%d: user %s has %d non-zeros", k, id, len(u.B))
			}
			for s, v := range u.B {
				j, err := strconv.Atoi(s)
				if err != nil || j < 0 || j >= o.Dim || strconv.Itoa(j) != s || v == 0 {
					t.Fatalf("k=%d: user %s has non-zero %q -> %v", k, id, s, v)
				}
			}
			if len(u.W) != o.Rank {
				t.Fatalf("user %s: w has %d entries", id, len(u.W))
			}
		}
	}
}

func TestNoiselessTargets(t *testing.T) {
	data := generate(t, synth.Options{Users: 25, Samples: 8, Dim: 10, Rank: 3, Sparsity: 2, NewUsers: 5, TestSamples: 4, Seed: 5})
	for _, ds := range []*dataset.Dataset{data.Train, data.New, data.Test} {
		d := ds.Dim()
		for _, u := range ds.Users {
			theta, err := data.Truth.Theta(u.ID)
			if err != nil {
				t.Fatal(err)
			}
			for s := 0; s < u.Len(); s++ {
				y := 0.0
				for j, x := range u.X[s*d : (s+1)*d] {
					y += x * theta[j]
				}
				if u.Y[s] != y {
					t.Fatalf("user %s sample %d: y = %v, <x, theta> = %v", u.ID, s, u.Y[s], y)
				}
			}
		}
	}
}

// TestDistributions checks the moments of x and of the noise with
// tolerances of six or more standard errors.
func TestDistributions(t *testing.T) {
	const sigma = 0.5
	data := generate(t, synth.Options{Users: 200, Samples: 50, Dim: 10, Rank: 2, Sparsity: 2, Noise: sigma, Seed: 6})
	var n, sx, sxx, sr, srr float64
	d := data.Train.Dim()
	for _, u := range data.Train.Users {
		theta, _ := data.Truth.Theta(u.ID)
		for s := 0; s < u.Len(); s++ {
			y := 0.0
			for j, x := range u.X[s*d : (s+1)*d] {
				sx += x
				sxx += x * x
				y += x * theta[j]
			}
			r := u.Y[s] - y
			sr += r
			srr += r * r
			n++
		}
	}
	nx := n * float64(d)
	if m, v := sx/nx, sxx/nx; math.Abs(m) > 0.02 || math.Abs(v-1) > 0.03 {
		t.Errorf("x: mean %v, second moment %v; want 0 and 1", m, v)
	}
	if m, sd := sr/n, math.Sqrt(srr/n); math.Abs(m) > 0.06 || math.Abs(sd-sigma) > 0.03 {
		t.Errorf("noise: mean %v, sd %v; want 0 and %v", m, sd, sigma)
	}
}

func TestGenerateInvalid(t *testing.T) {
	ok := synth.Options{Users: 2, Samples: 2, Dim: 4, Rank: 2, Sparsity: 2}
	for name, change := range map[string]func(o *synth.Options){
		"no users":       func(o *synth.Options) { o.Users = 0 },
		"no samples":     func(o *synth.Options) { o.Samples = 0 },
		"no features":    func(o *synth.Options) { o.Dim = 0 },
		"negative rank":  func(o *synth.Options) { o.Rank = -1 },
		"rank > d":       func(o *synth.Options) { o.Rank = 5 },
		"sparsity > d":   func(o *synth.Options) { o.Sparsity = 5 },
		"negative k":     func(o *synth.Options) { o.Sparsity = -1 },
		"negative noise": func(o *synth.Options) { o.Noise = -1 },
		"NaN noise":      func(o *synth.Options) { o.Noise = math.NaN() },
		"Inf noise":      func(o *synth.Options) { o.Noise = math.Inf(1) },
		"negative new":   func(o *synth.Options) { o.NewUsers = -1 },
		"negative test":  func(o *synth.Options) { o.TestSamples = -1 },
	} {
		o := ok
		change(&o)
		if _, err := synth.Generate(o); err == nil {
			t.Errorf("%s: Generate(%+v) gave no error", name, o)
		}
	}
	if _, err := synth.Generate(ok); err != nil {
		t.Errorf("valid options: %v", err)
	}
}

func TestReadTruth(t *testing.T) {
	data := generate(t, synth.Options{Users: 3, Samples: 1, Dim: 4, Rank: 2, Sparsity: 1, NewUsers: 1, Seed: 8})
	dir := t.TempDir()
	path := filepath.Join(dir, "truth.json")
	b, err := json.Marshal(data.Truth)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := synth.ReadTruth(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, data.Truth) {
		t.Fatal("truth changed on its way through JSON")
	}
	// The documented layout: d, r, k, U as d rows, users with w and b maps.
	var raw struct {
		D, R, K int
		U       [][]float64
		Users   map[string]struct {
			W []float64
			B map[string]float64
		}
	}
	if err := json.Unmarshal(b, &raw); err != nil || raw.D != 4 || raw.R != 2 || raw.K != 1 || len(raw.U) != 4 ||
		len(raw.U[0]) != 2 || len(raw.Users["n0"].W) != 2 || len(raw.Users["u2"].B) != 1 {
		t.Errorf("truth JSON layout: %s (%v)", b, err)
	}
	if !strings.Contains(string(b), `"users":{`) || !strings.Contains(string(b), `"U":[[`) {
		t.Errorf("truth JSON keys: %s", b)
	}

	for name, content := range map[string]string{
		"not JSON":    "{",
		"short U":     `{"d":2,"r":1,"k":0,"U":[[1]],"users":{}}`,
		"ragged U":    `{"d":2,"r":1,"k":0,"U":[[1],[0,1]],"users":{}}`,
		"short w":     `{"d":1,"r":1,"k":0,"U":[[1]],"users":{"a":{"w":[],"b":{}}}}`,
		"bad sizes":   `{"d":0,"r":0,"k":0,"U":[],"users":{}}`,
		"rank over d": `{"d":1,"r":2,"k":0,"U":[[1,0]],"users":{}}`,
	} {
		p := filepath.Join(dir, "bad.json")
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := synth.ReadTruth(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: ReadTruth error %v, want one naming %s", name, err, p)
		}
	}
	if _, err := synth.ReadTruth(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing file gave no error")
	}

	bad := &synth.Truth{D: 2, R: 0, U: [][]float64{{}, {}}, Users: map[string]synth.UserTruth{"a": {B: map[string]float64{"2": 1}}}}
	if _, err := bad.Theta("a"); err == nil {
		t.Error("Theta accepted index 2 with d = 2")
	}
	if _, err := bad.Theta("zz"); err == nil {
		t.Error("Theta of an unknown user gave no error")
	}
}

// TestTestSamplesLeaveTrainingDrawAlone guards against held-out samples
// that shift the training draw: synth --test-samples N used to change the
// training rows of the same seed.
func TestTestSamplesLeaveTrainingDrawAlone(t *testing.T) {
	base := synth.Options{Users: 5, Samples: 6, Dim: 4, Rank: 2, Sparsity: 1, Noise: 0.1, NewUsers: 3, Seed: 7}
	want := generate(t, base)
	for _, n := range []int{1, 2, 20} {
		o := base
		o.TestSamples = n
		got := generate(t, o)
		if !sameData(got.Train, want.Train) {
			t.Errorf("--test-samples %d changed the training users' samples", n)
		}
		if !sameData(got.New, want.New) {
			t.Errorf("--test-samples %d changed the new users' samples", n)
		}
		if !reflect.DeepEqual(got.Truth, want.Truth) {
			t.Errorf("--test-samples %d changed the truth", n)
		}
		if got.Test == nil || got.Test.Samples() != n*(base.Users+base.NewUsers) {
			t.Errorf("--test-samples %d: test data %v", n, got.Test)
		}
	}
}
