package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/takedown-pipeline/takedown/pkg/bank"
	"github.com/takedown-pipeline/takedown/pkg/config"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/messaging"
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

// bankPublisher sends bank updates in large batches. Each update is keyed by
// its compaction key and partitioned with murmur2, like every other producer
// of the topic, so that all updates of one entry share a partition and the
// latest one wins.
//
// The writer is asynchronous, so that encoding the next updates overlaps with
// the broker acknowledging the previous ones; kafka-go writes each
// partition's batches one after the other, so updates of one entry keep
// their order. At most maxInFlight updates wait for an acknowledgement at a
// time, which bounds memory on a slow broker.
type bankPublisher struct {
	w           *kafka.Writer
	transport   *kafka.Transport
	topic       string
	correlation string
	batch       []kafka.Message
	size        int

	mu          sync.Mutex
	cond        *sync.Cond
	inFlight    int
	maxInFlight int
	published   int64
	failed      int64
	firstErr    error
}

// newBankPublisher makes sure the topic exists (compacted, as the matcher
// creates it) and returns a publisher sending batches of size updates.
func newBankPublisher(ctx context.Context, ts topicSettings, size int) (*bankPublisher, error) {
	if size <= 0 {
		return nil, fmt.Errorf("batch size %d: want > 0", size)
	}
	err := messaging.EnsureTopics(ctx, ts.kafka, messaging.TopicSpec{
		Name: ts.topic, Partitions: ts.partitions, Replication: ts.replication, Compact: true})
	if err != nil {
		return nil, fmt.Errorf("bank topic %s on %v: %w", ts.topic, ts.kafka.Brokers, err)
	}
	if err := waitForLeaders(ctx, ts, 30*time.Second); err != nil {
		return nil, err
	}
	p := &bankPublisher{
		topic: ts.topic,
		// One correlation id for the whole run ties its updates together.
		correlation: events.NewID(),
		size:        size,
		maxInFlight: max(4*size, 20000),
	}
	p.cond = sync.NewCond(&p.mu)
	// A transport of its own: kafka-go's default one is shared by the
	// process and may hold metadata from before the topic existed.
	p.transport = &kafka.Transport{}
	p.w = &kafka.Writer{
		Transport:    p.transport,
		Addr:         kafka.TCP(ts.kafka.Brokers...),
		Topic:        ts.topic,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    size,
		BatchBytes:   16 << 20,
		BatchTimeout: 20 * time.Millisecond,
		Compression:  kafka.Lz4,
		MaxAttempts:  5,
		Async:        true,
		Completion:   p.completed,
		// Retry, rather than fail, while a just-created topic's metadata
		// spreads; the topic itself was created (compacted) above.
		AllowAutoTopicCreation: true,
	}
	return p, nil
}

// waitForLeaders waits until every partition of the topic has a leader: a
// topic just created has none for a moment, and writes to it fail.
func waitForLeaders(ctx context.Context, ts topicSettings, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		err := leadersKnown(ctx, ts)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bank topic %s not ready after %s: %w", ts.topic, within, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func leadersKnown(ctx context.Context, ts topicSettings) error {
	d := &kafka.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", ts.kafka.Brokers[0])
	if err != nil {
		return err
	}
	defer conn.Close()
	ps, err := conn.ReadPartitions(ts.topic)
	if err != nil {
		return err
	}
	if len(ps) == 0 {
		return errors.New("no partitions yet")
	}
	for _, p := range ps {
		if p.Leader.Host == "" {
			return fmt.Errorf("partition %d has no leader yet", p.ID)
		}
	}
	return nil
}

// completed is the writer's report on one batch.
func (p *bankPublisher) completed(msgs []kafka.Message, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.failed += int64(len(msgs))
		if p.firstErr == nil {
			p.firstErr = err
		}
	} else {
		p.published += int64(len(msgs))
	}
	p.inFlight -= len(msgs)
	p.cond.Broadcast()
}

// add queues one update, handing the batch to the writer when it is full.
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
	km := kafka.Message{Key: msg.Key, Value: msg.Value, Headers: make([]kafka.Header, len(msg.Headers))}
	for i, h := range msg.Headers {
		km.Headers[i] = kafka.Header{Key: h.Key, Value: h.Value}
	}
	p.batch = append(p.batch, km)
	if len(p.batch) >= p.size {
		return p.flush(ctx)
	}
	return nil
}

func (p *bankPublisher) flush(ctx context.Context) error {
	if len(p.batch) == 0 {
		return nil
	}
	p.mu.Lock()
	for p.inFlight > 0 && p.inFlight+len(p.batch) > p.maxInFlight && p.firstErr == nil {
		p.cond.Wait()
	}
	err := p.firstErr
	if err == nil {
		p.inFlight += len(p.batch)
	}
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("publishing bank updates to %s: %w", p.topic, err)
	}
	if err := p.w.WriteMessages(ctx, p.batch...); err != nil {
		return fmt.Errorf("publishing %d bank updates to %s: %w", len(p.batch), p.topic, err)
	}
	// The writer keeps the messages until they are written: a new slice.
	p.batch = make([]kafka.Message, 0, p.size)
	return nil
}

// close sends what is queued, waits for every acknowledgement and closes the
// connections. It reports the first failed batch, if any.
func (p *bankPublisher) close(ctx context.Context) error {
	err := p.flush(ctx)
	err = errors.Join(err, p.w.Close()) // Close flushes and waits for the writes
	p.transport.CloseIdleConnections()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.firstErr != nil {
		err = errors.Join(err, fmt.Errorf("%d bank updates were not published to %s: %w", p.failed, p.topic, p.firstErr))
	}
	return err
}

// done is the number of updates the broker acknowledged so far.
func (p *bankPublisher) done() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.published
}

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
	parts, err := partitionRanges(ctx, ts)
	if errors.Is(err, kafka.UnknownTopicOrPartition) {
		return banks, st, nil
	}
	if err != nil {
		return nil, st, err
	}
	var total int64
	for _, p := range parts {
		total += p.high - p.first
	}
	var done, records, tombstones, rejected atomic.Int64
	var mu, progressMu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(parts))
	for i, p := range parts {
		if p.high <= p.first {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = readPartition(ctx, ts, p, func(m kafka.Message) {
				defer func() {
					n := done.Add(1)
					if onRecord != nil {
						progressMu.Lock()
						onRecord(n, total)
						progressMu.Unlock()
					}
				}()
				if keep != nil && !keep(m.Key) {
					return
				}
				records.Add(1)
				if m.Value == nil {
					tombstones.Add(1)
					banks.DisableKey(string(m.Key))
					return
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
			})
		}()
	}
	wg.Wait()
	st.records, st.tombstones, st.rejected = records.Load(), tombstones.Load(), rejected.Load()
	if err := errors.Join(errs...); err != nil {
		return nil, st, err
	}
	return banks, st, nil
}

type partitionRange struct {
	id          int
	first, high int64
}

// partitionRanges lists the topic's partitions with their first offset and
// high-water mark.
func partitionRanges(ctx context.Context, ts topicSettings) ([]partitionRange, error) {
	d := &kafka.Dialer{Timeout: 10 * time.Second}
	var errs []error
	for _, b := range ts.kafka.Brokers {
		conn, err := d.DialContext(ctx, "tcp", b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ps, err := conn.ReadPartitions(ts.topic)
		conn.Close()
		if err != nil {
			return nil, fmt.Errorf("partitions of %s: %w", ts.topic, err)
		}
		out := make([]partitionRange, 0, len(ps))
		for _, p := range ps {
			lc, err := d.DialLeader(ctx, "tcp", b, ts.topic, p.ID)
			if err != nil {
				return nil, fmt.Errorf("leader of %s/%d: %w", ts.topic, p.ID, err)
			}
			first, high, err := lc.ReadOffsets()
			lc.Close()
			if err != nil {
				return nil, fmt.Errorf("offsets of %s/%d: %w", ts.topic, p.ID, err)
			}
			out = append(out, partitionRange{id: p.ID, first: first, high: high})
		}
		return out, nil
	}
	return nil, fmt.Errorf("no Kafka broker reachable: %w", errors.Join(errs...))
}

// readPartition calls fn for every record of one partition up to its
// high-water mark at the start.
func readPartition(ctx context.Context, ts topicSettings, p partitionRange, fn func(kafka.Message)) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   ts.kafka.Brokers,
		Topic:     ts.topic,
		Partition: p.id,
		MinBytes:  1,
		MaxBytes:  16 << 20,
		MaxWait:   500 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(kafka.FirstOffset); err != nil {
		return fmt.Errorf("rewind %s/%d: %w", ts.topic, p.id, err)
	}
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("reading %s/%d: %w", ts.topic, p.id, err)
		}
		fn(m)
		if m.Offset+1 >= p.high {
			return nil
		}
	}
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
