package observability

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/demo"
	"github.com/takedown-pipeline/takedown/pkg/edges/webhook"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/mediahash"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/matching/policy"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// services are the five service binaries, in pipeline order.
var services = []string{"ingest", "hasher", "matcher", "review", "enforcer"}

// observed is the five service binaries, run as an operator runs them, with
// their traces going to the real Jaeger over OTLP (set only through the
// standard OTEL_* variables) and their /metrics scraped by a real
// Prometheus that has the chart's rules loaded.
type observed struct {
	prefix   string
	topics   config.Topics
	kafka    config.Kafka
	addrs    map[string]string
	procs    map[string]*testenv.Process
	names    map[string]string // service -> its OTEL_SERVICE_NAME
	jaeger   *Jaeger
	prom     *Prometheus
	platform *platform
}

// The ingest client, the review token key and the webhook secret of the run.
const (
	obsClient     = "obs"
	obsKeyID      = "obs-1"
	obsKeySecret  = "obs-ingest-secret-0123456789abcdef"
	obsJWTSecret  = "obs-review-secret-0123456789abcdef"
	obsIssuer     = "https://idp.obs.test"
	obsAudience   = "takedown-review"
	obsHookSecret = "obs-webhook-secret"
)

// TestPipelineObserved is the proof the observability issue asks for, with
// the real tools: one upload taken down automatically and one through
// review, each traced from the ingest API to the platform's webhook and
// found in Jaeger with the services' OTEL_SERVICE_NAMEs (half of them
// exporting over OTLP/gRPC, half over OTLP/HTTP), reached from a log line's
// trace id; then every dashboard query answers with data from the live
// services, and every metric the dashboards and rules name is one the
// services export.
func TestPipelineObserved(t *testing.T) {
	o := startObserved(t)
	ctx := context.Background()

	set, err := demo.NewSet(ctx, 7, policy.Default(), bank.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pub := messaging.NewKafkaPublisher(o.kafka)
	defer pub.Close()
	for _, m := range set.Bank {
		res, err := mediahash.HashForBank(ctx, m.Data, events.ContentImage, mediahash.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		u := events.NewBankAdd("obs-bank", []string{"category:terrorism"}, bank.Bankable(res.Signals))
		if err := messaging.PublishEvent(ctx, pub, o.topics.BankUpdates, &u); err != nil {
			t.Fatal(err)
		}
	}
	testenv.WaitFor(t, 60*time.Second, "the matcher's bank loaded", func() bool {
		v, _ := testenv.Metric(t, testenv.Scrape(t, o.addrs["matcher"]), "takedown_matcher_bank_entries", nil)
		return v >= float64(len(set.Bank))
	})
	altered, weaker := set.Uploads[1], set.Uploads[2]
	if altered.Expect != policy.ActionRemove || weaker.Expect != policy.ActionReview {
		t.Fatalf("demo set changed: %s %s", altered.Expect, weaker.Expect)
	}

	// Taken down automatically.
	autoID := o.prefix + "-altered"
	o.upload(t, autoID, altered.Data)
	o.platform.wait(t, autoID, events.TriggerAuto)

	// Taken down on a reviewer's decision.
	reviewID := o.prefix + "-weaker"
	o.upload(t, reviewID, weaker.Data)
	o.decide(t, reviewID)
	o.platform.wait(t, reviewID, events.TriggerReview)

	// From a log line to its trace: the enforcer's JSON line of each
	// takedown carries the trace id under which Jaeger holds the upload.
	autoLine := o.logLine(t, "enforcer", "action taken", autoID, events.TriggerAuto)
	reviewLine := o.logLine(t, "enforcer", "action taken", reviewID, events.TriggerReview)
	autoTrace := o.waitUploadTrace(t, autoLine.TraceID, false)
	if !slices.ContainsFunc(autoTrace, func(s Span) bool { return s.SpanID == autoLine.SpanID && s.Service == o.names["enforcer"] }) {
		t.Errorf("the log line's span %s is not in trace %s:\n%s", autoLine.SpanID, autoLine.TraceID, autoTrace)
	}
	reviewTrace := o.waitUploadTrace(t, reviewLine.TraceID, true)
	o.checkDecisionLink(t, reviewTrace)

	o.checkPrometheus(t)
}

// startObserved builds the five services and starts them with topics,
// groups and keys of their own on the test broker and Redis.
func startObserved(t *testing.T) *observed {
	t.Helper()
	o := &observed{
		prefix: testenv.Name("obs"),
		kafka:  testenv.Kafka(t),
		addrs:  map[string]string{}, procs: map[string]*testenv.Process{}, names: map[string]string{},
	}
	redisAddr := testenv.RedisAddr(t)
	o.jaeger = StartJaeger(t)
	bins := buildServices(t)
	o.platform = newPlatform(t)

	d := config.DefaultTopics()
	o.topics = config.Topics{
		Uploaded: o.prefix + "." + d.Uploaded, Ingested: o.prefix + "." + d.Ingested, Hashed: o.prefix + "." + d.Hashed,
		Matched: o.prefix + "." + d.Matched, ReviewRequested: o.prefix + "." + d.ReviewRequested,
		ReviewDecided: o.prefix + "." + d.ReviewDecided, Actions: o.prefix + "." + d.Actions,
		BankUpdates: o.prefix + "." + d.BankUpdates, StreamSegments: o.prefix + "." + d.StreamSegments,
	}
	// The matcher refuses to start without its compacted bank topic, as
	// `takedownctl bank add` makes it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := messaging.EnsureTopics(ctx, o.kafka, messaging.TopicSpec{Name: o.topics.BankUpdates, Partitions: 1, Compact: true}); err != nil {
		t.Fatal(err)
	}

	var targets []string
	for _, s := range services {
		o.addrs[s] = "127.0.0.1:" + strconv.Itoa(FreePort(t))
		targets = append(targets, s+"="+o.addrs[s])
	}
	// Scraping from the start: rates need two samples in their window.
	o.prom = StartPrometheus(t, targets...)

	common := []string{
		"TAKEDOWN_KAFKA_BROKERS=" + strings.Join(o.kafka.Brokers, ","),
		"TAKEDOWN_REDIS_ADDR=" + redisAddr,
		"TAKEDOWN_REDIS_PREFIX=" + o.prefix,
		"TAKEDOWN_URL_ALLOWLIST=127.0.0.0/8",
		"TAKEDOWN_LOG_FORMAT=json",
		"TAKEDOWN_TOPIC_PARTITIONS=2",
		// The exporter batches; a short delay makes the spans arrive while
		// the test waits, not at shutdown.
		"OTEL_BSP_SCHEDULE_DELAY=100",
	}
	for _, kv := range []struct{ setting, topic string }{
		{"UPLOADED", o.topics.Uploaded}, {"INGESTED", o.topics.Ingested}, {"HASHED", o.topics.Hashed},
		{"MATCHED", o.topics.Matched}, {"REVIEW_REQUESTED", o.topics.ReviewRequested},
		{"REVIEW_DECIDED", o.topics.ReviewDecided}, {"ACTIONS", o.topics.Actions},
		{"BANK_UPDATES", o.topics.BankUpdates}, {"STREAM_SEGMENTS", o.topics.StreamSegments},
	} {
		common = append(common, "TAKEDOWN_TOPIC_"+kv.setting+"="+kv.topic)
	}
	extra := map[string][]string{
		"ingest": {"TAKEDOWN_INGEST_CLIENTS=" + obsClient + ":" + obsKeyID + "=" + obsKeySecret},
		"review": {"TAKEDOWN_JWT_HS256_SECRETS=obs=" + obsJWTSecret, "TAKEDOWN_JWT_ISSUER=" + obsIssuer,
			"TAKEDOWN_JWT_AUDIENCE=" + obsAudience},
		"enforcer": {"TAKEDOWN_WEBHOOK_URL=" + o.platform.srv.URL + "/webhook", "TAKEDOWN_WEBHOOK_SECRET=" + obsHookSecret},
	}
	for i, s := range services {
		o.names[s] = o.prefix + "-" + s
		// Both OTLP transports, chosen by the standard variable alone.
		otlp := []string{"OTEL_EXPORTER_OTLP_PROTOCOL=grpc", "OTEL_EXPORTER_OTLP_ENDPOINT=http://" + o.jaeger.OTLPGRPC}
		if i%2 == 1 {
			otlp = []string{"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT=" + o.jaeger.OTLPHTTP}
		}
		env := append(append(append(append(testenv.Environ("TAKEDOWN_", "OTEL_"), common...), otlp...), extra[s]...),
			"OTEL_SERVICE_NAME="+o.names[s],
			"TAKEDOWN_HTTP_ADDR="+o.addrs[s],
			"TAKEDOWN_GROUP="+o.prefix+"-"+s,
			"TAKEDOWN_DLQ_TOPIC="+o.prefix+"."+s+".dlq")
		o.procs[s] = testenv.Start(t, bins[s], env)
		o.waitReady(t, s)
	}
	return o
}

// buildServices builds the five service binaries once per test run.
func buildServices(t *testing.T) map[string]string {
	t.Helper()
	bins := map[string]string{}
	for _, s := range services {
		bins[s] = testenv.Binary(t, "github.com/takedown-pipeline/takedown/services/"+s)
	}
	return bins
}

func TestMain(m *testing.M) { testenv.Main(m) }

func (o *observed) waitReady(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get("http://" + o.addrs[s] + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-o.procs[s].Done():
			t.Fatalf("%s exited before it was ready: %v\n%s", s, o.procs[s].Err(), o.procs[s].Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within 90 s:\n%s", s, o.procs[s].Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// upload hosts data on the platform and posts its upload event to ingest,
// signed as the platform signs it.
func (o *observed) upload(t *testing.T, contentID string, data []byte) {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{
		"content_id": contentID, "media_url": o.platform.host(contentID, data), "content_type": "image",
		"uploader_id": "u1", "uploaded_at": time.Now().UTC().Format(time.RFC3339Nano),
	})
	req, _ := http.NewRequest(http.MethodPost, "http://"+o.addrs["ingest"]+"/v1/uploads", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	webhook.SignRequest(req, obsKeyID, []byte(obsKeySecret), raw, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("upload %s: %d %s", contentID, resp.StatusCode, body)
	}
}

// decide claims the review item of contentID and decides it violating, as
// a reviewer does through the review API.
func (o *observed) decide(t *testing.T, contentID string) {
	t.Helper()
	item := "http://" + o.addrs["review"] + "/v1/items/" + url.PathEscape(events.ScopedID(obsClient, contentID))
	call := func(method, u string, body any) int {
		var r io.Reader
		if body != nil {
			raw, _ := json.Marshal(body)
			r = bytes.NewReader(raw)
		}
		req, _ := http.NewRequest(method, u, r)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+reviewerToken(t, "rita"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	testenv.WaitFor(t, 60*time.Second, "the review item of "+contentID, func() bool { return call(http.MethodGet, item, nil) == http.StatusOK })
	if code := call(http.MethodPost, item+"/claim", map[string]any{"reviewer": "rita"}); code != http.StatusOK {
		t.Fatalf("claim: %d", code)
	}
	if code := call(http.MethodPost, item+"/decision", map[string]any{"reviewer": "rita", "decision": "violating",
		"reason": "known attack footage"}); code != http.StatusOK {
		t.Fatalf("decision: %d", code)
	}
}

func reviewerToken(t *testing.T, sub string) string {
	t.Helper()
	return testenv.ReviewKey{Kid: "obs", Secret: obsJWTSecret, Issuer: obsIssuer, Audience: obsAudience}.Token(t, sub)
}

// logLine is one JSON log line of a service.
type logLine struct {
	Msg       string `json:"msg"`
	ContentID string `json:"content_id"`
	Trigger   string `json:"trigger"`
	TraceID   string `json:"trace_id"`
	SpanID    string `json:"span_id"`
}

// logLine finds service's JSON log line msg about contentID with trigger.
func (o *observed) logLine(t *testing.T, service, msg, contentID, trigger string) logLine {
	t.Helper()
	scoped := events.ScopedID(obsClient, contentID)
	var found logLine
	testenv.WaitFor(t, 10*time.Second, fmt.Sprintf("%s's log line %q about %s", service, msg, contentID), func() bool {
		sc := bufio.NewScanner(strings.NewReader(o.procs[service].Output()))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l logLine
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				continue
			}
			if l.Msg == msg && l.ContentID == scoped && l.Trigger == trigger {
				found = l
				return true
			}
		}
		return false
	})
	if len(found.TraceID) != 32 || len(found.SpanID) != 16 {
		t.Fatalf("%s's line %q about %s has trace_id %q and span_id %q", service, msg, contentID, found.TraceID, found.SpanID)
	}
	return found
}

// waitUploadTrace waits until Jaeger holds the whole trace of one upload
// (the services export in batches) and returns it; it fails the test with
// what is missing or wrong if that does not come within two minutes.
func (o *observed) waitUploadTrace(t *testing.T, traceID string, reviewed bool) Trace {
	t.Helper()
	var tr Trace
	poll(t, 2*time.Minute, fmt.Sprintf("the trace %s of an upload (reviewed: %v) in Jaeger", traceID, reviewed), func(ctx context.Context) (bool, error) {
		var err error
		if tr, err = o.jaeger.Trace(ctx, traceID); err != nil {
			return false, err
		}
		problems := o.uploadTraceProblems(tr, reviewed)
		return len(problems) == 0, fmt.Errorf("%s\n%s", strings.Join(problems, "\n"), tr)
	})
	return tr
}

// uploadTraceProblems checks one upload's trace: it starts at ingest's HTTP
// SERVER span and holds, for every topic the upload crossed, the producer's
// send span and the consumer's process span as its child, each in the
// service that sends or consumes; each stage's sends descend from the
// process span of the message it handled; the hasher's fetch and the
// enforcer's webhook call are CLIENT spans; Redis calls have spans. A
// reviewed upload also crosses the review service, whose decision span
// continues the trace. Every span's resource names its service by
// OTEL_SERVICE_NAME and carries the SDK, host and process attributes.
func (o *observed) uploadTraceProblems(tr Trace, reviewed bool) []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	spans := func(name, service, kind string) []Span {
		var got []Span
		for _, s := range tr.Named(name, o.names[service]) {
			if s.Kind == kind {
				got = append(got, s)
			}
		}
		return got
	}
	one := func(name, service, kind string) (Span, bool) {
		got := spans(name, service, kind)
		if len(got) != 1 {
			fail("%d %s spans %q of %s, want 1", len(got), kind, name, o.names[service])
			return Span{}, false
		}
		return got[0], true
	}
	descends := func(s, from Span) bool {
		for p, ok := tr.Parent(s); ok; p, ok = tr.Parent(p) {
			if p.SpanID == from.SpanID {
				return true
			}
		}
		return false
	}

	root, ok := one("POST /v1/uploads", "ingest", "server")
	if !ok {
		return problems
	}
	if root.ParentSpanID != "" {
		fail("the ingest API's span has a parent %s", root.ParentSpanID)
	}
	if root.Attributes["http.route"] != "/v1/uploads" || root.Attributes["http.response.status_code"] != "202" {
		fail("the ingest API's span lacks http.route or its status: %v", root.Attributes)
	}
	// hops: topic, sending service, consuming service, in order.
	hops := [][3]string{
		{o.topics.Uploaded, "ingest", "ingest"}, {o.topics.Ingested, "ingest", "hasher"},
		{o.topics.Hashed, "hasher", "matcher"}, {o.topics.Matched, "matcher", "enforcer"},
	}
	if reviewed {
		hops = append(hops, [3]string{o.topics.ReviewRequested, "enforcer", "review"},
			[3]string{o.topics.ReviewDecided, "review", "enforcer"})
	}
	upstream := root
	for _, h := range hops {
		send, ok1 := one("send "+h[0], h[1], "producer")
		process, ok2 := one("process "+h[0], h[2], "consumer")
		if !ok1 || !ok2 {
			return problems
		}
		if process.ParentSpanID != send.SpanID {
			fail("process %s's parent is %s, not the send span %s", h[0], process.ParentSpanID, send.SpanID)
		}
		if !descends(send, upstream) {
			fail("send %s does not descend from %q (%s)", h[0], upstream.Name, upstream.SpanID)
		}
		for _, a := range []string{"messaging.system", "messaging.destination.name", "server.address", "server.port", "messaging.client.id"} {
			if process.Attributes[a] == "" {
				fail("process %s lacks %s: %v", h[0], a, process.Attributes)
			}
		}
		if send.Attributes["server.address"] == "" || send.Attributes["server.port"] == "" {
			fail("send %s lacks server.address or server.port: %v", h[0], send.Attributes)
		}
		upstream = process
		if h[0] == o.topics.ReviewRequested {
			// The reviewer's decision comes later, in a request of its own:
			// its span continues the upload's trace from the request's
			// message, and the decision is sent under it.
			dec, ok := one("review decision", "review", "internal")
			if !ok {
				return problems
			}
			if !descends(dec, send) {
				fail("the review decision does not descend from send %s", h[0])
			}
			upstream = dec
		}
	}
	// upstream is now the enforcer's process span of the message it acted
	// on: the webhook call and the audit record descend from it.
	if hook, ok := one("POST", "enforcer", "client"); ok &&
		(!descends(hook, upstream) || !strings.HasSuffix(hook.Attributes["url.full"], "/webhook")) {
		fail("the webhook call %v does not descend from %q", hook.Attributes, upstream.Name)
	}
	if !slices.ContainsFunc(spans("send "+o.topics.Actions, "enforcer", "producer"), func(s Span) bool { return descends(s, upstream) }) {
		fail("no audit record's send descends from %q", upstream.Name)
	}
	if fetch, ok := one("GET", "hasher", "client"); ok && !strings.Contains(fetch.Attributes["url.full"], "/media/") {
		fail("the hasher's fetch span has url %q", fetch.Attributes["url.full"])
	}
	// Redis calls are spans too (go-redis's OTel hook).
	if !slices.ContainsFunc(tr, func(s Span) bool {
		return s.Attributes["db.system"] == "redis" || s.Attributes["db.system.name"] == "redis"
	}) {
		fail("no Redis span")
	}
	want := []string{o.names["ingest"], o.names["hasher"], o.names["matcher"], o.names["enforcer"]}
	if reviewed {
		want = append(want, o.names["review"])
	}
	got := tr.Services()
	for _, w := range want {
		if !slices.Contains(got, w) {
			fail("no span of %s (services: %v)", w, got)
		}
	}
	for _, s := range tr {
		for _, a := range []string{"telemetry.sdk.language", "telemetry.sdk.version", "host.name", "process.pid", "service.version"} {
			if s.Resource[a] == "" {
				fail("%s's resource lacks %s: %v", s.Service, a, s.Resource)
				return problems
			}
		}
	}
	return problems
}

// checkDecisionLink checks that the review decision's span, in the upload's
// trace, links to the reviewer's HTTP request, which is a trace of its own
// in Jaeger.
func (o *observed) checkDecisionLink(t *testing.T, tr Trace) {
	t.Helper()
	dec := tr.Named("review decision", o.names["review"])
	if len(dec) != 1 || len(dec[0].Links) == 0 {
		t.Fatalf("want one review decision span with a link:\n%s", tr)
	}
	l := dec[0].Links[0]
	req := o.jaeger.WaitTrace(t, l.TraceID, 1, time.Minute)
	i := slices.IndexFunc(req, func(s Span) bool { return s.SpanID == l.SpanID })
	if i < 0 {
		t.Fatalf("the linked span %s is not in trace %s:\n%s", l.SpanID, l.TraceID, req)
	}
	if s := req[i]; s.Kind != "server" || s.Service != o.names["review"] || !strings.HasSuffix(s.Name, "/decision") {
		t.Errorf("the decision links to %q (%s, %s), want the review API's decision request", s.Name, s.Kind, s.Service)
	}
}

// metricName is a metric name in a PromQL expression or recording rule.
var metricName = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)

// checkPrometheus checks what Prometheus made of the scrapes: every
// service is up, every dashboard query answers with data, and every
// metric named by a dashboard or a rule is one the services export.
func (o *observed) checkPrometheus(t *testing.T) {
	t.Helper()
	for _, s := range services {
		got := o.prom.WaitQuery(t, fmt.Sprintf(`up{job=%q} == 1`, s), time.Minute)
		if len(got) != 1 {
			t.Errorf("up{job=%q}: %v", s, got)
		}
	}
	queries, err := DashboardQueries()
	if err != nil || len(queries) == 0 {
		t.Fatalf("dashboard queries: %d, %v", len(queries), err)
	}
	names := make([]string, 0, len(queries))
	for name := range queries {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		// Recording rules evaluate every second; a rate needs two scrapes.
		poll(t, 90*time.Second, "dashboard query "+name+" returns data", func(ctx context.Context) (bool, error) {
			got, err := o.prom.Query(ctx, queries[name])
			if err != nil {
				return false, err
			}
			return len(got) > 0, fmt.Errorf("no data")
		})
	}

	// The names the dashboards and rules use: recorded ones (with a colon)
	// must be recorded by a rule; the others exported by a service.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exported := map[string]bool{}
	got, err := o.prom.Query(ctx, `count by (__name__) ({__name__=~".+", job=~"ingest|hasher|matcher|review|enforcer"})`)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range got {
		exported[s.Labels["__name__"]] = true
	}
	recorded, used, err := ruleNames()
	if err != nil {
		t.Fatal(err)
	}
	for _, expr := range queries {
		for _, n := range metricName.FindAllString(expr, -1) {
			used[n] = true
		}
	}
	for n := range used {
		switch {
		case strings.Contains(n, ":"):
			if !recorded[n] {
				t.Errorf("%s is used but no rule records it", n)
			}
		case strings.HasPrefix(n, "takedown_") || strings.HasPrefix(n, "go_") || strings.HasPrefix(n, "process_"):
			if !exported[n] {
				t.Errorf("%s is used by a dashboard or rule but no service exports it", n)
			}
		}
	}
	if len(exported) < 20 || !exported["takedown_messages_handled_total"] {
		t.Fatalf("Prometheus holds only %d metric names of the services: %v", len(exported), exported)
	}
}

// ruleNames reads the rule files: the names their rules record, and every
// name their expressions use.
func ruleNames() (recorded, used map[string]bool, err error) {
	files, err := filepath.Glob(filepath.Join(RulesDir(), "*.rules.yaml"))
	if err != nil || len(files) == 0 {
		return nil, nil, fmt.Errorf("no rule files in %s (%v)", RulesDir(), err)
	}
	recorded, used = map[string]bool{}, map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		inExpr := false
		for _, line := range strings.Split(string(b), "\n") {
			trimmed := strings.TrimSpace(line)
			switch {
			case strings.HasPrefix(trimmed, "#"):
				continue
			case strings.HasPrefix(trimmed, "- record:"):
				recorded[strings.TrimSpace(strings.TrimPrefix(trimmed, "- record:"))] = true
				inExpr = false
			case strings.HasPrefix(trimmed, "expr:"):
				inExpr = true
				trimmed = strings.TrimPrefix(trimmed, "expr:")
			case inExpr && (strings.HasPrefix(trimmed, "for:") || strings.HasPrefix(trimmed, "labels:") ||
				strings.HasPrefix(trimmed, "annotations:") || strings.HasPrefix(trimmed, "- ")):
				inExpr = false
			}
			if inExpr {
				// Strings (label values) and range durations are not names.
				expr := regexp.MustCompile(`"[^"]*"|\[[^\]]*\]`).ReplaceAllString(trimmed, "")
				for _, n := range metricName.FindAllString(expr, -1) {
					used[n] = true
				}
			}
		}
	}
	return recorded, used, nil
}

// platform hosts the uploads' media and receives the signed takedowns.
type platform struct {
	srv   *httptest.Server
	mu    sync.Mutex
	media map[string][]byte
	got   chan webhook.Takedown
}

func newPlatform(t *testing.T) *platform {
	p := &platform{media: map[string][]byte{}, got: make(chan webhook.Takedown, 16)}
	recv := &webhook.Receiver{Secret: []byte(obsHookSecret), OnTakedown: func(td webhook.Takedown) { p.got <- td }}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /media/{name}", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		data, ok := p.media[r.PathValue("name")]
		p.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(data)
	})
	mux.Handle("POST /webhook", recv)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *platform) host(name string, data []byte) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.media[name] = data
	return p.srv.URL + "/media/" + name
}

// wait waits for the takedown of contentID with trigger.
func (p *platform) wait(t *testing.T, contentID, trigger string) {
	t.Helper()
	timeout := time.After(90 * time.Second)
	for {
		select {
		case td := <-p.got:
			if td.ContentID == contentID {
				if td.Action != events.ActionRemove || td.Trigger != trigger {
					t.Fatalf("takedown of %s: %+v, want remove by %s", contentID, td, trigger)
				}
				return
			}
		case <-timeout:
			t.Fatalf("no takedown of %s within 90 s", contentID)
		}
	}
}
