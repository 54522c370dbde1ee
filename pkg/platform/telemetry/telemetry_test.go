package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/takedown-pipeline/takedown/pkg/platform/telemetry"
)

// otelVars are cleared for every test, so the machine's environment does
// not leak in.
var otelVars = []string{"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
	"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_INSECURE", "OTEL_PROPAGATORS", "OTEL_TRACES_SAMPLER"}

func cleanEnv(t *testing.T) {
	for _, k := range otelVars {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

func resourceAttr(t *testing.T, service string) map[attribute.Key]attribute.Value {
	t.Helper()
	res, err := telemetry.Resource(context.Background(), service)
	if err != nil {
		t.Fatal(err)
	}
	out := map[attribute.Key]attribute.Value{}
	for _, kv := range res.Attributes() {
		out[kv.Key] = kv.Value
	}
	return out
}

func TestServiceNameDefaultsToTheService(t *testing.T) {
	cleanEnv(t)
	got := resourceAttr(t, "ingest")
	if got[semconv.ServiceNameKey].AsString() != "ingest" {
		t.Errorf("service.name %q, want ingest", got[semconv.ServiceNameKey].AsString())
	}
	// SDK, host and process attributes are there too.
	for _, k := range []attribute.Key{semconv.TelemetrySDKNameKey, semconv.TelemetrySDKLanguageKey, semconv.TelemetrySDKVersionKey,
		semconv.HostNameKey, semconv.ProcessPIDKey, semconv.ProcessExecutableNameKey, semconv.ProcessRuntimeNameKey,
		semconv.ServiceVersionKey} {
		if _, ok := got[k]; !ok {
			t.Errorf("resource lacks %s: %v", k, got)
		}
	}
	if _, ok := got[semconv.ProcessCommandArgsKey]; ok {
		t.Error("resource holds the command line, where flags may carry secrets")
	}
}

func TestOTELServiceNameWins(t *testing.T) {
	cleanEnv(t)
	t.Setenv("OTEL_SERVICE_NAME", "takedown-ingest-eu")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=other,deployment.environment.name=staging")
	got := resourceAttr(t, "ingest")
	if got[semconv.ServiceNameKey].AsString() != "takedown-ingest-eu" {
		t.Errorf("service.name %q, want OTEL_SERVICE_NAME's takedown-ingest-eu", got[semconv.ServiceNameKey].AsString())
	}
	if got["deployment.environment.name"].AsString() != "staging" {
		t.Errorf("OTEL_RESOURCE_ATTRIBUTES not honoured: %v", got)
	}
	t.Setenv("OTEL_SERVICE_NAME", "")
	if got := resourceAttr(t, "ingest"); got[semconv.ServiceNameKey].AsString() != "other" {
		t.Errorf("service.name %q, want OTEL_RESOURCE_ATTRIBUTES' other", got[semconv.ServiceNameKey].AsString())
	}
}

// received collects the OTLP export requests a test receiver got.
type received struct {
	mu   sync.Mutex
	reqs []*collectortrace.ExportTraceServiceRequest
}

func (r *received) add(req *collectortrace.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
}

// services returns the service.name of each resource and the span names
// received.
func (r *received) services() (services, spans []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, req := range r.reqs {
		for _, rs := range req.ResourceSpans {
			for _, a := range rs.GetResource().GetAttributes() {
				if a.Key == string(semconv.ServiceNameKey) {
					services = append(services, a.GetValue().GetStringValue())
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					spans = append(spans, s.Name)
				}
			}
		}
	}
	return services, spans
}

type grpcReceiver struct {
	collectortrace.UnimplementedTraceServiceServer
	got *received
}

func (g grpcReceiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	g.got.add(req)
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// otlpGRPC serves the OTLP trace service over gRPC.
func otlpGRPC(t *testing.T) (endpoint string, got *received) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got = &received{}
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, grpcReceiver{got: got})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return "http://" + ln.Addr().String(), got
}

// otlpHTTP serves the OTLP trace endpoint over HTTP with protobuf bodies.
func otlpHTTP(t *testing.T) (endpoint string, got *received) {
	got = &received{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := &collectortrace.ExportTraceServiceRequest{}
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(body, req) != nil {
			http.Error(w, "not an OTLP/HTTP protobuf trace export", http.StatusBadRequest)
			return
		}
		got.add(req)
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, got
}

// exportOne runs Setup as a service does, ends one span and flushes.
func exportOne(t *testing.T, service string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shutdown, err := telemetry.Setup(ctx, service)
	if err != nil {
		t.Fatal(err)
	}
	_, span := otel.Tracer("test").Start(ctx, "exported")
	span.End()
	return shutdown(ctx)
}

// OTEL_EXPORTER_OTLP_PROTOCOL picks the exporter: each receiver gets the
// span over its own protocol, with the service named by OTEL_SERVICE_NAME.
func TestExportProtocols(t *testing.T) {
	for _, proto := range []string{"grpc", "http/protobuf"} {
		t.Run(proto, func(t *testing.T) {
			cleanEnv(t)
			endpoint, got := otlpHTTP(t)
			if proto == "grpc" {
				endpoint, got = otlpGRPC(t)
			}
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", proto)
			t.Setenv("OTEL_SERVICE_NAME", "enforcer-"+proto)
			if err := exportOne(t, "enforcer"); err != nil {
				t.Fatalf("export over %s: %v", proto, err)
			}
			services, spans := got.services()
			if len(spans) != 1 || spans[0] != "exported" || len(services) != 1 || services[0] != "enforcer-"+proto {
				t.Fatalf("receiver got spans %v from services %v, want [exported] from [enforcer-%s]", spans, services, proto)
			}
		})
	}
}

// Nothing is exported, and nothing is dialled, without an endpoint or an
// exporter named, or with OTEL_TRACES_EXPORTER=none.
func TestTracingOffUnlessConfigured(t *testing.T) {
	cleanEnv(t)
	if telemetry.Enabled() {
		t.Fatal("enabled with no OTEL_* variable set")
	}
	endpoint, got := otlpHTTP(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	if err := exportOne(t, "hasher"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	t.Setenv("OTEL_SDK_DISABLED", "true")
	if err := exportOne(t, "hasher"); err != nil {
		t.Fatal(err)
	}
	if _, spans := got.services(); len(spans) != 0 {
		t.Fatalf("exported %v although disabled", spans)
	}
	t.Setenv("OTEL_SDK_DISABLED", "")
	if err := exportOne(t, "hasher"); err != nil {
		t.Fatal(err)
	}
	if _, spans := got.services(); len(spans) != 1 {
		t.Fatalf("with only OTEL_EXPORTER_OTLP_ENDPOINT set: exported %v, want one span", spans)
	}
}

// API requests get otelhttp SERVER spans named by their route; probes and
// scrapes get none.
func TestHTTPSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/uploads/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		mux.HandleFunc("GET "+p, func(w http.ResponseWriter, r *http.Request) {})
	}
	srv := httptest.NewServer(telemetry.HTTP(mux))
	defer srv.Close()
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := http.Post(srv.URL+"/v1/uploads/abc", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ended := rec.Ended()
	if len(ended) != 1 {
		names := []string{}
		for _, s := range ended {
			names = append(names, s.Name())
		}
		t.Fatalf("spans %v, want only the upload's", names)
	}
	s := ended[0]
	if s.Name() != "POST /v1/uploads/{id}" || s.SpanKind() != trace.SpanKindServer {
		t.Errorf("span %q kind %v, want SERVER POST /v1/uploads/{id}", s.Name(), s.SpanKind())
	}
	var status int64
	var route string
	for _, a := range s.Attributes() {
		switch a.Key {
		case semconv.HTTPResponseStatusCodeKey:
			status = a.Value.AsInt64()
		case semconv.HTTPRouteKey:
			route = a.Value.AsString()
		}
	}
	if status != http.StatusAccepted {
		t.Errorf("http.response.status_code %d, want 202", status)
	}
	if route != "/v1/uploads/{id}" {
		t.Errorf("http.route %q, want /v1/uploads/{id}", route)
	}
}

// Records written with a span's context, or through a logger bound to one,
// carry its ids; others carry none.
func TestLogHandlerAddsTraceIDs(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(&out, nil))).With("service", "review")
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	defer span.End()
	log.Info("no context")
	log.InfoContext(ctx, "with context")
	telemetry.WithContext(log, ctx).With("k", "v").Info("bound")
	lines := bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n"))
	if len(lines) != 3 {
		t.Fatalf("%d lines: %s", len(lines), out.String())
	}
	want := []string{"", span.SpanContext().TraceID().String(), span.SpanContext().TraceID().String()}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatal(err)
		}
		tid, _ := m["trace_id"].(string)
		sid, _ := m["span_id"].(string)
		if tid != want[i] || (want[i] != "" && sid != span.SpanContext().SpanID().String()) {
			t.Errorf("line %d (%s): trace_id %q span_id %q, want trace_id %q", i, m["msg"], tid, sid, want[i])
		}
		if m["service"] != "review" {
			t.Errorf("line %d lost its attributes: %s", i, l)
		}
	}
	if bytes.Count(lines[2], []byte(`"trace_id"`)) != 1 {
		t.Errorf("bound line carries trace_id more than once: %s", lines[2])
	}
}
