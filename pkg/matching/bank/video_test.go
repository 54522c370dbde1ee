package bank

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

// vpdqRel is the reference vPDQ data, beside the project (never in it).
const vpdqRel = "../../../../shared/testdata/vpdq"

func vpdqData(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(vpdqRel)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "hashes")); err != nil {
		if os.Getenv("TAKEDOWN_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("reference vPDQ test data missing (%v); it must be at %s (../shared/testdata from the repository root)", err, dir)
		}
		t.Skipf("reference vPDQ test data not found at %s; skipping", dir)
	}
	return dir
}

// refFrame is one line of a reference vPDQ file.
type refFrame struct {
	quality int
	hash    string
	ms      int64
}

// readRefHashes reads hashes/<name>.txt: frame_number,quality,pdq_hex,seconds.
func readRefHashes(t *testing.T, dir, name string) []refFrame {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "hashes", name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []refFrame
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(strings.TrimSpace(sc.Text()), ",")
		if len(p) != 4 {
			t.Fatalf("%s: line %q", name, sc.Text())
		}
		q, err1 := strconv.Atoi(p[1])
		sec, err2 := strconv.ParseFloat(p[3], 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: line %q", name, sc.Text())
		}
		out = append(out, refFrame{quality: q, hash: p[2], ms: int64(math.Round(sec * 1000))})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// bankVideo is a bank entry of every frame, as bank add makes it: unique
// hashes of quality 50 or more, at the time each first appears.
func bankVideo(bank, id string, frames []refFrame) events.BankUpdate {
	var sigs []events.Signal
	for _, f := range frames {
		if f.quality >= 50 {
			sigs = append(sigs, events.Signal{Type: events.SignalPDQ, Value: f.hash, Variant: events.FrameVariant(f.ms)})
		}
	}
	u := events.NewBankAdd(bank, nil, sigs)
	u.EntryID = id
	return u
}

// uploadVideo samples frames at one a second, as the hasher does, and drops
// a frame whose hash equals the previous one's.
func uploadVideo(frames []refFrame) VideoQuery {
	q := VideoQuery{IntervalMs: 1000}
	next := int64(0)
	for _, f := range frames {
		if f.ms+1 < next {
			continue
		}
		next += 1000
		if n := len(q.Frames); n > 0 && q.Frames[n-1].PDQ == f.hash {
			continue
		}
		q.Frames = append(q.Frames, events.VideoFrame{Ms: f.ms, PDQ: f.hash, Quality: f.quality})
	}
	last := frames[len(frames)-1].ms
	q.DurationMs = last + last/int64(len(frames)-1) // one frame's time past the last
	return q
}

// TestVideoFamiliesOfTheReference matches every sample video (sampled at one
// frame a second) against a bank of all of them (every frame), with the
// reference's own frame hashes, and checks the decisions against the
// families the reference's clustering found: the chair variants together,
// the two large-logo variants alone, doorknob alone, chair never with
// pattern. The pattern family splits here into the letterboxed and the
// full-frame files: the reference's PDQ hashes are of the whole frame, bars
// included, and sit 90+ bits apart; package videohash, which also hashes
// frames without their bars, joins them (its own test).
func TestVideoFamiliesOfTheReference(t *testing.T) {
	dir := vpdqData(t)
	names := []string{
		"chair-19-sd-bar", "chair-20-sd-bar", "chair-22-sd-grey-bar", "chair-22-sd-sepia-bar",
		"chair-22-with-small-logo-bar", "chair-orig-22-sd-bar", "chair-22-with-large-logo-bar",
		"doorknob-hd-no-bar", "pattern-hd-no-bar", "pattern-longer-no-bar", "pattern-sd-grey-bar",
		"pattern-sd-with-small-logo-bar", "pattern-sd-with-large-logo-bar", "test-padded-dimensions",
	}
	family := func(n string) string {
		switch {
		case strings.Contains(n, "large-logo"), strings.HasPrefix(n, "doorknob"), strings.HasPrefix(n, "test-"):
			return n // alone
		case strings.HasPrefix(n, "chair"):
			return "chair"
		case strings.HasPrefix(n, "pattern") && strings.Contains(n, "-sd-"):
			return "pattern-bars"
		default:
			return "pattern-full"
		}
	}
	b := NewBanks(nil)
	frames := map[string][]refFrame{}
	for _, n := range names {
		frames[n] = readRefHashes(t, dir, n)
		if err := b.Apply(bankVideo("samples", n, frames[n])); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range names {
		h := b.MatchVideo(uploadVideo(frames[q]), VideoRules{})
		var got []string
		for _, m := range h.Block {
			got = append(got, m.EntryID)
			t.Logf("%-32s matches %-32s %-8s query %3d%% reference %3d%% distance %2d ranges %d", q, m.EntryID, m.Video.Rule,
				m.Video.QueryPercent, m.Video.ReferencePercent, m.Distance, len(m.Video.Ranges))
			if m.Video == nil || len(m.Video.Ranges) == 0 || m.Variant != events.VariantVideo {
				t.Errorf("%s matched %s without video details: %+v", q, m.EntryID, m)
			}
			if family(m.EntryID) != family(q) {
				t.Errorf("%s (family %s) matched %s (family %s): %+v", q, family(q), m.EntryID, family(m.EntryID), *m.Video)
			}
		}
		for _, n := range names {
			if family(n) == family(q) && !slices.Contains(got, n) {
				t.Errorf("%s did not match %s of its own family %s (matched %v)", q, n, family(q), got)
			}
		}
	}
}

// TestVideoRules checks each rule and its per-bank setting on built
// frames: a copy, a clip inside longer footage, an excerpt of a longer bank
// video, and pictures that must not count.
func TestVideoRules(t *testing.T) {
	// Frame k of the bank video: a hash far (about 128 bits) from every
	// other frame.
	frame := func(k int) string { return pdqDistinct(k) }
	bankOf := func(id string, from, n int) events.BankUpdate {
		var sigs []events.Signal
		for k := range n {
			sigs = append(sigs, events.Signal{Type: events.SignalPDQ, Value: frame(from + k), Variant: events.FrameVariant(int64(k) * 1000)})
		}
		u := events.NewBankAdd("v", nil, sigs)
		u.EntryID = id
		return u
	}
	run := func(from, n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = from + i
		}
		return out
	}
	// upload of n seconds; inside[s] = bank frame shown at second s, -1
	// other footage, dark+k bank frame k too dark to be matched (quality 20)
	const dark = 1000
	upload := func(inside []int) VideoQuery {
		q := VideoQuery{IntervalMs: 1000, DurationMs: int64(len(inside)) * 1000}
		for s, k := range inside {
			h, quality := pdqDistinct(10000+s), 90
			switch {
			case k >= dark:
				h, quality = flipBits(frame(k-dark), 3), 20
			case k >= 0:
				h = flipBits(frame(k), 3)
			}
			q.Frames = append(q.Frames, events.VideoFrame{Ms: int64(s) * 1000, PDQ: h, Quality: quality})
		}
		return q
	}
	darkRun := func(from, n int) []int {
		out := run(from, n)
		for i := range out {
			out[i] += dark
		}
		return out
	}
	seq := func(parts ...[]int) []int {
		var out []int
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	other := func(n int) []int { return slices.Repeat([]int{-1}, n) }

	cases := []struct {
		name   string
		bank   events.BankUpdate
		cfg    *events.BankConfig
		upload []int
		rule   string // "" no match
		ranges []events.VideoRange
	}{
		{"copy", bankOf("a", 0, 20), nil, run(0, 20), events.VideoRuleCopy,
			[]events.VideoRange{{QueryStartMs: 0, QueryEndMs: 20000, RefStartMs: 0, RefEndMs: 20000, Frames: 20}}},
		{"clip cut from the bank video", bankOf("a", 0, 20), nil, run(5, 8), events.VideoRuleCopy,
			[]events.VideoRange{{QueryStartMs: 0, QueryEndMs: 8000, RefStartMs: 5000, RefEndMs: 13000, Frames: 8}}},
		{"bank video inside other footage", bankOf("a", 0, 6), nil, seq(other(30), run(0, 6), other(30)), events.VideoRuleContains,
			[]events.VideoRange{{QueryStartMs: 30000, QueryEndMs: 36000, RefStartMs: 0, RefEndMs: 6000, Frames: 6}}},
		{"contained but too short", bankOf("a", 0, 2), nil, seq(other(30), run(0, 2), other(30)), "", nil},
		{"a stretch of a long bank video inside other footage", bankOf("a", 0, 100), nil, seq(other(20), run(40, 12), other(20)), events.VideoRuleExcerpt,
			[]events.VideoRange{{QueryStartMs: 20000, QueryEndMs: 32000, RefStartMs: 40000, RefEndMs: 52000, Frames: 12}}},
		{"too short a stretch of a long bank video", bankOf("a", 0, 100), nil, seq(other(20), run(40, 8), other(20)), "", nil},
		{"scattered frames are no excerpt", bankOf("a", 0, 100), nil,
			seq(other(5), []int{10}, other(5), []int{50}, other(5), []int{3}, other(5), []int{77}, other(5), []int{20}, other(5)), "", nil},
		{"single frames scattered over other footage are no contained video", bankOf("a", 0, 10), nil,
			seq(other(4), []int{0}, other(4), []int{1}, other(4), []int{2}, other(4), []int{3}, other(4), []int{4},
				other(4), []int{5}, other(4), []int{6}, other(4), []int{7}, other(4), []int{8}, other(4), []int{9}), "", nil},
		{"a skipped frame does not split a range", bankOf("a", 0, 20), nil, seq(run(0, 5), other(2), run(7, 13)), events.VideoRuleCopy,
			[]events.VideoRange{{QueryStartMs: 0, QueryEndMs: 20000, RefStartMs: 0, RefEndMs: 20000, Frames: 18}}},
		{"a jump in the bank video splits a range", bankOf("a", 0, 40), nil, seq(run(0, 6), run(30, 6)), events.VideoRuleCopy,
			[]events.VideoRange{{QueryStartMs: 0, QueryEndMs: 6000, RefStartMs: 0, RefEndMs: 6000, Frames: 6},
				{QueryStartMs: 6000, QueryEndMs: 12000, RefStartMs: 30000, RefEndMs: 36000, Frames: 6}}},
		{"half the upload is no copy", bankOf("a", 0, 100), nil, seq(run(0, 5), other(5)), "", nil},
		{"half the upload is a copy for a bank at 50%", bankOf("a", 0, 100), &events.BankConfig{VideoQueryPercent: 50}, seq(run(0, 5), other(5)), events.VideoRuleCopy,
			[]events.VideoRange{{QueryStartMs: 0, QueryEndMs: 5000, RefStartMs: 0, RefEndMs: 5000, Frames: 5}}},
		{"dark frames at the end of a contained clip", bankOf("a", 0, 6), nil, seq(other(30), run(0, 4), darkRun(4, 2), other(30)), events.VideoRuleContains,
			[]events.VideoRange{{QueryStartMs: 30000, QueryEndMs: 36000, RefStartMs: 0, RefEndMs: 6000, Frames: 4}}},
		{"dark frames do not split a range", bankOf("a", 0, 100), nil, seq(other(20), run(40, 4), darkRun(44, 5), run(49, 4), other(20)), events.VideoRuleExcerpt,
			[]events.VideoRange{{QueryStartMs: 20000, QueryEndMs: 33000, RefStartMs: 40000, RefEndMs: 53000, Frames: 8}}},
		{"a long dark stretch is reached over by three seconds only", bankOf("a", 0, 100), nil, seq(other(20), run(40, 6), darkRun(46, 20)), "",
			nil},
		{"a bank asking for all of its video", bankOf("a", 0, 6), &events.BankConfig{VideoReferencePercent: 100},
			seq(other(30), run(0, 5), other(30)), "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := NewBanks(nil)
			if c.cfg != nil {
				cfg := events.DefaultBankConfig()
				cfg.VideoQueryPercent, cfg.VideoReferencePercent = c.cfg.VideoQueryPercent, c.cfg.VideoReferencePercent
				if err := b.Apply(events.NewBankConfigure("v", cfg)); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Apply(c.bank); err != nil {
				t.Fatal(err)
			}
			h := b.MatchVideo(upload(c.upload), VideoRules{})
			if c.rule == "" {
				if len(h.Block) != 0 {
					t.Fatalf("matched: %+v %+v", h.Block[0], *h.Block[0].Video)
				}
				return
			}
			if len(h.Block) != 1 {
				t.Fatalf("%d matches, want 1", len(h.Block))
			}
			m := h.Block[0]
			if m.Video.Rule != c.rule || m.Distance != 3 || m.Threshold != 31 || m.SignalType != events.SignalPDQ {
				t.Errorf("match %+v, video %+v; want rule %s at distance 3", m, *m.Video, c.rule)
			}
			if !slices.Equal(m.Video.Ranges, c.ranges) {
				t.Errorf("ranges %+v, want %+v", m.Video.Ranges, c.ranges)
			}
		})
	}
}

// TestVideoFramesIgnorePictures checks that a video's frames do not match a
// picture's hashes, that a picture does match a bank video's frame, and that
// frames of low quality count for nothing.
func TestVideoFramesIgnorePictures(t *testing.T) {
	b := NewBanks(nil)
	pic := events.NewBankAdd("p", nil, []events.Signal{{Type: events.SignalPDQ, Value: pdqDistinct(1)}})
	vid := events.NewBankAdd("v", nil, []events.Signal{{Type: events.SignalPDQ, Value: pdqDistinct(2), Variant: events.FrameVariant(1500)}})
	for _, u := range []events.BankUpdate{pic, vid} {
		if err := b.Apply(u); err != nil {
			t.Fatal(err)
		}
	}
	q := VideoQuery{IntervalMs: 1000, DurationMs: 3000, Frames: []events.VideoFrame{
		{Ms: 0, PDQ: pdqDistinct(1), Quality: 90},
		{Ms: 1000, PDQ: pdqDistinct(2), Quality: 49},
	}}
	if h := b.MatchVideo(q, VideoRules{}); len(h.Block) != 0 {
		t.Fatalf("matched %+v", h.Block)
	}
	q.Frames[1].Quality = 50
	h := b.MatchVideo(q, VideoRules{QueryPercent: 50})
	if len(h.Block) != 1 || h.Block[0].Bank != "v" || h.Block[0].Video.Ranges[0].RefStartMs != 1500 {
		t.Fatalf("matched %+v", h.Block)
	}
	if got := b.Match([]events.Signal{{Type: events.SignalPDQ, Value: flipBits(pdqDistinct(2), 5)}}); len(got) != 1 || got[0].Bank != "v" || got[0].Distance != 5 {
		t.Fatalf("a still of the bank video: %+v", got)
	}
	e, _ := b.Entry("v", vid.EntryID)
	if len(e.Signals) != 1 || e.Signals[0].Variant != "frame@1500" {
		t.Fatalf("entry %+v: the frame's time is lost", e)
	}
}

func TestFrameVariantValidation(t *testing.T) {
	for _, c := range []struct {
		sig events.Signal
		ok  bool
	}{
		{events.Signal{Type: "pdq", Value: pdqDistinct(1), Variant: "frame@0"}, true},
		{events.Signal{Type: "pdq", Value: pdqDistinct(1), Variant: "frame@4294967295"}, true},
		{events.Signal{Type: "pdq", Value: pdqDistinct(1), Variant: "frame@4294967296"}, false},
		{events.Signal{Type: "pdq", Value: pdqDistinct(1), Variant: "frame@-1"}, false},
		{events.Signal{Type: "pdq", Value: pdqDistinct(1), Variant: "frame@01"}, false},
		{events.Signal{Type: "pdq", Value: pdqDistinct(1), Variant: "frame@"}, false},
		{events.Signal{Type: "md5", Value: strings.Repeat("ab", 16), Variant: "frame@5"}, false},
		{events.Signal{Type: "pdq", Value: pdqDistinct(1), Variant: "rot90"}, true},
	} {
		err := b0().Apply(events.NewBankAdd("v", nil, []events.Signal{c.sig}))
		if (err == nil) != c.ok {
			t.Errorf("%+v: err %v, want ok=%v", c.sig, err, c.ok)
		}
	}
}

func b0() *Banks { return NewBanks(nil) }

// TestVideoSurvivesSnapshotAndDisable checks that frame times go through a
// snapshot, a disable and a re-add, and count in the version.
func TestVideoSurvivesSnapshotAndDisable(t *testing.T) {
	b := NewBanks(nil)
	var sigs []events.Signal
	for k := range 5 {
		sigs = append(sigs, events.Signal{Type: events.SignalPDQ, Value: pdqDistinct(k), Variant: events.FrameVariant(int64(k) * 1000)})
	}
	u := events.NewBankAdd("v", nil, sigs)
	if err := b.Apply(u); err != nil {
		t.Fatal(err)
	}
	moved := slices.Clone(sigs)
	moved[0].Variant = events.FrameVariant(700)
	other := NewBanks(nil)
	u2 := u
	u2.Signals = moved
	if err := other.Apply(u2); err != nil {
		t.Fatal(err)
	}
	if b.Version() == other.Version() {
		t.Error("moving a frame's time does not change the version")
	}
	var buf strings.Builder
	if err := b.WriteSnapshot(&writerOf{&buf}); err != nil {
		t.Fatal(err)
	}
	loaded, err := ReadSnapshot(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Version() != b.Version() {
		t.Error("version changed through a snapshot")
	}
	q := VideoQuery{IntervalMs: 1000, DurationMs: 5000}
	for k := range 5 {
		q.Frames = append(q.Frames, events.VideoFrame{Ms: int64(k) * 1000, PDQ: pdqDistinct(k), Quality: 100})
	}
	want := b.MatchVideo(q, VideoRules{})
	if got := loaded.MatchVideo(q, VideoRules{}); !reflect.DeepEqual(got, want) || len(got.Block) != 1 {
		t.Fatalf("after a snapshot: %+v, want %+v", got, want)
	}
	if err := loaded.Apply(events.NewBankDisable("v", u.EntryID)); err != nil {
		t.Fatal(err)
	}
	if h := loaded.MatchVideo(q, VideoRules{}); len(h.Block) != 0 {
		t.Fatal("a disabled video still matches")
	}
	e, _ := loaded.Entry("v", u.EntryID)
	if !e.Disabled || len(e.Signals) != 5 || e.Signals[0].Variant == "" {
		t.Fatalf("disabled entry %+v", e)
	}
	buf.Reset()
	if err := loaded.WriteSnapshot(&writerOf{&buf}); err != nil {
		t.Fatal(err)
	}
	again, err := ReadSnapshot(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	if e2, _ := again.Entry("v", u.EntryID); !reflect.DeepEqual(e2, e) {
		t.Fatalf("disabled entry through a snapshot: %+v, want %+v", e2, e)
	}
	if err := again.Apply(u); err != nil {
		t.Fatal(err)
	}
	if got := again.MatchVideo(q, VideoRules{}); !reflect.DeepEqual(got, want) {
		t.Fatalf("re-added: %+v, want %+v", got, want)
	}
}

type writerOf struct{ b *strings.Builder }

func (w *writerOf) Write(p []byte) (int, error) { return w.b.Write(p) }

// pdqDistinct is a pseudo-random PDQ hash: two different k are about 128
// bits apart, never near the 31-bit threshold.
func pdqDistinct(k int) string {
	sum := sha256.Sum256([]byte("frame " + strconv.Itoa(k)))
	return hex.EncodeToString(sum[:])
}

// flipBits flips the first n bits of a hex hash.
func flipBits(h string, n int) string {
	b, _ := hex.DecodeString(h)
	for i := range n {
		b[i/8] ^= 1 << (i % 8)
	}
	return hex.EncodeToString(b)
}

func TestVideoRulesValidate(t *testing.T) {
	for _, c := range []struct {
		r    VideoRules
		want string
	}{
		{VideoRules{}, ""},
		{VideoRules{QueryPercent: 50, ReferencePercent: 100, MinContains: time.Second, Excerpt: -1}, ""},
		{VideoRules{QueryPercent: 101}, "query percent 101"},
		{VideoRules{ReferencePercent: -5}, "reference percent -5"},
		{VideoRules{MinContains: -time.Second}, "minimum contained length"},
	} {
		err := c.r.Validate()
		if (err == nil) != (c.want == "") || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.r, err, c.want)
		}
	}
}
