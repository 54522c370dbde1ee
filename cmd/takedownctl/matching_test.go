package main

import (
	"context"
	"image"
	"image/color"
	"image/draw"
	"strings"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/demo"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
)

// bandedFlag draws a flag of equal bands, vertical or horizontal, on a white
// canvas with a margin at the right and the bottom, as clip-art flags are
// drawn (openclipart-png's, flattened over white).
func bandedFlag(vertical bool, bands ...color.RGBA) *image.RGBA {
	const w, h = 600, 400
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Rect, image.White, image.Point{}, draw.Src)
	fw, fh := w*94/100, h*90/100
	for i, c := range bands {
		r := image.Rect(0, i*fh/len(bands), fw, (i+1)*fh/len(bands))
		if vertical {
			r = image.Rect(i*fw/len(bands), 0, (i+1)*fw/len(bands), fh)
		}
		draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
	}
	return img
}

// Different flags matched through the hashes the pipeline derives (crops,
// trims, the embedded picture, transposes) before banded hashes were left
// out: the PDQ of a picture of bands is a product pattern that every such
// picture shares (docs/matching.md, "Robustness"). In the robustness
// negative set these flags matched each other 0 to 30 bits apart; here, with
// the old code, the Ivory Coast flag's embedded hash matched a crop of the
// plain green flag at 0 bits, and Chad's transposes crops of the Ivory
// Coast's. Each flag still matches its own re-encoded copy. The plain
// whole-picture hashes are the reference's and are left as they are: two
// flags of bands can be within its threshold (logged, not failed).
func TestFlagsOfBandsDoNotMatchEachOther(t *testing.T) {
	var (
		navy   = color.RGBA{0, 32, 96, 255}
		yellow = color.RGBA{254, 223, 0, 255}
		red    = color.RGBA{210, 16, 52, 255}
		orange = color.RGBA{247, 127, 0, 255}
		white  = color.RGBA{255, 255, 255, 255}
		green  = color.RGBA{0, 158, 96, 255}
		blue   = color.RGBA{0, 64, 200, 255}
		violet = color.RGBA{120, 0, 140, 255}
	)
	flags := map[string]*image.RGBA{
		"chad":     bandedFlag(true, navy, yellow, red),
		"ivory":    bandedFlag(true, orange, white, green),
		"bulgaria": bandedFlag(false, white, green, red),
		"monaco":   bandedFlag(false, red, white),
		"libya":    bandedFlag(false, green),
		"rainbow":  bandedFlag(false, red, orange, yellow, green, blue, violet),
	}
	ctx := context.Background()
	m := defaultMatching()
	// banks holds every flag as `bank add` makes it; derived holds only
	// the derived hashes, so that a match there is through them alone.
	banks, derived := m.newBanks(), m.newBanks()
	for name, img := range flags {
		sigs, err := m.bankSignals(ctx, demo.PNG(img))
		if err != nil {
			t.Fatal(err)
		}
		for b, sigs := range map[*bank.Banks][]events.Signal{banks: sigs, derived: withoutWhole(sigs)} {
			u := events.NewBankAdd("flags", nil, sigs)
			u.EntryID = name
			if err := b.Apply(u); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, img := range flags {
		sigs, err := m.uploadSignals(ctx, demo.JPEG(img, 85))
		if err != nil {
			t.Fatal(err)
		}
		own := false
		for _, match := range banks.Match(sigs) {
			if match.EntryID == name {
				own = true
			} else if match.Variant == "" {
				t.Logf("%s matched %s through the whole-picture hash, %d bits", name, match.EntryID, match.Distance)
			}
		}
		if !own {
			t.Errorf("%s did not match its own entry; its pdq: %s", name, pdqOf(sigs))
		}
		for _, match := range derived.Match(withoutWhole(sigs)) {
			if match.EntryID != name {
				t.Errorf("%s matched %s through derived hashes (upload's %s, %d bits)", name, match.EntryID, match.Variant, match.Distance)
			}
		}
	}
}

// withoutWhole returns sigs without the whole picture's pdq hash and the
// exact hashes: what is left are the derived hashes.
func withoutWhole(sigs []events.Signal) []events.Signal {
	var out []events.Signal
	for _, s := range sigs {
		if s.Type == events.SignalPDQ && s.Variant != "" {
			out = append(out, s)
		}
	}
	return out
}

func pdqOf(sigs []events.Signal) string {
	var out []string
	for _, s := range sigs {
		if s.Type == events.SignalPDQ {
			out = append(out, s.Variant+"="+s.Value)
		}
	}
	return strings.Join(out, " ")
}
