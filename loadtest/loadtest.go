// Package loadtest drives the prediction API of "lrsp serve" with
// concurrent requests for a fixed time and reports throughput, latency
// percentiles and errors: over JSON (POST /v1/predict) or the binary batch
// API (gRPC or the Connect protocol, see package client).
//
// Requests are drawn before the clock starts from a small pool of random
// batches (users drawn uniformly from the IDs, features standard normal)
// and encoded once (JSON bodies, or protobuf messages prepared with
// client.Client.Prepare), so that the generator spends its time sending
// requests rather than building them.
package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	lrspv1 "github.com/lrsp/lrsp/api/gen/lrsp/v1"
	"github.com/lrsp/lrsp/client"
)

// Protocols of Options.Protocol.
const (
	JSON    = "json"    // POST /v1/predict
	GRPC    = "grpc"    // the binary API over gRPC (cleartext HTTP/2)
	Connect = "connect" // the binary API over the Connect protocol (HTTP/1.1)
)

// Limits on Options.
const (
	// MaxConnections bounds Options.Connections.
	MaxConnections = 4096
	// MaxBatch bounds Options.Batch.
	MaxBatch = 1 << 20
	// MaxDim bounds Options.Dim.
	MaxDim = 1 << 20
	// poolSize is the number of distinct requests drawn.
	poolSize = 8
	// maxPoolValues bounds the features held by the pool.
	maxPoolValues = 64 << 20
	// maxLatencies bounds the latencies recorded per connection; later
	// requests are counted but not timed.
	maxLatencies = 1 << 22
)

// Options configures Run. The zero value of each field but URL takes the
// default named on it.
type Options struct {
	// URL is the server's base URL, such as "http://127.0.0.1:8080".
	URL string
	// Protocol is JSON, GRPC or Connect; empty means JSON.
	Protocol string
	// Batch is the number of predictions per request; 0 means 1. A JSON
	// request of one prediction uses the single form {"user", "features"},
	// larger ones the batch form {"requests": [...]}.
	Batch int
	// Duration is how long to send requests; 0 means 10s.
	Duration time.Duration
	// Connections is the number of concurrent connections, each with one
	// request at a time; 0 means 1.
	Connections int
	// Token, when not empty, is sent as the bearer token.
	Token string
	// IDs are the user IDs to draw from; nil means u0 .. u(n-1) with n
	// the users of GET /v1/model (the IDs that "lrsp store random-model"
	// gives).
	IDs []string
	// Dim is the number of input features of each prediction; 0 means
	// the length of "inputs" of GET /v1/model.
	Dim int
	// Seed seeds the requests drawn; 0 means 1.
	Seed uint64
}

// Result is what Run measured. Requests, Predictions and the latencies
// count successful requests only; a request cut short by the end of the
// run counts nowhere.
type Result struct {
	Protocol    string  `json:"protocol"`
	Batch       int     `json:"batch"`
	Connections int     `json:"connections"`
	Seconds     float64 `json:"seconds"`
	Requests    int64   `json:"requests"`
	Predictions int64   `json:"predictions"`
	// Errors counts failed requests: transport errors, statuses other
	// than 200 and gRPC/Connect errors.
	Errors               int64   `json:"errors"`
	RequestsPerSecond    float64 `json:"requests_per_second"`
	PredictionsPerSecond float64 `json:"predictions_per_second"`
	P50ms                float64 `json:"p50_ms"`
	P99ms                float64 `json:"p99_ms"`
	// FirstError describes the first error, if any.
	FirstError string `json:"first_error,omitempty"`
}

// String formats r on one line for people.
func (r *Result) String() string {
	s := fmt.Sprintf("%s batch=%d connections=%d: %.0f requests/s, %.0f predictions/s, p50 %.3f ms, p99 %.3f ms, %d errors (%d requests in %.1fs)",
		r.Protocol, r.Batch, r.Connections, r.RequestsPerSecond, r.PredictionsPerSecond, r.P50ms, r.P99ms, r.Errors, r.Requests, r.Seconds)
	if r.FirstError != "" {
		s += "; first error: " + r.FirstError
	}
	return s
}

func (o *Options) defaults() error {
	if o.Protocol == "" {
		o.Protocol = JSON
	}
	if o.Batch == 0 {
		o.Batch = 1
	}
	if o.Duration == 0 {
		o.Duration = 10 * time.Second
	}
	if o.Connections == 0 {
		o.Connections = 1
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	switch {
	case o.Protocol != JSON && o.Protocol != GRPC && o.Protocol != Connect:
		return fmt.Errorf("loadtest: protocol %q: want json, grpc or connect", o.Protocol)
	case o.Batch < 0 || o.Batch > MaxBatch:
		return fmt.Errorf("loadtest: batch %d: want 1 to %d", o.Batch, MaxBatch)
	case o.Connections < 0 || o.Connections > MaxConnections:
		return fmt.Errorf("loadtest: connections %d: want 1 to %d", o.Connections, MaxConnections)
	case o.Duration < 0:
		return fmt.Errorf("loadtest: duration %v is negative", o.Duration)
	case o.Dim < 0 || o.Dim > MaxDim:
		return fmt.Errorf("loadtest: dimension %d: want 1 to %d", o.Dim, MaxDim)
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		return fmt.Errorf("loadtest: URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("loadtest: URL %q: want http://HOST:PORT", o.URL)
	}
	o.URL = strings.TrimRight(o.URL, "/")
	return nil
}

// modelInfo is the part of GET /v1/model that Run needs.
type modelInfo struct {
	Inputs []string `json:"inputs"`
	Users  int      `json:"users"`
}

// discover fills o.Dim and o.IDs from GET /v1/model where they are unset.
func discover(ctx context.Context, hc *http.Client, o *Options) error {
	if o.Dim > 0 && o.IDs != nil {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, "GET", o.URL+"/v1/model", nil)
	if err != nil {
		return fmt.Errorf("loadtest: %w", err)
	}
	if o.Token != "" {
		req.Header.Set("Authorization", "Bearer "+o.Token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("loadtest: GET /v1/model: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("loadtest: GET /v1/model: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("loadtest: GET /v1/model: status %d: %.200s", resp.StatusCode, body)
	}
	var info modelInfo
	if err := json.Unmarshal(body, &info); err != nil {
		return fmt.Errorf("loadtest: GET /v1/model: %w", err)
	}
	if o.Dim == 0 {
		if len(info.Inputs) == 0 || len(info.Inputs) > MaxDim {
			return fmt.Errorf("loadtest: GET /v1/model: %d inputs, want 1 to %d", len(info.Inputs), MaxDim)
		}
		o.Dim = len(info.Inputs)
	}
	if o.IDs == nil {
		if info.Users <= 0 {
			return errors.New("loadtest: the server holds no users; give the IDs to use")
		}
		o.IDs = make([]string, info.Users)
		for i := range o.IDs {
			o.IDs[i] = "u" + strconv.Itoa(i)
		}
	}
	return nil
}

// ReadIDs reads user IDs from path, one a line; blank lines are skipped.
func ReadIDs(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	defer f.Close()
	var ids []string
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		id := strings.TrimSpace(sc.Text())
		if id == "" {
			continue
		}
		if len(id) > 128 {
			return nil, fmt.Errorf("loadtest: %s:%d: user ID of %d characters, want at most 128", path, line, len(id))
		}
		ids = append(ids, id)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("loadtest: %s: %w", path, err)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("loadtest: %s: no user IDs", path)
	}
	return ids, nil
}

// sender sends request i of the pool and reports whether it succeeded.
type sender func(ctx context.Context, i int) error

// Run sends requests over opt.Connections connections for opt.Duration,
// or until ctx is done, and returns what it measured. It returns the
// result so far and ctx's error when ctx ends first.
func Run(ctx context.Context, opt Options) (*Result, error) {
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = opt.Connections, opt.Connections
	hc := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	if err := discover(ctx, hc, &opt); err != nil {
		return nil, err
	}
	if opt.Batch*opt.Dim*poolSize > maxPoolValues {
		return nil, fmt.Errorf("loadtest: batch %d x dimension %d is too large (at most %d features a request)", opt.Batch, opt.Dim, maxPoolValues/poolSize)
	}
	items := draw(opt)
	send := make([]sender, opt.Connections)
	switch opt.Protocol {
	case JSON:
		bodies := jsonBodies(items)
		for c := range send {
			send[c] = jsonSender(hc, opt, bodies)
		}
	default:
		reqs := protoRequests(items)
		p := client.Connect
		if opt.Protocol == GRPC {
			p = client.GRPC
		}
		for c := range send {
			// One client, and so one transport and connection, each.
			cl, err := client.New(opt.URL, client.Options{Protocol: p, Token: opt.Token})
			if err != nil {
				return nil, fmt.Errorf("loadtest: %w", err)
			}
			prep := make([]*client.Prepared, len(reqs))
			for i, req := range reqs {
				if prep[i], err = cl.Prepare(req); err != nil {
					return nil, fmt.Errorf("loadtest: %w", err)
				}
			}
			send[c] = func(ctx context.Context, i int) error {
				_, err := cl.PredictPrepared(ctx, prep[i])
				return err
			}
		}
	}
	return run(ctx, opt, send)
}

// draw returns poolSize random batches.
func draw(opt Options) [][]client.Item {
	rng := rand.New(rand.NewPCG(opt.Seed, 0x6c727370))
	pool := make([][]client.Item, poolSize)
	for p := range pool {
		batch := make([]client.Item, opt.Batch)
		x := make([]float64, opt.Batch*opt.Dim)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		for i := range batch {
			batch[i] = client.Item{User: opt.IDs[rng.IntN(len(opt.IDs))], Features: x[i*opt.Dim : (i+1)*opt.Dim]}
		}
		pool[p] = batch
	}
	return pool
}

// jsonBodies encodes each batch as a body of POST /v1/predict.
func jsonBodies(pool [][]client.Item) [][]byte {
	bodies := make([][]byte, len(pool))
	for p, batch := range pool {
		var b []byte
		one := func(b []byte, it client.Item) []byte {
			b = append(b, `{"user":`...)
			b = strconv.AppendQuote(b, it.User)
			b = append(b, `,"features":[`...)
			for j, v := range it.Features {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendFloat(b, v, 'g', -1, 64)
			}
			return append(b, "]}"...)
		}
		if len(batch) == 1 {
			b = one(b, batch[0])
		} else {
			b = append(b, `{"requests":[`...)
			for i, it := range batch {
				if i > 0 {
					b = append(b, ',')
				}
				b = one(b, it)
			}
			b = append(b, "]}"...)
		}
		bodies[p] = b
	}
	return bodies
}

// protoRequests builds each batch as a PredictBatch request.
func protoRequests(pool [][]client.Item) []*lrspv1.PredictBatchRequest {
	reqs := make([]*lrspv1.PredictBatchRequest, len(pool))
	for p, batch := range pool {
		req := &lrspv1.PredictBatchRequest{Items: make([]*lrspv1.PredictItem, len(batch))}
		for i, it := range batch {
			req.Items[i] = &lrspv1.PredictItem{User: it.User, Features: it.Features}
		}
		reqs[p] = req
	}
	return reqs
}

func jsonSender(hc *http.Client, opt Options, bodies [][]byte) sender {
	target := opt.URL + "/v1/predict"
	var buf bytes.Buffer
	return func(ctx context.Context, i int) error {
		req, err := http.NewRequestWithContext(ctx, "POST", target, bytes.NewReader(bodies[i]))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		if opt.Token != "" {
			req.Header.Set("Authorization", "Bearer "+opt.Token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		buf.Reset()
		if _, err := buf.ReadFrom(resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d: %.200s", resp.StatusCode, bytes.TrimSpace(buf.Bytes()))
		}
		return nil
	}
}

// worker is what one connection measured.
type worker struct {
	ok, failed int64
	lat        []time.Duration
	firstErr   error
}

func run(ctx context.Context, opt Options, send []sender) (*Result, error) {
	// The end of the run cancels rctx rather than being its deadline, so
	// that gRPC requests carry no timeout that the server could act on
	// first.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	timer := time.AfterFunc(opt.Duration, cancel)
	defer timer.Stop()
	ws := make([]worker, len(send))
	var wg sync.WaitGroup
	start := time.Now()
	for c := range send {
		wg.Go(func() {
			w := &ws[c]
			for i := c; rctx.Err() == nil; i++ {
				t0 := time.Now()
				err := send[c](rctx, i%poolSize)
				d := time.Since(t0)
				switch {
				case err == nil:
					w.ok++
					if len(w.lat) < maxLatencies {
						w.lat = append(w.lat, d)
					}
				case rctx.Err() != nil:
					// Cut short by the end of the run.
				default:
					w.failed++
					if w.firstErr == nil {
						w.firstErr = err
					}
				}
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	r := &Result{Protocol: opt.Protocol, Batch: opt.Batch, Connections: opt.Connections, Seconds: secs}
	var lat []time.Duration
	for _, w := range ws {
		r.Requests += w.ok
		r.Errors += w.failed
		lat = append(lat, w.lat...)
		if w.firstErr != nil && r.FirstError == "" {
			r.FirstError = w.firstErr.Error()
		}
	}
	r.Predictions = r.Requests * int64(opt.Batch)
	if secs > 0 {
		r.RequestsPerSecond = float64(r.Requests) / secs
		r.PredictionsPerSecond = float64(r.Predictions) / secs
	}
	slices.Sort(lat)
	r.P50ms, r.P99ms = percentile(lat, 0.50), percentile(lat, 0.99)
	if err := ctx.Err(); err != nil {
		return r, fmt.Errorf("loadtest: stopped after %.1fs: %w", secs, err)
	}
	return r, nil
}

// percentile returns the nearest-rank q-quantile of sorted in
// milliseconds, or 0 for no values.
func percentile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := max(int(math.Ceil(q*float64(len(sorted))))-1, 0)
	return float64(sorted[i]) / float64(time.Millisecond)
}

// TrivialHandler returns the floor that a JSON predict server can reach:
// a net/http handler that reads each request's body and answers a
// constant prediction, with no parsing and no store. Load-testing it with
// the same Options (and Dim and IDs given, as it has no /v1/model) beside
// "lrsp serve" shows how much of the cost is HTTP itself.
func TrivialHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"user":"u0","prediction":0}`+"\n")
	})
}
