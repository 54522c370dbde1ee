package bank

import (
	"encoding/hex"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/pdq"
)

// flipLastBits flips the last n bits of a hex hash.
func flipLastBits(h string, n int) string {
	b, _ := hex.DecodeString(h)
	for i := range n {
		b[len(b)-1-i/8] ^= 1 << (i % 8)
	}
	return hex.EncodeToString(b)
}

// A nearly static bank video: every bank frame is within the threshold of
// every upload frame, and one bank frame 8.6 s in is even identical to the
// upload's first frame (the scene comes back). The matched range must
// still map the upload's time onto the same time of the bank video, the
// alignment every later frame agrees with, not start where the first
// frame's closest bank frame is (issue 15: upload 0-16 s was reported as
// bank 8.6-22.9 s).
func TestStaticVideoRangeFollowsTheSharedOffset(t *testing.T) {
	base := pdqDistinct(1)
	at := func(ms int64) string { return flipBits(base, int(ms/1000)) } // one bit of drift a second
	var sigs []events.Signal
	seen := map[string]bool{}
	upload0 := flipLastBits(at(0), 3)
	for ms := int64(0); ms < 23000; ms += 100 {
		h := at(ms)
		if ms == 8600 {
			h = upload0
		}
		if !seen[h] {
			seen[h] = true
			sigs = append(sigs, events.Signal{Type: events.SignalPDQ, Value: h, Variant: events.FrameVariant(ms)})
		}
	}
	b := b0()
	u := events.NewBankAdd("b", nil, sigs)
	u.EntryID = "static"
	if err := b.Apply(u); err != nil {
		t.Fatal(err)
	}
	q := VideoQuery{IntervalMs: 1000, DurationMs: 16000}
	for s := int64(0); s < 16; s++ {
		h := flipLastBits(at(s*1000+50), 3)
		q.Frames = append(q.Frames, events.VideoFrame{Ms: s * 1000, PDQ: h, Quality: 90})
	}
	hits := b.MatchVideo(q, VideoRules{})
	if len(hits.Block) != 1 {
		t.Fatalf("%d matches, want 1: %+v", len(hits.Block), hits.Block)
	}
	v := hits.Block[0].Video
	if len(v.Ranges) != 1 {
		t.Fatalf("ranges %+v, want one", v.Ranges)
	}
	r := v.Ranges[0]
	t.Logf("upload %d-%d ms = bank %d-%d ms", r.QueryStartMs, r.QueryEndMs, r.RefStartMs, r.RefEndMs)
	if r.QueryStartMs != 0 || r.RefStartMs > 500 || abs64(r.RefEndMs-r.QueryEndMs) > 1000 {
		t.Errorf("upload %d-%d ms mapped to bank %d-%d ms; want the same times", r.QueryStartMs, r.QueryEndMs, r.RefStartMs, r.RefEndMs)
	}
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// An upload's frames mirrored or rotated match the upright bank video
// through the frame's mirrored hashes and their transposes, and the match
// says how the upload shows it; without the mirrored hashes (a thinned
// event, an older hasher) they match nothing, and a transform is never
// mixed with another within one match.
func TestVideoMirroredAndRotatedFrames(t *testing.T) {
	var sigs []events.Signal
	bankHash := func(k int) pdq.Hash { return mustHash(pdqDistinct(100 + k)) }
	for k := range 20 {
		sigs = append(sigs, events.Signal{Type: events.SignalPDQ, Value: bankHash(k).String(), Variant: events.FrameVariant(int64(k) * 1000)})
	}
	b := b0()
	u := events.NewBankAdd("b", nil, sigs)
	u.EntryID = "v"
	if err := b.Apply(u); err != nil {
		t.Fatal(err)
	}
	other := func(k int) string { return pdqDistinct(5000 + k) }
	for _, c := range []struct {
		name  string
		frame func(k int) events.VideoFrame
		want  string // transform; "-" for no match
	}{
		{"upright", func(k int) events.VideoFrame {
			return events.VideoFrame{PDQ: flipLastBits(bankHash(k).String(), 4), FlipY: other(k), FlipX: other(k + 100), Rot180: other(k + 200)}
		}, ""},
		{"mirrored left to right", func(k int) events.VideoFrame {
			return events.VideoFrame{PDQ: other(k), FlipY: flipLastBits(bankHash(k).String(), 4), FlipX: other(k + 100), Rot180: other(k + 200)}
		}, "flipy"},
		{"turned clockwise", func(k int) events.VideoFrame {
			return events.VideoFrame{PDQ: other(k), FlipY: pdq.Transpose(bankHash(k)).String(), FlipX: other(k + 100), Rot180: other(k + 200)}
		}, "rot270"},
		{"turned counter-clockwise", func(k int) events.VideoFrame {
			return events.VideoFrame{PDQ: other(k), FlipY: other(k + 100), FlipX: pdq.Transpose(bankHash(k)).String(), Rot180: other(k + 200)}
		}, "rot90"},
		{"upside down", func(k int) events.VideoFrame {
			return events.VideoFrame{PDQ: other(k), FlipY: other(k + 100), FlipX: other(k + 200), Rot180: bankHash(k).String()}
		}, "rot180"},
		{"mirrored, without the mirrored hashes", func(k int) events.VideoFrame {
			return events.VideoFrame{PDQ: other(k)}
		}, "-"},
		{"first half mirrored, second half upside down", func(k int) events.VideoFrame {
			if k < 10 {
				return events.VideoFrame{PDQ: other(k), FlipY: bankHash(k).String(), FlipX: other(k + 100), Rot180: other(k + 200)}
			}
			return events.VideoFrame{PDQ: other(k), FlipY: other(k + 100), FlipX: other(k + 200), Rot180: bankHash(k).String()}
		}, "-"},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := VideoQuery{IntervalMs: 1000, DurationMs: 20000}
			for k := range 20 {
				f := c.frame(k)
				f.Ms, f.Quality = int64(k)*1000, 90
				q.Frames = append(q.Frames, f)
			}
			hits := b.MatchVideo(q, VideoRules{Excerpt: -1})
			if c.want == "-" {
				if len(hits.Block) != 0 {
					t.Fatalf("matched: %+v", hits.Block[0].Video)
				}
				return
			}
			if len(hits.Block) != 1 {
				t.Fatalf("%d matches, want 1", len(hits.Block))
			}
			v := hits.Block[0].Video
			if v.Rule != events.VideoRuleCopy || v.Transform != c.want || v.QueryPercent != 100 {
				t.Errorf("rule %s, transform %q, %d%% of the frames; want copy, %q, 100%%", v.Rule, v.Transform, v.QueryPercent, c.want)
			}
		})
	}
}

// A picture-in-picture upload: the frames' own hashes are far from the bank
// video, the crops to the inset (events.VideoFrame.Insets) close to it. It
// matches through the insets, upright, and not at all without them.
func TestVideoInsetHashesMatch(t *testing.T) {
	b := b0()
	var sigs []events.Signal
	for s := range 10 {
		sigs = append(sigs, events.Signal{Type: events.SignalPDQ, Value: pdqDistinct(s + 1), Variant: events.FrameVariant(int64(s) * 1000)})
	}
	u := events.NewBankAdd("b", nil, sigs)
	u.EntryID = "v"
	if err := b.Apply(u); err != nil {
		t.Fatal(err)
	}
	mk := func(insets bool) VideoQuery {
		q := VideoQuery{IntervalMs: 1000, DurationMs: 10000}
		for s := range 10 {
			f := events.VideoFrame{Ms: int64(s) * 1000, PDQ: pdqDistinct(s + 40), Quality: 90}
			if insets {
				// A wrong candidate first, then the inset, a few bits off.
				f.Insets = []string{pdqDistinct(s + 80), flipLastBits(pdqDistinct(s+1), 9)}
			}
			q.Frames = append(q.Frames, f)
		}
		return q
	}
	hits := b.MatchVideo(mk(true), VideoRules{})
	if len(hits.Block) != 1 || hits.Block[0].Video.Transform != "" || hits.Block[0].Distance != 9 || hits.Block[0].Video.QueryPercent != 100 {
		t.Fatalf("with insets: %+v, want one upright match at distance 9 on every frame", hits.Block)
	}
	if hits := b.MatchVideo(mk(false), VideoRules{}); len(hits.Block) != 0 {
		t.Errorf("without insets: %+v, want none", hits.Block)
	}
}
