package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/store"
)

// Seeds beyond these live in testdata/fuzz/<name>/.
var predictSeeds = []string{
	`{"user":"u1","features":[1,2,3]}`,
	`{"user":"u1","features":{"a":1,"c":3,"b":-2.5e-3}}`,
	`{"requests":[{"user":"u1","features":[1,2,3]},{"user":"u2","features":{"a":0,"b":0,"c":0}}]}`,
	` { "requests" : [ ] } `,
	`{"user":"u\u0031","features":[1,2,3]}`,
	`{"USER":"u1","features":[1,2,3]}`,
	`{"user":"u1","features":[1,2,3],"user":"u2"}`,
	`{"user":"u1","features":[1e400,2,3]}`,
	`{"user":"u1","features":[-0,0.5,1E+2]}`,
	`{"user":"u1","features":null}`,
	`{"requests":null,"user":"u1","features":[1,2,3]}`,
	`{"user":"u1","features":[1,2,3]}x`,
	`[]`,
}

// tinyServer serves a 3-feature model with users u1 and u2.
func tinyServer(t testing.TB) *Server {
	m := &model.Model{Method: model.MethodLRS, Dim: 3, Rank: 1, Sparsity: 1, Features: []string{"a", "b", "c"},
		U: []float64{1, 0, 0}, Users: []model.User{
			{ID: "u1", W: []float64{2}, Index: []int32{1}, Value: []float64{1}},
			{ID: "u2", W: []float64{-1}},
		}}
	path := filepath.Join(t.TempDir(), "users.db")
	if err := store.Import(context.Background(), path, m, store.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := New(st, Options{MaxBatch: 50, MaxSamples: 20, MaxBodyBytes: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// normalized returns req with empty slices made nil, for comparison.
func normalized(req PredictRequest) PredictRequest {
	nf := func(f Features) Features {
		if len(f.Values) == 0 {
			f.Values = nil
		}
		if len(f.Named) == 0 {
			f.Named = nil
		}
		return f
	}
	req.Features = nf(req.Features)
	items := slices.Clone(req.Requests)
	for i := range items {
		items[i].Features = nf(items[i].Features)
	}
	if len(items) == 0 {
		items = nil
	}
	req.Requests = items
	return req
}

// FuzzPredictDecoders checks that the fast predict decoder, whenever it
// accepts a body, yields exactly what the strict encoding/json decoder
// yields; and that the predict handler answers every body with a
// well-formed JSON response of an expected status, without panicking.
func FuzzPredictDecoders(f *testing.F) {
	for _, s := range predictSeeds {
		f.Add([]byte(s))
	}
	srv := tinyServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast PredictRequest
		res := decodePredictFast(body, &fast, 3)
		var slow PredictRequest
		errSlow := decodePredictStrict(body, &slow, 3)
		if res == fastTooMany && (errSlow == nil || !strings.Contains(errSlow.Error(), "batch limit")) {
			t.Fatalf("fast decoder found too many items in %q, encoding/json: %v", body, errSlow)
		}
		if okFast := res == fastOK; okFast {
			if errSlow != nil {
				t.Fatalf("fast decoder accepted %q, encoding/json rejects it: %v", body, errSlow)
			}
			if a, b := normalized(fast), normalized(slow); !reflect.DeepEqual(a, b) {
				t.Fatalf("decoders differ on %q:\nfast %+v\nslow %+v", body, a, b)
			}
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/predict", bytes.NewReader(body)))
		checkResponse(t, rec, body, http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity)
		if rec.Code == http.StatusOK && errSlow != nil {
			t.Fatalf("body %q answered 200 though encoding/json rejects it: %v", body, errSlow)
		}
	})
}

// FuzzPutUser checks that the personalization handler answers every body
// with a well-formed JSON response of an expected status.
func FuzzPutUser(f *testing.F) {
	for _, s := range []string{
		`{"samples":[{"features":[1,2,3],"y":1},{"features":{"a":1,"b":0,"c":2},"y":-1}]}`,
		`{"samples":[]}`,
		`{"samples":[{"features":[1,2,3]}]}`,
		`{"samples":[{"features":[1,2,3],"y":1e309}]}`,
		`{"samples":[{"features":[1,2,3],"y":1e308},{"features":[1e300,0,1e-300],"y":-1e308}]}`,
	} {
		f.Add([]byte(s))
	}
	srv := tinyServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("PUT", "/v1/users/fuzz", bytes.NewReader(body)))
		checkResponse(t, rec, body, http.StatusOK, http.StatusCreated, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity)
	})
}

func checkResponse(t *testing.T, rec *httptest.ResponseRecorder, body []byte, codes ...int) {
	t.Helper()
	if !slices.Contains(codes, rec.Code) {
		t.Fatalf("body %q: status %d (%s)", body, rec.Code, rec.Body)
	}
	var v map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("body %q: response %q is not a JSON object: %v", body, rec.Body, err)
	}
	if rec.Code >= 400 {
		if msg, _ := v["error"].(string); msg == "" {
			t.Fatalf("body %q: error response %q has no message", body, rec.Body)
		}
	}
}
