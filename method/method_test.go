package method_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/logistic"
	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/neural"
	"github.com/lrsp/lrsp/synth"
)

func readCSV(t *testing.T, path string) *dataset.Dataset {
	t.Helper()
	ds, err := dataset.ReadCSVFile(context.Background(), path, dataset.CSVOptions{RequireTarget: true})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// readPredictions reads the prediction column of a file lrsp predict wrote.
func readPredictions(t *testing.T, path string) []float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(recs)-1)
	for i, r := range recs[1:] {
		if out[i], err = strconv.ParseFloat(r[1], 64); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestVersion1Files checks that model files written before the typed
// configuration load, that their string configuration parses into the
// typed fields, and that personalizing new users and predicting gives
// what the release that wrote them gave, bit for bit, also after the model
// is rewritten in the current format.
func TestVersion1Files(t *testing.T) {
	dir := filepath.Join("testdata", "v1")
	linear := [2]string{"d-new.csv", "d-test.csv"}
	tests := []struct {
		name       string
		data       [2]string // new users, test rows
		check      func(c model.Config) bool
		wantMethod string
	}{
		{"lrs", linear, func(c model.Config) bool { return c.Rank == 2 && c.Sparsity == 1 && c.Rounds == 10 }, model.MethodLRS},
		{"global-sparse", linear, func(c model.Config) bool { return c.Ridge == 0.1 && c.Theta0Ridge == 0.1 }, model.MethodGlobalSparse},
		{"lowrank-center", linear, func(c model.Config) bool { return c.Center && c.Ridge == 0.2 }, model.MethodLowRank},
		{"finetune", linear, func(c model.Config) bool { return c.Ridge == 0.5 }, model.MethodFinetune},
		{"local", linear, func(c model.Config) bool { return c.Ridge == 0.5 }, model.MethodLocal},
		{"global", linear, func(c model.Config) bool { return c.Ridge == 0.5 }, model.MethodGlobal},
		{"dp", linear, func(c model.Config) bool { return c.DP != nil && c.DP.NoiseMultiplier == 2 }, model.MethodLRS},
		{"tuned", linear, func(c model.Config) bool { return strings.HasPrefix(c.SelectedBy, "validation") }, model.MethodLRS},
		{"logistic-lrs", [2]string{"lg-test.csv", "lg-test.csv"}, func(c model.Config) bool { return c.Loss == model.LossLogistic }, model.MethodLRS},
		{"logistic-finetune", [2]string{"lg-test.csv", "lg-test.csv"}, func(c model.Config) bool { return c.NewtonSteps == 25 }, model.MethodFinetune},
		{"neural-lrs", [2]string{"n-new.csv", "n-new-test.csv"}, func(c model.Config) bool { return reflect.DeepEqual(c.Hidden, []int{5}) }, model.MethodNeuralLRS},
		{"neural-dense", [2]string{"n-new.csv", "n-new-test.csv"}, func(c model.Config) bool { return c.DenseRidge == 0 && c.Batch == 16 }, model.MethodNeuralDense},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := model.Load(filepath.Join(dir, tc.name+".lrsp"))
			if err != nil {
				t.Fatal(err)
			}
			if m.Config.Version != 1 || !tc.check(m.Config) {
				t.Fatalf("config %+v", m.Config)
			}
			s, err := method.ForModel(m)
			if err != nil || s.Name != tc.wantMethod {
				t.Fatalf("ForModel: %v, %v", s.Name, err)
			}
			want := readPredictions(t, filepath.Join(dir, "pred-"+tc.name+".csv"))
			var buf bytes.Buffer
			if err := model.Encode(&buf, m); err != nil {
				t.Fatal(err)
			}
			rewritten, err := model.Decode(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if rewritten.Config.Version != model.ConfigVersion {
				t.Fatalf("rewritten config version %d", rewritten.Config.Version)
			}
			for _, mm := range []*model.Model{m, rewritten} {
				users, err := method.Personalize(context.Background(), mm, readCSV(t, filepath.Join(dir, tc.data[0])), method.PersonalizeOptions{})
				if err != nil {
					t.Fatal(err)
				}
				mm.Upsert(users)
				got, err := method.Predict(mm, readCSV(t, filepath.Join(dir, tc.data[1])), eval.UnknownError)
				if err != nil {
					t.Fatal(err)
				}
				// The same configuration personalizes and predicts as the
				// release that wrote the file, up to the rounding of this
				// release's kernels (SIMD sums change the last bits; 3e-15
				// relative was the largest difference measured).
				if len(got) != len(want) {
					t.Fatalf("%d predictions, the release that wrote the file made %d", len(got), len(want))
				}
				for i := range got {
					if math.Abs(got[i]-want[i]) > 1e-12*(1+math.Abs(want[i])) {
						t.Fatalf("prediction %d = %v, the release that wrote the file %v", i, got[i], want[i])
					}
				}
			}
		})
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		name, loss string
		err        string
		network    bool
	}{
		{"lrs", "", "", false},
		{"lrs", model.LossLogistic, "", false},
		{"neural-dense", model.LossSquared, "", true},
		{"neural-lrs", model.LossLogistic, `unknown method "neural-lrs" for the logistic loss`, false},
		{"pca", "", `unknown method "pca"`, false},
		{"lrs", "hinge", `unknown loss "hinge"`, false},
	}
	for _, tc := range tests {
		s, err := method.Lookup(tc.name, tc.loss)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Lookup(%q, %q): error %v, want %q", tc.name, tc.loss, err, tc.err)
			}
			continue
		}
		if err != nil || s.Name != tc.name || s.Network != tc.network {
			t.Errorf("Lookup(%q, %q) = %+v, %v", tc.name, tc.loss, s, err)
		}
	}
	if got := method.Names(); len(got) != 11 || got[0] != model.MethodLRS {
		t.Errorf("Names() = %v", got)
	}
}

// TestValidate checks the per-method rules: fields a method does not use
// are errors, and ranges depend on the method.
func TestValidate(t *testing.T) {
	sq, lg := model.LossSquared, model.LossLogistic
	tests := []struct {
		c   method.Config
		err string
	}{
		{method.Config{Method: "lrs", Rank: 2, Sparsity: 1}, ""},
		{method.Config{Method: "lrs", Rank: 0, Sparsity: 1}, "rank 0 must be in [1, 5]"},
		{method.Config{Method: "lrs", Rank: 6}, "rank 6"},
		{method.Config{Method: "lowrank", Rank: 2, Sparsity: 1}, "no sparse part"},
		{method.Config{Method: "global-sparse", Sparsity: 0}, "sparsity 0"},
		{method.Config{Method: "global-sparse", Sparsity: 1, Rank: 1}, "has no U"},
		{method.Config{Method: "global", Rank: 2}, "config rank does not apply to global"},
		{method.Config{Method: "local", Hidden: []int{3}}, "hidden does not apply"},
		{method.Config{Method: "local", Ridge: 1, Seed: 3}, ""},
		{method.Config{Method: "lrs", Rank: 1, Init: "svd"}, `init "svd"`},
		{method.Config{Method: "lrs", Loss: lg, Rank: 1, Init: "ridge-svd"}, `init "ridge-svd"`},
		{method.Config{Method: "global", Loss: lg, Center: true}, "center does not apply"},
		{method.Config{Method: "global", Loss: lg, Init: "foo"}, `init "foo": want moments, random`},
		{method.Config{Method: "local", Loss: lg, Init: "random"}, ""},
		{method.Config{Method: "lrs", Loss: lg, Rank: 1, Pursuit: 2}, "pursuit does not apply"},
		{method.Config{Method: "neural-lrs", Loss: sq, Rank: 40, Hidden: []int{8}}, "rank 40 must be in [1, 8]"},
		{method.Config{Method: "neural-lrs", Rank: 3}, ""},
		{method.Config{Method: "lrs", Rank: 1, Ridge: math.Inf(1)}, "ridge +Inf"},
		{method.Config{Method: "lrs", Rank: 1, Center: true, DP: &model.DPConfig{Init: "private"}}, "published without privacy"},
		{method.Config{Method: "lrs", Rank: 1, DP: &model.DPConfig{Init: "moments"}}, `dp init "moments"`},
	}
	for _, tc := range tests {
		err := method.Validate(tc.c, 5)
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%+v: error %v, want %q", tc.c, err, tc.err)
		}
	}
}

// trainingData returns small data for every loss and kind of method.
func trainingData(t *testing.T) (linear, binary, nonlinear *synth.Data) {
	t.Helper()
	var err error
	if linear, err = synth.Generate(synth.Options{Users: 30, Samples: 15, Dim: 6, Rank: 2, Sparsity: 1, Noise: 0.1,
		NewUsers: 4, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if binary, err = logistic.Generate(synth.Options{Users: 30, Samples: 20, Dim: 6, Rank: 1, Sparsity: 1, NewUsers: 4, Seed: 2}, 1.5); err != nil {
		t.Fatal(err)
	}
	if nonlinear, err = neural.Generate(neural.SynthOptions{Users: 30, Samples: 15, Dim: 4, Latent: 5, Rank: 2, Sparsity: 1,
		Scale: 2, Noise: 0.1, NewUsers: 4, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	return linear, binary, nonlinear
}

// TestEveryMethod trains every method through the contract and checks
// that the model records a configuration valid for its method, survives
// its file format, and personalizes users the same way through
// Personalize and through a Fitter, for any number of workers.
func TestEveryMethod(t *testing.T) {
	linear, binary, nonlinear := trainingData(t)
	for _, s := range method.Methods() {
		t.Run(s.Name+"/"+s.Loss, func(t *testing.T) {
			data := linear
			switch {
			case s.Network:
				data = nonlinear
			case s.Loss == model.LossLogistic:
				data = binary
			}
			cfg, err := method.Defaults(s.Name, s.Loss)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Rounds = 3
			if cfg.Rank > 0 {
				cfg.Rank = 2
			}
			if cfg.Sparsity > 0 || s.Name == model.MethodGlobalSparse {
				cfg.Sparsity = 1
			}
			switch s.Name {
			case model.MethodLowRank:
				cfg.Sparsity = 0
			case model.MethodGlobalSparse:
				cfg.Rank = 0
			case model.MethodNeuralDense, model.MethodNeuralGlobal:
				cfg.Rank, cfg.Sparsity = 0, 0
			case model.MethodMixed:
				// The synthetic data have no constant feature: a random
				// slope on the first feature.
				cfg.RandomEffects = data.Train.Features[:1]
			}
			if s.Network {
				cfg.Hidden = []int{6}
			}
			cfg.Ridge = 0.01
			cfg = s.Restrict(cfg)
			var models [2]*model.Model
			for i, workers := range []int{1, 3} {
				res, err := method.Train(context.Background(), data.Train, cfg, method.Options{Workers: workers})
				if err != nil {
					t.Fatal(err)
				}
				models[i] = res.Model
			}
			m := models[0]
			if !reflect.DeepEqual(models[0], models[1]) {
				t.Fatal("the model depends on the number of workers")
			}
			if err := method.Validate(m.Config, m.Dim); err != nil {
				t.Errorf("the trained model's config does not validate for its method: %v", err)
			}
			if got, err := method.ForModel(m); err != nil || got.Name != s.Name {
				t.Fatalf("ForModel = %s, %v", got.Name, err)
			}
			var buf bytes.Buffer
			if err := model.Encode(&buf, m); err != nil {
				t.Fatal(err)
			}
			back, err := model.Decode(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back.Config, m.Config) {
				t.Fatalf("config after a round trip %+v, before %+v", back.Config, m.Config)
			}
			users, err := method.Personalize(context.Background(), back, data.New, method.PersonalizeOptions{Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			f, err := method.NewFitter(back, 100)
			if !s.Personal {
				if err == nil {
					t.Fatal("NewFitter accepted a model without personal parameters")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			u := &data.New.Users[0]
			one, err := f.Fit(context.Background(), u.ID, u.X, u.Y)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(one.W, users[0].W) || !reflect.DeepEqual(one.Value, users[0].Value) {
				t.Fatalf("Fitter gave %+v, Personalize %+v", one, users[0])
			}
		})
	}
}

// TestTrainErrors checks the contract's refusals.
func TestTrainErrors(t *testing.T) {
	linear, _, _ := trainingData(t)
	ctx := context.Background()
	noTarget := &dataset.Dataset{Features: linear.Train.Features, Users: linear.Train.Users}
	tests := []struct {
		name string
		src  dataset.Source
		c    method.Config
		o    method.Options
		err  string
	}{
		{"unknown method", linear.Train, method.Config{Method: "pca"}, method.Options{}, "unknown method"},
		{"no target", noTarget, method.Config{Method: "lrs", Rank: 1}, method.Options{}, "no target"},
		{"bad holdout", linear.Train, method.Config{Method: "lrs", Rank: 1}, method.Options{Holdout: 1}, "hold-out"},
		{"private logistic", linear.Train, method.Config{Method: "global", DP: &model.DPConfig{Init: "random"}}, method.Options{}, "does not apply"},
		{"private holdout", linear.Train, method.Config{Method: "lrs", Rank: 1, DP: &model.DPConfig{Init: "random", Noiseless: true}},
			method.Options{Holdout: 0.2}, "cannot hold out"},
		{"logistic targets", linear.Train, method.Config{Method: "lrs", Loss: model.LossLogistic, Rank: 1}, method.Options{}, "not 0 or 1"},
		{"theta0 ridge", linear.Train, method.Config{Method: "lrs", Rank: 1, Center: true, Ridge: 1, Theta0Ridge: 2}, method.Options{}, "theta0_ridge"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := method.Train(ctx, tc.src, tc.c, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}
