package review

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// reviewMetrics are the replica's Prometheus metrics, served on GET /metrics
// with the process's (see service.Worker). The queue gauges are read from
// Redis at each scrape, so every replica reports the whole queue (take max()
// across replicas); the counters count what this replica did.
type reviewMetrics struct {
	reg *prometheus.Registry

	decisions     *prometheus.CounterVec
	claims        prometheus.Counter
	assignments   prometheus.Counter
	leaseExpiries prometheus.Counter
	authRefused   *prometheus.CounterVec
	feedback      *prometheus.CounterVec
	rebuilds      *prometheus.CounterVec
	requests      *prometheus.CounterVec
}

// scrapeTimeout bounds the Redis reads of one scrape.
const scrapeTimeout = 2 * time.Second

func newCounterVec(r *prometheus.Registry, name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	r.MustRegister(c)
	return c
}

func newCounter(r *prometheus.Registry, name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	r.MustRegister(c)
	return c
}

func newReviewMetrics(s *Service) *reviewMetrics {
	r := prometheus.NewRegistry()
	m := &reviewMetrics{
		reg: r,
		decisions: newCounterVec(r, "takedown_review_decisions_total",
			"Decisions recorded by this replica, by outcome and kind (decision, or overturn by a lead).", "decision", "kind"),
		claims:        newCounter(r, "takedown_review_claims_total", "Items claimed through this replica."),
		assignments:   newCounter(r, "takedown_review_assignments_total", "Items a lead assigned to a reviewer through this replica."),
		leaseExpiries: newCounter(r, "takedown_review_lease_expiries_total", "Claims whose lease ran out before a decision (returned to the queue or taken over)."),
		authRefused:   newCounterVec(r, "takedown_review_auth_refused_total", "Requests refused for their token (missing, invalid, role, identity, csrf).", "reason"),
		feedback:      newCounterVec(r, "takedown_review_feedback_updates_total", "Bank updates published from decisions, by bank and op.", "bank", "op"),
		rebuilds:      newCounterVec(r, "takedown_review_rebuilds_total", "Rebuilds of the queue from Kafka after Redis lost it, by outcome.", "outcome"),
		requests:      newCounterVec(r, "takedown_review_requests_total", "review.requested events handled, by result (queued, duplicate).", "result"),
	}
	r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "takedown_review_rebuilding",
		Help: "1 while this replica rebuilds the queue from Kafka."}, func() float64 {
		if s.rebuilding.Load() {
			return 1
		}
		return 0
	}))
	r.MustRegister(queueCollector{s})
	return m
}

var (
	queueItemsDesc = prometheus.NewDesc("takedown_review_queue_items",
		"Review items by effective state (an expired lease counts as pending); the whole queue, as every replica sees it.", []string{"state"}, nil)
	pendingBandDesc = prometheus.NewDesc("takedown_review_pending_items",
		"Items waiting in the pending queue by priority band: incident bank or not, and the bank's severity (expired leases not included); the whole queue, as every replica sees it.",
		[]string{"incident", "severity"}, nil)
	oldestAgeDesc = prometheus.NewDesc("takedown_review_oldest_pending_age_seconds",
		"Age of the oldest item waiting in the pending queue (0 when it is empty); the whole queue, as every replica sees it.", nil, nil)
	scrapeFailedDesc = prometheus.NewDesc("takedown_review_queue_scrape_failed",
		"1 when the last scrape could not read the queue from Redis.", nil, nil)
)

// queueCollector reads the queue from Redis at each scrape. When Redis
// fails only takedown_review_queue_scrape_failed is reported, so that no
// stale depth looks current.
type queueCollector struct{ s *Service }

func (c queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueItemsDesc
	ch <- pendingBandDesc
	ch <- oldestAgeDesc
	ch <- scrapeFailedDesc
}

func (c queueCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	st, err := s.store.stats(ctx)
	var oldest, now time.Time
	if err == nil {
		oldest, now, err = s.store.oldestPending(ctx)
	}
	var bands []pendingBand
	if err == nil {
		bands, err = s.store.pendingBands(ctx)
	}
	if err != nil {
		s.log.Warn("metrics: reading the queue", "err", err)
		ch <- prometheus.MustNewConstMetric(scrapeFailedDesc, prometheus.GaugeValue, 1)
		return
	}
	ch <- prometheus.MustNewConstMetric(scrapeFailedDesc, prometheus.GaugeValue, 0)
	ch <- prometheus.MustNewConstMetric(queueItemsDesc, prometheus.GaugeValue, float64(st.Pending), StatePending)
	ch <- prometheus.MustNewConstMetric(queueItemsDesc, prometheus.GaugeValue, float64(st.Claimed), StateClaimed)
	ch <- prometheus.MustNewConstMetric(queueItemsDesc, prometheus.GaugeValue, float64(st.Decided), StateDecided)
	for _, b := range bands {
		ch <- prometheus.MustNewConstMetric(pendingBandDesc, prometheus.GaugeValue, float64(b.Items), strconv.FormatBool(b.Incident), b.Severity)
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(now.Sub(oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(oldestAgeDesc, prometheus.GaugeValue, age)
}
