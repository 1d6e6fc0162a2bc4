package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/loadtest"
	"github.com/lrsp/lrsp/serve"
)

func newLoadtestCmd() *cobra.Command {
	var opt loadtest.Options
	var asJSON bool
	var idsFile, tokenFile, trivial, cpuProfile string
	c := &cobra.Command{
		Use:   "loadtest",
		Short: "Measure a running lrsp server: requests/s, predictions/s, p50/p99 latency, errors",
		Long: `loadtest sends predictions to a running "lrsp serve" over --connections
connections, one request at a time each, for --duration, and prints
requests/s, predictions/s, p50 and p99 latency (ms) and the number of failed
requests (--json: one object with keys requests_per_second,
predictions_per_second, p50_ms, p99_ms, errors, ...).

--protocol json posts to /v1/predict (the single form for --batch 1, the
batch form otherwise); grpc calls the binary PredictBatch over cleartext
HTTP/2, connect the same over the Connect protocol (HTTP/1.1). The dimension
comes from GET /v1/model (or --dim), and the users are drawn from the IDs of
--ids (one a line), or else from u0 .. u(n-1) with n the users of /v1/model,
the IDs that "lrsp store random-model" gives. Requests are drawn before the
clock starts. Failed requests are counted, with the first one printed.
SIGINT stops the run early and prints what was measured.`,
		Example: `  lrsp loadtest --url http://127.0.0.1:8080 --protocol grpc --batch 1000 --duration 10s --connections 4
  lrsp loadtest --url http://127.0.0.1:8080 --protocol json --batch 1 --connections 16 --json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			stopProfile, err := startCPUProfile(cpuProfile)
			if err != nil {
				return err
			}
			defer stopProfile()
			if trivial != "" {
				if err := serveTrivial(c, trivial); err != nil {
					return err
				}
				return stopProfile()
			}
			if idsFile != "" {
				if opt.IDs, err = loadtest.ReadIDs(idsFile); err != nil {
					return err
				}
			}
			if tokenFile != "" {
				if opt.Token, err = serve.ReadTokenFile(tokenFile); err != nil {
					return err
				}
			}
			if opt.URL == "" {
				return errors.New("--url is required")
			}
			r, err := loadtest.Run(c.Context(), opt)
			if perr := stopProfile(); perr != nil && err == nil {
				err = perr
			}
			if r != nil {
				if asJSON {
					b, jerr := json.Marshal(r)
					if jerr != nil {
						return jerr
					}
					fmt.Fprintln(c.OutOrStdout(), string(b))
				} else {
					fmt.Fprintln(c.OutOrStdout(), r)
				}
			}
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&opt.URL, "url", "", "base URL of the server, e.g. http://127.0.0.1:8080 (required)")
	f.StringVar(&opt.Protocol, "protocol", loadtest.JSON, "json (POST /v1/predict), grpc or connect (the binary PredictBatch)")
	f.IntVar(&opt.Batch, "batch", 1, "predictions per request")
	f.DurationVar(&opt.Duration, "duration", 10*time.Second, "how long to send requests")
	f.IntVar(&opt.Connections, "connections", 16, "concurrent connections, one request at a time each")
	f.BoolVar(&asJSON, "json", false, "print the result as one JSON object")
	f.StringVar(&idsFile, "ids", "", "file of user IDs to draw from, one a line (default: u0 .. u(n-1), n from /v1/model)")
	f.IntVar(&opt.Dim, "dim", 0, "input features per prediction (0: from /v1/model)")
	f.StringVar(&tokenFile, "token-file", "", "file holding the bearer token to send (the server's --predict-token-file)")
	f.Uint64Var(&opt.Seed, "seed", 1, "seed of the requests drawn")
	f.StringVar(&trivial, "trivial-server", "", "serve a trivial net/http handler (reads the body, answers a constant) on this loopback address instead, for a baseline; load-test it with --dim and --ids")
	f.MarkHidden("trivial-server")
	addCPUProfileFlag(c, &cpuProfile)
	return c
}

// serveTrivial serves loadtest.TrivialHandler on a loopback address until
// the command's context ends.
func serveTrivial(c *cobra.Command, addr string) error {
	if err := serve.CheckListenAddr(addr, false, false); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: loadtest.TrivialHandler(), ReadHeaderTimeout: 5 * time.Second, Protocols: serve.Protocols()}
	fmt.Fprintf(c.ErrOrStderr(), "serving the trivial handler on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-c.Context().Done():
	}
	srv.Close()
	<-errc
	return nil
}
