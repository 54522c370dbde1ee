package ingest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/edges/webhook"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
)

// baseConfig is the configuration Bind gives with an environment naming
// only the test clients.
func baseConfig(t *testing.T) Config {
	t.Helper()
	var cfg Config
	env := map[string]string{"TAKEDOWN_INGEST_CLIENTS": testClients}
	set := config.New("ingest-test").WithEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	cfg.Bind(set)
	if err := set.Parse(nil); err != nil {
		t.Fatal(err)
	}
	cfg.HTTPAddr = "127.0.0.1:0"
	return cfg
}

func TestBindDefaults(t *testing.T) {
	var cfg Config
	env := map[string]string{"TAKEDOWN_URL_ALLOWLIST": "127.0.0.1, 10.0.0.0/8", "TAKEDOWN_DEDUP_TTL": "1h", "TAKEDOWN_INGEST_CLIENTS": testClients}
	set := config.New("ingest-test").WithEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	cfg.Bind(set)
	if err := set.Parse([]string{"-max-body-bytes", "2048"}); err != nil {
		t.Fatal(err)
	}
	if cfg.Group != "takedown-ingest" || cfg.DedupTTL != time.Hour || cfg.MaxBodyBytes != 2048 ||
		strings.Join(cfg.URLAllowlist, "|") != "127.0.0.1|10.0.0.0/8" || cfg.HTTPAddr != DefaultHTTPAddr ||
		cfg.DLQTopic != "ingest.dlq" {
		t.Errorf("config %+v", cfg)
	}
	cfg.URLAllowlist = []string{"not-an-ip"}
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "TAKEDOWN_URL_ALLOWLIST") {
		t.Errorf("New with a bad allowlist: %v", err)
	}
}

// TestUploadValidation needs neither Kafka nor Redis: every request here is
// refused before anything is published.
func TestUploadValidation(t *testing.T) {
	cfg := baseConfig(t)
	cfg.MaxBodyBytes = 2048
	svc, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()

	valid := `"content_id":"c1","media_url":"https://93.184.215.14/a.jpg","content_type":"image","uploader_id":"u1"`
	tests := []struct {
		name        string
		body        string
		contentType string
		code        int
		want        []string // substrings of the error message
	}{
		{name: "empty body", body: "", code: 400, want: []string{"empty"}},
		{name: "malformed JSON", body: `{"content_id": "c1",`, code: 400, want: []string{"malformed JSON"}},
		{name: "not an object", body: `[1,2]`, code: 400, want: []string{"JSON object"}},
		{name: "wrong type", body: `{"content_id": 5}`, code: 400, want: []string{"content_id", "string"}},
		{name: "unknown field", body: `{` + valid + `,"uploader":"x"}`, code: 400, want: []string{`unknown field "uploader"`}},
		{name: "trailing data", body: `{` + valid + `} {}`, code: 400, want: []string{"single JSON object"}},
		{name: "missing fields", body: `{}`, code: 400, want: []string{
			"4 problems", "content_id is required", "uploader_id is required", "media_url is required", "content_type is required"}},
		{name: "bad content type", body: `{"content_id":"c1","media_url":"https://93.184.215.14/a.gif","content_type":"gif","uploader_id":"u1"}`,
			code: 400, want: []string{`content_type "gif"`, `"image" or "video"`}},
		{name: "ftp URL", body: `{"content_id":"c1","media_url":"ftp://93.184.215.14/a.jpg","content_type":"image","uploader_id":"u1"}`,
			code: 400, want: []string{"media_url refused", "ftp://"}},
		{name: "private address", body: `{"content_id":"c1","media_url":"http://10.1.2.3/a.jpg","content_type":"image","uploader_id":"u1"}`,
			code: 400, want: []string{"10.1.2.3", "private"}},
		{name: "loopback name", body: `{"content_id":"c1","media_url":"http://localhost/a.jpg","content_type":"image","uploader_id":"u1"}`,
			code: 400, want: []string{`host "localhost"`, "public addresses only"}},
		{name: "metadata address", body: `{"content_id":"c1","media_url":"http://169.254.169.254/latest","content_type":"video","uploader_id":"u1"}`,
			code: 400, want: []string{"169.254.169.254", "link-local"}},
		{name: "bad time", body: `{` + valid + `,"uploaded_at":"yesterday"}`, code: 400, want: []string{"uploaded_at", "RFC 3339"}},
		{name: "control characters", body: `{"content_id":"c\u0000","media_url":"https://93.184.215.14/a.jpg","content_type":"image","uploader_id":"u1"}`,
			code: 400, want: []string{"content_id contains control characters"}},
		{name: "long id", body: `{"content_id":"` + strings.Repeat("x", 300) + `","media_url":"https://93.184.215.14/a.jpg","content_type":"image","uploader_id":"u1"}`,
			code: 400, want: []string{"content_id is 300 bytes"}},
		{name: "several problems", body: `{"content_id":"c1","media_url":"http://192.168.0.1/a","content_type":"audio","uploader_id":""}`,
			code: 400, want: []string{"3 problems", "uploader_id is required", `content_type "audio"`, "192.168.0.1"}},
		{name: "too large", body: `{` + valid + `,"correlation_id":"` + strings.Repeat("x", 3000) + `"}`, code: 413, want: []string{"larger than 2048 bytes"}},
		{name: "not JSON content type", body: `{` + valid + `}`, contentType: "text/plain", code: 415, want: []string{"application/json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := tt.contentType
			if ct == "" {
				ct = "application/json"
			}
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/uploads", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", ct)
			req.Header.Set(webhook.HeaderKeyID, acmeKey)
			req.Header.Set(webhook.HeaderSignature, webhook.Sign([]byte(acmeSecret), time.Now(), []byte(tt.body)))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e ErrorResponse
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatalf("error body is not JSON: %v", err)
			}
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, e.Error, tt.code)
			}
			for _, s := range tt.want {
				if !strings.Contains(e.Error, s) {
					t.Errorf("error %q does not mention %q", e.Error, s)
				}
			}
		})
	}
}

func TestValidateUploadTime(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	req := UploadRequest{ContentID: "c", MediaURL: "https://x/", ContentType: "image", UploaderID: "u"}
	got, problems := validateUpload(req, now)
	if len(problems) != 0 || !got.Equal(now) {
		t.Errorf("no uploaded_at: %v %v, want now", got, problems)
	}
	req.UploadedAt = "2024-05-01T14:00:00.5+02:00"
	got, problems = validateUpload(req, now)
	if want := time.Date(2024, 5, 1, 12, 0, 0, 5e8, time.UTC); len(problems) != 0 || !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("uploaded_at: %v %v, want %v", got, problems, want)
	}
}

func TestDecodeClaim(t *testing.T) {
	for _, tc := range []struct {
		name, stored string
		want         mediaClaim
	}{
		{"pending upload", "fp pending ev corr id with spaces", mediaClaim{"fp", "ev", "corr id with spaces", false}},
		{"queued upload", "fp queued ev corr", mediaClaim{"fp", "ev", "corr", true}},
		{"queued segment", "fp queued ev ", mediaClaim{"fp", "ev", "", true}},
		// Written before claims had a state: answered only after publishing.
		{"old upload", "fp ev corr", mediaClaim{"fp", "ev", "corr", true}},
		{"old segment", "fp ev", mediaClaim{"fp", "ev", "", true}},
		{"older, fingerprint only", "fp", mediaClaim{"fp", "", "", true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := decodeClaim(tc.stored)
			if got != tc.want {
				t.Errorf("decodeClaim(%q) = %+v, want %+v", tc.stored, got, tc.want)
			}
			if strings.Count(tc.stored, " ") >= 3 && got.encode() != tc.stored {
				t.Errorf("%+v encodes to %q, want %q back", got, got.encode(), tc.stored)
			}
		})
	}
}
