package matcher_test

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
	"github.com/takedown-pipeline/takedown/services/matcher/matcher"
)

// flip3 flips three bits of a hex hash: a re-encoded frame.
func flip3(h string) string {
	b, _ := hex.DecodeString(h)
	b[0] ^= 0x07
	return hex.EncodeToString(b)
}

func publishVideo(t *testing.T, pub messaging.Publisher, topic, id string, frames []events.VideoFrame, durationMs int64, stream *events.StreamSegmentRef) *events.MediaHashed {
	t.Helper()
	ev := &events.MediaHashed{
		Meta:     events.NewMeta(events.TypeMediaHashed, id, ""),
		MediaURL: "https://cdn.example.com/" + id + ".mp4", ContentType: events.ContentVideo, UploaderID: "user-7",
		UploadedAt: uploadedAt, Media: events.MediaInfo{MimeType: "video/mp4", Bytes: 1234},
		Signals:    []events.Signal{sha(randHex(64))},
		DurationMs: durationMs, FrameIntervalMs: 1000, Frames: frames, Stream: stream,
	}
	if err := messaging.PublishEvent(context.Background(), pub, topic, ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestVideoVerdicts sends videos through one replica on the real broker: a
// copy of a bank video matches with its time range, other footage does not,
// a live stream segment reports its matched frames in stream time, and an
// allow bank holding the same video suppresses the match.
func TestVideoVerdicts(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	cfg := testConfig(t, brokers, testenv.RedisAddr(t))
	pub := publisher(t, brokers)
	bankFrames := make([]string, 20)
	var sigs []events.Signal
	for i := range bankFrames {
		bankFrames[i] = randHex(64)
		sigs = append(sigs, events.Signal{Type: events.SignalPDQ, Value: bankFrames[i], Variant: events.FrameVariant(int64(i) * 1000)})
	}
	// A second, unrelated bank video that the allow bank holds.
	var allowed []string
	var allowSigs []events.Signal
	for i := range 10 {
		allowed = append(allowed, randHex(64))
		allowSigs = append(allowSigs, events.Signal{Type: events.SignalPDQ, Value: allowed[i], Variant: events.FrameVariant(int64(i) * 1000)})
	}
	allowCfg := events.DefaultBankConfig()
	allowCfg.Kind = events.BankKindAllow
	conf := events.NewBankConfigure("news", allowCfg)
	publishBank(t, pub, cfg.Topics.BankUpdates,
		addEntry("attack", "stream-1", []string{"category:terror"}, sigs...),
		addEntry("attack", "other", nil, allowSigs...),
		&conf,
		addEntry("news", "report", nil, allowSigs...))
	svc := start(t, cfg)
	if svc.Banks().Len() != 3 {
		t.Fatalf("%d bank entries, want 3", svc.Banks().Len())
	}
	verdicts := collect(t, brokers, cfg.Topics.Matched)

	frames := func(hashes []string, fromMs int64) []events.VideoFrame {
		var out []events.VideoFrame
		for i, h := range hashes {
			out = append(out, events.VideoFrame{Ms: fromMs + int64(i)*1000, PDQ: flip3(h), Quality: 90})
		}
		return out
	}

	copyOf := publishVideo(t, pub, cfg.Topics.Hashed, testenv.Name("copy"), frames(bankFrames[4:16], 0), 12000, nil)
	v := verdicts.verdict(t, copyOf)
	if len(v.Matches) != 1 || v.Matches[0].EntryID != "stream-1" || v.Matches[0].Video == nil || v.Stream != nil {
		t.Fatalf("copy: %+v", v.Matches)
	}
	m := v.Matches[0]
	want := events.VideoRange{QueryStartMs: 0, QueryEndMs: 12000, RefStartMs: 4000, RefEndMs: 16000, Frames: 12}
	if m.Video.Rule != events.VideoRuleCopy || m.Distance != 3 || m.Variant != events.VariantVideo ||
		len(m.Video.Ranges) != 1 || m.Video.Ranges[0] != want || m.Labels[0] != "category:terror" {
		t.Errorf("copy: match %+v, video %+v", m, *m.Video)
	}

	var other []string
	for range 12 {
		other = append(other, randHex(64))
	}
	unrelated := publishVideo(t, pub, cfg.Topics.Hashed, testenv.Name("unrelated"), frames(other, 0), 12000, nil)
	if v := verdicts.verdict(t, unrelated); len(v.Matches) != 0 {
		t.Errorf("unrelated video matched: %+v", v.Matches)
	}

	seg := &events.StreamSegmentRef{Sequence: 5, OffsetMs: 10000, DurationMs: 2000, ReceivedAt: uploadedAt}
	live := publishVideo(t, pub, cfg.Topics.Hashed, testenv.Name("stream"), frames(bankFrames[7:9], 10000), 2000, seg)
	v = verdicts.verdict(t, live)
	if len(v.Matches) != 1 || v.Stream == nil || v.Stream.Sequence != 5 {
		t.Fatalf("segment: %+v, stream %+v", v.Matches, v.Stream)
	}
	want = events.VideoRange{QueryStartMs: 10000, QueryEndMs: 12000, RefStartMs: 7000, RefEndMs: 9000, Frames: 2}
	if vm := v.Matches[0].Video; vm.Rule != events.VideoRuleFrames || vm.MatchedMs != 2000 || len(vm.Ranges) != 1 || vm.Ranges[0] != want {
		t.Errorf("segment: %+v", *vm)
	}

	report := publishVideo(t, pub, cfg.Topics.Hashed, testenv.Name("report"), frames(allowed, 0), 10000, nil)
	v = verdicts.verdict(t, report)
	if len(v.Matches) != 0 || len(v.Suppressed) != 1 || v.Suppressed[0].EntryID != "other" || v.Suppressed[0].Video == nil {
		t.Errorf("allow-listed video: matches %+v, suppressed %+v", v.Matches, v.Suppressed)
	}
}

func TestVideoSettingsAreChecked(t *testing.T) {
	cfg := testConfigNoBroker(t)
	cfg.VideoQueryPercent = 150
	cfg.VideoMinContains = -time.Second
	_, err := matcher.New(cfg, testLogger())
	if err == nil || !strings.Contains(err.Error(), "video query percent 150") || !strings.Contains(err.Error(), "minimum contained length") {
		t.Fatalf("New: %v", err)
	}
	if r := (&matcher.Config{VideoQueryPercent: 70, VideoExcerpt: -1}).VideoRules(); r.QueryPercent != 70 || r.Excerpt >= 0 {
		t.Errorf("rules %+v", r)
	}
}

// testConfigNoBroker is the default configuration, without topics on a
// broker: for checks that never connect.
func testConfigNoBroker(t *testing.T) matcher.Config {
	t.Helper()
	var cfg matcher.Config
	set := config.New("matcher-test").WithEnv(func(string) (string, bool) { return "", false })
	cfg.Bind(set)
	if err := set.Parse(nil); err != nil {
		t.Fatal(err)
	}
	return cfg
}
