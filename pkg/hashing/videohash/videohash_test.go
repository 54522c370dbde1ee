package videohash

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/framing"
	"github.com/takedown-pipeline/takedown/pkg/hashing/pdq"
	"github.com/takedown-pipeline/takedown/pkg/hashing/video"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
)

const vpdqRel = "../../../../shared/testdata/vpdq/videos"

// samples returns the reference's sample videos folder; without it (or
// without ffmpeg) the test is skipped, unless
// TAKEDOWN_TEST_REQUIRE_SERVICES=1 makes that a failure.
func samples(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(vpdqRel)
	if err != nil {
		t.Fatal(err)
	}
	_, statErr := os.Stat(filepath.Join(dir, "chair-orig-22-sd-bar.mp4"))
	_, ffErr := exec.LookPath("ffmpeg")
	if statErr != nil || ffErr != nil {
		if os.Getenv("TAKEDOWN_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("sample videos (%s: %v) or ffmpeg (%v) missing", dir, statErr, ffErr)
		}
		t.Skipf("sample videos (%v) or ffmpeg (%v) missing; skipping", statErr, ffErr)
	}
	return dir
}

// ffmpeg runs ffmpeg with args, failing the test with its output.
func ffmpeg(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-nostdin", "-v", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func query(r Result) bank.VideoQuery {
	return bank.VideoQuery{Frames: r.Frames, IntervalMs: r.IntervalMs, DurationMs: r.DurationMs}
}

// bankParts caches Bank's parts by path: the tests bank some sample
// videos more than once, and hashing every frame is their main cost.
var bankParts sync.Map // path -> []Part

// bankUpdates hashes a video as bank add does and returns its updates.
func bankUpdates(bankName, id, path string) ([]events.BankUpdate, error) {
	var parts []Part
	if v, ok := bankParts.Load(path); ok {
		parts = v.([]Part)
	} else {
		var err error
		if parts, _, err = Bank(context.Background(), path, BankOptions{}); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		bankParts.Store(path, parts)
	}
	var out []events.BankUpdate
	for i, p := range parts {
		u := events.NewBankAdd(bankName, nil, p.Signals)
		u.EntryID = id
		if i > 0 {
			u.EntryID = fmt.Sprintf("%s-part%d", id, i)
		}
		out = append(out, u)
	}
	return out, nil
}

func bankEntries(t *testing.T, bankName, id, path string) []events.BankUpdate {
	t.Helper()
	out, err := bankUpdates(bankName, id, path)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSampleVideoFamilies hashes every sample video as bank add does (every
// frame) and as the hasher does (one frame a second), matches each upload
// against all the bank videos and checks the decisions against the
// reference's clustering: the chair variants together and the pattern
// variants together (each but its large-logo file, which stands alone, as
// in the reference), doorknob alone, chair never with pattern. The pattern
// family's full-frame and letterboxed files meet through the trimmed hashes.
// Under the race detector, which slows hashing some fifteen times, it takes
// one video of each kind (pkg/matching/bank's TestVideoFamiliesOfTheReference checks
// every pair on the reference's own hashes either way).
func TestSampleVideoFamilies(t *testing.T) {
	dir := samples(t)
	names := []string{
		"chair-19-sd-bar", "chair-20-sd-bar", "chair-22-sd-grey-bar", "chair-22-sd-sepia-bar",
		"chair-22-with-small-logo-bar", "chair-orig-22-sd-bar", "chair-22-with-large-logo-bar",
		"doorknob-hd-no-bar", "pattern-hd-no-bar", "pattern-longer-no-bar", "pattern-sd-grey-bar",
		"pattern-sd-with-small-logo-bar", "pattern-sd-with-large-logo-bar",
	}
	if raceEnabled {
		names = []string{"chair-19-sd-bar", "chair-orig-22-sd-bar", "chair-22-with-large-logo-bar",
			"doorknob-hd-no-bar", "pattern-hd-no-bar", "pattern-sd-grey-bar"}
	}
	family := func(n string) string {
		switch {
		case strings.Contains(n, "large-logo"), strings.HasPrefix(n, "doorknob"):
			return n
		case strings.HasPrefix(n, "chair"):
			return "chair"
		}
		return "pattern"
	}
	b := bank.NewBanks(nil)
	uploads := make([]Result, len(names))
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	sem := make(chan struct{}, 2)
	for i, n := range names {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			path := filepath.Join(dir, n+".mp4")
			updates, err := bankUpdates("samples", n, path)
			var up Result
			if err == nil {
				up, err = Upload(context.Background(), path, video.Options{})
			}
			mu.Lock()
			defer mu.Unlock()
			uploads[i] = up
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", n, err))
				return
			}
			for _, u := range updates {
				if err := b.Apply(u); err != nil {
					errs = append(errs, err)
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Fatal(err)
	}
	for i, q := range names {
		h := b.MatchVideo(query(uploads[i]), bank.VideoRules{})
		var got []string
		for _, m := range h.Block {
			got = append(got, m.EntryID)
			t.Logf("%-32s matches %-32s %-8s query %3d%% reference %3d%% distance %2d", q, m.EntryID, m.Video.Rule,
				m.Video.QueryPercent, m.Video.ReferencePercent, m.Distance)
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

// TestKnownClipInsideLongerVideo puts a sample video between stretches of
// unrelated footage (ffmpeg's test patterns), re-encoded, and checks that the
// long video matches the bank video on that clip, with the clip's time
// range, and that the footage around it matches nothing.
func TestKnownClipInsideLongerVideo(t *testing.T) {
	dir := samples(t)
	tmp := t.TempDir()
	cases := []struct {
		clip          string
		before, after int // seconds of other footage
		rule          string
	}{
		// 22 s: the contains rule (and the excerpt rule) hold.
		{"chair-orig-22-sd-bar", 20, 15, events.VideoRuleContains},
		// 4 s: short, still above the contains rule's 3 s.
		{"doorknob-hd-no-bar", 12, 9, events.VideoRuleContains},
	}
	for _, c := range cases {
		t.Run(c.clip, func(t *testing.T) {
			src := filepath.Join(dir, c.clip+".mp4")
			info, err := video.Probe(context.Background(), src, video.Options{})
			if err != nil {
				t.Fatal(err)
			}
			w, h := info.Width, info.Height
			long := filepath.Join(tmp, c.clip+"-inside.mp4")
			ffmpeg(t,
				"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=30:duration=%d", w, h, c.before),
				"-i", src,
				"-f", "lavfi", "-i", fmt.Sprintf("cellauto=size=%dx%d:rate=30", w, h),
				"-filter_complex", fmt.Sprintf("[0:v]setsar=1,format=yuv420p[a];[1:v]setsar=1,format=yuv420p[b];"+
					"[2:v]trim=duration=%d,setpts=PTS-STARTPTS,setsar=1,format=yuv420p[c];[a][b][c]concat=n=3:v=1:a=0[v]", c.after),
				"-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "26", long)

			b := bank.NewBanks(nil)
			for _, u := range bankEntries(t, "clips", c.clip, src) {
				if err := b.Apply(u); err != nil {
					t.Fatal(err)
				}
			}
			up, err := Upload(context.Background(), long, video.Options{})
			if err != nil {
				t.Fatal(err)
			}
			hits := b.MatchVideo(query(up), bank.VideoRules{})
			if len(hits.Block) != 1 {
				t.Fatalf("%d matches, want 1: %+v", len(hits.Block), hits.Block)
			}
			m := hits.Block[0]
			v := m.Video
			t.Logf("rule %s, query %d%%, reference %d%%, matched %d ms, distance %d, ranges %+v",
				v.Rule, v.QueryPercent, v.ReferencePercent, v.MatchedMs, m.Distance, v.Ranges)
			if v.Rule != c.rule {
				t.Errorf("rule %s, want %s", v.Rule, c.rule)
			}
			clipMs := info.Duration.Milliseconds()
			startMs := int64(c.before) * 1000
			// Frames are sampled once a second: the range ends are known to
			// within a sample and a half.
			const slack = 1500
			first, last := v.Ranges[0], v.Ranges[len(v.Ranges)-1]
			if d := first.QueryStartMs - startMs; d < -slack || d > slack {
				t.Errorf("matched from %d ms, the clip starts at %d ms", first.QueryStartMs, startMs)
			}
			if d := last.QueryEndMs - (startMs + clipMs); d < -slack || d > slack {
				t.Errorf("matched up to %d ms, the clip ends at %d ms", last.QueryEndMs, startMs+clipMs)
			}
			if first.RefStartMs > slack || last.RefEndMs < clipMs-slack {
				t.Errorf("reference range %d-%d ms, want about 0-%d", first.RefStartMs, last.RefEndMs, clipMs)
			}
			if m.Distance > 16 {
				t.Errorf("median distance %d: a re-encode should be close enough to take down without review", m.Distance)
			}
		})
	}
}

// TestThinKeepsEventsUnderKafkasLimit checks the size of a two-hour video's
// frames at one a second: under the budget as they are, and thinned to fit
// when every frame also carries a trimmed hash.
func TestThinKeepsEventsUnderKafkasLimit(t *testing.T) {
	mk := func(trim bool) Result {
		r := Result{IntervalMs: 1000, DurationMs: 7200_000}
		for i := range 7200 {
			f := events.VideoFrame{Ms: int64(i) * 1000, PDQ: fmt.Sprintf("%064x", i+1), Quality: 100}
			if trim {
				f.Trim = fmt.Sprintf("%064x", i+1<<20)
			}
			r.Frames = append(r.Frames, f)
		}
		return r
	}
	plain := mk(false)
	if n := plain.Thin(0); n != 0 || len(plain.Frames) != 7200 {
		t.Errorf("plain frames halved %d times to %d", n, len(plain.Frames))
	}
	ev := events.MediaHashed{Meta: events.NewMeta(events.TypeMediaHashed, "c", ""), Frames: plain.Frames,
		Signals: []events.Signal{{Type: "sha256", Value: strings.Repeat("a", 64)}}}
	body, _ := json.Marshal(ev)
	t.Logf("two hours at one frame a second: %d frames, media.hashed of %d bytes", len(plain.Frames), len(body))
	if len(body) > 900<<10 {
		t.Errorf("media.hashed of a two-hour video is %d bytes", len(body))
	}
	// With the mirrored hashes every upload now carries, those go first:
	// the two-hour video keeps one frame a second, without them.
	mirrored := mk(false)
	for i := range mirrored.Frames {
		f := &mirrored.Frames[i]
		f.FlipY, f.FlipX, f.Rot180 = fmt.Sprintf("%064x", i+2<<20), fmt.Sprintf("%064x", i+3<<20), fmt.Sprintf("%064x", i+4<<20)
		if i%10 == 0 {
			f.Insets = []string{fmt.Sprintf("%064x", i+5<<20)} // a picture-in-picture's, now and then
		}
	}
	short := Result{IntervalMs: 1000, Frames: slices.Clone(mirrored.Frames[:2400])}
	if n := short.Thin(0); n != 0 || short.Frames[2399].FlipY == "" {
		t.Errorf("40 minutes with mirrored hashes: halved %d times, mirrored hashes kept: %v (%d bytes)", n, short.Frames[2399].FlipY != "", framesBytes(mirrored.Frames[:2400]))
	}
	if n := mirrored.Thin(0); n != 0 || len(mirrored.Frames) != 7200 || mirrored.Frames[0].FlipY != "" || mirrored.Frames[0].Insets != nil || framesBytes(mirrored.Frames) > MaxEventBytes {
		t.Errorf("two hours with mirrored hashes: halved %d times to %d frames, mirrored hashes kept: %v", n, len(mirrored.Frames), mirrored.Frames[0].FlipY != "")
	}
	trimmed := mk(true)
	n := trimmed.Thin(0)
	if n != 1 || trimmed.IntervalMs != 2000 || len(trimmed.Frames) != 3600 || framesBytes(trimmed.Frames) > MaxEventBytes {
		t.Errorf("trimmed frames halved %d times to %d frames every %d ms (%d bytes)", n, len(trimmed.Frames), trimmed.IntervalMs, framesBytes(trimmed.Frames))
	}
}

// TestLongBankVideoInParts cuts a bank video into parts of at most 600
// hashes (about 300 frames: each has its centre crop too), as bank add does past MaxPartHashes, and checks the entries and
// that a copy of the whole video matches every part.
func TestLongBankVideoInParts(t *testing.T) {
	dir := samples(t)
	path := filepath.Join(dir, "chair-orig-22-sd-bar.mp4")
	parts, _, err := Bank(context.Background(), path, BankOptions{MaxPartHashes: 600})
	if err != nil {
		t.Fatal(err)
	}
	file := []events.Signal{{Type: events.SignalSHA256, Value: strings.Repeat("ab", 32)}, {Type: events.SignalMD5, Value: strings.Repeat("cd", 16)}}
	updates := bank.VideoEntries("clips", []string{"category:terror"}, file, PartSignals(parts))
	if len(updates) < 4 || len(updates) != len(parts) {
		t.Fatalf("%d updates of %d parts", len(updates), len(parts))
	}
	b := bank.NewBanks(nil)
	for i, u := range updates {
		want := "abababababababab"
		if i > 0 {
			want = fmt.Sprintf("abababababababab-part%d", i)
		}
		if u.EntryID != want || len(u.Signals) > 600+2 || u.Labels[0] != "category:terror" {
			t.Errorf("update %d: entry %s, %d signals, labels %v", i, u.EntryID, len(u.Signals), u.Labels)
		}
		if i > 0 && parts[i].FromMs <= parts[i-1].ToMs-1 {
			t.Errorf("part %d starts at %d ms, before part %d ends (%d ms)", i, parts[i].FromMs, i-1, parts[i-1].ToMs)
		}
		if err := b.Apply(u); err != nil {
			t.Fatal(err)
		}
	}
	up, err := Upload(context.Background(), path, video.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hits := b.MatchVideo(query(up), bank.VideoRules{})
	if len(hits.Block) != len(parts) {
		t.Fatalf("a copy matched %d of %d parts: %+v", len(hits.Block), len(parts), hits.Block)
	}
	for _, m := range hits.Block {
		t.Logf("%s: %s, query %d%%, reference %d%%, ranges %+v", m.EntryID, m.Video.Rule, m.Video.QueryPercent, m.Video.ReferencePercent, m.Video.Ranges)
	}
}

// A frame of straight bands (a flag between black bars) has a banded
// hash, and so have its mirrors and most of its crops: those would match
// any other picture of bands, and are left out, on the upload's side and
// the bank's. Its whole-frame hash stays. A frame of footage between the
// same bars keeps every derived hash.
func TestBandedDerivedFrameHashesAreLeftOut(t *testing.T) {
	barred := func(img *image.RGBA) *image.RGBA {
		for y := range FrameSide {
			for x := range FrameSide {
				if y < 40 || y >= FrameSide-40 {
					img.Set(x, y, color.RGBA{0, 0, 0, 255})
				}
			}
		}
		return img
	}
	flag := image.NewRGBA(image.Rect(0, 0, FrameSide, FrameSide))
	for y := range FrameSide {
		for x := range FrameSide {
			flag.Set(x, y, [3]color.RGBA{{0, 122, 61, 255}, {252, 209, 22, 255}, {206, 17, 38, 255}}[x*3/FrameSide])
		}
	}
	h := pdq.NewHasher()
	for _, c := range []struct {
		name   string
		img    *image.RGBA
		banded bool
	}{{"flag", barred(flag), true}, {"footage", barred(synthFrame(3, image.Rectangle{}, false)), false}} {
		t.Run(c.name, func(t *testing.T) {
			vf := uploadFrame(h, c.img, framing.Trim(c.img))
			bank := bankFrame(h, c.img)
			insets := hashInsets(h, c.img, []image.Rectangle{image.Rect(20, 30, 200, 200)})
			t.Logf("upload %+v, %d bank hashes, %d inset hashes", vf, len(bank), len(insets))
			whole, err := pdq.ParseHex(vf.PDQ)
			if err != nil || bank[0].Hash != whole {
				t.Fatalf("whole-frame hash %q (%v), bank's first %v", vf.PDQ, err, bank[0].Hash)
			}
			if whole.Banded() != c.banded {
				t.Fatalf("the frame's own hash: Banding %d", whole.Banding())
			}
			derived := slices.Concat([]string{vf.Trim, vf.FlipX, vf.FlipY, vf.Rot180}, insets)
			for _, r := range bank[1:] {
				derived = append(derived, r.Hash.String())
			}
			for _, d := range derived {
				if x, _ := pdq.ParseHex(d); d != "" && x.Banded() {
					t.Errorf("derived hash %s is banded (%d)", d, x.Banding())
				}
			}
			mirrors := vf.FlipX != "" && vf.FlipY != "" && vf.Rot180 != ""
			if mirrors == c.banded {
				t.Errorf("mirrored hashes %v, want %v", mirrors, !c.banded)
			}
			if !c.banded && (vf.Trim == "" || len(bank) != 2+len(CentreCrops) || len(insets) != 1) {
				t.Error("want every derived hash of the footage")
			}
		})
	}
}
