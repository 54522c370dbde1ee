package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/platform/topics"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

func worker(t *testing.T, closed *[]string) *Worker {
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.Name("worker")
	h := NewHealth()
	mux := http.NewServeMux()
	h.Register(mux)
	return &Worker{
		Name: "test", Log: slog.New(slog.DiscardHandler), Health: h,
		HTTPAddr: "127.0.0.1:0", HTTP: mux,
		Kafka:    config.Kafka{Brokers: brokers},
		Topics:   topics.Specs(config.Common{Partitions: 1, Replication: 1}, topic),
		Consumer: messaging.ConsumerConfig{Kafka: config.Kafka{Brokers: brokers}, Group: testenv.Name("g"), Topics: []string{topic}, SessionTimeout: 6 * time.Second},
		Handle:   func(context.Context, *messaging.Message) error { return nil },
		Close: []func() error{
			func() error { *closed = append(*closed, "publisher"); return nil },
			func() error { *closed = append(*closed, "redis"); return nil },
		},
	}
}

// A worker serves its health, gets ready, and on cancellation stops and
// closes what it holds in the order given, returning nil.
func TestWorkerLifecycle(t *testing.T) {
	var closed []string
	w := worker(t, &closed)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for !w.Health.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get("http://" + w.Health.Addr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz %d while ready", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if w.Health.Ready() {
		t.Error("still ready after shutdown")
	}
	if !slices.Equal(closed, []string{"publisher", "redis"}) {
		t.Errorf("closed %v, want publisher then redis", closed)
	}
	if _, err := http.Get("http://" + w.Health.Addr() + "/healthz"); err == nil {
		t.Error("HTTP still served after shutdown")
	}
}

// A failing preflight check stops the start with its reason, and what the
// worker holds is still closed.
func TestWorkerPreflightFailure(t *testing.T) {
	var closed []string
	w := worker(t, &closed)
	w.Preflight = []func(context.Context) error{Reachable("redis at 127.0.0.1:1", func(context.Context) error {
		return errors.New("connection refused")
	})}
	err := w.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "redis at 127.0.0.1:1 is unreachable") {
		t.Fatalf("Run: %v", err)
	}
	if len(closed) != 2 {
		t.Errorf("closed %v after a failed start", closed)
	}
}

// Every service's /metrics counts the messages it dead-lettered, whether it
// has metrics of its own (matcher, review) or not (ingest, hasher,
// enforcer): the worker serves the process's registry after the service's.
func TestWorkerMetricsCountDeadLettered(t *testing.T) {
	for _, own := range []bool{false, true} {
		t.Run(map[bool]string{false: "no registry", true: "own registry"}[own], func(t *testing.T) {
			var closed []string
			w := worker(t, &closed)
			if own {
				reg := prometheus.NewRegistry()
				c := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_service_own_total", Help: "A service's own metric."})
				reg.MustRegister(c)
				c.Inc()
				w.Metrics = reg
			}
			k := w.Kafka
			topic := w.Consumer.Topics[0]
			dlq := testenv.Name("worker-dlq")
			w.Topics = topics.Specs(config.Common{Partitions: 1, Replication: 1}, topic, dlq)
			pub := messaging.NewKafkaPublisher(k)
			t.Cleanup(func() { _ = pub.Close() })
			w.Handle = messaging.Chain(func(context.Context, *messaging.Message) error {
				return messaging.Permanentf("malformed")
			}, messaging.Standard(w.Log, w.Consumer.Group, pub, dlq, messaging.RetryConfig{})...)
			stop := testenv.Run(t, "worker", w.Run, w.Health.Ready)
			defer stop()
			testenv.Publish(t, k, messaging.Message{Topic: topic, Key: []byte("k"), Value: []byte("{")},
				messaging.Message{Topic: topic, Key: []byte("k"), Value: []byte("[")})
			testenv.ReadTopic(t, k, dlq, 2)
			// client_golang writes label names sorted.
			want := fmt.Sprintf(`takedown_messages_dead_lettered_total{group=%q,topic=%q} 2`, w.Consumer.Group, topic)
			var page string
			testenv.WaitFor(t, 10*time.Second, "the dead-letter count on /metrics", func() bool {
				resp, err := http.Get("http://" + w.Health.Addr() + "/metrics")
				if err != nil {
					return false
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				page = string(b)
				return resp.StatusCode == http.StatusOK && strings.Contains(page, want)
			})
			if own && !strings.Contains(page, "test_service_own_total 1") {
				t.Errorf("the service's own metrics are gone from /metrics:\n%s", page)
			}
			if !strings.Contains(page, "# TYPE takedown_messages_dead_lettered_total counter") {
				t.Errorf("no TYPE line:\n%s", page)
			}
		})
	}
}

// With TAKEDOWN_CREATE_TOPICS=false a worker creates no topic: one missing
// stops the start with the names of the missing topics and the command that
// creates them, and leaves it missing; with every topic there it starts.
func TestWorkerTopicsMustExist(t *testing.T) {
	var closed []string
	w := worker(t, &closed)
	w.TopicsMustExist = true
	consumed := w.Consumer.Topics[0]
	missing := testenv.Name("worker-missing")
	w.Topics = topics.Specs(config.Common{Partitions: 1, Replication: 1}, consumed, missing)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := w.Run(ctx)
	if !errors.Is(err, ErrTopicsMissing) {
		t.Fatalf("Run with topics missing: %v; want ErrTopicsMissing", err)
	}
	for _, want := range []string{consumed, missing, "takedownctl topics create", "TAKEDOWN_CREATE_TOPICS=false"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	have, err := messaging.PartitionCounts(ctx, w.Kafka, consumed, missing)
	if err != nil {
		t.Fatal(err)
	}
	if len(have) != 0 {
		t.Fatalf("the worker created topics %v though it may not", have)
	}
	if len(closed) != 2 {
		t.Errorf("closed %v after a refused start", closed)
	}

	// Made by someone else (takedownctl topics create): only the one still
	// missing is named.
	if err := messaging.EnsureTopics(ctx, w.Kafka, topics.Specs(config.Common{Partitions: 1, Replication: 1}, consumed)...); err != nil {
		t.Fatal(err)
	}
	closed = nil
	err = w.Run(ctx)
	if !errors.Is(err, ErrTopicsMissing) || strings.Contains(err.Error(), consumed) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Run with %s missing: %v", missing, err)
	}

	if err := messaging.EnsureTopics(ctx, w.Kafka, topics.Specs(config.Common{Partitions: 1, Replication: 1}, missing)...); err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, "worker", w.Run, w.Health.Ready)
}
