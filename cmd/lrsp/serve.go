package main

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/serve"
	"github.com/lrsp/lrsp/store"
)

func newServeCmd() *cobra.Command {
	var path, addr, tokenFile, readTokenFile, predictTokenFile, unknown string
	var insecure, accessLog bool
	var cpuProfile string
	var cacheBytes int64
	var opt serve.Options
	var t serve.Timeouts
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve predictions and personalization over HTTP from a user store",
		Long: `serve answers a JSON HTTP API from a user store (see "lrsp store import"):

  POST   /v1/predict        one {"user", "features"} or a batch {"requests": [...]}
  PUT    /v1/users/{id}     personalize a user from {"samples": [{"features", "y"}]}
                            (y must be 0 or 1 for a logistic-loss model)
  GET    /v1/users/{id}     a user's personal parameters
  DELETE /v1/users/{id}     remove a user
  GET    /v1/model, /healthz, /readyz, /metrics
  POST   /lrsp.v1.PredictService/PredictBatch
                            the binary batch API (api/lrsp/v1/predict.proto):
                            gRPC (cleartext HTTP/2), gRPC-Web or Connect; see
                            package client and "lrsp loadtest"

For a model trained with the logistic loss, predictions are probabilities
(responses carry "kind": "probability"); for a model with a network
(neural-lrs), requests give the network's input features.

PUT and DELETE need "Authorization: Bearer TOKEN" when --auth-token-file is
given; GET /v1/users/{id} (a user's personal parameters) needs the token of
--read-token-file (or the write token) when that is given; predictions
(JSON and binary) need the token of --predict-token-file (or the write
token) when that is given, and are open otherwise. The server
refuses a non-loopback --addr without a token unless --insecure is given.

Every response is JSON, errors included. At most --max-in-flight API
requests run at once; past that a request gets 503 with Retry-After: 1
(/healthz, /readyz and /metrics are not counted). --access-log writes one
structured line per request to stderr (one in --access-log-every; server
errors always). The store is locked while the server runs: "lrsp store
import" or "compact" onto it fails. SIGINT or SIGTERM drains in-flight
requests and closes the store.`,
		Example: "  lrsp serve --store users.db --addr 127.0.0.1:8080",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			policy, err := unknownPolicy(unknown)
			if err != nil {
				return err
			}
			opt.Unknown = policy
			if tokenFile != "" {
				if opt.AuthToken, err = serve.ReadTokenFile(tokenFile); err != nil {
					return err
				}
			}
			if readTokenFile != "" {
				if opt.ReadToken, err = serve.ReadTokenFile(readTokenFile); err != nil {
					return err
				}
			}
			if predictTokenFile != "" {
				if opt.PredictToken, err = serve.ReadTokenFile(predictTokenFile); err != nil {
					return err
				}
			}
			if err := serve.CheckListenAddr(addr, opt.AuthToken != "", insecure); err != nil {
				return err
			}
			if opt.MaxBodyBytes < 0 || opt.MaxBatch < 0 || opt.MaxSamples < 0 || opt.AccessLogEvery < 0 {
				return fmt.Errorf("--max-body, --max-batch, --max-samples and --access-log-every must not be negative")
			}
			st, err := store.Open(path, store.Options{CacheBytes: cacheBytes})
			if err != nil {
				return err
			}
			defer st.Close()
			for _, w := range st.Warnings() {
				fmt.Fprintf(c.ErrOrStderr(), "warning: store %s: %s (run lrsp store check)\n", path, w)
			}
			opt.Logger = slog.New(slog.NewTextHandler(c.ErrOrStderr(), nil))
			if accessLog {
				opt.AccessLog = opt.Logger
			}
			srv, err := serve.New(st, opt)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			m := st.Model()
			kind := ""
			if m.Loss == model.LossLogistic {
				kind += ", logistic loss: predictions are probabilities"
			}
			if n := m.Network; n != nil {
				kind += fmt.Sprintf(", network %v: requests give its %d inputs", n.Sizes, n.Sizes[0])
			}
			stopProfile, err := startCPUProfile(cpuProfile)
			if err != nil {
				return err
			}
			defer stopProfile()
			fmt.Fprintf(c.ErrOrStderr(), "serving %d users (%s, d=%d r=%d k=%d%s) from %s on http://%s (unknown users: %s)\n",
				st.Len(), m.Method, m.Dim, m.Rank, m.Sparsity, kind, path, ln.Addr(), unknown)
			if err := serve.Run(c.Context(), ln, srv, t); err != nil {
				return err
			}
			if err := stopProfile(); err != nil {
				return err
			}
			fmt.Fprintln(c.ErrOrStderr(), "drained; store closed")
			return st.Close()
		},
	}
	f := c.Flags()
	f.StringVar(&path, "store", "", "user store file (required)")
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "listen address")
	f.StringVar(&tokenFile, "auth-token-file", "", "file holding the bearer token required by PUT and DELETE")
	f.StringVar(&readTokenFile, "read-token-file", "", "file holding the bearer token required by GET /v1/users/{id} (personal parameters); the write token works too")
	f.StringVar(&predictTokenFile, "predict-token-file", "", "file holding the bearer token required by predictions (POST /v1/predict and the binary PredictBatch); the write token works too")
	f.IntVar(&opt.MaxInFlight, "max-in-flight", 64, "most API requests handled at once; more get 503 with Retry-After (0: 64, negative: no bound)")
	f.BoolVar(&accessLog, "access-log", false, "log every request (method, path, status, bytes, duration) to stderr, structured")
	f.IntVar(&opt.AccessLogEvery, "access-log-every", 1, "with --access-log, log one request in N (server errors always)")
	f.BoolVar(&insecure, "insecure", false, "allow a non-loopback --addr without --auth-token-file")
	f.StringVar(&unknown, "unknown", "error", "unknown users on predict: error (404), or global (the average user; refused for a model trained with --dp-*)")
	f.Int64Var(&opt.MaxBodyBytes, "max-body", 32<<20, "largest request body in bytes")
	f.IntVar(&opt.MaxBatch, "max-batch", 10000, "largest number of items in a batch predict")
	f.IntVar(&opt.MaxSamples, "max-samples", 1000, "largest number of samples in a personalization")
	f.Int64Var(&cacheBytes, "user-cache-bytes", 0, "memory for decoded users and their theta_i kept between requests, about 300 + 8 d bytes a user at r = k = 10 (0: 128 MiB, negative: no cache)")
	f.DurationVar(&t.ReadHeader, "read-header-timeout", 0, "header read timeout (0: 5s)")
	f.DurationVar(&t.Read, "read-timeout", 0, "request read timeout (0: 30s)")
	f.DurationVar(&t.Write, "write-timeout", 0, "response write timeout (0: 60s)")
	f.DurationVar(&t.Idle, "idle-timeout", 0, "keep-alive idle timeout (0: 120s)")
	f.DurationVar(&t.Drain, "drain-timeout", 0, "wait for in-flight requests at shutdown (0: 30s)")
	addCPUProfileFlag(c, &cpuProfile)
	c.MarkFlagRequired("store")
	return c
}
