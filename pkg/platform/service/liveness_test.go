package service

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// healthz returns /healthz's status code and body.
func healthz(t *testing.T, w *Worker) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get("http://" + w.Health.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// stayAlive asks /healthz again and again for d and fails on any answer but
// 200.
func stayAlive(t *testing.T, w *Worker, d time.Duration, while string) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if code, body := healthz(t, w); code != http.StatusOK {
			t.Fatalf("/healthz %d %v %s; want 200", code, body, while)
		}
	}
}

// An idle consumer, with no message for many times its liveness timeout,
// stays alive: kafka-go's fetch blocks until a message comes, and the loop
// must go round anyway. The messages that come after the idle spell are all
// handled, in order: a fetch that timed out loses nothing.
func TestLivenessIdleConsumerStaysAlive(t *testing.T) {
	var closed []string
	w := worker(t, &closed)
	w.Liveness = time.Second
	got := make(chan string, 10)
	w.Handle = func(_ context.Context, m *messaging.Message) error { got <- string(m.Value); return nil }
	testenv.Run(t, "worker", w.Run, w.Health.Ready)
	stayAlive(t, w, 4*w.Liveness, "while idle")
	want := []string{"a", "b", "c"}
	for _, v := range want {
		testenv.Publish(t, w.Kafka, messaging.Message{Topic: w.Consumer.Topics[0], Key: []byte("k"), Value: []byte(v)})
	}
	for _, v := range want {
		select {
		case g := <-got:
			if g != v {
				t.Fatalf("handled %q, want %q", g, v)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%q not handled after the idle spell", v)
		}
	}
}

// A handler that runs long, but within its timeout, is alive: its slot is
// the only one, so the loop waits for it without going round.
func TestLivenessLongHandlerStaysAlive(t *testing.T) {
	var closed []string
	w := worker(t, &closed)
	w.Liveness = time.Second
	w.Consumer.HandlerTimeout = time.Minute
	w.Consumer.Concurrency = 1
	started, done := make(chan struct{}), make(chan struct{})
	w.Handle = func(ctx context.Context, _ *messaging.Message) error {
		close(started)
		defer close(done)
		select {
		case <-time.After(4 * time.Second):
		case <-ctx.Done():
		}
		return nil
	}
	testenv.Run(t, "worker", w.Run, w.Health.Ready)
	testenv.Publish(t, w.Kafka, messaging.Message{Topic: w.Consumer.Topics[0], Key: []byte("k"), Value: []byte("long")})
	<-started
	stayAlive(t, w, 3*time.Second, "while a handler runs within its timeout")
	<-done
	stayAlive(t, w, 2*w.Liveness, "once the long handler is done")
}

// A handler stuck past its deadline, ignoring its context, turns /healthz
// to 503 naming the message, and back to 200 once it returns.
func TestLivenessStuckHandlerFails(t *testing.T) {
	var closed []string
	w := worker(t, &closed)
	w.Liveness = time.Second
	w.Consumer.HandlerTimeout = 500 * time.Millisecond
	w.Consumer.Concurrency = 1
	release := make(chan struct{})
	w.Handle = func(context.Context, *messaging.Message) error {
		<-release // deaf to its context: wedged
		return nil
	}
	testenv.Run(t, "worker", w.Run, w.Health.Ready)
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	testenv.Publish(t, w.Kafka, messaging.Message{Topic: w.Consumer.Topics[0], Key: []byte("k"), Value: []byte("stuck")})
	var body map[string]string
	testenv.WaitFor(t, 30*time.Second, "/healthz to fail", func() bool {
		var code int
		code, body = healthz(t, w)
		return code == http.StatusServiceUnavailable
	})
	if body["status"] != "stalled" || !strings.Contains(body["consumer"], "ignores its context") ||
		!strings.Contains(body["consumer"], w.Consumer.Topics[0]) {
		t.Errorf("/healthz said %v", body)
	}
	close(release)
	testenv.WaitFor(t, 30*time.Second, "/healthz to pass once the handler returned", func() bool {
		code, _ := healthz(t, w)
		return code == http.StatusOK
	})
}

// A Health with no liveness check (TAKEDOWN_LIVENESS_TIMEOUT=0, or before
// the consumer starts) is alive.
func TestHealthWithoutLivenessChecks(t *testing.T) {
	h := NewHealth()
	if ok, body := h.Alive(); !ok || body["status"] != "alive" {
		t.Errorf("Alive without checks: %v %v", ok, body)
	}
}
