package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// These tests run against the real broker that `make test` starts.

var spans = tracetest.NewSpanRecorder()

func init() {
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
	otel.SetTextMapPropagator(propagation.TraceContext{})
}

type fixture struct {
	brokers []string
	topic   string
	dlq     string
	group   string
	pub     *messaging.KafkaPublisher
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{
		brokers: testenv.KafkaBrokers(t),
		topic:   testenv.Name("msg"),
		dlq:     testenv.Name("msg-dlq"),
		group:   testenv.Name("grp"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := messaging.EnsureTopics(ctx, config.Kafka{Brokers: f.brokers},
		messaging.TopicSpec{Name: f.topic, Partitions: 2},
		messaging.TopicSpec{Name: f.dlq}); err != nil {
		t.Fatal(err)
	}
	f.pub = messaging.NewKafkaPublisher(config.Kafka{Brokers: f.brokers})
	t.Cleanup(func() { f.pub.Close() })
	return f
}

func (f *fixture) publish(t testing.TB, keys ...string) {
	t.Helper()
	var msgs []messaging.Message
	for _, k := range keys {
		msgs = append(msgs, messaging.Message{Topic: f.topic, Key: []byte(k), Value: []byte("v-" + k)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.pub.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

// run starts a consumer in the fixture's group with the standard middleware
// and returns a function that stops it and waits for Run to return.
func (f *fixture) run(t *testing.T, h messaging.Handler) (stop func()) {
	return f.runWith(t, messaging.RetryConfig{MaxAttempts: 3, InitialBackoff: 10 * time.Millisecond, DeadLetterExhausted: true}, h)
}

func (f *fixture) runWith(t *testing.T, retry messaging.RetryConfig, h messaging.Handler) (stop func()) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	c := messaging.NewConsumer(messaging.ConsumerConfig{Kafka: config.Kafka{Brokers: f.brokers}, Group: f.group, Topics: []string{f.topic},
		SessionTimeout: 6 * time.Second, Logger: log,
	})
	mw := messaging.Standard(log, "test-service", f.pub, f.dlq, retry)
	return testenv.Run(t, "consumer", func(ctx context.Context) error { return c.Run(ctx, messaging.Chain(h, mw...)) }, c.Running)
}

// readAll reads every record of topic from the start until n records were
// read or the deadline passed.
func readAll(t testing.TB, brokers []string, topic string, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %s: got %d of %d records: %v", topic, len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

func header(m kafka.Message, key string) (string, int) {
	var v string
	n := 0
	for _, h := range m.Headers {
		if h.Key == key {
			v = string(h.Value)
			n++
		}
	}
	return v, n
}

// A poison message goes to the dead-letter topic with headers naming its
// origin and the reason, is committed, and does not hold up the others.
func TestPoisonMessageIsDeadLetteredAndCommitted(t *testing.T) {
	f := newFixture(t)
	f.publish(t, "a", "poison", "b")
	var seen sync.Map
	var handled atomic.Int32
	stop := f.run(t, func(ctx context.Context, m *messaging.Message) error {
		seen.Store(string(m.Key), true)
		if string(m.Key) == "poison" {
			return messaging.Permanentf("cannot parse %q", m.Value)
		}
		handled.Add(1)
		return nil
	})
	testenv.WaitFor(t, 30*time.Second, "two good messages", func() bool { return handled.Load() == 2 })
	dl := readAll(t, f.brokers, f.dlq, 1)[0]
	if string(dl.Key) != "poison" || string(dl.Value) != "v-poison" {
		t.Fatalf("dead letter is %q=%q", dl.Key, dl.Value)
	}
	want := map[string]string{
		messaging.HeaderDLQTopic:   f.topic,
		messaging.HeaderDLQService: "test-service",
		messaging.HeaderDLQError:   `cannot parse "v-poison"`,
	}
	for k, v := range want {
		if got, _ := header(dl, k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if off, _ := header(dl, messaging.HeaderDLQOffset); off == "" {
		t.Error("no offset header")
	}
	stop()

	// Everything was committed: a new member of the group gets nothing old,
	// only what is published now.
	var again atomic.Int32
	f.publish(t, "c")
	f.run(t, func(ctx context.Context, m *messaging.Message) error {
		if string(m.Key) != "c" {
			t.Errorf("redelivered %q after commit", m.Key)
		}
		again.Add(1)
		return nil
	})
	testenv.WaitFor(t, 30*time.Second, "the new message", func() bool { return again.Load() == 1 })
}

// A transient error is retried and then succeeds: no dead letter.
func TestTransientErrorIsRetried(t *testing.T) {
	f := newFixture(t)
	f.publish(t, "flaky")
	var calls atomic.Int32
	f.run(t, func(ctx context.Context, m *messaging.Message) error {
		if calls.Add(1) < 3 {
			return errors.New("temporarily unavailable")
		}
		return nil
	})
	testenv.WaitFor(t, 30*time.Second, "third attempt", func() bool { return calls.Load() == 3 })
	time.Sleep(200 * time.Millisecond)
	if n := calls.Load(); n != 3 {
		t.Fatalf("handler called %d times, want 3", n)
	}
}

// Retries that run out send the message to the dead-letter topic with the
// attempt count.
func TestExhaustedRetriesAreDeadLettered(t *testing.T) {
	f := newFixture(t)
	f.publish(t, "down")
	f.run(t, func(ctx context.Context, m *messaging.Message) error {
		return errors.New("webhook down")
	})
	dl := readAll(t, f.brokers, f.dlq, 1)[0]
	if got, _ := header(dl, messaging.HeaderDLQAttempts); got != "3" {
		t.Errorf("attempts header %q, want 3", got)
	}
	if got, _ := header(dl, messaging.HeaderDLQError); !strings.Contains(got, "webhook down") {
		t.Errorf("error header %q", got)
	}
}

// Without DeadLetterExhausted an outage is waited out: the message is retried
// past its bounded retries, never parked, and then processed.
func TestOutageIsWaitedOutNotDeadLettered(t *testing.T) {
	f := newFixture(t)
	f.publish(t, "during-outage", "after")
	var calls atomic.Int32
	var done sync.Map
	f.runWith(t, messaging.RetryConfig{MaxAttempts: 2, InitialBackoff: 10 * time.Millisecond}, func(ctx context.Context, m *messaging.Message) error {
		if string(m.Key) == "during-outage" && calls.Add(1) <= 5 {
			return errors.New("redis: connection refused")
		}
		done.Store(string(m.Key), true)
		return nil
	})
	testenv.WaitFor(t, 30*time.Second, "both messages", func() bool {
		_, a := done.Load("during-outage")
		_, b := done.Load("after")
		return a && b
	})
	if n := calls.Load(); n < 6 {
		t.Fatalf("handler called %d times, want at least 6 (retries continued past the bounded ones)", n)
	}
	if n := testenv.EndOffset(t, f.brokers, f.dlq); n != 0 {
		t.Fatalf("%d record(s) on the dead-letter topic, want none", n)
	}
}

// A shutdown during a retry backoff hands the message back at once: it is
// neither parked on the dead-letter topic nor committed.
func TestShutdownDuringBackoffGivesMessageBack(t *testing.T) {
	f := newFixture(t)
	f.publish(t, "flaky")
	var calls atomic.Int32
	stop := f.runWith(t, messaging.RetryConfig{MaxAttempts: 5, InitialBackoff: time.Minute, DeadLetterExhausted: true},
		func(ctx context.Context, m *messaging.Message) error {
			calls.Add(1)
			return errors.New("media host down")
		})
	testenv.WaitFor(t, 30*time.Second, "first attempt", func() bool { return calls.Load() == 1 })
	began := time.Now()
	stop()
	if d := time.Since(began); d > 20*time.Second {
		t.Fatalf("shutdown took %s: it waited out the backoff", d)
	}
	if n := testenv.EndOffset(t, f.brokers, f.dlq); n != 0 {
		t.Fatalf("%d dead letter(s), want none", n)
	}
	var again atomic.Bool
	f.run(t, func(ctx context.Context, m *messaging.Message) error {
		again.Store(string(m.Key) == "flaky")
		return nil
	})
	testenv.WaitFor(t, 30*time.Second, "redelivery after restart", again.Load)
}

// On shutdown the message in hand finishes and is committed; it is not
// delivered again to the next member.
func TestShutdownFinishesInFlightWork(t *testing.T) {
	f := newFixture(t)
	f.publish(t, "slow")
	started := make(chan struct{})
	var finished atomic.Bool
	stop := f.run(t, func(ctx context.Context, m *messaging.Message) error {
		close(started)
		time.Sleep(500 * time.Millisecond)
		if ctx.Err() != nil {
			return fmt.Errorf("handler context cancelled by shutdown: %w", ctx.Err())
		}
		finished.Store(true)
		return nil
	})
	<-started
	stop() // while the handler sleeps
	if !finished.Load() {
		t.Fatal("in-flight message was not finished before Run returned")
	}
	var redelivered atomic.Int32
	f.publish(t, "next")
	var next atomic.Bool
	f.run(t, func(ctx context.Context, m *messaging.Message) error {
		if string(m.Key) == "slow" {
			redelivered.Add(1)
		} else {
			next.Store(true)
		}
		return nil
	})
	testenv.WaitFor(t, 30*time.Second, "next message", next.Load)
	if redelivered.Load() != 0 {
		t.Fatal("the finished message was delivered again")
	}
}

// A message that could not be processed nor dead-lettered is not committed:
// after a restart it comes again.
func TestUnprocessedMessageIsRedeliveredAfterRestart(t *testing.T) {
	f := newFixture(t)
	f.publish(t, "stuck")
	brokenDLQ := messaging.NewKafkaPublisher(config.Kafka{Brokers: []string{"127.0.0.1:1"}}) // nothing listens there
	defer brokenDLQ.Close()
	log := slog.New(slog.DiscardHandler)
	c := messaging.NewConsumer(messaging.ConsumerConfig{Kafka: config.Kafka{Brokers: f.brokers}, Group: f.group,
		Topics: []string{f.topic}, SessionTimeout: 6 * time.Second, Logger: log})
	var tries atomic.Int32
	h := messaging.Chain(func(ctx context.Context, m *messaging.Message) error {
		tries.Add(1)
		return messaging.Permanentf("bad")
	}, messaging.DeadLetter(brokenDLQ, f.dlq, "test", true))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, h) }()
	testenv.WaitFor(t, 30*time.Second, "first try", func() bool { return tries.Load() >= 1 })
	cancel()
	<-done

	var got atomic.Bool
	f.run(t, func(ctx context.Context, m *messaging.Message) error {
		if string(m.Key) == "stuck" {
			got.Store(true)
		}
		return nil
	})
	testenv.WaitFor(t, 30*time.Second, "redelivery of the unprocessed message", got.Load)
}

// Trace context travels in headers; re-publishing replaces traceparent
// instead of stacking a second one, and the consumer span continues the
// producer's trace.
func TestTraceContextIsReplacedNotStacked(t *testing.T) {
	f := newFixture(t)
	ctx, span := otel.Tracer("test").Start(context.Background(), "upload")
	traceID := span.SpanContext().TraceID()
	msg := messaging.Message{Topic: f.topic, Key: []byte("traced"), Value: []byte("x")}
	msg.SetHeader("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01") // stale
	if err := f.pub.Publish(ctx, msg); err != nil {
		t.Fatal(err)
	}
	span.End()
	f.run(t, func(ctx context.Context, m *messaging.Message) error {
		return messaging.Permanentf("to the dead-letter topic")
	})
	dl := readAll(t, f.brokers, f.dlq, 1)[0]
	tp, n := header(dl, "traceparent")
	if n != 1 {
		t.Fatalf("dead letter has %d traceparent headers, want 1", n)
	}
	if !strings.Contains(tp, traceID.String()) {
		t.Fatalf("traceparent %s does not continue trace %s", tp, traceID)
	}
	var process bool
	for _, s := range spans.Ended() {
		if s.Name() == "process "+f.topic && s.SpanContext().TraceID() == traceID {
			process = true
			if len(s.Links()) != 1 {
				t.Errorf("process span has %d links, want 1", len(s.Links()))
			}
		}
	}
	if !process {
		t.Fatal("no process span in the producer's trace")
	}
}
