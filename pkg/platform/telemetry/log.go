package telemetry

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Log keys of the span a line was written in, as the OTel log data model
// names them.
const (
	LogTraceID = "trace_id"
	LogSpanID  = "span_id"
)

// logHandler adds the trace and span ids of the record's context, or else
// of the context it is bound to, to every record.
type logHandler struct {
	h     slog.Handler
	bound context.Context // nil: only the record's context
}

// LogHandler wraps h so that every record written with a context holding a
// valid span (log.InfoContext(ctx, ...)) carries trace_id and span_id.
func LogHandler(h slog.Handler) slog.Handler {
	if t, ok := h.(*logHandler); ok {
		return t
	}
	return &logHandler{h: h}
}

// WithContext returns l bound to ctx: its records carry the ids of ctx's
// span even when written without a context (log.Info), so a handler's
// logger ties every line it writes to the message or request being handled.
// A record's own context, when it holds a span, still wins: it is the more
// precise one.
func WithContext(l *slog.Logger, ctx context.Context) *slog.Logger {
	h := l.Handler()
	if t, ok := h.(*logHandler); ok {
		h = t.h
	}
	return slog.New(&logHandler{h: h, bound: ctx})
}

func (t *logHandler) Enabled(ctx context.Context, lv slog.Level) bool { return t.h.Enabled(ctx, lv) }

func (t *logHandler) Handle(ctx context.Context, r slog.Record) error {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() && t.bound != nil {
		sc = trace.SpanContextFromContext(t.bound)
	}
	if sc.IsValid() {
		r.AddAttrs(slog.String(LogTraceID, sc.TraceID().String()), slog.String(LogSpanID, sc.SpanID().String()))
	}
	return t.h.Handle(ctx, r)
}

func (t *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logHandler{h: t.h.WithAttrs(attrs), bound: t.bound}
}

func (t *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{h: t.h.WithGroup(name), bound: t.bound}
}
