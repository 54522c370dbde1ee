package review

import (
	"context"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/metrics"
)

// reviewMetrics are the replica's Prometheus metrics, served on GET /metrics.
// The queue gauges are read from Redis at each scrape, so every replica
// reports the whole queue; the counters count what this replica did.
type reviewMetrics struct {
	reg *metrics.Registry

	items       *metrics.GaugeVec
	oldestAge   *metrics.Gauge
	scrapeError *metrics.Gauge

	decisions     *metrics.CounterVec
	claims        *metrics.Counter
	assignments   *metrics.Counter
	leaseExpiries *metrics.Counter
	authRefused   *metrics.CounterVec
	feedback      *metrics.CounterVec
	rebuilds      *metrics.CounterVec
	requests      *metrics.CounterVec
}

// scrapeTimeout bounds the Redis reads of one scrape.
const scrapeTimeout = 2 * time.Second

func newReviewMetrics(s *Service) *reviewMetrics {
	r := metrics.NewRegistry()
	m := &reviewMetrics{
		reg:   r,
		items: r.NewGaugeVec("takedown_review_queue_items", "Review items by effective state (an expired lease counts as pending).", "state"),
		oldestAge: r.NewGauge("takedown_review_oldest_pending_age_seconds",
			"Age of the oldest item waiting in the pending queue (0 when it is empty)."),
		scrapeError: r.NewGauge("takedown_review_queue_scrape_failed", "1 when the last scrape could not read the queue from Redis."),
		decisions: r.NewCounterVec("takedown_review_decisions_total",
			"Decisions recorded by this replica, by outcome and kind (decision, or overturn by a lead).", "decision", "kind"),
		claims:        r.NewCounter("takedown_review_claims_total", "Items claimed through this replica."),
		assignments:   r.NewCounter("takedown_review_assignments_total", "Items a lead assigned to a reviewer through this replica."),
		leaseExpiries: r.NewCounter("takedown_review_lease_expiries_total", "Claims whose lease ran out before a decision (returned to the queue or taken over)."),
		authRefused:   r.NewCounterVec("takedown_review_auth_refused_total", "Requests refused for their token (missing, invalid, role, identity, csrf).", "reason"),
		feedback:      r.NewCounterVec("takedown_review_feedback_updates_total", "Bank updates published from decisions, by bank and op.", "bank", "op"),
		rebuilds:      r.NewCounterVec("takedown_review_rebuilds_total", "Rebuilds of the queue from Kafka after Redis lost it, by outcome.", "outcome"),
		requests:      r.NewCounterVec("takedown_review_requests_total", "review.requested events handled, by result (queued, duplicate).", "result"),
	}
	r.GaugeFunc("takedown_review_rebuilding", "1 while this replica rebuilds the queue from Kafka.", func() float64 {
		if s.rebuilding.Load() {
			return 1
		}
		return 0
	})
	r.BeforeWrite(func() {
		ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
		defer cancel()
		st, err := s.store.stats(ctx)
		var oldest, now time.Time
		if err == nil {
			oldest, now, err = s.store.oldestPending(ctx)
		}
		if err != nil {
			s.log.Warn("metrics: reading the queue", "err", err)
			m.scrapeError.Set(1)
			return
		}
		m.scrapeError.Set(0)
		m.items.With(StatePending).Set(float64(st.Pending))
		m.items.With(StateClaimed).Set(float64(st.Claimed))
		m.items.With(StateDecided).Set(float64(st.Decided))
		age := 0.0
		if !oldest.IsZero() {
			age = max(now.Sub(oldest).Seconds(), 0)
		}
		m.oldestAge.Set(age)
	})
	return m
}
