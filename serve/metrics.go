package serve

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lrsp/lrsp/store"
)

// metrics holds the server's Prometheus collectors, registered on a
// registry of its own.
type metrics struct {
	reg              *prometheus.Registry
	requests         *prometheus.CounterVec
	errors           *prometheus.CounterVec
	latency          *prometheus.HistogramVec
	predictions      prometheus.Counter
	personalizations prometheus.Counter
	rejected         prometheus.Counter
}

func newMetrics(st *store.Store) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lrsp_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lrsp_http_errors_total", Help: "HTTP requests answered with a 4xx or 5xx status, by route and class.",
		}, []string{"route", "class"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lrsp_http_request_duration_seconds", Help: "Time to answer HTTP requests, by route.",
			Buckets: []float64{50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1, 5},
		}, []string{"route"}),
		predictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lrsp_predictions_total", Help: "Predictions answered (a batch counts each item).",
		}),
		personalizations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lrsp_personalizations_total", Help: "Users personalized and stored by PUT.",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lrsp_http_overload_rejections_total", Help: "Requests answered 503 because --max-in-flight requests were running.",
		}),
	}
	m.reg.MustRegister(m.requests, m.errors, m.latency, m.predictions, m.personalizations, m.rejected,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lrsp_users_stored", Help: "Users held in the store.",
		}, func() float64 { return float64(st.Len()) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// statusWriter records the status code and the number of body bytes
// written.
type statusWriter struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush flushes the underlying writer when it can (gRPC and Connect
// responses flush).
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument counts and times the requests of one route.
func (m *metrics) instrument(route string, h http.HandlerFunc) http.Handler {
	lat := m.latency.WithLabelValues(route)
	client, server := m.errors.WithLabelValues(route, "client"), m.errors.WithLabelValues(route, "server")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h(sw, r)
		lat.Observe(time.Since(start).Seconds())
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
		switch {
		case code >= 500:
			server.Inc()
		case code >= 400:
			client.Inc()
		}
	})
}
