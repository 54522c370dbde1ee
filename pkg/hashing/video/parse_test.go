package video

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseShowinfo(t *testing.T) {
	tests := []struct {
		name string
		line string
		want showinfoFrame
		ok   bool
	}{
		{"ffmpeg 5.1", "n:   0 pts:      0 pts_time:0       pos:    21514 fmt:rgb24 sar:0/1 s:480x720 i:P iskey:1 type:I ",
			showinfoFrame{n: 0, pts: 0, hasPTS: true, ptsTime: "0", w: 480, h: 720}, true},
		{"wide numbers glued", "n:1234 pts:12345678 pts_time:803.75 pos:123456789 fmt:rgba sar:1/1 s:1280x720 i:P iskey:0 type:B",
			showinfoFrame{n: 1234, pts: 12345678, hasPTS: true, ptsTime: "803.75", w: 1280, h: 720}, true},
		{"no timestamp", "n:   3 pts:NOPTS pts_time:NOPTS pos:     -1 fmt:rgba sar:1/1 s:64x48 i:P",
			showinfoFrame{n: 3, ptsTime: "NOPTS", w: 64, h: 48}, true},
		{"ffmpeg 7", "n:  17 pts:   8704 pts_time:0.566667 duration:    512 duration_time:0.0333333 fmt:yuv420p cl:left sar:0/1 s:480x720 i:P iskey:0 type:P",
			showinfoFrame{n: 17, pts: 8704, hasPTS: true, ptsTime: "0.566667", w: 480, h: 720}, true},
		{"config line", "config in time_base: 1/15360, frame_rate: 30/1", showinfoFrame{}, false},
		{"side data", "  side data - User Data Unregistered:", showinfoFrame{}, false},
		{"colour line", "color_range:pc color_space:gbr color_primaries:unknown color_trc:unknown", showinfoFrame{}, false},
		{"no size", "n:   0 pts:      0 pts_time:0", showinfoFrame{}, false},
		{"bad size", "n:   0 pts: 0 s:axb", showinfoFrame{}, false},
		{"negative n", "n:  -1 pts: 0 s:4x4", showinfoFrame{}, false},
		{"negative size", "n:   1 pts: 0 s:4x-4", showinfoFrame{}, false},
		{"empty", "", showinfoFrame{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseShowinfo(tt.line)
			if ok != tt.ok || (ok && got != tt.want) {
				t.Errorf("parseShowinfo(%q) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestLogLevel(t *testing.T) {
	tests := []struct{ line, ctx, level, msg string }{
		{"[showinfo@post @ 0x55d0] [info] n:   0 pts: 0", "showinfo@post @ 0x55d0", "info", "n:   0 pts: 0"},
		{"[error] Invalid data found when processing input", "", "error", "Invalid data found when processing input"},
		{"[h264 @ 0x1] [warning] no frame!", "h264 @ 0x1", "warning", "no frame!"},
		{"[info]   Metadata:", "", "info", "  Metadata:"},
		{"[info]                   : [showinfo@post @ 0x1] [info] n: 5", "", "info", "                  : [showinfo@post @ 0x1] [info] n: 5"},
		{"plain line", "", "", "plain line"},
		{"[unterminated", "", "", "[unterminated"},
	}
	for _, tt := range tests {
		ctx, level, msg := logLevel(tt.line)
		if ctx != tt.ctx || level != tt.level || msg != tt.msg {
			t.Errorf("logLevel(%q) = %q, %q, %q; want %q, %q, %q", tt.line, ctx, level, msg, tt.ctx, tt.level, tt.msg)
		}
	}
}

// TestParser feeds the parser ffmpeg's stderr for a sampled extraction and
// checks the delivered frames' indices and timestamps, the duration
// overrun and the kept errors.
func TestParser(t *testing.T) {
	lines := []string{
		"[info] Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'file:/x.mp4':",
		"[info]     title           : [showinfo@post @ 0x9] [info] n: 9 pts: 9 s:1x1",
		"[showinfo@pre @ 0x1] [info] config in time_base: 1/15360, frame_rate: 30/1",
		"[showinfo@post @ 0x2] [info] config in time_base: 1/15360, frame_rate: 30/1",
		"[showinfo@pre @ 0x1] [info] n:   0 pts:      0 pts_time:0       pos: 1 fmt:yuv420p sar:0/1 s:480x720 i:P",
		"[showinfo@post @ 0x2] [info] n:   0 pts:      0 pts_time:0       pos: 1 fmt:rgba sar:0/1 s:480x720 i:P",
		"[h264 @ 0x3] [error] concealing 12 errors",
		"[showinfo@pre @ 0x1] [info] n:   1 pts:    512 pts_time:0.0333333 pos: 2 fmt:yuv420p sar:0/1 s:480x720 i:P",
		"[showinfo@pre @ 0x1] [info] n:   2 pts:   1024 pts_time:0.0666667 pos: 3 fmt:yuv420p sar:0/1 s:480x720 i:P",
		"[showinfo@post @ 0x2] [info] n:   1 pts:   1024 pts_time:0.0666667 pos: 3 fmt:rgba sar:0/1 s:480x720 i:P",
		"[showinfo@pre @ 0x1] [info] n:   3 pts:  46080 pts_time:3 pos: 4 fmt:yuv420p sar:0/1 s:480x720 i:P",
		"[info] Output #0, rawvideo, to 'pipe:1':",
	}
	ps := &parser{sampled: true, frameRate: 30, maxDuration: 2 * time.Second}
	var got []frameMeta
	for _, l := range lines {
		if m, ok := ps.line(l); ok {
			got = append(got, m)
		}
	}
	want := []frameMeta{
		{index: 0, ts: 0, w: 480, h: 720},
		{index: 2, ts: 66666667, w: 480, h: 720}, // 1024/15360 s, rounded to the nanosecond
		{ts: 3 * time.Second, overrun: true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("frame %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if tail := ps.tail.String(); tail != "h264 @ 0x3: concealing 12 errors" {
		t.Errorf("kept %q", tail)
	}
}

// TestParserWithoutTimestamps checks a stream without timestamps: delivered
// frames are matched to decoded ones in order and timed by the frame rate.
func TestParserWithoutTimestamps(t *testing.T) {
	ps := &parser{sampled: true, frameRate: 25, maxDuration: time.Hour}
	var got []frameMeta
	for _, l := range []string{
		"[showinfo@pre @ 0x1] [info] n:   0 pts:NOPTS pts_time:NOPTS s:64x48",
		"[showinfo@post @ 0x2] [info] n:   0 pts:NOPTS pts_time:NOPTS s:64x48",
		"[showinfo@pre @ 0x1] [info] n:   1 pts:NOPTS pts_time:NOPTS s:64x48",
		"[showinfo@post @ 0x2] [info] n:   1 pts:NOPTS pts_time:NOPTS s:64x48",
	} {
		if m, ok := ps.line(l); ok {
			got = append(got, m)
		}
	}
	if len(got) != 2 || got[0].index != 0 || got[1].index != 1 || got[1].ts != 40*time.Millisecond {
		t.Errorf("got %+v", got)
	}
}

func TestTail(t *testing.T) {
	var tl tail
	for range 1000 {
		tl.add("[error] " + strings.Repeat("x", 50))
	}
	if s := tl.String(); len(s) > maxTail+2*len(tl.lines) || len(tl.lines) == 0 {
		t.Errorf("tail of %d bytes in %d lines, the bound is %d", len(s), len(tl.lines), maxTail)
	}
	tl.add(strings.Repeat("y", 3*maxTail))
	if len(tl.lines) != 1 || len(tl.lines[0]) != maxTail {
		t.Errorf("one long line: %d lines, the last %d bytes", len(tl.lines), len(tl.lines[len(tl.lines)-1]))
	}
	if !tl.contains("yyy") || tl.contains("zzz") {
		t.Error("contains")
	}
}

func TestLineReader(t *testing.T) {
	long := strings.Repeat("x", 3*maxLine)
	lr := newLineReader(strings.NewReader("first\r\n" + long + "\nafter\nlast without newline"))
	var got []string
	for {
		l, err := lr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, l)
	}
	if len(got) != 4 || got[0] != "first" || len(got[1]) != maxLine || got[2] != "after" || got[3] != "last without newline" {
		t.Errorf("lines %d: %q %d %q", len(got), got[0], len(got[1]), got[2:])
	}
}

func TestProbeParsing(t *testing.T) {
	rates := map[string]float64{"30/1": 30, "30000/1001": 30000.0 / 1001, "0/0": 0, "": 0, "x/1": 0, "1/0": 0, "-5/1": 0}
	for in, want := range rates {
		if got := parseRate(in); got != want {
			t.Errorf("parseRate(%q) = %v, want %v", in, got, want)
		}
	}
	secs := map[string]time.Duration{"18.800000": 18800 * time.Millisecond, "8.171": 8171 * time.Millisecond,
		"N/A": 0, "": 0, "-1": 0, "nan": 0, "1e300": time.Duration(1<<63 - 1)}
	for in, want := range secs {
		if got := parseSeconds(in); got != want {
			t.Errorf("parseSeconds(%q) = %v, want %v", in, got, want)
		}
	}
	rots := map[float64]int{0: 0, 90: 90, -90: 270, 180: 180, -180: 180, 270: 270, 89.9: 90, 360: 0, -450: 270}
	for in, want := range rots {
		if got := normRotation(in); got != want {
			t.Errorf("normRotation(%v) = %v, want %v", in, got, want)
		}
	}
}

// TestFillPicksVideoStream checks the choice of stream and the caps on
// ffprobe's description: a cover picture is not the video.
func TestFillPicksVideoStream(t *testing.T) {
	var pj probeJSON
	pj.Format.FormatName = "mov,mp4,m4a,3gp,3g2,mj2"
	pj.Format.Duration = "10.5"
	pj.Streams = make([]probeStream, 3)
	pj.Streams[0].Index, pj.Streams[0].CodecType = 0, "audio"
	pj.Streams[1].Index, pj.Streams[1].CodecType, pj.Streams[1].CodecName = 1, "video", "mjpeg"
	pj.Streams[1].Width, pj.Streams[1].Height, pj.Streams[1].Disposition.AttachedPic = 600, 600, 1
	pj.Streams[2].Index, pj.Streams[2].CodecType, pj.Streams[2].CodecName = 2, "video", "hevc"
	pj.Streams[2].Width, pj.Streams[2].Height, pj.Streams[2].RFrameRate = 1920, 1080, "25/1"
	pj.Streams[2].Tags.Rotate = "90"
	o, _ := Options{}.withDefaults()
	var p probed
	if err := p.fill(&pj, o); err != nil {
		t.Fatal(err)
	}
	want := Info{Width: 1080, Height: 1920, Duration: 10500 * time.Millisecond, FrameRate: 25, Codec: "hevc",
		Format: pj.Format.FormatName, Rotation: 90}
	if p.stream != 2 || p.info != want {
		t.Errorf("stream %d %+v, want 2 %+v", p.stream, p.info, want)
	}
	pj.Streams = pj.Streams[:2]
	if err := p.fill(&pj, o); !errors.Is(err, ErrNotVideo) {
		t.Errorf("only a cover picture: %v, want ErrNotVideo", err)
	}
}

// TestCtxError checks which error an ended context gives.
func TestCtxError(t *testing.T) {
	o, _ := Options{Timeout: time.Nanosecond}.withDefaults()
	ctx, cancel := withTimeout(context.Background(), o)
	defer cancel()
	<-ctx.Done()
	if err := ctxError(ctx, o); !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("own timeout: %v", err)
	}
	parent, cancelParent := context.WithCancel(context.Background())
	ctx2, cancel2 := withTimeout(parent, Options{Timeout: time.Hour})
	defer cancel2()
	cancelParent()
	if err := ctxError(ctx2, o); !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Errorf("cancelled: %v", err)
	}
	if err := ctxError(context.Background(), o); err != nil {
		t.Errorf("live context: %v", err)
	}
}

// FuzzParserLine feeds the stderr parser arbitrary lines: ffmpeg prints a
// file's metadata among them, so they are partly the uploader's.
func FuzzParserLine(f *testing.F) {
	for _, s := range []string{
		"[showinfo@post @ 0x2] [info] n:   0 pts:      0 pts_time:0       pos: 1 fmt:rgba sar:0/1 s:480x720 i:P",
		"[showinfo@pre @ 0x1] [info] n:   3 pts:  46080 pts_time:3 pos: 4 s:480x720",
		"[showinfo@post @ 0x2] [info] config in time_base: 1/0, frame_rate: 30/1",
		"[showinfo@post @ 0x2] [info] n: 99999999999999999999 pts: -9223372036854775808 s:0x-1",
		"[error] x", "[", "]", "[a] ", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		ps := &parser{sampled: len(line)%2 == 0, frameRate: 30, maxDuration: time.Second}
		for range 2 {
			if m, ok := ps.line(line); ok && !m.overrun && (m.w < 0 || m.h < 0 || m.ts < 0) {
				t.Errorf("line %q: %+v", line, m)
			}
		}
		_ = ps.tail.String()
	})
}
