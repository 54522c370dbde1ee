package events

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestFrameVariant(t *testing.T) {
	for _, c := range []struct {
		v  string
		ms int64
		ok bool
	}{
		{FrameVariant(0), 0, true},
		{FrameVariant(123456), 123456, true},
		{"frame@7", 7, true},
		{"frame@", 0, false},
		{"frame@-3", 0, false},
		{"frame@+3", 0, false},
		{"frame@007", 0, false},
		{"frame@1e3", 0, false},
		{"frame@1234567890123", 0, false},
		{"rot90", 0, false},
		{"", 0, false},
	} {
		ms, ok := ParseFrameVariant(c.v)
		if ok != c.ok || ms != c.ms {
			t.Errorf("ParseFrameVariant(%q) = %d, %v; want %d, %v", c.v, ms, ok, c.ms, c.ok)
		}
	}
}

func TestStreamSegmentValidation(t *testing.T) {
	good := StreamSegment{Meta: NewMeta(TypeStreamSegment, "live-1", ""), Sequence: 3, MediaURL: "https://x.test/3.ts",
		OffsetMs: 6000, DurationMs: 2000, UploaderID: "u1", ReceivedAt: time.Now()}
	cases := []struct {
		name string
		mut  func(*StreamSegment)
		want string
	}{
		{"good", func(*StreamSegment) {}, ""},
		{"no url", func(e *StreamSegment) { e.MediaURL = "" }, "missing media_url"},
		{"no time", func(e *StreamSegment) { e.ReceivedAt = time.Time{} }, "received_at"},
		{"negative sequence", func(e *StreamSegment) { e.Sequence = -1 }, "sequence -1"},
		{"negative offset", func(e *StreamSegment) { e.OffsetMs = -1 }, "offset_ms -1"},
		{"empty segment", func(e *StreamSegment) { e.DurationMs = 0 }, "duration_ms 0"},
		{"segment too long", func(e *StreamSegment) { e.DurationMs = 601000 }, "duration_ms 601000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := good
			c.mut(&ev)
			data, _ := json.Marshal(ev)
			var got StreamSegment
			err := Decode(data, TypeStreamSegment, &got)
			if c.want == "" {
				if err != nil || got.Ref().OffsetMs != 6000 || got.Ref().Sequence != 3 {
					t.Fatalf("err %v, segment %+v", err, got)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want ErrInvalid mentioning %q", err, c.want)
			}
		})
	}
}

func TestBankConfigVideoPercents(t *testing.T) {
	for _, c := range []struct {
		q, r int
		ok   bool
	}{{0, 0, true}, {50, 100, true}, {101, 0, false}, {0, -1, false}} {
		cfg := DefaultBankConfig()
		cfg.VideoQueryPercent, cfg.VideoReferencePercent = c.q, c.r
		if err := cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("percents %d/%d: %v, want ok=%v", c.q, c.r, err, c.ok)
		}
	}
}
