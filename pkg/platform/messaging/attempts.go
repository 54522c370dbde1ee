package messaging

import (
	"context"
	"fmt"
	"strconv"
	"sync"
)

// AttemptCounter counts the deliveries of a message somewhere that outlives
// the process (Redis: package attempts), so that a message whose handling
// kills the process is seen coming back.
type AttemptCounter interface {
	// Count is key's count, 0 for none.
	Count(ctx context.Context, key string) (int64, error)
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

// CountAttempts counts each run of a message's handler in counter before
// the handler starts, so a run that crashes the process (a native crash in
// a decoder, the kernel's OOM killer) is counted all the same. Once a
// message's handler has been started maxAttempts times without returning,
// it is not run again: exhausted is called instead, with the count, and its
// error is returned as a handler's would be (nil commits the message). This
// turns a crash loop into one decision, e.g. sending the message to review
// as unhashable.
//
// A crash takes down every message in flight, not only the one that caused
// it, and all of them come back. So a message already counted (a suspect)
// runs alone: it waits for the messages in flight to finish and holds the
// others back until it returns, and it is counted only once it starts. A
// message that merely shared a process with a crashing one is counted at
// most that once; only one that crashes the process on its own reaches
// maxAttempts.
//
// If counter is an AttemptResetter, a message's count is reset whenever the
// handler returns, whatever it returns: the process survived that run, and
// a handler that fails without crashing is bounded by Retry and DeadLetter,
// not here. Without this an outage (Kafka refusing the publish, say) retried
// by the consumer would count as crashes.
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
	// Held shared by messages never counted before, exclusively by
	// suspects.
	var alone sync.RWMutex
	return func(next Handler) Handler {
		return func(ctx context.Context, msg *Message) error {
			key := AttemptKey(msg)
			n, err := counter.Count(ctx, key)
			if err != nil {
				return fmt.Errorf("reading the delivery count of %s: %w", key, err)
			}
			if n >= int64(maxAttempts) {
				Log(ctx).Warn("message's handler started too often without returning; giving up on it",
					"attempts", n, "max", maxAttempts)
				if err := exhausted(ctx, msg, int(n)+1); err != nil {
					return err
				}
				resetQuietly(ctx, resetter, key)
				return nil
			}
			if n > 0 {
				Log(ctx).Warn("message was in flight when the process stopped; handling it alone", "attempts", n)
				alone.Lock()
				defer alone.Unlock()
			} else {
				alone.RLock()
				defer alone.RUnlock()
			}
			if _, err := counter.Incr(ctx, key); err != nil {
				return fmt.Errorf("counting the delivery of %s: %w", key, err)
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
