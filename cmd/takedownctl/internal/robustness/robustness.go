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
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/image/draw"

	"github.com/takedown-pipeline/takedown/pkg/demo"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/mediahash"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/matching/policy"
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
	// Negatives are the files of a second set of distinct pictures,
	// unrelated to Images (scripts/robustness-corpus.sh --negatives). They
	// are banked beside the originals, so every altered copy is also
	// matched against them, and each is matched, unaltered, against every
	// other picture banked: any of those matches is false. Left out like
	// Images by MinSide and PDQ quality.
	Negatives []string
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
	// NegativeFalseMatches counts (copy, negative) pairs that matched, of
	// NegativePairs; they are not in FalseMatches and Pairs.
	NegativeFalseMatches int `json:"negative_false_matches,omitempty"`
	NegativePairs        int `json:"negative_pairs,omitempty"`
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
	// Negatives is the number of usable pictures of the negative set
	// (Config.Negatives), NegativesSkipped those left out.
	Negatives        int      `json:"negatives,omitempty"`
	NegativesSkipped []string `json:"negatives_skipped,omitempty"`
	// NegativeOriginals is the row of the negatives matched, unaltered,
	// against every other banked picture (originals and negatives).
	NegativeOriginals *Row `json:"negative_originals,omitempty"`
	// NegativeFalseMatches and NegativePairs add up the negative set's
	// pairs: every row's copies against the negatives, and
	// NegativeOriginals.
	NegativeFalseMatches int `json:"negative_false_matches,omitempty"`
	NegativePairs        int `json:"negative_pairs,omitempty"`
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
	pics, banked, skipped, err := bankAll(ctx, cfg, cfg.Images)
	if err != nil {
		return rep, err
	}
	rep.Skipped = skipped
	if len(pics) < 2 {
		return rep, fmt.Errorf("robustness: %d usable pictures; need at least 2", len(pics))
	}
	rep.Images = len(pics)
	negs, negBanked, negSkipped, err := bankAll(ctx, cfg, cfg.Negatives)
	if err != nil {
		return rep, err
	}
	rep.Negatives, rep.NegativesSkipped = len(negs), negSkipped

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
	for i, p := range negs {
		u := events.NewBankAdd("eval", nil, negBanked[i])
		u.EntryID = negativeID(i)
		if err := banks.Apply(u); err != nil {
			return rep, fmt.Errorf("banking %s: %w", p.name, err)
		}
	}

	orig := demo.Alteration{Name: "original", Description: "the banked file itself",
		Apply: func(image.Image, uint64) []byte { return nil }}
	rows, err := evaluate(ctx, cfg, banks, pics, negs, banked, append([]demo.Alteration{orig}, cfg.Alterations...))
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
		rep.NegativeFalseMatches += row.NegativeFalseMatches
		rep.NegativePairs += row.NegativePairs
	}
	if len(negs) > 0 {
		row, err := matchNegatives(ctx, cfg, banks, pics, negs)
		if err != nil {
			return rep, err
		}
		rep.NegativeOriginals = &row
		rep.NegativeFalseMatches += row.NegativeFalseMatches
		rep.NegativePairs += row.NegativePairs
	}
	return rep, nil
}

// negativeID is the bank entry ID of the i-th negative; the originals' are
// their index.
func negativeID(i int) string { return "n" + strconv.Itoa(i) }

// bankAll loads and bank-hashes the pictures at paths, leaving out (with the
// reason) those that cannot be decoded, are smaller than cfg.MinSide or
// whose PDQ quality is below MinQuality.
func bankAll(ctx context.Context, cfg Config, paths []string) ([]picture, [][]events.Signal, []string, error) {
	type loaded struct {
		sigs []events.Signal
		skip string
		err  error
	}
	all := make([]loaded, len(paths))
	Parallel(ctx, cfg.Workers, len(paths), func(i int) {
		path := paths[i]
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
		return nil, nil, nil, err
	}
	var (
		pics    []picture
		banked  [][]events.Signal
		skipped []string
	)
	for i, l := range all {
		switch {
		case l.err != nil:
			return nil, nil, nil, l.err
		case l.skip != "":
			skipped = append(skipped, l.skip)
		default:
			pics = append(pics, picture{name: filepath.Base(paths[i]), path: paths[i]})
			banked = append(banked, l.sigs)
		}
	}
	return pics, banked, skipped, nil
}

// matchNegatives matches each negative, unaltered, against the bank: every
// match but its own entry is false.
func matchNegatives(ctx context.Context, cfg Config, banks *bank.Banks, pics, negs []picture) (Row, error) {
	wrong := make([][]string, len(negs))
	errs := make([]error, len(negs))
	Parallel(ctx, cfg.Workers, len(negs), func(i int) {
		_, data, err := load(ctx, negs[i].path, cfg.MaxSide)
		if err == nil {
			var sigs []events.Signal
			if sigs, err = cfg.Hash(ctx, data); err == nil {
				wrong[i] = falseMatches(banks.Match(sigs), negativeID(i), negs[i].name, pics, negs)
			}
		}
		errs[i] = err
	})
	if err := ctx.Err(); err != nil {
		return Row{}, err
	}
	row := Row{Alteration: "negative originals", Description: "each negative, unaltered, against every other banked picture",
		Copies: len(negs), NegativePairs: len(negs) * (len(negs) - 1 + len(pics))}
	for i, err := range errs {
		if err != nil {
			return Row{}, fmt.Errorf("%s: %w", negs[i].name, err)
		}
		row.NegativeFalseMatches += len(wrong[i])
		row.False = append(row.False, wrong[i]...)
	}
	slices.Sort(row.False)
	return row, nil
}

// falseMatches describes the matches of name's copy with entries other than
// own (closest signal per entry), as "name -> other (signal distance d)".
func falseMatches(ms []events.Match, own, name string, pics, negs []picture) []string {
	best := map[string]events.Match{}
	for _, m := range ms {
		if m.EntryID == own {
			continue
		}
		if o, seen := best[m.EntryID]; !seen || m.Distance < o.Distance {
			best[m.EntryID] = m
		}
	}
	var out []string
	for id, m := range best {
		other := id
		if n, err := strconv.Atoi(strings.TrimPrefix(id, "n")); err == nil {
			if strings.HasPrefix(id, "n") && n < len(negs) {
				other = negs[n].name
			} else if !strings.HasPrefix(id, "n") && n < len(pics) {
				other = pics[n].name
			}
		}
		v := m.SignalType
		if m.Variant != "" {
			v += ":" + m.Variant
		}
		out = append(out, fmt.Sprintf("%s -> %s (%s distance %d)", name, other, v, m.Distance))
	}
	return out
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
func evaluate(ctx context.Context, cfg Config, banks *bank.Banks, pics, negs []picture, banked [][]events.Signal, alts []demo.Alteration) ([]Row, error) {
	type result struct {
		matched  bool
		removed  bool
		wrong    []string
		negWrong []string
		why      string
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
			var ownMatches, negMatches, otherMatches []events.Match
			ms := banks.Match(sigs)
			for _, m := range ms {
				switch {
				case m.EntryID == own:
					ownMatches = append(ownMatches, m)
				case strings.HasPrefix(m.EntryID, "n"):
					negMatches = append(negMatches, m)
				default:
					otherMatches = append(otherMatches, m)
				}
			}
			r.matched = len(ownMatches) > 0
			if !r.matched {
				r.why = whyMissed(sigs, banked[i])
			}
			r.removed = cfg.Policy.Decide(ownMatches).Action == policy.ActionRemove
			r.wrong = falseMatches(otherMatches, own, pics[i].name, pics, negs)
			r.negWrong = falseMatches(negMatches, own, pics[i].name, pics, negs)
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
		row := Row{Alteration: alt.Name, Description: alt.Description, Copies: len(pics), Pairs: len(pics) * (len(pics) - 1),
			NegativePairs: len(pics) * len(negs)}
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
			row.NegativeFalseMatches += len(r.negWrong)
			row.False = append(row.False, r.negWrong...)
		}
		sort.Strings(row.Missed)
		slices.Sort(row.False)
		rows[k] = row
	}
	return rows, nil
}
