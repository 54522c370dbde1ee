package apispec

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/edges/webhook"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
	"github.com/takedown-pipeline/takedown/services/ingest/ingest"
)

const (
	ingestClient = "apispec"
	ingestKeyID  = "apispec-key"
	ingestSecret = "apispec-secret-of-at-least-32-characters"
)

// topicsFor are topic names of this test's own.
func topicsFor(prefix string) config.Topics {
	d := config.DefaultTopics()
	return config.Topics{
		Uploaded: prefix + "." + d.Uploaded, Ingested: prefix + "." + d.Ingested, Hashed: prefix + "." + d.Hashed,
		Matched: prefix + "." + d.Matched, ReviewRequested: prefix + "." + d.ReviewRequested,
		ReviewDecided: prefix + "." + d.ReviewDecided, Actions: prefix + "." + d.Actions, BankUpdates: prefix + "." + d.BankUpdates,
		StreamSegments: prefix + "." + d.StreamSegments,
	}
}

// bindDefaults fills cfg's defaults as the service's main does, with an
// empty environment, then sets the test's Kafka, Redis, topics and address.
func bindDefaults(t *testing.T, name, prefix string, cfg interface{ Bind(*config.Set) }, common *config.Common) {
	t.Helper()
	s := config.New(name).WithEnv(func(string) (string, bool) { return "", false })
	cfg.Bind(s)
	if err := s.Parse(nil); err != nil {
		t.Fatal(err)
	}
	common.Kafka.Brokers = testenv.KafkaBrokers(t)
	common.Redis.Addr = testenv.RedisAddr(t)
	common.Redis.Prefix = prefix
	common.Topics = topicsFor(prefix)
	common.DLQTopic = prefix + "." + name + ".dlq"
	common.HTTPAddr = "127.0.0.1:0"
	common.Partitions = 1
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// signed is a JSON request signed with the test client's key.
func signed(method, path string, body any) request {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, "http://x"+path, nil)
	webhook.SignRequest(req, ingestKeyID, []byte(ingestSecret), raw, time.Now())
	req.Header.Set("Content-Type", "application/json")
	return request{method: method, path: path, header: req.Header, body: raw, validRequest: true}
}

func TestIngestAPIMatchesItsDescription(t *testing.T) {
	prefix := testenv.Name("apispec")
	var cfg ingest.Config
	bindDefaults(t, "ingest", prefix, &cfg, &cfg.Common)
	cfg.Group = prefix + "-ingest"
	cfg.Clients = ingestClient + ":" + ingestKeyID + "=" + ingestSecret
	cfg.URLAllowlist = []string{"127.0.0.0/8"}
	svc, err := ingest.New(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, "ingest", svc.Run, svc.Ready)
	s := loadSpec(t, "ingest.openapi.yaml", svc.Addr())

	upload := map[string]any{"content_id": "c1", "media_url": "http://127.0.0.1:9/media/c1.jpg",
		"content_type": "image", "uploader_id": "u1", "uploaded_at": "2026-12-01T10:00:00Z", "correlation_id": "corr-1"}
	other := map[string]any{"content_id": "c1", "media_url": "http://127.0.0.1:9/media/other.jpg", "content_type": "image", "uploader_id": "u1"}
	segment := func(url string) map[string]any {
		return map[string]any{"stream_id": "s1", "sequence": 0, "media_url": url, "offset_ms": 0, "duration_ms": 2000, "uploader_id": "u1"}
	}
	unsigned := func(r request) request {
		r.header = http.Header{"Content-Type": {"application/json"}}
		r.validRequest = false
		return r
	}
	invalid := func(r request) request { r.validRequest = false; return r }
	badSig := signed("POST", "/v1/uploads", upload)
	badSig.header.Set(webhook.HeaderSignature, "t=1,v1=00")
	textBody := signed("POST", "/v1/uploads", upload)
	textBody.header.Set("Content-Type", "text/plain")
	textBody.validRequest = false
	huge := signed("POST", "/v1/uploads", map[string]any{"content_id": strings.Repeat("x", int(cfg.MaxBodyBytes)),
		"media_url": "http://127.0.0.1:9/m.jpg", "content_type": "image", "uploader_id": "u1"})
	huge.validRequest = false
	wrongStream := signed("POST", "/v1/streams/s2/segments", segment("http://127.0.0.1:9/seg/0.mp4"))

	for _, tc := range []struct {
		name string
		r    request
		want int
	}{
		{"upload", signed("POST", "/v1/uploads", upload), http.StatusAccepted},
		{"the same upload again", signed("POST", "/v1/uploads", upload), http.StatusOK},
		{"its id with other media", signed("POST", "/v1/uploads", other), http.StatusConflict},
		{"an unknown field", invalid(signed("POST", "/v1/uploads", map[string]any{"content_id": "c2", "media_url": "http://127.0.0.1:9/c2.jpg",
			"content_type": "image", "uploader_id": "u1", "colour": "red"})), http.StatusBadRequest},
		{"fields missing", invalid(signed("POST", "/v1/uploads", map[string]any{"content_id": "c3"})), http.StatusBadRequest},
		{"a content type of neither kind", invalid(signed("POST", "/v1/uploads", map[string]any{"content_id": "c4",
			"media_url": "http://127.0.0.1:9/c4.jpg", "content_type": "audio", "uploader_id": "u1"})), http.StatusBadRequest},
		{"unsigned", unsigned(signed("POST", "/v1/uploads", upload)), http.StatusUnauthorized},
		{"a wrong signature", badSig, http.StatusUnauthorized},
		{"a text body", textBody, http.StatusUnsupportedMediaType},
		{"a body over max-body-bytes", huge, http.StatusRequestEntityTooLarge},
		{"segment", signed("POST", "/v1/streams/s1/segments", segment("http://127.0.0.1:9/seg/0.mp4")), http.StatusAccepted},
		{"the same segment again", signed("POST", "/v1/streams/s1/segments", segment("http://127.0.0.1:9/seg/0.mp4")), http.StatusOK},
		{"its sequence with other media", signed("POST", "/v1/streams/s1/segments", segment("http://127.0.0.1:9/seg/x.mp4")), http.StatusConflict},
		{"a body for another stream", wrongStream, http.StatusBadRequest},
		{"a segment without sequence", invalid(signed("POST", "/v1/streams/s1/segments", map[string]any{"stream_id": "s1",
			"media_url": "http://127.0.0.1:9/seg/1.mp4", "offset_ms": 0, "duration_ms": 2000, "uploader_id": "u1"})), http.StatusBadRequest},
		{"an unsigned segment", unsigned(signed("POST", "/v1/streams/s1/segments", segment("http://127.0.0.1:9/seg/0.mp4"))), http.StatusUnauthorized},
		{"stats", request{method: "GET", path: "/v1/stats", validRequest: true}, http.StatusOK},
		{"healthz", request{method: "GET", path: "/healthz", validRequest: true}, http.StatusOK},
		{"readyz", request{method: "GET", path: "/readyz", validRequest: true}, http.StatusOK},
		{"metrics", request{method: "GET", path: "/metrics", validRequest: true}, http.StatusOK},
	} {
		code, body := s.do(tc.r)
		if code != tc.want {
			t.Errorf("%s: %s %s answered %d, want %d: %s", tc.name, tc.r.method, tc.r.path, code, tc.want, body)
		}
	}
	s.checkCoverage()
	s.checkRoutes([]string{"../../services/ingest/ingest", "../../pkg/platform/service"})
	if t.Failed() {
		fmt.Println("(the description is docs/api/ingest.openapi.yaml)")
	}
}
