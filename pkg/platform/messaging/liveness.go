package messaging

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultFetchPoll is how long one fetch waits for a message before the
// consumer's loop goes round again (ConsumerConfig.FetchPoll).
const DefaultFetchPoll = 5 * time.Second

// progress is what a consumer's liveness is judged by (Consumer.Stalled).
//
// kafka-go's FetchMessage blocks until a message comes, so an idle consumer
// and a stuck one would look alike from its calls alone. The loop therefore
// fetches with a deadline (FetchPoll) and goes round again when it passes:
// each time round is a beat, and an idle consumer beats every FetchPoll.
// A handler may legitimately run long (a video, a webhook retried at length)
// and the loop then waits for a free slot without beating; what is tracked
// then is each handler attempt, which must end within the consumer's
// HandlerTimeout.
type progress struct {
	// beat is when the loop last went round, or a handler attempt started
	// or ended (unix nanoseconds).
	beat atomic.Int64
	// waiting is set while the loop waits on the handlers rather than
	// fetching: for a free slot, every slot being held by a message in
	// hand, or, shutting down, for the messages in hand to finish.
	waiting atomic.Bool

	mu       sync.Mutex
	next     uint64
	attempts map[uint64]attempt
}

// attempt is one call of the handler in progress.
type attempt struct {
	msg   *Message
	start time.Time
}

func (p *progress) tick(now time.Time) { p.beat.Store(now.UnixNano()) }

// begin records a handler attempt starting; end(id) records it ending.
func (p *progress) begin(msg *Message) uint64 {
	now := time.Now()
	p.tick(now)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.attempts == nil {
		p.attempts = map[uint64]attempt{}
	}
	p.next++
	p.attempts[p.next] = attempt{msg: msg, start: now}
	return p.next
}

func (p *progress) end(id uint64) {
	p.tick(time.Now())
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.attempts, id)
}

// oldest is the attempt in progress that started first; ok is false when
// none is.
func (p *progress) oldest() (a attempt, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, x := range p.attempts {
		if !ok || x.start.Before(a.start) {
			a, ok = x, true
		}
	}
	return a, ok
}

// stalled judges progress at now; see Consumer.Stalled.
func (p *progress) stalled(now time.Time, within, handlerTimeout time.Duration) error {
	if a, ok := p.oldest(); ok {
		if ran := now.Sub(a.start); ran > handlerTimeout+within {
			return fmt.Errorf("the handler of %s/%d offset %d has run for %s, past its timeout of %s: it ignores its context",
				a.msg.Topic, a.msg.Partition, a.msg.Offset, ran.Round(time.Second), handlerTimeout)
		}
		if p.waiting.Load() {
			return nil // every slot busy with handlers still within their time
		}
	}
	since := now.Sub(time.Unix(0, p.beat.Load()))
	if since <= within {
		return nil
	}
	if p.waiting.Load() {
		return fmt.Errorf("every slot held and no handler running for %s", since.Round(time.Second))
	}
	return fmt.Errorf("the fetch loop has not gone round for %s", since.Round(time.Second))
}

// Stalled reports, as an error saying why, that the consumer's loop is
// wedged: for longer than within, it neither went round (fetched a message,
// or found none within FetchPoll) nor started or finished a handler
// attempt, or a handler attempt has run longer than HandlerTimeout plus
// within, which only a handler that ignores its context does. nil means
// alive, and so does a consumer not running (not started yet, or stopped).
//
// Waiting is progress: a handler working within its HandlerTimeout however
// long (the hasher's videos), an outage being waited out (each retry is a
// new attempt; fetches failing while the broker is away go round the loop
// every second), an idle topic, a replica that owns no partition. So
// within should be well above FetchPoll and the 5 s longest backoff between
// attempts.
func (c *Consumer) Stalled(within time.Duration) error {
	if !c.running.Load() {
		return nil
	}
	if err := c.live.stalled(time.Now(), within, c.cfg.HandlerTimeout); err != nil {
		return fmt.Errorf("consumer of group %s is stalled: %w", c.cfg.Group, err)
	}
	return nil
}
