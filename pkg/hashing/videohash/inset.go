package videohash

import (
	"image"
	"math"
	"slices"
)

// Picture-in-picture: a copy shows the bank video shrunk inside other
// footage (a reaction video, a news report's inset, a frame of moving
// graphics). PDQ of the whole frame does not survive it, and nothing about
// one frame says where the inset is. Over time it does: the inset's border
// is a long straight edge that stays put while the footage on both sides of
// it changes. insetFinder counts, per pixel, the sampled frames in which an
// edge passes there, and looks for rectangles whose four sides are edges in
// most frames; the crop of each frame to the best few is hashed as an extra
// upload hash of the frame (events.VideoFrame.Insets), which the matcher
// looks up like the frame's own.

const (
	// insetEdge is the smallest luma step (0-255, over two pixels) that
	// counts as an edge.
	insetEdge = 12
	// insetMinArea and insetMaxArea bound a candidate's share of the frame:
	// an inset smaller than a quarter of the frame is too small to hash (a
	// 60% inset is 36%), and one larger than 85% is the frame itself less
	// a margin, which the bank's centre crops cover.
	insetMinArea, insetMaxArea = 0.25, 0.85
	// insetMinScore is the lowest score of a candidate: its sides' edge
	// persistence, less that of the lines beside them (see score).
	insetMinScore = 0.25
	// insetMinFrames is the fewest sampled frames candidates are looked for
	// on: on one or two frames every edge is persistent.
	insetMinFrames = 3
	// MaxInsets bounds the inset candidates hashed per frame, and with them
	// the index probes per frame.
	MaxInsets = 3
	// insetLines is how many peaks of the column (row) profile become
	// candidate sides.
	insetLines = 8
	// insetAside is how far (pixels) from a side the lines compared with it
	// lie.
	insetAside = 4
)

// insetFinder accumulates the edges of the frames of one video, all of the
// same size.
type insetFinder struct {
	w, h   int
	frames int
	// vert[y*w+x] counts the frames with a vertical edge at (x, y) (a step
	// between x-1 and x+1); horiz likewise for horizontal edges.
	vert, horiz []uint16
	lum         []int16
}

// add counts the edges of one frame. A frame of another size than the first
// is ignored (frames are all scaled to FrameSide).
func (f *insetFinder) add(img image.Image) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if f.frames == 0 && f.vert == nil {
		f.w, f.h = w, h
		f.vert, f.horiz, f.lum = make([]uint16, w*h), make([]uint16, w*h), make([]int16, w*h)
	}
	if w != f.w || h != f.h || w < 8 || h < 8 || f.frames == 1<<16-1 {
		return
	}
	f.frames++
	lumaOf(img, f.lum)
	for y := range h {
		row, count := f.lum[y*w:(y+1)*w], f.vert[y*w:(y+1)*w]
		for x := 1; x < len(row)-1; x++ {
			if d := row[x+1] - row[x-1]; d >= insetEdge || d <= -insetEdge {
				count[x]++
			}
		}
	}
	for y := 1; y < h-1; y++ {
		up, down, count := f.lum[(y-1)*w:y*w], f.lum[(y+1)*w:(y+2)*w], f.horiz[y*w:(y+1)*w]
		for x := range count {
			if d := down[x] - up[x]; d >= insetEdge || d <= -insetEdge {
				count[x]++
			}
		}
	}
}

// lumaOf writes img's luma (PDQ's weights, 0-255) into dst.
func lumaOf(img image.Image, dst []int16) {
	b := img.Bounds()
	w := b.Dx()
	if rgba, ok := img.(*image.RGBA); ok {
		for y := range b.Dy() {
			off := (y+b.Min.Y-rgba.Rect.Min.Y)*rgba.Stride + (b.Min.X-rgba.Rect.Min.X)*4
			p := rgba.Pix[off : off+4*w]
			d := dst[y*w : (y+1)*w]
			for x := range d {
				q := p[4*x : 4*x+3]
				d[x] = int16((299*int32(q[0]) + 587*int32(q[1]) + 114*int32(q[2]) + 500) / 1000)
			}
		}
		return
	}
	for y := range b.Dy() {
		for x := range w {
			r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			dst[y*w+x] = int16((299*int32(r>>8) + 587*int32(g>>8) + 114*int32(bl>>8) + 500) / 1000)
		}
	}
}

// insetCandidate is a rectangle and its score.
type insetCandidate struct {
	r     image.Rectangle
	score float64
}

// candidates returns up to limit rectangles, best first, in the frames'
// coordinates: the inner part of each (its border lines excluded).
func (f *insetFinder) candidates(limit int) []image.Rectangle {
	if f.frames < insetMinFrames || limit <= 0 {
		return nil
	}
	w, h := f.w, f.h
	n := float64(f.frames)
	// Persistence along a vertical segment at column x, rows y0..y1-1, as a
	// share of frames and pixels.
	vseg := func(x, y0, y1 int) float64 {
		if x < 0 || x >= w {
			return 0
		}
		s := 0
		for y := y0; y < y1; y++ {
			s += int(f.vert[y*w+x])
		}
		return float64(s) / (n * float64(y1-y0))
	}
	hseg := func(y, x0, x1 int) float64 {
		if y < 0 || y >= h {
			return 0
		}
		s := 0
		row := f.horiz[y*w:]
		for x := x0; x < x1; x++ {
			s += int(row[x])
		}
		return float64(s) / (n * float64(x1-x0))
	}
	// A side's score: its persistence less the smaller of the lines
	// insetAside pixels either side of it. Inside a textured area every
	// line is an edge in many frames, and so are both neighbours: such a
	// line scores low. A border has, on at least one side, footage whose
	// edges move or a plain field; the inset itself may be as textured
	// as its border is persistent (a still picture, a detailed scene:
	// taking the larger neighbour, as this did first, missed 5 of the 40
	// corpus videos' insets although their borders were edges in 90% of
	// frames). The edge of a side blurred over two pixels by scaling is
	// taken at the better of the two.
	vside := func(x, y0, y1 int) float64 {
		on := max(vseg(x, y0, y1), vseg(x+1, y0, y1))
		return on - min(vseg(x-insetAside, y0, y1), vseg(x+1+insetAside, y0, y1))
	}
	hside := func(y, x0, x1 int) float64 {
		on := max(hseg(y, x0, x1), hseg(y+1, x0, x1))
		return on - min(hseg(y-insetAside, x0, x1), hseg(y+1+insetAside, x0, x1))
	}
	cols := peaks(w, func(x int) float64 { return vside(x, 0, h) })
	rows := peaks(h, func(y int) float64 { return hside(y, 0, w) })
	var cands []insetCandidate
	area := float64(w * h)
	for i, x0 := range cols {
		for _, x1 := range cols[i+1:] {
			if x1-x0 < w/4 {
				continue
			}
			for j, y0 := range rows {
				for _, y1 := range rows[j+1:] {
					a := float64((x1-x0)*(y1-y0)) / area
					if y1-y0 < h/4 || a < insetMinArea || a > insetMaxArea {
						continue
					}
					// The weakest side decides: a rectangle drawn through
					// one long edge of the content scores on that edge
					// alone.
					s := min(vside(x0, y0, y1), vside(x1, y0, y1), hside(y0, x0, x1), hside(y1, x0, x1))
					if s >= insetMinScore {
						r := image.Rect(
							edgeAt(x0, func(x int) float64 { return vseg(x, y0, y1) }),
							edgeAt(y0, func(y int) float64 { return hseg(y, x0, x1) }),
							edgeAt(x1, func(x int) float64 { return vseg(x, y0, y1) }),
							edgeAt(y1, func(y int) float64 { return hseg(y, x0, x1) }))
						cands = append(cands, insetCandidate{r, s})
					}
				}
			}
		}
	}
	slices.SortStableFunc(cands, func(a, b insetCandidate) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	var out []image.Rectangle
	for _, c := range cands {
		// Two candidates a pixel or two apart are one inset.
		if slices.ContainsFunc(out, func(r image.Rectangle) bool { return near(r, c.r, 3) }) {
			continue
		}
		out = append(out, c.r)
		if len(out) == limit {
			break
		}
	}
	return out
}

// edgeAt places a side found at line p on the pixel grid: the edge
// detector (a step over two pixels) fires on the one or two lines either
// side of a sharp border, on a few more around one that scaling blurred, so
// the border lies at the centre of the lines near p that fire at least half
// as often as the most frequent one. It returns the first line past the
// border (a rectangle's Min) or, which is the same number, the end of the
// lines before it (its Max).
func edgeAt(p int, persistence func(int) float64) int {
	top := 0.0
	for q := p - 2; q <= p+3; q++ {
		top = max(top, persistence(q))
	}
	var sum, weight float64
	for q := p - 2; q <= p+3; q++ {
		if v := persistence(q); v >= top/2 && v > 0 {
			sum += float64(q) * v
			weight += v
		}
	}
	if weight == 0 {
		return p + 1
	}
	return int(math.Round(sum/weight + 0.5))
}

// near reports whether every side of a is within d pixels of b's.
func near(a, b image.Rectangle, d int) bool {
	return abs(a.Min.X-b.Min.X) <= d && abs(a.Min.Y-b.Min.Y) <= d && abs(a.Max.X-b.Max.X) <= d && abs(a.Max.Y-b.Max.Y) <= d
}

// peaks returns the positions 2..n-3 of the insetLines highest scores
// (positive ones only, at least insetAside apart), in increasing order.
func peaks(n int, score func(int) float64) []int {
	s := make([]float64, n)
	for i := range n {
		s[i] = score(i)
	}
	type peak struct {
		at int
		v  float64
	}
	var ps []peak
	for i := 2; i < n-2; i++ {
		if s[i] > 0 {
			ps = append(ps, peak{i, s[i]})
		}
	}
	slices.SortStableFunc(ps, func(a, b peak) int {
		switch {
		case a.v > b.v:
			return -1
		case a.v < b.v:
			return 1
		}
		return a.at - b.at
	})
	// A side blurred over two or three pixels is one line: a weaker line
	// within insetAside pixels of a stronger one is dropped.
	var kept []peak
	for _, p := range ps {
		if !slices.ContainsFunc(kept, func(k peak) bool { return p.at-k.at < insetAside && k.at-p.at < insetAside }) {
			kept = append(kept, p)
			if len(kept) == insetLines {
				break
			}
		}
	}
	ps = kept
	out := make([]int, len(ps))
	for i, p := range ps {
		out[i] = p.at
	}
	slices.Sort(out)
	return out
}
