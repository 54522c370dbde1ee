package enforcer

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/takedown-pipeline/takedown/pkg/edges/webhook"
	"github.com/takedown-pipeline/takedown/pkg/platform/service"
)

// enforcerMetrics are the enforcer's Prometheus metrics, served on GET
// /metrics with the process's (see service.Worker).
type enforcerMetrics struct {
	reg            *prometheus.Registry
	webhookCalls   *prometheus.CounterVec
	webhookSeconds prometheus.Histogram
	actions        *prometheus.CounterVec
	uploadToAction *prometheus.HistogramVec
}

func newEnforcerMetrics() *enforcerMetrics {
	m := &enforcerMetrics{
		reg: prometheus.NewRegistry(),
		webhookCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "takedown_enforcer_webhook_requests_total",
			Help: "Webhook requests (attempts) by outcome (ok, refused: a permanent 4xx, failed: retried or given up) " +
				"and status class (2xx, 4xx, 5xx; none when no answer came).",
		}, []string{"outcome", "status_class"}),
		webhookSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "takedown_enforcer_webhook_duration_seconds",
			Help:    "Time of one webhook request, until its answer or its failure.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "takedown_enforcer_actions_total",
			Help: "Actions taken (the platform accepted them, or queue_for_review sent the upload to review) and recorded, " +
				"by action and trigger (auto, review, overturn, incident).",
		}, []string{"action", "trigger"}),
		uploadToAction: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "takedown_upload_to_action_seconds",
			Help: "Time from an upload (its uploaded_at) to the action on it being taken, by action.",
			// Seconds for automatic takedowns, up to days through review.
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 7 * 24 * 3600},
		}, []string{"action"}),
	}
	m.reg.MustRegister(m.webhookCalls, m.webhookSeconds, m.actions, m.uploadToAction)
	// The failure series exist at 0 from the start, so the failure panels
	// and alerts read 0 on a healthy platform rather than "no data". 408 and
	// 429 are retried like 5xx: failed with 4xx.
	for _, s := range [][2]string{{"ok", "2xx"}, {"failed", "none"}, {"failed", "4xx"}, {"failed", "5xx"}, {"refused", "4xx"}} {
		m.webhookCalls.WithLabelValues(s[0], s[1])
	}
	return m
}

// webhookAttempt is the webhook client's OnAttempt.
func (m *enforcerMetrics) webhookAttempt(ctx context.Context, took time.Duration, err error) {
	outcome, class := "ok", "2xx"
	if err != nil {
		outcome, class = "failed", "none"
		var se *webhook.StatusError
		if errors.As(err, &se) {
			class = strconv.Itoa(se.Code/100) + "xx"
			if se.Permanent() {
				outcome = "refused"
			}
		}
	}
	m.webhookCalls.WithLabelValues(outcome, class).Inc()
	service.Observe(ctx, m.webhookSeconds, took.Seconds())
}

// actionTaken counts an action the platform accepted, and how long after
// its upload.
func (m *enforcerMetrics) actionTaken(ctx context.Context, action, trigger string, uploadedAt time.Time) {
	m.actions.WithLabelValues(action, trigger).Inc()
	if !uploadedAt.IsZero() {
		service.Observe(ctx, m.uploadToAction.WithLabelValues(action), max(time.Since(uploadedAt).Seconds(), 0))
	}
}
