package demo

import (
	"image"
	"image/color"
	"math/rand/v2"

	"golang.org/x/image/draw"
)

// Alteration is one way re-uploaders change what they re-share. Apply
// returns the altered copy as the file a platform would receive; seed picks
// the random parts (crop offsets, colours), so a run is repeatable.
type Alteration struct {
	Name        string
	Description string
	Apply       func(img image.Image, seed uint64) []byte
}

// Alterations returns the robustness evaluation's alterations, in the order
// its table lists them.
func Alterations() []Alteration {
	jpeg85 := func(f func(image.Image, *rand.Rand) image.Image) func(image.Image, uint64) []byte {
		return func(img image.Image, seed uint64) []byte {
			return JPEG(f(img, rand.New(rand.NewPCG(seed, 0xa17e4))), 85)
		}
	}
	return []Alteration{
		{"jpeg-q30", "re-encoded as JPEG at quality 30", func(img image.Image, _ uint64) []byte { return JPEG(img, 30) }},
		{"scale-50", "scaled to 50%", jpeg85(func(img image.Image, _ *rand.Rand) image.Image { return Scale(img, 0.5) })},
		{"thumbnail", "shrunk to fit 150x150", jpeg85(func(img image.Image, _ *rand.Rand) image.Image { return Fit(img, 150, 150) })},
		{"brightness", "brightened by 40 levels of 255", jpeg85(func(img image.Image, _ *rand.Rand) image.Image { return Brighten(img, 40) })},
		{"greyscale", "turned to greyscale", jpeg85(func(img image.Image, _ *rand.Rand) image.Image { return Grey(img) })},
		{"crop-5", "5% of the width and of the height cut away, split at random between the sides", jpeg85(func(img image.Image, r *rand.Rand) image.Image { return CropRandom(img, 0.05, r) })},
		{"crop-10", "10% of the width and of the height cut away, split at random between the sides", jpeg85(func(img image.Image, r *rand.Rand) image.Image { return CropRandom(img, 0.10, r) })},
		{"banner", "a coloured banner with text over the bottom 15%", jpeg85(func(img image.Image, r *rand.Rand) image.Image { return Banner(img, 0.15, r) })},
		{"logo", "a semi-transparent logo in a corner", jpeg85(func(img image.Image, r *rand.Rand) image.Image { return Logo(img, r) })},
		{"letterbox", "black bars above and below, each 12% of the picture's height", jpeg85(func(img image.Image, _ *rand.Rand) image.Image { return Letterbox(img, 0.12) })},
		{"mirror", "mirrored left to right", jpeg85(func(img image.Image, _ *rand.Rand) image.Image { return Mirror(img) })},
		{"rotate-90", "rotated 90 degrees clockwise", jpeg85(func(img image.Image, _ *rand.Rand) image.Image { return Rotate90(img) })},
		{"screenshot", "shrunk into a screenshot of a phone feed (interface, text, next post)", func(img image.Image, seed uint64) []byte {
			return JPEG(Screenshot(img, rand.New(rand.NewPCG(seed, 0x5c4ee))), 90)
		}},
		{"centre-crop-5", "5% of the width and of the height cut from every edge (the central 90% x 90% kept)", jpeg85(func(img image.Image, _ *rand.Rand) image.Image { return CropCentre(img, 0.05) })},
		{"centre-crop-10", "10% of the width and of the height cut from every edge (the central 80% x 80% kept)", jpeg85(func(img image.Image, _ *rand.Rand) image.Image { return CropCentre(img, 0.10) })},
		{"centre-crop-15", "15% of the width and of the height cut from every edge (the central 70% x 70% kept)", jpeg85(func(img image.Image, _ *rand.Rand) image.Image { return CropCentre(img, 0.15) })},
		{"screenshot-80", "shrunk to 80% inside feed chrome: a bar with text above, grey margins", jpeg85(func(img image.Image, r *rand.Rand) image.Image { return FeedFrame(img, 0.8, r) })},
	}
}

func rgbaOf(src image.Image) *image.RGBA {
	b := src.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Rect, src, b.Min, draw.Src)
	return out
}

// Fit shrinks img to fit within w x h, keeping its aspect.
func Fit(src image.Image, w, h int) *image.RGBA {
	b := src.Bounds()
	f := min(float64(w)/float64(b.Dx()), float64(h)/float64(b.Dy()), 1)
	out := image.NewRGBA(image.Rect(0, 0, max(1, int(float64(b.Dx())*f+0.5)), max(1, int(float64(b.Dy())*f+0.5))))
	draw.CatmullRom.Scale(out, out.Rect, src, b, draw.Src, nil)
	return out
}

// Grey turns img to greyscale (luma).
func Grey(src image.Image) *image.RGBA {
	out := rgbaOf(src)
	for i := 0; i < len(out.Pix); i += 4 {
		y := uint8((299*int(out.Pix[i]) + 587*int(out.Pix[i+1]) + 114*int(out.Pix[i+2]) + 500) / 1000)
		out.Pix[i], out.Pix[i+1], out.Pix[i+2] = y, y, y
	}
	return out
}

// CropRandom cuts frac of the width and frac of the height away, each split
// between the two opposite sides at a random ratio: people crop unevenly.
func CropRandom(src image.Image, frac float64, r *rand.Rand) *image.RGBA {
	b := src.Bounds()
	cw, ch := int(float64(b.Dx())*frac+0.5), int(float64(b.Dy())*frac+0.5)
	left, top := int(float64(cw)*r.Float64()), int(float64(ch)*r.Float64())
	rect := image.Rect(b.Min.X+left, b.Min.Y+top, b.Max.X-(cw-left), b.Max.Y-(ch-top))
	out := image.NewRGBA(image.Rect(0, 0, rect.Dx(), rect.Dy()))
	draw.Draw(out, out.Rect, src, rect.Min, draw.Src)
	return out
}

// CropCentre cuts edge of the width from the left and from the right, and
// edge of the height from the top and from the bottom: the central
// (1-2 edge) x (1-2 edge) of the picture is kept, as when a re-sharer cuts
// away a platform's frame or a watermark on every side at once.
func CropCentre(src image.Image, edge float64) *image.RGBA {
	b := src.Bounds()
	dx, dy := int(float64(b.Dx())*edge+0.5), int(float64(b.Dy())*edge+0.5)
	rect := image.Rect(b.Min.X+dx, b.Min.Y+dy, b.Max.X-dx, b.Max.Y-dy)
	out := image.NewRGBA(image.Rect(0, 0, rect.Dx(), rect.Dy()))
	draw.Draw(out, out.Rect, src, rect.Min, draw.Src)
	return out
}

// FeedFrame shows img shrunk to scale of each side inside a frame of a
// feed's chrome of the picture's own size: a coloured bar across the top
// carrying an avatar and a line of text, and grey margins around the picture,
// which sits centred below the bar.
func FeedFrame(src image.Image, scale float64, r *rand.Rand) *image.RGBA {
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	g := uint8(200 + r.IntN(40))
	if r.IntN(3) == 0 {
		g = uint8(30 + r.IntN(40)) // a dark theme
	}
	draw.Draw(out, out.Rect, image.NewUniform(color.RGBA{g, g, g, 255}), image.Point{}, draw.Src)
	barH := max(3, int(float64(h)*(1-scale)*0.4+0.5))
	bar := image.Rect(0, 0, w, barH)
	draw.Draw(out, bar, image.NewUniform(color.RGBA{uint8(r.IntN(120)), uint8(r.IntN(120)), uint8(40 + r.IntN(160)), 255}), image.Point{}, draw.Src)
	pad := max(1, barH/6)
	disc(out, image.Rect(pad, pad, pad+barH-2*pad, barH-pad), color.RGBA{245, 245, 245, 255})
	words(out, image.Rect(barH+pad, pad, w-pad, barH-pad), color.RGBA{245, 245, 245, 255}, r)
	pw, ph := max(1, int(float64(w)*scale+0.5)), max(1, int(float64(h)*scale+0.5))
	x0 := (w - pw) / 2
	y0 := barH + (h-barH-ph)/2
	draw.CatmullRom.Scale(out, image.Rect(x0, y0, x0+pw, y0+ph), src, b, draw.Src, nil)
	return out
}

// Banner covers the bottom frac of img with a solid bar of a random colour
// carrying rows of light "words", as captions and news tickers do.
func Banner(src image.Image, frac float64, r *rand.Rand) *image.RGBA {
	out := rgbaOf(src)
	w, h := out.Rect.Dx(), out.Rect.Dy()
	bh := max(1, int(float64(h)*frac+0.5))
	bar := image.Rect(0, h-bh, w, h)
	c := color.RGBA{uint8(r.IntN(160)), uint8(r.IntN(160)), uint8(r.IntN(160)), 255}
	draw.Draw(out, bar, image.NewUniform(c), image.Point{}, draw.Src)
	words(out, bar.Inset(max(2, bh/6)), color.RGBA{245, 245, 245, 255}, r)
	return out
}

// words draws lines of word-like blocks inside area.
func words(dst draw.Image, area image.Rectangle, c color.Color, r *rand.Rand) {
	lineH := max(3, min(area.Dy()/2, 14+r.IntN(8)))
	for y := area.Min.Y; y+lineH <= area.Max.Y; y += lineH * 2 {
		for x := area.Min.X; x < area.Max.X; {
			ww := lineH + r.IntN(4*lineH)
			word := image.Rect(x, y+lineH/5, min(x+ww, area.Max.X), y+lineH)
			draw.Draw(dst, word, image.NewUniform(c), image.Point{}, draw.Src)
			x += ww + lineH/2 + 1
		}
	}
}

// Logo blends a logo (a disc with a bar across it) at half opacity into a
// random corner, a fifth of the picture's width across.
func Logo(src image.Image, r *rand.Rand) *image.RGBA {
	out := rgbaOf(src)
	w, h := out.Rect.Dx(), out.Rect.Dy()
	size := max(4, w/5)
	margin := max(1, w/40)
	x0, y0 := margin, margin
	if r.IntN(2) == 1 {
		x0 = w - size - margin
	}
	if r.IntN(2) == 1 {
		y0 = h - size - margin
	}
	fg := color.RGBA{255, 255, 255, 255}
	if r.IntN(2) == 1 {
		fg = color.RGBA{230, 30, 30, 255}
	}
	rad := float64(size) / 2
	for y := range size {
		for x := range size {
			dx, dy := float64(x)+0.5-rad, float64(y)+0.5-rad
			inDisc := dx*dx+dy*dy <= rad*rad
			inBar := dy > -rad/6 && dy < rad/6 && dx > -rad*0.8 && dx < rad*0.8
			if !inDisc || inBar {
				continue // the bar is a hole, so the logo has an inner edge
			}
			px, py := x0+x, y0+y
			if px < 0 || py < 0 || px >= w || py >= h {
				continue
			}
			i := out.PixOffset(px, py)
			out.Pix[i] = uint8((int(out.Pix[i]) + int(fg.R)) / 2)
			out.Pix[i+1] = uint8((int(out.Pix[i+1]) + int(fg.G)) / 2)
			out.Pix[i+2] = uint8((int(out.Pix[i+2]) + int(fg.B)) / 2)
		}
	}
	return out
}

// Letterbox adds black bars of frac of the picture's height above and below.
func Letterbox(src image.Image, frac float64) *image.RGBA {
	b := src.Bounds()
	bar := int(float64(b.Dy())*frac + 0.5)
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()+2*bar))
	draw.Draw(out, out.Rect, image.NewUniform(color.Black), image.Point{}, draw.Src)
	draw.Draw(out, image.Rect(0, bar, b.Dx(), bar+b.Dy()), src, b.Min, draw.Src)
	return out
}

// Mirror flips img left to right.
func Mirror(src image.Image) *image.RGBA {
	in := rgbaOf(src)
	w, h := in.Rect.Dx(), in.Rect.Dy()
	out := image.NewRGBA(in.Rect)
	for y := range h {
		for x := range w {
			copy(out.Pix[out.PixOffset(w-1-x, y):][:4], in.Pix[in.PixOffset(x, y):][:4])
		}
	}
	return out
}

// Rotate90 turns img 90 degrees clockwise.
func Rotate90(src image.Image) *image.RGBA {
	in := rgbaOf(src)
	w, h := in.Rect.Dx(), in.Rect.Dy()
	out := image.NewRGBA(image.Rect(0, 0, h, w))
	for y := range h {
		for x := range w {
			copy(out.Pix[out.PixOffset(h-1-y, x):][:4], in.Pix[in.PixOffset(x, y):][:4])
		}
	}
	return out
}

// Screenshot shows img as a post in a phone's feed, 720 pixels wide: status
// bar, the poster's avatar and name, the picture shrunk to the column, action
// icons, a caption, and the top of the next post; light or dark theme.
func Screenshot(img image.Image, r *rand.Rand) *image.RGBA {
	const W, H, margin = 720, 1280, 24
	bg, fg, muted := color.RGBA{255, 255, 255, 255}, color.RGBA{20, 20, 20, 255}, color.RGBA{140, 140, 140, 255}
	if r.IntN(2) == 1 {
		bg, fg, muted = color.RGBA{18, 18, 18, 255}, color.RGBA{235, 235, 235, 255}, color.RGBA{120, 120, 120, 255}
	}
	out := image.NewRGBA(image.Rect(0, 0, W, H))
	fill := func(rect image.Rectangle, c color.Color) {
		draw.Draw(out, rect, image.NewUniform(c), image.Point{}, draw.Src)
	}
	fill(out.Rect, bg)
	// Status bar: clock and icons.
	words(out, image.Rect(margin, 10, 140, 40), fg, r)
	fill(image.Rect(W-110, 16, W-margin, 32), fg)
	// Post header: avatar and name.
	y := 70
	avatar := image.Rect(margin, y, margin+56, y+56)
	disc(out, avatar, color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255})
	words(out, image.Rect(margin+72, y+8, margin+72+260, y+30), fg, r)
	words(out, image.Rect(margin+72, y+34, margin+72+160, y+52), muted, r)
	y += 72
	// The picture, as wide as the column, at most 760 tall.
	pic := Fit(img, W-2*margin, 760)
	pb := pic.Bounds()
	if pb.Dx() < W-2*margin && pb.Dy() < 760 {
		// A small picture is shown enlarged to the column, as feeds do.
		f := min(float64(W-2*margin)/float64(pb.Dx()), 760/float64(pb.Dy()))
		big := image.NewRGBA(image.Rect(0, 0, int(float64(pb.Dx())*f), int(float64(pb.Dy())*f)))
		draw.CatmullRom.Scale(big, big.Rect, pic, pb, draw.Src, nil)
		pic, pb = big, big.Rect
	}
	x := (W - pb.Dx()) / 2
	draw.Draw(out, image.Rect(x, y, x+pb.Dx(), y+pb.Dy()), pic, pb.Min, draw.Src)
	y += pb.Dy() + 16
	// Action icons, likes, caption.
	for i := range 3 {
		disc(out, image.Rect(margin+i*52, y, margin+i*52+32, y+32), fg)
	}
	y += 48
	for range 3 {
		if y+24 > H {
			break
		}
		words(out, image.Rect(margin, y, W-margin-r.IntN(200), y+22), fg, r)
		y += 32
	}
	// The next post's header, cut off by the bottom of the screen.
	if y+80 < H {
		y += 24
		disc(out, image.Rect(margin, y, margin+56, y+56), muted)
		words(out, image.Rect(margin+72, y+8, margin+72+220, y+30), fg, r)
	}
	return out
}

func disc(dst *image.RGBA, rect image.Rectangle, c color.RGBA) {
	cx, cy := float64(rect.Min.X+rect.Max.X)/2, float64(rect.Min.Y+rect.Max.Y)/2
	rad := float64(rect.Dx()) / 2
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		for x := rect.Min.X; x < rect.Max.X; x++ {
			dx, dy := float64(x)+0.5-cx, float64(y)+0.5-cy
			if dx*dx+dy*dy <= rad*rad && image.Pt(x, y).In(dst.Rect) {
				dst.SetRGBA(x, y, c)
			}
		}
	}
}
