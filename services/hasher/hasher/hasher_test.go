package hasher

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

func TestBindDefaults(t *testing.T) {
	var cfg Config
	set := config.New("hasher-test").WithEnv(func(k string) (string, bool) {
		v, ok := map[string]string{"TAKEDOWN_MAX_PIXELS": "1000", "TAKEDOWN_URL_ALLOWLIST": "::1"}[k]
		return v, ok
	})
	cfg.Bind(set)
	if err := set.Parse([]string{"-fetch-timeout", "5s"}); err != nil {
		t.Fatal(err)
	}
	if cfg.Group != "takedown-hasher" || cfg.MaxMediaBytes != 52428800 || cfg.FetchTimeout != 5*time.Second ||
		cfg.MaxPixels != 1000 || len(cfg.URLAllowlist) != 1 || cfg.HTTPAddr != DefaultHTTPAddr || cfg.DLQTopic != "hasher.dlq" {
		t.Errorf("config %+v", cfg)
	}
	cfg.URLAllowlist = []string{"example.com"}
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "TAKEDOWN_URL_ALLOWLIST") {
		t.Errorf("New with a bad allowlist: %v", err)
	}
}

// testPNG is a small image with some structure, so its perceptual hashes
// are not trivial.
func testPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 120, 80))
	for y := range 80 {
		for x := range 120 {
			v := uint8((x*2 + y*3) % 256)
			if (x/20+y/20)%2 == 0 {
				v = 255 - v
			}
			img.SetRGBA(x, y, color.RGBA{v, uint8(x * 2), uint8(y * 3), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngBomb is a PNG header declaring 60000x60000 pixels (10.8 GB decoded).
func pngBomb() []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 60000)
	binary.BigEndian.PutUint32(ihdr[4:], 60000)
	ihdr[8], ihdr[9] = 8, 2
	_ = binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	b.WriteString("IHDR")
	b.Write(ihdr)
	_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte("IHDR"), ihdr...)))
	return b.Bytes()
}

type collector struct {
	mu   sync.Mutex
	msgs []*messaging.Message
}

func startCollector(t *testing.T, brokers []string, topics ...string) *collector {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{}
	cons := messaging.NewConsumer(messaging.ConsumerConfig{Kafka: config.Kafka{Brokers: brokers}, Group: testenv.Name("hasher-test-collector"), Topics: topics,
		SessionTimeout: 6 * time.Second, Logger: slog.New(slog.DiscardHandler),
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = cons.Run(ctx, func(_ context.Context, m *messaging.Message) error {
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

// find polls for messages on topic keyed by contentID until there are n.
func (c *collector) find(t *testing.T, topic, contentID string, n int) []*messaging.Message {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var out []*messaging.Message
		c.mu.Lock()
		for _, m := range c.msgs {
			if m.Topic == topic && string(m.Key) == contentID {
				out = append(out, m)
			}
		}
		c.mu.Unlock()
		if len(out) >= n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %d message(s) about %s on %s; have %d", n, contentID, topic, len(out))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestHasher(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	photo := testPNG(t)
	var brokenHits atomic.Int32
	garbage := []byte("this is not an image at all, just text pretending")
	clip := []byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom-and-some-frames")
	mux := http.NewServeMux()
	mux.HandleFunc("/photo.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(photo)
	})
	mux.HandleFunc("/garbage.jpg", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write(garbage)
	})
	mux.HandleFunc("/bomb.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(pngBomb())
	})
	mux.HandleFunc("/clip.mp4", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		_, _ = w.Write(clip)
	})
	mux.HandleFunc("/broken.png", func(w http.ResponseWriter, r *http.Request) {
		brokenHits.Add(1)
		http.Error(w, "storage down", http.StatusServiceUnavailable)
	})
	// 404 for anything else; closed by a cleanup, after the hasher stops.
	media := httptest.NewServer(mux)
	t.Cleanup(media.Close)

	cfg := testConfig(t, brokers, nil)
	cfg.FetchTimeout = 10 * time.Second
	cfg.FetchAttempts = 3
	svc, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	svc.retry = messaging.RetryConfig{MaxAttempts: 3, InitialBackoff: 50 * time.Millisecond}
	svc.fetchBackoff = 20 * time.Millisecond
	testenv.Run(t, "hasher", svc.Run, svc.Ready)
	coll := startCollector(t, brokers, cfg.Topics.Hashed, cfg.DLQTopic)

	pub := messaging.NewKafkaPublisher(config.Kafka{Brokers: brokers})
	defer pub.Close()
	uploadedAt := time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC)
	ingest := func(t *testing.T, path, contentType string) events.MediaIngested {
		t.Helper()
		ev := events.MediaIngested{
			Meta:     events.NewMeta(events.TypeMediaIngested, testenv.Name("content"), ""),
			MediaURL: media.URL + path, ContentType: contentType, UploaderID: "uploader-7",
			UploadedAt: uploadedAt, IngestedAt: time.Now().UTC(),
		}
		if err := messaging.PublishEvent(context.Background(), pub, cfg.Topics.Ingested, &ev); err != nil {
			t.Fatal(err)
		}
		return ev
	}
	decodeHashed := func(t *testing.T, m *messaging.Message) events.MediaHashed {
		t.Helper()
		var out events.MediaHashed
		if err := events.Decode(m.Value, events.TypeMediaHashed, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	signal := func(ev events.MediaHashed, typ string) string {
		for _, s := range ev.Signals {
			if s.Type == typ {
				return s.Value
			}
		}
		return ""
	}

	t.Run("image is hashed", func(t *testing.T) {
		in := ingest(t, "/photo.png", events.ContentImage)
		out := decodeHashed(t, coll.find(t, cfg.Topics.Hashed, in.ContentID, 1)[0])
		sum := sha256.Sum256(photo)
		if got := signal(out, events.SignalSHA256); got != hex.EncodeToString(sum[:]) {
			t.Errorf("sha256 %s, want %x", got, sum)
		}
		for _, typ := range []string{events.SignalMD5, events.SignalPHash, events.SignalDHash} {
			if signal(out, typ) == "" {
				t.Errorf("no %s signal in %+v", typ, out.Signals)
			}
		}
		if len(signal(out, events.SignalPHash)) != 16 {
			t.Errorf("phash %q is not 16 hex digits", signal(out, events.SignalPHash))
		}
		want := events.MediaInfo{MimeType: "image/png", Bytes: int64(len(photo)), Width: 120, Height: 80}
		if out.Media != want {
			t.Errorf("media %+v, want %+v", out.Media, want)
		}
		if out.CorrelationID != in.CorrelationID || out.MediaURL != in.MediaURL || out.ContentType != "image" ||
			out.UploaderID != "uploader-7" || !out.UploadedAt.Equal(uploadedAt) || out.EventID == in.EventID {
			t.Errorf("media.hashed %+v does not follow %+v", out, in)
		}
	})

	// unhashableOf waits for the media.hashed of in and checks that it is
	// unhashable for reason, with the byte hashes of data (nil: nothing was
	// fetched), and that nothing went to the dead-letter topic.
	unhashableOf := func(t *testing.T, in events.MediaIngested, reason string, data []byte, detail ...string) events.MediaHashed {
		t.Helper()
		out := decodeHashed(t, coll.find(t, cfg.Topics.Hashed, in.ContentID, 1)[0])
		u := out.Unhashable
		if u == nil || u.Reason != reason {
			t.Fatalf("media.hashed %+v: want unhashable %s", out, reason)
		}
		t.Logf("unhashable %s: %s", u.Reason, u.Detail)
		for _, d := range detail {
			if !strings.Contains(u.Detail, d) {
				t.Errorf("detail %q does not mention %q", u.Detail, d)
			}
		}
		if data == nil {
			if len(out.Signals) != 0 || out.Media.Bytes != 0 {
				t.Errorf("nothing was fetched, yet signals %+v, media %+v", out.Signals, out.Media)
			}
		} else {
			sum := sha256.Sum256(data)
			if got := signal(out, events.SignalSHA256); got != hex.EncodeToString(sum[:]) || signal(out, events.SignalMD5) == "" ||
				len(out.Signals) != 2 || out.Media.Bytes != int64(len(data)) {
				t.Errorf("signals %+v, media %+v: want the sha256 %x and md5 of the %d bytes fetched", out.Signals, out.Media, sum, len(data))
			}
		}
		if out.CorrelationID != in.CorrelationID || out.MediaURL != in.MediaURL || out.ContentType != in.ContentType ||
			out.UploaderID != "uploader-7" || !out.UploadedAt.Equal(uploadedAt) {
			t.Errorf("media.hashed %+v does not follow %+v", out, in)
		}
		coll.mu.Lock()
		defer coll.mu.Unlock()
		for _, m := range coll.msgs {
			if m.Topic == cfg.DLQTopic && string(m.Key) == in.ContentID {
				t.Errorf("unhashable media was also dead-lettered: %s", m.Header(messaging.HeaderDLQError))
			}
		}
		return out
	}

	t.Run("a video that does not decode is unhashable", func(t *testing.T) {
		// Real videos: video_test.go.
		in := ingest(t, "/clip.mp4", events.ContentVideo)
		unhashableOf(t, in, events.UnhashableUnsupported, clip, "video from")
	})

	unhashables := []struct {
		name, path, reason string
		data               []byte
		want               []string
	}{
		{"undecodable file", "/garbage.jpg", events.UnhashableUnsupported, garbage, []string{"unsupported media format", "text/plain"}},
		{"decompression bomb", "/bomb.png", events.UnhashableTooManyPixels, pngBomb(), []string{"too many pixels", "60000x60000"}},
		{"missing media", "/missing.png", events.UnhashableHostRefused, nil, []string{"HTTP 404"}},
	}
	for _, u := range unhashables {
		t.Run(u.name+" is unhashable", func(t *testing.T) {
			in := ingest(t, u.path, events.ContentImage)
			unhashableOf(t, in, u.reason, u.data, u.want...)
		})
	}

	t.Run("server error is retried, then unhashable", func(t *testing.T) {
		in := ingest(t, "/broken.png", events.ContentImage)
		unhashableOf(t, in, events.UnhashableHostUnavailable, nil, "503", "after 3 attempts")
		if n := brokenHits.Load(); n != 3 {
			t.Errorf("media server hit %d times, want 3 (TAKEDOWN_FETCH_ATTEMPTS)", n)
		}
	})

	t.Run("redelivery is hashed again", func(t *testing.T) {
		in := ingest(t, "/photo.png", events.ContentImage)
		// The same record again, as after a crash before the commit.
		if err := messaging.PublishEvent(context.Background(), pub, cfg.Topics.Ingested, &in); err != nil {
			t.Fatal(err)
		}
		msgs := coll.find(t, cfg.Topics.Hashed, in.ContentID, 2)
		a, b := decodeHashed(t, msgs[0]), decodeHashed(t, msgs[1])
		// sha256, md5, pdq and its 7 dihedral variants, phash, dhash, and
		// the robustness variants (regions; this small picture "upscaled").
		have := map[string]bool{}
		for _, s := range a.Signals {
			have[s.Type+":"+s.Variant] = true
		}
		for _, want := range []string{"sha256:", "md5:", "pdq:", "pdq:rot90", "pdq:rot180", "pdq:rot270", "pdq:flipx",
			"pdq:flipy", "pdq:flipplus", "pdq:flipminus", "pdq:top80", "phash:", "dhash:"} {
			if !have[want] {
				t.Errorf("no %s signal among %d", want, len(a.Signals))
			}
		}
		if len(a.Signals) != len(b.Signals) {
			t.Fatalf("signals %+v and %+v", a.Signals, b.Signals)
		}
		if !reflect.DeepEqual(a.Signals, b.Signals) {
			t.Errorf("redelivery hashed differently: %+v vs %+v", a.Signals, b.Signals)
		}
	})

	t.Run("invalid event is dead-lettered", func(t *testing.T) {
		key := testenv.Name("junk")
		if err := pub.Publish(context.Background(), messaging.Message{Topic: cfg.Topics.Ingested, Key: []byte(key), Value: []byte(`{"event_type":"media.ingested"}`)}); err != nil {
			t.Fatal(err)
		}
		m := coll.find(t, cfg.DLQTopic, key, 1)[0]
		if reason := m.Header(messaging.HeaderDLQError); !strings.Contains(reason, "invalid event") {
			t.Errorf("dlq-error %q", reason)
		}
	})
}

// testConfig is the hasher's configuration from env (as its main binds it)
// on the test broker and Redis, with topics and a group of the test's own
// and the loopback media servers allowed.
func testConfig(t *testing.T, brokers []string, env map[string]string) Config {
	t.Helper()
	var cfg Config
	set := config.New("hasher-test").WithEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	cfg.Bind(set)
	if err := set.Parse(nil); err != nil {
		t.Fatal(err)
	}
	testenv.Isolate(t, &cfg.Common, "hasher")
	cfg.Partitions = 1
	cfg.Kafka.Brokers = brokers
	cfg.Group = testenv.Name("takedown-hasher")
	cfg.URLAllowlist = []string{"127.0.0.0/8", "::1"} // the media servers
	return cfg
}
