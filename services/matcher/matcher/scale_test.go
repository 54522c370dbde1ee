package matcher_test

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
	"github.com/takedown-pipeline/takedown/services/matcher/matcher"
)

func configure(bank string, cfg events.BankConfig) *events.BankUpdate {
	if cfg.Kind == "" {
		cfg.Kind = events.BankKindBlock
	}
	u := events.NewBankConfigure(bank, cfg)
	return &u
}

func pdqSig(h [4]uint64, variant string, quality int) events.Signal {
	return events.Signal{Type: events.SignalPDQ, Value: fmt.Sprintf("%016x%016x%016x%016x", h[0], h[1], h[2], h[3]),
		Variant: variant, Quality: &quality}
}

func randPDQ() [4]uint64 {
	return [4]uint64{rand.Uint64() | 1, rand.Uint64(), rand.Uint64(), rand.Uint64()}
}

// flip returns h with its n lowest bits of the last word inverted.
func flip(h [4]uint64, n int) [4]uint64 {
	h[3] ^= 1<<n - 1
	return h
}

func matchKeys(ms []events.Match) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Bank+"/"+m.EntryID+"/"+m.SignalType)
	}
	return out
}

// TestAllowListAcrossSignals checks that an allow-list match on one signal
// of an upload suppresses the block matches of the same signal type and
// region found through its other signals, and only those,
// both when the hits are computed and when they come from Redis, and that the
// pdq settings apply.
func TestAllowListAcrossSignals(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	cfg := testConfig(t, brokers, testenv.RedisAddr(t))
	cfg.ThresholdPDQ = 20
	cfg.MinPDQQuality = 70
	cfg.LowPDQQuality, cfg.LowPDQThreshold = 50, 10
	pub := publisher(t, brokers)

	ph := rand.Uint64() | 1
	q, allowed := randPDQ(), randPDQ()
	shaB := randHex(64)
	publishBank(t, pub, cfg.Topics.BankUpdates,
		addEntry("blk", "b1", []string{"tve"}, phash(ph), pdqSig(q, "", 0), sha(shaB)),
		configure("ok", events.BankConfig{Enabled: true, Kind: events.BankKindAllow}),
		addEntry("ok", "a1", []string{"benign"}, pdqSig(allowed, "", 0)),
	)
	out := collect(t, brokers, cfg.Topics.Matched)
	start(t, cfg)

	cases := []struct {
		name                string
		sigs                []events.Signal
		matches, suppressed []string
	}{
		{"block matches without allow", []events.Signal{phash(ph), pdqSig(flip(q, 15), "", 90)},
			[]string{"blk/b1/phash", "blk/b1/pdq"}, nil},
		{"allow on a rotated whole picture suppresses the whole picture's pdq match, not the phash one",
			[]events.Signal{phash(ph), pdqSig(flip(q, 15), "", 90), pdqSig(allowed, events.VariantRot90, 90)},
			[]string{"blk/b1/phash"}, []string{"blk/b1/pdq"}},
		{"an allow hit on a region suppresses neither exact nor other-signal matches",
			[]events.Signal{sha(shaB), phash(ph), pdqSig(allowed, "top80", 90)},
			[]string{"blk/b1/sha256", "blk/b1/phash"}, nil},
		{"an allow hit on left75 does not suppress a whole-picture pdq match",
			[]events.Signal{pdqSig(flip(q, 15), "", 90), pdqSig(allowed, "left75", 90)},
			[]string{"blk/b1/pdq"}, nil},
		{"an allow hit on left75 suppresses a pdq match on left75",
			[]events.Signal{pdqSig(flip(q, 15), "left75", 90), pdqSig(allowed, "left75", 90)},
			nil, []string{"blk/b1/pdq"}},
		{"pdq beyond threshold-pdq", []events.Signal{pdqSig(flip(q, 25), "", 90)}, nil, nil},
		{"pdq below min-pdq-quality, within low-pdq-threshold", []events.Signal{pdqSig(flip(q, 10), "", 60)}, []string{"blk/b1/pdq"}, nil},
		{"pdq below min-pdq-quality, beyond low-pdq-threshold", []events.Signal{pdqSig(flip(q, 11), "", 60)}, nil, nil},
		{"pdq below low-pdq-quality", []events.Signal{pdqSig(q, "", 49)}, nil, nil},
		{"low-quality allow hash does not suppress",
			[]events.Signal{phash(ph), pdqSig(allowed, events.VariantFlipX, 40)}, []string{"blk/b1/phash"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Twice: computed, then from the cache.
			for round := range 2 {
				v := out.verdict(t, publishHashed(t, pub, cfg.Topics.Hashed, c.sigs...))
				got, gotSup := matchKeys(v.Matches), matchKeys(v.Suppressed)
				want, wantSup := c.matches, c.suppressed
				if want == nil {
					want = []string{}
				}
				if wantSup == nil {
					wantSup = []string{}
				}
				slicesSort(got, gotSup, want, wantSup)
				if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotSup, wantSup) {
					t.Errorf("round %d: matches %v suppressed %v, want %v and %v", round, got, gotSup, want, wantSup)
				}
			}
		})
	}
}

func slicesSort(ss ...[]string) {
	for _, s := range ss {
		for i := 1; i < len(s); i++ {
			for j := i; j > 0 && s[j] < s[j-1]; j-- {
				s[j], s[j-1] = s[j-1], s[j]
			}
		}
	}
}

// proxy forwards TCP connections to a target until paused; while paused it
// drops every connection, as a Redis that went away would.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	paused bool
	conns  map[net.Conn]bool
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.setPaused(true) })
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.paused {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go func() { io.Copy(up, c); up.Close(); c.Close() }()
		go func() { io.Copy(c, up); up.Close(); c.Close() }()
	}
}

func (p *proxy) setPaused(v bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = v
	if v {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

// scrape reads GET /metrics into name{labels} -> value, checking the format
// line by line.
func scrape(t *testing.T, svc *matcher.Service) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + svc.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := map[string]float64{}
	typed := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			typed[strings.Fields(name)[0]] = true
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("metrics line %q", line)
		}
		v, err := strconv.ParseFloat(strings.TrimPrefix(line[i+1:], "+"), 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		name := line[:i]
		base, _, _ := strings.Cut(name, "{")
		fam := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(base, "_bucket"), "_sum"), "_count")
		if !typed[base] && !typed[fam] {
			t.Errorf("metric %s without TYPE", name)
		}
		out[name] = v
	}
	return out
}

// TestRedisOutage cuts Redis off under a running replica: matching goes on
// from memory, health and metrics say the cache is bypassed and count the
// errors, and caching resumes when Redis is back.
func TestRedisOutage(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	px := newProxy(t, testenv.RedisAddr(t))
	cfg := testConfig(t, brokers, px.addr())
	cfg.RedisTimeout = 100 * time.Millisecond
	pub := publisher(t, brokers)
	shaA := randHex(64)
	publishBank(t, pub, cfg.Topics.BankUpdates, addEntry("tve", "e1", nil, sha(shaA)))
	out := collect(t, brokers, cfg.Topics.Matched)
	svc := start(t, cfg)

	matchesA := func() {
		t.Helper()
		v := out.verdict(t, publishHashed(t, pub, cfg.Topics.Hashed, sha(shaA), phash(rand.Uint64()|1)))
		if len(v.Matches) != 1 || v.Matches[0].EntryID != "e1" {
			t.Fatalf("matches %+v", v.Matches)
		}
	}
	matchesA()
	m := scrape(t, svc)
	if m["takedown_matcher_cache_bypassed"] != 0 || m["takedown_matcher_cache_misses_total"] != 2 ||
		m["takedown_matcher_cache_lookup_seconds_count"] != 1 || m["takedown_matcher_uploads_matched_total"] != 1 ||
		m[`takedown_matcher_bank_entries{bank="tve"}`] != 1 || m["takedown_matcher_bank_caught_up"] != 1 {
		t.Fatalf("metrics before the outage: %v", m)
	}

	px.setPaused(true)
	for range 3 {
		matchesA()
	}
	var details map[string]string
	if code := getJSON(t, "http://"+svc.Addr()+"/readyz", &details); code != http.StatusOK ||
		!strings.HasPrefix(details["cache"], "bypassed: ") {
		t.Fatalf("/readyz during the outage: %d %v (must stay ready and say bypassed)", code, details)
	}
	m = scrape(t, svc)
	if m["takedown_matcher_cache_bypassed"] != 1 || m["takedown_matcher_cache_errors_total"] < 1 ||
		m["takedown_matcher_cache_bypassed_uploads_total"] < 3 || m["takedown_matcher_uploads_matched_total"] != 4 {
		t.Fatalf("metrics during the outage: %v", m)
	}
	if st := stats(t, svc); !strings.HasPrefix(st.Cache.State, "bypassed: ") || st.Cache.Bypasses < 6 {
		t.Fatalf("stats during the outage: %+v", st.Cache)
	}

	px.setPaused(false)
	testenv.WaitFor(t, deadline, "the cache to recover", func() bool {
		return stats(t, svc).Cache.State == "ok"
	})
	hits := stats(t, svc).Cache.Hits
	matchesA()
	matchesA()
	m = scrape(t, svc)
	if m["takedown_matcher_cache_bypassed"] != 0 || stats(t, svc).Cache.Hits <= hits {
		t.Fatalf("after recovery: bypassed %v, hits %d -> %d", m["takedown_matcher_cache_bypassed"], hits, stats(t, svc).Cache.Hits)
	}
}

// TestPropagationTwoReplicas runs two replicas in one group and publishes a
// sequence of bank changes; after each, both replicas' banks and the
// verdicts of uploads spread over both replicas must reflect it. It logs how
// long each change took to reach each replica and the first verdict.
func TestPropagationTwoReplicas(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	cfg := testConfig(t, brokers, testenv.RedisAddr(t))
	pub := publisher(t, brokers)
	// Something in the topic so the replicas have a bank to load.
	publishBank(t, pub, cfg.Topics.BankUpdates, addEntry("seed", "s", nil, sha(randHex(64))))
	out := collect(t, brokers, cfg.Topics.Matched)
	a, b := start(t, cfg), start(t, cfg)
	replicas := []*matcher.Service{a, b}
	// The group gives the second replica partitions only after a rebalance:
	// wait until both handle uploads, so every step covers both.
	testenv.WaitFor(t, deadline, "both replicas to handle uploads", func() bool {
		out.verdict(t, publishHashed(t, pub, cfg.Topics.Hashed, sha(randHex(64))))
		return stats(t, a).Messages.Processed > 0 && stats(t, b).Messages.Processed > 0
	})

	ph := rand.Uint64() | 1
	near := phash(ph ^ 0xff) // distance 8: within the default 10, not within 4
	steps := []struct {
		name    string
		updates []*events.BankUpdate
		// want: matches, suppressed of an upload of near
		matches, suppressed int
	}{
		{"add", []*events.BankUpdate{addEntry("blk", "b1", nil, phash(ph))}, 1, 0},
		{"configure threshold", []*events.BankUpdate{configure("blk", events.BankConfig{Enabled: true,
			Signals: []events.BankSignalConfig{{Type: events.SignalPHash, Enabled: true, Threshold: 4}}})}, 0, 0},
		{"configure back", []*events.BankUpdate{configure("blk", events.BankConfig{Enabled: true})}, 1, 0},
		{"allow-list entry", []*events.BankUpdate{configure("ok", events.BankConfig{Enabled: true, Kind: events.BankKindAllow}),
			addEntry("ok", "a1", nil, phash(ph^0xff))}, 0, 1},
		{"disable allow entry", []*events.BankUpdate{disableEntry("ok", "a1")}, 1, 0},
		{"disable block entry", []*events.BankUpdate{disableEntry("blk", "b1")}, 0, 0},
	}
	for _, st := range steps {
		versions := []uint64{a.Banks().Version(), b.Banks().Version()}
		processed := []int64{stats(t, a).Messages.Processed, stats(t, b).Messages.Processed}
		t0 := time.Now()
		publishBank(t, pub, cfg.Topics.BankUpdates, st.updates...)
		published := time.Since(t0)
		// Per replica: when its banks give the new verdict.
		var applied [2]time.Duration
		testenv.WaitFor(t, deadline, st.name+" on both replicas", func() bool {
			done := true
			for i, r := range replicas {
				if applied[i] == 0 {
					v := r.Banks().MatchVerdict([]events.Signal{near})
					if len(v.Matches) == st.matches && len(v.Suppressed) == st.suppressed && r.Banks().Version() != versions[i] {
						applied[i] = time.Since(t0)
					}
				}
				done = done && applied[i] != 0
			}
			return done
		})
		// End to end: uploads until one verdict reflects the change, then
		// a batch that lands on both replicas and must all reflect it.
		var firstVerdict time.Duration
		for firstVerdict == 0 {
			v := out.verdict(t, publishHashed(t, pub, cfg.Topics.Hashed, near))
			if len(v.Matches) == st.matches && len(v.Suppressed) == st.suppressed {
				firstVerdict = time.Since(t0)
			}
			if time.Since(t0) > deadline {
				t.Fatalf("%s: no verdict reflects it: %+v", st.name, v)
			}
		}
		// At least 12 uploads, and more until each replica has handled one:
		// keys spread uploads over the partitions at random, and a loaded
		// machine can see a rebalance move both partitions for a while.
		bothHandled := func() bool {
			for i, r := range replicas {
				if stats(t, r).Messages.Processed == processed[i] {
					return false
				}
			}
			return true
		}
		for i := 0; i < 12 || !bothHandled(); i++ {
			if time.Since(t0) > deadline {
				t.Fatalf("%s: after %d uploads one replica still handled none of them: the test did not cover it", st.name, i)
			}
			v := out.verdict(t, publishHashed(t, pub, cfg.Topics.Hashed, near))
			if len(v.Matches) != st.matches || len(v.Suppressed) != st.suppressed {
				t.Errorf("%s: upload %d after both replicas applied it: matches %v suppressed %v, want %d and %d",
					st.name, i, matchKeys(v.Matches), matchKeys(v.Suppressed), st.matches, st.suppressed)
			}
		}
		if a.Banks().Version() != b.Banks().Version() {
			t.Errorf("%s: replicas disagree on the bank version", st.name)
		}
		t.Logf("%-22s publish %v; applied on replica a %v, b %v; first verdict reflecting it %v",
			st.name, published.Round(time.Millisecond), applied[0].Round(time.Millisecond),
			applied[1].Round(time.Millisecond), firstVerdict.Round(time.Millisecond))
	}
}

// TestSnapshotStartup checks that a replica writes its snapshot on shutdown,
// that the next one starts from it and reads only the tail of the topic to
// the same banks a full replay gives, and that an unusable snapshot (damaged,
// or made with other matching options) falls back to a full replay.
func TestSnapshotStartup(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	cfg := testConfig(t, brokers, testenv.RedisAddr(t))
	cfg.SnapshotDir = t.TempDir()
	cfg.SnapshotInterval = time.Hour // only the shutdown snapshot
	pub := publisher(t, brokers)
	var first []*events.BankUpdate
	for i := range 60 {
		first = append(first, addEntry(fmt.Sprintf("bank%d", i%3), fmt.Sprint(i), nil, sha(randHex(64)), pdqSig(randPDQ(), "", 0)))
	}
	first = append(first, configure("bank1", events.BankConfig{Enabled: true, Labels: []string{"x"}}))
	publishBank(t, pub, cfg.Topics.BankUpdates, first...)

	svc, err := matcher.New(cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	stop := testenv.Run(t, "first", svc.Run, svc.Ready)
	if st := stats(t, svc).Bank; st.Source != "topic" || st.Applied != int64(len(first)) {
		t.Fatalf("first replica: source %q, applied %d", st.Source, st.Applied)
	}
	stop()
	path := filepath.Join(cfg.SnapshotDir, "banks.snapshot")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no snapshot after shutdown: %v", err)
	}

	tail := []*events.BankUpdate{
		addEntry("bank0", "late", nil, sha(randHex(64))),
		disableEntry("bank1", "1"),
		configure("bank2", events.BankConfig{Enabled: false}),
	}
	publishBank(t, pub, cfg.Topics.BankUpdates, tail...)

	reference := func() *matcher.Service { // a full replay, no snapshot
		c := cfg
		c.SnapshotDir = ""
		return start(t, c)
	}()
	fromSnap := start(t, cfg)
	st := stats(t, fromSnap).Bank
	if st.Source != "snapshot" || st.Applied != int64(len(tail)) {
		t.Errorf("from snapshot: source %q, applied %d, want snapshot and %d", st.Source, st.Applied, len(tail))
	}
	if got, want := fromSnap.Banks().Version(), reference.Banks().Version(); got != want {
		t.Errorf("snapshot + tail gives version %x, a full replay %x", got, want)
	}
	if got, want := fromSnap.Banks().Stats().Banks, reference.Banks().Stats().Banks; !reflect.DeepEqual(got, want) {
		t.Errorf("snapshot + tail: %+v, full replay %+v", got, want)
	}

	t.Run("damaged snapshot", func(t *testing.T) {
		c := cfg
		c.SnapshotDir = t.TempDir()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0x40
		if err := os.WriteFile(filepath.Join(c.SnapshotDir, "banks.snapshot"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		svc := start(t, c)
		if st := stats(t, svc).Bank; st.Source != "topic" || svc.Banks().Version() != reference.Banks().Version() {
			t.Errorf("damaged snapshot: source %q, version %x want %x", st.Source, svc.Banks().Version(), reference.Banks().Version())
		}
	})
	t.Run("other matching options", func(t *testing.T) {
		c := cfg
		c.SnapshotDir = t.TempDir()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(c.SnapshotDir, "banks.snapshot"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		c.ThresholdPDQ = 30
		svc := start(t, c)
		if st := stats(t, svc).Bank; st.Source != "topic" || st.Applied != int64(len(first)+len(tail)) {
			t.Errorf("snapshot with other options: source %q, applied %d", st.Source, st.Applied)
		}
	})
}
