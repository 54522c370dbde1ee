package mediahash

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/pdq"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// sharedTestdata returns a folder of the reference test data, which lives
// beside the project (../shared/testdata from the repository root), never in
// it. Without it the test is skipped, unless TAKEDOWN_TEST_REQUIRE_SERVICES=1
// (CI) makes that a failure.
func sharedTestdata(t testing.TB, sub string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "..", "shared", "testdata", sub))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("TAKEDOWN_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("reference test data missing: %v", err)
		}
		t.Skipf("reference test data not available: %v", err)
	}
	return dir
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// lumaThumb reduces img to n x n (squashing it) and returns its luminance
// with the mean removed, so that exposure differences do not count.
func lumaThumb(img image.Image, n int) []float64 {
	r := boxReduce(img, n, n)
	out := make([]float64, n*n)
	var mean float64
	for i := range out {
		out[i] = 0.299*float64(r.Pix[4*i]) + 0.587*float64(r.Pix[4*i+1]) + 0.114*float64(r.Pix[4*i+2])
		mean += out[i]
	}
	for i := range out {
		out[i] -= mean / float64(len(out))
	}
	return out
}

func meanAbsDiff(a, b []float64) float64 {
	var d float64
	for i := range a {
		d += math.Abs(a[i] - b[i])
	}
	return d / float64(len(a))
}

// meanPixelDiff is the mean absolute difference of the R, G and B values of
// two images of the same size.
func meanPixelDiff(t testing.TB, a, b image.Image) float64 {
	t.Helper()
	ra, rb := toRGBA(a), toRGBA(b)
	if ra.Bounds().Size() != rb.Bounds().Size() {
		t.Fatalf("sizes differ: %v vs %v", ra.Bounds(), rb.Bounds())
	}
	var d float64
	for i := range ra.Pix {
		if i%4 != 3 {
			d += math.Abs(float64(ra.Pix[i]) - float64(rb.Pix[i]))
		}
	}
	return d / float64(len(ra.Pix)/4*3)
}

// The reference files are photos of one scene taken with the phone held four
// ways; the camera stored the sensor's pixels and the EXIF orientation. After
// decoding, each must be upright: of the four rotations of the decoded
// picture, the one decoding produced (no further rotation) must look most
// like the upright reference exif-rotn-1.jpg. The photos differ (they are not
// one picture rotated), so the comparison is of coarse luminance layout, and
// only rotations compete: mirror images are what no camera produces.
func TestEXIFRotationFiles(t *testing.T) {
	dir := sharedTestdata(t, "pdq/reg-test-input/exif-rotn")
	ref, err := DecodeForHashing(context.Background(), readFile(t, filepath.Join(dir, "exif-rotn-1.jpg")), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	refThumb := lumaThumb(ref.Image, 4)
	tests := []struct {
		file   string
		orient Orientation
		w, h   int
	}{
		{"exif-rotn-3.jpg", OrientRotate180, 4032, 3024},
		{"exif-rotn-6.jpg", OrientRotate90, 3024, 4032},
		{"exif-rotn-8.jpg", OrientRotate270, 3024, 4032},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data := readFile(t, filepath.Join(dir, tt.file))
			if got := scanJPEG(data).orientation; got != tt.orient {
				t.Fatalf("EXIF orientation %d, want %d", got, tt.orient)
			}
			pic, err := DecodeForHashing(context.Background(), data, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if pic.Width != tt.w || pic.Height != tt.h {
				t.Errorf("picture %dx%d, want %dx%d upright", pic.Width, pic.Height, tt.w, tt.h)
			}
			if b := pic.Image.Bounds(); (b.Dx() > b.Dy()) != (tt.w > tt.h) {
				t.Errorf("reduced image %v is not upright", b)
			}
			dist := map[Orientation]float64{}
			for _, o := range []Orientation{OrientNormal, OrientRotate90, OrientRotate180, OrientRotate270} {
				dist[o] = meanAbsDiff(lumaThumb(orient(pic.Image, o), 4), refThumb)
			}
			t.Logf("distance to the upright reference after a further rotation: %v", dist)
			for o, d := range dist {
				if o != OrientNormal && dist[OrientNormal] > 0.8*d {
					t.Errorf("decoded picture is %.1f from upright, rotated by orientation %d it is %.1f", dist[OrientNormal], o, d)
				}
			}
		})
	}
	// DecodeImage applies the orientation too, in full.
	data := readFile(t, filepath.Join(dir, "exif-rotn-6.jpg"))
	full, _, err := DecodeImage(context.Background(), data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if b := full.Bounds(); b.Dx() != 3024 || b.Dy() != 4032 {
		t.Fatalf("DecodeImage bounds %v, want 3024x4032", b)
	}
	pic, _ := DecodeForHashing(context.Background(), data, Limits{})
	if d := meanAbsDiff(lumaThumb(full, 16), lumaThumb(pic.Image, 16)); d > 2 {
		t.Errorf("DecodeImage and DecodeForHashing differ by %.1f", d)
	}
}

// The colour-mode files are one picture saved by PIL in many modes and
// formats (palette, CMYK JPEG, grey, alpha, WebP): every one must decode, and
// hash close to the original JPEG.
func TestColourModeFiles(t *testing.T) {
	dir := sharedTestdata(t, "pdq/misc-images/modes")
	orig, err := Hash(context.Background(), readFile(t, filepath.Join(dir, "original.jpg")), events.ContentImage, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	origPDQ, err := pdq.ParseHex(orig.Signal(events.SignalPDQ))
	if err != nil {
		t.Fatal(err)
	}
	origP, _ := ParseHash64(orig.Signal(events.SignalPHash))
	origImg, _, err := DecodeImage(context.Background(), readFile(t, filepath.Join(dir, "original.jpg")), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.*"))
	n := 0
	for _, f := range files {
		if filepath.Ext(f) == ".md" {
			continue
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			data := readFile(t, f)
			img, _, err := DecodeImage(context.Background(), data, Limits{})
			if err != nil {
				t.Fatalf("DecodeImage: %v", err)
			}
			if !isOpaque(img) {
				t.Errorf("DecodeImage returned a transparent %T", img)
			}
			// The colour files show the original's colours (PIL's CMYK is
			// 255 minus RGB, stored inverted with an Adobe marker).
			if name := filepath.Base(f); name == "CMYK.jpg" || name == "RGBA.png" || name == "RGB.jpg" {
				if d := meanPixelDiff(t, img, origImg); d > 4 {
					t.Errorf("%.2f from the original's pixels", d)
				}
			}
			res, err := Hash(context.Background(), data, events.ContentImage, Limits{})
			if err != nil {
				t.Fatalf("Hash: %v", err)
			}
			if res.Info.Width != orig.Info.Width || res.Info.Height != orig.Info.Height {
				t.Errorf("size %dx%d, want %dx%d", res.Info.Width, res.Info.Height, orig.Info.Width, orig.Info.Height)
			}
			h, err := pdq.ParseHex(res.Signal(events.SignalPDQ))
			if err != nil {
				t.Fatal(err)
			}
			p, _ := ParseHash64(res.Signal(events.SignalPHash))
			d, dp := pdq.Distance(h, origPDQ), Distance64(p, origP)
			t.Logf("pdq distance %d, phash distance %d", d, dp)
			if d > 10 || dp > 6 {
				t.Errorf("pdq distance %d (want <= 10), phash distance %d (want <= 6) to the original", d, dp)
			}
		})
	}
	if n < 10 {
		t.Errorf("only %d files in %s", n, dir)
	}
}

// Hash must give PDQ values close to the reference's published hashes
// through the reduced decoding it uses (the pdq package's own conformance
// test decodes in full): within the distance the pure-Python reference's
// test allows, and within the C++ reference's 10 bits for decoded files, the
// reference's correctness rule, with nothing added for the reduction: the
// pdq the hasher emits is the one shared with other platforms.
func TestReferenceHashesThroughHash(t *testing.T) {
	for _, ref := range testenv.PDQReferences(t, "") {
		want, err := pdq.ParseHex(ref.Hex)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(ref.Path)
		res, err := Hash(context.Background(), readFile(t, ref.Path), events.ContentImage, Limits{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got, err := pdq.ParseHex(res.Signal(events.SignalPDQ))
		if err != nil {
			t.Fatal(err)
		}
		d := pdq.Distance(got, want)
		t.Logf("%s (%s): distance %d", name, ref.Source, d)
		if d > ref.MaxDistance {
			t.Errorf("%s: pdq %v is %d from the %s reference %v, allowed %d", name, got, d, ref.Source, want, ref.MaxDistance)
		}
	}
}

// PDQ of the reduced picture Hash decodes must stay close to PDQ of the full
// decode hashed at its full size, as the reference C++ hashes the pixels it
// is given, over every JPEG of the reference data.
func TestReducedDecodeKeepsPDQ(t *testing.T) {
	dir := sharedTestdata(t, "pdq")
	var files []string
	for _, g := range []string{"bridge-mods/*.jpg", "reg-test-input/dih/*.jpg", "reg-test-input/labelme-subset/*.jpg",
		"misc-images/*.jpg", "misc-images/modes/*.jpg", "reg-test-input/exif-rotn/*.jpg"} {
		m, _ := filepath.Glob(filepath.Join(dir, g))
		files = append(files, m...)
	}
	if len(files) < 30 {
		t.Fatalf("only %d reference JPEGs", len(files))
	}
	// libjpeg-turbo's DCT-domain scaling resamples properly; without cgo the
	// reduction is a box filter over whole pixels of the full decode, which
	// aliases at factors such as 8/3 (measured: mean 2.27, max 8 with
	// libjpeg-turbo; mean 4.81, max 10 with image/jpeg).
	maxDist, maxMean := 8, 3.0
	if JPEGDecoder != "libjpeg-turbo" {
		maxDist, maxMean = 10, 5.0
	}
	sum := 0
	for _, f := range files {
		data := readFile(t, f)
		img, _, err := DecodeImage(context.Background(), data, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		full := pdq.NewFullSizeHasher().Image(img)
		res, err := Hash(context.Background(), data, events.ContentImage, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := pdq.ParseHex(res.Signal(events.SignalPDQ))
		d := pdq.Distance(got, full.Hash)
		sum += d
		if d > maxDist {
			t.Errorf("%s: pdq of the reduced picture is %d from that of the full decode at full size, want <= %d", filepath.Base(f), d, maxDist)
		}
	}
	mean := float64(sum) / float64(len(files))
	t.Logf("%d files: mean distance %.2f (%s)", len(files), mean, JPEGDecoder)
	if mean > maxMean {
		t.Errorf("mean distance %.2f over %d files, want <= %.0f", mean, len(files), maxMean)
	}
}

// A rotated or mirrored copy must match the original through the dihedral
// variant of the same name: the reference's own transformed copies of one
// photo (named in the order of pdq.DihedralVariants) are each nearest to
// that variant of the original, within PDQ's match threshold of 31.
func TestDihedralVariantsMatchTransformedFiles(t *testing.T) {
	dir := sharedTestdata(t, "pdq/reg-test-input/dih")
	files := []string{"bridge-1-original.jpg", "bridge-2-rotate-90.jpg", "bridge-3-rotate-180.jpg", "bridge-4-rotate-270.jpg",
		"bridge-5-flipx.jpg", "bridge-6-flipy.jpg", "bridge-7-flip-plus-1.jpg", "bridge-8-flip-minus-1.jpg"}
	orig, err := Hash(context.Background(), readFile(t, filepath.Join(dir, files[0])), events.ContentImage, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	variants := map[string]pdq.Hash{}
	for _, s := range orig.Signals {
		if s.Type == events.SignalPDQ {
			h, err := pdq.ParseHex(s.Value)
			if err != nil {
				t.Fatal(err)
			}
			if s.Quality == nil || *s.Quality < 50 {
				t.Errorf("variant %q: quality %v", s.Variant, s.Quality)
			}
			variants[s.Variant] = h
		}
	}
	for _, v := range pdq.DihedralVariants {
		if _, ok := variants[v]; !ok {
			t.Fatalf("no pdq variant %q among %d", v, len(variants))
		}
	}
	for i, file := range files {
		res, err := Hash(context.Background(), readFile(t, filepath.Join(dir, file)), events.ContentImage, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := pdq.ParseHex(res.Signal(events.SignalPDQ))
		best, bestD := "", 257
		for name, v := range variants {
			if d := pdq.Distance(v, plain); d < bestD {
				best, bestD = name, d
			}
		}
		want := pdq.DihedralVariants[i]
		t.Logf("%s: nearest variant of the original %q at %d", file, best, bestD)
		if best != want || bestD > 31 {
			t.Errorf("%s: nearest variant of the original is %q at %d, want %q within 31", file, best, bestD, want)
		}
	}
}

func TestHashScale(t *testing.T) {
	tests := []struct {
		w, h, scale, sw, sh int
	}{
		{4032, 3024, 1, 504, 378}, // 1/8 keeps the longer side at 504
		{3024, 4032, 1, 378, 504},
		{4096, 3072, 1, 512, 384},
		{1280, 800, 3, 480, 300},
		{1024, 768, 4, 512, 384}, // 3/8 would be 384 wide
		{1000, 1000, 4, 500, 500},
		{1600, 1004, 3, 600, 377}, // 376.5 rounded up, as libjpeg does
		{585, 100, 7, 512, 88},    // 511.875 rounded up; 6/8 would be 439
		{600, 10, 6, 450, 8},
		{512, 512, 7, 448, 448},
		{511, 300, 7, 448, 263}, // 447.125 rounded up
		{447, 300, 8, 447, 300},
		{1, 1, 8, 1, 1},
		{50_000_000, 1, 1, 6_250_000, 1},
	}
	for _, tt := range tests {
		scale, size := hashScale(tt.w, tt.h)
		if scale != tt.scale || size != image.Pt(tt.sw, tt.sh) {
			t.Errorf("hashScale(%d, %d) = %d/8, %v; want %d/8, %dx%d", tt.w, tt.h, scale, size, tt.scale, tt.sw, tt.sh)
		}
		if long := max(size.X, size.Y); long < min(hashMinSide, max(tt.w, tt.h)) {
			t.Errorf("hashScale(%d, %d): longer side %d below %d", tt.w, tt.h, long, hashMinSide)
		}
	}
}

// A transparent picture is hashed as it is shown over white: whatever a
// fully transparent pixel stores is invisible and must not count.
func TestTransparencyFlattenedOverWhite(t *testing.T) {
	const w, h = 640, 480
	scene := natural(70, w, h)
	// A logo: the scene inside an ellipse, transparent outside, with a
	// soft edge. Outside, the transparent pixels store random colours.
	logo := image.NewNRGBA(image.Rect(0, 0, w, h))
	onWhite := image.NewRGBA(logo.Rect)
	junk := natural(71, w, h)
	for y := range h {
		for x := range w {
			dx, dy := float64(x-w/2)/(w/2.5), float64(y-h/2)/(h/2.5)
			a := math.Max(0, math.Min(1, (1-math.Hypot(dx, dy))*8))
			c := scene.RGBAAt(x, y)
			if a == 0 {
				c = junk.RGBAAt(x, y)
			}
			logo.SetNRGBA(x, y, color.NRGBA{c.R, c.G, c.B, uint8(math.Round(a * 255))})
			na := float64(uint8(math.Round(a * 255)))
			blend := func(v uint8) uint8 {
				if na == 0 {
					return 255
				}
				return uint8(math.Round(float64(v)*na/255 + 255*(1-na/255)))
			}
			onWhite.SetRGBA(x, y, color.RGBA{blend(c.R), blend(c.G), blend(c.B), 255})
		}
	}
	// The GIF: a palette with a transparent entry.
	pal := color.Palette{color.RGBA{}, color.RGBA{200, 30, 30, 255}}
	gifImg := image.NewPaletted(image.Rect(0, 0, 64, 48), pal)
	for i := range gifImg.Pix {
		gifImg.Pix[i] = uint8(i / 64 % 2) // alternate transparent and red rows
	}
	var gifData bytes.Buffer
	if err := gif.Encode(&gifData, gifImg, nil); err != nil {
		t.Fatal(err)
	}

	img, _, err := DecodeImage(context.Background(), encodePNG(t, logo), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if d := meanPixelDiff(t, img, onWhite); d > 0.5 {
		t.Errorf("PNG with alpha differs from the logo drawn on white by %.2f", d)
	}
	// The same for hashing: the transparent logo hashes like the opaque
	// logo on white, not like the junk it hides.
	a, err := Hash(context.Background(), encodePNG(t, logo), events.ContentImage, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Hash(context.Background(), encodePNG(t, onWhite), events.ContentImage, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	// Averaging before or after flattening rounds differently, hence
	// small distances rather than none.
	if d := pdqDistance(t, a, b); d > 8 {
		t.Errorf("pdq of the transparent logo is %d from the logo on white's", d)
	}
	if d := hash64Distance(t, a, b, events.SignalPHash) + hash64Distance(t, a, b, events.SignalDHash); d > 2 {
		t.Errorf("phash and dhash of the transparent logo are %d from the logo on white's", d)
	}
	// Dropping alpha instead (PIL's convert("RGB")) shows the junk.
	opaque := image.NewRGBA(logo.Rect)
	for i := range logo.Pix {
		opaque.Pix[i] = logo.Pix[i]
		if i%4 == 3 {
			opaque.Pix[i] = 255
		}
	}
	c, err := Hash(context.Background(), encodePNG(t, opaque), events.ContentImage, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if d := pdqDistance(t, c, b); d < 32 {
		t.Errorf("control: with alpha dropped, pdq is only %d from the logo on white's", d)
	}
	gimg, _, err := DecodeImage(context.Background(), gifData.Bytes(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for y := range 48 {
		want := color.RGBA{255, 255, 255, 255}
		if y%2 == 1 {
			want = color.RGBA{200, 30, 30, 255}
		}
		if r, g, b, a := gimg.At(3, y).RGBA(); (color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}) != want {
			t.Fatalf("GIF row %d: %v, want %v", y, gimg.At(3, y), want)
		}
	}
}

func TestFlatten(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 4, 1))
	copy(img.Pix, []uint8{
		0, 0, 0, 0, // transparent
		100, 50, 0, 100, // premultiplied: 100/255 opaque
		10, 20, 30, 255, // opaque
		90, 90, 90, 80, // corrupt premultiplication (r > a): kept within range
	})
	flatten(img)
	want := []uint8{255, 255, 255, 255, 255, 205, 155, 255, 10, 20, 30, 255, 255, 255, 255, 255}
	if !bytes.Equal(img.Pix, want) {
		t.Errorf("flatten = %v, want %v", img.Pix, want)
	}
}

func TestTooManyScans(t *testing.T) {
	base := encodeJPEG(t, natural(80, 64, 48), 80)
	eoi := bytes.LastIndex(base, []byte{0xff, markerEOI})
	// Empty scans of component 1 appended after the real one: the
	// structure of a crafted progressive file, without its data.
	withScans := func(n int) []byte {
		out := append([]byte(nil), base[:eoi]...)
		out = append(out, bytes.Repeat([]byte{0xff, markerSOS, 0, 8, 1, 1, 0, 0, 63, 0}, n)...)
		return append(out, 0xff, markerEOI)
	}
	for _, f := range []func([]byte) error{
		func(d []byte) error { _, _, err := DecodeImage(context.Background(), d, Limits{}); return err },
		func(d []byte) error { _, err := DecodeForHashing(context.Background(), d, Limits{}); return err },
		func(d []byte) error {
			_, err := Hash(context.Background(), d, events.ContentImage, Limits{})
			return err
		},
	} {
		err := f(withScans(100)) // 101 scans
		if !errors.Is(err, ErrTooManyScans) || !strings.Contains(err.Error(), "101 scans") {
			t.Errorf("101 scans: %v, want ErrTooManyScans saying 101", err)
		}
		if err := f(withScans(99)); errors.Is(err, ErrTooManyScans) {
			t.Errorf("100 scans: %v", err)
		}
	}
	if _, err := DecodeForHashing(context.Background(), withScans(10), Limits{MaxScans: 5}); !errors.Is(err, ErrTooManyScans) {
		t.Errorf("11 scans, MaxScans 5: %v, want ErrTooManyScans", err)
	}
}

// The reduced picture Hash works on is the full decode, box-filtered: for
// the formats Go decodes exactly that, and for libjpeg's DCT-domain scaling
// a close approximation.
func TestDecodeForHashingMatchesFullDecode(t *testing.T) {
	img := natural(90, 1000, 700)
	tests := []struct {
		name    string
		data    []byte
		maxDiff float64
	}{
		{"png", encodePNG(t, img), 0},
		{"gif", encodeGIF(t, img), 0},
		{"jpeg", encodeJPEG(t, img, 90), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			full, _, err := DecodeImage(context.Background(), tt.data, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			pic, err := DecodeForHashing(context.Background(), tt.data, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if pic.Width != 1000 || pic.Height != 700 || pic.Image.Bounds() != image.Rect(0, 0, 500, 350) {
				t.Fatalf("picture %dx%d, image %v; want 1000x700 reduced to 500x350 (4/8)", pic.Width, pic.Height, pic.Image.Bounds())
			}
			want := boxReduce(full, 500, 350)
			d := meanPixelDiff(t, pic.Image, want)
			t.Logf("mean difference %.2f (%s)", d, JPEGDecoder)
			if d > tt.maxDiff {
				t.Errorf("reduced picture differs from the reduced full decode by %.2f, want <= %.2f", d, tt.maxDiff)
			}
		})
	}
}

func TestCMYKToRGBA(t *testing.T) {
	for _, inverted := range []bool{false, true} {
		var pix []byte
		var want []color.RGBA
		for _, v := range [][4]uint8{{0, 0, 0, 0}, {255, 255, 255, 255}, {10, 200, 128, 30}, {255, 0, 0, 0}, {0, 0, 0, 255}, {77, 1, 254, 128}} {
			stored := v
			if inverted {
				for i := range stored {
					stored[i] = 255 - stored[i]
				}
			}
			pix = append(pix, stored[:]...)
			r, g, b := color.CMYKToRGB(v[0], v[1], v[2], v[3])
			want = append(want, color.RGBA{r, g, b, 255})
		}
		cmykToRGBA(pix, inverted)
		for i, w := range want {
			got := color.RGBA{pix[4*i], pix[4*i+1], pix[4*i+2], pix[4*i+3]}
			d := func(a, b uint8) int { return max(int(a)-int(b), int(b)-int(a)) }
			if d(got.R, w.R) > 1 || d(got.G, w.G) > 1 || d(got.B, w.B) > 1 || got.A != 255 {
				t.Errorf("inverted=%v pixel %d: %v, want %v (image/color)", inverted, i, got, w)
			}
		}
	}
}

func pdqDistance(t testing.TB, a, b Result) int {
	t.Helper()
	x, err := pdq.ParseHex(a.Signal(events.SignalPDQ))
	if err != nil {
		t.Fatal(err)
	}
	y, err := pdq.ParseHex(b.Signal(events.SignalPDQ))
	if err != nil {
		t.Fatal(err)
	}
	return pdq.Distance(x, y)
}

func hash64Distance(t testing.TB, a, b Result, typ string) int {
	t.Helper()
	x, err := ParseHash64(a.Signal(typ))
	if err != nil {
		t.Fatal(err)
	}
	y, err := ParseHash64(b.Signal(typ))
	if err != nil {
		t.Fatal(err)
	}
	return Distance64(x, y)
}

// jpegDecode is image/jpeg's decode, the reference for the libjpeg path.
func jpegDecode(t testing.TB, data []byte) image.Image {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return img
}
