package service

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/takedown-pipeline/takedown/pkg/platform/telemetry"
)

// buildInfo is takedown_build_info, on the process's default registry.
var buildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "takedown_build_info",
	Help: "Always 1; its labels name the service and the build running it.",
}, []string{"service", "version", "goversion", "revision"})

var registerOnce sync.Once

// registerProcessMetrics puts on the default registry what every service
// exports besides its own metrics: Go runtime and process collectors (the
// client registers both there by default; done again in case a test or a
// future change unregistered them) and build info for name.
func registerProcessMetrics(name string) {
	registerOnce.Do(func() {
		prometheus.MustRegister(buildInfo)
		for _, c := range []prometheus.Collector{
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		} {
			if err := prometheus.Register(c); err != nil {
				var already prometheus.AlreadyRegisteredError
				if !errors.As(err, &already) {
					panic(err)
				}
			}
		}
	})
	version, revision := telemetry.Build()
	buildInfo.WithLabelValues(name, version, runtime.Version(), revision).Set(1)
}

// MetricsHandler serves the service's own metrics (own may be nil) and the
// process's (prometheus.DefaultGatherer: messaging's RED metrics, Go runtime,
// process, build info) on one page. OpenMetrics is offered because only it
// carries the exemplars that link a latency bucket to a trace; Prometheus
// asks for it, and other scrapers get the text format.
func MetricsHandler(own prometheus.Gatherer) http.Handler {
	g := prometheus.Gatherers{prometheus.DefaultGatherer}
	if own != nil {
		g = prometheus.Gatherers{own, prometheus.DefaultGatherer}
	}
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{EnableOpenMetrics: true, ErrorHandling: promhttp.ContinueOnError})
}

// withMetrics serves GET /metrics with MetricsHandler(own); other paths go
// to h untouched.
func withMetrics(h http.Handler, own prometheus.Gatherer) http.Handler {
	m := MetricsHandler(own)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			m.ServeHTTP(w, r)
			return
		}
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Observe records seconds on a latency histogram with the trace id of ctx's
// span as an exemplar, so that a slow bucket on a dashboard links to a trace.
func Observe(ctx context.Context, h prometheus.Observer, seconds float64) {
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		if e, ok := h.(prometheus.ExemplarObserver); ok {
			e.ObserveWithExemplar(seconds, prometheus.Labels{"trace_id": sc.TraceID().String()})
			return
		}
	}
	h.Observe(seconds)
}
