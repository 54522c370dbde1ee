package redisconn

import (
	"context"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// instrument adds go-redis's OTel hook to c: a CLIENT span per command or
// pipeline, named by the command, with the server's address. Command
// arguments are left out of the spans: they hold review items, bank
// entries and idempotency records, which have no place in a tracing
// backend. Only commands run inside a span are traced (childOnly).
func instrument(c *redis.Client) error {
	return redisotel.InstrumentTracing(c,
		redisotel.WithTracerProvider(childOnly{}),
		redisotel.WithDBStatement(false))
}

// childOnly is the global tracer provider, except that a span with no
// parent is not started. A service's background Redis work (leases, queue
// gauges, cache refreshes) runs every second or so outside any message or
// request; each command would otherwise be a trace of its own that buries
// the uploads' traces. Commands made while handling a message or a request
// are traced as children of its span.
type childOnly struct{ embedded.TracerProvider }

func (childOnly) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return childOnlyTracer{t: otel.GetTracerProvider().Tracer(name, opts...)}
}

type childOnlyTracer struct {
	embedded.Tracer
	t trace.Tracer
}

func (c childOnlyTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		// The context's own span: the non-recording no-op one.
		return ctx, trace.SpanFromContext(ctx)
	}
	return c.t.Start(ctx, name, opts...)
}
