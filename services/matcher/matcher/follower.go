package matcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/takedown-pipeline/takedown/pkg/bank"
	"github.com/takedown-pipeline/takedown/pkg/events"
)

// rediscoverEvery is how often the follower looks for partitions added to the
// bank topic after start-up.
const rediscoverEvery = 30 * time.Second

// fetchMaxWait is the longest the broker holds a fetch of the bank topic
// open when there is nothing new. It bounds how late a replica sees a bank
// change on a quiet topic (kafka-go's default is 10 s), at the price of one
// small fetch per partition this often.
const fetchMaxWait = 250 * time.Millisecond

// follower keeps the in-memory banks in step with every partition of the
// compacted bank topic. It reads without a consumer group on purpose: a group
// would split the partitions between replicas, and every replica must hold the
// whole bank to give a complete verdict.
type follower struct {
	brokers []string
	topic   string
	log     *slog.Logger

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

func newFollower(brokers []string, topic string, log *slog.Logger) *follower {
	return &follower{brokers: brokers, topic: topic, log: log.With("topic", topic),
		next: map[int]int64{}, lag: map[int]int64{}}
}

// partitionStart is where a partition stood when the follower first saw it.
type partitionStart struct {
	id          int
	first, high int64 // log start offset and high-water mark
}

// listPartitions retries until the topic's partitions are known or ctx ends.
func (f *follower) listPartitions(ctx context.Context) ([]partitionStart, error) {
	for {
		parts, err := f.partitions(ctx)
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
func (f *follower) run(ctx context.Context, banks *bank.Banks, parts []partitionStart, from map[int]int64, caughtUp chan<- struct{}) {
	f.mu.Lock()
	f.banks = banks
	maps.Copy(f.next, from)
	f.mu.Unlock()
	var pending, readers sync.WaitGroup
	known := map[int]bool{}
	for _, p := range parts {
		known[p.id] = true
		pending.Add(1)
		start, ok := from[p.id]
		if !ok {
			start = p.first
		}
		f.start(ctx, p, start, sync.OnceFunc(pending.Done), &readers)
	}
	go func() {
		pending.Wait()
		// Readers also report done when they stop; only a real catch-up counts.
		if ctx.Err() == nil {
			f.caughtUp.Store(true)
			close(caughtUp)
		}
	}()

	t := time.NewTicker(rediscoverEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			readers.Wait()
			return
		case <-t.C:
		}
		now, err := f.partitions(ctx)
		if err != nil {
			f.log.Debug("cannot list bank partitions", "err", err)
			continue
		}
		for _, p := range now {
			if !known[p.id] {
				known[p.id] = true
				f.log.Info("following new bank partition", "partition", p.id)
				f.start(ctx, p, p.first, func() {}, &readers)
			}
		}
	}
}

// start reads one partition from offset in a goroutine; done is called once
// it has reached the partition's start-up high-water mark.
func (f *follower) start(ctx context.Context, p partitionStart, offset int64, done func(), readers *sync.WaitGroup) {
	if p.high <= offset {
		done() // nothing to load
	}
	readers.Add(1)
	go func() {
		defer readers.Done()
		defer done()
		f.follow(ctx, p, offset, done)
	}()
}

func (f *follower) follow(ctx context.Context, p partitionStart, offset int64, done func()) {
	log := f.log.With("partition", p.id)
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        f.brokers,
		Topic:          f.topic,
		Partition:      p.id,
		MinBytes:       1,
		MaxBytes:       10 << 20,
		MaxWait:        fetchMaxWait,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: time.Second,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			log.Debug("kafka reader: " + fmt.Sprintf(msg, args...))
		}),
	})
	defer r.Close()
	if err := r.SetOffset(offset); err != nil {
		log.Error("cannot seek bank partition", "offset", offset, "err", err)
		return
	}
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("reading bank updates failed; retrying", "err", err)
			if !sleep(ctx, time.Second) {
				return
			}
			continue
		}
		f.apply(log, m, r.Lag())
		if m.Offset+1 >= p.high {
			done()
		}
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
func (f *follower) apply(log *slog.Logger, m kafka.Message, lag int64) {
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
		log.Warn("bank update skipped", "offset", m.Offset, "key", string(m.Key), "err", err)
		return
	}
	if string(m.Key) != u.Key() {
		// Compaction goes by the record key, so a mismatch means a later
		// update of this entry may not supersede this one.
		log.Warn("bank update key does not match its entry", "offset", m.Offset, "key", string(m.Key), "entry", u.Key())
	}
	f.applied.Add(1)
}

// offsets returns the next offset to read per partition.
func (f *follower) offsets() map[int]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.next)
}

// partitions lists the topic's partitions with their offsets.
func (f *follower) partitions(ctx context.Context) ([]partitionStart, error) {
	d := &kafka.Dialer{Timeout: 10 * time.Second}
	var errs []error
	for _, b := range f.brokers {
		parts, err := f.partitionsVia(ctx, d, b)
		if err == nil {
			return parts, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", b, err))
	}
	return nil, errors.Join(errs...)
}

func (f *follower) partitionsVia(ctx context.Context, d *kafka.Dialer, broker string) ([]partitionStart, error) {
	conn, err := d.DialContext(ctx, "tcp", broker)
	if err != nil {
		return nil, err
	}
	ps, err := conn.ReadPartitions(f.topic)
	conn.Close()
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("topic %s has no partitions", f.topic)
	}
	out := make([]partitionStart, 0, len(ps))
	for _, p := range ps {
		lc, err := d.DialLeader(ctx, "tcp", broker, f.topic, p.ID)
		if err != nil {
			return nil, fmt.Errorf("partition %d leader: %w", p.ID, err)
		}
		first, high, err := lc.ReadOffsets()
		lc.Close()
		if err != nil {
			return nil, fmt.Errorf("partition %d offsets: %w", p.ID, err)
		}
		out = append(out, partitionStart{id: p.ID, first: first, high: high})
	}
	return out, nil
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
