package observability

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Jaeger is the test Jaeger of scripts/jaeger.sh: one per machine on fixed
// loopback test ports, like the test Kafka, left running for the next test.
// Its storage is shared: tests tell their traces apart by service name or
// trace id.
type Jaeger struct {
	// OTLPHTTP is the OTLP/HTTP endpoint (http://host:port, the value of
	// OTEL_EXPORTER_OTLP_ENDPOINT for the http/protobuf protocol).
	OTLPHTTP string
	// OTLPGRPC is the OTLP/gRPC endpoint (host:port).
	OTLPGRPC string
	// Query is the base URL of the query API.
	Query string
}

var (
	jaegerOnce sync.Once
	jaeger     *Jaeger
	jaegerErr  error
)

// StartJaeger starts the test Jaeger (building it first when it is not in
// the cache: several CPU-minutes, once per machine) and waits until its API
// answers. A failure fails the test under `make test` and skips it
// otherwise (no Go toolchain or module proxy to build with).
func StartJaeger(t testing.TB) *Jaeger {
	t.Helper()
	jaegerOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		if _, err := script(ctx, "jaeger.sh", nil, "start"); err != nil {
			jaegerErr = err
			return
		}
		out, err := script(ctx, "jaeger.sh", nil, "env")
		if err != nil {
			jaegerErr = err
			return
		}
		e := exports(out)
		jaeger = &Jaeger{OTLPHTTP: e["TAKEDOWN_TEST_JAEGER_OTLP_HTTP"], OTLPGRPC: e["TAKEDOWN_TEST_JAEGER_OTLP_GRPC"], Query: e["TAKEDOWN_TEST_JAEGER_QUERY"]}
		if jaeger.OTLPHTTP == "" || jaeger.OTLPGRPC == "" || jaeger.Query == "" {
			jaegerErr = fmt.Errorf("scripts/jaeger.sh env printed no endpoints:\n%s", out)
		}
	})
	if jaegerErr != nil {
		if os.Getenv(EnvRequire) != "" {
			t.Fatalf("no Jaeger: %v", jaegerErr)
		}
		t.Skipf("no Jaeger (scripts/jaeger.sh start failed): %v", jaegerErr)
	}
	return jaeger
}

// Span is one span as Jaeger stored it.
type Span struct {
	TraceID      string
	SpanID       string
	ParentSpanID string // "" for a root span
	Name         string
	// Kind is server, client, producer, consumer or internal.
	Kind string
	// Service is the service.name of the span's resource.
	Service    string
	Attributes map[string]string
	// Resource holds the attributes of the span's resource.
	Resource map[string]string
	Start    time.Time
	Duration time.Duration
	// Links are the spans this one links to (v3 API only), often in other
	// traces: a review decision's span links to the reviewer's request.
	Links []Link
}

// Link is a span link.
type Link struct{ TraceID, SpanID string }

// Trace is the spans of one trace.
type Trace []Span

// Named returns the spans named name, optionally only those of service.
func (tr Trace) Named(name, service string) []Span {
	var out []Span
	for _, s := range tr {
		if s.Name == name && (service == "" || s.Service == service) {
			out = append(out, s)
		}
	}
	return out
}

// Parent returns the parent of s within the trace.
func (tr Trace) Parent(s Span) (Span, bool) {
	for _, p := range tr {
		if s.ParentSpanID != "" && p.SpanID == s.ParentSpanID {
			return p, true
		}
	}
	return Span{}, false
}

// Services returns the distinct service names in the trace.
func (tr Trace) Services() []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range tr {
		if !seen[s.Service] {
			seen[s.Service] = true
			out = append(out, s.Service)
		}
	}
	return out
}

// String lists the spans, one a line, for a test's failure message.
func (tr Trace) String() string {
	var b strings.Builder
	for _, s := range tr {
		fmt.Fprintf(&b, "%s %s %q kind=%s span=%s parent=%s\n", s.Service, s.TraceID, s.Name, s.Kind, s.SpanID, s.ParentSpanID)
	}
	return b.String()
}

// v1 API (/api/traces): Jaeger's own JSON model.
type v1Answer struct {
	Data []struct {
		TraceID string `json:"traceID"`
		Spans   []struct {
			TraceID       string `json:"traceID"`
			SpanID        string `json:"spanID"`
			OperationName string `json:"operationName"`
			References    []struct {
				RefType string `json:"refType"`
				TraceID string `json:"traceID"`
				SpanID  string `json:"spanID"`
			} `json:"references"`
			StartTime int64 `json:"startTime"` // µs
			Duration  int64 `json:"duration"`  // µs
			Tags      []struct {
				Key   string `json:"key"`
				Value any    `json:"value"`
			} `json:"tags"`
			ProcessID string `json:"processID"`
		} `json:"spans"`
		Processes map[string]struct {
			ServiceName string `json:"serviceName"`
			Tags        []struct {
				Key   string `json:"key"`
				Value any    `json:"value"`
			} `json:"tags"`
		} `json:"processes"`
	} `json:"data"`
}

// Traces asks the v1 API (/api/traces?service=) for the last traces holding
// spans of service (up to limit, newest first).
func (j *Jaeger) Traces(ctx context.Context, service string, limit int) ([]Trace, error) {
	q := url.Values{"service": {service}, "limit": {strconv.Itoa(limit)}, "lookback": {"1h"}}
	var a v1Answer
	if err := getJSON(ctx, j.Query+"/api/traces?"+q.Encode(), &a); err != nil {
		return nil, err
	}
	var out []Trace
	for _, d := range a.Data {
		var tr Trace
		for _, s := range d.Spans {
			sp := Span{
				TraceID: s.TraceID, SpanID: s.SpanID, Name: s.OperationName, Kind: "internal",
				Attributes: map[string]string{}, Resource: map[string]string{},
				Start:    time.UnixMicro(s.StartTime),
				Duration: time.Duration(s.Duration) * time.Microsecond,
			}
			for _, r := range s.References {
				if r.RefType == "CHILD_OF" && r.TraceID == s.TraceID {
					sp.ParentSpanID = r.SpanID
				}
			}
			for _, tag := range s.Tags {
				v := fmt.Sprint(tag.Value)
				if tag.Key == "span.kind" {
					sp.Kind = v
					continue
				}
				sp.Attributes[tag.Key] = v
			}
			p := d.Processes[s.ProcessID]
			sp.Service = p.ServiceName
			sp.Resource["service.name"] = p.ServiceName
			for _, tag := range p.Tags {
				sp.Resource[tag.Key] = fmt.Sprint(tag.Value)
			}
			tr = append(tr, sp)
		}
		out = append(out, tr)
	}
	return out, nil
}

// v3 API (/api/v3/traces): OTLP's JSON encoding.
type v3Answer struct {
	Result struct {
		ResourceSpans []struct {
			Resource struct {
				Attributes []otlpKV `json:"attributes"`
			} `json:"resource"`
			ScopeSpans []struct {
				Spans []struct {
					TraceID      string          `json:"traceId"`
					SpanID       string          `json:"spanId"`
					ParentSpanID string          `json:"parentSpanId"`
					Name         string          `json:"name"`
					Kind         json.RawMessage `json:"kind"`
					Start        string          `json:"startTimeUnixNano"`
					End          string          `json:"endTimeUnixNano"`
					Attributes   []otlpKV        `json:"attributes"`
					Links        []struct {
						TraceID string `json:"traceId"`
						SpanID  string `json:"spanId"`
					} `json:"links"`
				} `json:"spans"`
			} `json:"scopeSpans"`
		} `json:"resourceSpans"`
	} `json:"result"`
}

type otlpKV struct {
	Key   string `json:"key"`
	Value map[string]json.RawMessage
}

func (kv otlpKV) String() string {
	for _, raw := range kv.Value {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return string(raw)
	}
	return ""
}

func attrs(kvs []otlpKV) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.String()
	}
	return m
}

// otlpKinds are OTLP's SpanKind numbers, and their JSON names' suffixes.
var otlpKinds = []string{"unspecified", "internal", "server", "client", "producer", "consumer"}

func kindOf(raw json.RawMessage) string {
	var n int
	if json.Unmarshal(raw, &n) == nil && n >= 0 && n < len(otlpKinds) {
		return otlpKinds[n]
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.ToLower(strings.TrimPrefix(s, "SPAN_KIND_"))
	}
	return "internal"
}

func nanos(s string) time.Time {
	n, _ := strconv.ParseInt(s, 10, 64)
	return time.Unix(0, n)
}

func fromV3(a v3Answer) Trace {
	var tr Trace
	for _, rs := range a.Result.ResourceSpans {
		res := attrs(rs.Resource.Attributes)
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				start, end := nanos(s.Start), nanos(s.End)
				var links []Link
				for _, l := range s.Links {
					links = append(links, Link{TraceID: l.TraceID, SpanID: l.SpanID})
				}
				tr = append(tr, Span{
					TraceID: s.TraceID, SpanID: s.SpanID, ParentSpanID: s.ParentSpanID,
					Name: s.Name, Kind: kindOf(s.Kind), Service: res["service.name"],
					Attributes: attrs(s.Attributes), Resource: res,
					Start: start, Duration: end.Sub(start), Links: links,
				})
			}
		}
	}
	return tr
}

// Trace asks the v3 API (/api/v3/traces/{id}) for one trace by its hex id.
// A trace Jaeger does not hold (yet) is an error whose StatusError code is
// 404.
func (j *Jaeger) Trace(ctx context.Context, traceID string) (Trace, error) {
	var a v3Answer
	if err := getJSON(ctx, j.Query+"/api/v3/traces/"+url.PathEscape(traceID), &a); err != nil {
		return nil, err
	}
	return fromV3(a), nil
}

// FindTraces asks the v3 API (/api/v3/traces?query.service_name=) for the
// spans of the last limit traces of service in the last hour, all traces'
// spans together (group them by TraceID).
func (j *Jaeger) FindTraces(ctx context.Context, service string, limit int) (Trace, error) {
	now := time.Now()
	q := url.Values{
		"query.service_name":   {service},
		"query.num_traces":     {strconv.Itoa(limit)},
		"query.start_time_min": {now.Add(-time.Hour).UTC().Format(time.RFC3339Nano)},
		"query.start_time_max": {now.Add(time.Minute).UTC().Format(time.RFC3339Nano)},
	}
	var a v3Answer
	if err := getJSON(ctx, j.Query+"/api/v3/traces?"+q.Encode(), &a); err != nil {
		return nil, err
	}
	return fromV3(a), nil
}

// WaitTrace polls the v3 API until the trace traceID holds at least
// minSpans spans (exporters batch and Jaeger stores asynchronously), and
// returns it. It fails the test when that takes over within.
func (j *Jaeger) WaitTrace(t testing.TB, traceID string, minSpans int, within time.Duration) Trace {
	t.Helper()
	var tr Trace
	poll(t, within, fmt.Sprintf("trace %s with %d spans in Jaeger", traceID, minSpans), func(ctx context.Context) (bool, error) {
		var err error
		tr, err = j.Trace(ctx, traceID)
		if err != nil {
			return false, err
		}
		return len(tr) >= minSpans, fmt.Errorf("%d spans so far:\n%s", len(tr), tr)
	})
	return tr
}
