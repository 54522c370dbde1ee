package messaging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/platform/telemetry"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// syncBuffer is a log sink the consumer's goroutines can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Split(bytes.TrimSpace(s.b.Bytes()), []byte("\n"))
}

func attr(s sdktrace.ReadOnlySpan, k attribute.Key) (attribute.Value, bool) {
	for _, a := range s.Attributes() {
		if a.Key == k {
			return a.Value, true
		}
	}
	return attribute.Value{}, false
}

// A line a handler logs through messaging.Log(ctx), without passing ctx
// itself, carries the trace and span ids of the message's process span;
// the process and send spans name the broker and the consumer's client id.
func TestLogLinesAndSpansOfATracedMessage(t *testing.T) {
	f := newFixture(t)
	ctx, span := otel.Tracer("test").Start(context.Background(), "upload")
	traceID := span.SpanContext().TraceID()
	if err := f.pub.Publish(ctx, messaging.Message{Topic: f.topic, Key: []byte("logged"), Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	span.End()

	var out syncBuffer
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(&out, nil)))
	c := messaging.NewConsumer(messaging.ConsumerConfig{Kafka: config.Kafka{Brokers: f.brokers}, Group: f.group,
		Topics: []string{f.topic}, SessionTimeout: 6 * time.Second, InstanceID: "replica-0",
		Logger: slog.New(slog.DiscardHandler)})
	h := func(ctx context.Context, m *messaging.Message) error {
		messaging.Log(ctx).Info("handled", "mark", "correlated")
		return nil
	}
	mw := messaging.Standard(log, f.group, f.pub, f.dlq, messaging.RetryConfig{})
	stop := testenv.Run(t, "consumer", func(ctx context.Context) error { return c.Run(ctx, messaging.Chain(h, mw...)) }, c.Running)
	testenv.WaitFor(t, 30*time.Second, "the message to be handled", func() bool {
		for _, s := range spans.Ended() {
			if s.Name() == "process "+f.topic && s.SpanContext().TraceID() == traceID {
				return true
			}
		}
		return false
	})
	stop()

	var process, send sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		if s.SpanContext().TraceID() != traceID {
			continue
		}
		switch s.Name() {
		case "process " + f.topic:
			process = s
		case "send " + f.topic:
			send = s
		}
	}
	if process == nil || send == nil {
		t.Fatalf("process span %v, send span %v", process, send)
	}

	var line map[string]any
	for _, l := range out.lines() {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err == nil && m["mark"] == "correlated" {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("the handler's line is not in the log: %q", out.lines())
	}
	if line["trace_id"] != traceID.String() || line["span_id"] != process.SpanContext().SpanID().String() {
		t.Errorf("log line has trace_id %v span_id %v, want the process span's %s %s",
			line["trace_id"], line["span_id"], traceID, process.SpanContext().SpanID())
	}

	host, port, _ := net.SplitHostPort(f.brokers[0])
	wantPort, _ := strconv.Atoi(port)
	for _, s := range []sdktrace.ReadOnlySpan{process, send} {
		if v, _ := attr(s, semconv.ServerAddressKey); v.AsString() != host {
			t.Errorf("%s: server.address %q, want %q", s.Name(), v.AsString(), host)
		}
		if v, _ := attr(s, semconv.ServerPortKey); v.AsInt64() != int64(wantPort) {
			t.Errorf("%s: server.port %d, want %d", s.Name(), v.AsInt64(), wantPort)
		}
	}
	if v, _ := attr(process, semconv.MessagingClientIDKey); v.AsString() != "takedown/"+f.group+"/replica-0" {
		t.Errorf("process span: messaging.client.id %q, want takedown/%s/replica-0", v.AsString(), f.group)
	}
	if v, _ := attr(process, semconv.MessagingConsumerGroupNameKey); v.AsString() != f.group {
		t.Errorf("process span: consumer group %q, want %q", v.AsString(), f.group)
	}
}
