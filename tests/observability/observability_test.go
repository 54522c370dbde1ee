package observability

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// The rules load, and each alert fires on the series its unit test gives
// it (and stays quiet on the healthy ones).
func TestRulesCheckAndUnitTests(t *testing.T) {
	promtool := Promtool(t)
	rules, err := filepath.Glob(filepath.Join(RulesDir(), "*.rules.yaml"))
	if err != nil || len(rules) == 0 {
		t.Fatalf("no rule files in %s (%v)", RulesDir(), err)
	}
	units, err := filepath.Glob(filepath.Join(RulesDir(), "tests", "*.yaml"))
	if err != nil || len(units) == 0 {
		t.Fatalf("no rule unit tests in %s/tests (%v)", RulesDir(), err)
	}
	for _, args := range [][]string{append([]string{"check", "rules"}, rules...), append([]string{"test", "rules"}, units...)} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// Every alert rule has a unit test that expects it to fire.
func TestEveryAlertIsUnitTested(t *testing.T) {
	units, _ := filepath.Glob(filepath.Join(RulesDir(), "tests", "*.yaml"))
	var tested strings.Builder
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		tested.Write(b)
	}
	rules, _ := filepath.Glob(filepath.Join(RulesDir(), "*.rules.yaml"))
	n := 0
	for _, r := range rules {
		b, err := os.ReadFile(r)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			name, ok := strings.CutPrefix(strings.TrimSpace(line), "- alert: ")
			if !ok {
				continue
			}
			n++
			// A firing expectation names the alert and then exp_alerts.
			if !strings.Contains(tested.String(), "alertname: "+name+"\n        exp_alerts:") {
				t.Errorf("alert %s has no unit test in which it fires", name)
			}
		}
	}
	if n == 0 {
		t.Fatal("no alert rules found")
	}
}

// A real Prometheus scrapes a test's /metrics page, the instant query
// returns the page's value, the rules load and evaluate, and every
// dashboard query is one Prometheus accepts.
func TestPrometheusScrapesAndQueries(t *testing.T) {
	probe := fmt.Sprintf("probe%d", time.Now().UnixNano())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# HELP takedown_test_probe_value A value the test reads back.\n# TYPE takedown_test_probe_value gauge\ntakedown_test_probe_value{probe=%q} 42.5\n", probe)
	}))
	defer srv.Close()

	p := StartPrometheus(t, "probe="+strings.TrimPrefix(srv.URL, "http://"))
	got := p.WaitQuery(t, fmt.Sprintf("takedown_test_probe_value{probe=%q}", probe), time.Minute)
	if len(got) != 1 || got[0].Value != 42.5 || got[0].Labels["job"] != "probe" {
		t.Errorf("query answered %+v, want one sample 42.5 with job=probe", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Loaded and evaluated without error (every group evaluates each second).
	poll(t, 30*time.Second, "rule groups loaded and healthy", func(ctx context.Context) (bool, error) {
		groups, err := p.RuleGroups(ctx)
		if err != nil {
			return false, err
		}
		for _, g := range []string{"takedown.recording", "takedown.alerts"} {
			if groups[g] != "ok" {
				return false, fmt.Errorf("group %s: %q (all: %v)", g, groups[g], groups)
			}
		}
		return true, nil
	})
	queries, err := DashboardQueries()
	if err != nil || len(queries) == 0 {
		t.Fatalf("dashboard queries: %d, %v", len(queries), err)
	}
	for name, expr := range queries {
		if _, err := p.Query(ctx, expr); err != nil {
			t.Errorf("dashboard query %s: %v", name, err)
		}
	}
	if _, err := p.Query(ctx, "sum(rate(takedown_test_probe_value[5m]"); err == nil {
		t.Error("a broken query was accepted: the dashboard check above proves nothing")
	}
}

// A span exported over OTLP/HTTP with the plain OTel SDK is found in the
// real Jaeger through both query APIs, with its service, kind and parent.
func TestJaegerReceivesOTLP(t *testing.T) {
	j := StartJaeger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	service := fmt.Sprintf("takedown-obs-test-%d", time.Now().UnixNano())
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(j.OTLPHTTP+"/v1/traces"))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))),
	)
	tracer := tp.Tracer("takedown/tests/observability")
	rctx, root := tracer.Start(ctx, "POST /v1/uploads", trace.WithSpanKind(trace.SpanKindServer))
	_, child := tracer.Start(rctx, "send media.uploaded", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("messaging.destination.name", "media.uploaded")))
	child.End()
	root.End()
	traceID := root.SpanContext().TraceID().String()
	if err := tp.Shutdown(ctx); err != nil { // flushes the batch
		t.Fatal(err)
	}

	tr := j.WaitTrace(t, traceID, 2, time.Minute)
	if len(tr) != 2 {
		t.Fatalf("trace %s has %d spans, want 2:\n%s", traceID, len(tr), tr)
	}
	check := func(api string, tr Trace) {
		t.Helper()
		roots, sends := tr.Named("POST /v1/uploads", service), tr.Named("send media.uploaded", service)
		if len(roots) != 1 || len(sends) != 1 {
			t.Fatalf("%s: want one root and one send span of %s:\n%s", api, service, tr)
		}
		r, s := roots[0], sends[0]
		if r.Kind != "server" || s.Kind != "producer" {
			t.Errorf("%s: kinds %s and %s, want server and producer", api, r.Kind, s.Kind)
		}
		if r.ParentSpanID != "" {
			t.Errorf("%s: the root span has parent %s", api, r.ParentSpanID)
		}
		if parent, ok := tr.Parent(s); !ok || parent.SpanID != r.SpanID {
			t.Errorf("%s: the send span's parent is %+v, want the root span %s", api, parent, r.SpanID)
		}
		if s.Attributes["messaging.destination.name"] != "media.uploaded" {
			t.Errorf("%s: send span attributes %v lack messaging.destination.name", api, s.Attributes)
		}
		if s.SpanID != child.SpanContext().SpanID().String() || s.TraceID != traceID {
			t.Errorf("%s: send span ids %s/%s, want %s/%s", api, s.TraceID, s.SpanID, traceID, child.SpanContext().SpanID())
		}
	}
	check("v3 trace", tr)

	found, err := j.FindTraces(ctx, service, 10)
	if err != nil {
		t.Fatal(err)
	}
	check("v3 search", found)

	v1, err := j.Traces(ctx, service, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(v1) != 1 {
		t.Fatalf("v1 API: %d traces of %s, want 1", len(v1), service)
	}
	check("v1", v1[0])

	// An unknown trace is told apart from a failing API.
	_, err = j.Trace(ctx, strings.Repeat("ab", 16))
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusNotFound {
		t.Errorf("unknown trace: %v, want a 404", err)
	}
}
