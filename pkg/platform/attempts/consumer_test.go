package attempts_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/platform/attempts"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// TestCrashingConsumerProcess is the child of
// TestConsumerCrashLoopEnds: a consumer whose handler kills the process on
// the "poison" message, behind CountAttempts.
func TestCrashingConsumerProcess(t *testing.T) {
	topic := os.Getenv("TAKEDOWN_TEST_ATTEMPTS_TOPIC")
	if topic == "" {
		t.Skip("run by TestConsumerCrashLoopEnds")
	}
	group, prefix := os.Getenv("TAKEDOWN_TEST_ATTEMPTS_GROUP"), os.Getenv("TAKEDOWN_TEST_ATTEMPTS_PREFIX")
	counter := attempts.NewRedis(client(t, testenv.Redis(t)), prefix, 0)
	h := messaging.Chain(func(_ context.Context, m *messaging.Message) error {
		if string(m.Value) == "poison" {
			fmt.Println("crashing on", messaging.AttemptKey(m))
			os.Exit(2)
		}
		fmt.Println("handled", string(m.Value))
		return nil
	}, messaging.CountAttempts(counter, maxDeliveries, func(_ context.Context, m *messaging.Message, n int) error {
		fmt.Printf("exhausted %s after %d deliveries\n", m.Value, n)
		return nil
	}))
	c := messaging.NewConsumer(messaging.ConsumerConfig{Kafka: config.Kafka{Brokers: testenv.KafkaBrokers(t)},
		Group: group, Topics: []string{topic}, InstanceID: "pod-0", CommitInterval: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Run(ctx, h); err != nil {
		t.Fatal(err)
	}
}

// A message that crashes a consumer process on every delivery is delivered
// again after each restart (its offset was never committed) until
// CountAttempts sees it come back a fourth time and hands it to exhausted;
// the message after it is then handled and the crash loop is over.
func TestConsumerCrashLoopEnds(t *testing.T) {
	k := testenv.Kafka(t)
	cfg := testenv.Redis(t)
	topic, group := testenv.Name("attempts"), testenv.Name("attempts-g")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := messaging.EnsureTopics(ctx, k, messaging.TopicSpec{Name: topic, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitTopics(t, k, topic)
	testenv.Publish(t, k, messaging.Message{Topic: topic, Key: []byte("k"), Value: []byte("poison")},
		messaging.Message{Topic: topic, Key: []byte("k"), Value: []byte("after")})

	crashes := 0
	for run := 1; run <= maxDeliveries+2; run++ {
		child := exec.Command(os.Args[0], "-test.run=^TestCrashingConsumerProcess$", "-test.count=1")
		child.Env = append(os.Environ(), "TAKEDOWN_TEST_ATTEMPTS_TOPIC="+topic, "TAKEDOWN_TEST_ATTEMPTS_GROUP="+group,
			"TAKEDOWN_TEST_ATTEMPTS_PREFIX="+cfg.Prefix+":attempts:"+group)
		child.Stderr = os.Stderr
		out, err := child.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var lines []string
		done := false
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if sc.Text() == "handled after" {
				done = true
				break
			}
		}
		if done {
			_ = child.Process.Kill()
		}
		_ = child.Wait()
		t.Logf("run %d: %q", run, lines)
		if !done {
			if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], "crashing on ") {
				t.Fatalf("run %d ended without crashing or handling the next message: %q", run, lines)
			}
			crashes++
			continue
		}
		want := fmt.Sprintf("exhausted poison after %d deliveries", maxDeliveries+1)
		if crashes != maxDeliveries || !strings.Contains(strings.Join(lines, "\n"), want) {
			t.Fatalf("after %d crashes run %d printed %q; want %d crashes, then %q", crashes, run, lines, maxDeliveries, want)
		}
		return
	}
	t.Fatalf("still crashing after %d runs: the crash loop never ended", maxDeliveries+2)
}
