package review

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

func randomHex(t testing.TB, bytes int) string {
	t.Helper()
	b := make([]byte, bytes)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func quality(q int) *int { return &q }

// uploadSignals are the signals the hasher gives an image: exact hashes,
// whole-picture perceptual hashes and variants. The blank phash (a flat
// region) and the rot90 variant must not reach a bank.
func uploadSignals(t testing.TB) []events.Signal {
	return []events.Signal{
		{Type: events.SignalSHA256, Value: randomHex(t, 32)},
		{Type: events.SignalMD5, Value: randomHex(t, 16)},
		{Type: events.SignalPDQ, Value: randomHex(t, 32), Quality: quality(90)},
		{Type: events.SignalPDQ, Value: randomHex(t, 32), Quality: quality(90), Variant: events.VariantRot90},
		{Type: events.SignalPHash, Value: "0000000000000000"},
		{Type: events.SignalDHash, Value: "not-hex!"},
	}
}

// flipBits returns a hex hash with its first n bits inverted: a re-encoded
// copy of the same picture.
func flipBits(t testing.TB, h string, n int) string {
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		b[i/8] ^= 1 << (i % 8)
	}
	return hex.EncodeToString(b)
}

// loadBanks reads the bank topic into banks as a matcher replica does.
func loadBanks(t *testing.T, cfg Config) *bank.Banks {
	t.Helper()
	banks := bank.NewBanks(bank.DefaultThresholds())
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	_, err := replayTopic(ctx, cfg.Kafka, cfg.Topics.BankUpdates, func(_ context.Context, m *messaging.Message) error {
		if m.Value == nil {
			banks.DisableKey(string(m.Key))
			return nil
		}
		var u events.BankUpdate
		if err := events.Decode(m.Value, events.TypeBankUpdate, &u); err != nil {
			t.Errorf("bank update at offset %d: %v", m.Offset, err)
			return nil
		}
		if err := banks.Apply(u); err != nil {
			t.Errorf("the bank refuses update %s: %v", u.Key(), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return banks
}

func hasMatch(ms []events.Match, bankName, entryID string) bool {
	return slices.ContainsFunc(ms, func(m events.Match) bool { return m.Bank == bankName && m.EntryID == entryID })
}

// A violating decision puts the upload's hashes in the confirmed bank, so a
// later re-upload matches it through the real broker and bank code; a benign
// one keeps that upload only, until a lead confirms it: then its hashes go
// to the benign bank, which becomes an allow bank; an overturn to benign
// takes the entry out of the confirmed bank without allow-listing it.
func TestFeedbackIntoBanks(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	r := start(t, cfg)
	bad := newRequest(testenv.Name("bad"))
	bad.Signals = uploadSignals(t)
	bad.Matches[0].Labels = []string{"category:terrorism", "source:gifct"}
	fine := newRequest(testenv.Name("fine"))
	fine.Signals = uploadSignals(t)
	publish(t, cfg, requestMsg(t, cfg, bad), requestMsg(t, cfg, fine))
	r.waitItem(t, fine.ContentID)
	r.waitItem(t, bad.ContentID)

	for _, d := range []struct {
		req              *events.ReviewRequested
		reviewer, choice string
	}{{bad, "alice", events.DecisionViolating}, {fine, "bob", events.DecisionBenign}} {
		if code, body := r.claim(t, d.req.ContentID, d.reviewer); code != http.StatusOK {
			t.Fatalf("claim: %d %s", code, body)
		}
		if code, body := r.decide(t, d.req.ContentID, d.reviewer, d.choice, "seen it"); code != http.StatusOK {
			t.Fatalf("decide: %d %s", code, body)
		}
	}
	// A redelivered or retried decision writes the same entry: deciding again
	// (a repeat) publishes nothing, and a republish of the same draft would
	// use the same key.
	if code, body := r.decide(t, bad.ContentID, "alice", events.DecisionViolating, "seen it"); code != http.StatusOK {
		t.Fatalf("repeat: %d %s", code, body)
	}

	badID, fineID := FeedbackEntryID(bad.ContentID), FeedbackEntryID(fine.ContentID)
	// One person cannot allow-list: bob's benign decision puts nothing in
	// the benign bank, nor does his own agreement, nor (under the default
	// rule, lead) another reviewer's.
	allow := func(token, id string) (int, []byte) {
		return callAs(t, token, http.MethodPost, r.itemURL(id)+"/allowlist", map[string]string{"reason": "harmless"})
	}
	if code, body := allow(tokenFor(t, "bob"), fine.ContentID); code != http.StatusForbidden {
		t.Errorf("bob agreeing with himself: %d %s, want 403", code, body)
	}
	code, body := allow(tokenFor(t, "carol"), fine.ContentID)
	if it := decode[Item](t, body); code != http.StatusAccepted || it.Allowlist == nil ||
		!slices.Equal(it.Allowlist.AgreedBy, []string{"carol"}) || it.Allowlist.Confirmed {
		t.Errorf("carol's agreement: %d %s, want 202 recorded, not confirmed", code, body)
	}
	if code, body := allow(tokenFor(t, "alice"), bad.ContentID); code != http.StatusConflict {
		t.Errorf("allow-listing a violating item: %d %s, want 409", code, body)
	}
	if _, ok := loadBanks(t, cfg).Entry(cfg.BenignBank, fineID); ok {
		t.Fatalf("a single benign decision put %s in the benign bank", fineID)
	}
	lena := tokenFor(t, "lena", RoleLead)
	code, body = allow(lena, fine.ContentID)
	if it := decode[Item](t, body); code != http.StatusOK || it.Allowlist == nil || !it.Allowlist.Published {
		t.Fatalf("lena's confirmation: %d %s", code, body)
	}
	if code, _ := allow(lena, fine.ContentID); code != http.StatusOK {
		t.Errorf("repeated confirmation: %d, want 200", code)
	}

	banks := loadBanks(t, cfg)
	if e, ok := banks.Entry(cfg.BenignBank, fineID); !ok ||
		!slices.Equal(e.Labels, []string{"allowlisted-by:carol", "allowlisted-by:lena", "reviewed-by:bob"}) {
		t.Errorf("benign entry %+v (found %v), want labelled with bob, carol and lena", e, ok)
	}
	e, ok := banks.Entry(cfg.ConfirmedBank, badID)
	if !ok || e.Disabled {
		t.Fatalf("confirmed bank %s has no entry %s: %+v", cfg.ConfirmedBank, badID, banks.Stats())
	}
	wantLabels := []string{"category:terrorism", "reviewed-by:alice", "source:gifct"}
	if !slices.Equal(e.Labels, wantLabels) {
		t.Errorf("labels %v, want %v", e.Labels, wantLabels)
	}
	var types []string
	for _, s := range e.Signals {
		if s.Variant != "" {
			t.Errorf("variant signal %s:%s in the bank", s.Type, s.Variant)
		}
		types = append(types, s.Type)
	}
	slices.Sort(types)
	if want := []string{events.SignalMD5, events.SignalPDQ, events.SignalSHA256}; !slices.Equal(types, want) {
		t.Errorf("entry signal types %v, want %v (no blank phash, no malformed dhash, no variant)", types, want)
	}
	st := banks.Stats()
	if st.Banks[cfg.ConfirmedBank].Entries != 1 || st.Banks[cfg.BenignBank].Entries != 1 {
		t.Errorf("bank stats %+v: want one entry in each bank", st.Banks)
	}

	// A re-upload of the violating picture, re-encoded (pdq 3 bits off, new
	// file bytes), matches the confirmed bank: it is taken down without review.
	reupload := []events.Signal{
		{Type: events.SignalSHA256, Value: randomHex(t, 32)},
		{Type: events.SignalPDQ, Value: flipBits(t, bad.Signals[2].Value, 3), Quality: quality(88)},
	}
	if v := banks.MatchVerdict(reupload); !hasMatch(v.Matches, cfg.ConfirmedBank, badID) {
		t.Errorf("re-upload of the violating picture: verdict %+v, want a match in %s", v, cfg.ConfirmedBank)
	}
	// The benign bank is an allow bank: a re-upload of the benign picture is
	// let through, and would suppress perceptual block matches.
	if info, ok := banks.Bank(cfg.BenignBank); !ok || info.Config.Kind != events.BankKindAllow || !info.Config.Enabled {
		t.Errorf("benign bank %+v, want an enabled allow bank", info)
	}
	fineCopy := []events.Signal{{Type: events.SignalPDQ, Value: flipBits(t, fine.Signals[2].Value, 2), Quality: quality(90)}}
	if v := banks.MatchVerdict(fineCopy); len(v.Matches) != 0 || !hasMatch(v.Allowed, cfg.BenignBank, fineID) {
		t.Errorf("re-upload of the benign picture: verdict %+v, want an allow match only", v)
	}

	// The lead overturns the violating decision: the entry leaves the
	// confirmed bank and joins the benign one.
	if code, body := r.overturn(t, tokenFor(t, "lena", RoleLead), bad.ContentID, events.DecisionBenign, "documentary footage"); code != http.StatusOK {
		t.Fatalf("overturn: %d %s", code, body)
	}
	banks = loadBanks(t, cfg)
	if e, ok := banks.Entry(cfg.ConfirmedBank, badID); !ok || !e.Disabled {
		t.Errorf("after the overturn the confirmed entry is %+v (found %v), want disabled", e, ok)
	}
	if e, ok := banks.Entry(cfg.BenignBank, badID); ok {
		t.Errorf("the overturn allow-listed the content on its own: %+v", e)
	}
	if v := banks.MatchVerdict(reupload); hasMatch(v.Matches, cfg.ConfirmedBank, badID) || len(v.Allowed) != 0 {
		t.Errorf("re-upload after the overturn: verdict %+v, want no match at all", v)
	}
	if n := testenv.EndOffset(t, cfg.Kafka.Brokers, cfg.Topics.BankUpdates); n != 4 {
		// configure, the confirmed add, the confirmed allow-list add, the disable.
		t.Errorf("%d bank updates, want 4", n)
	}
}

// The benign bank is made an allow bank without losing the settings an
// operator gave it; one already allow is left alone.
func TestBenignBankKeepsItsSettings(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.BenignBank = testenv.Name("benign")
	configured := events.DefaultBankConfig()
	configured.Labels = []string{"team:trust-and-safety"}
	configured.Signals = []events.BankSignalConfig{{Type: events.SignalPDQ, Enabled: true, Threshold: 20}}
	u := events.NewBankConfigure(cfg.BenignBank, configured)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := messaging.EnsureTopics(ctx, cfg.Kafka, messaging.TopicSpec{Name: cfg.Topics.BankUpdates, Partitions: 1, Compact: true}); err != nil {
		t.Fatal(err)
	}
	m, err := messaging.EventMessage(cfg.Topics.BankUpdates, &u)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, cfg, m)
	r := start(t, cfg)
	testenv.WaitFor(t, waitFor, "the benign bank to be made an allow bank", func() bool {
		return testenv.EndOffset(t, cfg.Kafka.Brokers, cfg.Topics.BankUpdates) == 2
	})
	info, ok := loadBanks(t, cfg).Bank(cfg.BenignBank)
	if !ok || info.Config.Kind != events.BankKindAllow || !slices.Equal(info.Config.Labels, configured.Labels) ||
		!slices.Equal(info.Config.Signals, configured.Signals) {
		t.Fatalf("benign bank %+v, want allow with the operator's labels and pdq threshold", info)
	}
	// Once recorded, a restart publishes nothing more.
	r.stop()
	again := start(t, cfg)
	testenv.WaitFor(t, waitFor, "the restarted service to check the benign bank", func() bool {
		again.svc.allow.mu.Lock()
		defer again.svc.allow.mu.Unlock()
		return again.svc.allow.ok
	})
	if n := testenv.EndOffset(t, cfg.Kafka.Brokers, cfg.Topics.BankUpdates); n != 2 {
		t.Errorf("%d bank updates after a restart, want still 2", n)
	}
}

func TestBankSignals(t *testing.T) {
	sigs := uploadSignals(t)
	got := bankSignals(sigs)
	if len(got) != 3 || got[0] != sigs[0] || got[1] != sigs[1] || got[2].Value != sigs[2].Value {
		t.Errorf("bankSignals kept %+v", got)
	}
	if bankSignals(nil) != nil || len(bankSignals(sigs[3:])) != 0 {
		t.Error("no bankable signal should give none")
	}
	if a, b := FeedbackEntryID("c/1"), FeedbackEntryID("c/2"); a == b || !strings.HasPrefix(a, "review-") || len(a) != len("review-")+16 {
		t.Errorf("entry ids %q %q", a, b)
	}
}
