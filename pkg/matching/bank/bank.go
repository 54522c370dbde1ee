// Package bank holds named hash banks in memory and matches media signals
// against them: exact lookup for cryptographic hashes (md5, sha256), Hamming
// distance within a threshold for perceptual hashes (pdq, phash, dhash; see
// pkg/matching/index), the video rules over frame hashes, allow-lists, the version
// that keys verdict caches, snapshots, and bank files (CSV, Tech Against
// Terrorism's JSON). How each rule works, with its defaults, is in
// docs/banks.md.
package bank

import (
	"errors"
	"fmt"
	"hash/maphash"
	"iter"
	"slices"
	"strings"
	"sync"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

// Thresholds maps a signal type to the largest Hamming distance at which a
// bank hash still matches. Exact types always use 0.
type Thresholds map[string]int

// Default thresholds: the reference PDQ operating point, and ten bits of 64
// for pHash/dHash, which survives re-encoding and resizing while keeping
// unrelated images apart.
const (
	DefaultThresholdPDQ   = 31
	DefaultThresholdPHash = 10
	DefaultThresholdDHash = 10
	// DefaultMinPDQQuality is the lowest quality of a query PDQ hash that is
	// matched at the bank's threshold.
	DefaultMinPDQQuality = 50
	// DefaultLowPDQQuality and DefaultLowPDQThreshold: a query PDQ hash of
	// quality 30 to 49 still matches, within 24 bits at most. Brightening,
	// cropping or mirroring a smooth picture (a gradient wallpaper, a hazy
	// sky) can drop its copy's quality below 50 while the hash stays 2-24
	// bits from the original's; the robustness evaluation lost four such
	// copies to the plain minimum and found no false match with the tier.
	DefaultLowPDQQuality   = 30
	DefaultLowPDQThreshold = 24
)

// DefaultThresholds returns the thresholds used when none are configured.
func DefaultThresholds() Thresholds {
	return Thresholds{
		events.SignalSHA256: 0,
		events.SignalMD5:    0,
		events.SignalPHash:  DefaultThresholdPHash,
		events.SignalDHash:  DefaultThresholdDHash,
		events.SignalPDQ:    DefaultThresholdPDQ,
	}
}

// hexDigits is the length of a valid value of each supported signal type.
var hexDigits = map[string]int{
	events.SignalSHA256: 64,
	events.SignalMD5:    32,
	events.SignalPHash:  16,
	events.SignalDHash:  16,
	events.SignalPDQ:    64,
}

func perceptual(typ string) bool {
	return typ == events.SignalPHash || typ == events.SignalDHash || typ == events.SignalPDQ
}

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
		return sig, fmt.Errorf("%w: unsupported type %q (value %q)", ErrInvalidSignal, sig.Type, clip(sig.Value))
	}
	if len(sig.Value) != n {
		return sig, fmt.Errorf("%w: %s value %q has %d characters, want %d hex digits",
			ErrInvalidSignal, sig.Type, clip(sig.Value), len(sig.Value), n)
	}
	zero := true
	for i := 0; i < len(sig.Value); i++ {
		c := sig.Value[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return sig, fmt.Errorf("%w: %s value %q is not hex", ErrInvalidSignal, sig.Type, sig.Value)
		}
		zero = zero && c == '0'
	}
	if zero && perceptual(sig.Type) {
		return sig, fmt.Errorf("%w: %w: all-zero %s %q would match every near-blank image",
			ErrInvalidSignal, ErrBlankHash, sig.Type, sig.Value)
	}
	out := sig
	out.Value = strings.ToLower(sig.Value)
	return out, nil
}

// clip shortens a value quoted in an error, so that a stray megabyte in a
// hash field does not become a megabyte of log.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// Entry is one bank entry: a piece of known content, described by labels and
// identified by its signals.
type Entry struct {
	Bank     string          `json:"bank"`
	EntryID  string          `json:"entry_id"`
	Labels   []string        `json:"labels"`
	Signals  []events.Signal `json:"signals"`
	Disabled bool            `json:"disabled,omitempty"`
}

// Key is the entry's compaction key on bank.updates, as in events.BankUpdate.
func (e *Entry) Key() string { return e.Bank + "/" + e.EntryID }

// Options tune matching for every bank.
type Options struct {
	// Thresholds are the thresholds of banks that do not configure their
	// own; types left out keep DefaultThresholds.
	Thresholds Thresholds
	// MinPDQQuality: a query pdq signal whose Quality is set and below this
	// matches nothing. 0 means DefaultMinPDQQuality; a negative value
	// matches every quality.
	MinPDQQuality int
	// Enabled says which signal types banks that do not configure them
	// match; types left out keep DefaultEnabled.
	Enabled map[string]bool
	// LowPDQQuality: a query pdq signal whose quality is at least this but
	// below MinPDQQuality matches only within LowPDQThreshold (or the
	// bank's threshold, if smaller); below LowPDQQuality it matches
	// nothing. 0 means DefaultLowPDQQuality; a negative value, or one not
	// below MinPDQQuality, leaves no such tier.
	LowPDQQuality int
	// LowPDQThreshold: see LowPDQQuality. 0 means DefaultLowPDQThreshold; a
	// negative value means 0 (identical hashes only).
	LowPDQThreshold int
}

// Banks is the set of all banks. It is safe for concurrent use: matching takes
// a read lock, updates a write lock.
type Banks struct {
	mu         sync.RWMutex
	defaults   [numTypes]int
	defaultOn  [numTypes]bool
	minQuality int // -1: none
	lowQuality int // -1: no reduced tier
	lowThr     int

	entries []entry // never shrinks: a disabled entry stays, as on the topic
	// byKey finds an entry by a 64-bit hash of its bank and id (12-byte map
	// slots where a string key would take 32); an entry whose hash is taken
	// by another goes to keyOverflow.
	byKey       map[uint64]uint32
	keyOverflow map[entryKey]uint32
	keySeed     maphash.Seed
	more        map[uint32][]sigRef        // signals of an entry past the two inline ones
	parked      map[uint32][]events.Signal // signals of disabled entries, for Entry and export
	labels      *labelSets

	banks   []*bankState
	bankIdx map[string]uint16

	sha256       *exactTable[[32]byte]
	md5          *exactTable[[16]byte]
	phash, dhash near64
	pdq          near256
	// frameMs holds the time of each pdq slot that is a bank video's frame
	// hash (variant frame@<ms>, see video.go). A map, not a slice beside
	// the slots, so that banks of pictures pay nothing for it.
	frameMs map[uint32]uint32
	// radius is the search radius of each perceptual index: the largest
	// threshold an enabled bank uses for the type, -1 when none does.
	radius [numTypes]int

	enabled    int
	generation uint64
	version    uint64
}

// New returns empty banks. Thresholds out of range (0..64 for phash and
// dhash, 0..256 for pdq, 0 for exact types) and unknown types are refused.
func New(opts Options) (*Banks, error) {
	var errs []error
	for typ, v := range opts.Thresholds {
		bits, ok := events.SignalBits(typ)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("threshold for unknown signal type %q", typ))
		case events.ExactSignal(typ) && v != 0:
			errs = append(errs, fmt.Errorf("%s threshold %d: %s matches exactly, want 0", typ, v, typ))
		case v < 0 || v > bits:
			errs = append(errs, fmt.Errorf("%s threshold %d: want 0..%d (bits of the hash)", typ, v, bits))
		}
	}
	for typ := range opts.Enabled {
		if _, ok := events.SignalBits(typ); !ok {
			errs = append(errs, fmt.Errorf("enabled flag for unknown signal type %q", typ))
		}
	}
	if opts.LowPDQThreshold > 256 {
		errs = append(errs, fmt.Errorf("low-quality pdq threshold %d: want at most 256", opts.LowPDQThreshold))
	}
	if opts.LowPDQQuality > 100 {
		errs = append(errs, fmt.Errorf("low pdq quality %d: want at most 100", opts.LowPDQQuality))
	}
	if opts.MinPDQQuality > 100 {
		errs = append(errs, fmt.Errorf("minimum pdq quality %d: want at most 100", opts.MinPDQQuality))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("bank options: %w", err)
	}
	return newBanks(opts), nil
}

// NewBanks returns empty banks whose unconfigured banks match with t; types t
// leaves out keep their default threshold. Unlike New it does not refuse bad
// thresholds: unknown types and exact types are ignored and values are
// clamped to the hash's bits.
func NewBanks(t Thresholds) *Banks {
	clean := Thresholds{}
	for typ, v := range t {
		bits, ok := events.SignalBits(typ)
		if !ok || events.ExactSignal(typ) {
			continue
		}
		clean[typ] = min(max(v, 0), bits)
	}
	return newBanks(Options{Thresholds: clean})
}

func newBanks(opts Options) *Banks {
	b := &Banks{
		byKey:       map[uint64]uint32{},
		keyOverflow: map[entryKey]uint32{},
		keySeed:     maphash.MakeSeed(),
		more:        map[uint32][]sigRef{},
		parked:      map[uint32][]events.Signal{},
		labels:      newLabelSets(),
		bankIdx:     map[string]uint16{},
		sha256:      newExactTable[[32]byte](),
		md5:         newExactTable[[16]byte](),
		frameMs:     map[uint32]uint32{},
	}
	for typ, v := range DefaultThresholds() {
		t, _ := typeOf(typ)
		b.defaults[t] = v
	}
	for typ, v := range opts.Thresholds {
		if t, ok := typeOf(typ); ok && !t.exact() {
			b.defaults[t] = v
		}
	}
	for typ, on := range DefaultEnabled() {
		t, _ := typeOf(typ)
		b.defaultOn[t] = on
	}
	for typ, on := range opts.Enabled {
		if t, ok := typeOf(typ); ok {
			b.defaultOn[t] = on
		}
	}
	switch q := opts.MinPDQQuality; {
	case q == 0:
		b.minQuality = DefaultMinPDQQuality
	case q < 0:
		b.minQuality = -1
	default:
		b.minQuality = q
	}
	b.updateRadius()
	switch q := opts.LowPDQQuality; {
	case q == 0:
		b.lowQuality = DefaultLowPDQQuality
	case q < 0:
		b.lowQuality = -1
	default:
		b.lowQuality = q
	}
	if b.minQuality < 0 || b.lowQuality >= b.minQuality {
		b.lowQuality = -1
	}
	switch t := opts.LowPDQThreshold; {
	case t == 0:
		b.lowThr = DefaultLowPDQThreshold
	case t < 0:
		b.lowThr = 0
	default:
		b.lowThr = t
	}
	b.version = optionsFingerprint(b.defaults, b.defaultOn, b.minQuality, b.lowQuality, b.lowThr)
	return b
}

// VideoEntries makes the bank entries of a video from its parts' frame
// hashes (videohash.PartSignals): the first holds the file's own signals
// (its sha256 and md5) and the first part's, and is named after the file's
// SHA-256 as a picture's entry is (events.NewBankAdd); a long video's later
// parts are entries of their own, "<id>-part<N>", with the same labels.
func VideoEntries(bankName string, labels []string, fileSignals []events.Signal, parts [][]events.Signal) []events.BankUpdate {
	first := events.NewBankAdd(bankName, labels, Bankable(slices.Concat(fileSignals, parts[0])))
	out := []events.BankUpdate{first}
	for i, sigs := range parts[1:] {
		u := events.NewBankAdd(bankName, labels, sigs)
		u.EntryID = fmt.Sprintf("%s-part%d", first.EntryID, i+1)
		u.ContentID = u.EntryID
		out = append(out, u)
	}
	return out
}

// Bankable returns the signals a bank entry can hold: sigs without the
// all-zero hashes of a flat picture or region (ErrBlankHash), which Apply
// refuses although the media is fine.
func Bankable(sigs []events.Signal) []events.Signal {
	out := sigs[:0:0]
	for _, s := range sigs {
		if _, err := Normalize(s); errors.Is(err, ErrBlankHash) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// DefaultEnabled reports which signal types a bank matches unless its
// configuration says otherwise: md5, sha256 and pdq; not phash and dhash (see
// the package doc).
func DefaultEnabled() map[string]bool {
	return map[string]bool{
		events.SignalSHA256: true,
		events.SignalMD5:    true,
		events.SignalPDQ:    true,
		events.SignalPHash:  false,
		events.SignalDHash:  false,
	}
}

// Thresholds returns the thresholds of banks that do not configure their own.
func (b *Banks) Thresholds() Thresholds {
	out := Thresholds{}
	for t, v := range b.defaults {
		out[typeNames[t]] = v
	}
	return out
}

// Options returns the options in use, with defaults filled in.
func (b *Banks) Options() Options {
	on := map[string]bool{}
	for t, v := range b.defaultOn {
		on[typeNames[t]] = v
	}
	low := b.lowQuality
	if low < 0 {
		low = -1 // negative: no tier (0 would read as the default)
	}
	thr := b.lowThr
	if thr == 0 {
		thr = -1 // identical hashes only (0 would read as the default)
	}
	return Options{Thresholds: b.Thresholds(), MinPDQQuality: b.minQuality, Enabled: on,
		LowPDQQuality: low, LowPDQThreshold: thr}
}

// Apply adds, replaces or disables one entry, or configures a bank. An update
// that cannot be applied (unknown op, missing names, a malformed signal, a
// bad configuration) returns an error and changes nothing.
func (b *Banks) Apply(u events.BankUpdate) error {
	if u.Bank == "" {
		return fmt.Errorf("bank update %q: needs a bank", u.Key())
	}
	if strings.Contains(u.Bank, "/") {
		return fmt.Errorf("bank update %q: bank name %q contains '/'", u.Key(), u.Bank)
	}
	switch u.Op {
	case events.BankOpAdd:
		if u.EntryID == "" {
			return fmt.Errorf("bank add to %s: needs an entry_id", u.Bank)
		}
		sigs, err := normalizeEntrySignals(u)
		if err != nil {
			return err
		}
		labels := normLabels(u.Labels)
		b.mu.Lock()
		defer b.mu.Unlock()
		if err := b.add(u.Bank, u.EntryID, labels, sigs); err != nil {
			return err
		}
	case events.BankOpDisable:
		if u.EntryID == "" {
			return fmt.Errorf("bank disable in %s: needs an entry_id", u.Bank)
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if err := b.disable(u.Bank, u.EntryID, normLabels(u.Labels), u.Signals); err != nil {
			return err
		}
	case events.BankOpConfigure:
		if u.EntryID != "" {
			return fmt.Errorf("bank configure of %s names entry %q: a configure applies to the whole bank", u.Bank, u.EntryID)
		}
		if u.Config == nil {
			return fmt.Errorf("bank configure of %s: no config", u.Bank)
		}
		if err := u.Config.Validate(); err != nil {
			return fmt.Errorf("bank configure of %s: %w", u.Bank, err)
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if err := b.configure(u.Bank, normConfig(*u.Config), true); err != nil {
			return err
		}
	default:
		return fmt.Errorf("bank update %s: unknown op %q (want %q, %q or %q)", u.Key(), u.Op,
			events.BankOpAdd, events.BankOpDisable, events.BankOpConfigure)
	}
	b.generation++
	return nil
}

// normalizeEntrySignals validates an add's signals and returns them
// normalised, sorted and without duplicates.
func normalizeEntrySignals(u events.BankUpdate) ([]events.Signal, error) {
	if len(u.Signals) == 0 {
		return nil, fmt.Errorf("bank entry %s: no signals", u.Key())
	}
	if len(u.Signals) > maxEntrySignals {
		return nil, fmt.Errorf("bank entry %s: %d signals, at most %d per entry", u.Key(), len(u.Signals), maxEntrySignals)
	}
	sigs := make([]events.Signal, 0, len(u.Signals))
	for i, s := range u.Signals {
		n, err := Normalize(s)
		if err != nil {
			return nil, fmt.Errorf("bank entry %s: signal %d: %w", u.Key(), i, err)
		}
		// A bank hash's quality and variant play no part in matching, but
		// a video frame's time does (video.go).
		variant, err := frameVariant(n)
		if err != nil {
			return nil, fmt.Errorf("bank entry %s: signal %d: %w", u.Key(), i, err)
		}
		sigs = append(sigs, events.Signal{Type: n.Type, Value: n.Value, Variant: variant})
	}
	sortSignals(sigs)
	// A hash seen at several times of a video keeps its first.
	return slices.CompactFunc(sigs, func(a, b events.Signal) bool { return a.Type == b.Type && a.Value == b.Value }), nil
}

// sortSignals sorts by type and value, then a video frame's time (earliest
// first; frameVariant made the variants canonical).
func sortSignals(sigs []events.Signal) {
	slices.SortFunc(sigs, func(a, b events.Signal) int {
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		if c := strings.Compare(a.Value, b.Value); c != 0 {
			return c
		}
		if c := len(a.Variant) - len(b.Variant); c != 0 {
			return c
		}
		return strings.Compare(a.Variant, b.Variant)
	})
}

// bankFor returns the number of the named bank, creating it with the default
// configuration. Callers hold the write lock.
func (b *Banks) bankFor(name string) (uint16, error) {
	if i, ok := b.bankIdx[name]; ok {
		return i, nil
	}
	if len(b.banks) > 1<<16-1 {
		return 0, fmt.Errorf("bank %s: too many banks (at most %d)", name, 1<<16)
	}
	i := uint16(len(b.banks))
	bs := &bankState{name: strings.Clone(name)}
	bs.set(events.DefaultBankConfig(), false, b)
	b.banks = append(b.banks, bs)
	b.bankIdx[bs.name] = i
	b.updateRadius()
	return i, nil
}

// add (re)places an entry. Callers hold the write lock.
func (b *Banks) add(bank, id string, labels []string, sigs []events.Signal) error {
	bi, err := b.bankFor(bank)
	if err != nil {
		return err
	}
	bs := b.banks[bi]
	slot, ok := b.findEntry(bi, id)
	if ok {
		e := &b.entries[slot]
		if e.disabled() {
			delete(b.parked, slot)
			bs.disabled--
		} else {
			b.unindex(slot)
			bs.entries--
			b.enabled--
		}
		b.labels.release(e.labels)
	} else {
		slot = b.newEntry(bi, id)
	}
	e := &b.entries[slot]
	e.labels = b.labels.intern(labels)
	b.index(slot, sigs)
	b.version ^= entryFingerprint(bank, id, labels, sigs)
	bs.entries++
	b.enabled++
	return nil
}

// disable disables an entry. One never seen is recorded (with the labels and
// the valid signals the update names, for Entry and export) so that Stats
// counts it and a later add replaces it as usual. Callers hold the write
// lock.
func (b *Banks) disable(bank, id string, labels []string, named []events.Signal) error {
	bi, err := b.bankFor(bank)
	if err != nil {
		return err
	}
	bs := b.banks[bi]
	slot, ok := b.findEntry(bi, id)
	if !ok {
		slot = b.newEntry(bi, id)
		b.entries[slot].labels = b.labels.intern(labels)
		var sigs []events.Signal
		for _, s := range named {
			if n, err := Normalize(s); err == nil {
				sigs = append(sigs, events.Signal{Type: n.Type, Value: n.Value})
			}
		}
		if len(sigs) > 0 {
			sortSignals(sigs)
			b.parked[slot] = slices.CompactFunc(sigs, func(a, b events.Signal) bool { return a.Type == b.Type && a.Value == b.Value })
		}
		bs.disabled++
		return nil
	}
	if b.entries[slot].disabled() {
		return nil
	}
	b.parked[slot] = b.unindex(slot)
	bs.entries--
	bs.disabled++
	b.enabled--
	return nil
}

func (b *Banks) keyHash(bank uint16, id string) uint64 {
	return maphash.String(b.keySeed, id) ^ (uint64(bank)+1)*0x9e3779b97f4a7c15
}

// findEntry returns the slot of an entry. Callers hold a lock.
func (b *Banks) findEntry(bank uint16, id string) (uint32, bool) {
	slot, ok := b.byKey[b.keyHash(bank, id)]
	if !ok {
		return 0, false
	}
	if e := &b.entries[slot]; e.bank == bank && e.id == id {
		return slot, true
	}
	slot, ok = b.keyOverflow[entryKey{bank, id}]
	return slot, ok
}

// newEntry appends an entry and registers its key. Callers hold the write
// lock and have checked that the key is new.
func (b *Banks) newEntry(bank uint16, id string) uint32 {
	if len(b.entries) >= 1<<32-1 {
		panic("bank: more than 2^32 entries") // memory runs out long before
	}
	slot := uint32(len(b.entries))
	id = strings.Clone(id) // not a view into a larger decode buffer
	b.entries = append(b.entries, entry{id: id, bank: bank})
	b.addKey(bank, id, slot)
	return slot
}

// addKey registers an entry's key; false if the key is registered already.
func (b *Banks) addKey(bank uint16, id string, slot uint32) bool {
	h := b.keyHash(bank, id)
	other, taken := b.byKey[h]
	if !taken {
		b.byKey[h] = slot
		return true
	}
	if e := &b.entries[other]; e.bank == bank && e.id == id {
		return false
	}
	k := entryKey{bank, id}
	if _, dup := b.keyOverflow[k]; dup {
		return false
	}
	b.keyOverflow[k] = slot
	return true
}

// index inserts an entry's signals into the tables. Callers hold the write
// lock.
func (b *Banks) index(slot uint32, sigs []events.Signal) {
	e := &b.entries[slot]
	e.nsig = uint16(len(sigs))
	var extra []sigRef
	for i, s := range sigs {
		r := b.insertSignal(parse(s), slot)
		if ms, ok := events.ParseFrameVariant(s.Variant); ok && r.typ() == tPDQ {
			b.frameMs[r.slot()] = uint32(ms)
		}
		if i < len(e.sig) {
			e.sig[i] = r
		} else {
			if extra == nil {
				extra = make([]sigRef, 0, len(sigs)-len(e.sig))
			}
			extra = append(extra, r)
		}
	}
	if extra != nil {
		b.more[slot] = extra
	}
}

func (b *Banks) insertSignal(p parsed, owner uint32) sigRef {
	var s uint32
	switch p.t {
	case tSHA256:
		s = b.sha256.insert(p.b32, owner)
	case tMD5:
		s = b.md5.insert(p.b16, owner)
	case tPHash:
		s = b.phash.alloc(owner)
		b.phash.index().Insert(s, p.u64)
	case tDHash:
		s = b.dhash.alloc(owner)
		b.dhash.index().Insert(s, p.u64)
	case tPDQ:
		s = b.pdq.alloc(owner)
		b.pdq.index().Insert(s, p.b32)
	}
	if s >= maxSlots {
		panic(fmt.Sprintf("bank: more than %d %s signals", maxSlots, p.t)) // memory runs out long before
	}
	return mkRef(p.t, s)
}

// refs returns an entry's signal references.
func (b *Banks) refs(slot uint32) []sigRef {
	e := &b.entries[slot]
	n := int(e.nsig)
	out := make([]sigRef, 0, n)
	out = append(out, e.sig[:min(n, len(e.sig))]...)
	return append(out, b.more[slot]...)
}

// signal reads a stored signal back.
func (b *Banks) signal(r sigRef) events.Signal {
	p := parsed{t: r.typ()}
	s := r.slot()
	switch p.t {
	case tSHA256:
		p.b32 = b.sha256.hashes[s]
	case tMD5:
		p.b16 = b.md5.hashes[s]
	case tPHash:
		p.u64, _ = b.phash.idx.Get(s)
	case tDHash:
		p.u64, _ = b.dhash.idx.Get(s)
	case tPDQ:
		p.b32, _ = b.pdq.idx.Get(s)
	}
	out := events.Signal{Type: p.t.String(), Value: p.value()}
	if ms, ok := b.frameMs[s]; ok && p.t == tPDQ {
		out.Variant = events.FrameVariant(int64(ms))
	}
	return out
}

// signalsOf returns an enabled entry's signals, sorted.
func (b *Banks) signalsOf(slot uint32) []events.Signal {
	refs := b.refs(slot)
	out := make([]events.Signal, len(refs))
	for i, r := range refs {
		out[i] = b.signal(r)
	}
	sortSignals(out)
	return out
}

// unindex removes an enabled entry's signals from the tables, takes its
// fingerprint out of the version and returns the signals. The entry is left
// disabled. Callers hold the write lock.
func (b *Banks) unindex(slot uint32) []events.Signal {
	sigs := b.signalsOf(slot)
	e := &b.entries[slot]
	b.version ^= entryFingerprint(b.banks[e.bank].name, e.id, b.labels.get(e.labels), sigs)
	for _, r := range b.refs(slot) {
		s := r.slot()
		switch r.typ() {
		case tSHA256:
			b.sha256.remove(s)
		case tMD5:
			b.md5.remove(s)
		case tPHash:
			b.phash.idx.Delete(s)
			b.phash.release(s)
		case tDHash:
			b.dhash.idx.Delete(s)
			b.dhash.release(s)
		case tPDQ:
			b.pdq.idx.Delete(s)
			b.pdq.release(s)
			delete(b.frameMs, s)
		}
	}
	delete(b.more, slot)
	e.nsig = 0
	e.sig = [2]sigRef{}
	return sigs
}

// DisableKey applies a tombstone: key is a compaction key of bank.updates.
// "bank/entry" disables that entry; "bank/" (a deleted configure) returns the
// bank to the default configuration. It reports whether the key named
// something known.
func (b *Banks) DisableKey(key string) bool {
	bank, id, ok := strings.Cut(key, "/")
	if !ok || bank == "" {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	bi, ok := b.bankIdx[bank]
	if !ok {
		return false
	}
	if id == "" {
		if !b.banks[bi].explicit {
			return false
		}
		_ = b.configure(bank, events.DefaultBankConfig(), false) // the bank exists: cannot fail
		b.generation++
		return true
	}
	if _, ok := b.findEntry(bi, id); !ok {
		return false
	}
	_ = b.disable(bank, id, nil, nil) // the bank exists: cannot fail
	b.generation++
	return true
}

// Generation counts the changes applied so far. It only grows.
func (b *Banks) Generation() uint64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.generation
}

// Version is a fingerprint of what the banks match: the options, the enabled
// entries and the bank configurations. Unlike Generation, which counts this
// process's updates, two processes holding the same content have the same
// Version however they got there (a replica restarted on a compacted topic
// applies fewer updates), so it can key a verdict cache shared between
// replicas: equal versions give equal verdicts.
func (b *Banks) Version() uint64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.version
}

// Len is the number of enabled entries.
func (b *Banks) Len() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.enabled
}

// Entry returns a copy of one entry, enabled or disabled.
func (b *Banks) Entry(bank, entryID string) (Entry, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	bi, ok := b.bankIdx[bank]
	if !ok {
		return Entry{}, false
	}
	slot, ok := b.findEntry(bi, entryID)
	if !ok {
		return Entry{}, false
	}
	return b.entryLocked(slot), true
}

func (b *Banks) entryLocked(slot uint32) Entry {
	e := &b.entries[slot]
	out := Entry{
		Bank:     b.banks[e.bank].name,
		EntryID:  e.id,
		Labels:   slices.Clone(b.labels.get(e.labels)),
		Disabled: e.disabled(),
	}
	if out.Disabled {
		out.Signals = slices.Clone(b.parked[slot])
	} else {
		out.Signals = b.signalsOf(slot)
	}
	if out.Signals == nil {
		out.Signals = []events.Signal{}
	}
	return out
}

// BankStats counts the entries of one bank and shows its main settings.
type BankStats struct {
	Entries  int    `json:"entries"`
	Disabled int    `json:"disabled"`
	Kind     string `json:"kind"`
	Enabled  bool   `json:"enabled"`
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
	for _, bs := range b.banks {
		st.Banks[bs.name] = BankStats{Entries: bs.entries, Disabled: bs.disabled, Kind: bs.cfg.Kind, Enabled: bs.cfg.Enabled}
		st.Entries += bs.entries
		st.Disabled += bs.disabled
	}
	return st
}

// All iterates over every entry, enabled and disabled, sorted by bank and
// entry id. It holds the read lock while it runs: the loop body must not
// update b.
func (b *Banks) All() iter.Seq[Entry] {
	return func(yield func(Entry) bool) {
		b.mu.RLock()
		defer b.mu.RUnlock()
		order := make([]uint32, len(b.entries))
		for i := range order {
			order[i] = uint32(i)
		}
		slices.SortFunc(order, func(x, y uint32) int {
			ex, ey := &b.entries[x], &b.entries[y]
			if ex.bank != ey.bank {
				return strings.Compare(b.banks[ex.bank].name, b.banks[ey.bank].name)
			}
			return strings.Compare(ex.id, ey.id)
		})
		for _, slot := range order {
			if !yield(b.entryLocked(slot)) {
				return
			}
		}
	}
}
