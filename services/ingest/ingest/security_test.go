package ingest

// Regression tests of issue 11's "who may call what" findings. They use only
// the service's settings (environment), HTTP and Kafka, so that they also
// run against the code from before the fix (where each of them fails).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/edges/webhook"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// Two clients of the tests and their keys.
const (
	acmeKey, acmeSecret   = "acme-1", "acme-secret-0123456789abcdef0123456789"
	rivalKey, rivalSecret = "rival-1", "rival-secret-0123456789abcdef012345678"
	testClients           = "acme:" + acmeKey + "=" + acmeSecret + ",rival:" + rivalKey + "=" + rivalSecret
)

// secured is an ingest service on the test broker and Redis, configured
// through its settings as the binary is.
type secured struct {
	url    string
	topics config.Topics
	coll   *collector
}

func startSecured(t *testing.T, extra map[string]string) *secured {
	t.Helper()
	env := map[string]string{
		"TAKEDOWN_KAFKA_BROKERS":         strings.Join(testenv.KafkaBrokers(t), ","),
		"TAKEDOWN_REDIS_ADDR":            testenv.RedisAddr(t),
		"TAKEDOWN_REDIS_PREFIX":          testenv.Name("test"),
		"TAKEDOWN_GROUP":                 testenv.Name("takedown-ingest"),
		"TAKEDOWN_TOPIC_PARTITIONS":      "1",
		"TAKEDOWN_TOPIC_UPLOADED":        testenv.Name("media.uploaded"),
		"TAKEDOWN_TOPIC_INGESTED":        testenv.Name("media.ingested"),
		"TAKEDOWN_TOPIC_STREAM_SEGMENTS": testenv.Name("stream.segments"),
		"TAKEDOWN_DLQ_TOPIC":             testenv.Name("ingest.dlq"),
		"TAKEDOWN_HTTP_ADDR":             "127.0.0.1:0",
		"TAKEDOWN_INGEST_CLIENTS":        testClients,
	}
	for k, v := range extra {
		env[k] = v
	}
	var cfg Config
	set := config.New("ingest-test").WithEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	cfg.Bind(set)
	if err := set.Parse(nil); err != nil {
		t.Fatal(err)
	}
	svc, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, "ingest", svc.Run, svc.Ready)
	ctx, cancel := context.WithCancel(context.Background())
	coll := startCollector(t, ctx, cfg.Kafka.Brokers, cfg.Topics.Ingested, cfg.Topics.StreamSegments)
	t.Cleanup(cancel)
	return &secured{url: "http://" + svc.Addr(), topics: cfg.Topics, coll: coll}
}

// answer is a decoded API answer.
type answer struct {
	code   int
	header http.Header
	body   string
	json   map[string]any
}

// post sends body to path, signed with keyID and secret unless keyID is "".
func (s *secured) post(t *testing.T, path, keyID, secret, body string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if keyID != "" {
		req.Header.Set("X-Takedown-Key-Id", keyID)
		req.Header.Set(webhook.HeaderSignature, webhook.Sign([]byte(secret), time.Now(), []byte(body)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	a := answer{code: resp.StatusCode, header: resp.Header, body: string(data)}
	_ = json.Unmarshal(data, &a.json)
	return a
}

func upload(id, mediaURL string) string {
	return fmt.Sprintf(`{"content_id":%q,"media_url":%q,"content_type":"image","uploader_id":"u-1"}`, id, mediaURL)
}

func segment(stream string, seq int, mediaURL string) string {
	return fmt.Sprintf(`{"stream_id":%q,"sequence":%d,"offset_ms":%d,"duration_ms":2000,"media_url":%q,"uploader_id":"streamer"}`,
		stream, seq, seq*2000, mediaURL)
}

// published returns the events on topic whose content id is id.
func published(t *testing.T, msgs []*messaging.Message, topic, id string) []events.Meta {
	t.Helper()
	var out []events.Meta
	for _, m := range msgs {
		var meta events.Meta
		if m.Topic != topic || json.Unmarshal(m.Value, &meta) != nil {
			continue
		}
		if meta.ContentID == id {
			out = append(out, meta)
		}
	}
	return out
}

func TestSecurity(t *testing.T) {
	s := startSecured(t, map[string]string{"TAKEDOWN_HTTP_READ_TIMEOUT": "1s"})

	// Before: every one of these answered 202 and was published.
	t.Run("forged uploads are refused", func(t *testing.T) {
		id := testenv.Name("forged")
		body := upload(id, "https://93.184.215.14/"+id+".jpg")
		for _, c := range []struct{ name, keyID, secret, send string }{
			{"unsigned", "", "", body},
			{"wrong secret", acmeKey, rivalSecret, body},
			{"unknown key", "nobody-1", acmeSecret, body},
			{"body changed after signing", acmeKey, acmeSecret, ""},
		} {
			var a answer
			if c.send == "" {
				// Signed for one body, sent with another.
				req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/uploads", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Takedown-Key-Id", acmeKey)
				req.Header.Set(webhook.HeaderSignature, webhook.Sign([]byte(acmeSecret), time.Now(), []byte(upload(id, "https://93.184.215.14/other.jpg"))))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				data, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				a = answer{code: resp.StatusCode, body: string(data)}
			} else {
				a = s.post(t, "/v1/uploads", c.keyID, c.secret, c.send)
			}
			if a.code != http.StatusUnauthorized {
				t.Errorf("%s: %d %s, want 401", c.name, a.code, a.body)
			}
		}
		// A signed one goes through, as the signer's client.
		a := s.post(t, "/v1/uploads", acmeKey, acmeSecret, body)
		if a.code != http.StatusAccepted || a.json["client_id"] != "acme" || a.json["content_id"] != id {
			t.Fatalf("signed upload: %d %s", a.code, a.body)
		}
		msgs := s.coll.wait(t, "the signed upload", hasIngested(s.topics.Ingested, "acme:"+id))
		if n := len(published(t, msgs, s.topics.Ingested, "acme:"+id)); n != 1 {
			t.Errorf("%d media.ingested for the signed upload, want 1", n)
		}
		if n := len(published(t, msgs, s.topics.Ingested, id)); n != 0 {
			t.Errorf("%d media.ingested under the unscoped id", n)
		}
	})

	// Before: the rival's segments went into the acme stream (same stream
	// id), and the enforcer summed their footage with acme's.
	t.Run("a client cannot post into another's stream", func(t *testing.T) {
		stream := testenv.Name("live")
		if a := s.post(t, "/v1/streams/"+stream+"/segments", acmeKey, acmeSecret, segment(stream, 0, "https://93.184.215.14/own0.ts")); a.code != http.StatusAccepted {
			t.Fatalf("owner's segment: %d %s", a.code, a.body)
		}
		for seq := 1; seq <= 3; seq++ {
			if a := s.post(t, "/v1/streams/"+stream+"/segments", rivalKey, rivalSecret, segment(stream, seq, fmt.Sprintf("https://93.184.215.14/banked%d.ts", seq))); a.code != http.StatusAccepted {
				t.Fatalf("rival's segment %d: %d %s", seq, a.code, a.body)
			}
		}
		// An unsigned one is refused outright.
		if a := s.post(t, "/v1/streams/"+stream+"/segments", "", "", segment(stream, 4, "https://93.184.215.14/banked4.ts")); a.code != http.StatusUnauthorized {
			t.Errorf("unsigned segment: %d %s, want 401", a.code, a.body)
		}
		msgs := s.coll.wait(t, "four segments", func(msgs []*messaging.Message) bool {
			return len(published(t, msgs, s.topics.StreamSegments, "rival:"+stream)) >= 3
		})
		own := published(t, msgs, s.topics.StreamSegments, "acme:"+stream)
		if len(own) != 1 || own[0].ClientID != "acme" {
			t.Errorf("the owner's stream got %d segments (%+v), want its own 1", len(own), own)
		}
		if n := len(published(t, msgs, s.topics.StreamSegments, stream)); n != 0 {
			t.Errorf("%d segments under the bare stream id", n)
		}
	})

	// Before: segments were not de-duplicated at all.
	t.Run("segments are de-duplicated by client, stream and sequence", func(t *testing.T) {
		stream := testenv.Name("dup-live")
		path := "/v1/streams/" + stream + "/segments"
		first := s.post(t, path, acmeKey, acmeSecret, segment(stream, 0, "https://93.184.215.14/a.ts"))
		again := s.post(t, path, acmeKey, acmeSecret, segment(stream, 0, "https://93.184.215.14/a.ts"))
		other := s.post(t, path, acmeKey, acmeSecret, segment(stream, 0, "https://93.184.215.14/b.ts"))
		if first.code != http.StatusAccepted || again.code != http.StatusOK || again.json["duplicate"] != true ||
			again.json["event_id"] != first.json["event_id"] {
			t.Errorf("first %d %s, again %d %s", first.code, first.body, again.code, again.body)
		}
		if other.code != http.StatusConflict || !strings.Contains(other.body, "different media_url") {
			t.Errorf("same sequence, other media: %d %s, want 409", other.code, other.body)
		}
		// The signature covers the body: a body signed for one stream is
		// refused on another stream's path.
		if a := s.post(t, "/v1/streams/elsewhere/segments", acmeKey, acmeSecret, segment(stream, 1, "https://93.184.215.14/c.ts")); a.code != http.StatusBadRequest ||
			!strings.Contains(a.body, "stream_id") {
			t.Errorf("body for another stream: %d %s, want 400", a.code, a.body)
		}
		sentinel := testenv.Name("sentinel")
		s.post(t, "/v1/streams/"+sentinel+"/segments", acmeKey, acmeSecret, segment(sentinel, 0, "https://93.184.215.14/s.ts"))
		msgs := s.coll.wait(t, "sentinel", func(msgs []*messaging.Message) bool {
			return len(published(t, msgs, s.topics.StreamSegments, "acme:"+sentinel)) > 0
		})
		if n := len(published(t, msgs, s.topics.StreamSegments, "acme:"+stream)); n != 1 {
			t.Errorf("%d segments published for one (stream, sequence), want 1", n)
		}
	})

	// Before: the second upload answered 202 and was then dropped by the
	// consumer as a duplicate of the first, for DedupTTL (7 days).
	t.Run("an id reused for other media is refused, not dropped", func(t *testing.T) {
		id := testenv.Name("reused")
		if a := s.post(t, "/v1/uploads", acmeKey, acmeSecret, upload(id, "https://93.184.215.14/harmless.jpg")); a.code != http.StatusAccepted {
			t.Fatalf("first upload: %d %s", a.code, a.body)
		}
		a := s.post(t, "/v1/uploads", acmeKey, acmeSecret, upload(id, "https://93.184.215.14/real.jpg"))
		if a.code != http.StatusConflict || !strings.Contains(a.body, "different media_url") {
			t.Errorf("same id, other media: %d %s, want 409", a.code, a.body)
		}
		// The same id and media again is an idempotent repeat, answered
		// as one; the same id under another client is another piece of
		// content.
		if a := s.post(t, "/v1/uploads", acmeKey, acmeSecret, upload(id, "https://93.184.215.14/harmless.jpg")); a.code != http.StatusOK ||
			!strings.Contains(a.body, `"status":"already_accepted"`) {
			t.Errorf("repeat: %d %s, want 200 already_accepted", a.code, a.body)
		}
		if a := s.post(t, "/v1/uploads", rivalKey, rivalSecret, upload(id, "https://93.184.215.14/real.jpg")); a.code != http.StatusAccepted {
			t.Errorf("other client, same id: %d %s, want 202", a.code, a.body)
		}
		s.coll.wait(t, "the rival's upload", hasIngested(s.topics.Ingested, "rival:"+id))
	})

	// Before: the consumer dropped the second as a duplicate.
	t.Run("produced uploads with one id and other media are both processed", func(t *testing.T) {
		pub := messaging.NewKafkaPublisher(config.Kafka{Brokers: testenv.KafkaBrokers(t)})
		defer pub.Close()
		id := testenv.Name("produced")
		for _, u := range []string{"https://93.184.215.14/harmless.jpg", "https://93.184.215.14/real.jpg", "https://93.184.215.14/real.jpg"} {
			ev := events.MediaUploaded{Meta: events.NewMeta(events.TypeMediaUploaded, id, ""),
				MediaURL: u, ContentType: "image", UploaderID: "u", UploadedAt: time.Now()}
			if err := messaging.PublishEvent(context.Background(), pub, s.topics.Uploaded, &ev); err != nil {
				t.Fatal(err)
			}
		}
		sentinel := testenv.Name("sentinel")
		s.post(t, "/v1/uploads", acmeKey, acmeSecret, upload(sentinel, "https://93.184.215.14/s.jpg"))
		msgs := s.coll.wait(t, "sentinel", hasIngested(s.topics.Ingested, "acme:"+sentinel))
		// Records without a client are the configured default's.
		got := published(t, msgs, s.topics.Ingested, "platform:"+id)
		if len(got) != 2 {
			t.Fatalf("%d media.ingested, want 2 (one per media; the repeat dropped)", len(got))
		}
	})

	// Before: `media_url refused: ... host "localhost" resolves to
	// ::ffff:127.0.0.1, a loopback address ...`.
	t.Run("errors carry no internal detail", func(t *testing.T) {
		a := s.post(t, "/v1/uploads", acmeKey, acmeSecret, upload("c1", "http://localhost/a.jpg"))
		if a.code != http.StatusBadRequest || !strings.Contains(a.body, "localhost") {
			t.Fatalf("loopback host: %d %s, want 400 naming the host", a.code, a.body)
		}
		for _, leak := range []string{"127.0.0.1", "::1", "resolves to", "loopback", "TAKEDOWN_"} {
			if strings.Contains(a.body, leak) {
				t.Errorf("answer %s reveals %q", a.body, leak)
			}
		}
	})

	t.Run("oversized bodies are refused before anything else", func(t *testing.T) {
		big := upload("c1", "https://93.184.215.14/"+strings.Repeat("x", 70<<10))
		for _, keyID := range []string{"", acmeKey} {
			if a := s.post(t, "/v1/uploads", keyID, acmeSecret, big); a.code != http.StatusRequestEntityTooLarge {
				t.Errorf("signed=%v: %d %s, want 413", keyID != "", a.code, a.body)
			}
		}
	})

	// Before: only ReadHeaderTimeout was set; a trickled body stayed open.
	t.Run("a trickled body is cut off by the read timeout", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		fmt.Fprintf(conn, "POST /v1/uploads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{")
		for time.Since(start) < 6*time.Second {
			time.Sleep(100 * time.Millisecond)
			if _, err := conn.Write([]byte(" ")); err != nil {
				break
			}
			_ = conn.SetReadDeadline(time.Now().Add(time.Millisecond))
			if _, err := conn.Read(make([]byte, 512)); err != nil && !isTimeout(err) {
				break
			}
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("trickled request still open after %s (read timeout 1s)", d.Round(time.Millisecond))
		}
	})
}

// Before: no rate limit existed.
func TestRateLimit(t *testing.T) {
	s := startSecured(t, map[string]string{"TAKEDOWN_CLIENT_RATE": "1", "TAKEDOWN_CLIENT_BURST": "2"})
	var codes []int
	var last answer
	for range 3 {
		last = s.post(t, "/v1/uploads", acmeKey, acmeSecret, `{}`)
		codes = append(codes, last.code)
	}
	if codes[0] != 400 || codes[1] != 400 || codes[2] != http.StatusTooManyRequests {
		t.Fatalf("codes %v, want [400 400 429]", codes)
	}
	if ra := last.header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q, want 1", ra)
	}
	if !strings.Contains(last.body, "rate limit") {
		t.Errorf("429 body %s", last.body)
	}
	// Another client has its own bucket.
	if a := s.post(t, "/v1/uploads", rivalKey, rivalSecret, `{}`); a.code != 400 {
		t.Errorf("other client: %d, want 400", a.code)
	}
	time.Sleep(1100 * time.Millisecond)
	if a := s.post(t, "/v1/uploads", acmeKey, acmeSecret, `{}`); a.code != 400 {
		t.Errorf("after Retry-After: %d, want 400", a.code)
	}
}

// Before: ingest started with no credentials configured and accepted anyone.
func TestClientsSetting(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		want []string // substrings of New's error; none: New succeeds
	}{
		{"none", nil, []string{"TAKEDOWN_INGEST_CLIENTS is empty", "TAKEDOWN_INGEST_ALLOW_ANONYMOUS"}},
		{"anonymous allowed", map[string]string{"TAKEDOWN_INGEST_ALLOW_ANONYMOUS": "true"}, nil},
		{"good", map[string]string{"TAKEDOWN_INGEST_CLIENTS": "# comment\n" + testClients + "\nacme:acme-2=" + strings.Repeat("z", 32)}, nil},
		{"not an entry", map[string]string{"TAKEDOWN_INGEST_CLIENTS": "acme-" + acmeSecret}, []string{"TAKEDOWN_INGEST_CLIENTS: entry 1 is not client:keyid=secret"}},
		{"short secret", map[string]string{"TAKEDOWN_INGEST_CLIENTS": "acme:k=short"}, []string{"TAKEDOWN_INGEST_CLIENTS", "secret shorter than 32"}},
		{"bad client", map[string]string{"TAKEDOWN_INGEST_CLIENTS": "Acme:k=" + acmeSecret}, []string{"TAKEDOWN_INGEST_CLIENTS", `client id "Acme"`}},
		{"reserved client", map[string]string{"TAKEDOWN_INGEST_CLIENTS": "anonymous:k=" + acmeSecret}, []string{"reserved"}},
		{"shared key id", map[string]string{"TAKEDOWN_INGEST_CLIENTS": "acme:k=" + acmeSecret + ",rival:k=" + rivalSecret}, []string{"key id k already belongs to client acme"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var cfg Config
			set := config.New("ingest-test").WithEnv(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
			cfg.Bind(set)
			if err := set.Parse(nil); err != nil {
				t.Fatal(err)
			}
			_, err := New(cfg, nil)
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			for _, secret := range []string{acmeSecret, rivalSecret} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows a secret", err)
				}
			}
		})
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// signedPost posts body to url signed with the acme key, as a client does.
func signedPost(url, body string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(body)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Takedown-Key-Id", acmeKey)
	req.Header.Set(webhook.HeaderSignature, webhook.Sign([]byte(acmeSecret), time.Now(), []byte(body)))
	return http.DefaultClient.Do(req)
}

// Anonymous access exists only behind its setting, and anonymous requests
// are one client, with one rate limit.
func TestAnonymousClient(t *testing.T) {
	env := map[string]string{"TAKEDOWN_INGEST_ALLOW_ANONYMOUS": "true", "TAKEDOWN_CLIENT_RATE": "1", "TAKEDOWN_CLIENT_BURST": "1"}
	var cfg Config
	set := config.New("ingest-test").WithEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	cfg.Bind(set)
	if err := set.Parse(nil); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	svc, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	var codes []int
	var last string
	for range 2 {
		resp, err := http.Post(srv.URL+"/v1/uploads", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		last = string(b)
	}
	if codes[0] != http.StatusBadRequest || codes[1] != http.StatusTooManyRequests || !strings.Contains(last, "client anonymous") {
		t.Errorf("unsigned requests: %v, last %s", codes, last)
	}
	if !strings.Contains(logs.String(), "UNSIGNED API REQUEST ACCEPTED") {
		t.Errorf("an anonymous request was not logged loudly:\n%s", logs.String())
	}
}
