package main

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// The built hasher, started as an operator would against the test broker's
// SASL_SSL listener: with the right settings it gets ready; with a wrong
// password or an untrusted CA it stops within seconds, non-zero, naming the
// setting to fix, instead of retrying the handshake for ever.
func TestMain(m *testing.M) { testenv.Main(m) }

func TestKafkaSettingsAtStartup(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the hasher and runs it")
	}
	good := testenv.KafkaSASL(t)
	bin := testenv.Binary(t, ".")

	t.Run("right settings", func(t *testing.T) {
		p := start(t, bin, good)
		p.WaitFor(t, 60*time.Second, "hasher ready")
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.Exit(t, 30*time.Second); code != 0 {
			t.Fatalf("exit %d after SIGTERM; output:\n%s", code, p.Output())
		}
	})

	bad := []struct {
		name string
		edit func(k *config.Kafka)
		want []string
	}{
		{"wrong password", func(k *config.Kafka) { k.SASLPassword = "not-" + k.SASLPassword },
			[]string{"SASL authentication failed", "TAKEDOWN_KAFKA_SASL_PASSWORD"}},
		{"untrusted CA", func(k *config.Kafka) { k.TLSCA = testenv.UntrustedCA(t) },
			[]string{"certificate not trusted", "TAKEDOWN_KAFKA_TLS_CA"}},
		{"TLS off", func(k *config.Kafka) { k.TLS, k.TLSCA = false, "" },
			[]string{"TLS listener", "TAKEDOWN_KAFKA_TLS"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			k := good
			tc.edit(&k)
			began := time.Now()
			p := start(t, bin, k)
			code := p.Exit(t, 15*time.Second)
			out := p.Output()
			if code == 0 {
				t.Fatalf("exit 0; want a failure. Output:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output does not name %q:\n%s", w, out)
				}
			}
			t.Logf("exit %d after %s", code, time.Since(began).Round(time.Millisecond))
		})
	}
}

// start runs the hasher with k and unique topics and group, so that it
// neither reads nor writes what other tests use.
func start(t *testing.T, bin string, k config.Kafka, extra ...string) *testenv.Process {
	t.Helper()
	env := append(testenv.Environ("TAKEDOWN_"),
		"TAKEDOWN_KAFKA_BROKERS="+strings.Join(k.Brokers, ","),
		"TAKEDOWN_KAFKA_TLS="+map[bool]string{true: "true", false: "false"}[k.TLS],
		"TAKEDOWN_KAFKA_TLS_CA="+k.TLSCA,
		"TAKEDOWN_KAFKA_SASL_MECHANISM="+k.SASLMechanism,
		"TAKEDOWN_KAFKA_SASL_USERNAME="+k.SASLUsername,
		"TAKEDOWN_KAFKA_SASL_PASSWORD="+k.SASLPassword,
		"TAKEDOWN_HTTP_ADDR=127.0.0.1:0",
		"TAKEDOWN_GROUP="+testenv.Name("hasher-tls"),
		"TAKEDOWN_TOPIC_INGESTED="+testenv.Name("ingested"),
		"TAKEDOWN_TOPIC_STREAM_SEGMENTS="+testenv.Name("segments"),
		"TAKEDOWN_TOPIC_HASHED="+testenv.Name("hashed"),
		"TAKEDOWN_DLQ_TOPIC="+testenv.Name("hasher-dlq"),
		"TAKEDOWN_TOPIC_PARTITIONS=1",
		"TAKEDOWN_REDIS_ADDR="+testenv.RedisAddr(t),
		"TAKEDOWN_REDIS_PREFIX="+testenv.Name("hasher"),
	)
	return testenv.Start(t, bin, append(env, extra...))
}

// An upload that crashes the hasher natively (a decoder's segfault, the OOM
// killer) is never committed, so every restart gets it again. The hasher
// counts its deliveries in Redis before handling them: after
// TAKEDOWN_MAX_DELIVERIES crashes the restarted hasher publishes it as
// unhashable (decoder_crashed) for review instead of crashing again, and
// goes on with the next upload. The crash is a fault hook built in with
// -tags faultinject: the bytes that hold the marker panic on a goroutine of
// their own, which no recovery can catch.
func TestCrashingUploadGoesToReviewNotACrashLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the hasher and runs it")
	}
	bin := testenv.Binary(t, ".", "faultinject")
	const marker = "CRASH-THE-DECODER"
	var picture bytes.Buffer
	img := image.NewGray(image.Rect(0, 0, 64, 64))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	if err := png.Encode(&picture, img); err != nil {
		t.Fatal(err)
	}
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		if strings.HasSuffix(r.URL.Path, "/crash.png") {
			_, _ = w.Write(append(slices.Clone(picture.Bytes()), marker...))
			return
		}
		_, _ = w.Write(picture.Bytes())
	}))
	defer host.Close()

	k := testenv.Kafka(t)
	ingested, hashed := testenv.Name("ingested"), testenv.Name("hashed")
	env := []string{
		"TAKEDOWN_FAULT_CRASH_ON=" + marker,
		"TAKEDOWN_MAX_DELIVERIES=2",
		"TAKEDOWN_URL_ALLOWLIST=127.0.0.0/8",
		"TAKEDOWN_INSTANCE_ID=hasher-0",
		"TAKEDOWN_GROUP=" + testenv.Name("hasher-crash"),
		"TAKEDOWN_REDIS_PREFIX=" + testenv.Name("hasher"),
		"TAKEDOWN_TOPIC_INGESTED=" + ingested,
		"TAKEDOWN_TOPIC_HASHED=" + hashed,
	}
	upload := func(path string) events.MediaIngested {
		return events.MediaIngested{
			Meta:     events.NewMeta(events.TypeMediaIngested, testenv.Name("content"), ""),
			MediaURL: host.URL + path, ContentType: events.ContentImage, UploaderID: "u1",
			UploadedAt: time.Now().UTC(), IngestedAt: time.Now().UTC(),
		}
	}
	crash, next := upload("/crash.png"), upload("/fine.png")
	if err := messaging.EnsureTopics(context.Background(), k, messaging.TopicSpec{Name: ingested, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	var msgs []messaging.Message
	for _, ev := range []*events.MediaIngested{&crash, &next} {
		m, err := messaging.EventMessage(ingested, ev)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	testenv.Publish(t, k, msgs...)

	// Two deliveries crash the hasher, as a supervisor restarts it.
	for run := 1; run <= 2; run++ {
		p := start(t, bin, k, env...)
		if code := p.Exit(t, 90*time.Second); code == 0 || !strings.Contains(p.Output(), "simulated native crash") {
			t.Fatalf("run %d: exit %d, want the simulated crash; output:\n%s", run, code, p.Output())
		}
	}
	// The third gives up on the upload and hashes the next one.
	p := start(t, bin, k, env...)
	var got events.MediaHashed
	testenv.ReadUntil(t, k, hashed, 90*time.Second, "the crashing upload as unhashable", func(m *messaging.Message) bool {
		var ev events.MediaHashed
		if events.Decode(m.Value, events.TypeMediaHashed, &ev) != nil || ev.ContentID != crash.ContentID {
			return false
		}
		got = ev
		return true
	})
	if got.Unhashable == nil || got.Unhashable.Reason != events.UnhashableDecoderCrashed || len(got.Signals) != 0 {
		t.Errorf("media.hashed of the crashing upload: unhashable %+v, %d signals; want decoder_crashed without hashes", got.Unhashable, len(got.Signals))
	}
	testenv.ReadUntil(t, k, hashed, 60*time.Second, "the next upload hashed", func(m *messaging.Message) bool {
		var ev events.MediaHashed
		return events.Decode(m.Value, events.TypeMediaHashed, &ev) == nil && ev.ContentID == next.ContentID &&
			ev.Unhashable == nil && len(ev.Signals) > 0
	})
	select {
	case <-p.Done():
		t.Fatalf("the hasher stopped again: %v\n%s", p.Err(), p.Output())
	default:
	}
}
