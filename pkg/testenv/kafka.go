package testenv

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// readWithin bounds ReadTopic's wait for its records.
const readWithin = 60 * time.Second

// EndOffset is the sum over every partition of topic of its end offset:
// the number of records ever written to it.
func EndOffset(t testing.TB, brokers []string, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	parts, err := messaging.TopicPartitions(ctx, config.Kafka{Brokers: brokers}, topic)
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	var sum int64
	for _, p := range parts {
		sum += p.End
	}
	return sum
}

// WaitTopics waits until every partition of each topic has a leader: a
// topic just created has none for a moment.
func WaitTopics(t testing.TB, k config.Kafka, topics ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readWithin)
	defer cancel()
	for _, topic := range topics {
		if err := messaging.WaitForTopic(ctx, k, topic, readWithin); err != nil {
			t.Fatal(err)
		}
	}
}

// Publish publishes msgs with a publisher of its own.
func Publish(t testing.TB, k config.Kafka, msgs ...messaging.Message) {
	t.Helper()
	p := messaging.NewKafkaPublisher(k)
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), readWithin)
	defer cancel()
	if err := p.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

// ReadUntil reads every partition of topic from its start, following it,
// and hands each record to fn (one call at a time, each partition in order)
// until fn returns true. It fails the test if that takes longer than
// within; what says what it was waiting for. A topic that does not exist
// yet is waited for: the service that makes it may still be starting.
func ReadUntil(t testing.TB, k config.Kafka, topic string, within time.Duration, what string, fn func(*messaging.Message) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var mu sync.Mutex
	done := false
	for {
		_, err := messaging.Replay(ctx, messaging.ReplayConfig{Kafka: k, Topic: topic, Follow: true, MaxWait: 100 * time.Millisecond},
			func(_ context.Context, m *messaging.Message) error {
				mu.Lock()
				defer mu.Unlock()
				if !done && fn(m) {
					done = true
					cancel()
				}
				return nil
			})
		mu.Lock()
		ok := done
		mu.Unlock()
		switch {
		case ok:
			return
		case errors.Is(err, messaging.ErrTopicNotFound) && ctx.Err() == nil:
			time.Sleep(poll)
			continue
		case err != nil && ctx.Err() == nil:
			t.Fatalf("reading %s for %s: %v", topic, what, err)
		}
		t.Fatalf("reading %s: no %s within %s (last error: %v)", topic, what, within, err)
	}
}

// ReadTopic returns the first n records of topic (in partition order within
// each partition), waiting up to a minute for them.
func ReadTopic(t testing.TB, k config.Kafka, topic string, n int) []*messaging.Message {
	t.Helper()
	var out []*messaging.Message
	ReadUntil(t, k, topic, readWithin, "records", func(m *messaging.Message) bool {
		out = append(out, m)
		return len(out) >= n
	})
	return out
}

// Follow hands every record of topic, from its start, to fn (one call at a
// time) in the background until the test ends.
func Follow(t testing.TB, k config.Kafka, topic string, fn func(*messaging.Message)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	var mu sync.Mutex
	go func() {
		defer close(stopped)
		for ctx.Err() == nil {
			_, err := messaging.Replay(ctx, messaging.ReplayConfig{Kafka: k, Topic: topic, Follow: true, MaxWait: 100 * time.Millisecond},
				func(_ context.Context, m *messaging.Message) error {
					mu.Lock()
					defer mu.Unlock()
					fn(m)
					return nil
				})
			if err != nil && !errors.Is(err, messaging.ErrTopicNotFound) && ctx.Err() == nil {
				t.Errorf("following %s: %v", topic, err)
			}
			if err == nil || !errors.Is(err, messaging.ErrTopicNotFound) {
				return
			}
			time.Sleep(poll)
		}
	}()
	t.Cleanup(func() { cancel(); <-stopped })
}

// Isolate points a service's common settings at the test broker and Redis
// with names of the test's own (every topic, the dead-letter topic, the
// Redis key prefix), so that no two tests read each other's records, and
// at a free loopback HTTP address.
func Isolate(t testing.TB, c *config.Common, service string) {
	t.Helper()
	c.Kafka.Brokers = KafkaBrokers(t)
	c.Redis.Addr = RedisAddr(t)
	c.Redis.Prefix = Name(service)
	c.HTTPAddr = "127.0.0.1:0"
	d := config.DefaultTopics()
	c.Topics = config.Topics{
		Uploaded: Name(d.Uploaded), Ingested: Name(d.Ingested), Hashed: Name(d.Hashed), Matched: Name(d.Matched),
		ReviewRequested: Name(d.ReviewRequested), ReviewDecided: Name(d.ReviewDecided), Actions: Name(d.Actions),
		BankUpdates: Name(d.BankUpdates), StreamSegments: Name(d.StreamSegments),
	}
	c.DLQTopic = Name(service + ".dlq")
}
