package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/platform/telemetry"
)

// RetryConfig bounds retries of transient errors.
type RetryConfig struct {
	MaxAttempts    int           // including the first; default 4
	InitialBackoff time.Duration // default 200 ms
	MaxBackoff     time.Duration // default 5 s
	// DeadLetterExhausted sends a message whose retries ran out to the
	// dead-letter topic. Set it where a transient failure belongs to the
	// message (the host of its media is down), so one bad host cannot stall
	// the partition. Leave it off where it belongs to the service (Redis or
	// Kafka is down): the message is then retried until the outage ends,
	// never parked and forgotten.
	DeadLetterExhausted bool
}

// RetriesExhaustedError is returned by Retry when every attempt failed.
type RetriesExhaustedError struct {
	Attempts int
	Err      error
}

func (e *RetriesExhaustedError) Error() string {
	return fmt.Sprintf("failed after %d attempts: %v", e.Attempts, e.Err)
}

func (e *RetriesExhaustedError) Unwrap() error { return e.Err }

// Retry calls the handler again with exponential backoff while it fails with
// a transient error. Permanent errors return at once.
func Retry(cfg RetryConfig) Middleware {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 4
	}
	if cfg.InitialBackoff <= 0 {
		cfg.InitialBackoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	return func(next Handler) Handler {
		return func(ctx context.Context, msg *Message) error {
			backoff := cfg.InitialBackoff
			var err error
			for attempt := 1; ; attempt++ {
				if err = next(ctx, msg); err == nil || IsPermanent(err) {
					return err
				}
				if attempt >= cfg.MaxAttempts {
					return &RetriesExhaustedError{Attempts: attempt, Err: err}
				}
				Log(ctx).Warn("transient failure; retrying", "attempt", attempt, "err", err, "retry_in", backoff)
				countRetry(ctx, msg)
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-ctx.Done():
					return &RetriesExhaustedError{Attempts: attempt, Err: err}
				case <-Stopping(ctx):
					// Shutting down: hand the message back, uncommitted,
					// rather than park it as if its retries had run out.
					t.Stop()
					return err
				}
				backoff = min(backoff*2, cfg.MaxBackoff)
			}
		}
	}
}

// DeadLetter sends a message whose handler failed with a permanent error
// (bad input) to topic, with headers that say why and where it came from, and
// then reports success so the consumer commits past it. A transient error
// whose retries ran out is dead-lettered too when exhausted is set, and
// otherwise returned, so the consumer retries the message without committing.
// If the dead-letter topic itself cannot be written the error goes up: the
// message is never both unprocessed and committed.
func DeadLetter(pub Publisher, topic, service string, exhausted bool) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, msg *Message) error {
			err := next(ctx, msg)
			if err == nil {
				return nil
			}
			var ex *RetriesExhaustedError
			ranOut := errors.As(err, &ex)
			if !IsPermanent(err) && !(exhausted && ranOut) {
				return err
			}
			attempts := 1
			if ranOut {
				attempts = ex.Attempts
			}
			dl := Message{Topic: topic, Key: msg.Key, Value: msg.Value,
				Headers: append([]Header(nil), msg.Headers...)}
			dl.SetHeader(HeaderDLQError, err.Error())
			dl.SetHeader(HeaderDLQTopic, msg.Topic)
			dl.SetHeader(HeaderDLQPartition, strconv.Itoa(msg.Partition))
			dl.SetHeader(HeaderDLQOffset, strconv.FormatInt(msg.Offset, 10))
			dl.SetHeader(HeaderDLQService, service)
			dl.SetHeader(HeaderDLQAttempts, strconv.Itoa(attempts))
			dl.SetHeader(HeaderDLQTime, time.Now().UTC().Format(time.RFC3339Nano))
			if perr := pub.Publish(ctx, dl); perr != nil {
				return fmt.Errorf("dead-letter to %s failed: %w (handler error: %v)", topic, perr, err)
			}
			deadLettered.WithLabelValues(msg.Topic, service).Inc()
			if d := deliveryOf(ctx); d != nil {
				d.deadLettered = true
			}
			Log(ctx).Warn("message sent to dead-letter topic", "dlq", topic, "err", err,
				"permanent", IsPermanent(err), "attempts", attempts)
			return nil
		}
	}
}

// Recover turns a handler panic into a permanent error, so one poison
// message cannot crash-loop a service.
func Recover() Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, msg *Message) (err error) {
			defer func() {
				if r := recover(); r != nil {
					Log(ctx).Error("handler panic", "panic", r, "stack", string(debug.Stack()))
					err = Permanentf("handler panic: %v", r)
				}
			}()
			return next(ctx, msg)
		}
	}
}

type logKey struct{}

// Log returns the logger carried by ctx, or the default logger.
func Log(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(logKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// WithLog returns ctx carrying l.
func WithLog(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, logKey{}, l)
}

// Correlation puts a logger into the context that names the message's
// correlation id, key and position, so every line a handler logs can be
// joined up across services. Inside Tracing, the logger is bound to the
// process span too: its lines carry trace_id and span_id.
func Correlation(base *slog.Logger) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, msg *Message) error {
			l := base.With("topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset,
				"key", string(msg.Key), "correlation_id", msg.Header(HeaderCorrelationID))
			return next(WithLog(ctx, telemetry.WithContext(l, ctx)), msg)
		}
	}
}

// Standard is the middleware stack every service uses, outermost first:
// tracing, correlation logging, RED metrics, dead-lettering, then inner (a service's own,
// such as CountAttempts: inside DeadLetter, so that what it gives up on can
// still be dead-lettered, and outside Retry, so that in-process retries are
// one delivery), panic recovery, retries.
func Standard(log *slog.Logger, group string, pub Publisher, dlqTopic string, retry RetryConfig, inner ...Middleware) []Middleware {
	mw := []Middleware{
		Tracing(group),
		Correlation(log),
		Metrics(group),
		DeadLetter(pub, dlqTopic, group, retry.DeadLetterExhausted),
	}
	mw = append(mw, inner...)
	return append(mw, Recover(), Retry(retry))
}
