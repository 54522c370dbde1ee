package attempts_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/takedown-pipeline/takedown/pkg/platform/attempts"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/platform/redisconn"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

const maxDeliveries = 3

// message is the one record every child process is handed, as a consumer
// that never committed it would hand it again after each restart.
var message = messaging.Message{Topic: "media.ingested", Partition: 2, Offset: 41, Key: []byte("k"), Value: []byte("{}")}

func client(t *testing.T, cfg config.Redis) *redis.Client {
	t.Helper()
	rdb, err := redisconn.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// TestCrashingHandlerProcess is the child of TestCrashLoopReachesExhausted: it
// handles the message once, with a handler that kills the process.
func TestCrashingHandlerProcess(t *testing.T) {
	prefix := os.Getenv("TAKEDOWN_TEST_ATTEMPTS_PREFIX")
	if prefix == "" {
		t.Skip("run by TestCrashLoopReachesExhausted")
	}
	counter := attempts.NewRedis(client(t, testenv.Redis(t)), prefix, 0)
	h := messaging.Chain(func(context.Context, *messaging.Message) error {
		fmt.Println("handler running")
		os.Exit(2) // a native crash, as far as the consumer can tell
		return nil
	}, messaging.CountAttempts(counter, maxDeliveries, func(_ context.Context, m *messaging.Message, n int) error {
		fmt.Printf("exhausted %s after %d deliveries\n", messaging.AttemptKey(m), n)
		return nil
	}))
	msg := message
	if err := h(context.Background(), &msg); err != nil {
		t.Fatal(err)
	}
	fmt.Println("committed")
}

// A handler that crashes the process on every delivery is run max times, one
// process each; the next delivery goes to exhausted instead, and the message
// is done.
func TestCrashLoopReachesExhausted(t *testing.T) {
	cfg := testenv.Redis(t)
	prefix := cfg.Prefix + ":hasher:attempts:hasher"
	rdb := client(t, cfg)
	key := attempts.NewRedis(rdb, prefix, 0).Key(messaging.AttemptKey(&message))
	crashes := 0
	for run := 1; run <= maxDeliveries+2; run++ {
		child := exec.Command(os.Args[0], "-test.run=^TestCrashingHandlerProcess$", "-test.count=1", "-test.v")
		child.Env = append(os.Environ(), "TAKEDOWN_TEST_ATTEMPTS_PREFIX="+prefix)
		out, err := child.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 2 {
			if !strings.Contains(string(out), "handler running") {
				t.Fatalf("run %d exited 2 without running the handler:\n%s", run, out)
			}
			crashes++
			ttl, err := rdb.TTL(context.Background(), key).Result()
			if err != nil || ttl <= 0 || ttl > attempts.DefaultTTL {
				t.Fatalf("after crash %d the count %s has TTL %v, %v: want one of at most %v", crashes, key, ttl, err, attempts.DefaultTTL)
			}
			continue
		}
		if err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, out)
		}
		want := fmt.Sprintf("exhausted %s after %d deliveries", messaging.AttemptKey(&message), maxDeliveries+1)
		if !strings.Contains(string(out), want) || !strings.Contains(string(out), "committed") ||
			strings.Contains(string(out), "handler running") {
			t.Fatalf("run %d printed\n%s\nwant %q, no handler run, and committed", run, out, want)
		}
		if crashes != maxDeliveries {
			t.Fatalf("exhausted after %d crashes, want %d", crashes, maxDeliveries)
		}
		if n, _ := rdb.Exists(context.Background(), key).Result(); n != 0 {
			t.Errorf("the count %s is still there once the message is done", key)
		}
		return
	}
	t.Fatalf("still crashing after %d deliveries: the count never stopped the loop", maxDeliveries+2)
}

// A handler that fails without crashing is retried by the consumer for as
// long as it takes (an outage): those returns are not crashes and never
// reach exhausted.
func TestReturnedFailuresDoNotCount(t *testing.T) {
	cfg := testenv.Redis(t)
	counter := attempts.NewRedis(client(t, cfg), cfg.Prefix+":attempts", time.Minute)
	calls := 0
	h := messaging.Chain(func(context.Context, *messaging.Message) error {
		calls++
		return errors.New("kafka is down")
	}, messaging.CountAttempts(counter, maxDeliveries, func(context.Context, *messaging.Message, int) error {
		t.Fatal("exhausted after failures the process survived")
		return nil
	}))
	for range 3 * maxDeliveries {
		msg := message
		if err := h(context.Background(), &msg); err == nil {
			t.Fatal("the handler's error was lost")
		}
	}
	if calls != 3*maxDeliveries {
		t.Errorf("handler ran %d times, want %d", calls, 3*maxDeliveries)
	}
}

// With Redis down nothing is counted, so nothing is handled: the delivery
// fails with a transient error, which the consumer retries until Redis is
// back, rather than handling the message uncounted.
func TestRedisOutageIsWaitedOut(t *testing.T) {
	down := config.Redis{Addr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))}
	counter := attempts.NewRedis(client(t, down), "x", 0)
	ran := false
	h := messaging.Chain(func(context.Context, *messaging.Message) error {
		ran = true
		return nil
	}, messaging.CountAttempts(counter, maxDeliveries, func(context.Context, *messaging.Message, int) error {
		t.Fatal("exhausted during an outage")
		return nil
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msg := message
	err := h(ctx, &msg)
	if err == nil || messaging.IsPermanent(err) {
		t.Fatalf("delivery during a Redis outage returned %v, want a transient error", err)
	}
	if ran {
		t.Error("the handler ran uncounted")
	}
}
