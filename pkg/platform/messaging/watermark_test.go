package messaging

import (
	"testing"

	"github.com/segmentio/kafka-go"
)

func msgAt(part int, off int64) kafka.Message {
	return kafka.Message{Topic: "t", Partition: part, Offset: off}
}

func marks(t *testing.T, w *watermarks) map[int]int64 {
	t.Helper()
	msgs, _ := w.take()
	out := map[int]int64{}
	for _, m := range msgs {
		out[m.Partition] = m.Offset
	}
	w.committed(msgs)
	return out
}

// The watermark of a partition stops at its first unfinished message,
// whatever finished after it, and offsets may have gaps.
func TestWatermarkStopsAtFirstUnfinished(t *testing.T) {
	w := &watermarks{parts: map[partition]*partState{}, batch: 100}
	var p0 []*pending
	for _, off := range []int64{0, 1, 2, 5, 6} { // 3 and 4 compacted away
		p0 = append(p0, w.add(msgAt(0, off)))
	}
	p1 := w.add(msgAt(1, 7))
	w.done(p0[1])
	w.done(p0[3])
	w.done(p0[4])
	if got := marks(t, w); len(got) != 0 {
		t.Fatalf("committed %v while offset 0 is in hand", got)
	}
	w.done(p0[0])
	w.done(p1)
	if got := marks(t, w); got[0] != 1 || got[1] != 7 || len(got) != 2 {
		t.Fatalf("watermarks %v, want partition 0 at 1 (2 in hand), partition 1 at 7", got)
	}
	if got := marks(t, w); len(got) != 0 {
		t.Fatalf("committed %v again", got)
	}
	w.done(p0[2])
	if got := marks(t, w); got[0] != 6 {
		t.Fatalf("watermarks %v, want partition 0 at 6", got)
	}
}

// When the reader goes back on a partition (it was taken away and given
// back by a rebalance), work still in hand from before cannot move the
// watermark over the messages fetched again.
func TestWatermarkRestartsWhenReaderGoesBack(t *testing.T) {
	w := &watermarks{parts: map[partition]*partState{}, batch: 100}
	old0 := w.add(msgAt(0, 10))
	old1 := w.add(msgAt(0, 11))
	again := w.add(msgAt(0, 10)) // fetched again from the committed offset
	w.done(old0)
	w.done(old1)
	if got := marks(t, w); len(got) != 0 {
		t.Fatalf("committed %v: work from before the rebalance passed offset 10 fetched again", got)
	}
	w.done(again)
	if got := marks(t, w); got[0] != 10 {
		t.Fatalf("watermarks %v, want 10", got)
	}
}

// A batch of passed messages kicks the committer before its interval.
func TestWatermarkKicksAtBatch(t *testing.T) {
	kick := make(chan struct{}, 1)
	w := &watermarks{parts: map[partition]*partState{}, batch: 3, kick: kick}
	var ps []*pending
	for i := range 3 {
		ps = append(ps, w.add(msgAt(0, int64(i))))
	}
	w.done(ps[0])
	w.done(ps[1])
	select {
	case <-kick:
		t.Fatal("kicked before the batch was full")
	default:
	}
	w.done(ps[2])
	select {
	case <-kick:
	default:
		t.Fatal("not kicked with a full batch")
	}
	if _, n := w.take(); n != 3 {
		t.Fatalf("take covers %d messages, want 3", n)
	}
}
