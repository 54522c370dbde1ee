package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// These tests run against the real broker that `make test` starts.

// newTopic creates a topic of n partitions and waits until it serves.
func newTopic(t *testing.T, k config.Kafka, base string, n int, compact bool) string {
	t.Helper()
	topic := testenv.Name(base)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := messaging.EnsureTopics(ctx, k, messaging.TopicSpec{Name: topic, Partitions: n, Compact: compact}); err != nil {
		t.Fatal(err)
	}
	if err := messaging.WaitForTopic(ctx, k, topic, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	return topic
}

// publishN publishes records keyed k0..k(n-1) (value "v<i>"), stamped at, if
// at is not zero.
func publishN(t *testing.T, k config.Kafka, topic string, from, n int, at time.Time) {
	t.Helper()
	p := messaging.NewKafkaPublisher(k)
	defer p.Close()
	msgs := make([]messaging.Message, n)
	for i := range msgs {
		msgs[i] = messaging.Message{Topic: topic, Key: fmt.Appendf(nil, "k%d", from+i), Value: fmt.Appendf(nil, "v%d", from+i), Time: at}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

// recorder collects what a replay hands over, checking the order within
// each partition.
type recorder struct {
	t    *testing.T
	mu   sync.Mutex
	keys map[string]bool
	last map[int]int64
}

func newRecorder(t *testing.T) *recorder {
	return &recorder{t: t, keys: map[string]bool{}, last: map[int]int64{}}
}

func (r *recorder) handle(_ context.Context, m *messaging.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.last[m.Partition]; ok && m.Offset <= prev {
		r.t.Errorf("partition %d: offset %d after %d", m.Partition, m.Offset, prev)
	}
	r.last[m.Partition] = m.Offset
	if r.keys[string(m.Key)] {
		r.t.Errorf("record %s handed over twice", m.Key)
	}
	r.keys[string(m.Key)] = true
	if m.HighWaterMark <= m.Offset {
		r.t.Errorf("record %s: high-water mark %d not past its offset %d", m.Key, m.HighWaterMark, m.Offset)
	}
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.keys)
}

func (r *recorder) has(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.keys[key]
}

func TestReplayReadsEveryPartitionToItsEnd(t *testing.T) {
	k := testenv.Kafka(t)
	topic := newTopic(t, k, "replay-multi", 3, false)
	publishN(t, k, topic, 0, 60, time.Time{})
	parts, err := messaging.TopicPartitions(context.Background(), k, topic)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	used := 0
	for _, p := range parts {
		sum += p.End - p.First
		if p.End > 0 {
			used++
		}
	}
	if len(parts) != 3 || sum != 60 || used < 2 {
		t.Fatalf("partitions %+v: want 3 holding 60 records, on at least 2 of them", parts)
	}
	rec := newRecorder(t)
	caught := 0
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := messaging.Replay(ctx, messaging.ReplayConfig{Kafka: k, Topic: topic, CaughtUp: func() { caught++ }}, rec.handle)
	if err != nil {
		t.Fatal(err)
	}
	if n != 60 || rec.count() != 60 || caught != 1 {
		t.Errorf("replay handled %d records (%d distinct), caught up %d times; want 60, 60, 1", n, rec.count(), caught)
	}

	// From given offsets: only what follows them.
	from := map[int]int64{}
	var want int64
	for _, p := range parts {
		from[p.Partition] = p.End / 2
		want += p.End - p.End/2
	}
	rec = newRecorder(t)
	n, err = messaging.Replay(ctx, messaging.ReplayConfig{Kafka: k, Topic: topic, From: from}, rec.handle)
	if err != nil || n != want {
		t.Errorf("replay from %v: %d records, %v; want %d", from, n, err, want)
	}
}

func TestReplayOfAnEmptyTopicEndsAtOnce(t *testing.T) {
	k := testenv.Kafka(t)
	topic := newTopic(t, k, "replay-empty", 2, false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	caught := false
	n, err := messaging.Replay(ctx, messaging.ReplayConfig{Kafka: k, Topic: topic, CaughtUp: func() { caught = true }},
		newRecorder(t).handle)
	if err != nil || n != 0 || !caught {
		t.Errorf("replay of an empty topic: %d records, caught up %v, %v", n, caught, err)
	}
}

// A missing topic is ErrTopicNotFound, and reading it does not create it
// (kafka-go's Conn.ReadPartitions would, with the broker's defaults).
func TestReplayOfAMissingTopicIsErrTopicNotFound(t *testing.T) {
	k := testenv.Kafka(t)
	topic := testenv.Name("replay-missing")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, follow := range []bool{false, true} {
		_, err := messaging.Replay(ctx, messaging.ReplayConfig{Kafka: k, Topic: topic, Follow: follow}, newRecorder(t).handle)
		if !errors.Is(err, messaging.ErrTopicNotFound) || !strings.Contains(err.Error(), topic) {
			t.Errorf("follow %v: err %v, want ErrTopicNotFound naming %s", follow, err, topic)
		}
	}
	if _, err := messaging.TopicConfig(ctx, k, topic); !errors.Is(err, messaging.ErrTopicNotFound) {
		t.Errorf("TopicConfig of a missing topic: %v", err)
	}
	// Nor does a publish create it.
	p := messaging.NewKafkaPublisher(k)
	defer p.Close()
	err := p.Publish(ctx, messaging.Message{Topic: topic, Key: []byte("k"), Value: []byte("v")})
	if !errors.Is(err, messaging.ErrTopicNotFound) {
		t.Errorf("publish to a missing topic: %v, want ErrTopicNotFound", err)
	}
	time.Sleep(500 * time.Millisecond) // an auto-creation would have happened by now
	if _, err := messaging.TopicPartitions(ctx, k, topic); !errors.Is(err, messaging.ErrTopicNotFound) {
		t.Errorf("after the replays and the publish, the topic exists: %v", err)
	}
}

func TestReplayFollowsNewRecords(t *testing.T) {
	k := testenv.Kafka(t)
	topic := newTopic(t, k, "replay-follow", 3, false)
	publishN(t, k, topic, 0, 10, time.Time{})
	rec := newRecorder(t)
	caughtUp := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := messaging.Replay(ctx, messaging.ReplayConfig{Kafka: k, Topic: topic, Follow: true,
			CaughtUp: func() { close(caughtUp) }}, rec.handle)
		done <- err
	}()
	select {
	case <-caughtUp:
	case <-time.After(30 * time.Second):
		t.Fatal("no catch-up")
	}
	if n := rec.count(); n != 10 {
		t.Errorf("caught up after %d records, want 10", n)
	}
	publishN(t, k, topic, 10, 5, time.Time{})
	testenv.WaitFor(t, 30*time.Second, "the new records", func() bool { return rec.count() == 15 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("follower stopped with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follower did not stop")
	}
}

func TestReplaySinceATime(t *testing.T) {
	k := testenv.Kafka(t)
	topic := newTopic(t, k, "replay-since", 3, false)
	base := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	publishN(t, k, topic, 0, 12, base)                   // k0..k11: two days ago
	publishN(t, k, topic, 12, 9, base.Add(24*time.Hour)) // k12..k20: yesterday
	rec := newRecorder(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := messaging.Replay(ctx, messaging.ReplayConfig{Kafka: k, Topic: topic, Since: base.Add(time.Hour)}, rec.handle)
	if err != nil {
		t.Fatal(err)
	}
	if n != 9 || rec.has("k0") || !rec.has("k12") || !rec.has("k20") {
		t.Errorf("replay since yesterday read %d records; want the 9 of yesterday", n)
	}
	// Later than every record: nothing, at once.
	n, err = messaging.Replay(ctx, messaging.ReplayConfig{Kafka: k, Topic: topic, Since: time.Now().Add(time.Hour)}, newRecorder(t).handle)
	if err != nil || n != 0 {
		t.Errorf("replay since the future: %d records, %v", n, err)
	}
}

func TestReplayStopsOnHandlerError(t *testing.T) {
	k := testenv.Kafka(t)
	topic := newTopic(t, k, "replay-fail", 2, false)
	publishN(t, k, topic, 0, 10, time.Time{})
	boom := errors.New("boom")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := messaging.Replay(ctx, messaging.ReplayConfig{Kafka: k, Topic: topic}, func(_ context.Context, m *messaging.Message) error {
		if string(m.Key) == "k3" {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Errorf("err %v, want the handler's", err)
	}
}

func TestTopicConfigShowsCompaction(t *testing.T) {
	k := testenv.Kafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, compact := range []bool{true, false} {
		topic := newTopic(t, k, "replay-config", 1, compact)
		cfg, err := messaging.TopicConfig(ctx, k, topic)
		if err != nil {
			t.Fatal(err)
		}
		want := "delete"
		if compact {
			want = "compact"
		}
		if cfg["cleanup.policy"] != want {
			t.Errorf("compact %v: cleanup.policy %q, want %q", compact, cfg["cleanup.policy"], want)
		}
		if cfg["retention.ms"] == "" {
			t.Errorf("no retention.ms in %v", cfg)
		}
	}
}
