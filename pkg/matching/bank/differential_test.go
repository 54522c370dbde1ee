package bank

import (
	"encoding/hex"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

// model is an obviously correct bank: the latest update of every key, matched
// by brute force, with the allow-list rules written out again. It shares no
// matching code with Banks.
type model struct {
	entries  map[string]events.BankUpdate
	disabled map[string]bool
	configs  map[string]events.BankConfig
	defaults map[string]int
	minQ     int
	lowQ     int
	lowThr   int
}

func newModel() *model {
	return &model{entries: map[string]events.BankUpdate{}, disabled: map[string]bool{}, configs: map[string]events.BankConfig{},
		defaults: map[string]int{"pdq": 31, "phash": 10, "dhash": 10, "md5": 0, "sha256": 0}, minQ: 50, lowQ: 30, lowThr: 24}
}

func (m *model) apply(u events.BankUpdate) {
	switch u.Op {
	case events.BankOpAdd:
		u.Signals = slices.Clone(u.Signals)
		for i := range u.Signals {
			u.Signals[i].Value = strings.ToLower(u.Signals[i].Value)
		}
		m.entries[u.Key()] = u
		delete(m.disabled, u.Key())
	case events.BankOpDisable:
		m.disabled[u.Key()] = true
	case events.BankOpConfigure:
		m.configs[u.Bank] = *u.Config
	}
}

var modelDigits = map[string]int{"pdq": 64, "sha256": 64, "md5": 32, "phash": 16, "dhash": 16}

// usable says whether a query signal takes part in matching at all.
func (m *model) usable(q events.Signal) bool {
	n, ok := modelDigits[q.Type]
	if !ok || len(q.Value) != n {
		return false
	}
	if _, err := hex.DecodeString(q.Value); err != nil {
		return false
	}
	if q.Type != "md5" && q.Type != "sha256" && strings.Trim(q.Value, "0") == "" {
		return false
	}
	return !(q.Type == "pdq" && q.Quality != nil && *q.Quality < m.lowQ)
}

// limit is the largest distance any bank may accept for a usable query:
// the reduced tier's threshold for a pdq hash of quality below the minimum.
func (m *model) limit(q events.Signal) int {
	if q.Type == "pdq" && q.Quality != nil && *q.Quality < m.minQ {
		return m.lowThr
	}
	return 1 << 30
}

// decoded caches hex decoding: the model decodes the same bank hashes for
// every query.
var decoded = map[string][]byte{}

func hamming(a, b string) int {
	x, ok := decoded[a]
	if !ok {
		x, _ = hex.DecodeString(a)
		decoded[a] = x
	}
	y, ok := decoded[b]
	if !ok {
		y, _ = hex.DecodeString(b)
		decoded[b] = y
	}
	if len(x) != len(y) {
		return 1 << 20
	}
	d := 0
	for i := range x {
		d += bits.OnesCount8(x[i] ^ y[i])
	}
	return d
}

func (m *model) setting(bank, typ string) (on bool, thr int) {
	c, ok := m.configs[bank]
	if !ok {
		return true, m.defaults[typ]
	}
	for _, s := range c.Signals {
		if s.Type == typ {
			return s.Enabled, s.Threshold
		}
	}
	return true, m.defaults[typ]
}

func (m *model) verdict(query []events.Signal) Verdict {
	var usable []events.Signal
	for _, q := range query {
		if m.usable(q) {
			q.Value = strings.ToLower(q.Value)
			usable = append(usable, q)
		}
	}
	// A hit is one entry signal within threshold of one query signal.
	type hit struct {
		key   string // entry|type
		allow bool
		m     events.Match
	}
	var hits []hit
	for key, u := range m.entries {
		if m.disabled[key] {
			continue
		}
		cfg, ok := m.configs[u.Bank]
		if !ok {
			cfg = events.DefaultBankConfig()
		}
		if !cfg.Enabled {
			continue
		}
		for _, q := range usable {
			qv := q.Value
			for _, s := range u.Signals {
				if s.Type != q.Type {
					continue
				}
				on, thr := m.setting(u.Bank, s.Type)
				thr = min(thr, m.limit(q))
				d := hamming(s.Value, qv)
				if !on || d > thr {
					continue
				}
				labels := map[string]bool{}
				for _, l := range append(slices.Clone(u.Labels), cfg.Labels...) {
					labels[l] = true
				}
				ls := []string{}
				for l := range labels {
					ls = append(ls, l)
				}
				slices.Sort(ls)
				hits = append(hits, hit{key + "|" + s.Type, cfg.Kind == events.BankKindAllow, events.Match{Bank: u.Bank,
					EntryID: u.EntryID, Labels: ls, SignalType: s.Type, Signal: qv,
					Variant: q.Variant, Distance: d, Threshold: thr, Incident: cfg.Incident, Severity: cfg.Severity}})
			}
		}
	}
	// The region of a query variant: rotations and mirrors are the whole
	// picture.
	region := func(v string) string {
		if slices.Contains([]string{"rot90", "rot180", "rot270", "flipx", "flipy", "flipplus", "flipminus"}, v) {
			return ""
		}
		return v
	}
	allowedScope := map[string]bool{}
	for _, h := range hits {
		if h.allow {
			allowedScope[h.m.SignalType+"|"+region(h.m.Variant)] = true
		}
	}
	keep := func(best map[string]events.Match, k string, c events.Match) {
		if old, ok := best[k]; ok && (old.Distance < c.Distance || old.Distance == c.Distance &&
			(old.Signal < c.Signal || old.Signal == c.Signal && old.Variant <= c.Variant)) {
			return
		}
		best[k] = c
	}
	allowed, standing, suppressed := map[string]events.Match{}, map[string]events.Match{}, map[string]events.Match{}
	for _, h := range hits {
		switch {
		case h.allow:
			keep(allowed, h.key, h.m)
		case allowedScope[h.m.SignalType+"|"+region(h.m.Variant)]:
			keep(suppressed, h.key, h.m)
		default:
			keep(standing, h.key, h.m)
		}
	}
	v := Verdict{Matches: []events.Match{}, Suppressed: []events.Match{}, Allowed: []events.Match{}}
	for _, x := range allowed {
		v.Allowed = append(v.Allowed, x)
	}
	for _, x := range standing {
		v.Matches = append(v.Matches, x)
	}
	for k, x := range suppressed {
		if _, ok := standing[k]; !ok {
			v.Suppressed = append(v.Suppressed, x)
		}
	}
	for _, l := range [][]events.Match{v.Matches, v.Suppressed, v.Allowed} {
		slices.SortFunc(l, func(a, b events.Match) int {
			if a.Distance != b.Distance {
				return a.Distance - b.Distance
			}
			for _, c := range [][2]string{{a.Bank, b.Bank}, {a.EntryID, b.EntryID}, {a.SignalType, b.SignalType},
				{a.Signal, b.Signal}, {a.Variant, b.Variant}} {
				if c[0] != c[1] {
					return strings.Compare(c[0], c[1])
				}
			}
			return 0
		})
	}
	return v
}

// gen makes random updates and queries whose hashes cluster around a few
// centres, so that many queries land within, at and just past thresholds.
type gen struct {
	r       *rand.Rand
	pdq     [][32]byte
	h64     []uint64
	md5s    []string
	shas    []string
	banks   []string
	labels  []string
	variant []string
}

func newGen(seed uint64) *gen {
	g := &gen{r: rand.New(rand.NewPCG(seed, seed^0x5eed)), banks: []string{"b0", "b1", "b2", "b3", "b4"},
		labels:  []string{"category:tve", "source:gifct", "source:tat", "x", "y"},
		variant: []string{"", "", "", events.VariantFlipX, events.VariantRot90, "center80"}}
	for range 30 {
		var h [32]byte
		for i := range h {
			h[i] = byte(g.r.Uint32())
		}
		g.pdq = append(g.pdq, h)
		g.h64 = append(g.h64, g.r.Uint64())
	}
	for i := range 25 {
		g.md5s = append(g.md5s, fmt.Sprintf("%032x", g.r.Uint64()<<8|uint64(i)))
		g.shas = append(g.shas, fmt.Sprintf("%064x", g.r.Uint64()<<8|uint64(i)))
	}
	return g
}

func (g *gen) signal() events.Signal {
	switch g.r.IntN(10) {
	case 0:
		return sig("md5", g.md5s[g.r.IntN(len(g.md5s))])
	case 1:
		return sig("sha256", g.shas[g.r.IntN(len(g.shas))])
	case 2, 3:
		h := g.h64[g.r.IntN(len(g.h64))]
		for _, i := range g.r.Perm(64)[:g.r.IntN(14)] {
			h ^= 1 << i
		}
		if h == 0 {
			h = 1
		}
		return sig([]string{"phash", "dhash"}[g.r.IntN(2)], hex16(h))
	default:
		h := g.pdq[g.r.IntN(len(g.pdq))]
		for _, i := range g.r.Perm(256)[:g.r.IntN(45)] {
			h[i/8] ^= 1 << (i % 8)
		}
		return sig("pdq", hex.EncodeToString(h[:]))
	}
}

func (g *gen) labelSet() []string {
	var out []string
	for _, l := range g.labels {
		if g.r.IntN(3) == 0 {
			out = append(out, l)
		}
	}
	return out
}

func (g *gen) config() *events.BankConfig {
	c := events.DefaultBankConfig()
	c.Enabled = g.r.IntN(8) != 0
	if g.r.IntN(5) == 0 {
		c.Kind = events.BankKindAllow
	}
	c.Labels = g.labelSet()
	c.Incident = g.r.IntN(4) == 0
	c.Severity = []string{"", events.SeverityCritical, events.SeverityHigh, events.SeverityMedium, events.SeverityLow}[g.r.IntN(5)]
	for _, typ := range []string{"pdq", "phash", "dhash", "md5", "sha256"} {
		if g.r.IntN(2) == 0 {
			continue
		}
		s := events.BankSignalConfig{Type: typ, Enabled: g.r.IntN(5) != 0}
		switch typ {
		case "pdq":
			s.Threshold = g.r.IntN(50)
		case "phash", "dhash":
			s.Threshold = g.r.IntN(16)
		}
		c.Signals = append(c.Signals, s)
	}
	return &c
}

func (g *gen) update(ids int) events.BankUpdate {
	bank := g.banks[g.r.IntN(len(g.banks))]
	id := fmt.Sprintf("e%d", g.r.IntN(ids))
	switch n := g.r.IntN(100); {
	case n < 2:
		return events.BankUpdate{Op: events.BankOpConfigure, Bank: bank, Config: g.config()}
	case n < 12:
		return disable(bank, id)
	}
	var sigs []events.Signal
	for k := 1 + g.r.IntN(3); k > 0; k-- {
		sigs = append(sigs, g.signal())
	}
	if g.r.IntN(40) == 0 {
		for k := 0; k < 5; k++ {
			sigs = append(sigs, g.signal()) // a "video" with many hashes
		}
	}
	return add(bank, id, g.labelSet(), sigs...)
}

func (g *gen) query() []events.Signal {
	var q []events.Signal
	for k := 1 + g.r.IntN(4); k > 0; k-- {
		s := g.signal()
		s.Variant = g.variant[g.r.IntN(len(g.variant))]
		if s.Type == "pdq" && g.r.IntN(3) == 0 {
			s.Quality = quality(g.r.IntN(101))
		}
		if g.r.IntN(4) == 0 {
			s.Value = strings.ToUpper(s.Value)
		}
		q = append(q, s)
	}
	if g.r.IntN(30) == 0 {
		q = append(q, sig("pdq", strings.Repeat("0", 64)), sig("phash", "xyz"))
	}
	return q
}

// TestDifferentialBanks checks Banks against the model over random banks with
// several banks, thresholds, allow-lists, disables and replacements, queried
// after every batch of updates.
func TestDifferentialBanks(t *testing.T) {
	g := newGen(11)
	b := testBanks(nil)
	m := newModel()
	var matched, suppressed, allowed int
	for round := 0; round < 8; round++ {
		for i := 0; i < 1200; i++ {
			u := g.update(3000)
			if err := b.Apply(u); err != nil {
				t.Fatalf("Apply(%s %s): %v", u.Op, u.Key(), err)
			}
			m.apply(u)
		}
		for i := 0; i < 75; i++ {
			q := g.query()
			got := b.MatchVerdict(q)
			want := m.verdict(q)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d query %d %+v:\n got %#v\nwant %#v", round, i, q, got, want)
			}
			matched += len(want.Matches)
			suppressed += len(want.Suppressed)
			allowed += len(want.Allowed)
		}
	}
	t.Logf("%d matches, %d suppressed, %d allow matches; %d pdq hashes indexed", matched, suppressed, allowed, b.pdq.idx.Len())
	if matched < 300 || suppressed < 50 || allowed < 50 {
		t.Fatalf("too few interesting verdicts (%d matched, %d suppressed, %d allowed): the test data does not test", matched, suppressed, allowed)
	}
	if b.pdq.idx.Len() < 2048 {
		t.Fatalf("only %d pdq hashes: the index never leaves its linear scan", b.pdq.idx.Len())
	}

	// Equal content, equal version: the final state applied in another order,
	// without the history, gives the same version.
	var state, disables []events.BankUpdate
	for _, u := range m.entries {
		state = append(state, u)
	}
	for name, c := range m.configs {
		state = append(state, events.BankUpdate{Op: events.BankOpConfigure, Bank: name, Config: &c})
	}
	for k := range m.disabled {
		bank, id, _ := strings.Cut(k, "/")
		disables = append(disables, disable(bank, id))
	}
	g.r.Shuffle(len(state), func(i, j int) { state[i], state[j] = state[j], state[i] })
	fresh := testBanks(nil)
	mustApply(t, fresh, state...)
	mustApply(t, fresh, disables...) // after the adds, as compaction leaves them
	if fresh.Version() != b.Version() {
		t.Errorf("same content, different versions: %x after history, %x fresh", b.Version(), fresh.Version())
	}
	if fresh.Len() != b.Len() {
		t.Errorf("Len %d fresh, %d after history", fresh.Len(), b.Len())
	}
}

// Matching handlers run many at a time against one shared Banks while the
// follower applies updates: under -race this checks the locking of the
// banks and their indexes (PDQ included, past its linear scan), and once
// the updates stop every handler's verdict is the model's.
func TestConcurrentMatchDuringUpdates(t *testing.T) {
	b := testBanks(nil)
	m := newModel()
	writer := newGen(21)
	var updates []events.BankUpdate
	for range 6000 {
		updates = append(updates, writer.update(3000))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := newGen(21) // the writer's hashes, so that queries hit
			g.r = rand.New(rand.NewPCG(uint64(r), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				q := g.query()
				_ = b.MatchVerdict(q)
				for _, s := range q {
					_, _ = b.Lookup(s)
				}
				_ = b.Version()
			}
		}()
	}
	for _, u := range updates {
		if err := b.Apply(u); err != nil {
			t.Fatalf("Apply(%s %s): %v", u.Op, u.Key(), err)
		}
		m.apply(u)
	}
	close(stop)
	wg.Wait()
	if b.pdq.idx.Len() < 2048 {
		t.Fatalf("only %d pdq hashes: the index never leaves its linear scan", b.pdq.idx.Len())
	}
	g := newGen(21)
	var mu sync.Mutex
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				mu.Lock()
				q := g.query()
				want := m.verdict(q)
				mu.Unlock()
				if got := b.MatchVerdict(q); !reflect.DeepEqual(got, want) {
					t.Errorf("reader %d, query %+v:\n got %#v\nwant %#v", r, q, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}
