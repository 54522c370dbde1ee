package messaging_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// killedSession is the session timeout of the members in
// TestRestartedMemberTakesOverFromKilledOne: long enough that a takeover
// that waited for the dead member to time out cannot pass for an eviction.
const killedSession = 60 * time.Second

// memberConsumer is the consumer TestRestartedMemberTakesOverFromKilledOne
// runs, in the child process and again in the test.
func memberConsumer(brokers []string, group, topic string) *messaging.Consumer {
	return messaging.NewConsumer(messaging.ConsumerConfig{Kafka: config.Kafka{Brokers: brokers}, Group: group,
		Topics: []string{topic}, SessionTimeout: killedSession, InstanceID: "pod-0",
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
}

// TestMemberProcess is the child of TestRestartedMemberTakesOverFromKilledOne:
// a consumer that prints what it handles until it is killed.
func TestMemberProcess(t *testing.T) {
	group, topic := os.Getenv("TAKEDOWN_TEST_MEMBER_GROUP"), os.Getenv("TAKEDOWN_TEST_MEMBER_TOPIC")
	if group == "" {
		t.Skip("run by TestRestartedMemberTakesOverFromKilledOne")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	c := memberConsumer(testenv.KafkaBrokers(t), group, topic)
	err := c.Run(ctx, func(_ context.Context, m *messaging.Message) error {
		fmt.Printf("handled %s\n", m.Value)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A replica killed with SIGKILL never leaves its group. Restarted under the
// same instance id, it must get its partitions back at once, not after the
// dead member's session timeout (a minute here), as a restarted pod does.
func TestRestartedMemberTakesOverFromKilledOne(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.singlePartition(t)

	child := exec.Command(os.Args[0], "-test.run=^TestMemberProcess$", "-test.count=1")
	child.Env = append(os.Environ(), "TAKEDOWN_TEST_MEMBER_GROUP="+f.group, "TAKEDOWN_TEST_MEMBER_TOPIC="+f.topic)
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	f.publish(t, "before")
	select {
	case l := <-lines:
		if l != "handled v-before" {
			t.Fatalf("child printed %q", l)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the first member never handled a message")
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	killed := time.Now()
	f.publish(t, "after")

	got := make(chan string, 16)
	c := memberConsumer(f.brokers, f.group, f.topic)
	testenv.Run(t, "restarted member", func(ctx context.Context) error {
		return c.Run(ctx, func(_ context.Context, m *messaging.Message) error {
			got <- string(m.Value)
			return nil
		})
	}, c.Running)
	for {
		select {
		case v := <-got:
			if v != "v-after" {
				continue // the first message again, if its commit was lost with the child
			}
			if waited := time.Since(killed); waited >= killedSession {
				t.Fatalf("took over after %v: waited for the dead member's session to time out", waited)
			}
			return
		case <-time.After(killedSession):
			t.Fatalf("the restarted member got nothing in %v: the dead one still holds the partition", killedSession)
		}
	}
}
