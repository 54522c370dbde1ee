package matcher

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// rediscoverEvery is how often the follower looks for partitions added to the
// bank topic after start-up.
const rediscoverEvery = 30 * time.Second

// fetchMaxWait is the longest the broker holds a fetch of the bank topic
// open when there is nothing new (kafka-go's default is 10 s). A bank change
// is answered at once whatever it is; it sets how often each quiet partition
// is polled, and how long stopping the follower may wait for a fetch.
const fetchMaxWait = time.Second

// follower keeps the in-memory banks in step with every partition of the
// compacted bank topic. It reads without a consumer group on purpose
// (messaging.Replay): a group would split the partitions between replicas,
// and every replica must hold the whole bank to give a complete verdict.
type follower struct {
	kafka config.Kafka
	topic string
	log   *slog.Logger

	applied  atomic.Int64
	rejected atomic.Int64
	caughtUp atomic.Bool

	mu            sync.Mutex
	banks         *bank.Banks
	lastRejection string
	next          map[int]int64 // next offset to read, per partition
	lag           map[int]int64 // records behind the partition's end, per partition
	lastApplied   time.Time
}

func newFollower(k config.Kafka, topic string, log *slog.Logger) *follower {
	return &follower{kafka: k, topic: topic, log: log.With("topic", topic),
		next: map[int]int64{}, lag: map[int]int64{}}
}

// listPartitions retries until the topic's partitions are known or ctx ends.
// The matcher creates the topic before (compacted) and checks it is, so a
// missing topic here is one deleted meanwhile: waited for like an outage.
func (f *follower) listPartitions(ctx context.Context) ([]messaging.PartitionOffsets, error) {
	for {
		parts, err := messaging.TopicPartitions(ctx, f.kafka, f.topic)
		if err == nil {
			return parts, nil
		}
		f.log.Warn("cannot list bank partitions; retrying", "err", err)
		if !sleep(ctx, time.Second) {
			return nil, ctx.Err()
		}
	}
}

// run follows the topic into banks until ctx is cancelled, each partition of
// parts from its offset in from (the next offset a snapshot does not cover)
// or from its start. It closes caughtUp once every partition has been read up
// to the high-water mark it had at start-up, so the service never answers "no
// match" from a half-loaded bank.
func (f *follower) run(ctx context.Context, banks *bank.Banks, parts []messaging.PartitionOffsets, from map[int]int64, caughtUp chan<- struct{}) {
	f.mu.Lock()
	f.banks = banks
	maps.Copy(f.next, from)
	f.mu.Unlock()
	_, err := messaging.Replay(ctx, messaging.ReplayConfig{
		Kafka: f.kafka, Topic: f.topic, Partitions: parts, From: from,
		Follow: true, MaxWait: fetchMaxWait, Rediscover: rediscoverEvery, Logger: f.log,
		CaughtUp: func() {
			f.caughtUp.Store(true)
			close(caughtUp)
		},
	}, func(_ context.Context, m *messaging.Message) error {
		f.apply(m)
		return nil
	})
	if err != nil && ctx.Err() == nil {
		// apply returns no error and the partitions are given, so this
		// is not expected; the replica stops following, loudly.
		f.log.Error("following the bank topic stopped", "err", err)
	}
}

// apply applies one record. A record that cannot be applied is skipped and
// counted: on a compacted topic there is nobody to hand it back to, and the
// next good update of the same entry supersedes it anyway.
//
// The partition's next offset moves only after the record is in the banks:
// a snapshot takes the offsets first, so the state it saves covers at least
// the offsets it records (re-applying a few records on start is harmless,
// missing one is not).
func (f *follower) apply(m *messaging.Message) {
	lag := m.HighWaterMark - m.Offset - 1
	defer func() {
		f.mu.Lock()
		f.next[m.Partition] = m.Offset + 1
		f.lag[m.Partition] = max(lag, 0)
		f.lastApplied = time.Now()
		f.mu.Unlock()
	}()
	if m.Value == nil {
		// A tombstone: someone deleted the entry's key from the topic. Its
		// add will be compacted away, so stop matching it now rather than
		// only after the next restart.
		f.banks.DisableKey(string(m.Key))
		f.applied.Add(1)
		return
	}
	var u events.BankUpdate
	err := events.Decode(m.Value, events.TypeBankUpdate, &u)
	if err == nil {
		err = f.banks.Apply(u)
	}
	if err != nil {
		f.rejected.Add(1)
		msg := fmt.Sprintf("partition %d offset %d: %v", m.Partition, m.Offset, err)
		f.mu.Lock()
		f.lastRejection = msg
		f.mu.Unlock()
		f.log.Warn("bank update skipped", "partition", m.Partition, "offset", m.Offset, "key", string(m.Key), "err", err)
		return
	}
	if string(m.Key) != u.Key() {
		// Compaction goes by the record key, so a mismatch means a later
		// update of this entry may not supersede this one.
		f.log.Warn("bank update key does not match its entry", "partition", m.Partition, "offset", m.Offset, "key", string(m.Key), "entry", u.Key())
	}
	f.applied.Add(1)
}

// offsets returns the next offset to read per partition.
func (f *follower) offsets() map[int]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.next)
}

// FollowerStatus is how far the replica has followed the bank topic.
type FollowerStatus struct {
	CaughtUp      bool             `json:"caught_up"`
	Applied       int64            `json:"updates_applied"`
	Rejected      int64            `json:"updates_rejected"`
	LastRejection string           `json:"last_rejection,omitempty"`
	Offsets       map[string]int64 `json:"next_offsets"`
	// Lag is how many records the replica was behind the end of the bank
	// topic when it last read one, summed over partitions.
	Lag int64 `json:"lag"`
	// Source says where the banks came from at start: "topic" or
	// "snapshot".
	Source string `json:"source,omitempty"`
}

func (f *follower) status() FollowerStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	offs := make(map[string]int64, len(f.next))
	for p, o := range f.next {
		offs[fmt.Sprint(p)] = o
	}
	var lag int64
	for _, l := range f.lag {
		lag += l
	}
	return FollowerStatus{
		CaughtUp:      f.caughtUp.Load(),
		Applied:       f.applied.Load(),
		Rejected:      f.rejected.Load(),
		LastRejection: f.lastRejection,
		Offsets:       offs,
		Lag:           lag,
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
