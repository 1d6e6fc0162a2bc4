package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/store"
)

// tinyModel is a 3-feature model with users u1 (theta = [2, 1, 0]) and u2
// (theta = [-1, 0, 0]).
func tinyModel() *model.Model {
	return &model.Model{Method: model.MethodLRS, Dim: 3, Rank: 1, Sparsity: 1, Features: []string{"a", "b", "c"},
		U: []float64{1, 0, 0}, Users: []model.User{
			{ID: "u1", W: []float64{2}, Index: []int32{1}, Value: []float64{1}},
			{ID: "u2", W: []float64{-1}},
		}}
}

// jsonError decodes an error response and fails unless it is JSON
// {"error": ...} containing every one of want.
func jsonError(t *testing.T, code int, body []byte, wantCode int, want ...string) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Fatalf("status %d, body %q: not a JSON error (%v)", code, body, err)
	}
	if code != wantCode {
		t.Fatalf("status %d (%s), want %d", code, body, wantCode)
	}
	for _, w := range want {
		if !strings.Contains(e.Error, w) {
			t.Fatalf("error %q does not contain %q", e.Error, w)
		}
	}
}

// TestPredictOverflowIsJSONError guards against a 200 that is not JSON:
// finite features whose dot product with theta_i overflows answered
// {"prediction":+Inf}.
func TestPredictOverflowIsJSONError(t *testing.T) {
	ts, _ := newTestServer(t, tinyModel(), Options{})
	for _, tc := range []struct {
		name, body, where string
	}{
		{"inf", `{"user":"u1","features":[1.7e308,1.7e308,0]}`, `request: the prediction for user "u1"`},
		{"-inf", `{"user":"u1","features":[-1.7e308,-1.7e308,0]}`, `user "u1"`},
		{"batch", `{"requests":[{"user":"u2","features":[1,2,3]},{"user":"u1","features":[1e308,1e308,0]}]}`, `requests[1]: the prediction for user "u1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, "POST", ts.URL+"/v1/predict", "", tc.body)
			jsonError(t, code, body, http.StatusUnprocessableEntity, tc.where, "not a finite number")
		})
	}
}

// TestPutOverflowStoresNothing guards against storing a user whose
// answer failed: targets near 1e200 answered 500 (+Inf training error)
// after the user was stored. The request must fail with a JSON 4xx naming
// the problem, and the user must not exist afterwards.
func TestPutOverflowStoresNothing(t *testing.T) {
	ts, st := newTestServer(t, tinyModel(), Options{})
	samples := func(x []float64, y float64) map[string]any {
		var ss []map[string]any
		for i := range 20 {
			ss = append(ss, map[string]any{"features": []float64{x[0] * float64(i+1), x[1], x[2]}, "y": y * float64(i%3+1)})
		}
		return map[string]any{"samples": ss}
	}
	for _, tc := range []struct {
		name string
		body map[string]any
		want string
	}{
		{"huge targets", samples([]float64{1, 0.5, 2}, 1e200), "y = 1e+200 exceeds"},
		{"huge features", samples([]float64{1e150, 0.5, 2}, 1), "feature \"a\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, "PUT", ts.URL+"/v1/users/big", "", tc.body)
			if code != http.StatusBadRequest && code != http.StatusUnprocessableEntity {
				t.Fatalf("PUT: status %d (%s), want 400 or 422", code, body)
			}
			jsonError(t, code, body, code, tc.want)
			if code, body := do(t, "GET", ts.URL+"/v1/users/big", "", nil); code != http.StatusNotFound {
				t.Fatalf("GET after a refused PUT: %d %s, want 404", code, body)
			}
			if st.Len() != 2 {
				t.Fatalf("store holds %d users after a refused PUT, want 2", st.Len())
			}
		})
	}
}

// TestPutFewSamplesWarns checks that a personalization from fewer samples
// than the user's parameters is stored with a warning, and one from
// enough samples without.
func TestPutFewSamplesWarns(t *testing.T) {
	ts, _ := newTestServer(t, tinyModel(), Options{})
	var resp PersonalizeResponse
	code, body := do(t, "PUT", ts.URL+"/v1/users/one", "", `{"samples":[{"features":[1,2,3],"y":1}]}`)
	if code != http.StatusCreated || json.Unmarshal(body, &resp) != nil {
		t.Fatalf("PUT one sample: %d %s", code, body)
	}
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "1 samples for 2 personal parameters") {
		t.Fatalf("warnings %q, want one about 1 sample for 2 parameters", resp.Warnings)
	}
	code, body = do(t, "PUT", ts.URL+"/v1/users/one", "", `{"samples":[{"features":[1,2,3],"y":1},{"features":[0,1,3],"y":2},{"features":[1,0,0],"y":0}]}`)
	if code != http.StatusOK || strings.Contains(string(body), "warnings") {
		t.Fatalf("PUT three samples: %d %s, want 200 without warnings", code, body)
	}
}

// TestUnknownRouteAndMethodAreJSON guards the API's promise that every
// error is JSON: the mux answered unknown routes and wrong methods with
// plain text.
func TestUnknownRouteAndMethodAreJSON(t *testing.T) {
	ts, _ := newTestServer(t, tinyModel(), Options{})
	code, body := do(t, "GET", ts.URL+"/v2/nothing", "", nil)
	jsonError(t, code, body, http.StatusNotFound, "no route GET /v2/nothing")
	req, _ := http.NewRequest("GET", ts.URL+"/v1/predict", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	jsonError(t, resp.StatusCode, b, http.StatusMethodNotAllowed, "method GET not allowed")
	if a := resp.Header.Get("Allow"); !strings.Contains(a, "POST") {
		t.Fatalf("Allow: %q, want POST", a)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
}

// TestReadToken guards users' personal parameters: with a read token, GET
// /v1/users/{id} needs it (or the write token); predictions stay open.
func TestReadToken(t *testing.T) {
	const read, write = "read-token-0123456789", "write-token-0123456789"
	ts, _ := newTestServer(t, tinyModel(), Options{ReadToken: read, AuthToken: write})
	for _, tc := range []struct {
		token string
		want  int
	}{
		{"", http.StatusUnauthorized},
		{"wrong-token-0123456789", http.StatusUnauthorized},
		{read + "x", http.StatusUnauthorized},
		{read, http.StatusOK},
		{write, http.StatusOK},
	} {
		code, body := do(t, "GET", ts.URL+"/v1/users/u1", tc.token, nil)
		if code != tc.want {
			t.Fatalf("GET with token %q: %d %s, want %d", tc.token, code, body, tc.want)
		}
		if code == http.StatusUnauthorized {
			jsonError(t, code, body, code, "bearer token")
		}
	}
	if code, body := do(t, "DELETE", ts.URL+"/v1/users/u1", read, nil); code != http.StatusUnauthorized {
		t.Fatalf("DELETE with the read token: %d %s, want 401", code, body)
	}
	if code, body := do(t, "POST", ts.URL+"/v1/predict", "", `{"user":"u1","features":[1,2,3]}`); code != http.StatusOK {
		t.Fatalf("predict without a token: %d %s", code, body)
	}
	// Without a read token, reads stay open.
	ts2, _ := newTestServer(t, tinyModel(), Options{AuthToken: write})
	if code, body := do(t, "GET", ts2.URL+"/v1/users/u1", "", nil); code != http.StatusOK {
		t.Fatalf("GET without a configured read token: %d %s", code, body)
	}
}

// TestInFlightCap checks the bound on concurrent requests: past it a
// request gets 503 with Retry-After and a JSON error at once, while the
// probes still answer.
func TestInFlightCap(t *testing.T) {
	ts, _ := newTestServer(t, tinyModel(), Options{MaxInFlight: 1})
	pr, pw := io.Pipe()
	done := make(chan int)
	go func() {
		resp, err := http.Post(ts.URL+"/v1/predict", "application/json", pr)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	pw.Write([]byte(`{"user":"u1",`)) // the handler now waits for the rest
	deadline := time.Now().Add(5 * time.Second)
	for {
		req, _ := http.NewRequest("POST", ts.URL+"/v1/predict", strings.NewReader(`{"user":"u1","features":[1,2,3]}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			jsonError(t, resp.StatusCode, b, http.StatusServiceUnavailable, "overloaded")
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 503 while a request is in flight (last %d %s)", resp.StatusCode, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, body := do(t, "GET", ts.URL+"/healthz", "", nil); code != http.StatusOK {
		t.Fatalf("/healthz under load: %d %s", code, body)
	}
	pw.Write([]byte(`"features":[1,2,3]}`))
	pw.Close()
	if code := <-done; code != http.StatusOK {
		t.Fatalf("the request in flight answered %d", code)
	}
	if code, body := do(t, "POST", ts.URL+"/v1/predict", "", `{"user":"u1","features":[1,2,3]}`); code != http.StatusOK {
		t.Fatalf("after the load: %d %s", code, body)
	}
}

// TestOversizeBatchStopsEarly guards memory under a body of very many tiny
// batch items: both decoders must stop at the batch limit rather than
// decode every item first (10^6 items used to take ~100 MB each).
func TestOversizeBatchStopsEarly(t *testing.T) {
	srv, err := New(openTiny(t), Options{MaxBatch: 10})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000000
	items := strings.Repeat(`{},`, n-1) + `{}`
	for _, tc := range []struct{ name, body string }{
		{"fast decoder", `{"requests":[` + items + `]}`},
		{"encoding/json", `{"user":"\u0061","requests":[` + items + `]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			rec := newRecorder()
			req, _ := http.NewRequest("POST", "/v1/predict", strings.NewReader(tc.body))
			srv.ServeHTTP(rec, req)
			runtime.ReadMemStats(&after)
			jsonError(t, rec.code, rec.body.Bytes(), http.StatusBadRequest, "batch limit of 10")
			// The body itself is 3 MB, read into one buffer.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
				t.Fatalf("%d items allocated %d MB, want under 16 MB", n, alloc>>20)
			}
		})
	}
}

// openTiny imports tinyModel into a store and opens it.
func openTiny(t *testing.T) *store.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.db")
	if err := store.Import(context.Background(), path, tinyModel(), store.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// recorder is a minimal http.ResponseWriter for in-process requests.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(b)
}

// TestAccessLog checks the structured access log and its sampling.
func TestAccessLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	ts, _ := newTestServer(t, tinyModel(), Options{AccessLog: log, AccessLogEvery: 2})
	for range 3 {
		do(t, "GET", ts.URL+"/healthz", "", nil)
	}
	do(t, "GET", ts.URL+"/v1/users/nobody", "", nil)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d access log lines for 4 requests logged one in 2, want 2:\n%s", len(lines), buf.String())
	}
	var rec struct {
		Msg, Method, Path string
		Status            int
		Bytes             int64
	}
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Msg != "request" || rec.Method != "GET" || rec.Path != "/healthz" || rec.Status != 200 || rec.Bytes == 0 {
		t.Fatalf("access log record %+v", rec)
	}
	// Off by default.
	srv, err := New(openTiny(t), Options{})
	if err != nil || srv.opt.AccessLog != nil {
		t.Fatalf("access log on by default (%v)", err)
	}
}

// TestCorruptRecordIs500 checks that a user record failing its checksum is
// a JSON 500 naming the user on every read path, never a prediction.
func TestCorruptRecordIs500(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.db")
	if err := store.Import(context.Background(), path, tinyModel(), store.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("users"))
		v := bytes.Clone(b.Get([]byte("u1")))
		v[2] ^= 1
		return b.Put([]byte("u1"), v)
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := New(st, Options{Unknown: eval.UnknownGlobal})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/v1/predict", `{"user":"u1","features":[1,2,3]}`},
		{"GET", "/v1/users/u1", ""},
	} {
		rec := newRecorder()
		req, _ := http.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		srv.ServeHTTP(rec, req)
		jsonError(t, rec.code, rec.body.Bytes(), http.StatusInternalServerError, `"u1"`, "checksum")
	}
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/v1/predict", `{"user":"u2","features":[1,2,3]}`, http.StatusOK},         // a sound user
		{"PUT", "/v1/users/u1", `{"samples":[{"features":[1,2,3],"y":1}]}`, http.StatusOK}, // repairs u1
		{"GET", "/v1/users/u1", "", http.StatusOK},
	} {
		rec := newRecorder()
		req, _ := http.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		srv.ServeHTTP(rec, req)
		if rec.code != tc.want {
			t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, rec.code, rec.body.String(), tc.want)
		}
	}
}

// TestGlobalFallbackSurvivesExtremeUser guards the --unknown global
// fallback: a PUT of a user with extreme parameters and its DELETE must
// leave the fallback prediction bit-identical, also after a restart (a
// float64 running sum of w lost the other users for good).
func TestGlobalFallbackSurvivesExtremeUser(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.db")
	if err := store.Import(context.Background(), path, tinyModel(), store.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	serveOnce := func(fn func(srv *Server)) {
		st, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		srv, err := New(st, Options{Unknown: eval.UnknownGlobal})
		if err != nil {
			t.Fatal(err)
		}
		fn(srv)
	}
	call := func(srv *Server, method, path, body string) (int, string) {
		rec := newRecorder()
		req, _ := http.NewRequest(method, path, strings.NewReader(body))
		srv.ServeHTTP(rec, req)
		return rec.code, rec.body.String()
	}
	const unknown = `{"user":"nobody","features":[0.3,1,2]}`
	var before string
	serveOnce(func(srv *Server) {
		_, before = call(srv, "POST", "/v1/predict", unknown)
		for i := range 6 {
			id := fmt.Sprintf("/v1/users/extreme%d", i)
			code, body := call(srv, "PUT", id, `{"samples":[{"features":[1,0,0],"y":9e99},{"features":[1,0,1],"y":-8e99},{"features":[2,1,0],"y":1e99}]}`)
			if code != http.StatusCreated {
				t.Fatalf("PUT: %d %s", code, body)
			}
			if i%2 == 0 {
				if code, body := call(srv, "DELETE", id, ""); code != http.StatusNoContent {
					t.Fatalf("DELETE: %d %s", code, body)
				}
			}
		}
		for i := 1; i < 6; i += 2 {
			call(srv, "DELETE", fmt.Sprintf("/v1/users/extreme%d", i), "")
		}
		if _, after := call(srv, "POST", "/v1/predict", unknown); after != before {
			t.Fatalf("fallback prediction %s after PUT and DELETE of extreme users, was %s", after, before)
		}
	})
	serveOnce(func(srv *Server) {
		if _, after := call(srv, "POST", "/v1/predict", unknown); after != before {
			t.Fatalf("fallback prediction %s after a restart, was %s", after, before)
		}
	})
}
