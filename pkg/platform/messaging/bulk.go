package messaging

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
)

// BulkPublisher sends a large number of records to one topic: an import of
// a million bank entries. Add queues records and returns without waiting for
// the broker, so that encoding the next records overlaps with the broker
// acknowledging the previous ones; Close waits for every acknowledgement and
// reports the first failure. At most MaxInFlight records wait for an
// acknowledgement at a time, which bounds memory on a slow broker.
//
// Keys are partitioned with murmur2, like every other producer here, and
// kafka-go writes each partition's batches one after the other, so records
// of one key keep their order. Like every publisher it never creates the
// topic.
type BulkPublisher struct {
	w     *kafka.Writer
	tr    *kafka.Transport
	topic string
	size  int
	batch []kafka.Message

	mu          sync.Mutex
	cond        *sync.Cond
	inFlight    int
	maxInFlight int
	published   int64
	failed      int64
	firstErr    error
}

// NewBulkPublisher returns a publisher to topic sending batches of
// batchSize records, compressed with lz4.
func NewBulkPublisher(k config.Kafka, topic string, batchSize int) (*BulkPublisher, error) {
	if batchSize <= 0 {
		return nil, fmt.Errorf("batch size %d: want > 0", batchSize)
	}
	if len(k.Brokers) == 0 {
		return nil, fmt.Errorf("%s is empty", config.EnvName("kafka-brokers"))
	}
	p := &BulkPublisher{
		topic:       topic,
		size:        batchSize,
		maxInFlight: max(4*batchSize, 20000),
		tr:          newTransport(k),
	}
	p.cond = sync.NewCond(&p.mu)
	p.w = &kafka.Writer{
		Transport:    p.tr,
		Addr:         kafka.TCP(k.Brokers...),
		Topic:        topic,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    batchSize,
		BatchBytes:   16 << 20,
		BatchTimeout: 20 * time.Millisecond,
		Compression:  kafka.Lz4,
		MaxAttempts:  5,
		Async:        true,
		Completion:   p.completed,
	}
	return p, nil
}

// completed is the writer's report on one batch.
func (p *BulkPublisher) completed(msgs []kafka.Message, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.failed += int64(len(msgs))
		if p.firstErr == nil {
			if errors.Is(err, kafka.UnknownTopicOrPartition) {
				err = fmt.Errorf("%w: %w", ErrTopicNotFound, err)
			}
			p.firstErr = err
		}
	} else {
		p.published += int64(len(msgs))
	}
	p.inFlight -= len(msgs)
	p.cond.Broadcast()
}

// Add queues msgs (their Topic is ignored: the publisher's topic is used),
// handing a batch to the writer when it is full. It fails once a batch has
// failed: the rest would likely fail too.
func (p *BulkPublisher) Add(ctx context.Context, msgs ...Message) error {
	for i := range msgs {
		km := toKafka(&msgs[i])
		km.Topic = "" // the writer's
		p.batch = append(p.batch, km)
		if len(p.batch) >= p.size {
			if err := p.Flush(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// Flush hands the queued records to the writer, waiting while too many are
// in flight.
func (p *BulkPublisher) Flush(ctx context.Context) error {
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
		return fmt.Errorf("publishing to %s: %w", p.topic, err)
	}
	if err := p.w.WriteMessages(ctx, p.batch...); err != nil {
		return fmt.Errorf("publishing %d records to %s: %w", len(p.batch), p.topic, err)
	}
	// The writer keeps the messages until they are written: a new slice.
	p.batch = make([]kafka.Message, 0, p.size)
	return nil
}

// Close sends what is queued, waits for every acknowledgement and closes the
// connections. It reports the first failed batch, if any.
func (p *BulkPublisher) Close(ctx context.Context) error {
	err := p.Flush(ctx)
	err = errors.Join(err, p.w.Close()) // Close flushes and waits for the writes
	p.tr.CloseIdleConnections()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.firstErr != nil {
		err = errors.Join(err, fmt.Errorf("%d records were not published to %s: %w", p.failed, p.topic, p.firstErr))
	}
	return err
}

// Published is the number of records the broker acknowledged so far.
func (p *BulkPublisher) Published() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.published
}
