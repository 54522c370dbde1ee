package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// topicSettings are the settings of every command that reads or writes the
// bank topic.
type topicSettings struct {
	kafka       config.Kafka
	topic       string
	partitions  int
	replication int
}

// bind registers the settings; creates adds those of creating the topic, for
// commands that publish.
func (t *topicSettings) bind(s *config.Set, creates bool) {
	t.kafka.Bind(s)
	s.String(&t.topic, "topic-bank-updates", events.TypeBankUpdate, "compacted topic of bank entries")
	if creates {
		s.Int(&t.partitions, "topic-partitions", 3, "partition count of the bank topic, if this command creates it")
		s.Int(&t.replication, "topic-replication", 1, "replication factor of the bank topic, if this command creates it")
	}
}

// bankPublisher sends bank updates in large batches (a
// messaging.BulkPublisher). Each update is keyed by its compaction key and
// partitioned with murmur2, like every other producer of the topic, so that
// all updates of one entry share a partition and the latest one wins.
type bankPublisher struct {
	bulk        *messaging.BulkPublisher
	correlation string
}

// newBankPublisher makes sure the topic exists (compacted, as the matcher
// creates it) and returns a publisher sending batches of size updates.
func newBankPublisher(ctx context.Context, ts topicSettings, size int) (*bankPublisher, error) {
	if err := ensureBankTopic(ctx, ts); err != nil {
		return nil, err
	}
	bulk, err := messaging.NewBulkPublisher(ts.kafka, ts.topic, size)
	if err != nil {
		return nil, err
	}
	// One correlation id for the whole run ties its updates together.
	return &bankPublisher{bulk: bulk, correlation: events.NewID()}, nil
}

// ensureBankTopic creates the bank topic, compacted, unless it exists, and
// waits until it takes writes. Producers never create topics themselves:
// the broker would make this one uncompacted, and bank entries would
// expire.
func ensureBankTopic(ctx context.Context, ts topicSettings) error {
	// A wrong password or CA is named here rather than in EnsureTopics'
	// words.
	if err := messaging.Check(ctx, ts.kafka); err != nil {
		return err
	}
	err := messaging.EnsureTopics(ctx, ts.kafka, messaging.TopicSpec{
		Name: ts.topic, Partitions: ts.partitions, Replication: ts.replication, Compact: true})
	if err != nil {
		return fmt.Errorf("bank topic %s on %v: %w", ts.topic, ts.kafka.Brokers, err)
	}
	return messaging.WaitForTopic(ctx, ts.kafka, ts.topic, 30*time.Second)
}

// add queues one update.
func (p *bankPublisher) add(ctx context.Context, u events.BankUpdate) error {
	if u.Labels == nil {
		u.Labels = []string{}
	}
	if u.Signals == nil {
		u.Signals = []events.Signal{}
	}
	u.Meta = events.NewMeta(events.TypeBankUpdate, u.Key(), p.correlation)
	if err := u.Validate(); err != nil {
		return err
	}
	msg, err := messaging.EventMessage("", &u)
	if err != nil {
		return err
	}
	if err := p.bulk.Add(ctx, msg); err != nil {
		return fmt.Errorf("bank updates: %w", err)
	}
	return nil
}

// close sends what is queued, waits for every acknowledgement and closes the
// connections. It reports the first failed batch, if any.
func (p *bankPublisher) close(ctx context.Context) error {
	if err := p.bulk.Close(ctx); err != nil {
		return fmt.Errorf("bank updates: %w", err)
	}
	return nil
}

// done is the number of updates the broker acknowledged so far.
func (p *bankPublisher) done() int64 { return p.bulk.Published() }

// topicStats counts what loading the bank topic saw.
type topicStats struct {
	records    int64
	tombstones int64
	rejected   int64
	lastReject string
}

// loadBankTopic reads every partition of the bank topic from its first offset
// to the end it had when the call started, as a matcher replica does at
// start-up, and returns the banks it describes. keep, if set, picks the
// records to decode by key (the rest are skipped unread). onRecord is called
// after each record, for progress, one call at a time. A topic that does not exist yet is an
// empty bank.
func loadBankTopic(ctx context.Context, ts topicSettings, keep func(key []byte) bool, onRecord func(done, total int64)) (*bank.Banks, topicStats, error) {
	banks := bank.NewBanks(nil)
	var st topicStats
	if err := messaging.Check(ctx, ts.kafka); err != nil {
		return nil, st, err
	}
	parts, err := messaging.TopicPartitions(ctx, ts.kafka, ts.topic)
	if errors.Is(err, messaging.ErrTopicNotFound) {
		return banks, st, nil
	}
	if err != nil {
		return nil, st, err
	}
	var total int64
	for _, p := range parts {
		total += p.End - p.First
	}
	var done, records, tombstones, rejected atomic.Int64
	var mu, progressMu sync.Mutex
	_, err = messaging.Replay(ctx, messaging.ReplayConfig{Kafka: ts.kafka, Topic: ts.topic, Partitions: parts},
		func(_ context.Context, m *messaging.Message) error {
			defer func() {
				n := done.Add(1)
				if onRecord != nil {
					progressMu.Lock()
					onRecord(n, total)
					progressMu.Unlock()
				}
			}()
			if keep != nil && !keep(m.Key) {
				return nil
			}
			records.Add(1)
			if m.Value == nil {
				tombstones.Add(1)
				banks.DisableKey(string(m.Key))
				return nil
			}
			var u events.BankUpdate
			err := events.Decode(m.Value, events.TypeBankUpdate, &u)
			if err == nil {
				err = banks.Apply(u)
			}
			if err != nil {
				rejected.Add(1)
				mu.Lock()
				st.lastReject = fmt.Sprintf("partition %d offset %d: %v", m.Partition, m.Offset, err)
				mu.Unlock()
			}
			return nil
		})
	st.records, st.tombstones, st.rejected = records.Load(), tombstones.Load(), rejected.Load()
	if err != nil {
		return nil, st, err
	}
	return banks, st, nil
}

// parseThresholds reads "pdq=31,phash=10".
func parseThresholds(items []string) (bank.Thresholds, error) {
	out := bank.Thresholds{}
	for _, it := range items {
		typ, v, ok := cutEq(it)
		if !ok {
			return nil, fmt.Errorf("threshold %q: want TYPE=BITS, e.g. pdq=31", it)
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("threshold %q: %v", it, err)
		}
		out[typ] = n
	}
	return out, nil
}

func cutEq(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '=' {
			return s[:i], s[i+1:], i > 0
		}
	}
	return "", "", false
}
