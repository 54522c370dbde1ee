package ingest

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// ingestMetrics are the API's Prometheus metrics, served on GET /metrics with
// the process's (see service.Worker).
type ingestMetrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	rejected *prometheus.CounterVec
}

func newIngestMetrics() *ingestMetrics {
	m := &ingestMetrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "takedown_ingest_requests_total",
			Help: "API requests answered, by route pattern and HTTP status code.",
		}, []string{"route", "status"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "takedown_ingest_rejected_uploads_total",
			Help: "Uploads and stream segments refused, by reason (invalid, unauthorized, too_large, unsupported_media_type, " +
				"rate_limited, conflict, unavailable).",
		}, []string{"reason"}),
	}
	m.reg.MustRegister(m.requests, m.rejected)
	return m
}

// rejectReason names a refusal by its status: each status of the API stands
// for one reason (see writeError's callers).
func rejectReason(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "invalid"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusConflict:
		return "conflict"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	return "other"
}

// measured counts the answers of an upload route: by status, and refusals
// by reason. route is the mux pattern's path, so that ids in paths do not
// become label values.
func (m *ingestMetrics) measured(route string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h(sw, r)
		m.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		if sw.code >= 400 {
			m.rejected.WithLabelValues(rejectReason(sw.code)).Inc()
		}
	}
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
