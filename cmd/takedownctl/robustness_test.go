package main

import (
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/takedown-pipeline/takedown/cmd/takedownctl/internal/robustness"
)

// The negatives' column, row and total appear only when a negative set was
// given.
func TestPrintRobustnessNegatives(t *testing.T) {
	base := robustness.Report{
		Images:    3,
		Originals: robustness.Row{Alteration: "original", Copies: 3, Matched: 3, Pairs: 6},
		Rows:      []robustness.Row{{Alteration: "mirror", Copies: 3, Matched: 2, Removed: 1, Pairs: 6, Missed: []string{"c.png (closest pdq 40, quality 90)"}}},
		Pairs:     12,
	}
	withNeg := base
	withNeg.Negatives = 4
	withNeg.Originals.NegativePairs = 12
	withNeg.Rows = []robustness.Row{base.Rows[0]}
	withNeg.Rows[0].NegativePairs = 12
	withNeg.NegativeOriginals = &robustness.Row{Alteration: "negative originals", Copies: 4, NegativeFalseMatches: 1, NegativePairs: 24,
		False: []string{"n1.png -> n2.png (pdq distance 12)"}}
	withNeg.NegativeFalseMatches, withNeg.NegativePairs = 1, 48
	for _, tc := range []struct {
		name    string
		rep     robustness.Report
		want    []string
		notWant []string
	}{
		{"without", base, []string{"3 pictures, 1 alterations", "mirror missed: c.png"}, []string{"negative"}},
		{"with", withNeg, []string{"3 pictures, 4 negatives, 1 alterations", "against negatives", "0 / 12", "1 / 24",
			"against the negative set: 1 of 48 pairs", "negative originals false match: n1.png -> n2.png"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			printRobustness(&out, tc.rep, true)
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out.String(), w) {
					t.Errorf("output has %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// The pip-60 copy of a video is the same in every run: the robustness
// figures of one run are comparable with another's.
func TestPipCopiesAreReproducible(t *testing.T) {
	needFFmpeg(t)
	frames := func() string {
		out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=2",
			"-filter_complex", pipGraph(320, 240), "-f", "framemd5", "-").Output()
		if err != nil {
			t.Fatalf("ffmpeg: %v", err)
		}
		return string(out)
	}
	first, second := frames(), frames()
	if n := strings.Count(first, "\n0,"); n < 40 {
		t.Fatalf("%d frames of a 2 s pip copy:\n%s", n, first)
	}
	if first != second {
		t.Error("two runs made different pip copies of the same video")
	}
}

func TestPickVideoAlterations(t *testing.T) {
	names := func(alts []videoAlteration) []string {
		var out []string
		for _, a := range alts {
			out = append(out, a.Name)
		}
		return out
	}
	all := names(videoAlterations())
	for _, tc := range []struct {
		only []string
		want []string // nil: an error
	}{
		{nil, all},
		{[]string{""}, all},
		{[]string{"mirror", "pip-60"}, []string{"pip-60", "mirror"}},
		{[]string{"original"}, []string{}},
		{[]string{"original", "crop-10"}, []string{"crop-10"}},
		{[]string{"pip-60", "pip-70"}, nil},
		{[]string{"banner"}, nil}, // a picture alteration
	} {
		got, err := pickVideoAlterations(tc.only)
		if tc.want == nil {
			if err == nil {
				t.Errorf("%q: no error, got %q", tc.only, names(got))
			} else if !strings.Contains(err.Error(), "known: original, reencode-150k") {
				t.Errorf("%q: error %q does not list the known alterations", tc.only, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.only, err)
			continue
		}
		if g := names(got); !slices.Equal(g, tc.want) && !(len(g) == 0 && len(tc.want) == 0) {
			t.Errorf("%q: got %q, want %q", tc.only, g, tc.want)
		}
	}
}
