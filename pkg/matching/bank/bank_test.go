package bank

import (
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

const (
	shaA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	shaB = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
	md5A = "098f6bcd4621d373cade4e832627b4f6"
	ph   = uint64(0xc3a5_5a3c_0f0f_f0f0)
)

func hex16(h uint64) string { return fmt.Sprintf("%016x", h) }

// flip returns h with its lowest n bits inverted: a hash at distance n.
func flip(h uint64, n int) uint64 { return h ^ (1<<n - 1) }

func sig(typ, v string) events.Signal { return events.Signal{Type: typ, Value: v} }

func add(bank, id string, labels []string, sigs ...events.Signal) events.BankUpdate {
	return events.BankUpdate{Op: events.BankOpAdd, Bank: bank, EntryID: id, Labels: labels, Signals: sigs}
}

func disable(bank, id string) events.BankUpdate {
	return events.BankUpdate{Op: events.BankOpDisable, Bank: bank, EntryID: id}
}

// hit is the part of a Match a case checks.
type hit struct {
	bank, entry string
	distance    int
}

func hits(ms []events.Match) []hit {
	out := []hit{}
	for _, m := range ms {
		out = append(out, hit{m.Bank, m.EntryID, m.Distance})
	}
	return out
}

func TestMatch(t *testing.T) {
	cases := []struct {
		name    string
		updates []events.BankUpdate
		query   []events.Signal
		want    []hit
	}{
		{"exact sha256", []events.BankUpdate{add("tve", "e1", nil, sig("sha256", shaA))},
			[]events.Signal{sig("sha256", shaA)}, []hit{{"tve", "e1", 0}}},
		{"exact md5, upper-case query", []events.BankUpdate{add("tve", "e1", nil, sig("md5", md5A))},
			[]events.Signal{sig("md5", strings.ToUpper(md5A))}, []hit{{"tve", "e1", 0}}},
		{"upper-case bank value", []events.BankUpdate{add("tve", "e1", nil, sig("sha256", strings.ToUpper(shaA)))},
			[]events.Signal{sig("sha256", shaA)}, []hit{{"tve", "e1", 0}}},
		{"other sha256", []events.BankUpdate{add("tve", "e1", nil, sig("sha256", shaA))},
			[]events.Signal{sig("sha256", shaB)}, []hit{}},
		{"sha256 value is not an md5", []events.BankUpdate{add("tve", "e1", nil, sig("sha256", shaA))},
			[]events.Signal{sig("md5", shaA[:32])}, []hit{}},
		{"phash identical", []events.BankUpdate{add("tve", "e1", nil, sig("phash", hex16(ph)))},
			[]events.Signal{sig("phash", hex16(ph))}, []hit{{"tve", "e1", 0}}},
		{"phash near", []events.BankUpdate{add("tve", "e1", nil, sig("phash", hex16(ph)))},
			[]events.Signal{sig("phash", hex16(flip(ph, 3)))}, []hit{{"tve", "e1", 3}}},
		{"phash at threshold", []events.BankUpdate{add("tve", "e1", nil, sig("phash", hex16(ph)))},
			[]events.Signal{sig("phash", hex16(flip(ph, 10)))}, []hit{{"tve", "e1", 10}}},
		{"phash one past threshold", []events.BankUpdate{add("tve", "e1", nil, sig("phash", hex16(ph)))},
			[]events.Signal{sig("phash", hex16(flip(ph, 11)))}, []hit{}},
		{"dhash one past threshold", []events.BankUpdate{add("tve", "e1", nil, sig("dhash", hex16(ph)))},
			[]events.Signal{sig("dhash", hex16(flip(ph, 11)))}, []hit{}},
		{"phash does not match a dhash", []events.BankUpdate{add("tve", "e1", nil, sig("dhash", hex16(ph)))},
			[]events.Signal{sig("phash", hex16(ph))}, []hit{}},
		{"all-zero query phash matches nothing",
			[]events.BankUpdate{add("tve", "e1", nil, sig("phash", hex16(1)))},
			[]events.Signal{sig("phash", hex16(0))}, []hit{}},
		{"disabled entry no longer matches",
			[]events.BankUpdate{add("tve", "e1", nil, sig("sha256", shaA), sig("phash", hex16(ph))), disable("tve", "e1")},
			[]events.Signal{sig("sha256", shaA), sig("phash", hex16(ph))}, []hit{}},
		{"re-add after disable matches again",
			[]events.BankUpdate{add("tve", "e1", nil, sig("phash", hex16(ph))), disable("tve", "e1"),
				add("tve", "e1", nil, sig("phash", hex16(ph)))},
			[]events.Signal{sig("phash", hex16(flip(ph, 2)))}, []hit{{"tve", "e1", 2}}},
		{"disable before add is overridden by the add",
			[]events.BankUpdate{disable("tve", "e1"), add("tve", "e1", nil, sig("sha256", shaA))},
			[]events.Signal{sig("sha256", shaA)}, []hit{{"tve", "e1", 0}}},
		{"replace drops the old signals",
			[]events.BankUpdate{add("tve", "e1", nil, sig("sha256", shaA), sig("phash", hex16(ph))),
				add("tve", "e1", nil, sig("sha256", shaB))},
			[]events.Signal{sig("sha256", shaA), sig("phash", hex16(ph))}, []hit{}},
		{"replace adds the new signals",
			[]events.BankUpdate{add("tve", "e1", nil, sig("sha256", shaA)), add("tve", "e1", nil, sig("sha256", shaB))},
			[]events.Signal{sig("sha256", shaB)}, []hit{{"tve", "e1", 0}}},
		{"disabling one entry leaves another with the same hash",
			[]events.BankUpdate{add("tve", "e1", nil, sig("sha256", shaA)), add("tve", "e2", nil, sig("sha256", shaA)),
				disable("tve", "e1")},
			[]events.Signal{sig("sha256", shaA)}, []hit{{"tve", "e2", 0}}},
		{"sorted by distance then bank then entry",
			[]events.BankUpdate{
				add("zeta", "a", nil, sig("phash", hex16(ph))),
				add("alpha", "b", nil, sig("phash", hex16(flip(ph, 4)))),
				add("alpha", "a", nil, sig("phash", hex16(flip(ph, 4)))),
				add("beta", "x", nil, sig("phash", hex16(flip(ph, 1)))),
			},
			[]events.Signal{sig("phash", hex16(ph))},
			[]hit{{"zeta", "a", 0}, {"beta", "x", 1}, {"alpha", "a", 4}, {"alpha", "b", 4}}},
		{"entry with several hashes is reported once, at its closest",
			[]events.BankUpdate{add("tve", "video", nil,
				sig("phash", hex16(flip(ph, 7))), sig("phash", hex16(flip(ph, 2))), sig("phash", hex16(flip(ph, 9))))},
			[]events.Signal{sig("phash", hex16(ph))}, []hit{{"tve", "video", 2}}},
		{"several signals of one upload: one match per signal type",
			[]events.BankUpdate{add("tve", "e1", nil, sig("sha256", shaA), sig("phash", hex16(ph)), sig("dhash", hex16(ph)))},
			[]events.Signal{sig("sha256", shaA), sig("phash", hex16(flip(ph, 5))), sig("phash", hex16(flip(ph, 1))),
				sig("dhash", hex16(flip(ph, 3)))},
			[]hit{{"tve", "e1", 0}, {"tve", "e1", 1}, {"tve", "e1", 3}}},
		{"malformed query signals are ignored",
			[]events.BankUpdate{add("tve", "e1", nil, sig("sha256", shaA))},
			[]events.Signal{sig("sha256", "zz"), sig("pdq", shaA), sig("sha256", shaA)}, []hit{{"tve", "e1", 0}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := testBanks(nil)
			for _, u := range tc.updates {
				if err := b.Apply(u); err != nil {
					t.Fatalf("Apply(%s %s): %v", u.Op, u.Key(), err)
				}
			}
			got := b.Match(tc.query)
			if got == nil {
				t.Fatal("Match returned nil; want a non-nil (possibly empty) list")
			}
			if !reflect.DeepEqual(hits(got), tc.want) {
				t.Fatalf("Match = %+v, want %+v", hits(got), tc.want)
			}
		})
	}
}

func TestMatchFields(t *testing.T) {
	b := testBanks(nil)
	if err := b.Apply(add("tve", "e1", []string{"terrorism", "isis"}, sig("phash", hex16(ph)))); err != nil {
		t.Fatal(err)
	}
	q := strings.ToUpper(hex16(flip(ph, 6)))
	got := b.MatchSignal(sig("phash", q))
	// Labels come out sorted (entry labels and bank labels merged).
	want := []events.Match{{Bank: "tve", EntryID: "e1", Labels: []string{"isis", "terrorism"},
		SignalType: "phash", Signal: strings.ToLower(q), Distance: 6, Threshold: 10}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("MatchSignal = %+v, want %+v", got, want)
	}
	// The caller owns the result: changing it must not reach into the bank.
	got[0].Labels[0] = "changed"
	if again := b.MatchSignal(sig("phash", q)); again[0].Labels[0] != "isis" {
		t.Fatalf("a caller changed the bank's labels: %v", again[0].Labels)
	}
	got = b.MatchSignal(sig("sha256", shaA))
	if got == nil || len(got) != 0 {
		t.Fatalf("MatchSignal = %#v, want an empty non-nil list", got)
	}
}

func TestThresholds(t *testing.T) {
	b := testBanks(Thresholds{events.SignalPHash: 4, events.SignalSHA256: 7})
	for _, u := range []events.BankUpdate{
		add("b", "p", nil, sig("phash", hex16(ph))),
		add("b", "d", nil, sig("dhash", hex16(ph))),
	} {
		if err := b.Apply(u); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		typ  string
		d    int
		want bool
	}{
		{"phash", 4, true}, {"phash", 5, false},
		{"dhash", 10, true}, {"dhash", 11, false}, // left out: default
	}
	for _, tc := range cases {
		got := b.MatchSignal(sig(tc.typ, hex16(flip(ph, tc.d))))
		if (len(got) == 1) != tc.want {
			t.Errorf("%s at distance %d: matches %+v, want match=%v", tc.typ, tc.d, got, tc.want)
		}
		if len(got) == 1 && got[0].Threshold != b.Thresholds()[tc.typ] {
			t.Errorf("%s: Threshold %d, want %d", tc.typ, got[0].Threshold, b.Thresholds()[tc.typ])
		}
	}
	if th := b.Thresholds()[events.SignalSHA256]; th != 0 {
		t.Errorf("sha256 threshold %d: exact types must stay 0", th)
	}
}

func TestGeneration(t *testing.T) {
	b := testBanks(nil)
	steps := []events.BankUpdate{
		add("tve", "e1", nil, sig("sha256", shaA)),
		add("tve", "e1", nil, sig("sha256", shaB)),
		disable("tve", "e1"),
		disable("tve", "never-added"),
		add("tve", "e1", nil, sig("sha256", shaA)),
	}
	for i, u := range steps {
		before := b.Generation()
		if err := b.Apply(u); err != nil {
			t.Fatal(err)
		}
		if got := b.Generation(); got != before+1 {
			t.Fatalf("step %d (%s): generation %d -> %d, want +1", i, u.Op, before, got)
		}
	}
	before := b.Generation()
	if err := b.Apply(add("tve", "e2", nil, sig("sha256", "bad"))); err == nil {
		t.Fatal("bad update accepted")
	}
	if b.Generation() != before {
		t.Fatalf("a refused update changed the generation %d -> %d", before, b.Generation())
	}
}

func TestInvalidUpdates(t *testing.T) {
	cases := []struct {
		name    string
		u       events.BankUpdate
		mention string // the error must name this
		signal  bool   // a malformed signal, so the error wraps ErrInvalidSignal
	}{
		{"short sha256", add("tve", "bad1", nil, sig("sha256", shaA[:63])), shaA[:63], true},
		{"long phash", add("tve", "bad2", nil, sig("phash", "0123456789abcdef0")), "0123456789abcdef0", true},
		{"non-hex md5", add("tve", "bad3", nil, sig("md5", "g98f6bcd4621d373cade4e832627b4f6")), "g98f6bcd4621d373cade4e832627b4f6", true},
		{"signed phash", add("tve", "bad4", nil, sig("phash", "+123456789abcdef")), "+123456789abcdef", true},
		{"all-zero phash", add("tve", "bad5", nil, sig("phash", "0000000000000000")), "0000000000000000", true},
		{"all-zero dhash", add("tve", "bad6", nil, sig("dhash", "0000000000000000")), "0000000000000000", true},
		{"unknown type", add("tve", "bad7", nil, sig("tmk", shaA)), "tmk", true},
		{"one bad among good", add("tve", "bad8", nil, sig("sha256", shaB), sig("phash", "xyz")), "xyz", true},
		{"no signals", add("tve", "bad9", nil), "no signals", false},
		{"unknown op", events.BankUpdate{Op: "delete", Bank: "tve", EntryID: "bad10"}, "delete", false},
		{"no bank", events.BankUpdate{Op: events.BankOpAdd, EntryID: "x", Signals: []events.Signal{sig("sha256", shaA)}}, "bank", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := testBanks(nil)
			if err := b.Apply(add("tve", "good", []string{"l"}, sig("sha256", shaA), sig("phash", hex16(ph)))); err != nil {
				t.Fatal(err)
			}
			// A bad replacement of an existing entry must leave it as it was too.
			if err := b.Apply(add("tve", "bad8", nil, sig("md5", md5A))); err != nil {
				t.Fatal(err)
			}
			gen, ver, n := b.Generation(), b.Version(), b.Len()
			err := b.Apply(tc.u)
			if err == nil {
				t.Fatal("update accepted")
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
			if tc.u.Bank != "" && !strings.Contains(err.Error(), tc.u.Key()) {
				t.Errorf("error %q does not name entry %s", err, tc.u.Key())
			}
			if errors.Is(err, ErrInvalidSignal) != tc.signal {
				t.Errorf("error %q: errors.Is(err, ErrInvalidSignal) = %v, want %v", err, !tc.signal, tc.signal)
			}
			if b.Generation() != gen || b.Version() != ver || b.Len() != n {
				t.Errorf("refused update changed the bank: generation %d->%d version %x->%x len %d->%d",
					gen, b.Generation(), ver, b.Version(), n, b.Len())
			}
			if got := hits(b.Match([]events.Signal{sig("sha256", shaA), sig("md5", md5A)})); len(got) != 2 {
				t.Errorf("existing entries no longer match: %+v", got)
			}
			if got := b.MatchSignal(sig("sha256", shaB)); len(got) != 0 {
				t.Errorf("a signal of the refused update matches: %+v", got)
			}
		})
	}
}

func TestStatsAndEntry(t *testing.T) {
	b := testBanks(nil)
	for _, u := range []events.BankUpdate{
		add("a", "1", nil, sig("sha256", shaA)),
		add("a", "2", nil, sig("sha256", shaB)),
		add("b", "1", []string{"x"}, sig("md5", md5A)),
		disable("a", "2"),
		disable("c", "ghost"),
	} {
		if err := b.Apply(u); err != nil {
			t.Fatal(err)
		}
	}
	st := b.Stats()
	want := Stats{Banks: map[string]BankStats{
		"a": {Entries: 1, Disabled: 1, Kind: "block", Enabled: true},
		"b": {Entries: 1, Kind: "block", Enabled: true},
		"c": {Disabled: 1, Kind: "block", Enabled: true},
	}, Entries: 2, Disabled: 2, Generation: 5}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("Stats = %+v, want %+v", st, want)
	}
	if b.Len() != 2 {
		t.Fatalf("Len = %d, want 2", b.Len())
	}
	e, ok := b.Entry("a", "2")
	if !ok || !e.Disabled || len(e.Signals) != 1 || e.Signals[0].Value != shaB {
		t.Fatalf("Entry(a, 2) = %+v, %v", e, ok)
	}
	if _, ok := b.Entry("a", "3"); ok {
		t.Fatal("Entry(a, 3) found")
	}
}

func TestDisableKey(t *testing.T) {
	b := testBanks(nil)
	if err := b.Apply(add("tve", "e1", nil, sig("sha256", shaA))); err != nil {
		t.Fatal(err)
	}
	if b.DisableKey("tve/other") {
		t.Fatal("DisableKey of an unknown key reported a hit")
	}
	if !b.DisableKey("tve/e1") {
		t.Fatal("DisableKey(tve/e1) found nothing")
	}
	if got := b.MatchSignal(sig("sha256", shaA)); len(got) != 0 {
		t.Fatalf("tombstoned entry still matches: %+v", got)
	}
}

// TestVersion checks that the content fingerprint depends on what the banks
// hold and not on how they got there.
func TestVersion(t *testing.T) {
	apply := func(th Thresholds, us ...events.BankUpdate) *Banks {
		b := testBanks(th)
		for _, u := range us {
			if err := b.Apply(u); err != nil {
				t.Fatal(err)
			}
		}
		return b
	}
	e1 := add("tve", "e1", []string{"a"}, sig("sha256", shaA), sig("phash", hex16(ph)))
	e2 := add("tve", "e2", nil, sig("md5", md5A))
	long := apply(nil, e2, add("tve", "e1", nil, sig("sha256", shaB)), disable("tve", "e1"), add("tve", "x", nil, sig("sha256", shaB)),
		disable("tve", "x"), e1)
	short := apply(nil, e1, e2, disable("tve", "x"))
	if long.Version() != short.Version() {
		t.Errorf("same content, different versions: %x vs %x", long.Version(), short.Version())
	}
	if long.Generation() == short.Generation() {
		t.Errorf("test is not testing: generations equal")
	}
	reordered := apply(nil, add("tve", "e1", []string{"a"}, sig("phash", hex16(ph)), sig("sha256", shaA)), e2)
	if reordered.Version() != short.Version() {
		t.Errorf("signal order changed the version")
	}
	differs := map[string]*Banks{
		"labels":     apply(nil, add("tve", "e1", []string{"b"}, sig("sha256", shaA), sig("phash", hex16(ph))), e2),
		"signals":    apply(nil, add("tve", "e1", []string{"a"}, sig("sha256", shaA)), e2),
		"entry gone": apply(nil, e1),
		"disabled":   apply(nil, e1, e2, disable("tve", "e2")),
		"thresholds": apply(Thresholds{"phash": 3}, e1, e2),
		"bank name":  apply(nil, add("tve2", "e1", []string{"a"}, sig("sha256", shaA), sig("phash", hex16(ph))), e2),
	}
	for name, b := range differs {
		if b.Version() == short.Version() {
			t.Errorf("%s: version unchanged", name)
		}
	}
	if apply(nil).Version() != apply(nil, e1, disable("tve", "e1")).Version() {
		t.Errorf("disabling the only entry did not return to the empty version")
	}
}

func TestCombine(t *testing.T) {
	in := []events.Match{
		{Bank: "b", EntryID: "1", SignalType: "phash", Signal: "2", Distance: 5},
		{Bank: "b", EntryID: "1", SignalType: "phash", Signal: "1", Distance: 3},
		{Bank: "b", EntryID: "1", SignalType: "phash", Signal: "0", Distance: 3},
		{Bank: "b", EntryID: "1", SignalType: "dhash", Signal: "1", Distance: 4},
		{Bank: "a", EntryID: "1", SignalType: "sha256", Signal: "x", Distance: 0},
	}
	got := Combine(in)
	want := []events.Match{in[4], in[2], in[3]}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Combine = %+v\nwant %+v", got, want)
	}
	if got := Combine(nil); got == nil || len(got) != 0 {
		t.Fatalf("Combine(nil) = %#v, want empty non-nil", got)
	}
}

// bruteForce is an independent, obviously correct matcher over a plain list
// of entries, for the differential test.
func bruteForce(entries map[string]events.BankUpdate, disabled map[string]bool, th Thresholds, query []events.Signal) []events.Match {
	best := map[string]events.Match{}
	for key, u := range entries {
		if disabled[key] {
			continue
		}
		for _, q := range query {
			qv := strings.ToLower(q.Value)
			for _, s := range u.Signals {
				if s.Type != q.Type {
					continue
				}
				d, limit := 0, 0
				if s.Type == "phash" || s.Type == "dhash" {
					a, _ := strconv.ParseUint(s.Value, 16, 64)
					b, _ := strconv.ParseUint(qv, 16, 64)
					if b == 0 {
						continue
					}
					d, limit = bits.OnesCount64(a^b), th[s.Type]
				} else if s.Value != qv {
					continue
				}
				if d > limit {
					continue
				}
				k := key + "|" + s.Type
				if m, ok := best[k]; ok && (m.Distance < d || m.Distance == d && m.Signal <= qv) {
					continue
				}
				best[k] = events.Match{Bank: u.Bank, EntryID: u.EntryID, Labels: u.Labels, SignalType: s.Type,
					Signal: qv, Distance: d, Threshold: limit}
			}
		}
	}
	out := []events.Match{}
	for _, m := range best {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Distance != b.Distance {
			return a.Distance < b.Distance
		}
		return a.Bank+"\x00"+a.EntryID+"\x00"+a.SignalType < b.Bank+"\x00"+b.EntryID+"\x00"+b.SignalType
	})
	return out
}

func randomFlip(r *rand.Rand, h uint64, n int) uint64 {
	for _, i := range r.Perm(64)[:n] {
		h ^= 1 << i
	}
	return h
}

func TestDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	th := Thresholds{"phash": 10, "dhash": 6}
	b := testBanks(th)
	entries := map[string]events.BankUpdate{}
	disabled := map[string]bool{}
	// Cluster the hashes around a few centres so that many queries land
	// within and just outside the thresholds.
	centres := make([]uint64, 40)
	for i := range centres {
		centres[i] = r.Uint64()
	}
	near := func() uint64 {
		for {
			if h := randomFlip(r, centres[r.IntN(len(centres))], r.IntN(16)); h != 0 {
				return h
			}
		}
	}
	shas := make([]string, 200)
	for i := range shas {
		shas[i] = fmt.Sprintf("%016x%016x%016x%016x", r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64())
	}
	for i := 0; i < 4000; i++ {
		bankName := fmt.Sprintf("bank%d", r.IntN(4))
		id := fmt.Sprintf("e%d", r.IntN(2500)) // some ids repeat: replacements
		key := bankName + "/" + id
		if r.IntN(10) == 0 {
			if err := b.Apply(disable(bankName, id)); err != nil {
				t.Fatal(err)
			}
			disabled[key] = true
			continue
		}
		var sigs []events.Signal
		for n := 1 + r.IntN(3); n > 0; n-- {
			switch r.IntN(4) {
			case 0:
				sigs = append(sigs, sig("sha256", shas[r.IntN(len(shas))]))
			case 1:
				sigs = append(sigs, sig("dhash", hex16(near())))
			default:
				sigs = append(sigs, sig("phash", hex16(near())))
			}
		}
		u := add(bankName, id, []string{"l" + id}, sigs...)
		if err := b.Apply(u); err != nil {
			t.Fatal(err)
		}
		entries[key] = u
		delete(disabled, key)
	}
	matched := 0
	for i := 0; i < 500; i++ {
		var q []events.Signal
		for n := 1 + r.IntN(3); n > 0; n-- {
			switch r.IntN(4) {
			case 0:
				q = append(q, sig("sha256", shas[r.IntN(len(shas))]))
			case 1:
				q = append(q, sig("dhash", hex16(near())))
			default:
				q = append(q, sig("phash", hex16(near())))
			}
		}
		got := b.Match(q)
		want := bruteForce(entries, disabled, th, q)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("query %d %+v:\n got %+v\nwant %+v", i, q, got, want)
		}
		if len(want) > 0 {
			matched++
		}
	}
	if matched < 100 {
		t.Fatalf("only %d of 500 queries matched anything: the test data is too sparse to test", matched)
	}
	enabled := 0
	for k := range entries {
		if !disabled[k] {
			enabled++
		}
	}
	if b.Len() != enabled {
		t.Fatalf("Len = %d, want %d", b.Len(), enabled)
	}
}

// TestConcurrent is for the race detector: updates and lookups at once.
func TestConcurrent(t *testing.T) {
	b := testBanks(nil)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				h := uint64(w)<<32 | uint64(i) | 1<<63
				if err := b.Apply(add("b", fmt.Sprint(i%50), nil, sig("phash", hex16(h)))); err != nil {
					t.Error(err)
					return
				}
				if i%7 == 0 {
					_ = b.Apply(disable("b", fmt.Sprint(i%50)))
				}
				_ = b.Match([]events.Signal{sig("phash", hex16(h))})
				_ = b.Stats()
			}
		}()
	}
	wg.Wait()
	if g := b.Generation(); g < 1200 {
		t.Fatalf("generation %d after at least 1200 updates", g)
	}
}

func BenchmarkMatch(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	banks := testBanks(nil)
	for i := 0; i < 100_000; i++ {
		u := add("bench", fmt.Sprint(i), []string{"l"},
			sig("sha256", fmt.Sprintf("%016x%016x%016x%016x", r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64())),
			sig("phash", hex16(r.Uint64()|1)))
		if err := banks.Apply(u); err != nil {
			b.Fatal(err)
		}
	}
	q := []events.Signal{
		sig("sha256", fmt.Sprintf("%064x", r.Uint64())),
		sig("phash", hex16(r.Uint64()|1)),
	}
	b.ResetTimer()
	for b.Loop() {
		_ = banks.Match(q)
	}
}

// testBanks is NewBanks with every signal type on by default, so that the
// tests exercise phash and dhash too (DefaultEnabled turns them off).
func testBanks(t Thresholds) *Banks {
	opts := NewBanks(t).Options()
	opts.Enabled = allOn()
	return newBanks(opts)
}

func allOn() map[string]bool {
	on := map[string]bool{}
	for typ := range DefaultEnabled() {
		on[typ] = true
	}
	return on
}

// TestDefaultEnabled checks that phash and dhash are off unless the options
// or a bank's configuration turn them on, while pdq and the exact types are on.
func TestDefaultEnabled(t *testing.T) {
	p := hex16(ph)
	pdq := strings.Repeat("a5", 32)
	entry := add("b", "e", nil, sig("phash", p), sig("dhash", p), sig("pdq", pdq))
	query := func(b *Banks, typ, v string) bool { return len(b.MatchSignal(sig(typ, v))) == 1 }
	cases := []struct {
		name       string
		banks      func() *Banks
		configured *events.BankUpdate
		phash      bool
		dhash      bool
	}{
		{"defaults", func() *Banks { return NewBanks(nil) }, nil, false, false},
		{"options turn phash on", func() *Banks {
			b, err := New(Options{Enabled: map[string]bool{"phash": true}})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, nil, true, false},
		{"bank config turns dhash on", func() *Banks { return NewBanks(nil) },
			new(configure("b", func(c *events.BankConfig) {
				c.Signals = []events.BankSignalConfig{{Type: "dhash", Enabled: true, Threshold: 10}}
			})), false, true},
	}
	for _, tc := range cases {
		b := tc.banks()
		mustApply(t, b, entry)
		if tc.configured != nil {
			mustApply(t, b, *tc.configured)
		}
		if got := query(b, "phash", p); got != tc.phash {
			t.Errorf("%s: phash matched %v, want %v", tc.name, got, tc.phash)
		}
		if got := query(b, "dhash", p); got != tc.dhash {
			t.Errorf("%s: dhash matched %v, want %v", tc.name, got, tc.dhash)
		}
		if !query(b, "pdq", pdq) {
			t.Errorf("%s: pdq must match by default", tc.name)
		}
	}
	if _, err := New(Options{Enabled: map[string]bool{"sha1": true}}); err == nil {
		t.Error("New accepted an enabled flag for an unknown signal type")
	}
}
