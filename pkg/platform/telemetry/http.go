package telemetry

import (
	"net/http"
	"strings"

	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
)

// untraced are the probe and scrape paths: called every few seconds by
// Kubernetes and Prometheus, their spans would drown the rest.
var untraced = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

func traced(r *http.Request) bool { return !untraced[r.URL.Path] }

// HTTP wraps an API handler with otelhttp's SERVER span per request, named
// by the ServeMux pattern that matched ("POST /v1/uploads"), with the
// semantic-convention attributes. A caller's W3C traceparent header is
// honoured, so a platform's own upload trace continues into the pipeline.
// Health probes and metric scrapes are not traced.
func HTTP(h http.Handler) http.Handler {
	return otelhttp.NewHandler(withRoute(h), "http", otelhttp.WithFilter(traced))
}

// withRoute sets http.route on the request's span once h has routed it:
// otelhttp names the span by the ServeMux pattern but leaves the attribute,
// by which dashboards and trace searches group requests, unset.
func withRoute(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		// ServeMux records the pattern on the request it was given.
		if r.Pattern == "" {
			return
		}
		route := r.Pattern
		if _, path, ok := strings.Cut(route, " "); ok {
			route = path // "POST /v1/uploads": the method is an attribute of its own
		}
		if i := strings.Index(route, "/"); i > 0 {
			route = route[i:] // a host in the pattern is not part of the route
		}
		trace.SpanFromContext(r.Context()).SetAttributes(semconv.HTTPRoute(route))
	})
}

// Transport wraps an HTTP client transport (nil: the default) with
// otelhttp's CLIENT span per request, named by the method as the HTTP
// conventions say (otelhttp's default is "HTTP POST"); the span's context is
// sent along in the request headers.
func Transport(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return otelhttp.NewTransport(rt, otelhttp.WithSpanNameFormatter(clientSpanName))
}

func clientSpanName(_ string, r *http.Request) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return r.Method
	}
	return "HTTP"
}
