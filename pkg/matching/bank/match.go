package bank

import (
	"slices"
	"strings"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

// Hits are the matches of one query signal before allow-lists are applied:
// Block holds the matches in block banks, Allow those in allow banks. They
// are what a per-signal verdict cache should store; Resolve turns the hits of
// all of an upload's signals into its verdict.
type Hits struct {
	Block []events.Match `json:"block"`
	Allow []events.Match `json:"allow"`
}

// Verdict is the outcome of matching one upload.
type Verdict struct {
	// Matches are the block matches that stand: one per bank entry and
	// signal type, the closest, sorted by distance then bank and entry.
	Matches []events.Match `json:"matches"`
	// Suppressed are block matches that an allow-list match cancelled.
	Suppressed []events.Match `json:"suppressed"`
	// Allowed are the allow-list matches.
	Allowed []events.Match `json:"allowed"`
}

// Resolve combines the hits of an upload's signals and applies the
// allow-list rules (see the package documentation): an allow match
// suppresses the block matches of the same signal type found on the same
// region of the upload (see Region), and nothing else. Every list of the
// result is non-nil, so an empty one encodes as [].
func Resolve(hits ...Hits) Verdict {
	var block, allow []events.Match
	for _, h := range hits {
		block = append(block, h.Block...)
		allow = append(allow, h.Allow...)
	}
	v := Verdict{Allowed: Combine(allow)}
	type scope struct{ typ, region string }
	allowed := make(map[scope]bool, len(allow))
	for _, m := range allow {
		allowed[scope{m.SignalType, Region(m.Variant)}] = true
	}
	// Suppression is decided per hit, before Combine keeps one match per
	// entry and type: an entry hit on the whole picture and, closer, on an
	// allowed region must stand on its whole-picture hit.
	var stand, suppressed []events.Match
	for _, m := range block {
		if allowed[scope{m.SignalType, Region(m.Variant)}] {
			suppressed = append(suppressed, m)
		} else {
			stand = append(stand, m)
		}
	}
	v.Matches = Combine(stand)
	type entry struct{ bank, id, typ string }
	standing := make(map[entry]bool, len(v.Matches))
	for _, m := range v.Matches {
		standing[entry{m.Bank, m.EntryID, m.SignalType}] = true
	}
	// An entry that stands is not also reported as suppressed.
	suppressed = slices.DeleteFunc(suppressed, func(m events.Match) bool {
		return standing[entry{m.Bank, m.EntryID, m.SignalType}]
	})
	v.Suppressed = Combine(suppressed)
	return v
}

// Region is the part of the upload a signal of variant v was computed
// from, for the allow-list rule: the dihedral variants (rotations and
// mirrors) are the whole picture, like the empty variant, so they map to "";
// every other variant (a region such as "left75", "trim", "embedded", a crop,
// "video") is its own region.
func Region(v string) string {
	switch v {
	case events.VariantRot90, events.VariantRot180, events.VariantRot270, events.VariantFlipX,
		events.VariantFlipY, events.VariantFlipPlus, events.VariantFlipMinus:
		return ""
	}
	return v
}

// Lookup matches one signal against every enabled bank and returns the hits
// with the Version they were computed at, read under the same lock, so that a
// cache can store them under the version that produced them. A signal that
// cannot be matched (see the package documentation) gets empty hits.
func (b *Banks) Lookup(sig events.Signal) (Hits, uint64) {
	h := Hits{Block: []events.Match{}, Allow: []events.Match{}}
	n, err := Normalize(sig)
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err == nil {
		b.lookupLocked(n, &h)
	}
	sortMatches(h.Block)
	sortMatches(h.Allow)
	return h, b.version
}

// MatchVerdict matches every signal of one upload and resolves the
// allow-lists across all of them and the extra hits: a video's, from
// MatchVideo. It is the matcher's verdict on an upload (the matcher reads
// the signals' hits from its cache when it can), and `takedownctl match`'s.
func (b *Banks) MatchVerdict(signals []events.Signal, extra ...Hits) Verdict {
	hits := make([]Hits, 0, len(signals)+len(extra))
	b.mu.RLock()
	for _, s := range signals {
		n, err := Normalize(s)
		if err != nil {
			continue
		}
		var h Hits
		b.lookupLocked(n, &h)
		hits = append(hits, h)
	}
	b.mu.RUnlock()
	return Resolve(append(hits, extra...)...)
}

// Match is MatchVerdict's standing matches.
func (b *Banks) Match(signals []events.Signal) []events.Match {
	return b.MatchVerdict(signals).Matches
}

// MatchSignal returns the standing matches of one signal on its own, one
// Match per entry, sorted by distance; never nil. Allow-lists apply within
// the signal only: to apply them across an upload's signals, Resolve the
// signals' Lookup hits (or call MatchVerdict).
func (b *Banks) MatchSignal(sig events.Signal) []events.Match {
	m, _ := b.MatchSignalVersion(sig)
	return m
}

// MatchSignalVersion is MatchSignal that also returns the Version the
// matches were computed at.
func (b *Banks) MatchSignalVersion(sig events.Signal) ([]events.Match, uint64) {
	h, v := b.Lookup(sig)
	return Resolve(h).Matches, v
}

// candidate is an index result before it becomes a Match.
type candidate struct {
	entry uint32
	dist  int
}

// lookupLocked appends the hits of a normalised signal. Callers hold the
// read lock.
func (b *Banks) lookupLocked(sig events.Signal, h *Hits) {
	t, _ := typeOf(sig.Type)
	limit := 1 << 30 // the most any bank may accept for this signal
	if t == tPDQ && sig.Quality != nil && b.minQuality >= 0 && *sig.Quality < b.minQuality {
		if b.lowQuality < 0 || *sig.Quality < b.lowQuality {
			return
		}
		limit = b.lowThr
	}
	p := parse(sig)
	var cands []candidate
	exact := func(owner uint32) { cands = append(cands, candidate{owner, 0}) }
	near := func(owners []uint32) func(uint32, int) bool {
		return func(id uint32, d int) bool {
			cands = append(cands, candidate{owners[id], d})
			return true
		}
	}
	switch r := min(b.radius[t], limit); t {
	case tSHA256:
		b.sha256.each(p.b32, exact)
	case tMD5:
		b.md5.each(p.b16, exact)
	case tPHash:
		b.phash.search(p.u64, r, near(b.phash.owner))
	case tDHash:
		b.dhash.search(p.u64, r, near(b.dhash.owner))
	case tPDQ:
		b.pdq.search(p.b32, r, near(b.pdq.owner))
	}
	if len(cands) == 0 {
		return
	}
	// An entry may hold several hashes of one type (e.g. video frames):
	// report it once, at its closest.
	slices.SortFunc(cands, func(a, b candidate) int {
		if a.entry != b.entry {
			if a.entry < b.entry {
				return -1
			}
			return 1
		}
		return a.dist - b.dist
	})
	for i, c := range cands {
		if i > 0 && cands[i-1].entry == c.entry {
			continue
		}
		e := &b.entries[c.entry]
		bs := b.banks[e.bank]
		thr := min(bs.thr[t], limit)
		if !bs.enabled || !bs.on[t] || c.dist > thr {
			continue
		}
		m := events.Match{
			Bank: bs.name, EntryID: e.id,
			Labels:     mergeLabels(b.labels.get(e.labels), bs.labels),
			SignalType: sig.Type, Signal: sig.Value, Variant: sig.Variant,
			Distance: c.dist, Threshold: thr,
			Incident: bs.cfg.Incident, Severity: bs.cfg.Severity,
		}
		if bs.allow {
			h.Allow = append(h.Allow, m)
		} else {
			h.Block = append(h.Block, m)
		}
	}
}

// Combine merges per-signal matches into one verdict: one Match per bank,
// entry and signal type, keeping the closest (ties: the smaller signal
// value, then the smaller variant, "" first, so the result does not depend
// on input order), sorted by distance then bank, entry and signal type. It
// never returns nil.
func Combine(matches []events.Match) []events.Match {
	type key struct{ bank, entry, typ string }
	best := map[key]int{}
	out := make([]events.Match, 0, len(matches))
	for _, m := range matches {
		k := key{m.Bank, m.EntryID, m.SignalType}
		i, ok := best[k]
		if !ok {
			best[k] = len(out)
			out = append(out, m)
			continue
		}
		if closer(&m, &out[i]) {
			out[i] = m
		}
	}
	sortMatches(out)
	return out
}

func closer(a, b *events.Match) bool {
	if a.Distance != b.Distance {
		return a.Distance < b.Distance
	}
	if a.Signal != b.Signal {
		return a.Signal < b.Signal
	}
	return a.Variant < b.Variant
}

func sortMatches(ms []events.Match) {
	slices.SortFunc(ms, func(a, b events.Match) int {
		if a.Distance != b.Distance {
			return a.Distance - b.Distance
		}
		for _, c := range [...]int{
			strings.Compare(a.Bank, b.Bank),
			strings.Compare(a.EntryID, b.EntryID),
			strings.Compare(a.SignalType, b.SignalType),
			strings.Compare(a.Signal, b.Signal),
		} {
			if c != 0 {
				return c
			}
		}
		return strings.Compare(a.Variant, b.Variant)
	})
}
