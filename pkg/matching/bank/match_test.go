package bank

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

// pdqBase is a PDQ hash from the reference project's test set.
const pdqBase = "f162eb9daab170c0567fe3632d9a5548c5612982dd5e374a7424ebbc8a835c95"

// pdqFlip returns pdqBase with its lowest n bits inverted: a hash at distance n.
func pdqFlip(n int) string {
	b, _ := hex.DecodeString(pdqBase)
	for i := 0; i < n; i++ {
		b[31-i/8] ^= 1 << (i % 8)
	}
	return hex.EncodeToString(b)
}

// pdqOther is a hash far from pdqBase.
func pdqOther(seed uint64) string {
	var b [32]byte
	for i := 0; i < 4; i++ {
		binary.BigEndian.PutUint64(b[8*i:], seed*0x9e3779b97f4a7c15+uint64(i)*0xbf58476d1ce4e5b9|1)
	}
	return hex.EncodeToString(b[:])
}

func quality(q int) *int { return &q }

func configure(bank string, mut func(c *events.BankConfig)) events.BankUpdate {
	c := events.DefaultBankConfig()
	if mut != nil {
		mut(&c)
	}
	return events.BankUpdate{Op: events.BankOpConfigure, Bank: bank, Config: &c}
}

func mustApply(t *testing.T, b *Banks, us ...events.BankUpdate) {
	t.Helper()
	for _, u := range us {
		if err := b.Apply(u); err != nil {
			t.Fatalf("Apply(%s %s): %v", u.Op, u.Key(), err)
		}
	}
}

func TestPDQ(t *testing.T) {
	if got := pdqFlip(31); len(got) != 64 || got == pdqBase {
		t.Fatalf("pdqFlip is broken: %s", got)
	}
	cases := []struct {
		name  string
		query events.Signal
		want  []hit
	}{
		{"identical", sig("pdq", pdqBase), []hit{{"b", "e", 0}}},
		{"upper case", sig("pdq", strings.ToUpper(pdqFlip(3))), []hit{{"b", "e", 3}}},
		{"at the threshold", sig("pdq", pdqFlip(31)), []hit{{"b", "e", 31}}},
		{"one past the threshold", sig("pdq", pdqFlip(32)), []hit{}},
		{"far", sig("pdq", pdqOther(7)), []hit{}},
		{"all-zero query", sig("pdq", strings.Repeat("0", 64)), []hit{}},
		{"63 digits", sig("pdq", pdqBase[:63]), []hit{}},
		{"quality 49: within 24", events.Signal{Type: "pdq", Value: pdqFlip(24), Quality: quality(49)}, []hit{{"b", "e", 24}}},
		{"quality 49: not within 25", events.Signal{Type: "pdq", Value: pdqFlip(25), Quality: quality(49)}, []hit{}},
		{"quality 30: within 24", events.Signal{Type: "pdq", Value: pdqFlip(10), Quality: quality(30)}, []hit{{"b", "e", 10}}},
		{"quality 29 is not trusted", events.Signal{Type: "pdq", Value: pdqBase, Quality: quality(29)}, []hit{}},
		{"quality 50", events.Signal{Type: "pdq", Value: pdqBase, Quality: quality(50)}, []hit{{"b", "e", 0}}},
		{"quality 0", events.Signal{Type: "pdq", Value: pdqBase, Quality: quality(0)}, []hit{}},
		{"sha256 of the same digits", sig("sha256", pdqBase), []hit{}},
	}
	b := testBanks(nil)
	mustApply(t, b, add("b", "e", nil, sig("pdq", pdqBase)))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := hits(b.Match([]events.Signal{tc.query})); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Match = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestMinPDQQuality(t *testing.T) {
	// Each case queries the bank's hash moved by dist bits.
	cases := []struct {
		min, low, lowThr int
		quality, dist    int
		match            bool
	}{
		{0, 0, 0, 50, 31, true}, {0, 0, 0, 49, 24, true}, {0, 0, 0, 49, 25, false}, // defaults: 50, 30, 24
		{0, 0, 0, 30, 0, true}, {0, 0, 0, 29, 0, false},
		{0, -1, 0, 49, 0, false}, {0, -1, 0, 50, 31, true}, // no reduced tier
		{-1, 0, 0, 0, 31, true}, {-1, 0, 0, 49, 31, true}, // no minimum at all
		{80, 0, 0, 79, 24, true}, {80, 0, 0, 79, 25, false}, {80, 0, 0, 80, 31, true},
		{80, 60, 10, 60, 10, true}, {80, 60, 10, 60, 11, false}, {80, 60, 10, 59, 0, false},
		{50, 60, 10, 55, 31, true},                            // a tier above the minimum is none
		{50, 30, -1, 40, 0, true}, {50, 30, -1, 40, 1, false}, // negative: identical only
	}
	for _, tc := range cases {
		b, err := New(Options{MinPDQQuality: tc.min, LowPDQQuality: tc.low, LowPDQThreshold: tc.lowThr, Enabled: allOn()})
		if err != nil {
			t.Fatal(err)
		}
		mustApply(t, b, add("b", "e", nil, sig("pdq", pdqBase)))
		got := b.Match([]events.Signal{{Type: "pdq", Value: pdqFlip(tc.dist), Quality: quality(tc.quality)}})
		if (len(got) == 1) != tc.match {
			t.Errorf("minimum %d, low %d within %d; quality %d at distance %d: matches %+v, want match=%v",
				tc.min, tc.low, tc.lowThr, tc.quality, tc.dist, got, tc.match)
		}
		// Options round-trip through New.
		again, err := New(b.Options())
		if err != nil || !reflect.DeepEqual(again.Options(), b.Options()) || again.Version() != newBanks(b.Options()).Version() {
			t.Errorf("options %+v do not round-trip: %v", b.Options(), err)
		}
	}
	// Quality only gates pdq: a phash with a low quality still matches.
	b := testBanks(nil)
	mustApply(t, b, add("b", "p", nil, sig("phash", hex16(ph))))
	if got := b.Match([]events.Signal{{Type: "phash", Value: hex16(ph), Quality: quality(1)}}); len(got) != 1 {
		t.Errorf("phash with quality 1: %+v, want a match", got)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	cases := []struct {
		name    string
		opts    Options
		mention string
	}{
		{"pdq 257", Options{Thresholds: Thresholds{"pdq": 257}}, "pdq threshold 257"},
		{"phash 65", Options{Thresholds: Thresholds{"phash": 65}}, "phash threshold 65"},
		{"negative", Options{Thresholds: Thresholds{"dhash": -1}}, "dhash threshold -1"},
		{"exact", Options{Thresholds: Thresholds{"md5": 3}}, "md5 threshold 3"},
		{"unknown", Options{Thresholds: Thresholds{"tmk": 3}}, `"tmk"`},
		{"quality", Options{MinPDQQuality: 101}, "quality 101"},
		{"low quality", Options{LowPDQQuality: 101}, "quality 101"},
		{"low threshold", Options{LowPDQThreshold: 257}, "threshold 257"},
	}
	for _, tc := range cases {
		if _, err := New(tc.opts); err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: New error %v, want one mentioning %q", tc.name, err, tc.mention)
		}
	}
	if _, err := New(Options{Thresholds: Thresholds{"pdq": 256, "phash": 0, "md5": 0}}); err != nil {
		t.Errorf("valid options refused: %v", err)
	}
}

func TestVariantIsReported(t *testing.T) {
	b := testBanks(nil)
	mustApply(t, b, add("b", "e", nil, sig("pdq", pdqBase)))
	q := []events.Signal{
		{Type: "pdq", Value: pdqFlip(20)},
		{Type: "pdq", Value: pdqFlip(2), Variant: events.VariantFlipX},
		{Type: "pdq", Value: pdqFlip(9), Variant: events.VariantRot90},
	}
	got := b.Match(q)
	if len(got) != 1 || got[0].Variant != events.VariantFlipX || got[0].Distance != 2 || got[0].Signal != pdqFlip(2) {
		t.Fatalf("Match = %+v, want one match at distance 2 through variant flipx", got)
	}
	// Two variants with the same hash (a symmetric picture): the whole
	// picture wins the tie, whatever the order.
	q = []events.Signal{{Type: "pdq", Value: pdqBase, Variant: events.VariantRot180}, {Type: "pdq", Value: pdqBase}}
	for _, order := range [][]events.Signal{q, {q[1], q[0]}} {
		if got := b.Match(order); len(got) != 1 || got[0].Variant != "" {
			t.Fatalf("Match = %+v, want the whole-picture variant", got)
		}
	}
}

func TestBlankHashesRefused(t *testing.T) {
	for _, typ := range []string{"pdq", "phash", "dhash"} {
		zero := strings.Repeat("0", hexDigits[typ])
		b := testBanks(nil)
		err := b.Apply(add("b", "e", nil, sig(typ, zero)))
		if !errors.Is(err, ErrBlankHash) || !errors.Is(err, ErrInvalidSignal) {
			t.Errorf("%s all-zero: error %v, want ErrBlankHash and ErrInvalidSignal", typ, err)
		}
		if b.Len() != 0 {
			t.Errorf("%s all-zero: entry added", typ)
		}
	}
	// The exact types have no blank value: an all-zero md5 is just a hash.
	b := testBanks(nil)
	mustApply(t, b, add("b", "e", nil, sig("md5", strings.Repeat("0", 32))))
	if got := b.Match([]events.Signal{sig("md5", strings.Repeat("0", 32))}); len(got) != 1 {
		t.Errorf("all-zero md5: %+v, want a match", got)
	}
}

func TestBankSettings(t *testing.T) {
	entries := []events.BankUpdate{
		add("a", "p", []string{"x", "category:tve"}, sig("pdq", pdqBase), sig("md5", md5A)),
		add("b", "p", nil, sig("pdq", pdqBase)),
	}
	query := func(d int) []events.Signal {
		return []events.Signal{sig("pdq", pdqFlip(d)), sig("md5", md5A)}
	}
	type m struct {
		bank, typ string
		d, thr    int
	}
	cases := []struct {
		name   string
		config []events.BankUpdate
		query  []events.Signal
		want   []m
		labels []string // of bank a's pdq match, when set
	}{
		{"defaults", nil, query(31), []m{{"a", "md5", 0, 0}, {"a", "pdq", 31, 31}, {"b", "pdq", 31, 31}}, nil},
		{"lower pdq threshold", []events.BankUpdate{configure("a", func(c *events.BankConfig) {
			c.Signals = []events.BankSignalConfig{{Type: "pdq", Enabled: true, Threshold: 10}}
		})}, query(11), []m{{"a", "md5", 0, 0}, {"b", "pdq", 11, 31}}, nil},
		{"lower pdq threshold, at it", []events.BankUpdate{configure("a", func(c *events.BankConfig) {
			c.Signals = []events.BankSignalConfig{{Type: "pdq", Enabled: true, Threshold: 10}}
		})}, query(10), []m{{"a", "md5", 0, 0}, {"a", "pdq", 10, 10}, {"b", "pdq", 10, 31}}, nil},
		{"higher pdq threshold in one bank only", []events.BankUpdate{configure("a", func(c *events.BankConfig) {
			c.Signals = []events.BankSignalConfig{{Type: "pdq", Enabled: true, Threshold: 48}}
		})}, query(40), []m{{"a", "md5", 0, 0}, {"a", "pdq", 40, 48}}, nil},
		{"bank disabled", []events.BankUpdate{configure("a", func(c *events.BankConfig) { c.Enabled = false })},
			query(5), []m{{"b", "pdq", 5, 31}}, nil},
		{"pdq disabled in a bank", []events.BankUpdate{configure("a", func(c *events.BankConfig) {
			c.Signals = []events.BankSignalConfig{{Type: "pdq", Threshold: 31}}
		})}, query(5), []m{{"a", "md5", 0, 0}, {"b", "pdq", 5, 31}}, nil},
		{"md5 disabled in a bank", []events.BankUpdate{configure("a", func(c *events.BankConfig) {
			c.Signals = []events.BankSignalConfig{{Type: "md5"}}
		})}, query(5), []m{{"a", "pdq", 5, 31}, {"b", "pdq", 5, 31}}, nil},
		{"pdq disabled everywhere", []events.BankUpdate{
			configure("a", func(c *events.BankConfig) { c.Signals = []events.BankSignalConfig{{Type: "pdq"}} }),
			configure("b", func(c *events.BankConfig) { c.Signals = []events.BankSignalConfig{{Type: "pdq"}} }),
		}, query(0), []m{{"a", "md5", 0, 0}}, nil},
		{"bank labels merged", []events.BankUpdate{configure("a", func(c *events.BankConfig) {
			c.Labels = []string{"source:gifct", "x", "category:tve"}
		})}, query(0), []m{{"a", "md5", 0, 0}, {"a", "pdq", 0, 31}, {"b", "pdq", 0, 31}},
			[]string{"category:tve", "source:gifct", "x"}},
		{"a later configure replaces the whole config", []events.BankUpdate{
			configure("a", func(c *events.BankConfig) {
				c.Enabled = false
				c.Signals = []events.BankSignalConfig{{Type: "pdq", Enabled: true, Threshold: 1}}
			}),
			configure("a", func(c *events.BankConfig) { c.Labels = []string{"y"} }),
		}, query(31), []m{{"a", "md5", 0, 0}, {"a", "pdq", 31, 31}, {"b", "pdq", 31, 31}},
			[]string{"category:tve", "x", "y"}},
		{"configure before the entries", nil, query(0), []m{{"a", "md5", 0, 0}, {"a", "pdq", 0, 31}, {"b", "pdq", 0, 31}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := testBanks(nil)
			if tc.name == "configure before the entries" {
				mustApply(t, b, configure("a", nil))
			}
			mustApply(t, b, entries...)
			mustApply(t, b, tc.config...)
			got := b.Match(tc.query)
			var short []m
			for _, x := range got {
				short = append(short, m{x.Bank, x.SignalType, x.Distance, x.Threshold})
				if x.Bank == "a" && x.SignalType == "pdq" && tc.labels != nil && !reflect.DeepEqual(x.Labels, tc.labels) {
					t.Errorf("labels %v, want %v", x.Labels, tc.labels)
				}
			}
			sortM := func(ms []m) {
				for i := range ms {
					for j := i + 1; j < len(ms); j++ {
						if ms[j].bank+ms[j].typ < ms[i].bank+ms[i].typ {
							ms[i], ms[j] = ms[j], ms[i]
						}
					}
				}
			}
			sortM(short)
			if !reflect.DeepEqual(short, tc.want) {
				t.Fatalf("matches %+v, want %+v", short, tc.want)
			}
		})
	}
}

func TestConfigureRefused(t *testing.T) {
	cases := []struct {
		name    string
		u       events.BankUpdate
		mention string
	}{
		{"no config", events.BankUpdate{Op: events.BankOpConfigure, Bank: "a"}, "no config"},
		{"with entry", func() events.BankUpdate { u := configure("a", nil); u.EntryID = "x"; return u }(), `entry "x"`},
		{"bad kind", configure("a", func(c *events.BankConfig) { c.Kind = "deny" }), `"deny"`},
		{"pdq threshold", configure("a", func(c *events.BankConfig) {
			c.Signals = []events.BankSignalConfig{{Type: "pdq", Threshold: 300}}
		}), "pdq threshold 300"},
		{"slash", configure("a/b", nil), "'/'"},
	}
	for _, tc := range cases {
		b := testBanks(nil)
		mustApply(t, b, add("a", "e", nil, sig("md5", md5A)))
		v, g := b.Version(), b.Generation()
		err := b.Apply(tc.u)
		if err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: error %v, want one mentioning %s", tc.name, err, tc.mention)
		}
		if b.Version() != v || b.Generation() != g {
			t.Errorf("%s: a refused configure changed the banks", tc.name)
		}
	}
}

func TestAllowLists(t *testing.T) {
	allow := func(bank string) events.BankUpdate {
		return configure(bank, func(c *events.BankConfig) { c.Kind = events.BankKindAllow })
	}
	md5B := strings.Repeat("ab", 16)
	base := []events.BankUpdate{
		add("block", "pic", nil, sig("pdq", pdqBase), sig("phash", hex16(ph)), sig("md5", md5A)),
		allow("benign"),
	}
	type want struct{ matches, suppressed, allowed []string } // "bank/entry/type"
	cases := []struct {
		name    string
		updates []events.BankUpdate
		query   []events.Signal
		want    want
	}{
		{"no allow match",
			[]events.BankUpdate{add("benign", "logo", nil, sig("pdq", pdqOther(3)))},
			[]events.Signal{sig("pdq", pdqFlip(4)), sig("md5", md5A)},
			want{[]string{"block/pic/md5", "block/pic/pdq"}, nil, nil}},
		{"a pdq allow suppresses pdq block matches only, not phash nor exact ones",
			[]events.BankUpdate{add("benign", "logo", nil, sig("pdq", pdqFlip(10)))},
			[]events.Signal{sig("pdq", pdqFlip(4)), sig("phash", hex16(ph)), sig("md5", md5A)},
			want{[]string{"block/pic/md5", "block/pic/phash"}, []string{"block/pic/pdq"}, []string{"benign/logo/pdq"}}},
		{"an allow match on a mirrored whole picture counts as the whole picture",
			[]events.BankUpdate{add("benign", "logo", nil, sig("pdq", pdqOther(3)))},
			[]events.Signal{sig("pdq", pdqFlip(4)), {Type: "pdq", Value: pdqOther(3), Variant: events.VariantFlipY}},
			want{nil, []string{"block/pic/pdq"}, []string{"benign/logo/pdq"}}},
		{"an allow hit on a region does not suppress a whole-picture incident match",
			[]events.BankUpdate{add("benign", "logo", nil, sig("pdq", pdqOther(3))),
				configure("block", func(c *events.BankConfig) { c.Incident = true; c.Severity = events.SeverityCritical })},
			[]events.Signal{sig("pdq", pdqFlip(4)), {Type: "pdq", Value: pdqOther(3), Variant: "left75"}},
			want{[]string{"block/pic/pdq"}, nil, []string{"benign/logo/pdq"}}},
		{"an allow hit on a region suppresses a block hit on the same region",
			[]events.BankUpdate{add("benign", "logo", nil, sig("pdq", pdqOther(3)))},
			[]events.Signal{{Type: "pdq", Value: pdqFlip(4), Variant: "left75"}, {Type: "pdq", Value: pdqOther(3), Variant: "left75"}},
			want{nil, []string{"block/pic/pdq"}, []string{"benign/logo/pdq"}}},
		{"an entry hit closer on the allowed region stands on its whole-picture hit",
			// left75 is 20 from both entries, the whole picture 0 from the
			// block entry and 40 (beyond 31) from the allow entry.
			[]events.BankUpdate{add("benign", "logo", nil, sig("pdq", pdqFlip(40)))},
			[]events.Signal{sig("pdq", pdqBase), {Type: "pdq", Value: pdqFlip(20), Variant: "left75"}},
			want{[]string{"block/pic/pdq"}, nil, []string{"benign/logo/pdq"}}},
		{"an exact allow suppresses exact block matches of its type only",
			[]events.BankUpdate{add("benign", "file", nil, sig("md5", md5B))},
			[]events.Signal{sig("pdq", pdqFlip(4)), sig("md5", md5A), sig("md5", md5B)},
			want{[]string{"block/pic/pdq"}, []string{"block/pic/md5"}, []string{"benign/file/md5"}}},
		{"the same file in both lists: allow wins",
			[]events.BankUpdate{add("benign", "file", nil, sig("md5", md5A))},
			[]events.Signal{sig("md5", md5A)},
			want{nil, []string{"block/pic/md5"}, []string{"benign/file/md5"}}},
		{"a disabled allow bank suppresses nothing",
			[]events.BankUpdate{add("benign", "logo", nil, sig("pdq", pdqFlip(10))),
				configure("benign", func(c *events.BankConfig) { c.Kind = events.BankKindAllow; c.Enabled = false })},
			[]events.Signal{sig("pdq", pdqFlip(4))},
			want{[]string{"block/pic/pdq"}, nil, nil}},
		{"a disabled allow entry suppresses nothing",
			[]events.BankUpdate{add("benign", "logo", nil, sig("pdq", pdqFlip(10))), disable("benign", "logo")},
			[]events.Signal{sig("pdq", pdqFlip(4))},
			want{[]string{"block/pic/pdq"}, nil, nil}},
		{"allow threshold applies",
			[]events.BankUpdate{add("benign", "logo", nil, sig("pdq", pdqFlip(40))),
				configure("benign", func(c *events.BankConfig) {
					c.Kind = events.BankKindAllow
					c.Signals = []events.BankSignalConfig{{Type: "pdq", Enabled: true, Threshold: 20}}
				})},
			[]events.Signal{sig("pdq", pdqFlip(4))}, // 36 from the allow entry
			want{[]string{"block/pic/pdq"}, nil, nil}},
		{"turning the bank back into a block bank",
			[]events.BankUpdate{add("benign", "logo", nil, sig("pdq", pdqFlip(10))), configure("benign", nil)},
			[]events.Signal{sig("pdq", pdqFlip(4))},
			want{[]string{"benign/logo/pdq", "block/pic/pdq"}, nil, nil}},
	}
	keys := func(ms []events.Match) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Bank+"/"+m.EntryID+"/"+m.SignalType)
		}
		return sortedStrings(out)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := testBanks(nil)
			mustApply(t, b, base...)
			mustApply(t, b, tc.updates...)
			v := b.MatchVerdict(tc.query)
			if v.Matches == nil || v.Suppressed == nil || v.Allowed == nil {
				t.Fatalf("verdict has nil lists: %+v", v)
			}
			got := want{keys(v.Matches), keys(v.Suppressed), keys(v.Allowed)}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("verdict\n got %+v\nwant %+v", got, tc.want)
			}
			if m := b.Match(tc.query); !reflect.DeepEqual(m, v.Matches) {
				t.Errorf("Match %+v differs from MatchVerdict's matches %+v", m, v.Matches)
			}
			// Resolving per-signal lookups gives the same verdict: that is
			// how a per-signal cache is meant to be used.
			var hs []Hits
			for _, s := range tc.query {
				h, _ := b.Lookup(s)
				hs = append(hs, h)
			}
			if r := Resolve(hs...); !reflect.DeepEqual(r, v) {
				t.Errorf("Resolve(Lookup...) = %+v, want %+v", r, v)
			}
		})
	}
}

func sortedStrings(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

func TestTombstones(t *testing.T) {
	b := testBanks(nil)
	empty := b.Version()
	mustApply(t, b, add("a", "e", nil, sig("md5", md5A)))
	withEntry := b.Version()
	mustApply(t, b, configure("a", func(c *events.BankConfig) { c.Enabled = false }))
	if got := b.Match([]events.Signal{sig("md5", md5A)}); len(got) != 0 {
		t.Fatalf("disabled bank matches: %+v", got)
	}
	if b.DisableKey("b/") || b.DisableKey("/") || b.DisableKey("nokey") {
		t.Fatal("DisableKey of an unknown bank reported a hit")
	}
	if !b.DisableKey("a/") {
		t.Fatal("DisableKey(a/) found no configuration")
	}
	if b.Version() != withEntry {
		t.Errorf("deleting the configuration did not return to the previous version")
	}
	if got := b.Match([]events.Signal{sig("md5", md5A)}); len(got) != 1 {
		t.Fatalf("bank back on its defaults does not match: %+v", got)
	}
	if b.DisableKey("a/") {
		t.Error("a second DisableKey(a/) reported a configuration")
	}
	if !b.DisableKey("a/e") {
		t.Fatal("DisableKey(a/e) found nothing")
	}
	if b.Version() != empty {
		t.Errorf("disabling the only entry did not return to the empty version")
	}
}

func TestVersionWithSettings(t *testing.T) {
	apply := func(us ...events.BankUpdate) uint64 {
		b := testBanks(nil)
		mustApply(t, b, us...)
		return b.Version()
	}
	e := add("a", "e", []string{"l"}, sig("pdq", pdqBase))
	c1 := configure("a", func(c *events.BankConfig) { c.Labels = []string{"y", "x"} })
	c1b := configure("a", func(c *events.BankConfig) { c.Labels = []string{"x", "y", "x"} })
	c2 := configure("a", func(c *events.BankConfig) {
		c.Signals = []events.BankSignalConfig{{Type: "pdq", Enabled: true, Threshold: 20}}
	})
	ref := apply(e, c1)
	same := map[string]uint64{
		"config first":             apply(c1, e),
		"labels in another order":  apply(e, c1b),
		"an earlier config":        apply(c2, e, c1),
		"an entry replaced":        apply(add("a", "e", nil, sig("md5", md5A)), c1, e),
		"a disabled other entry":   apply(e, c1, add("a", "f", nil, sig("md5", md5A)), disable("a", "f")),
		"default config explicit":  apply(configure("b", nil), e, c1),
		"a config set and cleared": apply(e, configure("b", func(c *events.BankConfig) { c.Enabled = false }), configure("b", nil), c1),
	}
	for name, v := range same {
		if v != ref {
			t.Errorf("%s: version %x, want %x", name, v, ref)
		}
	}
	differ := map[string]uint64{
		"no config":      apply(e),
		"other config":   apply(e, c2),
		"allow":          apply(e, configure("a", func(c *events.BankConfig) { c.Kind = events.BankKindAllow; c.Labels = []string{"x", "y"} })),
		"disabled bank":  apply(e, configure("a", func(c *events.BankConfig) { c.Enabled = false; c.Labels = []string{"x", "y"} })),
		"config on b":    apply(e, configure("b", func(c *events.BankConfig) { c.Labels = []string{"x", "y"} })),
		"pdq quality 60": func() uint64 { b, _ := New(Options{MinPDQQuality: 60}); mustApply(t, b, e, c1); return b.Version() }(),
		"pdq default 30": func() uint64 { b := testBanks(Thresholds{"pdq": 30}); mustApply(t, b, e, c1); return b.Version() }(),
	}
	for name, v := range differ {
		if v == ref {
			t.Errorf("%s: version unchanged", name)
		}
	}
}

// TestSlotsAreReused checks that replacing and disabling entries recycles
// their signal slots, so tables grow with the live signals, not with the
// updates ever applied.
func TestSlotsAreReused(t *testing.T) {
	b := testBanks(nil)
	for round := 0; round < 50; round++ {
		for i := 0; i < 20; i++ {
			id := string(rune('a' + i))
			if round%3 == 2 {
				mustApply(t, b, disable("x", id))
				continue
			}
			mustApply(t, b, add("x", id, []string{"r" + string(rune('0'+round%10))},
				sig("pdq", pdqOther(uint64(round*100+i))), sig("md5", strings.Repeat("0", 31)+string("0123456789abcdef"[i%16])),
				sig("phash", hex16(uint64(round*100+i+1))), sig("dhash", hex16(uint64(round*100+i+1))),
				sig("sha256", pdqOther(uint64(round*100+i+7)))))
		}
	}
	for name, n := range map[string]int{
		"entries": len(b.entries), "pdq": len(b.pdq.owner), "md5": len(b.md5.owner), "phash": len(b.phash.owner),
		"dhash": len(b.dhash.owner), "sha256": len(b.sha256.owner), "label sets": len(b.labels.sets),
	} {
		if n > 21 {
			t.Errorf("%s: %d slots for at most 20 live", name, n)
		}
	}
	if b.Len() != 20 {
		t.Fatalf("Len = %d, want 20", b.Len())
	}
	// Every live entry still matches through each of its five signals.
	for i := 0; i < 20; i++ {
		id := string(rune('a' + i))
		e, ok := b.Entry("x", id)
		if !ok || len(e.Signals) != 5 {
			t.Fatalf("Entry(x, %s) = %+v", id, e)
		}
		for _, s := range e.Signals {
			found := false
			for _, m := range b.MatchSignal(s) {
				found = found || m.EntryID == id
			}
			if !found {
				t.Errorf("entry %s does not match its own %s", id, s.Type)
			}
		}
	}
}

func TestList(t *testing.T) {
	b := testBanks(Thresholds{"phash": 6})
	mustApply(t, b,
		add("b", "1", nil, sig("md5", md5A)),
		disable("b", "2"),
		configure("a", func(c *events.BankConfig) {
			c.Kind = events.BankKindAllow
			c.Labels = []string{"z", "y"}
			c.Signals = []events.BankSignalConfig{{Type: "pdq", Threshold: 12}}
		}))
	got := b.List()
	effective := func(pdqOn bool, pdq, phash int) []events.BankSignalConfig {
		return []events.BankSignalConfig{{Type: "dhash", Enabled: true, Threshold: 10}, {Type: "md5", Enabled: true},
			{Type: "pdq", Enabled: pdqOn, Threshold: pdq}, {Type: "phash", Enabled: true, Threshold: phash}, {Type: "sha256", Enabled: true}}
	}
	want := []BankInfo{
		{Name: "a", Configured: true, Config: events.BankConfig{Enabled: true, Kind: "allow", Labels: []string{"y", "z"},
			Signals: []events.BankSignalConfig{{Type: "pdq", Threshold: 12}}}, Effective: effective(false, 12, 6)},
		{Name: "b", Config: events.DefaultBankConfig(), Effective: effective(true, 31, 6), Entries: 1, Disabled: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("List\n got %+v\nwant %+v", got, want)
	}
	if info, ok := b.Bank("b"); !ok || !reflect.DeepEqual(info, want[1]) {
		t.Errorf("Bank(b) = %+v, %v", info, ok)
	}
	if _, ok := b.Bank("c"); ok {
		t.Error("Bank(c) found")
	}
	// The caller owns the result.
	got[0].Config.Labels[0] = "changed"
	if again, _ := b.Bank("a"); again.Config.Labels[0] != "y" {
		t.Error("a caller changed the bank's labels")
	}
}
