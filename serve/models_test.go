package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/logistic"
	"github.com/lrsp/lrsp/mixed"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/neural"
	"github.com/lrsp/lrsp/store"
	"github.com/lrsp/lrsp/synth"
)

// orthonormal returns a random d x r matrix (row-major) with orthonormal
// columns, by Gram-Schmidt on Gaussian columns.
func orthonormal(rng *rand.Rand, d, r int) []float64 {
	u := make([]float64, d*r)
	for c := 0; c < r; c++ {
		for j := 0; j < d; j++ {
			u[j*r+c] = rng.NormFloat64()
		}
		for p := 0; p < c; p++ {
			s := 0.0
			for j := 0; j < d; j++ {
				s += u[j*r+c] * u[j*r+p]
			}
			for j := 0; j < d; j++ {
				u[j*r+c] -= s * u[j*r+p]
			}
		}
		n := 0.0
		for j := 0; j < d; j++ {
			n += u[j*r+c] * u[j*r+c]
		}
		for j := 0; j < d; j++ {
			u[j*r+c] /= math.Sqrt(n)
		}
	}
	return u
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for j := range out {
		out[j] = prefix + strconv.Itoa(j)
	}
	return out
}

// handModel builds a model by hand: users u0..u(users-1) with random w and
// k-sparse b (dense b when r = 0 and k = d), and a random tanh network
// with the given input count and hidden widths when hidden is not nil.
func handModel(method, loss string, d, r, k, users, inputs int, hidden []int, seed uint64) *model.Model {
	rng := rand.New(rand.NewPCG(seed, 9))
	m := &model.Model{Method: method, Loss: loss, Dim: d, Rank: r, Sparsity: k, Features: names("f", d),
		U: orthonormal(rng, d, r)}
	if hidden != nil {
		n := &model.Network{Inputs: names("x", inputs), Sizes: append([]int{inputs}, hidden...), Activation: model.ActivationTanh}
		for l := 1; l < len(n.Sizes); l++ {
			w := make([]float64, n.LayerLen(l))
			for i := range w {
				w[i] = rng.NormFloat64() / math.Sqrt(float64(n.Sizes[l-1]))
			}
			n.Layers = append(n.Layers, w)
		}
		m.Network, m.Features = n, names("h", d)
	}
	if method == model.MethodGlobal {
		m.Theta0 = make([]float64, d)
		for j := range m.Theta0 {
			m.Theta0[j] = rng.NormFloat64()
		}
	}
	for i := 0; i < users; i++ {
		u := model.User{ID: "u" + strconv.Itoa(i), W: make([]float64, r)}
		for c := range u.W {
			u.W[c] = 2 * rng.NormFloat64()
		}
		if method != model.MethodGlobal {
			for _, j := range rng.Perm(d)[:k] {
				u.Index = append(u.Index, int32(j))
			}
			for a := 1; a < len(u.Index); a++ { // sort
				for b := a; b > 0 && u.Index[b] < u.Index[b-1]; b-- {
					u.Index[b], u.Index[b-1] = u.Index[b-1], u.Index[b]
				}
			}
			for range u.Index {
				u.Value = append(u.Value, rng.NormFloat64())
			}
		}
		m.Users = append(m.Users, u)
	}
	return m
}

// inputData draws samples of the model's input features for users ids,
// with targets from target (nil: none).
func inputData(m *model.Model, ids []string, per int, seed uint64, target func(x []float64, rng *rand.Rand) float64) *dataset.Dataset {
	rng := rand.New(rand.NewPCG(seed, 5))
	feats := m.Features
	if m.Network != nil {
		feats = m.Network.Inputs
	}
	b := dataset.NewBuilder(feats, target != nil)
	row := 0
	for s := 0; s < per; s++ {
		for _, id := range ids {
			x := make([]float64, len(feats))
			for j := range x {
				x[j] = 1.5 * rng.NormFloat64()
			}
			y := 0.0
			if target != nil {
				y = target(x, rng)
			}
			b.Add(id, x, y, row)
			row++
		}
	}
	return b.Dataset()
}

// samplesOf returns the PUT body of the one user of ds.
func samplesOf(ds *dataset.Dataset) map[string]any {
	u := &ds.Users[0]
	d := ds.Dim()
	var samples []map[string]any
	for s := range u.Y {
		samples = append(samples, map[string]any{"features": u.X[s*d : (s+1)*d], "y": u.Y[s]})
	}
	return map[string]any{"samples": samples}
}

type predictReply struct {
	User       string  `json:"user"`
	Prediction float64 `json:"prediction"`
	Kind       string  `json:"kind"`
}

// TestLossAndNetworkModels imports logistic and network models, serves
// them, and checks that /v1/predict equals eval.Predict bit for bit (known
// and unknown users), that /v1/model describes them, and that PUT stores
// what the model's own personalizer (logistic.Personalize,
// neural.Personalize) computes from the same samples.
func TestLossAndNetworkModels(t *testing.T) {
	sigmoidTarget := func(theta []float64) func([]float64, *rand.Rand) float64 {
		return func(x []float64, rng *rand.Rand) float64 {
			if rng.Float64() < logistic.Sigmoid(dot(x, theta)) {
				return 1
			}
			return 0
		}
	}
	logLRS := handModel(model.MethodLRS, model.LossLogistic, 8, 2, 2, 12, 0, nil, 1)
	logLRS.Config = model.Config{Version: model.ConfigVersion, Loss: "logistic", Ridge: 0.001, NewtonSteps: 25}
	logLocal := handModel(model.MethodLocal, model.LossLogistic, 5, 0, 5, 6, 0, nil, 2)
	logLocal.Config = model.Config{} // logistic.Personalize's defaults
	// A bad configuration cannot reach a store: the typed configuration is
	// validated with the model.
	logBadConfig := handModel(model.MethodLRS, model.LossLogistic, 4, 1, 1, 3, 0, nil, 7)
	logBadConfig.Config = model.Config{Version: model.ConfigVersion, Ridge: -1}
	if err := logBadConfig.Validate(); err == nil || !strings.Contains(err.Error(), "config ridge -1") {
		t.Fatalf("a model with config ridge -1 validated: %v", err)
	}
	logGlobal := handModel(model.MethodGlobal, model.LossLogistic, 5, 0, 0, 6, 0, nil, 3)
	nLRS := handModel(model.MethodNeuralLRS, "", 5, 2, 1, 10, 4, []int{7, 5}, 4)
	nLRS.Config = model.Config{Version: model.ConfigVersion}
	nTheta := nLRS.Theta(&model.User{W: []float64{1.5, -2}, Index: []int32{3}, Value: []float64{0.7}}, make([]float64, 5))
	nGlobal := handModel(model.MethodGlobal, "", 4, 0, 0, 5, 3, []int{4}, 5)
	nDense := handModel(model.MethodNeuralDense, "", 4, 0, 4, 5, 3, []int{6, 4}, 9)
	nDense.Config = model.Config{Version: model.ConfigVersion, Method: model.MethodNeuralDense}
	nLogistic := handModel(model.MethodNeuralLRS, model.LossLogistic, 3, 1, 1, 5, 2, []int{3}, 6)
	// A mixed-model LRS: new users are posterior means under its prior,
	// which the store must keep.
	mixedLRS := handModel(model.MethodMixedLRS, "", 6, 2, 1, 8, 0, nil, 8)
	mixedLRS.Config = model.Config{Version: model.ConfigVersion, Method: model.MethodMixedLRS, Rank: 2, Sparsity: 1}
	mixedLRS.Prior = &model.Prior{Sigma: []float64{2, 0.5, 0.5, 1}, VarB: []float64{1, 1, 1, 1, 1, 1}, Noise: 1e-4}
	mTheta := mixedLRS.Theta(&model.User{W: []float64{1, -1}, Index: []int32{2}, Value: []float64{0.5}}, make([]float64, 6))

	for _, tc := range []struct {
		name string
		m    *model.Model
		// put is the new user's target function (nil: PUT answers 409
		// with conflict in the message).
		put      func(x []float64, rng *rand.Rand) float64
		conflict string
		want     func(ds *dataset.Dataset) ([]model.User, error)
	}{
		{"logistic lrs", logLRS, sigmoidTarget([]float64{2, -1, 0, 1, 0, 0, 1.5, -2}), "",
			func(ds *dataset.Dataset) ([]model.User, error) {
				return logistic.Personalize(context.Background(), logLRS, ds, logistic.PersonalizeOptions{Ridge: 0.001, NewtonSteps: 25, Workers: 1})
			}},
		{"logistic local", logLocal, sigmoidTarget([]float64{1, -1, 0.5, 0, 2}), "",
			func(ds *dataset.Dataset) ([]model.User, error) {
				return logistic.Personalize(context.Background(), logLocal, ds, logistic.PersonalizeOptions{Workers: 1})
			}},
		{"logistic global", logGlobal, nil, "no personal parameters", nil},
		{"neural-lrs", nLRS, func(x []float64, rng *rand.Rand) float64 {
			phi := nLRS.Network.Apply(x, make([]float64, 5))
			return dot(phi, nTheta) + 0.01*rng.NormFloat64()
		}, "", func(ds *dataset.Dataset) ([]model.User, error) {
			o, err := neural.ModelOptions(nLRS)
			if err != nil {
				return nil, err
			}
			return neural.Personalize(context.Background(), nLRS, ds, o)
		}},
		{"neural-dense", nDense, func(x []float64, rng *rand.Rand) float64 {
			phi := nDense.Network.Apply(x, make([]float64, 4))
			return dot(phi, []float64{1, -1, 2, 0.5}) + 0.01*rng.NormFloat64()
		}, "", func(ds *dataset.Dataset) ([]model.User, error) {
			o, err := neural.ModelOptions(nDense)
			if err != nil {
				return nil, err
			}
			return neural.Personalize(context.Background(), nDense, ds, o)
		}},
		{"neural-global", nGlobal, nil, "no personal parameters", nil},
		{"mixed-lrs", mixedLRS, func(x []float64, rng *rand.Rand) float64 {
			return dot(x, mTheta) + 0.01*rng.NormFloat64()
		}, "", func(ds *dataset.Dataset) ([]model.User, error) {
			return mixed.Personalize(context.Background(), mixedLRS, ds, 1)
		}},
		{"neural-lrs logistic", nLogistic, nil, `unknown method "neural-lrs" for the logistic loss`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			ts, st := newTestServer(t, m, Options{Unknown: eval.UnknownGlobal})
			prob := m.Loss == model.LossLogistic
			wantKind := ""
			if prob {
				wantKind = "probability"
			}

			// Predictions for known users and an unknown one.
			ids := []string{"u0", "u1", "u3", "nobody"}
			ds := inputData(m, ids, 5, 7, nil)
			want, err := eval.Predict(m, ds, eval.UnknownGlobal)
			if err != nil {
				t.Fatal(err)
			}
			items := rows(ds)
			code, body := do(t, "POST", ts.URL+"/v1/predict", "", map[string]any{"requests": items})
			var batch struct {
				Predictions []predictReply `json:"predictions"`
				Kind        string         `json:"kind"`
			}
			if code != http.StatusOK || json.Unmarshal(body, &batch) != nil || len(batch.Predictions) != len(want) {
				t.Fatalf("batch predict: %d %s", code, body)
			}
			if batch.Kind != wantKind {
				t.Fatalf("batch kind %q, want %q", batch.Kind, wantKind)
			}
			for i, p := range batch.Predictions {
				if p.User != items[i].User || p.Prediction != want[i] {
					t.Fatalf("row %d: %s %v, eval.Predict %s %v", i, p.User, p.Prediction, items[i].User, want[i])
				}
				if prob && !(p.Prediction > 0 && p.Prediction < 1) {
					t.Fatalf("row %d: probability %v", i, p.Prediction)
				}
			}
			for i := 0; i < len(items); i += 3 {
				var one predictReply
				code, body := do(t, "POST", ts.URL+"/v1/predict", "", items[i])
				if code != http.StatusOK || json.Unmarshal(body, &one) != nil || one.Prediction != want[i] || one.Kind != wantKind {
					t.Fatalf("single predict of row %d: %d %s, want %v", i, code, body, want[i])
				}
			}

			// The model endpoint says what predictions are and which
			// features requests give.
			var info ModelInfo
			code, body = do(t, "GET", ts.URL+"/v1/model", "", nil)
			if code != http.StatusOK || json.Unmarshal(body, &info) != nil {
				t.Fatalf("model: %d %s", code, body)
			}
			wantPred, wantInputs := "score", m.Features
			if prob {
				wantPred = "probability"
			}
			if m.Network != nil {
				wantInputs = m.Network.Inputs
				if info.Network == nil || !reflect.DeepEqual(info.Network.Sizes, m.Network.Sizes) {
					t.Fatalf("model: network %+v, want sizes %v", info.Network, m.Network.Sizes)
				}
			} else if info.Network != nil {
				t.Fatalf("model: network %+v for a linear model", info.Network)
			}
			if info.Prediction != wantPred || !reflect.DeepEqual(info.Inputs, wantInputs) ||
				!reflect.DeepEqual(info.Features, m.Features) || info.D != m.Dim {
				t.Fatalf("model: %s", body)
			}

			// Personalize a new user over HTTP.
			fit := inputData(m, []string{"p1"}, 30, 11, tc.put)
			if tc.put == nil {
				fit = inputData(m, []string{"p1"}, 3, 11, func([]float64, *rand.Rand) float64 { return 1 })
			}
			code, body = do(t, "PUT", ts.URL+"/v1/users/p1", "", samplesOf(fit))
			if tc.put == nil {
				var e errorBody
				if code != http.StatusConflict || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, tc.conflict) {
					t.Fatalf("PUT: %d %s, want 409 with %q", code, body, tc.conflict)
				}
				if !strings.Contains(info.Personalize, tc.conflict) {
					t.Fatalf("model: personalize_unavailable %q, want %q", info.Personalize, tc.conflict)
				}
				return
			}
			var put PersonalizeResponse
			if code != http.StatusCreated || json.Unmarshal(body, &put) != nil {
				t.Fatalf("PUT: %d %s", code, body)
			}
			ref, err := tc.want(fit)
			if err != nil {
				t.Fatal(err)
			}
			got, err := st.Get("p1")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.W, ref[0].W) || !slices.Equal(got.Index, ref[0].Index) || !slices.Equal(got.Value, ref[0].Value) {
				t.Fatalf("stored %+v, the package personalizer %+v", got, ref[0])
			}
			if (put.TrainingLogLoss != nil) != prob || (put.TrainingAccuracy != nil) != prob {
				t.Fatalf("PUT response %s: log loss and accuracy are for logistic models only", body)
			}
			if prob {
				t.Logf("new user: training log loss %.4f, accuracy %.3f, Brier %.4f", *put.TrainingLogLoss, *put.TrainingAccuracy, put.TrainingMSE)
				if *put.TrainingAccuracy < 0.6 {
					t.Fatalf("training accuracy %v of a fitted logistic user", *put.TrainingAccuracy)
				}
			} else if put.TrainingRMSE > 0.05 {
				t.Fatalf("training RMSE %v at noise 0.01", put.TrainingRMSE)
			}

			// The new user's predictions equal eval.Predict's on the model
			// with the user added.
			withNew := *m
			withNew.Users = append([]model.User(nil), m.Users...)
			withNew.Upsert(ref)
			test := inputData(m, []string{"p1"}, 6, 13, nil)
			want, err = eval.Predict(&withNew, test, eval.UnknownError)
			if err != nil {
				t.Fatal(err)
			}
			for i, it := range rows(test) {
				var one predictReply
				code, body := do(t, "POST", ts.URL+"/v1/predict", "", it)
				if code != http.StatusOK || json.Unmarshal(body, &one) != nil || one.Prediction != want[i] {
					t.Fatalf("new user, row %d: %d %s, want %v", i, code, body, want[i])
				}
			}
		})
	}
}

// TestTrainedLogistic serves a logistic model trained by logistic.Train
// (so with the configuration training records) and checks predictions and
// PUT against eval.Predict and logistic.Personalize with zero options, as
// "lrsp personalize" runs it.
func TestTrainedLogistic(t *testing.T) {
	data, err := logistic.Generate(synth.Options{Users: 40, Samples: 40, Dim: 6, Rank: 2, Sparsity: 1,
		NewUsers: 1, TestSamples: 10, Seed: 5}, 2)
	if err != nil {
		t.Fatal(err)
	}
	res, err := logistic.Train(context.Background(), data.Train, nil, logistic.Options{Rank: 2, Sparsity: 1, Rounds: 5, Workers: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Model
	ts, st := newTestServer(t, m, Options{Unknown: eval.UnknownGlobal})
	want, err := eval.Predict(m, data.Test, eval.UnknownGlobal)
	if err != nil {
		t.Fatal(err)
	}
	code, body := do(t, "POST", ts.URL+"/v1/predict", "", map[string]any{"requests": rows(data.Test)})
	var batch struct {
		Predictions []predictReply `json:"predictions"`
		Kind        string         `json:"kind"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &batch) != nil || len(batch.Predictions) != len(want) || batch.Kind != "probability" {
		t.Fatalf("batch predict: %d %.300s", code, body)
	}
	for i, p := range batch.Predictions {
		if p.Prediction != want[i] {
			t.Fatalf("row %d: %v, eval.Predict %v", i, p.Prediction, want[i])
		}
	}
	nu := data.New
	code, body = do(t, "PUT", ts.URL+"/v1/users/"+nu.Users[0].ID, "", samplesOf(nu))
	if code != http.StatusCreated {
		t.Fatalf("PUT: %d %s", code, body)
	}
	ref, err := logistic.Personalize(context.Background(), m, nu, logistic.PersonalizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(nu.Users[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.W, ref[0].W) || !slices.Equal(got.Index, ref[0].Index) || !slices.Equal(got.Value, ref[0].Value) {
		t.Fatalf("stored %+v, logistic.Personalize %+v", got, ref[0])
	}
}

// TestBadInputLossAndNetwork checks the 400s specific to logistic and
// network models: targets that are not 0/1, and features that are not the
// network's inputs.
func TestBadInputLossAndNetwork(t *testing.T) {
	logLRS := handModel(model.MethodLRS, model.LossLogistic, 3, 1, 1, 2, 0, nil, 1)
	nLRS := handModel(model.MethodNeuralLRS, "", 3, 1, 1, 2, 2, []int{3}, 4)
	logTS, _ := newTestServer(t, logLRS, Options{})
	netTS, _ := newTestServer(t, nLRS, Options{})
	ok := `{"features":[1,2,3],"y":1}`
	for _, tc := range []struct {
		name, method, path, body string
		network                  bool
		want                     int
		msg                      string
	}{
		{"y one half", "PUT", "/v1/users/a", `{"samples":[` + ok + `,{"features":[1,2,3],"y":0.5}]}`, false, 400, "samples[1]: y = 0.5 is not 0 or 1"},
		{"y two", "PUT", "/v1/users/a", `{"samples":[{"features":[1,2,3],"y":2}]}`, false, 400, "samples[0]: y = 2 is not 0 or 1"},
		{"y minus one", "PUT", "/v1/users/a", `{"samples":[{"features":[1,2,3],"y":-1}]}`, false, 400, "y = -1 is not 0 or 1"},
		{"y tiny", "PUT", "/v1/users/a", `{"samples":[{"features":[1,2,3],"y":1e-300}]}`, false, 400, "is not 0 or 1"},
		{"y bool", "PUT", "/v1/users/a", `{"samples":[{"features":[1,2,3],"y":true}]}`, false, 400, "samples.y"},
		{"y zero and one", "PUT", "/v1/users/a", `{"samples":[` + ok + `,{"features":[3,2,1],"y":0}]}`, false, 201, ""},
		{"network hidden dim", "POST", "/v1/predict", `{"user":"u0","features":[1,2,3]}`, true, 400, "3 features, the model has 2"},
		{"network hidden name", "POST", "/v1/predict", `{"user":"u0","features":{"h0":1,"x1":2}}`, true, 400, `unknown feature "h0"`},
		{"network input names", "POST", "/v1/predict", `{"user":"u0","features":{"x1":2,"x0":1}}`, true, 200, ""},
		{"network put dim", "PUT", "/v1/users/a", `{"samples":[{"features":[1,2,3],"y":1}]}`, true, 400, "samples[0]: 3 features, the model has 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := logTS.URL
			if tc.network {
				url = netTS.URL
			}
			code, body := do(t, tc.method, url+tc.path, "", tc.body)
			var e errorBody
			json.Unmarshal(body, &e)
			if code != tc.want || !strings.Contains(e.Error, tc.msg) {
				t.Fatalf("%s %s: %d %s, want %d with %q", tc.method, tc.path, code, body, tc.want, tc.msg)
			}
		})
	}
}

// TestConcurrentNetwork predicts and personalizes a network model from
// several goroutines at once (the per-request network buffers); run with
// -race.
func TestConcurrentNetwork(t *testing.T) {
	m := handModel(model.MethodNeuralLRS, "", 5, 2, 1, 10, 4, []int{6, 5}, 8)
	ts, st := newTestServer(t, m, Options{Personalizers: 2})
	ds := inputData(m, []string{"u0", "u1", "u2"}, 4, 3, nil)
	want, err := eval.Predict(m, ds, eval.UnknownError)
	if err != nil {
		t.Fatal(err)
	}
	items := rows(ds)
	fit := samplesOf(inputData(m, []string{"p"}, 12, 4, func(x []float64, rng *rand.Rand) float64 { return rng.NormFloat64() }))
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func(g int) {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 12; i++ {
				if i%4 == g%4 {
					if code, body := do(t, "PUT", ts.URL+"/v1/users/p"+strconv.Itoa(g), "", fit); code >= 300 {
						t.Errorf("PUT: %d %s", code, body)
					}
					continue
				}
				k := (g*5 + i) % len(items)
				var one predictReply
				code, body := do(t, "POST", ts.URL+"/v1/predict", "", items[k])
				if code != http.StatusOK || json.Unmarshal(body, &one) != nil || one.Prediction != want[k] {
					t.Errorf("predict row %d: %d %s, want %v", k, code, body, want[k])
				}
			}
		}(g)
	}
	for range 4 {
		<-done
	}
	if st.Len() != len(m.Users)+4 {
		t.Fatalf("store holds %d users, want %d", st.Len(), len(m.Users)+4)
	}
}

// TestBatchPredictionsMatchEval checks batch predictions of linear models
// (four at a time, from theta_i kept in the store's user cache) against
// eval.Predict bit for bit, with the cache and without, for known users
// and unknown ones (the global fallback) mixed so that some groups of four
// have a fallback, before and after store writes replace and delete users
// whose theta_i is cached.
func TestBatchPredictionsMatchEval(t *testing.T) {
	for _, loss := range []string{"", model.LossLogistic} {
		for _, cache := range []int64{0, -1, 64 * 250} { // default, none, and no room for any theta_i
			t.Run(fmt.Sprintf("loss %q cache %d", loss, cache), func(t *testing.T) {
				m := handModel(model.MethodLRS, loss, 13, 3, 2, 30, 0, nil, 11)
				path := filepath.Join(t.TempDir(), "users.db")
				if err := store.Import(context.Background(), path, m, store.ImportOptions{}); err != nil {
					t.Fatal(err)
				}
				st, err := store.Open(path, store.Options{CacheBytes: cache})
				if err != nil {
					t.Fatal(err)
				}
				srv, err := New(st, Options{Unknown: eval.UnknownGlobal})
				if err != nil {
					t.Fatal(err)
				}
				ts := httptest.NewServer(srv)
				t.Cleanup(func() { ts.Close(); st.Close() })
				ids := []string{"u0", "u1", "u2", "u3", "u4", "u5", "nobody", "u7", "u8", "u9", "u10", "u11", "u12"}
				check := func(when string, m *model.Model) {
					t.Helper()
					ds := inputData(m, ids, 3, 7, nil)
					want, err := eval.Predict(m, ds, eval.UnknownGlobal)
					if err != nil {
						t.Fatal(err)
					}
					items := rows(ds)
					for range 2 { // theta_i computed, then cached
						code, body := do(t, "POST", ts.URL+"/v1/predict", "", map[string]any{"requests": items})
						var batch struct {
							Predictions []predictReply `json:"predictions"`
						}
						if code != http.StatusOK || json.Unmarshal(body, &batch) != nil || len(batch.Predictions) != len(want) {
							t.Fatalf("%s: batch predict: %d %s", when, code, body)
						}
						for i, p := range batch.Predictions {
							if math.Float64bits(p.Prediction) != math.Float64bits(want[i]) {
								t.Fatalf("%s: row %d (%s): %v, eval.Predict %v", when, i, p.User, p.Prediction, want[i])
							}
						}
					}
				}
				check("imported", m)
				// Replace u1 and delete u2 in the store and in m.
				next := model.User{ID: "u1", W: []float64{3, -1, 0.5}, Index: []int32{4}, Value: []float64{2}}
				if _, err := st.Put(next); err != nil {
					t.Fatal(err)
				}
				if _, err := st.Delete("u2"); err != nil {
					t.Fatal(err)
				}
				after := *m
				after.Users = nil
				for _, u := range m.Users {
					switch u.ID {
					case "u1":
						after.Users = append(after.Users, next)
					case "u2":
					default:
						after.Users = append(after.Users, u)
					}
				}
				check("after put and delete", &after)
			})
		}
	}
}

// TestDot4 checks that dot4 equals dot bit for bit on random vectors of
// every length up to 40.
func TestDot4(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	vec := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(9)-4))
		}
		return v
	}
	for n := range 41 {
		a := [4][]float64{vec(n), vec(n), vec(n), vec(n)}
		b := [4][]float64{vec(n), vec(n), vec(n), vec(n)}
		var got [4]float64
		got[0], got[1], got[2], got[3] = dot4(a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3])
		for k := range got {
			if want := dot(a[k], b[k]); math.Float64bits(got[k]) != math.Float64bits(want) {
				t.Fatalf("n = %d, item %d: dot4 %v, dot %v", n, k, got[k], want)
			}
		}
	}
}
