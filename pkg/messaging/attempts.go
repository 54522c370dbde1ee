package messaging

import (
	"context"
	"fmt"
	"strconv"
)

// AttemptCounter counts the deliveries of a message somewhere that outlives
// the process (Redis: package attempts), so that a message whose handling
// kills the process is seen coming back.
type AttemptCounter interface {
	// Incr adds one to the count of key and returns the new count.
	Incr(ctx context.Context, key string) (int64, error)
}

// AttemptResetter is an AttemptCounter that can also forget a key. When
// the counter is one, CountAttempts forgets a message's count once its
// handler has returned, so that only deliveries the process did not survive
// add up (see CountAttempts).
type AttemptResetter interface {
	Reset(ctx context.Context, key string) error
}

// AttemptKey is the key CountAttempts counts msg's deliveries under:
// topic/partition/offset. The counter adds the consumer group (package
// attempts keeps it in the key prefix), since each group consumes the record
// on its own.
func AttemptKey(msg *Message) string {
	return msg.Topic + "/" + strconv.Itoa(msg.Partition) + "/" + strconv.FormatInt(msg.Offset, 10)
}

// CountAttempts counts each delivery of a message in counter before its
// handler runs, so a delivery that crashes the process (a native crash in a
// decoder, the kernel's OOM killer) is counted all the same. Once a message
// has been delivered more than maxAttempts times, its handler is not run again:
// exhausted is called instead, with the count, and its error is returned as
// a handler's would be (nil commits the message). This turns a crash loop
// into one decision, e.g. sending the message to review as unhashable.
//
// If counter is an AttemptResetter, a message's count is reset whenever the
// handler returns, whatever it returns: the process survived that delivery,
// and a handler that fails without crashing is bounded by Retry and
// DeadLetter, not here. Without this an outage (Kafka refusing the
// publish, say) retried by the consumer would count as crashes.
//
// A counter that fails (Redis is down) fails the delivery with a transient
// error, so the consumer waits the outage out: the message is never handled
// uncounted.
//
// Put it outside Retry, so that in-process retries are one delivery, and
// inside Correlation, so its log lines name the message.
func CountAttempts(counter AttemptCounter, maxAttempts int, exhausted func(ctx context.Context, msg *Message, attempts int) error) Middleware {
	if maxAttempts < 1 {
		maxAttempts = 1
	}
	resetter, _ := counter.(AttemptResetter)
	return func(next Handler) Handler {
		return func(ctx context.Context, msg *Message) error {
			key := AttemptKey(msg)
			n, err := counter.Incr(ctx, key)
			if err != nil {
				return fmt.Errorf("counting the delivery of %s: %w", key, err)
			}
			if n > int64(maxAttempts) {
				Log(ctx).Warn("message delivered too often without its handler returning; giving up on it",
					"attempts", n, "max", maxAttempts)
				if err := exhausted(ctx, msg, int(n)); err != nil {
					return err
				}
				resetQuietly(ctx, resetter, key)
				return nil
			}
			err = next(ctx, msg)
			resetQuietly(ctx, resetter, key)
			return err
		}
	}
}

// resetQuietly forgets key's count; a failure only leaves the count to its
// expiry, so it is logged, not returned.
func resetQuietly(ctx context.Context, r AttemptResetter, key string) {
	if r == nil {
		return
	}
	if err := r.Reset(ctx, key); err != nil {
		Log(ctx).Warn("cannot reset the delivery count", "key", key, "err", err)
	}
}
