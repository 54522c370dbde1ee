package telemetry

import (
	"net/http"

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
	return otelhttp.NewHandler(h, "http", otelhttp.WithFilter(traced))
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
