package video

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Frames decodes the video at path and calls fn with each sampled frame, in
// order, as ffmpeg delivers it: a long video is never held in memory. If fn
// returns an error, decoding stops and Frames returns that error. Frames
// that were delivered before an error stay delivered: a video that decodes
// partway and then fails gives its first frames and an error wrapping
// ErrCorrupt. Frame.Image is reused from one call of fn to the next.
//
// The Info is filled in whenever ffprobe could read the header, also when
// the video is then refused.
func Frames(ctx context.Context, path string, opts Options, fn func(Frame) error) (Info, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return Info{}, err
	}
	if fn == nil {
		return Info{}, fmt.Errorf("%w: no frame callback", ErrInvalidOptions)
	}
	ctx, cancel := withTimeout(ctx, o)
	defer cancel()
	p, err := probe(ctx, path, o)
	if err != nil {
		return p.info, err
	}
	if !o.Crop.Empty() && !o.Crop.In(image.Rect(0, 0, p.info.Width, p.info.Height)) {
		return p.info, fmt.Errorf("%w: crop %v outside the %dx%d frame", ErrInvalidOptions, o.Crop, p.info.Width, p.info.Height)
	}
	return p.info, extract(ctx, p, o, fn)
}

// outSize is the size of the frames ffmpeg delivers.
func outSize(p probed, o Options) (w, h int) {
	if o.ResizeWidth > 0 {
		return o.ResizeWidth, o.ResizeHeight
	}
	if !o.Crop.Empty() {
		return o.Crop.Dx(), o.Crop.Dy()
	}
	return p.info.Width, p.info.Height
}

// ffmpegArgs is the command line that decodes p's video stream to raw RGB
// on stdout, with one showinfo line on stderr for each frame delivered (and,
// when sampling, one for each frame decoded).
func ffmpegArgs(p probed, o Options) []string {
	w, h := outSize(p, o)
	var vf []string
	if o.FPS > 0 {
		// Keep the first frame of each 1/FPS-second interval; the 1e-6
		// keeps a frame that falls on a boundary, computed a hair short of
		// it, in its own interval. A timestamp that goes back (a stream
		// spliced together) starts over.
		f := strconv.FormatFloat(o.FPS, 'f', -1, 64)
		bucket := func(t string) string { return "floor(" + t + "*" + f + "+1e-6)" }
		vf = append(vf, "showinfo@pre=checksum=0",
			"select=isnan(prev_selected_t)+lt(t\\,prev_selected_t)+gte("+bucket("t")+"\\,"+bucket("prev_selected_t")+"+1)")
	}
	// swscale's Lanczos filter with accurate rounding reproduces the
	// reference's published hashes best (see the package comment). Going
	// through rgb24 drops any alpha, as the reference does; ffmpeg then
	// pads the pixels to opaque RGBA, the layout of an *image.RGBA, so that
	// Go hands them to PDQ without a pass of its own.
	if c := o.Crop; !c.Empty() {
		// exact: chroma-subsampled video would otherwise have its offsets
		// rounded to even pixels.
		vf = append(vf, fmt.Sprintf("crop=w=%d:h=%d:x=%d:y=%d:exact=1", c.Dx(), c.Dy(), c.Min.X, c.Min.Y))
	}
	vf = append(vf, fmt.Sprintf("scale=%d:%d:flags=lanczos+accurate_rnd", w, h), "format=rgb24", "format=rgba",
		"showinfo@post=checksum=0")
	return []string{
		"-nostdin", "-hide_banner", "-nostats", "-loglevel", "repeat+level+info",
		"-protocol_whitelist", protocols, "-format_whitelist", Demuxers,
		// The decoder refuses frames over the cap whatever the header said
		// (with room for codecs that pad frames to whole blocks, e.g. 64
		// pixels for HEVC).
		"-max_pixels", strconv.Itoa((o.MaxWidth + 128) * (o.MaxHeight + 128)),
		// Read no further than the duration cap (and a second, to tell a
		// file that lied about its duration).
		"-t", strconv.FormatFloat((o.MaxDuration + time.Second).Seconds(), 'f', 3, 64),
		"-i", p.url,
		"-map", "0:" + strconv.Itoa(p.stream), "-an", "-sn", "-dn",
		"-vf", strings.Join(vf, ","),
		"-fps_mode", "passthrough",
		"-f", "rawvideo", "-pix_fmt", "rgba", "pipe:1",
	}
}

// extract runs ffmpeg on a probed file and hands each frame to fn.
func extract(ctx context.Context, p probed, o Options, fn func(Frame) error) error {
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	cmd, err := limitedCommand(runCtx, o, o.Nice, o.FFmpeg, ffmpegArgs(p, o)...)
	if err != nil {
		return startError(o.FFmpeg, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("video: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return fmt.Errorf("video: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return startError(o.FFmpeg, err)
	}

	ps := &parser{sampled: o.FPS > 0, frameRate: p.info.FrameRate, maxDuration: o.MaxDuration}
	q := newMetaQueue()
	parsed := make(chan struct{})
	go func() {
		defer close(parsed)
		defer q.close()
		lr := newLineReader(stderr)
		for {
			line, err := lr.next()
			if err != nil {
				return
			}
			if m, ok := ps.line(line); ok {
				q.push(m)
			}
		}
	}()

	w, h := outSize(p, o)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	delivered := 0
	var loopErr, fnErr error
	for loopErr == nil && fnErr == nil {
		m, ok := q.next(runCtx)
		if !ok {
			break
		}
		if m.overrun {
			loopErr = fmt.Errorf("%w: a frame at %v, the limit is %v (the header said %v)",
				ErrTooLong, m.ts, o.MaxDuration, p.info.Duration)
			break
		}
		if m.w != w || m.h != h {
			loopErr = fmt.Errorf("%w: frame %d is %dx%d, expected %dx%d", ErrCorrupt, m.index, m.w, m.h, w, h)
			break
		}
		if _, err := io.ReadFull(stdout, img.Pix); err != nil {
			loopErr = fmt.Errorf("%w: frame %d cut short: %v", ErrCorrupt, m.index, err)
			break
		}
		fnErr = fn(Frame{Index: m.index, Timestamp: m.ts, Image: img})
		delivered++
	}
	if loopErr == nil && fnErr == nil {
		// Every frame on stdout must have had its showinfo line.
		var one [1]byte
		if n, _ := io.ReadFull(stdout, one[:]); n > 0 {
			loopErr = fmt.Errorf("%w: ffmpeg sent a frame without its timestamp", ErrCorrupt)
		}
	}
	killed := loopErr != nil || fnErr != nil
	if killed {
		stop() // kills ffmpeg's process group
	}
	<-parsed
	waitErr := cmd.Wait()
	limitErr := limitError("ffmpeg", cmd, o, killed, &ps.tail)

	switch {
	case fnErr != nil:
		return fnErr
	case ctxError(ctx, o) != nil:
		return ctxError(ctx, o)
	case limitErr != nil:
		// Before loopErr: a decoder stopped by its limit cuts its last
		// frame short, which is not the file's fault.
		return limitErr
	case loopErr != nil:
		if errors.Is(loopErr, ErrCorrupt) && ps.tail.String() != "" {
			return fmt.Errorf("%w; ffmpeg said: %s", loopErr, ps.tail.String())
		}
		return loopErr
	case waitErr != nil:
		return &ToolError{Tool: "ffmpeg", Kind: ErrCorrupt, Exit: exitCode(waitErr), Stderr: ps.tail.String()}
	case delivered == 0:
		return &ToolError{Tool: "ffmpeg", Kind: ErrCorrupt, Stderr: "no frame decoded; " + ps.tail.String()}
	}
	return nil
}

// frameMeta is what a showinfo line says of a delivered frame, or, with
// overrun set, that a frame past Options.MaxDuration was decoded.
type frameMeta struct {
	index   int
	ts      time.Duration
	w, h    int
	overrun bool
}

// maxPending bounds the decoded frames kept to find a delivered frame's
// index by its timestamp.
const maxPending = 4096

// parser turns ffmpeg's stderr into frameMetas and keeps its warnings and
// errors.
type parser struct {
	sampled      bool
	frameRate    float64
	maxDuration  time.Duration
	tbNum, tbDen int64 // the time base of showinfo@post's input
	pending      []showinfoFrame
	lastIndex    int
	overrun      bool // a frame past maxDuration was reported
	tail         tail
}

// line takes one line of stderr; ok when it describes a delivered frame.
func (ps *parser) line(line string) (frameMeta, bool) {
	ctxName, level, msg := logLevel(line)
	switch {
	case strings.HasPrefix(ctxName, "showinfo@pre "):
		f, ok := parseShowinfo(msg)
		if !ok {
			return frameMeta{}, false
		}
		ps.pending = append(ps.pending, f)
		if len(ps.pending) > maxPending {
			ps.pending = append(ps.pending[:0], ps.pending[len(ps.pending)-maxPending/2:]...)
		}
		// Every decoded frame passes here, sampled or not: the one that
		// shows a header understated the duration may be one of them.
		// (pts_time has six significant digits, plenty for the cap.)
		if secs, err := strconv.ParseFloat(f.ptsTime, 64); err == nil && !ps.overrun &&
			secs > ps.maxDuration.Seconds() {
			ps.overrun = true
			return frameMeta{ts: time.Duration(secs * float64(time.Second)), overrun: true}, true
		}
		return frameMeta{}, false
	case strings.HasPrefix(ctxName, "showinfo@post "):
		if rest, ok := strings.CutPrefix(msg, "config in time_base:"); ok {
			ps.tbNum, ps.tbDen = parseTimeBase(rest)
			return frameMeta{}, false
		}
		f, ok := parseShowinfo(msg)
		if !ok {
			return frameMeta{}, false
		}
		m := ps.meta(f)
		if m.ts > ps.maxDuration && !ps.overrun {
			ps.overrun = true
			m.overrun = true
		}
		return m, true
	}
	// A line without a level tag is not ffmpeg's logger: the dynamic loader,
	// glibc or prlimit, whose words explain a limit hit before ffmpeg ran.
	if worthKeeping(level) || (level == "" && ctxName == "") {
		if ctxName != "" {
			msg = ctxName + ": " + msg
		}
		ps.tail.add(msg)
	}
	return frameMeta{}, false
}

// meta completes a delivered frame's description: its decoding index and
// timestamp (from the frame rate when ffmpeg has none; never negative).
func (ps *parser) meta(f showinfoFrame) frameMeta {
	m := frameMeta{index: f.n, w: f.w, h: f.h}
	known := false
	if f.hasPTS && ps.tbDen > 0 {
		m.ts, known = time.Duration(math.Round(float64(f.pts)*float64(ps.tbNum)/float64(ps.tbDen)*float64(time.Second))), true
	} else if secs, err := strconv.ParseFloat(f.ptsTime, 64); err == nil && !math.IsNaN(secs) && !math.IsInf(secs, 0) {
		m.ts, known = time.Duration(math.Round(secs*float64(time.Second))), true
	}
	if ps.sampled {
		m.index = ps.decodedIndex(f, m.ts, known)
	}
	if !known && ps.frameRate > 0 {
		m.ts = time.Duration(math.Round(float64(m.index) / ps.frameRate * float64(time.Second)))
	}
	m.ts = max(m.ts, 0)
	ps.lastIndex = m.index
	return m
}

// decodedIndex finds the decoded frame a delivered one is: the next decoded
// frame with the same timestamp (all of them, for a stream without
// timestamps, where every frame is delivered).
func (ps *parser) decodedIndex(f showinfoFrame, ts time.Duration, known bool) int {
	for i, d := range ps.pending {
		if d.hasPTS == f.hasPTS && (!f.hasPTS || d.pts == f.pts) {
			ps.pending = ps.pending[i+1:]
			return d.n
		}
	}
	// Not seen (cannot happen with ffmpeg's ordering): estimate.
	if known && ps.frameRate > 0 {
		return max(int(math.Round(ts.Seconds()*ps.frameRate)), ps.lastIndex+1)
	}
	return ps.lastIndex + 1
}

// showinfoFrame is one frame line of ffmpeg's showinfo filter.
type showinfoFrame struct {
	n       int
	pts     int64
	hasPTS  bool
	ptsTime string
	w, h    int
}

// parseShowinfo parses "n:   0 pts:      0 pts_time:0       pos: 21514
// fmt:rgb24 sar:0/1 s:480x720 i:P ..." (a key and its value may be glued or
// apart, as the widths of the numbers decide).
func parseShowinfo(msg string) (showinfoFrame, bool) {
	if !strings.HasPrefix(msg, "n:") {
		return showinfoFrame{}, false
	}
	var f showinfoFrame
	fields := strings.Fields(msg)
	seen := 0
	for i := 0; i < len(fields); i++ {
		key, val, _ := strings.Cut(fields[i], ":")
		if val == "" && i+1 < len(fields) && !strings.Contains(fields[i+1], ":") {
			i++
			val = fields[i]
		}
		switch key {
		case "n":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return f, false
			}
			f.n = n
			seen++
		case "pts":
			if v, err := strconv.ParseInt(val, 10, 64); err == nil {
				f.pts, f.hasPTS = v, true
			}
		case "pts_time":
			f.ptsTime = val
		case "s":
			ws, hs, ok := strings.Cut(val, "x")
			w, err1 := strconv.Atoi(ws)
			h, err2 := strconv.Atoi(hs)
			if !ok || err1 != nil || err2 != nil || w <= 0 || h <= 0 {
				return f, false
			}
			f.w, f.h = w, h
			seen++
		}
	}
	return f, seen == 2
}

// parseTimeBase parses " 1/15360, frame_rate: 30/1".
func parseTimeBase(s string) (num, den int64) {
	s, _, _ = strings.Cut(strings.TrimSpace(s), ",")
	n, d, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0
	}
	num, err1 := strconv.ParseInt(n, 10, 64)
	den, err2 := strconv.ParseInt(d, 10, 64)
	if err1 != nil || err2 != nil || num <= 0 || den <= 0 {
		return 0, 0
	}
	return num, den
}

// metaQueue hands frameMetas from the stderr reader to the frame loop. It
// is unbounded so that reading stderr never waits for the frame loop: ffmpeg
// blocked on a full stderr pipe would never send the frame the loop waits
// for.
type metaQueue struct {
	mu     sync.Mutex
	items  []frameMeta
	closed bool
	ready  chan struct{}
}

func newMetaQueue() *metaQueue { return &metaQueue{ready: make(chan struct{}, 1)} }

func (q *metaQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *metaQueue) push(m frameMeta) {
	q.mu.Lock()
	q.items = append(q.items, m)
	q.mu.Unlock()
	q.signal()
}

func (q *metaQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

// next waits for the next frameMeta; ok is false once the queue is closed
// and empty or ctx has ended.
func (q *metaQueue) next(ctx context.Context) (frameMeta, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			m := q.items[0]
			q.items = q.items[1:]
			if len(q.items) == 0 {
				q.items = nil
			}
			q.mu.Unlock()
			return m, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return frameMeta{}, false
		}
		select {
		case <-q.ready:
		case <-ctx.Done():
			return frameMeta{}, false
		}
	}
}
