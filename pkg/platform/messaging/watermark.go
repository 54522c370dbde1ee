package messaging

import (
	"sync"

	"github.com/segmentio/kafka-go"
)

// partition names one partition of one topic.
type partition struct {
	topic string
	id    int
}

// pending is a fetched message whose offset waits for the watermark.
type pending struct {
	km   kafka.Message
	done bool
	part *partState
}

// partState is the commit watermark of one partition: the messages fetched
// from it and not yet passed, in offset order, and the last message before
// which everything is done.
type partState struct {
	queue []*pending
	// last is the highest offset fetched: an offset at or below it means
	// the reader went back (see add).
	last int64
	// mark is the last message such that it and every message fetched
	// before it are done; nil until one is.
	mark *kafka.Message
	// committed is the offset of the last mark committed (-1: none).
	committed int64
}

// watermarks tracks the commit watermark of every partition the consumer
// fetched from. Offsets of one partition may have gaps (compaction,
// transaction markers), so the watermark follows the messages fetched, not
// offset arithmetic.
type watermarks struct {
	mu    sync.Mutex
	parts map[partition]*partState
	// ready counts the messages passed since the last commit was taken;
	// at batch the committer is kicked.
	ready int
	batch int
	kick  chan<- struct{}
}

// add records a fetched message, which the watermark cannot pass until it
// is done.
func (w *watermarks) add(km kafka.Message) *pending {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := partition{km.Topic, km.Partition}
	p := w.parts[k]
	if p == nil || km.Offset <= p.last {
		// The reader went back: after a rebalance that took the partition
		// away and gave it back, it fetches again from the committed
		// offset. Start afresh: what this member still has in hand from
		// before is delivered again, and completing it no longer moves
		// this partition's watermark, which would otherwise leap over the
		// messages fetched again.
		p = &partState{committed: -1}
		w.parts[k] = p
	}
	p.last = km.Offset
	e := &pending{km: km, part: p}
	p.queue = append(p.queue, e)
	return e
}

// done marks e done and moves its partition's watermark past every done
// message at the head of the queue.
func (w *watermarks) done(e *pending) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e.done = true
	p := e.part
	n := 0
	for len(p.queue) > 0 && p.queue[0].done {
		m := p.queue[0].km
		p.queue[0] = nil
		p.queue = p.queue[1:]
		p.mark = &m
		n++
	}
	if n == 0 || w.parts[partition{e.km.Topic, e.km.Partition}] != p {
		return
	}
	w.ready += n
	if w.ready >= w.batch && w.kick != nil {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// take returns the watermark messages to commit, one per partition whose
// watermark moved since its last commit, and how many messages they cover.
func (w *watermarks) take() ([]kafka.Message, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []kafka.Message
	for _, p := range w.parts {
		if p.mark != nil && p.mark.Offset > p.committed {
			out = append(out, *p.mark)
		}
	}
	n := w.ready
	w.ready = 0
	return out, n
}

// untake gives back the count of a commit that failed; the next commit
// covers its messages.
func (w *watermarks) untake(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ready += n
}

// committed records that msgs were committed.
func (w *watermarks) committed(msgs []kafka.Message) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range msgs {
		if p := w.parts[partition{m.Topic, m.Partition}]; p != nil && m.Offset > p.committed {
			p.committed = m.Offset
		}
	}
}

// partitions lists the partitions fetched from.
func (w *watermarks) partitions() []partition {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]partition, 0, len(w.parts))
	for k := range w.parts {
		out = append(out, k)
	}
	return out
}
