package testenv_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/takedown-pipeline/takedown/pkg/config"
	"github.com/takedown-pipeline/takedown/pkg/messaging"
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
	// p+1 records on partition p. Right after creation a partition may have
	// no leader yet, so each write is tried until it succeeds: a produce
	// request to one partition is written whole or not at all.
	for p := range 3 {
		testenv.WaitFor(t, 60*time.Second, fmt.Sprintf("a write to partition %d", p), func() bool {
			conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, p)
			if err != nil {
				return false
			}
			defer conn.Close()
			msgs := make([]kafka.Message, p+1)
			for i := range msgs {
				msgs[i].Value = []byte(fmt.Sprint(i))
			}
			_, err = conn.WriteMessages(msgs...)
			return err == nil
		})
	}
	if n := testenv.EndOffset(t, brokers, topic); n != 1+2+3 {
		t.Errorf("EndOffset = %d, want 6 (1, 2 and 3 records on 3 partitions)", n)
	}
}
