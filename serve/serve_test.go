package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/store"
	"github.com/lrsp/lrsp/synth"
)

// fixture trains a small model on synthetic data once per test binary.
type fixture struct {
	data *synth.Data
	m    *model.Model
}

var (
	fixOnce sync.Once
	fix     fixture
	fixErr  error
)

func trained(t *testing.T) fixture {
	t.Helper()
	fixOnce.Do(func() {
		fix.data, fixErr = synth.Generate(synth.Options{Users: 80, Samples: 30, Dim: 12, Rank: 2, Sparsity: 2,
			Noise: 0.01, NewUsers: 2, TestSamples: 15, Seed: 11})
		if fixErr != nil {
			return
		}
		var res *amht.Result
		res, fixErr = amht.Train(context.Background(), fix.data.Train, nil, amht.Options{Rank: 2, Sparsity: 2, Seed: 3, Workers: 2})
		if fixErr == nil {
			fix.m = res.Model
		}
	})
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

// newTestServer imports m into a fresh store and serves it.
func newTestServer(t *testing.T, m *model.Model, opt Options) (*httptest.Server, *store.Store) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.db")
	if err := store.Import(context.Background(), path, m, store.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(st, opt)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { ts.Close(); st.Close() })
	return ts, st
}

func do(t *testing.T, method, url, token string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

type item struct {
	User     string `json:"user"`
	Features any    `json:"features"`
}

// rows returns one predict item per test row, in input-row order, with the
// features of some rows given by name.
func rows(ds *dataset.Dataset) []item {
	out := make([]item, ds.Rows())
	d := ds.Dim()
	for i := range ds.Users {
		u := &ds.Users[i]
		for s, row := range u.Rows {
			x := u.X[s*d : (s+1)*d]
			if row%3 == 0 {
				named := map[string]float64{}
				for j, f := range ds.Features {
					named[f] = x[j]
				}
				out[row] = item{u.ID, named}
			} else {
				out[row] = item{u.ID, x}
			}
		}
	}
	return out
}

// TestEndToEnd trains, imports, serves, and checks that predictions equal
// eval.Predict's (what "lrsp predict" writes) bit for bit, for known users
// and, with --unknown global, for unknown ones; then personalizes a new
// user over HTTP and checks its held-out error.
func TestEndToEnd(t *testing.T) {
	f := trained(t)
	ts, st := newTestServer(t, f.m, Options{Unknown: eval.UnknownGlobal})
	want, err := eval.Predict(f.m, f.data.Test, eval.UnknownGlobal)
	if err != nil {
		t.Fatal(err)
	}
	items := rows(f.data.Test)
	code, body := do(t, "POST", ts.URL+"/v1/predict", "", map[string]any{"requests": items})
	if code != http.StatusOK {
		t.Fatalf("batch predict: %d %s", code, body)
	}
	var batch struct {
		Predictions []struct {
			User       string  `json:"user"`
			Prediction float64 `json:"prediction"`
		} `json:"predictions"`
	}
	if err := json.Unmarshal(body, &batch); err != nil {
		t.Fatal(err)
	}
	if len(batch.Predictions) != len(want) {
		t.Fatalf("%d predictions, want %d", len(batch.Predictions), len(want))
	}
	unknown := 0
	for i, p := range batch.Predictions {
		if p.User != items[i].User || p.Prediction != want[i] {
			t.Fatalf("row %d: got %s %v, eval.Predict %s %v", i, p.User, p.Prediction, items[i].User, want[i])
		}
		if p.User[0] == 'n' {
			unknown++
		}
	}
	if unknown == 0 {
		t.Fatal("the test rows have no unknown user: the fallback is untested")
	}
	for i := 0; i < len(items); i += 37 {
		code, body := do(t, "POST", ts.URL+"/v1/predict", "", items[i])
		var one struct {
			User       string  `json:"user"`
			Prediction float64 `json:"prediction"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &one) != nil || one.Prediction != want[i] {
			t.Fatalf("single predict of row %d: %d %s, want %v", i, code, body, want[i])
		}
	}

	// Personalize new user n0 over HTTP from its training samples.
	nu := &f.data.New.Users[0]
	d := f.data.New.Dim()
	var samples []map[string]any
	for s := range nu.Y {
		samples = append(samples, map[string]any{"features": nu.X[s*d : (s+1)*d], "y": nu.Y[s]})
	}
	code, body = do(t, "PUT", ts.URL+"/v1/users/"+nu.ID, "", map[string]any{"samples": samples})
	if code != http.StatusCreated {
		t.Fatalf("PUT: %d %s", code, body)
	}
	var put PersonalizeResponse
	if err := json.Unmarshal(body, &put); err != nil {
		t.Fatal(err)
	}
	// The stored parameters are what "lrsp personalize" computes.
	one := dataset.NewBuilder(f.data.New.Features, true)
	for s := range nu.Y {
		one.Add(nu.ID, nu.X[s*d:(s+1)*d], nu.Y[s], s)
	}
	ref, err := method.Personalize(context.Background(), f.m, one.Dataset(), method.PersonalizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(nu.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.W, ref[0].W) || !reflect.DeepEqual(got.Index, ref[0].Index) || !reflect.DeepEqual(got.Value, ref[0].Value) {
		t.Fatalf("stored %+v, method.Personalize %+v", got, ref[0])
	}
	if !put.Created || put.Samples != len(nu.Y) || put.TrainingRMSE > 0.05 || len(put.W) != 2 {
		t.Fatalf("PUT response %+v", put)
	}
	// Held-out error of the new user, against the noise level 0.01 and the
	// fallback's error before personalization.
	var sse, sseFallback float64
	n := 0
	for i, it := range items {
		if it.User != nu.ID {
			continue
		}
		code, body := do(t, "POST", ts.URL+"/v1/predict", "", it)
		var one struct{ Prediction float64 }
		if code != http.StatusOK || json.Unmarshal(body, &one) != nil {
			t.Fatalf("predict new user: %d %s", code, body)
		}
		y := testTarget(f.data.Test, i)
		sse += (one.Prediction - y) * (one.Prediction - y)
		sseFallback += (want[i] - y) * (want[i] - y)
		n++
	}
	rmse, rmseFallback := math.Sqrt(sse/float64(n)), math.Sqrt(sseFallback/float64(n))
	t.Logf("new user held-out RMSE %.4f (fallback %.4f) over %d samples", rmse, rmseFallback, n)
	if n == 0 || rmse > 0.05 || rmse > rmseFallback/10 {
		t.Fatalf("new user held-out RMSE %.4f (fallback %.4f)", rmse, rmseFallback)
	}

	// GET returns the stored parameters; DELETE removes them.
	code, body = do(t, "GET", ts.URL+"/v1/users/"+nu.ID, "", nil)
	var gp UserParams
	if code != http.StatusOK || json.Unmarshal(body, &gp) != nil || !reflect.DeepEqual(gp.W, got.W) || len(gp.B) != len(got.Index) {
		t.Fatalf("GET: %d %s", code, body)
	}
	if code, body := do(t, "DELETE", ts.URL+"/v1/users/"+nu.ID, "", nil); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	if code, _ := do(t, "GET", ts.URL+"/v1/users/"+nu.ID, "", nil); code != http.StatusNotFound {
		t.Fatalf("GET after DELETE: %d", code)
	}
	if st.Len() != len(f.m.Users) {
		t.Fatalf("store holds %d users, want %d", st.Len(), len(f.m.Users))
	}

	// The model endpoint and metrics.
	code, body = do(t, "GET", ts.URL+"/v1/model", "", nil)
	var info ModelInfo
	if code != http.StatusOK || json.Unmarshal(body, &info) != nil || info.D != 12 || info.R != 2 || info.K != 2 ||
		info.Method != model.MethodLRS || len(info.Features) != 12 || info.Users != len(f.m.Users) {
		t.Fatalf("model: %d %s", code, body)
	}
	code, body = do(t, "GET", ts.URL+"/metrics", "", nil)
	for _, want := range []string{
		`lrsp_http_requests_total{code="200",route="POST /v1/predict"}`,
		`lrsp_http_requests_total{code="201",route="PUT /v1/users/{id}"}`,
		`lrsp_http_errors_total{class="client",route="GET /v1/users/{id}"} 1`,
		"lrsp_users_stored 80",
		"lrsp_http_request_duration_seconds_bucket",
		fmt.Sprintf("lrsp_predictions_total %d", len(items)+len(items)/37+1+n),
	} {
		if code != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// testTarget returns the target of input row row of ds.
func testTarget(ds *dataset.Dataset, row int) float64 {
	for i := range ds.Users {
		for s, r := range ds.Users[i].Rows {
			if r == row {
				return ds.Users[i].Y[s]
			}
		}
	}
	panic("no row " + strconv.Itoa(row))
}

func TestUnknownUserIs404(t *testing.T) {
	f := trained(t)
	ts, _ := newTestServer(t, f.m, Options{})
	x := make([]float64, 12)
	code, body := do(t, "POST", ts.URL+"/v1/predict", "", item{"nobody", x})
	if code != http.StatusNotFound || !strings.Contains(string(body), `user \"nobody\" is not in the store`) {
		t.Fatalf("got %d %s", code, body)
	}
	code, body = do(t, "POST", ts.URL+"/v1/predict", "", map[string]any{"requests": []item{{"u1", x}, {"nobody", x}}})
	if code != http.StatusNotFound || !strings.Contains(string(body), "nobody") {
		t.Fatalf("batch: got %d %s", code, body)
	}
}

func TestAuth(t *testing.T) {
	f := trained(t)
	const tok = "0123456789abcdef-secret"
	ts, _ := newTestServer(t, f.m, Options{AuthToken: tok})
	put := map[string]any{"samples": []map[string]any{{"features": make([]float64, 12), "y": 1}}}
	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		want                      int
	}{
		{"put no token", "PUT", "/v1/users/a1", "", put, http.StatusUnauthorized},
		{"put bad token", "PUT", "/v1/users/a1", tok + "x", put, http.StatusUnauthorized},
		{"delete no token", "DELETE", "/v1/users/u1", "", nil, http.StatusUnauthorized},
		{"put good token", "PUT", "/v1/users/a1", tok, put, http.StatusCreated},
		{"delete good token", "DELETE", "/v1/users/a1", tok, nil, http.StatusNoContent},
		{"get needs none", "GET", "/v1/users/u1", "", nil, http.StatusOK},
		{"predict needs none", "POST", "/v1/predict", "", item{"u1", make([]float64, 12)}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := do(t, tc.method, ts.URL+tc.path, tc.token, tc.body); code != tc.want {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, code, body, tc.want)
			}
		})
	}
}

// TestBadInput checks that every endpoint answers bad input with the right
// status and a message naming the problem.
func TestBadInput(t *testing.T) {
	f := trained(t)
	ts, _ := newTestServer(t, f.m, Options{MaxBatch: 3, MaxSamples: 4, MaxBodyBytes: 4096})
	x := `[1,2,3,4,5,6,7,8,9,10,11,12]`
	named := func(extra string) string {
		var b strings.Builder
		b.WriteString(`{`)
		for j := 0; j < 12; j++ {
			if j > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"x%d":%d`, j, j)
		}
		return b.String() + extra + `}`
	}
	sample := `{"features":` + x + `,"y":1}`
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
		msg                      string
	}{
		{"predict empty body", "POST", "/v1/predict", ``, 400, "empty body"},
		{"predict not json", "POST", "/v1/predict", `{"user":`, 400, "invalid JSON"},
		{"predict two values", "POST", "/v1/predict", `{"user":"u1","features":` + x + `} {}`, 400, "more than one JSON value"},
		{"predict unknown field", "POST", "/v1/predict", `{"user":"u1","features":` + x + `,"foo":1}`, 400, `unknown field "foo"`},
		{"predict short", "POST", "/v1/predict", `{"user":"u1","features":[1,2]}`, 400, "2 features, the model has 12"},
		{"predict long", "POST", "/v1/predict", `{"user":"u1","features":[1,2,3,4,5,6,7,8,9,10,11,12,13]}`, 400, "13 features"},
		{"predict string feature", "POST", "/v1/predict", `{"user":"u1","features":[1,"a",3,4,5,6,7,8,9,10,11,12]}`, 400, "want an array of finite numbers: got JSON string"},
		{"predict overflow", "POST", "/v1/predict", `{"user":"u1","features":[1e999,2,3,4,5,6,7,8,9,10,11,12]}`, 400, "1e999"},
		{"predict NaN literal", "POST", "/v1/predict", `{"user":"u1","features":[NaN,2,3,4,5,6,7,8,9,10,11,12]}`, 400, "invalid"},
		{"predict null features", "POST", "/v1/predict", `{"user":"u1","features":null}`, 400, "features must be an array"},
		{"predict no features", "POST", "/v1/predict", `{"user":"u1"}`, 400, "features missing"},
		{"predict no user", "POST", "/v1/predict", `{"features":` + x + `}`, 400, "user ID of 0 characters"},
		{"predict bad id", "POST", "/v1/predict", `{"user":"a b","features":` + x + `}`, 400, "has character ' '"},
		{"predict long id", "POST", "/v1/predict", `{"user":"` + strings.Repeat("a", 129) + `","features":` + x + `}`, 400, "129 characters"},
		{"predict unknown name", "POST", "/v1/predict", `{"user":"u1","features":` + named(`,"zz":1`) + `}`, 400, "13 named features"},
		{"predict wrong name", "POST", "/v1/predict", `{"user":"u1","features":{"x0":1,"zz":2}}`, 400, `unknown feature "zz"`},
		{"predict missing name", "POST", "/v1/predict", `{"user":"u1","features":{"x0":1}}`, 400, `feature "x1" missing`},
		{"predict repeated name", "POST", "/v1/predict", `{"user":"u1","features":{"x0":1,"x0":2}}`, 400, `"x0" given twice`},
		{"predict named string", "POST", "/v1/predict", `{"user":"u1","features":{"x0":"1"}}`, 400, `"x0"`},
		{"predict both forms", "POST", "/v1/predict", `{"user":"u1","features":` + x + `,"requests":[]}`, 400, "not both"},
		{"predict empty batch", "POST", "/v1/predict", `{"requests":[]}`, 400, "empty batch"},
		{"predict big batch", "POST", "/v1/predict", `{"requests":[{"user":"u1","features":` + x + `},{"user":"u1","features":` + x + `},{"user":"u1","features":` + x + `},{"user":"u1","features":` + x + `}]}`, 400, "more than 3 items exceed the batch limit of 3"},
		{"predict bad batch item", "POST", "/v1/predict", `{"requests":[{"user":"u1","features":` + x + `},{"user":"u1","features":[1]}]}`, 400, "requests[1]: 1 features"},
		{"predict body too large", "POST", "/v1/predict", `{"user":"u1","features":[` + strings.Repeat("1,", 3000) + `1]}`, 413, "exceeds the limit"},
		{"predict array body", "POST", "/v1/predict", `[1]`, 400, "want an object"},
		{"predict get", "GET", "/v1/predict", ``, 405, ""},
		{"put no samples", "PUT", "/v1/users/a1", `{"samples":[]}`, 400, "at least one sample"},
		{"put too many", "PUT", "/v1/users/a1", `{"samples":[` + strings.Repeat(sample+",", 4) + sample + `]}`, 400, "5 samples exceed the limit of 4"},
		{"put no y", "PUT", "/v1/users/a1", `{"samples":[{"features":` + x + `}]}`, 400, "samples[0]: y missing"},
		{"put bad dim", "PUT", "/v1/users/a1", `{"samples":[` + sample + `,{"features":[1],"y":2}]}`, 400, "samples[1]: 1 features"},
		{"put y string", "PUT", "/v1/users/a1", `{"samples":[{"features":` + x + `,"y":"1"}]}`, 400, "samples.y"},
		{"put unknown field", "PUT", "/v1/users/a1", `{"samples":[` + sample + `],"x":1}`, 400, `unknown field "x"`},
		{"put bad id", "PUT", "/v1/users/a%2Fb", `{"samples":[` + sample + `]}`, 400, "has character '/'"},
		{"put bad id 2", "PUT", "/v1/users/%C3%A9", `{"samples":[` + sample + `]}`, 400, "has character"},
		{"get bad id", "GET", "/v1/users/a%20b", ``, 400, "has character ' '"},
		{"get missing", "GET", "/v1/users/nobody", ``, 404, `"nobody" is not in the store`},
		{"delete missing", "DELETE", "/v1/users/nobody", ``, 404, `"nobody" is not in the store`},
		{"delete bad id", "DELETE", "/v1/users/" + strings.Repeat("z", 200), ``, 400, "200 characters"},
		{"model post", "POST", "/v1/model", `{}`, 405, ""},
		{"unknown path", "GET", "/v1/nothing", ``, 404, ""},
		{"healthz post", "POST", "/healthz", ``, 405, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, tc.method, ts.URL+tc.path, "", tc.body)
			var e errorBody
			if code != 405 && tc.name != "unknown path" && (json.Unmarshal(body, &e) != nil || e.Error == "") {
				t.Fatalf("%s %s: %d, error body %s is not {\"error\": ...}", tc.method, tc.path, code, body)
			}
			if code != tc.want || !strings.Contains(e.Error, tc.msg) {
				t.Fatalf("%s %s: %d %s, want %d with %q", tc.method, tc.path, code, body, tc.want, tc.msg)
			}
		})
	}
}

// TestPersonalizeUnavailable checks the 409 for models without personal
// parameters.
func TestPersonalizeUnavailable(t *testing.T) {
	m := &model.Model{Method: model.MethodGlobal, Dim: 2, Features: []string{"a", "b"}, Theta0: []float64{1, 2}}
	ts, _ := newTestServer(t, m, Options{})
	code, body := do(t, "PUT", ts.URL+"/v1/users/x", "", `{"samples":[{"features":[1,2],"y":3}]}`)
	if code != http.StatusConflict || !strings.Contains(string(body), "no personal parameters") {
		t.Fatalf("PUT on a global model: %d %s", code, body)
	}
	// A global model predicts theta_0 for anyone, as eval.Predict does.
	code, body = do(t, "POST", ts.URL+"/v1/predict", "", `{"user":"x","features":{"b":1,"a":1}}`)
	if code != http.StatusOK || string(body) != `{"user":"x","prediction":3}`+"\n" {
		t.Fatalf("predict on a global model: %d %s", code, body)
	}
}

// TestConcurrentPredictAndPersonalize runs predicts, PUTs and DELETEs in
// parallel; run with -race.
func TestConcurrentPredictAndPersonalize(t *testing.T) {
	f := trained(t)
	ts, st := newTestServer(t, f.m, Options{Personalizers: 2})
	nu := &f.data.New.Users[1]
	d := 12
	var samples []map[string]any
	for s := range nu.Y {
		samples = append(samples, map[string]any{"features": nu.X[s*d : (s+1)*d], "y": nu.Y[s]})
	}
	items := rows(f.data.Test)
	var wg sync.WaitGroup
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 15; i++ {
				id := "c" + strconv.Itoa(g) + "-" + strconv.Itoa(i%3)
				switch i % 3 {
				case 0:
					if code, body := do(t, "PUT", ts.URL+"/v1/users/"+id, "", map[string]any{"samples": samples}); code >= 300 {
						t.Errorf("PUT: %d %s", code, body)
					}
				case 1:
					it := items[(g*17+i)%len(items)]
					if it.User[0] == 'n' {
						it.User = "c" + strconv.Itoa(g) + "-0"
					}
					if code, body := do(t, "POST", ts.URL+"/v1/predict", "", it); code != 200 {
						t.Errorf("predict: %d %s", code, body)
					}
				case 2:
					if code, body := do(t, "DELETE", ts.URL+"/v1/users/c"+strconv.Itoa(g)+"-0", "", nil); code != 204 {
						t.Errorf("DELETE: %d %s", code, body)
					}
				}
			}
		}(g)
	}
	wg.Wait()
	if st.Len() != len(f.m.Users) {
		t.Fatalf("store holds %d users, want %d", st.Len(), len(f.m.Users))
	}
}

func TestCheckListenAddr(t *testing.T) {
	for _, tc := range []struct {
		addr            string
		token, insecure bool
		ok              bool
	}{
		{"127.0.0.1:8080", false, false, true},
		{"localhost:8080", false, false, true},
		{"[::1]:8080", false, false, true},
		{"127.3.4.5:80", false, false, true},
		{":8080", false, false, false},
		{"0.0.0.0:8080", false, false, false},
		{"192.168.1.2:8080", false, false, false},
		{"example.com:8080", false, false, false},
		{"0.0.0.0:8080", true, false, true},
		{"0.0.0.0:8080", false, true, true},
		{"nonsense", true, true, false},
	} {
		if err := CheckListenAddr(tc.addr, tc.token, tc.insecure); (err == nil) != tc.ok {
			t.Errorf("CheckListenAddr(%q, %v, %v) = %v", tc.addr, tc.token, tc.insecure, err)
		}
	}
}
