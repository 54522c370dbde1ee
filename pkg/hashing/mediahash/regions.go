package mediahash

import (
	"fmt"
	"image"

	"golang.org/x/image/draw"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/framing"
	"github.com/takedown-pipeline/takedown/pkg/hashing/pdq"
)

// Parts of the picture hashed besides the whole, so that altered copies still
// match (docs/matching.md, "Robustness"). PDQ sees the whole frame: a banner, a logo or
// a crop moves every coefficient. Two kinds of extra hashes answer that.
//
// Symmetric regions are hashed on both sides, upload and bank entry: the top
// 80% of a copy with a banner over its bottom is the top 80% of the
// original, so the two hashes agree where the whole-picture hashes do not.
// They cost an upload four DCTs of an already blurred picture.
//
// The crop grid is hashed for bank entries only: regions of 95% of each side
// at 7x7 positions and of 90% at 13x13. A copy cropped by up to 10%,
// unevenly, is then close to one of them; an upload cannot do this for
// itself (it lacks the part that was cut away). It costs a bank entry 218
// more hashes, computed from one blur, and grows the PDQ index accordingly,
// which is why only entries made from media carry it: a hash list's entries
// (GIFCT, TAT) are plain hashes and match crops no better than PDQ does.
// The 90% regions are denser because PDQ samples a region at 64 points a
// side: at 7 positions (1.7% of a side apart) a copy cut by 10% could sit
// more than half a sample from every region, and pictures of fine detail
// (text, brickwork, foliage) were 38-76 bits away (93.6% of crop-10
// detected, 41.8% taken down); at 13 (0.83% apart) 97.3% and 90.0%
// (docs/matching.md, "Robustness").
var (
	symmetricRegions = []region{
		{"top80", pdq.Box{X0: 0, Y0: 0, X1: 1, Y1: 0.8}},
		{"bottom80", pdq.Box{X0: 0, Y0: 0.2, X1: 1, Y1: 1}},
		{"left75", pdq.Box{X0: 0, Y0: 0, X1: 0.75, Y1: 1}},
		{"right75", pdq.Box{X0: 0.25, Y0: 0, X1: 1, Y1: 1}},
	}
	cropGrid = append(makeCropGrid([]int{95}, 7), makeCropGrid([]int{90}, 13)...)
	// centreCrops are bank-side regions of the centre of the picture, the
	// same share of each side kept (a crop from every edge at once: a
	// platform's frame or a watermark cut away, a square cut from the
	// middle). The crop grid stops at 90%, and a copy cut by 10% from every
	// edge was 38-98 bits from its nearest hash (2.7% matched, docs/matching.md
	// "Robustness"); with these 99.1%. Five more hashes per entry.
	centreCrops = makeCentreCrops([]int{85, 80, 75, 70, 65})
)

// makeCentreCrops returns the centred regions keeping each scale (percent of
// a side), as variants centre<scale>.
func makeCentreCrops(scales []int) []region {
	out := make([]region, len(scales))
	for i, s := range scales {
		m := (1 - float64(s)/100) / 2
		out[i] = region{variant: fmt.Sprintf("centre%d", s), box: pdq.Box{X0: m, Y0: m, X1: 1 - m, Y1: 1 - m}}
	}
	return out
}

type region struct {
	variant string
	box     pdq.Box
}

// makeCropGrid returns, for each scale (percent of a side kept), n x n
// regions spread evenly from one corner to the other; the variant
// crop<scale>-<x>-<y> gives the position as percent of the slack.
func makeCropGrid(scales []int, n int) []region {
	var out []region
	for _, s := range scales {
		f := float64(s) / 100
		for iy := range n {
			for ix := range n {
				px, py := float64(ix)/float64(n-1), float64(iy)/float64(n-1)
				x0, y0 := (1-f)*px, (1-f)*py
				out = append(out, region{
					variant: fmt.Sprintf("crop%d-%d-%d", s, int(100*px+0.5), int(100*py+0.5)),
					box:     pdq.Box{X0: x0, Y0: y0, X1: x0 + f, Y1: y0 + f},
				})
			}
		}
	}
	return out
}

func boxes(rs []region) []pdq.Box {
	out := make([]pdq.Box, len(rs))
	for i, r := range rs {
		out[i] = r.box
	}
	return out
}

func pdqSignal(r pdq.Result, variant string) events.Signal {
	q := r.Quality
	return events.Signal{Type: events.SignalPDQ, Value: r.Hash.String(), Quality: &q, Variant: variant}
}

// Derived hashes (every PDQ but the plain whole picture's: its mirrors and
// rotations, regions, crops, trims, the embedded picture, the resized
// copies) are this project's own, never shared, and each one more chance
// for an unrelated picture to match. Two kinds are left out:
//
//   - banded ones, on both sides (pdq.Hash.Banded): the hash of a picture of straight bands, or of a blob or an edge on a plain
//     ground, is a product pattern of rows that every such picture shares.
//     On the robustness negative set (3,584 pictures) such hashes made most
//     of the false matches between different pictures: flags against flags
//     and pictograms, through crops, trims, the embedded picture and
//     transposes, 0 to 30 bits apart; the hashes that matched were banded
//     16 or less. No hash of the corpus's natural pictures is (their least
//     Banding is 32). The whole-picture hash stays, as the reference has
//     it, so a flag is still found by its own hash (docs/matching.md,
//     "Robustness");
//   - bank hashes of quality below minBankQuality, the matcher's floor for an
//     upload's hash (bank.DefaultLowPDQQuality): a crop of an empty margin or
//     a plain field is noise, and matched plain flags 30 bits away.
const minBankQuality = 30

// appendDerived appends the signal of a derived hash r unless it is left
// out (above); bank says it is for a bank entry.
func appendDerived(sigs []events.Signal, r pdq.Result, variant string, bank bool) []events.Signal {
	if r.Hash.Banded() || (bank && r.Quality < minBankQuality) {
		return sigs
	}
	return append(sigs, pdqSignal(r, variant))
}

// framedSignals are the PDQ hashes of a picture smaller than 512 pixels
// enlarged to that size ("upscaled"), of the picture without its uniform
// borders ("trim") and, for an upload, of a picture found inside a
// screenshot ("embedded"); none when there is no such part.
func framedSignals(img image.Image, upload bool) []events.Signal {
	sub, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	})
	if !ok {
		return nil
	}
	var out []events.Signal
	if b := img.Bounds(); max(b.Dx(), b.Dy()) < hashMinSide {
		// A thumbnail or a shrunk copy, hashed as if it had the size the
		// original was hashed at (see atHashSize).
		out = appendDerived(out, pdqImage(atHashSize(img)), "upscaled", !upload)
	}
	if r, b := framing.Trim(img), img.Bounds(); r != b {
		// Hashed at the working size: a small picture trimmed one line
		// more or less than its original (JPEG blurs the bars' edges)
		// would otherwise straddle a step of PDQ's blur window (128
		// pixels) and land 50 bits away.
		out = appendDerived(out, pdqImage(atHashSize(sub.SubImage(r))), "trim", !upload)
		// Letterbox bars are above and below only, pillarbox bars beside
		// only; a dark or plain edge of the picture itself can pass for a
		// bar on the other sides (a night sky), so each axis is also
		// trimmed alone.
		if tb := image.Rect(b.Min.X, r.Min.Y, b.Max.X, r.Max.Y); tb != r && tb != b {
			out = appendDerived(out, pdqImage(atHashSize(sub.SubImage(tb))), "trim-tb", !upload)
		}
		if lr := image.Rect(r.Min.X, b.Min.Y, r.Max.X, b.Max.Y); lr != r && lr != b {
			out = appendDerived(out, pdqImage(atHashSize(sub.SubImage(lr))), "trim-lr", !upload)
		}
	}
	if upload {
		if r, ok := framing.Embedded(img); ok {
			out = appendDerived(out, pdqImage(atHashSize(sub.SubImage(r))), "embedded", !upload)
		}
	}
	return out
}

// atHashSize enlarges a picture smaller than PDQ's 512-pixel working size to
// that size. A picture inside a screenshot is small (a third of a phone
// screen's pixels, halved again by the scaled decode); hashed at its own
// size, PDQ's blur window is narrower than for the original banked at 512
// and the two hashes drift 40-50 bits apart.
func atHashSize(img image.Image) image.Image {
	b := img.Bounds()
	long := max(b.Dx(), b.Dy())
	if long >= 512 || long == 0 {
		return img
	}
	f := 512 / float64(long)
	dst := image.NewRGBA(image.Rect(0, 0, max(1, int(float64(b.Dx())*f+0.5)), max(1, int(float64(b.Dy())*f+0.5))))
	draw.BiLinear.Scale(dst, dst.Rect, img, b, draw.Src, nil)
	return dst
}

// smallSide is the longer side of the "small" copy a bank entry also hashes.
// Pictures with fine detail (text, brickwork, stripes) hash differently once
// a platform has shrunk them to a thumbnail or preview: the detail turns to
// grey, or aliases, and PDQ's bits near the median flip. A hash of the entry
// at thumbnail size is close to such copies where the full-size hash is
// 32-40 bits away (docs/matching.md, "Robustness").
const smallSide = 192

// smallCopy shrinks img to fit smallSide by area averaging, as thumbnailers
// do; false when img is not larger than that.
func smallCopy(img image.Image) (image.Image, bool) {
	b := img.Bounds()
	long := max(b.Dx(), b.Dy())
	if long <= smallSide {
		return nil, false
	}
	w := max(1, (b.Dx()*smallSide+long/2)/long)
	h := max(1, (b.Dy()*smallSide+long/2)/long)
	return reduce(img, image.Pt(w, h)), true
}

// BankPictureSignals computes the perceptual signals a bank entry made from a
// decoded picture holds: pdq of the whole picture, of the picture without
// its uniform borders, of the symmetric regions and of the crop grid, of a
// thumbnail-sized copy; phash and dhash. Dihedral variants are left to uploads: one side suffices.
// Derived pdq hashes that are banded or of low quality are left out (see
// appendDerived).
func BankPictureSignals(img image.Image) ([]events.Signal, error) {
	rs := append(append(append([]region{}, symmetricRegions...), cropGrid...), centreCrops...)
	whole, parts := pdqDihedralRegions(img, boxes(rs))
	p, d, err := ImageHashes(img)
	if err != nil {
		return nil, err
	}
	sigs := make([]events.Signal, 0, len(parts)+4)
	sigs = append(sigs, pdqSignal(whole[0], ""))
	sigs = append(sigs, framedSignals(img, false)...)
	if s, ok := smallCopy(img); ok {
		sigs = appendDerived(sigs, pdq.Image(s), "small", true)
	}
	for i, r := range parts {
		sigs = appendDerived(sigs, r, rs[i].variant, true)
	}
	return append(sigs,
		events.Signal{Type: events.SignalPHash, Value: FormatHash64(p)},
		events.Signal{Type: events.SignalDHash, Value: FormatHash64(d)},
	), nil
}
