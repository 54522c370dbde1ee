// Package messaging moves events between services over Kafka: a publisher,
// a consumer-group runner with at-least-once delivery, and middleware for
// retries, dead-lettering, tracing and correlation ids. Handlers are plain
// functions over messages; kafka-go stays behind this package.
package messaging

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Message is one Kafka record, as consumed or to be published.
type Message struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	// Time is the record's timestamp. On publish, zero means now.
	Time time.Time
	// HighWaterMark is, for a record read, the end of its partition as of
	// the fetch that returned it: HighWaterMark-Offset-1 records follow it.
	HighWaterMark int64
}

// Header returns the value of the header key, or "" when it is absent.
func (m *Message) Header(key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// SetHeader sets key to value, replacing any header of that key so that
// re-publishing a message never stacks duplicates.
func (m *Message) SetHeader(key, value string) {
	out := m.Headers[:0:0]
	for _, h := range m.Headers {
		if h.Key != key {
			out = append(out, h)
		}
	}
	m.Headers = append(out, Header{Key: key, Value: []byte(value)})
}

// Handler processes one message. Returning nil means the message is done and
// its offset may be committed.
type Handler func(ctx context.Context, msg *Message) error

// Middleware wraps a handler with cross-cutting behaviour.
type Middleware func(Handler) Handler

// Chain applies middleware so that the first one listed runs outermost.
func Chain(h Handler, mw ...Middleware) Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// permanentError marks an error that retrying cannot fix (bad input).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: the message is bad, not the
// moment. The dead-letter middleware sends such messages on at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// Permanentf is Permanent(fmt.Errorf(...)).
func Permanentf(format string, args ...any) error {
	return Permanent(fmt.Errorf(format, args...))
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// Well-known headers.
const (
	HeaderEventType     = "event-type"
	HeaderSchemaVersion = "schema-version"
	HeaderCorrelationID = "correlation-id"
	HeaderContentType   = "content-type"

	// Dead-letter headers say why and where from.
	HeaderDLQError     = "dlq-error"
	HeaderDLQTopic     = "dlq-original-topic"
	HeaderDLQPartition = "dlq-original-partition"
	HeaderDLQOffset    = "dlq-original-offset"
	HeaderDLQService   = "dlq-service"
	HeaderDLQAttempts  = "dlq-attempts"
	HeaderDLQTime      = "dlq-time"
)
