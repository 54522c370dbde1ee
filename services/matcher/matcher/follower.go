package matcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// follower keeps the in-memory banks in step with every partition of the
// compacted bank topic. It reads without a consumer group on purpose: a group
// would split the partitions between replicas, and every replica must hold the
// whole bank to give a complete verdict.
type follower struct {
	brokers []string
	topic   string
	banks   *bank.Banks
	log     *slog.Logger

	applied  atomic.Int64
	rejected atomic.Int64
	caughtUp atomic.Bool

	mu            sync.Mutex
	lastRejection string
	next          map[int]int64 // next offset to read, per partition
}

func newFollower(brokers []string, topic string, banks *bank.Banks, log *slog.Logger) *follower {
	return &follower{brokers: brokers, topic: topic, banks: banks, log: log.With("topic", topic), next: map[int]int64{}}
}

// partitionStart is where a partition stood when the follower first saw it.
type partitionStart struct {
	id          int
	first, high int64 // log start offset and high-water mark
}

// run follows the topic until ctx is cancelled. It closes caughtUp once every
// partition has been read up to the high-water mark it had at start-up, so
// the service never answers "no match" from a half-loaded bank.
func (f *follower) run(ctx context.Context, caughtUp chan<- struct{}) {
	var parts []partitionStart
	for {
		var err error
		if parts, err = f.partitions(ctx); err == nil {
			break
		}
		f.log.Warn("cannot list bank partitions; retrying", "err", err)
		if !sleep(ctx, time.Second) {
			return
		}
	}
	var pending, readers sync.WaitGroup
	known := map[int]bool{}
	for _, p := range parts {
		known[p.id] = true
		pending.Add(1)
		f.start(ctx, p, sync.OnceFunc(pending.Done), &readers)
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
				f.start(ctx, p, func() {}, &readers)
			}
		}
	}
}

// start reads one partition from its first offset in a goroutine; done is
// called once it has reached the partition's start-up high-water mark.
func (f *follower) start(ctx context.Context, p partitionStart, done func(), readers *sync.WaitGroup) {
	if p.high <= p.first {
		done() // nothing to load
	}
	readers.Add(1)
	go func() {
		defer readers.Done()
		defer done()
		f.follow(ctx, p, done)
	}()
}

func (f *follower) follow(ctx context.Context, p partitionStart, done func()) {
	log := f.log.With("partition", p.id)
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        f.brokers,
		Topic:          f.topic,
		Partition:      p.id,
		MinBytes:       1,
		MaxBytes:       10 << 20,
		MaxWait:        500 * time.Millisecond,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: time.Second,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			log.Debug("kafka reader: " + fmt.Sprintf(msg, args...))
		}),
	})
	defer r.Close()
	if err := r.SetOffset(kafka.FirstOffset); err != nil {
		log.Error("cannot rewind bank partition", "err", err)
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
		f.apply(log, m)
		if m.Offset+1 >= p.high {
			done()
		}
	}
}

// apply applies one record. A record that cannot be applied is skipped and
// counted: on a compacted topic there is nobody to hand it back to, and the
// next good update of the same entry supersedes it anyway.
func (f *follower) apply(log *slog.Logger, m kafka.Message) {
	f.mu.Lock()
	f.next[m.Partition] = m.Offset + 1
	f.mu.Unlock()
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
}

func (f *follower) status() FollowerStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	offs := make(map[string]int64, len(f.next))
	for p, o := range f.next {
		offs[fmt.Sprint(p)] = o
	}
	return FollowerStatus{
		CaughtUp:      f.caughtUp.Load(),
		Applied:       f.applied.Load(),
		Rejected:      f.rejected.Load(),
		LastRejection: f.lastRejection,
		Offsets:       offs,
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
