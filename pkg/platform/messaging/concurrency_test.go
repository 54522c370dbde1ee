package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// runN starts a consumer in the fixture's group handling up to n messages
// at once, with h as it is (no middleware), and returns its stop.
func (f *fixture) runN(t testing.TB, n int, h messaging.Handler) (stop func()) {
	t.Helper()
	c := messaging.NewConsumer(messaging.ConsumerConfig{Kafka: config.Kafka{Brokers: f.brokers}, Group: f.group,
		Topics: []string{f.topic}, SessionTimeout: 6 * time.Second, Logger: slog.New(slog.DiscardHandler),
		Concurrency: n})
	return testenv.Run(t, "consumer", func(ctx context.Context) error { return c.Run(ctx, h) }, c.Running)
}

// singlePartition gives the fixture a topic of one partition, where the
// order of offsets is the order of publishing.
func (f *fixture) singlePartition(t testing.TB) {
	t.Helper()
	f.topic = testenv.Name("msg1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := messaging.EnsureTopics(ctx, config.Kafka{Brokers: f.brokers},
		messaging.TopicSpec{Name: f.topic, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
}

// gauge tracks how many handlers run at once.
type gauge struct{ now, peak atomic.Int32 }

func (g *gauge) enter() {
	n := g.now.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (g *gauge) leave() { g.now.Add(-1) }

// Many keys at once, each key's messages in publishing order: the handler
// runs several messages at a time yet sees every key's sequence in order.
func TestKeyedOrderUnderConcurrency(t *testing.T) {
	f := newFixture(t)
	const keys, perKey = 40, 8
	var msgs []messaging.Message
	for i := range perKey {
		for k := range keys {
			msgs = append(msgs, messaging.Message{Topic: f.topic, Key: []byte(fmt.Sprintf("key-%d", k)), Value: []byte(fmt.Sprint(i))})
		}
	}
	testenv.Publish(t, config.Kafka{Brokers: f.brokers}, msgs...)

	var mu sync.Mutex
	last := map[string]int{}
	var total atomic.Int32
	var g gauge
	f.runN(t, 16, func(ctx context.Context, m *messaging.Message) error {
		g.enter()
		defer g.leave()
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		var seq int
		fmt.Sscan(string(m.Value), &seq)
		mu.Lock()
		prev, seen := last[string(m.Key)]
		if seen && seq != prev+1 || !seen && seq != 0 {
			t.Errorf("key %s: message %d after %d", m.Key, seq, prev)
		}
		last[string(m.Key)] = seq
		mu.Unlock()
		total.Add(1)
		return nil
	})
	testenv.WaitFor(t, 60*time.Second, "every message", func() bool { return total.Load() == keys*perKey })
	if p := g.peak.Load(); p < 2 {
		t.Fatalf("at most %d handler(s) ran at once, want several", p)
	}
	t.Logf("peak concurrency %d", g.peak.Load())
}

// A message still failing at shutdown holds the watermark back: the later
// messages of its partition, done, are not committed past it, and the next
// member of the group gets it again (with those after it, which is
// allowed), never skips it; what came before it stays committed.
func TestWatermarkHoldsBackCommitBehindUnfinishedMessage(t *testing.T) {
	f := newFixture(t)
	f.singlePartition(t)
	var keys []string
	for i := range 10 {
		keys = append(keys, fmt.Sprintf("m%d", i))
	}
	f.publish(t, keys...)

	var done sync.Map
	var stuckTries atomic.Int32
	stop := f.runN(t, 8, func(ctx context.Context, m *messaging.Message) error {
		if string(m.Key) == "m3" {
			stuckTries.Add(1)
			<-messaging.Stopping(ctx) // an outage that lasts until shutdown
			return errors.New("redis: connection refused")
		}
		done.Store(string(m.Key), true)
		return nil
	})
	testenv.WaitFor(t, 30*time.Second, "every message but m3", func() bool {
		n := 0
		done.Range(func(any, any) bool { n++; return true })
		return n == 9
	})
	time.Sleep(500 * time.Millisecond) // several commit intervals
	stop()
	if stuckTries.Load() == 0 {
		t.Fatal("m3 never reached the handler")
	}

	var mu sync.Mutex
	var again []string
	f.runN(t, 8, func(ctx context.Context, m *messaging.Message) error {
		mu.Lock()
		again = append(again, string(m.Key))
		mu.Unlock()
		return nil
	})
	testenv.WaitFor(t, 30*time.Second, "redelivery from m3 on", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(again) >= 7
	})
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	sort.Strings(again)
	if want := "[m3 m4 m5 m6 m7 m8 m9]"; fmt.Sprint(again) != want {
		t.Fatalf("redelivered %v, want %s: m3 and what follows it, not what precedes it", again, want)
	}
}

// On shutdown every message in hand finishes and is committed: the next
// member gets none of them again.
func TestShutdownFinishesAllInFlightWork(t *testing.T) {
	f := newFixture(t)
	const n = 8
	var keys []string
	for i := range n {
		keys = append(keys, fmt.Sprintf("slow-%d", i))
	}
	f.publish(t, keys...)
	var started, finished atomic.Int32
	stop := f.runN(t, n, func(ctx context.Context, m *messaging.Message) error {
		started.Add(1)
		time.Sleep(time.Second)
		if ctx.Err() != nil {
			return fmt.Errorf("handler context cancelled by shutdown: %w", ctx.Err())
		}
		finished.Add(1)
		return nil
	})
	testenv.WaitFor(t, 30*time.Second, "every message in hand", func() bool { return started.Load() == n })
	stop()
	if got := finished.Load(); got != n {
		t.Fatalf("%d of %d messages in hand finished before Run returned", got, n)
	}
	f.publish(t, "next")
	var redelivered atomic.Int32
	var next atomic.Bool
	f.runN(t, n, func(ctx context.Context, m *messaging.Message) error {
		if string(m.Key) == "next" {
			next.Store(true)
		} else {
			redelivered.Add(1)
		}
		return nil
	})
	testenv.WaitFor(t, 30*time.Second, "next message", next.Load)
	if r := redelivered.Load(); r != 0 {
		t.Fatalf("%d finished message(s) delivered again", r)
	}
}

// Poison messages among many handled at once are dead-lettered and
// committed like the rest.
func TestDeadLetterUnderConcurrency(t *testing.T) {
	f := newFixture(t)
	var keys []string
	for i := range 30 {
		if i%5 == 0 {
			keys = append(keys, fmt.Sprintf("poison-%d", i))
		} else {
			keys = append(keys, fmt.Sprintf("good-%d", i))
		}
	}
	f.publish(t, keys...)
	log := slog.New(slog.DiscardHandler)
	c := messaging.NewConsumer(messaging.ConsumerConfig{Kafka: config.Kafka{Brokers: f.brokers}, Group: f.group,
		Topics: []string{f.topic}, SessionTimeout: 6 * time.Second, Logger: log, Concurrency: 8})
	var good atomic.Int32
	h := messaging.Chain(func(ctx context.Context, m *messaging.Message) error {
		time.Sleep(5 * time.Millisecond)
		if string(m.Key[:6]) == "poison" {
			return messaging.Permanentf("bad %s", m.Key)
		}
		good.Add(1)
		return nil
	}, messaging.Standard(log, "test-service", f.pub, f.dlq, messaging.RetryConfig{MaxAttempts: 2, InitialBackoff: 10 * time.Millisecond})...)
	stop := testenv.Run(t, "consumer", func(ctx context.Context) error { return c.Run(ctx, h) }, c.Running)
	testenv.WaitFor(t, 30*time.Second, "the good messages", func() bool { return good.Load() == 24 })
	dls := readAll(t, f.brokers, f.dlq, 6)
	seen := map[string]bool{}
	for _, d := range dls {
		seen[string(d.Key)] = true
	}
	if len(seen) != 6 {
		t.Fatalf("dead letters for %v, want the 6 poison messages once each", seen)
	}
	testenv.WaitFor(t, 10*time.Second, "every message committed", func() bool { return c.Handled() == 30 })
	stop()

	f.publish(t, "fresh")
	var old atomic.Int32
	var fresh atomic.Bool
	f.runN(t, 8, func(ctx context.Context, m *messaging.Message) error {
		if string(m.Key) == "fresh" {
			fresh.Store(true)
		} else {
			old.Add(1)
		}
		return nil
	})
	testenv.WaitFor(t, 30*time.Second, "the new message", fresh.Load)
	if n := old.Load(); n != 0 {
		t.Fatalf("%d committed message(s) delivered again", n)
	}
}

// BenchmarkConsumer measures messages per second through a handler that
// waits 5 ms (an I/O-bound stage), one at a time and 16 at a time.
//
//	go test -run '^$' -bench BenchmarkConsumer -benchtime 400x ./messaging/
func BenchmarkConsumer(b *testing.B) {
	for _, n := range []int{1, 16} {
		b.Run(fmt.Sprintf("concurrency=%d", n), func(b *testing.B) {
			f := newFixture(b)
			var handled atomic.Int64
			f.runN(b, n, func(ctx context.Context, m *messaging.Message) error {
				time.Sleep(5 * time.Millisecond)
				handled.Add(1)
				return nil
			})
			f.publish(b, "warm-up") // the group is joined once this is handled
			testenv.WaitFor(b, 60*time.Second, "warm-up", func() bool { return handled.Load() == 1 })
			msgs := make([]messaging.Message, b.N)
			for i := range msgs {
				msgs[i] = messaging.Message{Topic: f.topic, Key: []byte(fmt.Sprint(i)), Value: []byte("x")}
			}
			b.ResetTimer()
			start := time.Now()
			testenv.Publish(b, config.Kafka{Brokers: f.brokers}, msgs...)
			testenv.WaitFor(b, 10*time.Minute, "every message", func() bool { return handled.Load() == int64(b.N)+1 })
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
