package logistic

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/synth"
)

// methodCase is one logistic method with its options.
type methodCase struct {
	name   string
	method string
	opt    Options
}

func methodCases() []methodCase {
	base := Options{Rank: 2, Sparsity: 1, Ridge: 0.05, Rounds: 15, Tolerance: 1e-6, Seed: 1}
	with := func(f func(*Options)) Options { o := base; f(&o); return o }
	return []methodCase{
		{"global", model.MethodGlobal, base},
		{"local", model.MethodLocal, base},
		{"finetune", model.MethodFinetune, base},
		{"global-sparse", model.MethodGlobalSparse, with(func(o *Options) { o.Rank = 0 })},
		{"lowrank", model.MethodLowRank, base},
		{"lrs", model.MethodLRS, base},
		{"lowrank centred", model.MethodLowRank, with(func(o *Options) { o.Center = true })},
		{"lrs centred", model.MethodLRS, with(func(o *Options) { o.Center = true })},
	}
}

// smallLogistic returns small synthetic logistic data of the paper's model.
func smallLogistic(t *testing.T) *synth.Data {
	t.Helper()
	data, err := Generate(synth.Options{Users: 60, Samples: 40, Dim: 8, Rank: 2, Sparsity: 1, NewUsers: 10,
		TestSamples: 20, Seed: 3}, 1.5)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestMethodsPersonalizeReproducesFit trains every method and checks that
// personalizing its own training users (everything shared fixed) gives
// back exactly the parameters the training stored, that the model records
// its method and loss, and that the shared parts are where the method
// says.
func TestMethodsPersonalizeReproducesFit(t *testing.T) {
	data := smallLogistic(t)
	ctx := context.Background()
	for _, tc := range methodCases() {
		t.Run(tc.name, func(t *testing.T) {
			res, err := TrainMethod(ctx, data.Train, nil, tc.method, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			m := res.Model
			if m.Method != tc.method || m.Loss != model.LossLogistic || m.Config.Method != tc.method {
				t.Fatalf("model method %q loss %q config %q, want %q logistic", m.Method, m.Loss, m.Config.Method, tc.method)
			}
			wantTheta0 := tc.opt.Center || tc.method == model.MethodGlobal || tc.method == model.MethodFinetune ||
				tc.method == model.MethodGlobalSparse
			if (m.Theta0 != nil) != wantTheta0 {
				t.Fatalf("theta_0 present: %v, want %v", m.Theta0 != nil, wantTheta0)
			}
			if len(m.Users) != len(data.Train.Users) {
				t.Fatalf("%d users, want %d", len(m.Users), len(data.Train.Users))
			}
			users, err := Personalize(ctx, m, data.Train, PersonalizeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, want := make([]float64, m.Dim), make([]float64, m.Dim)
			worst := 0.0
			for i := range users {
				m.Theta(&users[i], got)
				m.Theta(&m.Users[i], want)
				for j := range got {
					worst = math.Max(worst, math.Abs(got[j]-want[j]))
				}
				if users[i].ID != m.Users[i].ID || len(users[i].Index) != len(m.Users[i].Index) {
					t.Fatalf("user %d: personalized %q with %d non-zeros, trained %q with %d", i, users[i].ID,
						len(users[i].Index), m.Users[i].ID, len(m.Users[i].Index))
				}
			}
			if worst > 1e-12 {
				t.Fatalf("personalized training users differ from the fit by up to %.3g", worst)
			}
			// New users: personalization must give finite, useful fits
			// (better than a coin on their own samples).
			fresh, err := Personalize(ctx, m, data.New, PersonalizeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			mn := *m
			mn.Users = fresh
			if l := logLoss(&mn, data.New); !(l < math.Log(2)) {
				t.Fatalf("new users' training log loss %.4f is not below log 2", l)
			}
		})
	}
}

// userLosses returns each user's mean logistic loss under m.
func userLosses(m *model.Model, ds *dataset.Dataset) []float64 {
	theta := make([]float64, m.Dim)
	d := m.Dim
	idx := m.Index()
	out := make([]float64, len(ds.Users))
	for i := range ds.Users {
		u := &ds.Users[i]
		m.Theta(&m.Users[idx[u.ID]], theta)
		for s := 0; s < u.Len(); s++ {
			out[i] += loss(dot(u.X[s*d:(s+1)*d], theta), u.Y[s]) / float64(u.Len())
		}
	}
	return out
}

// TestFinetuneNotWorseThanGlobal checks, user by user, that fine-tuning
// from the global model never raises a user's training log loss above the
// global model's (with the same ridge for theta_0), for several per-user
// ridges, and lowers the mean.
func TestFinetuneNotWorseThanGlobal(t *testing.T) {
	data := smallLogistic(t)
	ctx := context.Background()
	const shared = 0.01
	g, err := Global(ctx, data.Train, BaselineOptions{Ridge: shared})
	if err != nil {
		t.Fatal(err)
	}
	gl := userLosses(g, data.Train)
	for _, ridge := range []float64{1e-3, 0.1, 10} {
		f, err := Finetune(ctx, data.Train, BaselineOptions{Ridge: ridge, SharedRidge: shared})
		if err != nil {
			t.Fatal(err)
		}
		for j := range f.Theta0 {
			if f.Theta0[j] != g.Theta0[j] {
				t.Fatalf("ridge %g: finetune's theta_0 differs from the global fit at %d", ridge, j)
			}
		}
		fl := userLosses(f, data.Train)
		sg, sf := 0.0, 0.0
		for i := range fl {
			if fl[i] > gl[i]+1e-12 {
				t.Fatalf("ridge %g: user %d: finetune loss %.6f > global %.6f", ridge, i, fl[i], gl[i])
			}
			sg += gl[i]
			sf += fl[i]
		}
		if !(sf < sg) {
			t.Fatalf("ridge %g: mean finetune loss %.6f not below global %.6f", ridge, sf/60, sg/60)
		}
	}
}

// TestGlobalSparseRecovery plants theta_i = theta_0* + b_i* with 2-sparse
// b_i* and checks that global-sparse recovers theta_0* and every theta_i*
// to within the error the Bernoulli labels allow at m = 300 (measured:
// relative errors 0.035 and 0.090, all 80 supports exact), finds most
// supports, and beats the global and local baselines.
func TestGlobalSparseRecovery(t *testing.T) {
	const users, m, d, k = 80, 300, 10, 2
	rng := rand.New(rand.NewPCG(11, 12))
	theta0 := make([]float64, d)
	for j := range theta0 {
		theta0[j] = rng.NormFloat64() * 0.7
	}
	b := dataset.NewBuilder(features(d), true)
	truth := make([][]float64, users)
	supp := make([][]int, users)
	x := make([]float64, d)
	for i := range users {
		th := append([]float64(nil), theta0...)
		supp[i] = rng.Perm(d)[:k]
		for _, j := range supp[i] {
			v := 1 + rng.Float64()
			if rng.IntN(2) == 0 {
				v = -v
			}
			th[j] += v
		}
		truth[i] = th
		id := fmt.Sprintf("u%03d", i)
		for s := range m {
			for j := range x {
				x[j] = rng.NormFloat64()
			}
			y := 0.0
			if rng.Float64() < Sigmoid(dot(x, th)) {
				y = 1
			}
			b.Add(id, x, y, i*m+s)
		}
	}
	ds := b.Dataset()
	ctx := context.Background()
	res, err := TrainMethod(ctx, ds, nil, model.MethodGlobalSparse, Options{Sparsity: k, Ridge: 1e-3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	mod := res.Model
	relErr := func(mm *model.Model) float64 {
		num, den := 0.0, 0.0
		th := make([]float64, d)
		for i := range mm.Users {
			mm.Theta(&mm.Users[i], th)
			for j := range th {
				num += (th[j] - truth[i][j]) * (th[j] - truth[i][j])
				den += truth[i][j] * truth[i][j]
			}
		}
		return math.Sqrt(num / den)
	}
	num, den := 0.0, 0.0
	for j := range theta0 {
		num += (mod.Theta0[j] - theta0[j]) * (mod.Theta0[j] - theta0[j])
		den += theta0[j] * theta0[j]
	}
	e0 := math.Sqrt(num / den)
	exact := 0
	for i := range mod.Users {
		got := map[int32]bool{}
		for _, j := range mod.Users[i].Index {
			got[j] = true
		}
		all := len(got) == k
		for _, j := range supp[i] {
			all = all && got[int32(j)]
		}
		if all {
			exact++
		}
	}
	g, err := Global(ctx, ds, BaselineOptions{Ridge: 1e-3})
	if err != nil {
		t.Fatal(err)
	}
	l, err := Local(ctx, ds, BaselineOptions{Ridge: 1e-3})
	if err != nil {
		t.Fatal(err)
	}
	e, eg, el := relErr(mod), relErr(g), relErr(l)
	t.Logf("theta_0 error %.4f, theta_i error %.4f (global %.4f, local %.4f), exact supports %d/%d", e0, e, eg, el, exact, users)
	if !(e0 < 0.07) || !(e < 0.15) || exact < users*9/10 || !(e < el) || !(e < eg) {
		t.Fatalf("global-sparse: theta_0 error %.4f (want < 0.07), theta_i error %.4f (want < 0.15 and below global %.4f and local %.4f), exact supports %d/%d (want >= 90%%)",
			e0, e, eg, el, exact, users)
	}
}

func features(d int) []string {
	f := make([]string, d)
	for j := range f {
		f[j] = fmt.Sprintf("x%d", j)
	}
	return f
}

// TestTrainMethodErrors checks the errors of bad method options.
func TestTrainMethodErrors(t *testing.T) {
	data := smallLogistic(t)
	ctx := context.Background()
	tests := []struct {
		name, method string
		opt          Options
		want         string
	}{
		{"unknown method", "ridge", Options{Rank: 1}, "unknown method"},
		{"center global", model.MethodGlobal, Options{Center: true}, "centring"},
		{"center finetune", model.MethodFinetune, Options{Center: true}, "centring"},
		{"global-sparse k=0", model.MethodGlobalSparse, Options{}, "sparsity 0"},
		{"global-sparse k>d", model.MethodGlobalSparse, Options{Sparsity: 9}, "sparsity 9"},
		{"offset length", model.MethodLRS, Options{Rank: 1, Offset: []float64{1}}, "offset"},
		{"offset NaN", model.MethodLRS, Options{Rank: 1, Offset: []float64{0, 0, 0, math.NaN(), 0, 0, 0, 0}}, "not finite"},
		{"shared ridge", model.MethodLRS, Options{Rank: 1, Center: true, SharedRidge: -1}, "shared ridge"},
		{"negative rounds", model.MethodLRS, Options{Rank: 1, Rounds: -1}, "rounds -1"},
		{"too many rounds", model.MethodLRS, Options{Rank: 1, Rounds: 1_000_001}, "rounds 1000001 must be in [0, 1000000]"},
		{"infinite tolerance", model.MethodLowRank, Options{Rank: 1, Tolerance: math.Inf(1)}, "tolerance +Inf"},
		{"negative patience", model.MethodLRS, Options{Rank: 1, Patience: -1}, "patience -1"},
		{"global-sparse rounds", model.MethodGlobalSparse, Options{Sparsity: 1, Rounds: -1}, "rounds -1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := TrainMethod(ctx, data.Train, nil, tc.method, tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "logistic: ") || strings.Count(msg, "logistic: ") != 1 {
				t.Errorf("error %q: want it to start with \"logistic: \" and name the package once", msg)
			}
		})
	}
}
