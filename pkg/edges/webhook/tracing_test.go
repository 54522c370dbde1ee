package webhook

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

// The webhook call is one CLIENT span per attempt, a child of the caller's
// (the enforcer's process) span, and the platform receives its context.
func TestWebhookCallIsAClientChildSpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	otel.SetTextMapPropagator(propagation.TraceContext{})
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("traceparent")
	}))
	defer srv.Close()
	ctx, process := otel.Tracer("test").Start(context.Background(), "process media.matched")
	c := &Client{URL: srv.URL, Secret: secret}
	if _, err := c.Send(ctx, Takedown{ContentID: "c1", Action: events.ActionRemove}); err != nil {
		t.Fatal(err)
	}
	process.End()
	var call sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() != "process media.matched" {
			if call != nil {
				t.Fatalf("more than one span besides the process span: %s, %s", call.Name(), s.Name())
			}
			call = s
		}
	}
	if call == nil || call.Name() != "POST" || call.SpanKind() != trace.SpanKindClient ||
		call.Parent().SpanID() != process.SpanContext().SpanID() {
		t.Fatalf("webhook span %v, want a CLIENT POST child of the process span", call)
	}
	if want := "00-" + call.SpanContext().TraceID().String() + "-" + call.SpanContext().SpanID().String() + "-01"; got != want {
		t.Errorf("platform got traceparent %q, want %q", got, want)
	}
}
