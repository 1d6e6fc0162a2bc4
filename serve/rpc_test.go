package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	lrspv1 "github.com/lrsp/lrsp/api/gen/lrsp/v1"
	"github.com/lrsp/lrsp/api/gen/lrsp/v1/lrspv1connect"
	"github.com/lrsp/lrsp/client"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/store"
	"github.com/lrsp/lrsp/synth"
)

// newRPCServer serves m as Run does (HTTP/1.1 and h2c) on a test server.
func newRPCServer(t *testing.T, m *model.Model, opt Options) *httptest.Server {
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
	ts := httptest.NewUnstartedServer(srv)
	ts.Config.Protocols = Protocols()
	ts.Start()
	t.Cleanup(func() { ts.Close(); st.Close() })
	return ts
}

var protocols = []client.Protocol{client.Connect, client.GRPC}

func newClient(t *testing.T, url string, p client.Protocol, token string) *client.Client {
	t.Helper()
	c, err := client.New(url, client.Options{Protocol: p, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// jsonBatch predicts items through POST /v1/predict.
func jsonBatch(t *testing.T, url, token string, items []client.Item) (preds []float64, kind string) {
	t.Helper()
	req := make([]item, len(items))
	for i, it := range items {
		req[i] = item{it.User, it.Features}
	}
	code, body := do(t, "POST", url+"/v1/predict", token, map[string]any{"requests": req})
	if code != http.StatusOK {
		t.Fatalf("JSON batch: %d %s", code, body)
	}
	var resp struct {
		Predictions []struct {
			Prediction float64 `json:"prediction"`
		} `json:"predictions"`
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	for _, p := range resp.Predictions {
		preds = append(preds, p.Prediction)
	}
	return preds, resp.Kind
}

// randomItems draws n items for users u0..u(users-1) (and unknown users
// when unknown is set) with din features of mixed magnitudes.
func randomItems(rng *rand.Rand, n, users, din int, unknown bool) []client.Item {
	items := make([]client.Item, n)
	for i := range items {
		id := "u" + strconv.Itoa(rng.IntN(users))
		if unknown && i%5 == 3 {
			id = "new" + strconv.Itoa(i)
		}
		x := make([]float64, din)
		for j := range x {
			x[j] = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(7)-3))
		}
		items[i] = client.Item{User: id, Features: x}
	}
	return items
}

// TestRPCMatchesJSON checks that the binary API, over gRPC and Connect,
// answers predictions bit-identical to POST /v1/predict on the same
// requests, for a linear, a logistic and a network model and with the
// global fallback for unknown users.
func TestRPCMatchesJSON(t *testing.T) {
	f := trained(t)
	logit, err := synth.RandomModel(context.Background(), synth.RandomModelOptions{Users: 40, Dim: 9, Rank: 3, Sparsity: 2, Loss: model.LossLogistic, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	network, err := synth.RandomModel(context.Background(), synth.RandomModelOptions{Users: 40, Dim: 9, Rank: 3, Sparsity: 2, Inputs: 6, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		m        *model.Model
		users    int
		din      int
		opt      Options
		wantKind string
	}{
		{"lrs", f.m, 80, 12, Options{}, ""},
		{"lrs unknown global", f.m, 80, 12, Options{Unknown: eval.UnknownGlobal}, ""},
		{"logistic", logit, 40, 9, Options{}, "probability"},
		{"network", network, 40, 6, Options{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newRPCServer(t, tc.m, tc.opt)
			rng := rand.New(rand.NewPCG(7, uint64(tc.din)))
			items := randomItems(rng, 300, tc.users, tc.din, tc.opt.Unknown == eval.UnknownGlobal)
			want, kind := jsonBatch(t, ts.URL, "", items)
			if kind != tc.wantKind {
				t.Fatalf("JSON kind %q, want %q", kind, tc.wantKind)
			}
			for _, p := range protocols {
				got, prob, err := newClient(t, ts.URL, p, "").Predict(context.Background(), items)
				if err != nil {
					t.Fatalf("%v: %v", p, err)
				}
				if prob != (tc.wantKind == "probability") {
					t.Fatalf("%v: probability %v, want kind %q", p, prob, tc.wantKind)
				}
				if len(got) != len(want) {
					t.Fatalf("%v: %d predictions, want %d", p, len(got), len(want))
				}
				for i := range got {
					if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
						t.Fatalf("%v: item %d (%s): %v, JSON %v", p, i, items[i].User, got[i], want[i])
					}
				}
			}
		})
	}
}

// rpcCode calls PredictBatch with items and returns the error's code and
// message; it fails the test if the call succeeds.
func rpcCode(t *testing.T, c *client.Client, items []client.Item) (connect.Code, string) {
	t.Helper()
	_, _, err := c.Predict(context.Background(), items)
	if err == nil {
		t.Fatal("the call succeeded, want an error")
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a connect error", err)
	}
	return ce.Code(), ce.Message()
}

// TestRPCAuth checks that with a predict token both the binary API and
// POST /v1/predict refuse calls without it (and accept it and the write
// token), and that without one predictions stay open.
func TestRPCAuth(t *testing.T) {
	const pred, write = "0123456789abcdef-predict", "0123456789abcdef-write"
	ts := newRPCServer(t, tinyModel(), Options{PredictToken: pred, AuthToken: write})
	items := []client.Item{{User: "u1", Features: []float64{1, 2, 3}}}
	for _, p := range protocols {
		for _, tc := range []struct {
			token string
			ok    bool
		}{{"", false}, {pred + "x", false}, {pred, true}, {write, true}} {
			c := newClient(t, ts.URL, p, tc.token)
			if tc.ok {
				got, _, err := c.Predict(context.Background(), items)
				if err != nil || got[0] != 4 {
					t.Fatalf("%v token %q: %v %v, want [4]", p, tc.token, got, err)
				}
				continue
			}
			if code, msg := rpcCode(t, c, items); code != connect.CodeUnauthenticated || !strings.Contains(msg, "bearer token") {
				t.Fatalf("%v token %q: %v %q, want unauthenticated", p, tc.token, code, msg)
			}
		}
	}
	if code, body := do(t, "POST", ts.URL+"/v1/predict", "", item{"u1", []float64{1, 2, 3}}); code != http.StatusUnauthorized {
		t.Fatalf("JSON predict without the predict token: %d %s", code, body)
	}
	if code, body := do(t, "POST", ts.URL+"/v1/predict", pred, item{"u1", []float64{1, 2, 3}}); code != http.StatusOK {
		t.Fatalf("JSON predict with the predict token: %d %s", code, body)
	}
	open := newRPCServer(t, tinyModel(), Options{AuthToken: write})
	if _, _, err := newClient(t, open.URL, client.GRPC, "").Predict(context.Background(), items); err != nil {
		t.Fatalf("no predict token: %v", err)
	}
}

// TestRPCErrors checks the codes and messages of the binary API's errors
// against the JSON API's statuses for the same faults.
func TestRPCErrors(t *testing.T) {
	ts := newRPCServer(t, tinyModel(), Options{MaxBatch: 3, MaxBodyBytes: 600})
	x := []float64{1, 2, 3}
	many := make([]client.Item, 4)
	for i := range many {
		many[i] = client.Item{User: "u1", Features: x}
	}
	big := make([]float64, 3)
	for _, tc := range []struct {
		name  string
		items []client.Item
		code  connect.Code
		want  string
	}{
		{"unknown user", []client.Item{{User: "u2", Features: x}, {User: "nobody", Features: x}}, connect.CodeNotFound, `user "nobody" is not in the store`},
		{"over the batch limit", many, connect.CodeInvalidArgument, "4 items exceed the batch limit of 3"},
		{"empty batch", nil, connect.CodeInvalidArgument, "empty batch"},
		{"bad user ID", []client.Item{{User: "a b", Features: x}}, connect.CodeInvalidArgument, "items[0]: user ID"},
		{"empty user ID", []client.Item{{User: "u1", Features: x}, {Features: x}}, connect.CodeInvalidArgument, "items[1]: user ID of 0 characters"},
		{"dimension", []client.Item{{User: "u1", Features: x[:2]}}, connect.CodeInvalidArgument, "items[0]: 2 features, the model has 3"},
		{"NaN", []client.Item{{User: "u1", Features: []float64{1, math.NaN(), 3}}}, connect.CodeInvalidArgument, "items[0]: feature 1 (b) is not finite"},
		{"Inf", []client.Item{{User: "u1", Features: []float64{1, math.Inf(-1), 3}}}, connect.CodeInvalidArgument, "not finite"},
		{"overflow", []client.Item{{User: "u2", Features: x}, {User: "u1", Features: []float64{1e308, 1e308, 0}}}, connect.CodeOutOfRange, `items[1]: the prediction for user "u1" is not a finite number`},
		{"body limit", []client.Item{{User: "u1", Features: append(big, make([]float64, 100)...)}}, connect.CodeResourceExhausted, ""},
	} {
		for _, p := range protocols {
			t.Run(tc.name+" "+p.String(), func(t *testing.T) {
				code, msg := rpcCode(t, newClient(t, ts.URL, p, ""), tc.items)
				if code != tc.code || !strings.Contains(msg, tc.want) {
					t.Fatalf("%v %q, want %v containing %q", code, msg, tc.code, tc.want)
				}
			})
		}
	}
}

// TestRPCInFlightCap checks that the binary API shares the in-flight bound
// of the JSON API and answers UNAVAILABLE at once past it, in its own
// protocol.
func TestRPCInFlightCap(t *testing.T) {
	ts := newRPCServer(t, tinyModel(), Options{MaxInFlight: 1})
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
	items := []client.Item{{User: "u1", Features: []float64{1, 2, 3}}}
	for _, p := range protocols {
		c := newClient(t, ts.URL, p, "")
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, _, err := c.Predict(context.Background(), items)
			if connect.CodeOf(err) == connect.CodeUnavailable {
				if !strings.Contains(err.Error(), "overloaded") {
					t.Fatalf("%v: %v, want overloaded", p, err)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%v: no UNAVAILABLE while a request is in flight (last %v)", p, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	pw.Write([]byte(`"features":[1,2,3]}`))
	pw.Close()
	if code := <-done; code != http.StatusOK {
		t.Fatalf("the request in flight answered %d", code)
	}
	for _, p := range protocols {
		if _, _, err := newClient(t, ts.URL, p, "").Predict(context.Background(), items); err != nil {
			t.Fatalf("%v after the load: %v", p, err)
		}
	}
}

// TestRPCPredictBatchReusesRequest checks the raw call with a request
// message sent twice and a nil item refused.
func TestRPCPredictBatchReusesRequest(t *testing.T) {
	ts := newRPCServer(t, tinyModel(), Options{})
	c := newClient(t, ts.URL, client.GRPC, "")
	req := &lrspv1.PredictBatchRequest{Items: []*lrspv1.PredictItem{{User: "u1", Features: []float64{1, 2, 3}}, {User: "u2", Features: []float64{1, 2, 3}}}}
	for range 2 {
		resp, err := c.PredictBatch(context.Background(), req)
		if err != nil || len(resp.Predictions) != 2 || resp.Predictions[0] != 4 || resp.Predictions[1] != -1 {
			t.Fatalf("%v %v, want [4 -1]", resp, err)
		}
	}
}

// TestRPCConnectJSON checks the Connect protocol's JSON codec, which the
// server decodes into its own request type: predictions equal the JSON
// API's, and malformed JSON is InvalidArgument.
func TestRPCConnectJSON(t *testing.T) {
	ts := newRPCServer(t, tinyModel(), Options{})
	url := ts.URL + "/lrsp.v1.PredictService/PredictBatch"
	for _, ct := range []string{"application/json", "application/json; charset=utf-8"} {
		resp, err := http.Post(url, ct, strings.NewReader(`{"items":[{"user":"u1","features":[1,2,3]},{"user":"u2","features":[1,2,3]}],"unknown":1}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var got struct{ Predictions []float64 }
		if err := json.Unmarshal(body, &got); resp.StatusCode != http.StatusOK || err != nil ||
			len(got.Predictions) != 2 || got.Predictions[0] != 4 || got.Predictions[1] != -1 {
			t.Fatalf("%s: %d %s, want predictions [4 -1]", ct, resp.StatusCode, body)
		}
	}
	for _, body := range []string{``, `{"items":[null]}`, `{"items":[{"user":"u1","features":[1,2]}]}`, `{"items":[]}`} {
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct{ Code string }
		if json.Unmarshal(b, &e); resp.StatusCode != http.StatusBadRequest || e.Code != "invalid_argument" {
			t.Fatalf("%q: %d %s, want 400 invalid_argument", body, resp.StatusCode, b)
		}
	}
}

// TestRPCConcurrentBatches checks that requests decoded into the server's
// reused slices do not mix: concurrent gRPC calls, each with its own batch
// (of its own size), get the JSON API's predictions for that batch every
// time.
func TestRPCConcurrentBatches(t *testing.T) {
	f := trained(t)
	ts := newRPCServer(t, f.m, Options{})
	const callers = 6
	items := make([][]client.Item, callers)
	want := make([][]float64, callers)
	for c := range items {
		items[c] = randomItems(rand.New(rand.NewPCG(uint64(c), 9)), 50+40*c, 80, 12, false)
		want[c], _ = jsonBatch(t, ts.URL, "", items[c])
	}
	errs := make(chan error, callers)
	for c := range callers {
		go func() {
			cl, err := client.New(ts.URL, client.Options{Protocol: client.GRPC})
			if err != nil {
				errs <- err
				return
			}
			for range 30 {
				got, _, err := cl.Predict(context.Background(), items[c])
				if err != nil {
					errs <- err
					return
				}
				for i := range got {
					if math.Float64bits(got[i]) != math.Float64bits(want[c][i]) {
						errs <- fmt.Errorf("caller %d item %d: %v, want %v", c, i, got[i], want[c][i])
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestRPCGRPCWeb checks that the binary API also answers gRPC-Web, with
// the binary codec and with JSON, as the generated handler did.
func TestRPCGRPCWeb(t *testing.T) {
	ts := newRPCServer(t, tinyModel(), Options{})
	req := &lrspv1.PredictBatchRequest{Items: []*lrspv1.PredictItem{{User: "u1", Features: []float64{1, 2, 3}}, {User: "u2", Features: []float64{1, 2, 3}}}}
	for _, opts := range [][]connect.ClientOption{{connect.WithGRPCWeb()}, {connect.WithGRPCWeb(), connect.WithProtoJSON()}} {
		c := connect.NewClient[lrspv1.PredictBatchRequest, lrspv1.PredictBatchResponse](ts.Client(),
			ts.URL+lrspv1connect.PredictServicePredictBatchProcedure, opts...)
		resp, err := c.CallUnary(context.Background(), connect.NewRequest(req))
		if err != nil || len(resp.Msg.Predictions) != 2 || resp.Msg.Predictions[0] != 4 || resp.Msg.Predictions[1] != -1 {
			t.Fatalf("%v %v, want [4 -1]", resp, err)
		}
		_, err = c.CallUnary(context.Background(), connect.NewRequest(&lrspv1.PredictBatchRequest{Items: []*lrspv1.PredictItem{{User: "nobody", Features: []float64{1, 2, 3}}}}))
		if connect.CodeOf(err) != connect.CodeNotFound {
			t.Fatalf("unknown user: %v, want not found", err)
		}
	}
}
