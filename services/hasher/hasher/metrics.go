package hasher

import (
	"github.com/prometheus/client_golang/prometheus"
)

// hasherMetrics are the hasher's Prometheus metrics, served on GET /metrics
// with the process's (see service.Worker).
type hasherMetrics struct {
	reg          *prometheus.Registry
	fetches      *prometheus.CounterVec
	fetchSeconds *prometheus.HistogramVec
	fetchedBytes prometheus.Counter
	hashSeconds  *prometheus.HistogramVec
	unhashable   *prometheus.CounterVec
}

// Outcomes of one fetch attempt.
const (
	fetchOK          = "ok"
	fetchRefused     = "refused"   // by the URL policy or the host's answer (4xx)
	fetchTooLarge    = "too_large" // body over the limit
	fetchFailed      = "failed"    // transient: retried, or host_unavailable after the last attempt
	fetchInterrupted = "interrupted"
)

func newHasherMetrics() *hasherMetrics {
	m := &hasherMetrics{
		reg: prometheus.NewRegistry(),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "takedown_hasher_fetches_total",
			Help: "Media fetch attempts by outcome (ok, refused, too_large, failed, interrupted).",
		}, []string{"outcome"}),
		fetchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "takedown_hasher_fetch_duration_seconds",
			Help:    "Time of one media fetch attempt, by outcome.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"outcome"}),
		fetchedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "takedown_hasher_fetched_bytes_total",
			Help: "Bytes of media fetched.",
		}),
		hashSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "takedown_hasher_hash_duration_seconds",
			Help:    "Time to decode and hash fetched media, by media type (image, video; stream segments are video), waiting for a CPU included.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"media_type"}),
		unhashable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "takedown_hasher_unhashable_total",
			Help: "Uploads and stream segments published as unhashable (refused or failed media), by reason.",
		}, []string{"reason"}),
	}
	m.reg.MustRegister(m.fetches, m.fetchSeconds, m.fetchedBytes, m.hashSeconds, m.unhashable)
	return m
}
