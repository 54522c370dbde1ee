// Package bank holds named hash banks in memory and matches media signals
// against them: exact lookup for cryptographic hashes, Hamming distance within
// a threshold for 64-bit perceptual hashes.
package bank

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

// Thresholds maps a signal type to the largest Hamming distance at which a
// bank hash still matches. Exact types always use 0.
type Thresholds map[string]int

// DefaultThresholds returns the thresholds used when none are configured.
// Ten bits of 64 is the usual operating point for pHash/dHash: it survives
// re-encoding and resizing while keeping unrelated images apart.
func DefaultThresholds() Thresholds {
	return Thresholds{
		events.SignalSHA256: 0,
		events.SignalMD5:    0,
		events.SignalPHash:  10,
		events.SignalDHash:  10,
	}
}

// hexDigits is the length of a valid value of each supported signal type.
var hexDigits = map[string]int{
	events.SignalSHA256: 64,
	events.SignalMD5:    32,
	events.SignalPHash:  16,
	events.SignalDHash:  16,
}

func perceptual(typ string) bool { return typ == events.SignalPHash || typ == events.SignalDHash }

// ErrInvalidSignal is wrapped by every error about a signal that cannot be
// matched.
var ErrInvalidSignal = errors.New("invalid signal")

// ErrBlankHash is wrapped, with ErrInvalidSignal, by the error about an
// all-zero perceptual hash. Flat images hash to it, so seeing one in an upload
// is normal; only a bank entry holding it is a mistake.
var ErrBlankHash = errors.New("blank perceptual hash")

// Normalize checks that sig is a supported type with a well-formed value and
// returns it with the value in lower case. An all-zero perceptual hash is
// refused: it is what a blank or flat image hashes to, so it would sit within
// matching distance of every near-featureless upload.
func Normalize(sig events.Signal) (events.Signal, error) {
	n, ok := hexDigits[sig.Type]
	if !ok {
		return sig, fmt.Errorf("%w: unsupported type %q (value %q)", ErrInvalidSignal, sig.Type, sig.Value)
	}
	v := strings.ToLower(sig.Value)
	if len(v) != n {
		return sig, fmt.Errorf("%w: %s value %q has %d characters, want %d hex digits",
			ErrInvalidSignal, sig.Type, sig.Value, len(sig.Value), n)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return sig, fmt.Errorf("%w: %s value %q is not hex", ErrInvalidSignal, sig.Type, sig.Value)
		}
	}
	if perceptual(sig.Type) && strings.Count(v, "0") == n {
		return sig, fmt.Errorf("%w: %w: all-zero %s %q would match every near-blank image",
			ErrInvalidSignal, ErrBlankHash, sig.Type, sig.Value)
	}
	out := sig
	out.Value = v
	return out, nil
}

// Entry is one bank entry: a piece of known content, described by labels and
// identified by its signals.
type Entry struct {
	Bank     string
	EntryID  string
	Labels   []string
	Signals  []events.Signal
	Disabled bool
}

// Key is the entry's compaction key on bank.updates, as in events.BankUpdate.
func (e *Entry) Key() string { return e.Bank + "/" + e.EntryID }

func (e *Entry) clone() Entry {
	c := *e
	c.Labels = slices.Clone(e.Labels)
	c.Signals = slices.Clone(e.Signals)
	return c
}

type ref struct{ bank, id string }

type sigKey struct{ typ, value string }

// near is the linear-scan index of one perceptual signal type. Hashes sit in
// their own slice so the scan walks contiguous memory.
type near struct {
	hashes []uint64
	owners []*stored
}

type stored struct {
	Entry
	fp uint64 // content fingerprint, folded into Banks.version
}

// Banks is the set of all banks. It is safe for concurrent use: matching takes
// a read lock, updates a write lock.
type Banks struct {
	mu         sync.RWMutex
	thresholds Thresholds
	entries    map[ref]*stored
	exact      map[sigKey][]*stored
	near       map[string]*near
	generation uint64
	version    uint64
}

// NewBanks returns empty banks matching with t; types t leaves out keep their
// default threshold.
func NewBanks(t Thresholds) *Banks {
	th := DefaultThresholds()
	for k, v := range t {
		if !perceptual(k) {
			continue // exact types match at distance 0 whatever is configured
		}
		th[k] = v
	}
	b := &Banks{
		thresholds: th,
		entries:    map[ref]*stored{},
		exact:      map[sigKey][]*stored{},
		near:       map[string]*near{},
	}
	b.version = thresholdsFingerprint(th)
	return b
}

// Thresholds returns a copy of the thresholds in use.
func (b *Banks) Thresholds() Thresholds {
	out := Thresholds{}
	for k, v := range b.thresholds {
		out[k] = v
	}
	return out
}

// Apply adds, replaces or disables one entry. An update that cannot be
// applied (unknown op, missing names, a malformed signal) returns an error
// and changes nothing, neither the entry nor the rest of the bank.
func (b *Banks) Apply(u events.BankUpdate) error {
	if u.Bank == "" || u.EntryID == "" {
		return fmt.Errorf("bank update %q: needs bank and entry_id", u.Key())
	}
	switch u.Op {
	case events.BankOpAdd:
		e, err := newEntry(u)
		if err != nil {
			return err
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		r := ref{u.Bank, u.EntryID}
		if old := b.entries[r]; old != nil && !old.Disabled {
			b.unindex(old)
		}
		b.entries[r] = e
		b.index(e)
		b.generation++
		return nil
	case events.BankOpDisable:
		b.mu.Lock()
		defer b.mu.Unlock()
		b.disable(ref{u.Bank, u.EntryID})
		b.generation++
		return nil
	default:
		return fmt.Errorf("bank entry %s: unknown op %q (want %q or %q)", u.Key(), u.Op, events.BankOpAdd, events.BankOpDisable)
	}
}

// DisableKey disables the entry whose compaction key ("bank/entry") is key,
// for a tombstone on the compacted topic, which names an entry by key only.
// It reports whether such an entry was known.
func (b *Banks) DisableKey(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	found := false
	for r, e := range b.entries {
		if e.Key() == key {
			b.disable(r)
			found = true
		}
	}
	if found {
		b.generation++
	}
	return found
}

// disable marks r disabled. An entry never seen is recorded as disabled so
// that Stats counts it and a later add replaces it as usual.
func (b *Banks) disable(r ref) {
	old := b.entries[r]
	if old == nil {
		b.entries[r] = &stored{Entry: Entry{Bank: r.bank, EntryID: r.id, Disabled: true}}
		return
	}
	if !old.Disabled {
		b.unindex(old)
		old.Disabled = true
	}
}

func newEntry(u events.BankUpdate) (*stored, error) {
	if len(u.Signals) == 0 {
		return nil, fmt.Errorf("bank entry %s: no signals", u.Key())
	}
	sigs := make([]events.Signal, 0, len(u.Signals))
	for i, s := range u.Signals {
		n, err := Normalize(s)
		if err != nil {
			return nil, fmt.Errorf("bank entry %s: signal %d: %w", u.Key(), i, err)
		}
		n.Quality = nil // a bank hash's quality plays no part in matching
		sigs = append(sigs, n)
	}
	slices.SortFunc(sigs, func(a, b events.Signal) int {
		return strings.Compare(a.Type+":"+a.Value, b.Type+":"+b.Value)
	})
	sigs = slices.CompactFunc(sigs, func(a, b events.Signal) bool { return a.Type == b.Type && a.Value == b.Value })
	e := &stored{Entry: Entry{Bank: u.Bank, EntryID: u.EntryID, Labels: slices.Clone(u.Labels), Signals: sigs}}
	e.fp = entryFingerprint(&e.Entry)
	return e, nil
}

// index adds an enabled entry's signals. Callers hold the write lock.
func (b *Banks) index(e *stored) {
	for _, s := range e.Signals {
		if perceptual(s.Type) {
			h, _ := strconv.ParseUint(s.Value, 16, 64) // validated by Normalize
			n := b.near[s.Type]
			if n == nil {
				n = &near{}
				b.near[s.Type] = n
			}
			n.hashes = append(n.hashes, h)
			n.owners = append(n.owners, e)
			continue
		}
		k := sigKey{s.Type, s.Value}
		b.exact[k] = append(b.exact[k], e)
	}
	b.version ^= e.fp
}

// unindex removes an enabled entry's signals. Callers hold the write lock.
// Removal from a perceptual index is a linear pass; updates are rare next to
// lookups, so the lookups get the simple contiguous layout.
func (b *Banks) unindex(e *stored) {
	done := map[string]bool{}
	for _, s := range e.Signals {
		if perceptual(s.Type) {
			if done[s.Type] {
				continue
			}
			done[s.Type] = true
			n := b.near[s.Type]
			if n == nil {
				continue
			}
			j := 0
			for i, o := range n.owners {
				if o != e {
					n.hashes[j], n.owners[j] = n.hashes[i], o
					j++
				}
			}
			clear(n.owners[j:]) // let the garbage collector have removed entries
			n.hashes, n.owners = n.hashes[:j], n.owners[:j]
			continue
		}
		k := sigKey{s.Type, s.Value}
		list := slices.DeleteFunc(b.exact[k], func(o *stored) bool { return o == e })
		if len(list) == 0 {
			delete(b.exact, k)
		} else {
			b.exact[k] = list
		}
	}
	b.version ^= e.fp
}

// Generation counts the changes applied so far. It only grows.
func (b *Banks) Generation() uint64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.generation
}

// Version is a fingerprint of what the banks match: the enabled entries and
// the thresholds. Unlike Generation, which counts this process's updates, two
// processes holding the same content have the same Version however they got
// there (a replica restarted on a compacted topic applies fewer updates), so
// it can key a verdict cache shared between replicas: equal versions give
// equal verdicts.
func (b *Banks) Version() uint64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.version
}

// Len is the number of enabled entries.
func (b *Banks) Len() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	n := 0
	for _, e := range b.entries {
		if !e.Disabled {
			n++
		}
	}
	return n
}

// Entry returns a copy of one entry, enabled or disabled.
func (b *Banks) Entry(bank, entryID string) (Entry, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	e, ok := b.entries[ref{bank, entryID}]
	if !ok {
		return Entry{}, false
	}
	return e.clone(), true
}

// BankStats counts the entries of one bank.
type BankStats struct {
	Entries  int `json:"entries"`
	Disabled int `json:"disabled"`
}

// Stats summarises the banks.
type Stats struct {
	Banks      map[string]BankStats `json:"banks"`
	Entries    int                  `json:"entries"`
	Disabled   int                  `json:"disabled"`
	Generation uint64               `json:"generation"`
}

// Stats counts enabled and disabled entries per bank.
func (b *Banks) Stats() Stats {
	b.mu.RLock()
	defer b.mu.RUnlock()
	st := Stats{Banks: map[string]BankStats{}, Generation: b.generation}
	for _, e := range b.entries {
		bs := st.Banks[e.Bank]
		if e.Disabled {
			bs.Disabled++
			st.Disabled++
		} else {
			bs.Entries++
			st.Entries++
		}
		st.Banks[e.Bank] = bs
	}
	return st
}

// MatchSignal returns the enabled entries that sig matches, one Match per
// entry, sorted by distance; never nil, so an empty verdict encodes as []. A malformed or unsupported signal matches
// nothing, and so does an all-zero perceptual hash (see Normalize).
func (b *Banks) MatchSignal(sig events.Signal) []events.Match {
	m, _ := b.MatchSignalVersion(sig)
	return m
}

// MatchSignalVersion is MatchSignal that also returns the Version the
// matches were computed at, read under the same lock, so a cache can store the
// verdict under the version that produced it.
func (b *Banks) MatchSignalVersion(sig events.Signal) ([]events.Match, uint64) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := b.matchLocked(sig, []events.Match{})
	sortMatches(out)
	return out, b.version
}

// Match matches every signal and combines the results: one Match per bank
// entry and signal type (the closest), sorted by distance then bank and
// entry. It never returns nil, so an empty verdict encodes as [].
func (b *Banks) Match(signals []events.Signal) []events.Match {
	b.mu.RLock()
	var out []events.Match
	for _, s := range signals {
		out = b.matchLocked(s, out)
	}
	b.mu.RUnlock()
	return Combine(out)
}

func (b *Banks) matchLocked(sig events.Signal, out []events.Match) []events.Match {
	sig, err := Normalize(sig)
	if err != nil {
		return out
	}
	if !perceptual(sig.Type) {
		for _, e := range b.exact[sigKey{sig.Type, sig.Value}] {
			out = append(out, newMatch(e, sig, 0, 0))
		}
		return out
	}
	n := b.near[sig.Type]
	if n == nil {
		return out
	}
	thr := b.thresholds[sig.Type]
	q, _ := strconv.ParseUint(sig.Value, 16, 64)
	start := len(out)
	for i, h := range n.hashes {
		d := bits.OnesCount64(h ^ q)
		if d > thr {
			continue
		}
		e := n.owners[i]
		// An entry may hold several hashes of one type (e.g. video frames):
		// report it once, at its closest.
		dup := false
		for j := start; j < len(out); j++ {
			if out[j].Bank == e.Bank && out[j].EntryID == e.EntryID {
				out[j].Distance = min(out[j].Distance, d)
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, newMatch(e, sig, d, thr))
		}
	}
	return out
}

func newMatch(e *stored, sig events.Signal, d, thr int) events.Match {
	labels := slices.Clone(e.Labels)
	if labels == nil {
		labels = []string{}
	}
	return events.Match{Bank: e.Bank, EntryID: e.EntryID, Labels: labels,
		SignalType: sig.Type, Signal: sig.Value, Distance: d, Threshold: thr}
}

// Combine merges per-signal matches into one verdict: one Match per bank,
// entry and signal type, keeping the closest (ties: the smaller signal
// value, so the result does not depend on input order), sorted by distance
// then bank, entry and signal type. It never returns nil.
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
		if m.Distance < out[i].Distance || m.Distance == out[i].Distance && m.Signal < out[i].Signal {
			out[i] = m
		}
	}
	sortMatches(out)
	return out
}

func sortMatches(ms []events.Match) {
	slices.SortFunc(ms, func(a, b events.Match) int {
		if a.Distance != b.Distance {
			return a.Distance - b.Distance
		}
		if c := strings.Compare(a.Bank, b.Bank); c != 0 {
			return c
		}
		if c := strings.Compare(a.EntryID, b.EntryID); c != 0 {
			return c
		}
		if c := strings.Compare(a.SignalType, b.SignalType); c != 0 {
			return c
		}
		return strings.Compare(a.Signal, b.Signal)
	})
}

// entryFingerprint hashes everything about an entry that shows in a verdict.
// Fields are length-prefixed so that no two entries encode alike.
func entryFingerprint(e *Entry) uint64 {
	h := sha256.New()
	put := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	put(e.Bank)
	put(e.EntryID)
	put(strconv.Itoa(len(e.Labels)))
	for _, l := range e.Labels {
		put(l)
	}
	for _, s := range e.Signals {
		put(s.Type)
		put(s.Value)
	}
	return binary.BigEndian.Uint64(h.Sum(nil))
}

func thresholdsFingerprint(t Thresholds) uint64 {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h := sha256.New()
	h.Write([]byte("thresholds"))
	for _, k := range keys {
		fmt.Fprintf(h, "|%s=%d", k, t[k])
	}
	return binary.BigEndian.Uint64(h.Sum(nil))
}
