// Package serve answers personalized predictions over HTTP from a user
// store, and personalizes new users with the shared parts fixed.
//
// The API (JSON; documented in api/openapi.yaml):
//
//	POST   /v1/predict      {"user": ID, "features": [..] | {name: value}}
//	                        or {"requests": [{"user": .., "features": ..}, ..]}
//	PUT    /v1/users/{id}   {"samples": [{"features": .., "y": number}, ..]}
//	GET    /v1/users/{id}   the user's personal parameters
//	DELETE /v1/users/{id}   removes the user
//	GET    /v1/model        d, r, k, feature names, method, privacy ledger
//	GET    /healthz, /readyz, /metrics (Prometheus)
//	POST   /lrsp.v1.PredictService/PredictBatch
//	                        the binary batch API (api/lrsp/v1/predict.proto)
//	                        over gRPC, gRPC-Web or Connect; see rpc.go
//
// Every response of the JSON API is JSON, errors included ({"error": "..."}; an
// unknown route is 404 and a wrong method 405, both JSON). A prediction
// that overflows to a non-finite number is refused (422) rather than
// written as Inf or NaN, and so is a personalization whose fit or training
// error does not stay finite, before anything is stored. At most
// Options.MaxInFlight API requests run at once; past that the server
// answers 503 with Retry-After (the probes /healthz, /readyz and /metrics
// are not counted).
//
// Predictions equal those of eval.Predict for the same model and rows,
// bit for bit: theta_i is formed by model.Model.Theta and dotted with x in
// feature order. For a model with a network (model.Model.Network), requests
// give the network's input features x and theta_i is dotted with phi(x),
// computed by model.Network.Forward; for a model trained with the logistic
// loss, the prediction is the probability sigmoid(score) (responses then
// carry "kind": "probability"). Both are what eval.Predict computes, in the
// same order.
package serve

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/logistic"
	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/store"
)

// Options configures a Server. The zero value answers unknown users with
// 404, leaves write endpoints open, and uses the defaults documented on
// each field.
type Options struct {
	// Unknown selects what predict does for users the store does not hold:
	// eval.UnknownError answers 404, eval.UnknownGlobal predicts with the
	// store's fallback (theta_0 + U * mean w), which New refuses for a
	// differentially private model.
	Unknown eval.Unknown
	// AuthToken, when not empty, is the bearer token that PUT and DELETE
	// requests must present.
	AuthToken string
	// ReadToken, when not empty, is the bearer token that reads of a
	// user's personal parameters (GET /v1/users/{id}) must present;
	// AuthToken is accepted there too. Empty leaves them open.
	ReadToken string
	// PredictToken, when not empty, is the bearer token that predictions
	// (POST /v1/predict and the binary PredictBatch) must present;
	// AuthToken is accepted there too. Empty leaves them open.
	PredictToken string
	// MaxBodyBytes bounds request bodies; 0 means 32 MiB.
	MaxBodyBytes int64
	// MaxBatch bounds the number of items of a batch predict; 0 means
	// 10,000.
	MaxBatch int
	// MaxSamples bounds the samples of one personalization; 0 means 1,000.
	MaxSamples int
	// Personalizers bounds concurrent personalizations; 0 means GOMAXPROCS.
	Personalizers int
	// MaxInFlight bounds the API requests handled at once (the probes
	// /healthz, /readyz and /metrics excepted); past it a request is
	// answered 503 with "Retry-After: 1" at once. 0 means 64; a negative
	// value removes the bound.
	MaxInFlight int
	// Logger receives one line per server error; nil discards them.
	Logger *slog.Logger
	// AccessLog, when set, receives one structured record per request
	// (method, path, status, bytes, duration, remote address); nil logs
	// no requests.
	AccessLog *slog.Logger
	// AccessLogEvery logs one request in every AccessLogEvery (server
	// errors are always logged); 0 or 1 logs every request.
	AccessLogEvery int
}

// MaxMagnitude bounds the absolute value of the features and targets that
// a personalization accepts: larger values overflow the fit's sums of
// squares.
const MaxMagnitude = 1e100

func (o *Options) defaults() {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 32 << 20
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 10000
	}
	if o.MaxSamples <= 0 {
		o.MaxSamples = 1000
	}
	if o.Personalizers <= 0 {
		o.Personalizers = runtime.GOMAXPROCS(0)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = 64
	}
	if o.AccessLogEvery <= 0 {
		o.AccessLogEvery = 1
	}
}

// Server is an http.Handler serving one store. It is safe for concurrent
// use.
type Server struct {
	st    *store.Store
	m     *model.Model
	opt   Options
	fs    featureSpace // the input features requests give
	din   int          // the number of input features
	net   *model.Network
	prob  bool // the model has the logistic loss: predictions are probabilities
	token [sha256.Size]byte
	read  [sha256.Size]byte // hash of Options.ReadToken
	pred  [sha256.Size]byte // hash of Options.PredictToken
	mux   *http.ServeMux
	// inflight holds a token per API request being handled; nil when
	// unbounded.
	inflight chan struct{}
	logged   atomic.Uint64 // requests seen by the access log
	ready    atomic.Bool
	met      *metrics
	// rpcErrors writes errors of the binary API in its protocols.
	rpcErrors *connect.ErrorWriter

	// personalization: fitErr says why the model cannot be personalized.
	fitErr  error
	fitters chan *method.Fitter // idle personalizers
	slots   chan struct{}       // bounds live personalizers

	scratch sync.Pool // *scratch
	batches sync.Pool // *batchRequest: the slices of binary API requests
}

// scratch holds per-request buffers reused across requests.
type scratch struct {
	body   []byte
	x      []float64
	theta  []float64
	phi    []float64 // the network's features of one sample
	sa, sb []float64 // the network's scratch
	u      model.User
	out    []byte
	req    PredictRequest
	preds  []float64
	// thetas holds each item's theta_i during predictAll; fallback the
	// theta of unknown users.
	thetas   [][]float64
	fallback []float64
}

// New returns a Server for st. The caller keeps ownership of st and closes
// it after the server has stopped.
//
// New refuses opt.Unknown == eval.UnknownGlobal for a model trained with
// differential privacy: its fallback, U times the mean of every stored
// user's w, is an un-noised average of private data that the model's
// privacy ledger does not cover (see model.Model.CheckFallback).
func New(st *store.Store, opt Options) (*Server, error) {
	opt.defaults()
	m := st.Model()
	if err := eval.CheckUnknown(m, opt.Unknown); err != nil {
		return nil, fmt.Errorf("serve: refusing the global fallback for unknown users (--unknown global): %w", err)
	}
	inputs := m.Features
	if m.Network != nil {
		inputs = m.Network.Inputs
	}
	s := &Server{st: st, m: m, opt: opt, fs: newFeatureSpace(inputs), din: len(inputs), net: m.Network,
		prob: m.Loss == model.LossLogistic, mux: http.NewServeMux(),
		fitters: make(chan *method.Fitter, opt.Personalizers), slots: make(chan struct{}, opt.Personalizers),
		rpcErrors: connect.NewErrorWriter()}
	if opt.AuthToken != "" {
		s.token = sha256.Sum256([]byte(opt.AuthToken))
	}
	if opt.ReadToken != "" {
		s.read = sha256.Sum256([]byte(opt.ReadToken))
	}
	if opt.PredictToken != "" {
		s.pred = sha256.Sum256([]byte(opt.PredictToken))
	}
	if opt.MaxInFlight > 0 {
		s.inflight = make(chan struct{}, opt.MaxInFlight)
	}
	s.scratch.New = func() any {
		sc := &scratch{x: make([]float64, s.din), theta: make([]float64, m.Dim), fallback: make([]float64, m.Dim)}
		if n := m.Network; n != nil {
			w := slices.Max(n.Sizes)
			sc.phi, sc.sa, sc.sb = make([]float64, m.Dim), make([]float64, w), make([]float64, w)
		}
		return sc
	}
	if err := s.setupPersonalize(); err != nil {
		return nil, err
	}
	s.met = newMetrics(st)
	s.routes()
	s.mountRPC()
	s.ready.Store(true)
	return s, nil
}

// setupPersonalize makes the first personalizer for the model (package
// method chooses it by the model's method, loss and network, with the
// per-user options of its configuration, as "lrsp personalize" does); when
// the model cannot be personalized, fitErr says why and PUT answers 409.
func (s *Server) setupPersonalize() error {
	p, err := method.NewFitter(s.m, s.opt.MaxSamples)
	if err != nil {
		s.fitErr = err
		return nil
	}
	s.slots <- struct{}{}
	s.fitters <- p
	return nil
}

// Registry returns the server's Prometheus registry, served on /metrics.
func (s *Server) Registry() *prometheus.Registry { return s.met.reg }

// SetReady sets what /readyz answers; Run clears it when draining.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// ServeHTTP serves the API: it logs the request (Options.AccessLog),
// bounds the requests in flight, answers unknown routes and wrong methods
// with JSON errors, and turns a panic into a 500 JSON error.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opt.AccessLog != nil {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() { s.logAccess(sw, r, start) }()
		w = sw
	}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.opt.Logger.Error("request panicked", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			e := &httpError{code: http.StatusInternalServerError, msg: "internal error"}
			if s.isRPC(r) {
				s.writeRPCError(w, r, e)
				return
			}
			writeError(w, e)
		}
	}()
	if s.inflight != nil && !probe(r.URL.Path) {
		select {
		case s.inflight <- struct{}{}:
			defer func() { <-s.inflight }()
		default:
			s.met.rejected.Inc()
			w.Header().Set("Retry-After", "1")
			e := &httpError{code: http.StatusServiceUnavailable,
				msg: fmt.Sprintf("overloaded: %d requests in flight (the server's --max-in-flight); retry later", cap(s.inflight))}
			if s.isRPC(r) {
				s.writeRPCError(w, r, e)
				return
			}
			writeError(w, e)
			return
		}
	}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.noRoute(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// probe reports whether path is a health or metrics probe, which the
// in-flight bound does not count so that it answers under load.
func probe(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/metrics"
}

// noRoute answers a request that matches no route: the mux's 404 or 405
// (with its Allow header), or its redirect to a canonical path, with a
// JSON body for the errors.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	h, _ := s.mux.Handler(r)
	rec := &headerRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch rec.code {
	case http.StatusNotFound:
		writeError(w, &httpError{code: rec.code, msg: fmt.Sprintf("no route %s %s", r.Method, trim(r.URL.Path))})
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", rec.header.Get("Allow"))
		writeError(w, &httpError{code: rec.code, msg: fmt.Sprintf("method %s not allowed on %s; allowed: %s", r.Method, trim(r.URL.Path), rec.header.Get("Allow"))})
	default:
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.code)
		w.Write(rec.body)
	}
}

// headerRecorder records a response of the mux's internal handlers.
type headerRecorder struct {
	header http.Header
	code   int
	body   []byte
}

func (r *headerRecorder) Header() http.Header { return r.header }

func (r *headerRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *headerRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	if len(r.body) < 4096 {
		r.body = append(r.body, b[:min(len(b), 4096-len(r.body))]...)
	}
	return len(b), nil
}

// logAccess writes the access log record of one request.
func (s *Server) logAccess(sw *statusWriter, r *http.Request, start time.Time) {
	code := sw.code
	if code == 0 {
		code = http.StatusOK
	}
	if n := s.logged.Add(1); code < 500 && (n-1)%uint64(s.opt.AccessLogEvery) != 0 {
		return
	}
	s.opt.AccessLog.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("method", r.Method), slog.String("path", trim(r.URL.Path)), slog.Int("status", code),
		slog.Int64("bytes", sw.bytes), slog.Duration("duration", time.Since(start)), slog.String("remote", r.RemoteAddr))
}

// access says who may call a route.
type access int

const (
	public       access = iota // anyone
	readToken                  // the read token (or the write token) when one is set
	writeOnly                  // the write token when one is set
	predictToken               // the predict token (or the write token) when one is set
)

func (s *Server) routes() {
	h := func(pattern string, need access, fn func(http.ResponseWriter, *http.Request) error) {
		route := pattern[strings.IndexByte(pattern, ' ')+1:]
		s.mux.Handle(pattern, s.met.instrument(pattern, func(w http.ResponseWriter, r *http.Request) {
			if !s.authorized(r, need) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="lrsp"`)
				writeError(w, &httpError{code: http.StatusUnauthorized, msg: "a valid bearer token is required for " + r.Method + " " + route})
				return
			}
			if err := fn(w, r); err != nil {
				var he *httpError
				if !errors.As(err, &he) {
					s.opt.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
					he = &httpError{code: http.StatusInternalServerError, msg: "internal error: " + err.Error()}
				}
				writeError(w, he)
			}
		}))
	}
	h("POST /v1/predict", predictToken, s.handlePredict)
	h("PUT /v1/users/{id}", writeOnly, s.handlePutUser)
	h("GET /v1/users/{id}", readToken, s.handleGetUser)
	h("DELETE /v1/users/{id}", writeOnly, s.handleDeleteUser)
	h("GET /v1/model", public, s.handleModel)
	h("GET /healthz", public, func(w http.ResponseWriter, _ *http.Request) error {
		return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	h("GET /readyz", public, func(w http.ResponseWriter, _ *http.Request) error {
		if !s.ready.Load() {
			return errorf(http.StatusServiceUnavailable, "not ready: shutting down")
		}
		return writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "users": s.st.Len()})
	})
	s.mux.Handle("GET /metrics", s.met.handler())
}

// authorized checks the bearer token that the route needs.
func (s *Server) authorized(r *http.Request, need access) bool {
	return s.authorizedHeader(r.Header.Get("Authorization"), need)
}

// authorizedHeader checks the bearer token of an Authorization header
// value against the one that need asks for, comparing hashes in constant
// time.
func (s *Server) authorizedHeader(header string, need access) bool {
	switch {
	case need == public,
		need == writeOnly && s.opt.AuthToken == "",
		need == readToken && s.opt.ReadToken == "",
		need == predictToken && s.opt.PredictToken == "":
		return true
	}
	tok, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		return false
	}
	got := sha256.Sum256([]byte(tok))
	okWrite := s.opt.AuthToken != "" && subtle.ConstantTimeCompare(got[:], s.token[:]) == 1
	switch need {
	case writeOnly:
		return okWrite
	case predictToken:
		return okWrite || subtle.ConstantTimeCompare(got[:], s.pred[:]) == 1
	}
	okRead := subtle.ConstantTimeCompare(got[:], s.read[:]) == 1
	return okRead || okWrite
}

// httpError is an error with an HTTP status.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func errorf(code int, format string, args ...any) error {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

func badRequest(err error) error { return &httpError{code: http.StatusBadRequest, msg: err.Error()} }

type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, e *httpError) {
	writeJSON(w, e.code, errorBody{Error: e.msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
	return nil
}

// readBody reads the size-limited body into sc.body.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, sc *scratch) error {
	if r.ContentLength > s.opt.MaxBodyBytes {
		return errorf(http.StatusRequestEntityTooLarge, "request body of %d bytes exceeds the limit of %d", r.ContentLength, s.opt.MaxBodyBytes)
	}
	body := http.MaxBytesReader(w, r.Body, s.opt.MaxBodyBytes)
	buf := sc.body[:0]
	if n := int(r.ContentLength); n >= 0 && cap(buf) < n+1 {
		buf = make([]byte, 0, n+1) // +1 to see EOF without growing
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			sc.body = buf
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &mbe):
				return errorf(http.StatusRequestEntityTooLarge, "request body exceeds the limit of %d bytes", s.opt.MaxBodyBytes)
			case errors.Is(err, io.EOF):
				return nil
			}
			return errorf(http.StatusBadRequest, "read request body: %v", err)
		}
	}
}

func (s *Server) getScratch() *scratch { return s.scratch.Get().(*scratch) }

func (s *Server) putScratch(sc *scratch) {
	// Keep the pool from holding on to buffers of unusually large requests.
	if cap(sc.body) > 8<<20 {
		sc.body = nil
	}
	if cap(sc.out) > 8<<20 {
		sc.out = nil
	}
	if cap(sc.req.Requests) > 10000 || cap(sc.x) > 1<<20 || cap(sc.thetas) > 10000 {
		sc.req, sc.x, sc.preds, sc.thetas = PredictRequest{}, nil, nil, nil
	}
	s.scratch.Put(sc)
}

// handlePredict answers one prediction or a batch.
func (s *Server) handlePredict(w http.ResponseWriter, r *http.Request) error {
	sc := s.getScratch()
	defer s.putScratch(sc)
	if err := s.readBody(w, r, sc); err != nil {
		return err
	}
	req := &sc.req
	switch decodePredictFast(sc.body, req, s.opt.MaxBatch) {
	case fastTooMany:
		return badRequest(fmt.Errorf("requests: more than %d items exceed the batch limit of %d", s.opt.MaxBatch, s.opt.MaxBatch))
	case fastNo:
		req = new(PredictRequest)
		if err := decodePredictStrict(sc.body, req, s.opt.MaxBatch); err != nil {
			return badRequest(err)
		}
	}
	items, batch, err := s.predictItems(req)
	if err != nil {
		return badRequest(err)
	}
	d := s.din
	if cap(sc.x) < len(items)*d {
		sc.x = make([]float64, len(items)*d)
	}
	xs := sc.x[:len(items)*d]
	for i := range items {
		where := "request"
		if batch {
			where = "requests[" + strconv.Itoa(i) + "]"
		}
		if err := CheckUserID(items[i].User); err != nil {
			return badRequest(fmt.Errorf("%s: %w", where, err))
		}
		if err := s.fs.vector(&items[i].Features, xs[i*d:(i+1)*d], where); err != nil {
			return badRequest(err)
		}
	}
	if cap(sc.preds) < len(items) {
		sc.preds = make([]float64, len(items))
	}
	preds := sc.preds[:len(items)]
	if err := s.predictAll(len(items), func(i int) string { return items[i].User },
		func(i int) []float64 { return xs[i*d : (i+1)*d] }, preds, sc); err != nil {
		return err
	}
	for i, p := range preds {
		if math.IsNaN(p) || math.IsInf(p, 0) {
			where := "request"
			if batch {
				where = "requests[" + strconv.Itoa(i) + "]"
			}
			return errorf(http.StatusUnprocessableEntity, "%s: the prediction for user %q is not a finite number (%v): "+
				"the features are too large in magnitude for the user's parameters", where, items[i].User, p)
		}
	}
	s.met.predictions.Add(float64(len(items)))
	out := sc.out[:0]
	if batch {
		out = append(out, `{"predictions":[`...)
		for i := range items {
			if i > 0 {
				out = append(out, ',')
			}
			out = appendPrediction(out, items[i].User, preds[i], false)
		}
		out = append(out, ']')
		if s.prob {
			out = append(out, `,"kind":"probability"`...)
		}
		out = append(out, "}\n"...)
	} else {
		out = append(appendPrediction(out, items[0].User, preds[0], s.prob), '\n')
	}
	sc.out = out
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
	return nil
}

// predictItems returns the items of req and whether it is a batch.
func (s *Server) predictItems(req *PredictRequest) ([]PredictItem, bool, error) {
	if req.batch {
		if req.User != "" || req.Features.Set {
			return nil, false, errors.New(`give either "user" and "features", or "requests", not both`)
		}
		switch n := len(req.Requests); {
		case n == 0:
			return nil, false, errors.New("requests: empty batch")
		case n > s.opt.MaxBatch:
			return nil, false, fmt.Errorf("requests: %d items exceed the batch limit of %d", n, s.opt.MaxBatch)
		}
		return req.Requests, true, nil
	}
	if req.User == "" && !req.Features.Set {
		return nil, false, errors.New(`want "user" and "features", or "requests"`)
	}
	return []PredictItem{{User: req.User, Features: req.Features}}, false, nil
}

// predictAll computes the predictions of n items into preds from one
// snapshot of the store: item i is for user(i) with input features x(i).
func (s *Server) predictAll(n int, user func(int) string, x func(int) []float64, preds []float64, sc *scratch) error {
	if s.m.Method == model.MethodGlobal {
		fb := s.st.Fallback()
		s.m.Theta(&fb, sc.theta)
		for i := range n {
			preds[i] = s.predict(x(i), sc)
		}
		return nil
	}
	if cap(sc.thetas) < n {
		sc.thetas = make([][]float64, n)
	}
	thetas := sc.thetas[:n]
	defer clear(thetas) // keep no theta_i alive in the pool
	var missing string
	err := s.st.View(func(rd store.Reader) error {
		// View runs this a second time if a write overlapped the first
		// run: start afresh.
		missing = ""
		var fallback []float64
		// First each item's theta_i: the store cache's copy, which stays
		// valid, or (without the cache) one in sc.theta, used at once.
		for i := range n {
			theta, ok, err := rd.Theta(user(i), &sc.u, sc.theta)
			if err != nil {
				return err
			}
			if !ok {
				if s.opt.Unknown != eval.UnknownGlobal {
					missing = user(i)
					return nil
				}
				if fallback == nil {
					fb := s.st.Fallback()
					fallback = s.m.Theta(&fb, sc.fallback)
				}
				theta = fallback
			}
			if len(theta) > 0 && &theta[0] == &sc.theta[0] {
				preds[i] = s.predictTheta(x(i), theta, sc)
				theta = nil
			}
			thetas[i] = theta
		}
		s.predictThetas(x, thetas, preds, sc)
		return nil
	})
	if err != nil {
		return err
	}
	if missing != "" {
		return errorf(http.StatusNotFound, "user %q is not in the store; personalize it with PUT /v1/users/%s or start the server with --unknown global", missing, missing)
	}
	return nil
}

// predict returns the prediction for input features x with theta_i in
// sc.theta, as eval.Predict computes it: the network's features phi(x)
// replace x for a model with a network, and the logistic loss's link turns
// the score into a probability.
func (s *Server) predict(x []float64, sc *scratch) float64 {
	return s.predictTheta(x, sc.theta, sc)
}

// predictThetas sets preds[i] to the prediction for input features x(i)
// with theta_i in thetas[i], for each i with a theta_i. Without a network,
// it computes four items at a time with dot4, which sums each as dot does.
func (s *Server) predictThetas(x func(int) []float64, thetas [][]float64, preds []float64, sc *scratch) {
	i := 0
	if s.net == nil {
		for ; i+4 <= len(thetas); i += 4 {
			t := thetas[i : i+4 : i+4]
			if t[0] == nil || t[1] == nil || t[2] == nil || t[3] == nil {
				for k := range t {
					if t[k] != nil {
						preds[i+k] = s.predictTheta(x(i+k), t[k], sc)
					}
				}
				continue
			}
			z0, z1, z2, z3 := dot4(x(i), x(i+1), x(i+2), x(i+3), t[0], t[1], t[2], t[3])
			if s.prob {
				z0, z1, z2, z3 = logistic.Sigmoid(z0), logistic.Sigmoid(z1), logistic.Sigmoid(z2), logistic.Sigmoid(z3)
			}
			preds[i], preds[i+1], preds[i+2], preds[i+3] = z0, z1, z2, z3
		}
	}
	for ; i < len(thetas); i++ {
		if thetas[i] != nil {
			preds[i] = s.predictTheta(x(i), thetas[i], sc)
		}
	}
}

// predictTheta is predict with theta_i in theta.
func (s *Server) predictTheta(x, theta []float64, sc *scratch) float64 {
	if s.net != nil {
		x = s.net.Forward(x, sc.phi, sc.sa, sc.sb)
	}
	z := dot(x, theta)
	if s.prob {
		return logistic.Sigmoid(z)
	}
	return z
}

// finite reports whether every value of v is finite.
func finite(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// dot is the same sum, in the same order, as eval.Predict's.
func dot(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// dot4 returns dot(a0, b0), dot(a1, b1), dot(a2, b2) and dot(a3, b3),
// each the same sum in the same order as dot's, so equal bit for bit; the
// four chains of additions are interleaved so that they overlap in the
// CPU (a single chain waits on each addition). All have a0's length.
func dot4(a0, a1, a2, a3, b0, b1, b2, b3 []float64) (s0, s1, s2, s3 float64) {
	n := len(a0)
	a1, a2, a3 = a1[:n], a2[:n], a3[:n]
	b0, b1, b2, b3 = b0[:n], b1[:n], b2[:n], b3[:n]
	for i, v := range a0 {
		s0 += v * b0[i]
		s1 += a1[i] * b1[i]
		s2 += a2[i] * b2[i]
		s3 += a3[i] * b3[i]
	}
	return s0, s1, s2, s3
}

// appendPrediction appends {"user":id,"prediction":p}, with
// "kind":"probability" when prob is set; id has passed CheckUserID and so
// needs no escaping.
func appendPrediction(out []byte, id string, p float64, prob bool) []byte {
	out = append(out, `{"user":"`...)
	out = append(out, id...)
	out = append(out, `","prediction":`...)
	out = strconv.AppendFloat(out, p, 'g', -1, 64)
	if prob {
		out = append(out, `,"kind":"probability"`...)
	}
	return append(out, '}')
}

// UserParams is the JSON form of a user's personal parameters.
type UserParams struct {
	User string    `json:"user"`
	W    []float64 `json:"w"`
	// B lists the non-zeros of b_i.
	B []SparseEntry `json:"b"`
}

// SparseEntry is one non-zero of b_i.
type SparseEntry struct {
	Feature string  `json:"feature"`
	Index   int     `json:"index"`
	Value   float64 `json:"value"`
}

func (s *Server) params(u *model.User) UserParams {
	p := UserParams{User: u.ID, W: u.W, B: make([]SparseEntry, len(u.Index))}
	if p.W == nil {
		p.W = []float64{}
	}
	for i, j := range u.Index {
		p.B[i] = SparseEntry{Feature: s.m.Features[j], Index: int(j), Value: u.Value[i]}
	}
	return p
}

// PersonalizeResponse answers PUT /v1/users/{id}. The training errors are
// those of the stored parameters' predictions on the request's samples;
// for a logistic model the predictions are probabilities (so TrainingMSE
// is the Brier score) and the log loss and accuracy are given too.
type PersonalizeResponse struct {
	UserParams
	Created      bool    `json:"created"`
	Samples      int     `json:"samples"`
	TrainingMSE  float64 `json:"training_mse"`
	TrainingRMSE float64 `json:"training_rmse"`
	// TrainingLogLoss is the mean negative log-likelihood (logistic
	// models only).
	TrainingLogLoss *float64 `json:"training_log_loss,omitempty"`
	// TrainingAccuracy is the fraction of samples on the side of 1/2 of
	// their target (logistic models only).
	TrainingAccuracy *float64 `json:"training_accuracy,omitempty"`
	// Warnings lists what makes the fit questionable though it was
	// stored, such as fewer samples than the user has parameters; absent
	// when there is nothing to say.
	Warnings []string `json:"warnings,omitempty"`
}

// perUserParams returns the number of personal parameters that a
// personalization of m fits.
func perUserParams(m *model.Model) int {
	switch m.Method {
	case model.MethodLowRank:
		return m.Rank
	case model.MethodGlobalSparse:
		return m.Sparsity
	case model.MethodLocal, model.MethodFinetune, model.MethodNeuralDense:
		return m.Dim
	}
	return m.Rank + m.Sparsity
}

// fitWarnings returns the warnings of a personalization from n samples.
func (s *Server) fitWarnings(n int) []string {
	if p := perUserParams(s.m); n < p {
		return []string{fmt.Sprintf("%d samples for %d personal parameters: the fit is underdetermined and rests on the "+
			"regularization and the shared parts; give at least %d samples for a meaningful fit", n, p, p)}
	}
	return nil
}

func (s *Server) handlePutUser(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := CheckUserID(id); err != nil {
		return badRequest(err)
	}
	if s.fitErr != nil {
		return errorf(http.StatusConflict, "cannot personalize: %v", s.fitErr)
	}
	sc := s.getScratch()
	defer s.putScratch(sc)
	if err := s.readBody(w, r, sc); err != nil {
		return err
	}
	var req PersonalizeRequest
	if err := decodeStrict(sc.body, &req); err != nil {
		return badRequest(err)
	}
	n, d := len(req.Samples), s.din
	switch {
	case n == 0:
		return badRequest(errors.New("samples: want at least one sample"))
	case n > s.opt.MaxSamples:
		return badRequest(fmt.Errorf("samples: %d samples exceed the limit of %d", n, s.opt.MaxSamples))
	}
	x, y := make([]float64, n*d), make([]float64, n)
	for i := range req.Samples {
		where := "samples[" + strconv.Itoa(i) + "]"
		if err := s.fs.vector(&req.Samples[i].Features, x[i*d:(i+1)*d], where); err != nil {
			return badRequest(err)
		}
		if req.Samples[i].Y == nil {
			return badRequest(fmt.Errorf("%s: y missing", where))
		}
		y[i] = *req.Samples[i].Y
		for j, v := range x[i*d : (i+1)*d] {
			if math.Abs(v) > MaxMagnitude {
				return badRequest(fmt.Errorf("%s: feature %q = %v exceeds the largest magnitude a personalization accepts, %g", where, s.fs.names[j], v, MaxMagnitude))
			}
		}
		if math.Abs(y[i]) > MaxMagnitude {
			return badRequest(fmt.Errorf("%s: y = %v exceeds the largest magnitude a personalization accepts, %g", where, y[i], MaxMagnitude))
		}
		if s.prob && y[i] != 0 && y[i] != 1 {
			return badRequest(fmt.Errorf("%s: y = %v is not 0 or 1, as a model trained with the logistic loss needs", where, y[i]))
		}
	}
	u, err := s.fit(r, id, x, y)
	if err != nil {
		return err
	}
	if !finite(u.W) || !finite(u.Value) {
		// Samples of extreme magnitude overflow the per-user solve.
		return errorf(http.StatusUnprocessableEntity, "user %q: the fit overflowed to non-finite parameters; the features or targets are too large in magnitude; nothing was stored", id)
	}
	// Training error of the parameters, as predict computes them; checked
	// before storing, so that a user is stored only with an answer.
	s.m.Theta(&u, sc.theta)
	var sse, nll, right float64
	for i := range y {
		p := s.predict(x[i*d:(i+1)*d], sc)
		e := y[i] - p
		sse += e * e
		if s.prob {
			// p is within [0, 1]; clamp so that a saturated sigmoid
			// gives a large finite loss.
			q := p
			if y[i] == 0 {
				q = 1 - p
			}
			nll -= math.Log(max(q, 1e-300))
			if (p >= 0.5) == (y[i] == 1) {
				right++
			}
		}
	}
	mse := sse / float64(n)
	if math.IsNaN(mse) || math.IsInf(mse, 0) || !finite(sc.theta) {
		return errorf(http.StatusUnprocessableEntity, "user %q: the fit's predictions on its samples overflow (training MSE %v); "+
			"the features or targets are too large in magnitude; nothing was stored", id, mse)
	}
	resp := PersonalizeResponse{UserParams: s.params(&u), Samples: n,
		TrainingMSE: mse, TrainingRMSE: math.Sqrt(mse), Warnings: s.fitWarnings(n)}
	if s.prob {
		ll, acc := nll/float64(n), right/float64(n)
		resp.TrainingLogLoss, resp.TrainingAccuracy = &ll, &acc
	}
	// Encode once before storing: a user is stored only if its answer can
	// be written.
	if _, err := json.Marshal(resp); err != nil {
		return err
	}
	created, err := s.st.Put(u)
	if err != nil {
		return err
	}
	s.met.personalizations.Inc()
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	resp.Created = created
	return writeJSON(w, code, resp)
}

// fit personalizes one user with the shared parts fixed. At most
// Options.Personalizers fits run at once.
func (s *Server) fit(r *http.Request, id string, x, y []float64) (model.User, error) {
	p, err := s.acquire(r)
	if err != nil {
		return model.User{}, err
	}
	defer func() { s.fitters <- p }()
	ctx := r.Context()
	u, err := p.Fit(ctx, id, x, y)
	var se *method.SampleError
	switch {
	case ctx.Err() != nil:
		return model.User{}, errorf(http.StatusServiceUnavailable, "request cancelled during personalization")
	case errors.As(err, &se):
		return model.User{}, badRequest(se.Err)
	case err != nil:
		return model.User{}, err
	}
	return u, nil
}

// acquire returns an idle personalizer, creating one while fewer than
// Options.Personalizers exist, else waiting for one.
func (s *Server) acquire(r *http.Request) (*method.Fitter, error) {
	select {
	case p := <-s.fitters:
		return p, nil
	default:
	}
	select {
	case p := <-s.fitters:
		return p, nil
	case s.slots <- struct{}{}:
		p, err := method.NewFitter(s.m, s.opt.MaxSamples)
		if err != nil {
			<-s.slots
			return nil, err
		}
		return p, nil
	case <-r.Context().Done():
		return nil, errorf(http.StatusServiceUnavailable, "request cancelled while waiting for a personalizer")
	}
}

func (s *Server) handleGetUser(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := CheckUserID(id); err != nil {
		return badRequest(err)
	}
	u, err := s.st.Get(id)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "user %q is not in the store", id)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.params(&u))
}

func (s *Server) handleDeleteUser(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := CheckUserID(id); err != nil {
		return badRequest(err)
	}
	ok, err := s.st.Delete(id)
	if err != nil {
		return err
	}
	if !ok {
		return errorf(http.StatusNotFound, "user %q is not in the store", id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ModelInfo answers GET /v1/model.
type ModelInfo struct {
	Method string `json:"method"`
	Loss   string `json:"loss"`
	// Prediction says what /v1/predict returns: "score" (squared loss) or
	// "probability" (logistic loss: the probability that the target is 1).
	Prediction string `json:"prediction"`
	// Inputs names the features that requests give: Features for a linear
	// model, the network's inputs for a model with a network.
	Inputs []string `json:"inputs"`
	// Network describes the shared network, or is absent for a linear
	// model; theta_i then acts on its last layer's outputs, named by
	// Features.
	Network  *NetworkInfo  `json:"network,omitempty"`
	D        int           `json:"d"`
	R        int           `json:"r"`
	K        int           `json:"k"`
	Features []string      `json:"features"`
	Theta0   bool          `json:"theta0"`
	Users    int           `json:"users"`
	Unknown  string        `json:"unknown"`
	Config   model.Config  `json:"config"`
	Privacy  *model.Ledger `json:"privacy"`
	// Personalize is empty when PUT can personalize, else the reason.
	Personalize string `json:"personalize_unavailable,omitempty"`
}

// NetworkInfo describes a model's shared network in GET /v1/model.
type NetworkInfo struct {
	// Sizes holds the layer widths, inputs first; the last is d.
	Sizes      []int  `json:"sizes"`
	Activation string `json:"activation"`
}

func (s *Server) handleModel(w http.ResponseWriter, _ *http.Request) error {
	loss := s.m.Loss
	if loss == "" {
		loss = model.LossSquared
	}
	info := ModelInfo{Method: s.m.Method, Loss: loss, Prediction: "score", Inputs: s.fs.names, D: s.m.Dim, R: s.m.Rank, K: s.m.Sparsity, Features: s.m.Features,
		Theta0: s.m.Theta0 != nil, Users: s.st.Len(), Unknown: "error", Config: s.m.Config, Privacy: s.m.Privacy}
	if s.prob {
		info.Prediction = "probability"
	}
	if n := s.net; n != nil {
		info.Network = &NetworkInfo{Sizes: n.Sizes, Activation: n.Activation}
	}
	if s.opt.Unknown == eval.UnknownGlobal {
		info.Unknown = "global"
	}
	if s.fitErr != nil {
		info.Personalize = s.fitErr.Error()
	}
	return writeJSON(w, http.StatusOK, info)
}
