package testenv_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, as the real one does, without failing the test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestWaitFor(t *testing.T) {
	n := 0
	testenv.WaitFor(t, 10*time.Second, "the third look", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Errorf("cond called %d times, want 3", n)
	}

	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		testenv.WaitFor(rec, 50*time.Millisecond, "never", func() bool { return false })
	}()
	<-done
	if want := "timed out after 50ms waiting for never"; rec.msg != want {
		t.Errorf("failure %q, want %q", rec.msg, want)
	}
}

func TestRun(t *testing.T) {
	ready := make(chan struct{})
	var stopped bool
	stop := testenv.Run(t, "svc", func(ctx context.Context) error {
		close(ready)
		<-ctx.Done()
		stopped = true
		return nil
	}, func() bool {
		select {
		case <-ready:
			return true
		default:
			return false
		}
	})
	stop()
	if !stopped {
		t.Error("stop returned before run did")
	}
	stop() // again, as the cleanup will: nothing left to do

	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		testenv.Run(rec, "broken", func(context.Context) error { return fmt.Errorf("no broker") },
			func() bool { return false })
	}()
	<-done
	if want := "broken: Run returned before ready: no broker"; rec.msg != want {
		t.Errorf("failure %q, want %q", rec.msg, want)
	}
}

func TestEndOffset(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.Name("testenv-end")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := messaging.EnsureTopics(ctx, config.Kafka{Brokers: brokers}, messaging.TopicSpec{Name: topic, Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	// Keys spread the records over the partitions.
	k := config.Kafka{Brokers: brokers}
	testenv.WaitTopics(t, k, topic)
	var msgs []messaging.Message
	for i := range 6 {
		msgs = append(msgs, messaging.Message{Topic: topic, Key: fmt.Appendf(nil, "key-%d", i), Value: []byte("v")})
	}
	testenv.Publish(t, k, msgs...)
	got := testenv.ReadTopic(t, k, topic, 6)
	parts := map[int]bool{}
	for _, m := range got {
		parts[m.Partition] = true
	}
	if len(parts) < 2 {
		t.Fatalf("the 6 records are on %d partition(s): the sum over partitions is not tested", len(parts))
	}
	if n := testenv.EndOffset(t, brokers, topic); n != 6 {
		t.Errorf("EndOffset = %d, want 6 (records on %d partitions)", n, len(parts))
	}
}
