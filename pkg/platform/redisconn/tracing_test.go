package redisconn_test

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/takedown-pipeline/takedown/pkg/platform/redisconn"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// A command run while handling something (inside a span) gets a CLIENT
// span, a child of that span, named by the command and without its
// arguments; one run outside any span gets none.
func TestCommandsGetSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	c, err := redisconn.New(testenv.RedisTLS(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	key := testenv.Name("traced")
	bg := context.Background()
	if err := c.Set(bg, key, "background", 0).Err(); err != nil {
		t.Fatal(err)
	}
	ctx, parent := otel.Tracer("test").Start(bg, "process")
	if err := c.Set(ctx, key, "secret-value", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}
	parent.End()
	c.Del(bg, key)

	var names []string
	for _, s := range rec.Ended() {
		if s.Name() == "process" {
			continue
		}
		names = append(names, s.Name())
		if s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanKind() != trace.SpanKindClient {
			t.Errorf("span %s: parent %s kind %v, want a CLIENT child of the process span", s.Name(), s.Parent().SpanID(), s.SpanKind())
		}
		for _, a := range s.Attributes() {
			if strings.Contains(a.Value.String(), "secret-value") {
				t.Errorf("span %s holds the command's arguments: %s=%s", s.Name(), a.Key, a.Value.String())
			}
		}
	}
	if len(names) != 2 || names[0] != "set" || names[1] != "get" {
		t.Fatalf("spans %v, want [set get] (the ones inside the process span)", names)
	}
}
