package review

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// partitionRange is one partition's records from first up to (not
// including) high, its high-water mark when the replay started.
type partitionRange struct {
	id          int
	first, high int64
}

// partitionRanges lists the topic's partitions with their first offset and
// high-water mark. A topic that does not exist has none.
func partitionRanges(ctx context.Context, brokers []string, topic string) ([]partitionRange, error) {
	d := &kafka.Dialer{Timeout: 10 * time.Second}
	var errs []error
	for _, b := range brokers {
		conn, err := d.DialContext(ctx, "tcp", b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ps, err := conn.ReadPartitions(topic)
		conn.Close()
		if errors.Is(err, kafka.UnknownTopicOrPartition) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("partitions of %s: %w", topic, err)
		}
		out := make([]partitionRange, 0, len(ps))
		for _, p := range ps {
			lc, err := d.DialLeader(ctx, "tcp", b, topic, p.ID)
			if err != nil {
				return nil, fmt.Errorf("leader of %s/%d: %w", topic, p.ID, err)
			}
			first, high, err := lc.ReadOffsets()
			lc.Close()
			if err != nil {
				return nil, fmt.Errorf("offsets of %s/%d: %w", topic, p.ID, err)
			}
			out = append(out, partitionRange{id: p.ID, first: first, high: high})
		}
		return out, nil
	}
	return nil, fmt.Errorf("no Kafka broker reachable: %w", errors.Join(errs...))
}

// replayTopic calls fn for every record of topic up to the end it had when
// the call started: the partitions side by side, each in offset order, so fn
// must be safe for concurrent use but sees the records of one key (one
// partition) in the order they were written. It returns the number of
// records read; an error of fn stops the replay.
func replayTopic(ctx context.Context, brokers []string, topic string, fn func(context.Context, kafka.Message) error) (int64, error) {
	parts, err := partitionRanges(ctx, brokers, topic)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var total int64
	var wg sync.WaitGroup
	errs := make([]error, len(parts))
	for i, p := range parts {
		if p.high <= p.first {
			continue
		}
		wg.Go(func() {
			n, err := readPartition(ctx, brokers, topic, p, fn)
			if err != nil {
				cancel() // the others stop too: the replay has failed
			}
			errs[i] = err
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	return total, errors.Join(errs...)
}

func readPartition(ctx context.Context, brokers []string, topic string, p partitionRange, fn func(context.Context, kafka.Message) error) (int64, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   brokers,
		Topic:     topic,
		Partition: p.id,
		MinBytes:  1,
		MaxBytes:  16 << 20,
		MaxWait:   250 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(p.first); err != nil {
		return 0, fmt.Errorf("rewind %s/%d: %w", topic, p.id, err)
	}
	var n int64
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return n, fmt.Errorf("reading %s/%d: %w", topic, p.id, err)
		}
		n++
		if err := fn(ctx, m); err != nil {
			return n, fmt.Errorf("%s/%d offset %d: %w", topic, p.id, m.Offset, err)
		}
		if m.Offset+1 >= p.high {
			return n, nil
		}
	}
}

// header returns the value of a Kafka record's header.
func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
