package service

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/platform/topics"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// The RED metrics messaging.Standard keeps move for a message handled at
// once, one that fails, is retried in process, fails again and is handled on
// redelivery, and one dead-lettered; the duration histogram carries the
// trace id as an exemplar; and the whole page passes promlint.
func TestWorkerREDMetrics(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() {
		otel.SetTracerProvider(prevTP)
		otel.SetTextMapPropagator(prevProp)
		_ = tp.Shutdown(context.Background())
	})

	var closed []string
	w := worker(t, &closed)
	k := w.Kafka
	topic, group := w.Consumer.Topics[0], w.Consumer.Group
	dlq := testenv.Name("worker-dlq")
	w.Topics = topics.Specs(config.Common{Partitions: 1, Replication: 1}, topic, dlq)
	pub := messaging.NewKafkaPublisher(k)
	t.Cleanup(func() { _ = pub.Close() })
	var mu sync.Mutex
	failures := 0
	w.Handle = messaging.Chain(func(_ context.Context, msg *messaging.Message) error {
		switch string(msg.Key) {
		case "bad":
			return messaging.Permanentf("malformed")
		case "flaky":
			mu.Lock()
			defer mu.Unlock()
			if failures < 2 {
				failures++
				return errors.New("a dependency is down")
			}
		}
		return nil
	}, messaging.Standard(w.Log, group, pub, dlq, messaging.RetryConfig{MaxAttempts: 2, InitialBackoff: 10 * time.Millisecond})...)
	stop := testenv.Run(t, "worker", w.Run, w.Health.Ready)
	defer stop()
	testenv.Publish(t, k, messaging.Message{Topic: topic, Key: []byte("good"), Value: []byte("{}")},
		messaging.Message{Topic: topic, Key: []byte("flaky"), Value: []byte("{}")},
		messaging.Message{Topic: topic, Key: []byte("bad"), Value: []byte("{}")})

	l := map[string]string{"topic": topic, "group": group}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for a, b := range l {
			m[a] = b
		}
		return m
	}
	want := []struct {
		name   string
		labels map[string]string
		v      float64
	}{
		{"takedown_messages_handled_total", with("outcome", messaging.OutcomeOK), 2},
		{"takedown_messages_handled_total", with("outcome", messaging.OutcomeRetried), 1},
		{"takedown_messages_handled_total", with("outcome", messaging.OutcomeDeadLettered), 1},
		// Two failed attempts at the flaky message were followed by
		// another: the in-process retry, then the redelivery.
		{"takedown_message_retries_total", l, 2},
		{"takedown_message_handling_duration_seconds", l, 4},
		{"takedown_messages_dead_lettered_total", l, 1},
		{"takedown_messages_in_flight", l, 0},
		{"takedown_consumer_lag", with("partition", "0"), 0},
	}
	var page string
	testenv.WaitFor(t, 20*time.Second, "the RED metrics on /metrics", func() bool {
		page = testenv.Scrape(t, w.Health.Addr())
		for _, m := range want {
			if v, ok := testenv.Metric(t, page, m.name, m.labels); !ok || v != m.v {
				return false
			}
		}
		return true
	})
	for _, m := range []string{"takedown_build_info", "go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := testenv.Metric(t, page, m, nil); !ok {
			t.Errorf("%s missing from /metrics", m)
		}
	}
	if v, _ := testenv.Metric(t, page, "takedown_build_info", map[string]string{"service": "test"}); v != 1 {
		t.Errorf("takedown_build_info{service=test} = %v, want 1", v)
	}
	lint(t, page)

	om := testenv.ScrapeOpenMetrics(t, w.Health.Addr())
	found := false
	for _, line := range strings.Split(om, "\n") {
		if strings.HasPrefix(line, "takedown_message_handling_duration_seconds_bucket{") && strings.Contains(line, topic) &&
			strings.Contains(line, `# {trace_id="`) {
			found = true
		}
	}
	if !found {
		t.Errorf("no trace_id exemplar on takedown_message_handling_duration_seconds:\n%s", om)
	}
}

// lint fails t on every problem promlint finds in a /metrics page.
func lint(t *testing.T, page string) {
	t.Helper()
	problems, err := promlint.New(strings.NewReader(page)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
