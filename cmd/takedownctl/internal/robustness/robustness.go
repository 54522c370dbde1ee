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
	"sync/atomic"

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
	// Progress, if set, is called after each picture's copies are matched
	// with the number done so far and the total (from several goroutines).
	Progress func(done, total int)
	// MinSide leaves out pictures whose shorter side is below it (icons,
	// sprites); 0 keeps every picture.
	MinSide int
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

// picture is one usable picture of the corpus. Only its bank signals are
// kept between the phases: its pixels are loaded again by the worker that
// alters it, so a corpus of thousands of pictures fits in memory.
type picture struct {
	name string
	path string
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
	// Reference practice, and the matcher's default, is not to match PDQ
	// hashes of quality below 50 (flat, dark or featureless pictures): such
	// a picture cannot be found by PDQ, altered or not, and is left out.
	type loaded struct {
		sigs []events.Signal
		skip string
		err  error
	}
	all := make([]loaded, len(cfg.Images))
	Parallel(ctx, cfg.Workers, len(cfg.Images), func(i int) {
		path := cfg.Images[i]
		img, data, err := load(ctx, path, cfg.MaxSide)
		if err != nil {
			all[i].skip = fmt.Sprintf("%s: %v", path, err)
			return
		}
		if b := img.Bounds(); min(b.Dx(), b.Dy()) < cfg.MinSide {
			all[i].skip = fmt.Sprintf("%s: %dx%d is smaller than %d pixels", filepath.Base(path), b.Dx(), b.Dy(), cfg.MinSide)
			return
		}
		sigs, err := cfg.BankHash(ctx, data)
		if err != nil {
			all[i].err = fmt.Errorf("banking %s: %w", filepath.Base(path), err)
			return
		}
		if q := wholeQuality(sigs); q < MinQuality {
			all[i].skip = fmt.Sprintf("%s: PDQ quality %d is below %d", filepath.Base(path), q, MinQuality)
			return
		}
		all[i].sigs = sigs
	})
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	var (
		pics   []picture
		banked [][]events.Signal
	)
	for i, l := range all {
		switch {
		case l.err != nil:
			return rep, l.err
		case l.skip != "":
			rep.Skipped = append(rep.Skipped, l.skip)
		default:
			pics = append(pics, picture{name: filepath.Base(cfg.Images[i]), path: cfg.Images[i]})
			banked = append(banked, l.sigs)
		}
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
	rows, err := evaluate(ctx, cfg, banks, pics, banked, append([]demo.Alteration{orig}, cfg.Alterations...))
	if err != nil {
		return rep, err
	}
	for k, row := range rows {
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

// Parallel calls f(0) .. f(n-1) on workers goroutines, and stops handing
// out work once ctx is done.
func Parallel(ctx context.Context, workers, n int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
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

// load decodes the picture at path and makes its banked form: scaled to fit
// maxSide, as one RGBA layout, encoded as JPEG at quality 92. The same file
// always gives the same pixels and bytes.
func load(ctx context.Context, path string, maxSide int) (image.Image, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	img, _, err := mediahash.DecodeImage(ctx, data, mediahash.Limits{})
	if err != nil {
		return nil, nil, err
	}
	if b := img.Bounds(); max(b.Dx(), b.Dy()) > maxSide {
		img = demo.Fit(img, maxSide, maxSide)
	} else {
		// One pixel layout for every picture, whatever its file held.
		rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(rgba, rgba.Rect, img, b.Min, draw.Src)
		img = rgba
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 92}); err != nil {
		return nil, nil, err
	}
	return img, buf.Bytes(), nil
}

// evaluate applies every alteration (alts[0] being the original itself) to
// every picture and matches the copies: a worker loads one picture and
// makes all its copies, so only the pictures in hand are in memory.
func evaluate(ctx context.Context, cfg Config, banks *bank.Banks, pics []picture, banked [][]events.Signal, alts []demo.Alteration) ([]Row, error) {
	type result struct {
		matched bool
		removed bool
		wrong   []string
		why     string
	}
	results := make([][]result, len(alts))
	for k := range alts {
		results[k] = make([]result, len(pics))
	}
	errs := make([]error, len(pics))
	var done atomic.Int64
	Parallel(ctx, cfg.Workers, len(pics), func(i int) {
		if cfg.Progress != nil {
			defer func() { cfg.Progress(int(done.Add(1)), len(pics)) }()
		}
		img, orig, err := load(ctx, pics[i].path, cfg.MaxSide)
		if err != nil {
			errs[i] = fmt.Errorf("%s: %w", pics[i].name, err)
			return
		}
		own := fmt.Sprint(i)
		for k, alt := range alts {
			r := &results[k][i]
			data := orig
			if k > 0 {
				data = alt.Apply(img, cfg.Seed+uint64(1000*k+i))
			}
			sigs, err := cfg.Hash(ctx, data)
			if err != nil {
				errs[i] = fmt.Errorf("%s of %s: %w", alt.Name, pics[i].name, err)
				return
			}
			var ownMatches []events.Match
			others := map[int]events.Match{}
			for _, m := range banks.Match(sigs) {
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
			r.removed = cfg.Policy.Decide(ownMatches).Action == policy.ActionRemove
			for n, m := range others {
				v := m.SignalType
				if m.Variant != "" {
					v += ":" + m.Variant
				}
				r.wrong = append(r.wrong, fmt.Sprintf("%s -> %s (%s distance %d)", pics[i].name, pics[n].name, v, m.Distance))
			}
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	rows := make([]Row, len(alts))
	for k, alt := range alts {
		row := Row{Alteration: alt.Name, Description: alt.Description, Copies: len(pics), Pairs: len(pics) * (len(pics) - 1)}
		for i, r := range results[k] {
			if r.matched {
				row.Matched++
			} else {
				row.Missed = append(row.Missed, pics[i].name+" ("+r.why+")")
			}
			if r.removed {
				row.Removed++
			}
			row.FalseMatches += len(r.wrong)
			row.False = append(row.False, r.wrong...)
		}
		sort.Strings(row.Missed)
		slices.Sort(row.False)
		rows[k] = row
	}
	return rows, nil
}
