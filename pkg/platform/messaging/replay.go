package messaging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
)

// ErrTopicNotFound is the error of reading or writing a topic that does not
// exist. Nothing in this package creates a topic as a side effect (the
// broker would make it with its defaults: one partition, no compaction), so
// each caller decides what a missing topic means: an empty table, "nothing
// recorded yet", or a reason to stop. Test for it with errors.Is.
var ErrTopicNotFound = errors.New("topic does not exist")

// PartitionOffsets is where one partition of a topic stands.
type PartitionOffsets struct {
	Partition int
	// First is the offset of the oldest record still in the log.
	First int64
	// End is the high-water mark: the offset the next record will get.
	End int64
}

// client returns an admin client for k's brokers. Its requests never create
// topics: kafka-go's Conn.ReadPartitions (and so a Reader's leader lookup)
// asks the broker to auto-create a missing topic, a Client does not.
func client(k config.Kafka) (*kafka.Client, error) {
	if len(k.Brokers) == 0 {
		return nil, fmt.Errorf("%s is empty", config.EnvName("kafka-brokers"))
	}
	return &kafka.Client{Addr: kafka.TCP(k.Brokers...), Transport: newTransport(k), Timeout: 30 * time.Second}, nil
}

// topicMetadata returns the partitions of topic, ErrTopicNotFound if it does
// not exist.
func topicMetadata(ctx context.Context, c *kafka.Client, topic string) ([]kafka.Partition, error) {
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
			return nil, fmt.Errorf("topic %s: %w", topic, ErrTopicNotFound)
		}
		if t.Error != nil {
			return nil, fmt.Errorf("metadata of %s: %w", topic, t.Error)
		}
		if len(t.Partitions) == 0 {
			return nil, fmt.Errorf("topic %s has no partitions yet", topic)
		}
		return t.Partitions, nil
	}
	return nil, fmt.Errorf("topic %s: %w", topic, ErrTopicNotFound)
}

// ListTopics names every topic of the cluster but the broker's internal ones
// (__consumer_offsets), sorted.
func ListTopics(ctx context.Context, k config.Kafka) ([]string, error) {
	c, err := client(k)
	if err != nil {
		return nil, err
	}
	defer closeIdle(c)
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	var out []string
	for _, t := range md.Topics {
		if t.Internal || strings.HasPrefix(t.Name, "__") {
			continue
		}
		out = append(out, t.Name)
	}
	slices.Sort(out)
	return out, nil
}

// TopicPartitions lists the partitions of topic with their first and end
// offsets, in partition order. A missing topic is ErrTopicNotFound.
func TopicPartitions(ctx context.Context, k config.Kafka, topic string) ([]PartitionOffsets, error) {
	// A topic just created, or a partition whose leader moves, answers
	// "not leader" for a moment: asked again, with fresh metadata, it
	// answers.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ps, err := topicPartitions(ctx, k, topic)
		if err == nil || !temporary(err) || time.Now().After(deadline) {
			return ps, err
		}
		if !sleep(ctx, 100*time.Millisecond) {
			return nil, err
		}
	}
}

// temporary reports whether err is a Kafka error that asking again fixes.
func temporary(err error) bool {
	var ke kafka.Error
	return errors.As(err, &ke) && ke.Temporary()
}

func topicPartitions(ctx context.Context, k config.Kafka, topic string) ([]PartitionOffsets, error) {
	c, err := client(k)
	if err != nil {
		return nil, err
	}
	defer closeIdle(c)
	ps, err := topicMetadata(ctx, c, topic)
	if err != nil {
		return nil, err
	}
	reqs := make([]kafka.OffsetRequest, 0, 2*len(ps))
	for _, p := range ps {
		if p.Error != nil {
			return nil, fmt.Errorf("partition %s/%d: %w", topic, p.ID, p.Error)
		}
		reqs = append(reqs, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
	}
	res, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("offsets of %s: %w", topic, err)
	}
	out := make([]PartitionOffsets, 0, len(ps))
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		out = append(out, PartitionOffsets{Partition: po.Partition, First: po.FirstOffset, End: po.LastOffset})
	}
	if len(out) != len(ps) {
		return nil, fmt.Errorf("offsets of %s: %d of %d partitions answered", topic, len(out), len(ps))
	}
	slices.SortFunc(out, func(a, b PartitionOffsets) int { return a.Partition - b.Partition })
	return out, nil
}

// offsetsAt returns, per partition, the offset of the first record stamped
// at or after t; a partition without one is left out.
func offsetsAt(ctx context.Context, k config.Kafka, topic string, parts []PartitionOffsets, t time.Time) (map[int]int64, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := offsetsAtOnce(ctx, k, topic, parts, t)
		if err == nil || !temporary(err) || time.Now().After(deadline) {
			return out, err
		}
		if !sleep(ctx, 100*time.Millisecond) {
			return nil, err
		}
	}
}

func offsetsAtOnce(ctx context.Context, k config.Kafka, topic string, parts []PartitionOffsets, t time.Time) (map[int]int64, error) {
	c, err := client(k)
	if err != nil {
		return nil, err
	}
	defer closeIdle(c)
	reqs := make([]kafka.OffsetRequest, len(parts))
	for i, p := range parts {
		reqs[i] = kafka.TimeOffsetOf(p.Partition, t)
	}
	res, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("offsets of %s at %s: %w", topic, t.Format(time.RFC3339), err)
	}
	out := map[int]int64{}
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("offset of %s/%d at %s: %w", topic, po.Partition, t.Format(time.RFC3339), po.Error)
		}
		// kafka-go files a time lookup's answer under Offsets; with no
		// record that late, the broker answers offset -1 and it files none.
		for off := range po.Offsets {
			if off >= 0 {
				out[po.Partition] = off
			}
		}
	}
	return out, nil
}

// WaitForTopic waits, up to within, until every partition of topic has a
// leader: a topic just created has none for a moment, and writes to it fail.
// A topic that does not exist is waited for too (creation may still be
// spreading); its error, if it never appears, wraps ErrTopicNotFound.
func WaitForTopic(ctx context.Context, k config.Kafka, topic string, within time.Duration) error {
	c, err := client(k)
	if err != nil {
		return err
	}
	defer closeIdle(c)
	deadline := time.Now().Add(within)
	for {
		ps, err := topicMetadata(ctx, c, topic)
		if err == nil {
			for _, p := range ps {
				if p.Leader.Host == "" || p.Error != nil {
					err = fmt.Errorf("partition %s/%d has no leader yet", topic, p.ID)
					break
				}
			}
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topic %s not ready after %s: %w", topic, within, err)
		}
		if !sleep(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// TopicConfig returns the topic's configuration as the broker applies it,
// defaults included (cleanup.policy, retention.ms, ...).
func TopicConfig(ctx context.Context, k config.Kafka, topic string) (map[string]string, error) {
	c, err := client(k)
	if err != nil {
		return nil, err
	}
	defer closeIdle(c)
	res, err := c.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
		Resources: []kafka.DescribeConfigRequestResource{{ResourceType: kafka.ResourceTypeTopic, ResourceName: topic}},
	})
	if err != nil {
		return nil, fmt.Errorf("configuration of topic %s: %w", topic, err)
	}
	out := map[string]string{}
	for _, r := range res.Resources {
		if errors.Is(r.Error, kafka.UnknownTopicOrPartition) {
			return nil, fmt.Errorf("topic %s: %w", topic, ErrTopicNotFound)
		}
		if r.Error != nil {
			return nil, fmt.Errorf("configuration of topic %s: %w", topic, r.Error)
		}
		for _, e := range r.ConfigEntries {
			out[e.ConfigName] = e.ConfigValue
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("configuration of topic %s: the broker returned none", topic)
	}
	return out, nil
}

func closeIdle(c *kafka.Client) {
	if t, ok := c.Transport.(*kafka.Transport); ok {
		t.CloseIdleConnections()
	}
}

// ReplayConfig says which records of a topic Replay reads.
type ReplayConfig struct {
	Kafka config.Kafka
	Topic string
	// Partitions are the partitions to read and the ends to catch up to, as
	// TopicPartitions listed them; nil lists them at the start. A caller
	// that needs the ends beforehand (for progress, or to check a snapshot
	// against the log) lists them itself and passes them here.
	Partitions []PartitionOffsets
	// From is the next offset to read per partition. Partitions not in From
	// start at the first record stamped at or after Since, or, with a zero
	// Since, at their first record.
	From  map[int]int64
	Since time.Time
	// Follow keeps reading after the catch-up, until ctx ends, and reads
	// partitions added to the topic later from their first record. Without
	// Follow, Replay returns once caught up.
	Follow bool
	// CaughtUp, if set, is called once, when every partition has been read
	// up to the end it had at the start (at once if there was nothing to
	// read). It is not called when ctx ends first.
	CaughtUp func()
	// MaxWait is the longest the broker holds a fetch open when there is
	// nothing new: it bounds how late a follower sees a record on a quiet
	// partition. Default 250 ms.
	MaxWait time.Duration
	// Rediscover is how often a follower looks for new partitions. Default
	// 30 s.
	Rediscover time.Duration
	Logger     *slog.Logger
}

// Replay reads every partition of a topic from its start (or cfg.From, or
// cfg.Since) up to the end it had when the call started, calling h for each
// record; with cfg.Follow it then keeps reading. It is the one way services
// and tools rebuild a table from a topic: the matcher's banks, the review
// queue, the CLI's bank listing and the enforcement report.
//
// Partitions are read side by side, each in offset order, so h must be safe
// for concurrent use but sees the records of one key in the order they were
// written. It reads without a consumer group: every reader sees the whole
// topic, and commits nothing.
//
// A missing topic is ErrTopicNotFound, before anything is read (Replay never
// creates it). An error of h stops the replay and is returned. A read error
// stops a plain replay; a follower logs it and retries, as it has nobody to
// return it to. Replay returns the number of records handled; a follower
// returns nil when ctx ends.
func Replay(ctx context.Context, cfg ReplayConfig, h Handler) (int64, error) {
	if cfg.Topic == "" {
		return 0, errors.New("replay: no topic")
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 250 * time.Millisecond
	}
	if cfg.Rediscover <= 0 {
		cfg.Rediscover = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger.With("topic", cfg.Topic)
	parts := cfg.Partitions
	if parts == nil {
		var err error
		if parts, err = TopicPartitions(ctx, cfg.Kafka, cfg.Topic); err != nil {
			return 0, err
		}
	}
	starts := make(map[int]int64, len(parts))
	var needTime []PartitionOffsets
	for _, p := range parts {
		switch off, ok := cfg.From[p.Partition]; {
		case ok:
			starts[p.Partition] = off
		case !cfg.Since.IsZero():
			needTime = append(needTime, p)
		default:
			starts[p.Partition] = p.First
		}
	}
	if len(needTime) > 0 {
		at, err := offsetsAt(ctx, cfg.Kafka, cfg.Topic, needTime, cfg.Since)
		if err != nil {
			return 0, err
		}
		for _, p := range needTime {
			off, ok := at[p.Partition]
			if !ok || off > p.End {
				off = p.End // no record that late: nothing to read yet
			}
			starts[p.Partition] = max(off, p.First)
		}
	}

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		total    atomic.Int64
		wg       sync.WaitGroup
		pending  sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel() // the others stop too: the replay has failed
	}
	read := func(p PartitionOffsets, start int64, done func()) {
		wg.Go(func() {
			defer done() // also when stopping, so the catch-up waiter ends
			n, err := readPartition(ctx, cfg, log, p, start, done, h)
			total.Add(n)
			if err != nil && ctx.Err() == nil {
				fail(err)
			}
		})
	}
	known := map[int]bool{}
	for _, p := range parts {
		known[p.Partition] = true
		start := starts[p.Partition]
		if start >= p.End && !cfg.Follow {
			continue // nothing to read
		}
		pending.Add(1)
		done := sync.OnceFunc(pending.Done)
		if start >= p.End {
			done()
		}
		read(p, start, done)
	}
	caughtUp := make(chan struct{})
	go func() {
		pending.Wait()
		close(caughtUp)
	}()
	select {
	case <-caughtUp:
	case <-ctx.Done():
	}
	if ctx.Err() == nil && cfg.CaughtUp != nil {
		cfg.CaughtUp()
	}
	if cfg.Follow {
		t := time.NewTicker(cfg.Rediscover)
	follow:
		for {
			select {
			case <-ctx.Done():
				break follow
			case <-t.C:
			}
			now, err := TopicPartitions(ctx, cfg.Kafka, cfg.Topic)
			if err != nil {
				log.Debug("cannot list partitions", "err", err)
				continue
			}
			for _, p := range now {
				if !known[p.Partition] {
					known[p.Partition] = true
					log.Info("following new partition", "partition", p.Partition)
					read(p, p.First, func() {})
				}
			}
		}
		t.Stop()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if firstErr == nil && !cfg.Follow && parent.Err() != nil {
		// Stopped before the end: what was read is not the whole table.
		firstErr = fmt.Errorf("replay %s: %w", cfg.Topic, context.Cause(parent))
	}
	return total.Load(), firstErr
}

// readPartition reads one partition from start, calling done once it has
// read up to p.End.
func readPartition(ctx context.Context, cfg ReplayConfig, log *slog.Logger, p PartitionOffsets, start int64, done func(), h Handler) (int64, error) {
	log = log.With("partition", p.Partition)
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        cfg.Kafka.Brokers,
		Dialer:         newDialer(cfg.Kafka),
		Topic:          cfg.Topic,
		Partition:      p.Partition,
		MinBytes:       1,
		MaxBytes:       16 << 20,
		MaxWait:        cfg.MaxWait,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: time.Second,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			log.Debug("kafka reader: " + fmt.Sprintf(msg, args...))
		}),
	})
	defer r.Close()
	if err := r.SetOffset(start); err != nil {
		return 0, fmt.Errorf("seek %s/%d to %d: %w", cfg.Topic, p.Partition, start, err)
	}
	var n int64
	for {
		km, err := r.ReadMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return n, nil
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			err = fmt.Errorf("reading %s/%d: %w", cfg.Topic, p.Partition, err)
			if !cfg.Follow {
				return n, err
			}
			log.Warn("reading failed; retrying", "err", err)
			if !sleep(ctx, time.Second) {
				return n, nil
			}
			continue
		}
		n++
		if err := h(ctx, fromKafka(km)); err != nil {
			return n, fmt.Errorf("%s/%d offset %d: %w", cfg.Topic, p.Partition, km.Offset, err)
		}
		if km.Offset+1 >= p.End {
			done()
			if !cfg.Follow {
				return n, nil
			}
		}
	}
}
