// Package robustness measures how well the pipeline's hashes and match
// decisions survive what re-uploaders do to an image: it banks a set of
// pictures, makes altered copies of each (demo.Alterations), puts every copy
// through the same hashing, matching and policy as the services, and counts
// per alteration the copies that matched their original, and over all pairs
// of distinct pictures the false matches.
package robustness

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"sync"

	"golang.org/x/image/draw"

	"github.com/takedown-pipeline/takedown/pkg/bank"
	"github.com/takedown-pipeline/takedown/pkg/demo"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/mediahash"
	"github.com/takedown-pipeline/takedown/pkg/policy"
)

// Config says what to evaluate and with which parts of the pipeline.
type Config struct {
	// Images are the files of the pictures, which must be distinct
	// pictures: a match between two of them counts as false.
	Images []string
	// Seed makes the random parts of the alterations repeatable.
	Seed uint64
	// MaxSide: originals larger than this are first scaled down to fit, as
	// platforms store them (and so the run takes minutes, not hours).
	MaxSide int
	// Hash returns an upload's signals, as the hasher service computes them.
	Hash func(ctx context.Context, data []byte) ([]events.Signal, error)
	// BankHash returns the signals a bank entry made from the media holds.
	BankHash func(ctx context.Context, data []byte) ([]events.Signal, error)
	// NewBanks returns empty banks with the matcher's thresholds.
	NewBanks func() *bank.Banks
	// Policy turns matches into decisions, as the enforcer does.
	Policy policy.Policy
	// Alterations to apply; nil means demo.Alterations().
	Alterations []demo.Alteration
	// Workers hashing in parallel; 0 means GOMAXPROCS.
	Workers int
	// With64Bit turns phash and dhash matching on for the evaluation's
	// bank. They are off by default, as in the matcher: on pictures such as
	// wallpapers and gradients they match unrelated pictures even at
	// distance 0.
	With64Bit bool
}

// Row is the result of one alteration.
type Row struct {
	Alteration  string `json:"alteration"`
	Description string `json:"description"`
	Copies      int    `json:"copies"`
	// Matched copies matched their original (take down or review).
	Matched int `json:"matched"`
	// Removed copies were taken down without review on their original.
	Removed int `json:"removed"`
	// FalseMatches counts (copy, other original) pairs that matched.
	FalseMatches int `json:"false_matches"`
	// Pairs is the number of (copy, other original) pairs.
	Pairs int `json:"pairs"`
	// Missed names the pictures whose copy did not match, for a closer look.
	Missed []string `json:"missed,omitempty"`
	// False lists the false matches as "copy-of -> matched".
	False []string `json:"false,omitempty"`
}

// MatchedShare is Matched / Copies.
func (r Row) MatchedShare() float64 { return share(r.Matched, r.Copies) }

// RemovedShare is Removed / Copies.
func (r Row) RemovedShare() float64 { return share(r.Removed, r.Copies) }

func share(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// Report is a whole evaluation.
type Report struct {
	Images  int      `json:"images"`
	Skipped []string `json:"skipped,omitempty"`
	// Originals is the row of the unaltered pictures matched against each
	// other: only its false matches say anything.
	Originals Row   `json:"originals"`
	Rows      []Row `json:"rows"`
	// FalseMatches and Pairs add up every row and the originals.
	FalseMatches int `json:"false_matches"`
	Pairs        int `json:"pairs"`
}

type picture struct {
	name string
	img  image.Image
	data []byte // as banked: JPEG at quality 92
}

// Run performs the evaluation.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Hash == nil || cfg.BankHash == nil || cfg.NewBanks == nil {
		return Report{}, errors.New("robustness: Hash, BankHash and NewBanks are required")
	}
	if cfg.Alterations == nil {
		cfg.Alterations = demo.Alterations()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxSide <= 0 {
		cfg.MaxSide = 1024
	}
	var rep Report
	loaded, skipped := load(ctx, cfg)
	rep.Skipped = skipped
	// Reference practice, and the matcher's default, is not to match PDQ
	// hashes of quality below 50 (flat, dark or featureless pictures): such
	// a picture cannot be found by PDQ, altered or not, and is left out.
	var (
		pics   []picture
		banked [][]events.Signal
	)
	for _, p := range loaded {
		sigs, err := cfg.BankHash(ctx, p.data)
		if err != nil {
			return rep, fmt.Errorf("banking %s: %w", p.name, err)
		}
		if q := wholeQuality(sigs); q < MinQuality {
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s: PDQ quality %d is below %d", p.name, q, MinQuality))
			continue
		}
		pics, banked = append(pics, p), append(banked, sigs)
	}
	if len(pics) < 2 {
		return rep, fmt.Errorf("robustness: %d usable pictures; need at least 2", len(pics))
	}
	rep.Images = len(pics)

	banks := cfg.NewBanks()
	if cfg.With64Bit {
		c := events.DefaultBankConfig()
		c.Signals = []events.BankSignalConfig{
			{Type: events.SignalPHash, Enabled: true, Threshold: bank.DefaultThresholdPHash},
			{Type: events.SignalDHash, Enabled: true, Threshold: bank.DefaultThresholdDHash},
		}
		if err := banks.Apply(events.NewBankConfigure("eval", c)); err != nil {
			return Report{}, fmt.Errorf("configuring the evaluation bank: %w", err)
		}
	}
	for i, p := range pics {
		u := events.NewBankAdd("eval", nil, banked[i])
		u.EntryID = fmt.Sprint(i)
		if err := banks.Apply(u); err != nil {
			return rep, fmt.Errorf("banking %s: %w", p.name, err)
		}
	}

	orig := demo.Alteration{Name: "original", Description: "the banked file itself",
		Apply: func(image.Image, uint64) []byte { return nil }}
	for k, alt := range append([]demo.Alteration{orig}, cfg.Alterations...) {
		row, err := evaluate(ctx, cfg, banks, pics, banked, alt, k)
		if err != nil {
			return rep, err
		}
		if k == 0 {
			rep.Originals = row
		} else {
			rep.Rows = append(rep.Rows, row)
		}
		rep.FalseMatches += row.FalseMatches
		rep.Pairs += row.Pairs
	}
	return rep, nil
}

// MinQuality is the PDQ quality below which a picture is left out.
const MinQuality = 50

// wholeQuality is the quality of the whole-picture PDQ among sigs, or -1.
func wholeQuality(sigs []events.Signal) int {
	for _, s := range sigs {
		if s.Type == events.SignalPDQ && s.Variant == "" && s.Quality != nil {
			return *s.Quality
		}
	}
	return -1
}

// whyMissed says how far a copy's PDQ hashes (every variant, whatever its
// quality) came from its original's and how good the copy's whole-picture
// hash is: enough to tell a copy PDQ cannot see (quality below the minimum)
// from one it sees too differently.
func whyMissed(copySigs, orig []events.Signal) string {
	best := -1
	for _, q := range copySigs {
		if q.Type != events.SignalPDQ {
			continue
		}
		for _, o := range orig {
			if o.Type != events.SignalPDQ {
				continue
			}
			if d, err := hexDistance(q.Value, o.Value); err == nil && (best < 0 || d < best) {
				best = d
			}
		}
	}
	return fmt.Sprintf("closest pdq %d, quality %d", best, wholeQuality(copySigs))
}

func hexDistance(a, b string) (int, error) {
	x, err := hex.DecodeString(a)
	if err != nil {
		return 0, err
	}
	y, err := hex.DecodeString(b)
	if err != nil || len(x) != len(y) {
		return 0, fmt.Errorf("hashes of different lengths")
	}
	d := 0
	for i := range x {
		d += bits.OnesCount8(x[i] ^ y[i])
	}
	return d, nil
}

// load decodes the pictures and makes their banked form.
func load(ctx context.Context, cfg Config) ([]picture, []string) {
	var (
		pics    []picture
		skipped []string
	)
	for _, path := range cfg.Images {
		data, err := os.ReadFile(path)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("%s: %v", path, err))
			continue
		}
		img, _, err := mediahash.DecodeImage(ctx, data, mediahash.Limits{})
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("%s: %v", path, err))
			continue
		}
		if b := img.Bounds(); max(b.Dx(), b.Dy()) > cfg.MaxSide {
			img = demo.Fit(img, cfg.MaxSide, cfg.MaxSide)
		} else {
			// One pixel layout for every picture, whatever its file held.
			rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
			draw.Draw(rgba, rgba.Rect, img, b.Min, draw.Src)
			img = rgba
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 92}); err != nil {
			skipped = append(skipped, fmt.Sprintf("%s: %v", path, err))
			continue
		}
		pics = append(pics, picture{name: filepath.Base(path), img: img, data: buf.Bytes()})
	}
	return pics, skipped
}

// evaluate applies one alteration to every picture and matches the copies.
func evaluate(ctx context.Context, cfg Config, banks *bank.Banks, pics []picture, banked [][]events.Signal, alt demo.Alteration, k int) (Row, error) {
	row := Row{Alteration: alt.Name, Description: alt.Description, Copies: len(pics), Pairs: len(pics) * (len(pics) - 1)}
	type result struct {
		i       int
		matched bool
		removed bool
		wrong   []string
		why     string
		err     error
	}
	results := make([]result, len(pics))
	var wg sync.WaitGroup
	next := make(chan int)
	for range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := &results[i]
				r.i = i
				data := pics[i].data
				if k > 0 {
					data = alt.Apply(pics[i].img, cfg.Seed+uint64(1000*k+i))
				}
				sigs, err := cfg.Hash(ctx, data)
				if err != nil {
					r.err = fmt.Errorf("%s of %s: %w", alt.Name, pics[i].name, err)
					continue
				}
				matches := banks.Match(sigs)
				own := fmt.Sprint(i)
				var ownMatches []events.Match
				others := map[int]events.Match{}
				for _, m := range matches {
					if m.EntryID == own {
						ownMatches = append(ownMatches, m)
					} else if n, err := strconv.Atoi(m.EntryID); err == nil {
						if o, seen := others[n]; !seen || m.Distance < o.Distance {
							others[n] = m
						}
					}
				}
				r.matched = len(ownMatches) > 0
				if !r.matched {
					r.why = whyMissed(sigs, banked[i])
				}
				d := cfg.Policy.Decide(ownMatches)
				r.removed = d.Action == policy.ActionRemove
				for n, m := range others {
					v := m.SignalType
					if m.Variant != "" {
						v += ":" + m.Variant
					}
					r.wrong = append(r.wrong, fmt.Sprintf("%s -> %s (%s distance %d)", pics[i].name, pics[n].name, v, m.Distance))
				}
			}
		}()
	}
	for i := range pics {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return row, err
	}
	for _, r := range results {
		if r.err != nil {
			return row, r.err
		}
		if r.matched {
			row.Matched++
		} else {
			row.Missed = append(row.Missed, pics[r.i].name+" ("+r.why+")")
		}
		if r.removed {
			row.Removed++
		}
		row.FalseMatches += len(r.wrong)
		row.False = append(row.False, r.wrong...)
	}
	sort.Strings(row.Missed)
	slices.Sort(row.False)
	return row, nil
}
