package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lrsp/lrsp/serve"
	"github.com/lrsp/lrsp/store"
	"github.com/lrsp/lrsp/synth"
)

// newServer serves a random model of users u0..u49 with d = 8 as
// "lrsp serve" does (HTTP/1.1 and h2c).
func newServer(t *testing.T) (*httptest.Server, *serve.Server) {
	t.Helper()
	m, err := synth.RandomModel(context.Background(), synth.RandomModelOptions{Users: 50, Dim: 8, Rank: 2, Sparsity: 2, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "users.db")
	if err := store.Import(context.Background(), path, m, store.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := serve.New(st, serve.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv)
	ts.Config.Protocols = serve.Protocols()
	ts.Start()
	t.Cleanup(func() { ts.Close(); st.Close() })
	return ts, srv
}

// served returns the server's count of predictions answered.
func served(t *testing.T, srv *serve.Server) int64 {
	t.Helper()
	mfs, err := srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "lrsp_predictions_total" {
			return int64(mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
	t.Fatal("no lrsp_predictions_total")
	return 0
}

// TestRunCountsAreConsistent load-tests an in-process server with each
// protocol and checks the counts against each other and against the
// server's own count of predictions.
func TestRunCountsAreConsistent(t *testing.T) {
	for _, tc := range []struct {
		protocol           string
		batch, connections int
	}{
		{JSON, 1, 2},
		{JSON, 7, 3},
		{GRPC, 7, 3},
		{Connect, 5, 2},
	} {
		t.Run(fmt.Sprintf("%s batch %d", tc.protocol, tc.batch), func(t *testing.T) {
			ts, srv := newServer(t)
			before := served(t, srv)
			r, err := Run(context.Background(), Options{URL: ts.URL, Protocol: tc.protocol, Batch: tc.batch,
				Duration: 300 * time.Millisecond, Connections: tc.connections})
			if err != nil {
				t.Fatal(err)
			}
			if r.Errors != 0 || r.FirstError != "" {
				t.Fatalf("%d errors: %s", r.Errors, r.FirstError)
			}
			if r.Requests == 0 || r.Predictions != r.Requests*int64(tc.batch) {
				t.Fatalf("%d requests, %d predictions, batch %d", r.Requests, r.Predictions, tc.batch)
			}
			if r.Seconds < 0.3 || r.Seconds > 10 {
				t.Fatalf("ran %.3fs for a duration of 0.3s", r.Seconds)
			}
			if got, want := r.PredictionsPerSecond, float64(r.Predictions)/r.Seconds; got != want {
				t.Fatalf("predictions/s %v, want %v", got, want)
			}
			if got, want := r.RequestsPerSecond*float64(tc.batch), r.PredictionsPerSecond; (got-want)/want > 1e-12 {
				t.Fatalf("requests/s x batch %v, predictions/s %v", got, want)
			}
			if r.P50ms <= 0 || r.P99ms < r.P50ms {
				t.Fatalf("p50 %v ms, p99 %v ms", r.P50ms, r.P99ms)
			}
			// The server answered every counted prediction, and at most one
			// request per connection more (cut short by the end of the run).
			n := served(t, srv) - before
			if n < r.Predictions || n > r.Predictions+int64(tc.connections*tc.batch) {
				t.Fatalf("server answered %d predictions, the load test counted %d", n, r.Predictions)
			}
		})
	}
}

// TestRunCountsErrors checks that failed requests are errors, not
// requests, with the first error kept.
func TestRunCountsErrors(t *testing.T) {
	ts, _ := newServer(t)
	for _, p := range []string{JSON, GRPC} {
		r, err := Run(context.Background(), Options{URL: ts.URL, Protocol: p, Batch: 3, Duration: 200 * time.Millisecond,
			Connections: 2, IDs: []string{"nobody"}})
		if err != nil {
			t.Fatal(err)
		}
		if r.Errors == 0 || r.Requests != 0 || r.Predictions != 0 || !strings.Contains(r.FirstError, `nobody`) || !strings.Contains(r.FirstError, `is not in the store`) {
			t.Fatalf("%s: %+v", p, r)
		}
	}
}

// TestRunIsCancellable checks that cancelling the context stops a long
// run at once, returning what was measured and the context's error.
func TestRunIsCancellable(t *testing.T) {
	ts, _ := newServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	r, err := Run(ctx, Options{URL: ts.URL, Protocol: GRPC, Batch: 2, Duration: time.Hour, Connections: 2})
	if !errors.Is(err, context.DeadlineExceeded) || r == nil || r.Requests == 0 {
		t.Fatalf("%v %+v", err, r)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v to stop", d)
	}
}

// TestTrivialHandler load-tests the trivial handler, which has no
// /v1/model: the dimension and IDs are given.
func TestTrivialHandler(t *testing.T) {
	ts := httptest.NewServer(TrivialHandler())
	defer ts.Close()
	r, err := Run(context.Background(), Options{URL: ts.URL, Duration: 100 * time.Millisecond, Dim: 4, IDs: []string{"u0"}})
	if err != nil || r.Errors != 0 || r.Requests == 0 {
		t.Fatalf("%v %+v", err, r)
	}
	if _, err := Run(context.Background(), Options{URL: ts.URL, Duration: 100 * time.Millisecond}); err == nil ||
		!strings.Contains(err.Error(), "/v1/model") {
		t.Fatalf("without dimension and IDs: %v, want an error about /v1/model", err)
	}
}

func TestOptionsRefused(t *testing.T) {
	for _, tc := range []struct {
		opt  Options
		want string
	}{
		{Options{URL: "http://x", Protocol: "thrift"}, `protocol "thrift"`},
		{Options{URL: "http://x", Batch: -1}, "batch -1"},
		{Options{URL: "http://x", Connections: MaxConnections + 1}, "connections"},
		{Options{URL: "http://x", Duration: -time.Second}, "negative"},
		{Options{URL: "x:80"}, "want http://HOST:PORT"},
		{Options{URL: "http://x", Dim: 1 << 20, Batch: 1 << 20, IDs: []string{"a"}}, "too large"},
	} {
		_, err := Run(context.Background(), tc.opt)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error containing %q", tc.opt, err, tc.want)
		}
	}
}

func TestReadIDs(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "ids")
	os.WriteFile(good, []byte("u1\n\n  u2 \nu3"), 0o644)
	ids, err := ReadIDs(good)
	if err != nil || strings.Join(ids, ",") != "u1,u2,u3" {
		t.Fatalf("%v %v", ids, err)
	}
	long := filepath.Join(dir, "long")
	os.WriteFile(long, []byte("u1\n"+strings.Repeat("x", 129)+"\n"), 0o644)
	if _, err := ReadIDs(long); err == nil || !strings.Contains(err.Error(), "long:2") {
		t.Fatalf("long ID: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o644)
	if _, err := ReadIDs(empty); err == nil || !strings.Contains(err.Error(), "no user IDs") {
		t.Fatalf("empty: %v", err)
	}
}
