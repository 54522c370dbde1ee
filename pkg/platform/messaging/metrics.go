package messaging

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// The RED metrics of every consumer, on the process's default registry (the
// one pkg/platform/service serves on every service's /metrics), labelled by the topic
// consumed and the consumer group, so that all five services are measured
// the same way and one dashboard covers them.
var (
	handledTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "takedown_messages_handled_total",
		Help: "Deliveries of consumed messages by outcome: ok, retried (failed; the consumer retries it) or dead_lettered.",
	}, []string{"topic", "group", "outcome"})
	handlingSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "takedown_message_handling_duration_seconds",
		Help: "Time to handle one delivery of a consumed message, in-process retries included.",
		// From a cache hit to a video decoded after a slow fetch.
		Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
	}, []string{"topic", "group"})
	retriesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "takedown_message_retries_total",
		Help: "Failed attempts at a consumed message that were followed by another (in-process retries and redeliveries).",
	}, []string{"topic", "group"})
	inFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "takedown_messages_in_flight",
		Help: "Consumed messages being handled right now.",
	}, []string{"topic", "group"})
	consumerLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "takedown_consumer_lag",
		Help: "Records on the partition after the last one this member fetched, as of that fetch.",
	}, []string{"topic", "group", "partition"})
	deadLettered = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "takedown_messages_dead_lettered_total",
		Help: "Messages sent to a dead-letter topic, by the topic they were consumed from and the consumer group.",
	}, []string{"topic", "group"})
)

func init() {
	prometheus.MustRegister(handledTotal, handlingSeconds, retriesTotal, inFlight, consumerLag, deadLettered)
}

// Outcomes of takedown_messages_handled_total.
const (
	OutcomeOK           = "ok"
	OutcomeRetried      = "retried"
	OutcomeDeadLettered = "dead_lettered"
)

// delivery is what Metrics learns from the middleware inside it about one
// delivery: its group, and whether DeadLetter parked it.
type delivery struct {
	group        string
	deadLettered bool
}

type deliveryKey struct{}

func deliveryOf(ctx context.Context) *delivery {
	d, _ := ctx.Value(deliveryKey{}).(*delivery)
	return d
}

// Metrics counts every delivery of a consumed message by outcome, times it
// (with the trace id as an exemplar, so a latency spike on a dashboard leads
// to a trace) and keeps the in-flight gauge. Put it inside Tracing, whose span
// gives the exemplar, and outside DeadLetter and Retry, which report to it
// through the context.
func Metrics(group string) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, msg *Message) error {
			d := &delivery{group: group}
			g := inFlight.WithLabelValues(msg.Topic, group)
			g.Inc()
			start := time.Now()
			err := next(context.WithValue(ctx, deliveryKey{}, d), msg)
			elapsed := time.Since(start).Seconds()
			g.Dec()
			obs := handlingSeconds.WithLabelValues(msg.Topic, group)
			if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
				obs.(prometheus.ExemplarObserver).ObserveWithExemplar(elapsed, prometheus.Labels{"trace_id": sc.TraceID().String()})
			} else {
				obs.Observe(elapsed)
			}
			outcome := OutcomeOK
			switch {
			case err != nil:
				// The consumer retries a message whose handler failed.
				outcome = OutcomeRetried
				retriesTotal.WithLabelValues(msg.Topic, group).Inc()
			case d.deadLettered:
				outcome = OutcomeDeadLettered
			}
			handledTotal.WithLabelValues(msg.Topic, group, outcome).Inc()
			return err
		}
	}
}

// initSeries makes the counters and the in-flight gauge of group's topics
// exist at zero from the start, so that a rate or an increase over them (the
// dashboards' dead-letter panels, the alerts) is 0, not absent, until the
// first message; an absent series reads on a dashboard as "no data", which
// an SRE cannot tell from a broken scrape.
func initSeries(group string, topics []string) {
	for _, topic := range topics {
		for _, outcome := range []string{OutcomeOK, OutcomeRetried, OutcomeDeadLettered} {
			handledTotal.WithLabelValues(topic, group, outcome)
		}
		retriesTotal.WithLabelValues(topic, group)
		deadLettered.WithLabelValues(topic, group)
		inFlight.WithLabelValues(topic, group)
	}
}

// countRetry counts an in-process retry of msg, when Metrics is outside.
func countRetry(ctx context.Context, msg *Message) {
	if d := deliveryOf(ctx); d != nil {
		retriesTotal.WithLabelValues(msg.Topic, d.group).Inc()
	}
}

// observeLag records how far behind the end of its partition a fetched
// message is: the high watermark the fetch saw, less the records up to it.
func observeLag(group, topic string, partition int, highWaterMark, offset int64) {
	consumerLag.WithLabelValues(topic, group, strconv.Itoa(partition)).Set(float64(max(highWaterMark-offset-1, 0)))
}

// forgetLag drops the lag series of the partitions a consumer fetched from,
// when it stops: another member reports them now.
func forgetLag(group string, parts []partition) {
	for _, p := range parts {
		consumerLag.DeleteLabelValues(p.topic, group, strconv.Itoa(p.id))
	}
}
