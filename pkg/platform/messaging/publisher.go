package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
)

// Publisher sends messages to topics. Publish returns once every message is
// acknowledged by all in-sync replicas.
type Publisher interface {
	Publish(ctx context.Context, msgs ...Message) error
	Close() error
}

// KafkaPublisher publishes with kafka-go.
type KafkaPublisher struct {
	w     *kafka.Writer
	tr    *kafka.Transport
	attrs []attribute.KeyValue // of send spans: the broker
}

// NewKafkaPublisher returns a publisher to the given brokers. Keys are
// partitioned with murmur2, as the Java client does, so that a platform's own
// producers and ours put one content id on the same partition.
//
// It never creates a topic: one the broker auto-created would have its
// defaults (one partition, no compaction, a week's retention), which for
// bank.updates silently drops bank entries. Whoever writes a topic creates
// it first (EnsureTopics); a publish to a missing topic fails with
// ErrTopicNotFound.
func NewKafkaPublisher(k config.Kafka) *KafkaPublisher {
	tr := newTransport(k)
	return &KafkaPublisher{tr: tr, attrs: serverAttrs(k.Brokers), w: &kafka.Writer{
		Addr:         kafka.TCP(k.Brokers...),
		Transport:    tr,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		// WriteMessages waits for its batch, so the linger is added to every
		// hop of a lightly loaded pipeline: kafka-go's 1 s default would add a
		// second per hop. Handlers publishing at once (a consumer with many
		// messages in flight) share one batch per partition within it, up to
		// BatchSize messages and BatchBytes (the broker's default message
		// limit, which a video's media.hashed must fit).
		BatchTimeout: 5 * time.Millisecond,
		BatchSize:    100,
		BatchBytes:   1 << 20,
		// JSON events compress well, which saves the broker's disk and
		// network; lz4 costs little CPU on either side.
		Compression:     kafka.Lz4,
		MaxAttempts:     5,
		WriteBackoffMin: 100 * time.Millisecond,
		WriteBackoffMax: 2 * time.Second,
	}}
}

// unknownTopicRetry is how long a publish to a topic the transport does not
// know keeps looking for it: the transport caches metadata, so a topic
// created after its first request (by another process, or just now by
// EnsureTopics) is unknown to it until the cache is refreshed.
const unknownTopicRetry = 5 * time.Second

// Publish sends msgs, each inside a PRODUCER span whose context travels in
// the message headers.
func (p *KafkaPublisher) Publish(ctx context.Context, msgs ...Message) error {
	out := make([]kafka.Message, len(msgs))
	spans := make([]trace.Span, len(msgs))
	for i := range msgs {
		m := msgs[i] // copy: headers are rewritten below
		m.Headers = append([]Header(nil), m.Headers...)
		_, spans[i] = startSendSpan(ctx, &m, p.attrs...)
		out[i] = toKafka(&m)
	}
	err := p.write(ctx, out)
	for _, s := range spans {
		if err != nil {
			s.RecordError(err)
			s.SetStatus(codes.Error, err.Error())
		}
		s.End()
	}
	if err != nil {
		return fmt.Errorf("publish %d message(s) to %s: %w", len(msgs), msgs[0].Topic, err)
	}
	return nil
}

// write writes msgs, refreshing the transport's metadata while a topic is
// unknown to it.
func (p *KafkaPublisher) write(ctx context.Context, msgs []kafka.Message) error {
	deadline := time.Now().Add(unknownTopicRetry)
	for {
		err := p.w.WriteMessages(ctx, msgs...)
		if !errors.Is(err, kafka.UnknownTopicOrPartition) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w (producers do not create topics: create it with its settings first)", ErrTopicNotFound)
		}
		// Dropping the idle connections drops the cached metadata too.
		p.tr.CloseIdleConnections()
		if !sleep(ctx, 200*time.Millisecond) {
			return err
		}
	}
}

// Close flushes pending writes and closes connections.
func (p *KafkaPublisher) Close() error { return p.w.Close() }

// EventMessage encodes ev as a JSON message for topic, keyed by its content
// id (or its own key, for events that have one) and with headers that let a
// consumer route it without parsing the body.
func EventMessage(topic string, ev events.Event) (Message, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return Message{}, fmt.Errorf("encode %s: %w", ev.Header().EventType, err)
	}
	h := ev.Header()
	key := h.ContentID
	if k, ok := ev.(interface{ Key() string }); ok {
		key = k.Key()
	}
	msg := Message{Topic: topic, Key: []byte(key), Value: body}
	msg.SetHeader(HeaderEventType, h.EventType)
	msg.SetHeader(HeaderSchemaVersion, strconv.Itoa(h.SchemaVersion))
	msg.SetHeader(HeaderCorrelationID, h.CorrelationID)
	msg.SetHeader(HeaderContentType, "application/json")
	return msg, nil
}

// PublishEvent encodes and publishes one event.
func PublishEvent(ctx context.Context, p Publisher, topic string, ev events.Event) error {
	msg, err := EventMessage(topic, ev)
	if err != nil {
		return err
	}
	return p.Publish(ctx, msg)
}

func toKafka(m *Message) kafka.Message {
	hs := make([]kafka.Header, len(m.Headers))
	for i, h := range m.Headers {
		hs[i] = kafka.Header{Key: h.Key, Value: h.Value}
	}
	return kafka.Message{Topic: m.Topic, Key: m.Key, Value: m.Value, Headers: hs, Time: m.Time}
}

func fromKafka(k kafka.Message) *Message {
	hs := make([]Header, len(k.Headers))
	for i, h := range k.Headers {
		hs[i] = Header{Key: h.Key, Value: h.Value}
	}
	return &Message{
		Topic: k.Topic, Partition: k.Partition, Offset: k.Offset,
		Key: k.Key, Value: k.Value, Headers: hs, Time: k.Time,
		HighWaterMark: k.HighWaterMark,
	}
}
