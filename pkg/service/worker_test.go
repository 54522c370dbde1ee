package service

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/config"
	"github.com/takedown-pipeline/takedown/pkg/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

func worker(t *testing.T, closed *[]string) *Worker {
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.Name("worker")
	h := NewHealth()
	mux := http.NewServeMux()
	h.Register(mux)
	return &Worker{
		Name: "test", Log: slog.New(slog.DiscardHandler), Health: h,
		HTTPAddr: "127.0.0.1:0", HTTP: mux,
		Kafka:    config.Kafka{Brokers: brokers},
		Topics:   Topics(config.Common{Partitions: 1, Replication: 1}, topic),
		Consumer: messaging.ConsumerConfig{Kafka: config.Kafka{Brokers: brokers}, Group: testenv.Name("g"), Topics: []string{topic}, SessionTimeout: 6 * time.Second},
		Handle:   func(context.Context, *messaging.Message) error { return nil },
		Close: []func() error{
			func() error { *closed = append(*closed, "publisher"); return nil },
			func() error { *closed = append(*closed, "redis"); return nil },
		},
	}
}

// A worker serves its health, gets ready, and on cancellation stops and
// closes what it holds in the order given, returning nil.
func TestWorkerLifecycle(t *testing.T) {
	var closed []string
	w := worker(t, &closed)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for !w.Health.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get("http://" + w.Health.Addr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz %d while ready", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if w.Health.Ready() {
		t.Error("still ready after shutdown")
	}
	if !slices.Equal(closed, []string{"publisher", "redis"}) {
		t.Errorf("closed %v, want publisher then redis", closed)
	}
	if _, err := http.Get("http://" + w.Health.Addr() + "/healthz"); err == nil {
		t.Error("HTTP still served after shutdown")
	}
}

// A failing preflight check stops the start with its reason, and what the
// worker holds is still closed.
func TestWorkerPreflightFailure(t *testing.T) {
	var closed []string
	w := worker(t, &closed)
	w.Preflight = []func(context.Context) error{Reachable("redis at 127.0.0.1:1", func(context.Context) error {
		return errors.New("connection refused")
	})}
	err := w.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "redis at 127.0.0.1:1 is unreachable") {
		t.Fatalf("Run: %v", err)
	}
	if len(closed) != 2 {
		t.Errorf("closed %v after a failed start", closed)
	}
}
