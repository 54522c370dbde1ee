package bank

import (
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

// BenchmarkMatchVideo matches a two-hour upload sampled at one frame a
// second (7,200 frames, a tenth of them copied from a bank video) against
// 100 bank videos of 6,000 frame hashes each (600,000 hashes, about as many
// as 100 three-minute videos hashed at every frame).
func BenchmarkMatchVideo(b *testing.B) {
	bk := NewBanks(nil)
	const videos, frames = 100, 6000
	for v := range videos {
		sigs := make([]events.Signal, frames)
		for f := range sigs {
			sigs[f] = events.Signal{Type: events.SignalPDQ, Value: pdqDistinct(v*frames + f), Variant: events.FrameVariant(int64(f) * 40)}
		}
		u := events.NewBankAdd("videos", nil, sigs)
		u.EntryID = pdqDistinct(-v)[:16]
		if err := bk.Apply(u); err != nil {
			b.Fatal(err)
		}
	}
	q := VideoQuery{IntervalMs: 1000, DurationMs: 7200 * 1000}
	for s := range 7200 {
		h := pdqDistinct(1_000_000 + s)
		if s%10 == 0 {
			h = flipBits(pdqDistinct(7*frames+s%frames), 4)
		}
		q.Frames = append(q.Frames, events.VideoFrame{Ms: int64(s) * 1000, PDQ: h, Quality: 100})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		h := bk.MatchVideo(q, VideoRules{})
		if len(h.Block) != 0 {
			b.Fatalf("a scattered tenth of the frames matched: %+v", h.Block[0].Video)
		}
	}
	b.ReportMetric(float64(len(q.Frames)*b.N)/b.Elapsed().Seconds(), "frames/s")
}
