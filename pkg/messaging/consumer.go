package messaging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/takedown-pipeline/takedown/pkg/config"
)

// ConsumerConfig configures a consumer-group member.
type ConsumerConfig struct {
	Kafka  config.Kafka
	Group  string
	Topics []string
	// HandlerTimeout bounds one message's processing, retries included.
	HandlerTimeout time.Duration
	// SessionTimeout is how long the group waits for a silent member.
	SessionTimeout time.Duration
	// Logger receives the consumer's own log lines.
	Logger *slog.Logger
}

// Consumer runs a handler over the messages of a consumer group with
// at-least-once delivery: an offset is committed only after the handler has
// returned nil for its message.
type Consumer struct {
	cfg     ConsumerConfig
	r       *kafka.Reader
	log     *slog.Logger
	running atomic.Bool
	handled atomic.Int64
}

// NewConsumer joins cfg.Group for cfg.Topics. A group that has no committed
// offset starts from the earliest message, so nothing published before the
// service first started is skipped.
func NewConsumer(cfg ConsumerConfig) *Consumer {
	if cfg.HandlerTimeout == 0 {
		cfg.HandlerTimeout = 2 * time.Minute
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("group", cfg.Group)
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           cfg.Kafka.Brokers,
		Dialer:            newDialer(cfg.Kafka),
		GroupID:           cfg.Group,
		GroupTopics:       cfg.Topics,
		StartOffset:       kafka.FirstOffset,
		CommitInterval:    0, // synchronous commits: commit means done
		SessionTimeout:    cfg.SessionTimeout,
		HeartbeatInterval: cfg.SessionTimeout / 5,
		RebalanceTimeout:  cfg.SessionTimeout,
		MaxWait:           250 * time.Millisecond,
		MinBytes:          1,
		MaxBytes:          10 << 20,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    500 * time.Millisecond,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			log.Debug("kafka reader: " + fmt.Sprintf(msg, args...))
		}),
	})
	return &Consumer{cfg: cfg, r: r, log: log}
}

// Running reports whether Run is fetching messages.
func (c *Consumer) Running() bool { return c.running.Load() }

// Handled is the number of messages processed and committed.
func (c *Consumer) Handled() int64 { return c.handled.Load() }

// Lag is the number of messages behind the end of the assigned partitions,
// as last seen by the reader (-1 before it knows).
func (c *Consumer) Lag() int64 { return c.r.Stats().Lag }

// Run fetches and handles messages until ctx is cancelled. On cancellation it
// stops fetching, lets the message in hand finish (its context is detached
// from ctx, bounded by HandlerTimeout), commits it, and leaves the group.
//
// A handler error means the message could not be processed nor dead-lettered
// (an outage, not bad input): the message is retried with backoff and never
// committed past, so it is redelivered after a restart if shutdown comes first.
func (c *Consumer) Run(ctx context.Context, h Handler) error {
	c.running.Store(true)
	defer c.running.Store(false)
	defer func() {
		if err := c.r.Close(); err != nil {
			c.log.Warn("closing reader", "err", err)
		}
	}()
	for {
		km, err := c.r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("consumer %s closed: %w", c.cfg.Group, err)
			}
			c.log.Warn("fetch failed", "err", err)
			if !sleep(ctx, time.Second) {
				return nil
			}
			continue
		}
		if !c.handle(ctx, h, fromKafka(km)) {
			return nil
		}
		commitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err = c.r.CommitMessages(commitCtx, km)
		cancel()
		if err != nil {
			// The message will come again after the rebalance; handlers are idempotent.
			c.log.Warn("commit failed", "topic", km.Topic, "partition", km.Partition, "offset", km.Offset, "err", err)
			continue
		}
		c.handled.Add(1)
	}
}

// handle runs h until it succeeds. It returns false when shutdown came while
// the message was still failing, in which case it must not be committed.
func (c *Consumer) handle(ctx context.Context, h Handler, msg *Message) bool {
	backoff := 500 * time.Millisecond
	for {
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.HandlerTimeout)
		hctx = context.WithValue(hctx, stoppingKey{}, ctx.Done())
		err := h(hctx, msg)
		cancel()
		if err == nil {
			return true
		}
		c.log.Error("message not processed; will retry it", "topic", msg.Topic,
			"partition", msg.Partition, "offset", msg.Offset, "err", err, "retry_in", backoff)
		if !sleep(ctx, backoff) {
			return false
		}
		backoff = min(backoff*2, 30*time.Second)
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

type stoppingKey struct{}

// Stopping returns a channel that is closed when the consumer running the
// handler begins to shut down. A handler's context is not cancelled then, so
// that work in hand can finish; a handler about to wait (a backoff between
// retries) selects on this instead and gives the message back, uncommitted.
func Stopping(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(stoppingKey{}).(<-chan struct{})
	return ch // nil outside a consumer: never closed
}
