package bank

import (
	"slices"
	"strings"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

// bankState is one bank: its configuration as set on the topic and what that
// means for matching, resolved against the defaults.
type bankState struct {
	name     string
	cfg      events.BankConfig // normalised
	explicit bool              // set by a configure (not the default)

	enabled bool
	allow   bool
	on      [numTypes]bool
	thr     [numTypes]int
	labels  []string

	entries, disabled int
}

// set installs a normalised configuration.
func (bs *bankState) set(cfg events.BankConfig, explicit bool, b *Banks) {
	bs.cfg = cfg
	bs.explicit = explicit
	bs.enabled = cfg.Enabled
	bs.allow = cfg.Kind == events.BankKindAllow
	bs.labels = cfg.Labels
	bs.thr = b.defaults
	bs.on = b.defaultOn
	for _, s := range cfg.Signals {
		t, _ := typeOf(s.Type) // validated
		bs.on[t] = s.Enabled
		bs.thr[t] = s.Threshold
	}
}

// normConfig returns a copy of a validated configuration with sorted,
// de-duplicated labels and signal settings sorted by type, so that equal
// settings compare and fingerprint alike.
func normConfig(c events.BankConfig) events.BankConfig {
	out := events.BankConfig{Enabled: c.Enabled, Kind: c.Kind, Labels: normLabels(c.Labels),
		Incident: c.Incident, Severity: c.Severity,
		VideoQueryPercent: c.VideoQueryPercent, VideoReferencePercent: c.VideoReferencePercent}
	out.Signals = slices.Clone(c.Signals)
	if out.Signals == nil {
		out.Signals = []events.BankSignalConfig{}
	}
	slices.SortFunc(out.Signals, func(a, b events.BankSignalConfig) int { return strings.Compare(a.Type, b.Type) })
	return out
}

func isDefaultConfig(c *events.BankConfig) bool {
	return c.Enabled && c.Kind == events.BankKindBlock && len(c.Labels) == 0 && len(c.Signals) == 0 &&
		!c.Incident && c.Severity == "" && c.VideoQueryPercent == 0 && c.VideoReferencePercent == 0
}

// configure sets a bank's configuration; explicit is false when a tombstone
// returns it to the default. Callers hold the write lock.
func (b *Banks) configure(name string, cfg events.BankConfig, explicit bool) error {
	bi, err := b.bankFor(name)
	if err != nil {
		return err
	}
	bs := b.banks[bi]
	if !isDefaultConfig(&bs.cfg) {
		b.version ^= configFingerprint(name, &bs.cfg)
	}
	bs.set(cfg, explicit, b)
	if !isDefaultConfig(&bs.cfg) {
		b.version ^= configFingerprint(name, &bs.cfg)
	}
	b.updateRadius()
	return nil
}

// updateRadius recomputes the search radius of each perceptual index.
// Callers hold the write lock (or own b exclusively).
func (b *Banks) updateRadius() {
	for t := range b.radius {
		b.radius[t] = -1
	}
	for _, bs := range b.banks {
		if !bs.enabled {
			continue
		}
		for t := range numTypes {
			if bs.on[t] {
				b.radius[t] = max(b.radius[t], bs.thr[t])
			}
		}
	}
}

// BankInfo describes one bank: its settings as configured, what they amount
// to with the defaults filled in, and its entry counts.
type BankInfo struct {
	Name string `json:"name"`
	// Configured is true when a configure set the settings; false for a bank
	// that only has entries and so runs on the defaults.
	Configured bool              `json:"configured"`
	Config     events.BankConfig `json:"config"`
	// Effective lists every signal type with the threshold and enabled flag
	// the bank matches with.
	Effective []events.BankSignalConfig `json:"effective"`
	Entries   int                       `json:"entries"`
	Disabled  int                       `json:"disabled"`
}

// List describes every bank known, by name.
func (b *Banks) List() []BankInfo {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]BankInfo, 0, len(b.banks))
	for _, bs := range b.banks {
		out = append(out, b.infoLocked(bs))
	}
	slices.SortFunc(out, func(a, b BankInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Bank describes one bank; false if no update ever named it.
func (b *Banks) Bank(name string) (BankInfo, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	i, ok := b.bankIdx[name]
	if !ok {
		return BankInfo{}, false
	}
	return b.infoLocked(b.banks[i]), true
}

func (b *Banks) infoLocked(bs *bankState) BankInfo {
	cfg := bs.cfg
	cfg.Labels = slices.Clone(cfg.Labels)
	cfg.Signals = slices.Clone(cfg.Signals)
	info := BankInfo{Name: bs.name, Configured: bs.explicit, Config: cfg, Entries: bs.entries, Disabled: bs.disabled}
	for t := range numTypes {
		info.Effective = append(info.Effective, events.BankSignalConfig{Type: t.String(), Enabled: bs.on[t], Threshold: bs.thr[t]})
	}
	slices.SortFunc(info.Effective, func(a, b events.BankSignalConfig) int { return strings.Compare(a.Type, b.Type) })
	return info
}
