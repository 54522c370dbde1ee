package telemetry

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

const tracerName = "github.com/takedown-pipeline/takedown/pkg/telemetry"

// HTTP wraps an API handler with a SERVER span per request. A caller's W3C
// traceparent header is honoured, so a platform's own upload trace continues
// into the pipeline. Health probes are not traced: they would drown the rest.
func HTTP(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			h.ServeHTTP(w, r)
			return
		}
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := otel.Tracer(tracerName).Start(ctx, r.Method,
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.HTTPRequestMethodKey.String(r.Method), semconv.URLPath(r.URL.Path)))
		defer span.End()
		rw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		r = r.WithContext(ctx)
		h.ServeHTTP(rw, r)
		// ServeMux records the matched pattern ("POST /v1/uploads") on the
		// request; it names the span without the ids in the path.
		if r.Pattern != "" {
			span.SetName(strings.TrimSpace(r.Pattern))
			span.SetAttributes(semconv.HTTPRoute(r.Pattern))
		}
		span.SetAttributes(attribute.Int(string(semconv.HTTPResponseStatusCodeKey), rw.code))
		if rw.code >= 500 {
			span.SetStatus(codes.Error, http.StatusText(rw.code))
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
