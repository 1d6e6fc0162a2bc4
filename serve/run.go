package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// Timeouts bounds the phases of an HTTP exchange and the drain at shutdown.
// A zero field takes the default named on it.
type Timeouts struct {
	// ReadHeader bounds reading request headers; 0 means 5s.
	ReadHeader time.Duration
	// Read bounds reading a whole request; 0 means 30s.
	Read time.Duration
	// Write bounds handling and writing a response; 0 means 60s.
	Write time.Duration
	// Idle bounds keep-alive idleness; 0 means 120s.
	Idle time.Duration
	// Drain bounds the wait for in-flight requests at shutdown; 0 means 30s.
	Drain time.Duration
}

func (t *Timeouts) defaults() {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&t.ReadHeader, 5*time.Second)
	def(&t.Read, 30*time.Second)
	def(&t.Write, 60*time.Second)
	def(&t.Idle, 120*time.Second)
	def(&t.Drain, 30*time.Second)
}

// Run serves s on ln until ctx is cancelled, then marks s not ready, stops
// accepting connections and waits up to t.Drain for in-flight requests to
// finish. It returns nil after a clean drain. The caller closes the store
// afterwards.
//
// Run serves HTTP/1.1 and cleartext HTTP/2 (h2c, with prior knowledge),
// which gRPC clients of the binary API need.
func Run(ctx context.Context, ln net.Listener, s *Server, t Timeouts) error {
	t.defaults()
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    64 << 10,
		Protocols:         Protocols(),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	s.SetReady(false)
	dctx, cancel := context.WithTimeout(context.Background(), t.Drain)
	defer cancel()
	err := srv.Shutdown(dctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("shutdown %s: %w", ln.Addr(), err)
	}
	return nil
}

// Protocols returns the protocols that Run serves: HTTP/1.1 and cleartext
// HTTP/2. Servers built around a Server in other ways (httptest, for one)
// set it on their http.Server for gRPC clients.
func Protocols() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return p
}

// CheckListenAddr refuses an address that is not a loopback address when no
// auth token is configured, unless insecure is set. A host name other than
// "localhost" and an empty host (every interface) count as non-loopback.
func CheckListenAddr(addr string, haveToken, insecure bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", addr, err)
	}
	if haveToken || insecure {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	where := host
	if where == "" {
		where = "every interface"
	}
	return fmt.Errorf("--addr %q listens on %s, not a loopback address: give --auth-token-file to protect PUT and DELETE, or --insecure to serve without one", addr, where)
}

// ReadTokenFile reads a bearer token from path: the file's content with
// surrounding white space removed, at least 16 characters of printable
// ASCII.
func ReadTokenFile(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("auth token: %w", err)
	}
	if st.Size() > 4096 {
		return "", fmt.Errorf("auth token file %s: %d bytes, want at most 4096", path, st.Size())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("auth token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return "", fmt.Errorf("auth token file %s: token of %d characters, want at least 16", path, len(tok))
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] <= ' ' || tok[i] > '~' {
			return "", fmt.Errorf("auth token file %s: character %d is not printable ASCII", path, i)
		}
	}
	return tok, nil
}
