package main

import (
	"context"
	"encoding/json"
	"math"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/serve"
	"github.com/lrsp/lrsp/store"
)

// TestLoadtestJSON runs "lrsp loadtest --json" against an in-process
// server for each protocol and checks the keys and counts it prints.
func TestLoadtestJSON(t *testing.T) {
	m := &model.Model{Method: model.MethodLRS, Dim: 2, Rank: 1, Sparsity: 1, Features: []string{"a", "b"},
		U: []float64{0.6, 0.8}, Users: []model.User{{ID: "u0", W: []float64{1}, Index: []int32{0}, Value: []float64{2}}}}
	path := filepath.Join(t.TempDir(), "users.db")
	if err := store.Import(context.Background(), path, m, store.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := serve.New(st, serve.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv)
	ts.Config.Protocols = serve.Protocols()
	ts.Start()
	defer ts.Close()
	for _, p := range []string{"json", "grpc", "connect"} {
		out := mustRun(t, "loadtest", "--url", ts.URL, "--protocol", p, "--batch", "3", "--connections", "2", "--duration", "200ms", "--json")
		var raw map[string]any
		if err := json.Unmarshal([]byte(out), &raw); err != nil {
			t.Fatalf("%s: %v in %q", p, err, out)
		}
		if raw["protocol"] != p {
			t.Fatalf("protocol %v, want %s", raw["protocol"], p)
		}
		r := map[string]float64{}
		for k, v := range raw {
			if f, ok := v.(float64); ok {
				r[k] = f
			}
		}
		for _, k := range []string{"requests_per_second", "predictions_per_second", "p50_ms", "p99_ms", "errors"} {
			if _, ok := r[k]; !ok {
				t.Fatalf("%s: no key %q in %s", p, k, out)
			}
		}
		if r["errors"] != 0 || r["requests"] == 0 || r["predictions"] != 3*r["requests"] ||
			math.Abs(r["predictions_per_second"]-3*r["requests_per_second"]) > 1e-9*r["predictions_per_second"] {
			t.Fatalf("%s: %s", p, out)
		}
	}
	wantErr(t, []string{"loadtest", "--url", ts.URL, "--protocol", "soap"}, `protocol "soap"`)
	wantErr(t, []string{"loadtest"}, "--url is required")
}
