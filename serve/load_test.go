package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	lrspv1 "github.com/lrsp/lrsp/api/gen/lrsp/v1"
	"github.com/lrsp/lrsp/api/gen/lrsp/v1/lrspv1connect"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/store"
)

// The load test runs only when given a store, e.g. one made by
//
//	lrsp store random-model --out m.lrsp --users 1000000
//	lrsp store import --model m.lrsp --store users.db
//	go test ./serve/ -run TestLoad -load.store users.db -v
//
// It serves the store on a loopback port and drives it from the same
// process with a bounded number of requests for a bounded time.
var (
	loadStore    = flag.String("load.store", "", "store file for TestLoad (the test is skipped without it)")
	loadDuration = flag.Duration("load.duration", 10*time.Second, "duration of each load phase (at most 60s)")
	loadConns    = flag.Int("load.conns", 16, "concurrent connections of the load generator")
	loadBatch    = flag.Int("load.batch", 1000, "items per batch request")
	loadUsers    = flag.Int("load.users", 1000000, "users u0..u(N-1) to draw from")
)

func TestLoad(t *testing.T) {
	if *loadStore == "" {
		t.Skip("no -load.store given")
	}
	dur := min(*loadDuration, time.Minute)
	start := time.Now()
	st, err := store.Open(*loadStore, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t.Logf("opened %s (%d users) in %v", *loadStore, st.Len(), time.Since(start))
	srv, err := New(st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, ln, srv, Timeouts{}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	url := "http://" + ln.Addr().String() + "/v1/predict"
	d := st.Model().Dim
	if n := st.Model().Network; n != nil {
		d = n.Sizes[0] // requests give the network's inputs
	}
	rng := rand.New(rand.NewPCG(1, 2))
	feature := func() []float64 {
		x := make([]float64, d)
		for j := range x {
			// Values of typical length in JSON (about 19 characters).
			x[j] = rng.NormFloat64()
		}
		return x
	}
	user := func() string { return "u" + strconv.Itoa(rng.IntN(*loadUsers)) }
	singles := make([][]byte, 4096)
	for i := range singles {
		singles[i], _ = json.Marshal(map[string]any{"user": user(), "features": feature()})
	}
	batches := make([][]byte, 16)
	for i := range batches {
		items := make([]map[string]any, *loadBatch)
		for k := range items {
			items[k] = map[string]any{"user": user(), "features": feature()}
		}
		batches[i], _ = json.Marshal(map[string]any{"requests": items})
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *loadConns, MaxConnsPerHost: *loadConns}}

	phase := func(name string, bodies [][]byte, perRequest int) {
		var n atomic.Int64
		var mu sync.Mutex
		var lat []time.Duration
		var failed atomic.Int64
		deadline := time.Now().Add(dur)
		const maxRequests = 5_000_000
		var wg sync.WaitGroup
		t0, cpu0 := time.Now(), cpuTime()
		for c := 0; c < *loadConns; c++ {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				local := make([]time.Duration, 0, 1<<16)
				for i := c; time.Now().Before(deadline) && n.Add(1) <= maxRequests; i += *loadConns {
					b := bodies[i%len(bodies)]
					s := time.Now()
					resp, err := client.Post(url, "application/json", bytes.NewReader(b))
					if err != nil {
						failed.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						failed.Add(1)
						continue
					}
					local = append(local, time.Since(s))
				}
				mu.Lock()
				lat = append(lat, local...)
				mu.Unlock()
			}(c)
		}
		wg.Wait()
		el, cpu := time.Since(t0), cpuTime()-cpu0
		slices.Sort(lat)
		if len(lat) == 0 {
			t.Fatalf("%s: no successful request (%d failed)", name, failed.Load())
		}
		q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
		t.Logf("%s: %d requests in %.1fs, %d failed: %.0f requests/s = %.0f predictions/s; latency p50 %v p99 %v max %v; "+
			"process CPU %.1fs (server and generator) = %.2f cores, %.0f predictions per CPU-second",
			name, len(lat), el.Seconds(), failed.Load(), float64(len(lat))/el.Seconds(),
			float64(len(lat)*perRequest)/el.Seconds(), q(0.5), q(0.99), lat[len(lat)-1],
			cpu.Seconds(), cpu.Seconds()/el.Seconds(), float64(len(lat)*perRequest)/cpu.Seconds())
		if failed.Load() > 0 {
			t.Errorf("%s: %d requests failed", name, failed.Load())
		}
	}
	phase("single", singles, 1)
	phase(fmt.Sprintf("batch of %d", *loadBatch), batches, *loadBatch)
}

// cpuTime returns the user and system CPU time used by this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPredictHandler measures the server's own cost per prediction,
// without the network: one item or a batch of 1000 items (d = 100,
// full-precision features) through ServeHTTP, on a store of 10,000 random
// users with r = k = 10, for a squared-loss model, the same model with the
// logistic loss, and the same head over a 100 -> 100 tanh network (100
// inputs).
func BenchmarkPredictHandler(b *testing.B) {
	for _, tc := range []struct {
		name  string
		items int
		kind  string
	}{
		{"single", 1, ""}, {"batch1000", 1000, ""},
		{"logistic/single", 1, "logistic"}, {"logistic/batch1000", 1000, "logistic"},
		{"neural/single", 1, "neural"}, {"neural/batch1000", 1000, "neural"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv, body := benchServer(b, tc.items, tc.kind)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/predict", bytes.NewReader(body)))
				if rec.Code != http.StatusOK {
					b.Fatal(rec.Code, rec.Body)
				}
			}
			b.ReportMetric(float64(b.N*tc.items)/b.Elapsed().Seconds(), "predictions/s")
		})
	}
}

// benchServer serves a random model of the given kind: "" (squared loss),
// "logistic", or "neural" (a 100 -> 100 tanh network before the head).
func benchServer(b *testing.B, items int, kind string) (*Server, []byte) {
	const users, d, r, k = 10000, 100, 10, 10
	rng := rand.New(rand.NewPCG(3, 4))
	m := &model.Model{Method: model.MethodLRS, Dim: d, Rank: r, Sparsity: k, Features: make([]string, d), U: make([]float64, d*r)}
	for j := range m.Features {
		m.Features[j] = "x" + strconv.Itoa(j)
	}
	switch kind {
	case "logistic":
		m.Loss = model.LossLogistic
	case "neural":
		m.Method = model.MethodNeuralLRS
		n := &model.Network{Inputs: m.Features, Sizes: []int{d, d}, Activation: model.ActivationTanh, Layers: [][]float64{make([]float64, d*d+d)}}
		for i := range n.Layers[0] {
			n.Layers[0][i] = rng.NormFloat64() / 10
		}
		m.Network, m.Features = n, make([]string, d)
		for j := range m.Features {
			m.Features[j] = "h" + strconv.Itoa(j)
		}
	}
	for i := range m.U {
		m.U[i] = rng.NormFloat64() / 10
	}
	for i := 0; i < users; i++ {
		u := model.User{ID: "u" + strconv.Itoa(i), W: make([]float64, r)}
		for c := range u.W {
			u.W[c] = rng.NormFloat64()
		}
		for j := 0; j < k; j++ {
			u.Index = append(u.Index, int32(j*d/k))
			u.Value = append(u.Value, rng.NormFloat64())
		}
		m.Users = append(m.Users, u)
	}
	path := filepath.Join(b.TempDir(), "users.db")
	if err := store.Import(context.Background(), path, m, store.ImportOptions{}); err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	srv, err := New(st, Options{})
	if err != nil {
		b.Fatal(err)
	}
	reqs := make([]map[string]any, items)
	for i := range reqs {
		x := make([]float64, d)
		for j := range x {
			x[j] = rng.NormFloat64()
		}
		reqs[i] = map[string]any{"user": "u" + strconv.Itoa(rng.IntN(users)), "features": x}
	}
	var body []byte
	if items == 1 {
		body, _ = json.Marshal(reqs[0])
	} else {
		body, _ = json.Marshal(map[string]any{"requests": reqs})
	}
	return srv, body
}

// BenchmarkPredictBatchRPC measures the server's own cost per prediction
// of the binary API, without the network: batches of 1000 items (d = 100)
// as Connect protocol requests (application/proto, the codec and handler
// of gRPC's) through ServeHTTP, on the store of BenchmarkPredictHandler.
func BenchmarkPredictBatchRPC(b *testing.B) {
	srv, body := benchServer(b, 1000, "")
	var req struct {
		Requests []struct {
			User     string    `json:"user"`
			Features []float64 `json:"features"`
		} `json:"requests"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		b.Fatal(err)
	}
	msg := &lrspv1.PredictBatchRequest{}
	for _, it := range req.Requests {
		msg.Items = append(msg.Items, &lrspv1.PredictItem{User: it.User, Features: it.Features})
	}
	pb, err := proto.Marshal(msg)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(pb)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest("POST", lrspv1connect.PredictServicePredictBatchProcedure, bytes.NewReader(pb))
		r.Header.Set("Content-Type", "application/proto")
		srv.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64(b.N*len(msg.Items))/b.Elapsed().Seconds(), "predictions/s")
}
