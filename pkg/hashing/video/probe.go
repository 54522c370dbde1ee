package video

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// maxProbeOutput bounds ffprobe's JSON: a crafted file with a thousand
// streams must not make it large.
const maxProbeOutput = 1 << 20

// probed is what ffprobe says of a file, and what extraction needs.
type probed struct {
	info   Info
	url    string // file: URL of the absolute path
	stream int    // index of the video stream to decode
}

// Probe reads a video file's header with ffprobe and checks it against the
// options' caps. When it refuses the file for its duration or resolution
// (ErrTooLong, ErrTooLarge), the Info is still filled in.
func Probe(ctx context.Context, path string, opts Options) (Info, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return Info{}, err
	}
	ctx, cancel := withTimeout(ctx, o)
	defer cancel()
	p, err := probe(ctx, path, o)
	return p.info, err
}

// probeStream is one stream of ffprobe's JSON, the fields asked for.
type probeStream struct {
	Index        int    `json:"index"`
	CodecType    string `json:"codec_type"`
	CodecName    string `json:"codec_name"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	AvgFrameRate string `json:"avg_frame_rate"`
	RFrameRate   string `json:"r_frame_rate"`
	Duration     string `json:"duration"`
	Disposition  struct {
		AttachedPic int `json:"attached_pic"`
	} `json:"disposition"`
	SideDataList []struct {
		Rotation *float64 `json:"rotation"`
	} `json:"side_data_list"`
	Tags struct {
		Rotate string `json:"rotate"`
	} `json:"tags"`
}

// probeJSON is ffprobe's JSON, the fields asked for.
type probeJSON struct {
	Streams []probeStream `json:"streams"`
	Format  struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
	} `json:"format"`
}

func probe(ctx context.Context, path string, o Options) (probed, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return probed{}, fmt.Errorf("video: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return probed{}, fmt.Errorf("video: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return probed{}, fmt.Errorf("%w: %s is not a regular file", ErrNotVideo, path)
	}
	p := probed{url: "file:" + abs}
	cmd, err := limitedCommand(ctx, o, 0, o.FFprobe,
		"-hide_banner", "-loglevel", "repeat+level+error",
		"-protocol_whitelist", protocols, "-format_whitelist", Demuxers,
		"-show_entries", "format=format_name,duration"+
			":stream=index,codec_type,codec_name,width,height,avg_frame_rate,r_frame_rate,duration"+
			":stream_disposition=attached_pic:stream_side_data=rotation:stream_tags=rotate",
		"-of", "json", p.url)
	if err != nil {
		return p, startError(o.FFprobe, err)
	}
	var out limitedBuffer
	out.limit = maxProbeOutput
	var errOut limitedBuffer
	errOut.limit = maxTail
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		return p, startError(o.FFprobe, err)
	}
	err = cmd.Wait()
	if cerr := ctxError(ctx, o); cerr != nil {
		return p, cerr
	}
	var t tail
	for line := range strings.SplitSeq(errOut.String(), "\n") {
		ctxName, _, msg := logLevel(line)
		if ctxName != "" {
			msg = ctxName + ": " + msg
		}
		t.add(msg)
	}
	if lerr := limitError("ffprobe", cmd, o, false, &t); lerr != nil {
		return p, lerr
	}
	if out.over {
		return p, fmt.Errorf("%w: ffprobe's description is over %d bytes", ErrNotVideo, maxProbeOutput)
	}
	if err != nil {
		return p, &ToolError{Tool: "ffprobe", Kind: ErrNotVideo, Exit: exitCode(err), Stderr: t.String()}
	}
	var pj probeJSON
	if err := json.Unmarshal(out.Bytes(), &pj); err != nil {
		return p, fmt.Errorf("%w: ffprobe output: %v", ErrNotVideo, err)
	}
	return p, p.fill(&pj, o)
}

// fill picks the video stream, fills p.info and checks the caps.
func (p *probed) fill(pj *probeJSON, o Options) error {
	p.info.Format = pj.Format.FormatName
	idx := -1
	for i, s := range pj.Streams {
		// A cover picture is a video stream too; the reference takes the
		// first video stream, which is not one in its samples.
		if s.CodecType == "video" && s.Disposition.AttachedPic == 0 {
			idx = i
			break
		}
	}
	if idx < 0 {
		return fmt.Errorf("%w: %s has no video stream", ErrNotVideo, orUnknown(p.info.Format))
	}
	s := pj.Streams[idx]
	p.stream = s.Index
	p.info.Codec = s.CodecName
	p.info.FrameRate = parseRate(s.AvgFrameRate)
	if p.info.FrameRate == 0 {
		p.info.FrameRate = parseRate(s.RFrameRate)
	}
	d := parseSeconds(pj.Format.Duration)
	if d == 0 {
		d = parseSeconds(s.Duration)
	}
	p.info.Duration = d
	rot := 0.0
	for _, sd := range s.SideDataList {
		if sd.Rotation != nil {
			rot = *sd.Rotation
		}
	}
	if rot == 0 && s.Tags.Rotate != "" {
		rot, _ = strconv.ParseFloat(s.Tags.Rotate, 64)
	}
	p.info.Rotation = normRotation(rot)
	w, h := s.Width, s.Height
	if p.info.Rotation == 90 || p.info.Rotation == 270 {
		w, h = h, w
	}
	p.info.Width, p.info.Height = w, h

	if w <= 0 || h <= 0 {
		return fmt.Errorf("%w: %s video stream declares %dx%d pixels", ErrCorrupt, orUnknown(s.CodecName), w, h)
	}
	if !o.fits(w, h) {
		return fmt.Errorf("%w: %dx%d, the limit is %dx%d in either orientation", ErrTooLarge, w, h, o.MaxWidth, o.MaxHeight)
	}
	if d > o.MaxDuration {
		return fmt.Errorf("%w: %v, the limit is %v", ErrTooLong, d.Round(time.Millisecond), o.MaxDuration)
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// parseRate parses ffprobe's "30000/1001"; 0 when absent or not a rate.
func parseRate(s string) float64 {
	n, d, ok := strings.Cut(s, "/")
	if !ok {
		return 0
	}
	num, err1 := strconv.ParseFloat(n, 64)
	den, err2 := strconv.ParseFloat(d, 64)
	if err1 != nil || err2 != nil || den <= 0 || num <= 0 || math.IsInf(num/den, 0) {
		return 0
	}
	return num / den
}

// parseSeconds parses ffprobe's "18.800000"; 0 when absent ("N/A") or not
// a plausible duration.
func parseSeconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f <= 0 {
		return 0
	}
	if f > float64(math.MaxInt64/int64(time.Second)) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(math.Round(f * float64(time.Second)))
}

// normRotation maps a display-matrix rotation (ffprobe's, counter-clockwise
// and negative for clockwise turns) to 0, 90, 180 or 270.
func normRotation(deg float64) int {
	if math.IsNaN(deg) || math.IsInf(deg, 0) {
		return 0
	}
	r := int(math.Round(deg/90)) % 4
	if r < 0 {
		r += 4
	}
	return r * 90
}

// limitedBuffer keeps at most limit bytes and notes whether more came; it
// never fails a write, so the tool is never blocked or killed by it.
type limitedBuffer struct {
	buf   []byte
	limit int
	over  bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	room := b.limit - len(b.buf)
	if len(p) > room {
		b.over = true
		b.buf = append(b.buf, p[:max(room, 0)]...)
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *limitedBuffer) Bytes() []byte  { return b.buf }
func (b *limitedBuffer) String() string { return string(b.buf) }

var _ io.Writer = (*limitedBuffer)(nil)
