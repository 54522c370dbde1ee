package apispec

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
	"github.com/takedown-pipeline/takedown/services/review/review"
)

const (
	reviewKid      = "apispec"
	reviewSecret   = "apispec-review-secret-of-at-least-32-bytes"
	reviewIssuer   = "apispec-issuer"
	reviewAudience = "apispec-review"
)

// bearer is a token for sub with roles, as the service verifies them.
func bearer(t *testing.T, sub string, roles ...string) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub, "roles": roles,
		"iss": reviewIssuer, "aud": reviewAudience, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	tok.Header["kid"] = reviewKid
	s, err := tok.SignedString([]byte(reviewSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// picture is a small PNG for the media host.
func picture(t *testing.T) []byte {
	img := image.NewGray(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			img.SetGray(x, y, color.Gray{Y: uint8((x*7 + y*13) % 256)})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func reviewRequest(id, mediaURL, sha string) *events.ReviewRequested {
	ev := &events.ReviewRequested{
		Meta:        events.NewMeta(events.TypeReviewRequested, id, ""),
		MediaURL:    mediaURL,
		ContentType: events.ContentImage,
		UploadedAt:  time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		Reason:      "pdq distance 40 is above the auto-removal distance",
		Matches: []events.Match{{Bank: "apispec", EntryID: "entry-1", Labels: []string{"category:test"},
			SignalType: events.SignalPDQ, Signal: strings.Repeat("ab", 32), Distance: 40, Threshold: 31}},
	}
	if sha != "" {
		ev.Signals = []events.Signal{{Type: events.SignalSHA256, Value: sha}}
	}
	return ev
}

func TestReviewAPIMatchesItsDescription(t *testing.T) {
	prefix := testenv.Name("apispec")
	pic := picture(t)
	sum := sha256.Sum256(pic)
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(pic) }))
	defer host.Close()

	var cfg review.Config
	bindDefaults(t, "review", prefix, &cfg, &cfg.Common)
	cfg.Group = prefix + "-review"
	cfg.JWTHS256Secrets = []string{reviewKid + "=" + reviewSecret}
	cfg.JWTIssuer, cfg.JWTAudience = reviewIssuer, reviewAudience
	cfg.URLAllowlist = []string{"127.0.0.1"}
	svc, err := review.New(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, "review", svc.Run, svc.Ready)
	s := loadSpec(t, "review.openapi.yaml", svc.Addr())

	a, b, c, d, e := prefix+"-a", prefix+"-b", prefix+"-c", prefix+"-d", prefix+"-e"
	hexSum := hex.EncodeToString(sum[:])
	var msgs []messaging.Message
	for _, ev := range []*events.ReviewRequested{
		reviewRequest(a, host.URL+"/a.png", hexSum), reviewRequest(b, host.URL+"/b.png", hexSum),
		reviewRequest(c, host.URL+"/c.png", hexSum), reviewRequest(d, host.URL+"/d.png", ""),
		// Hashed from other bytes than the host serves now.
		reviewRequest(e, host.URL+"/e.png", strings.Repeat("0", 64)),
	} {
		m, err := messaging.EventMessage(cfg.Topics.ReviewRequested, ev)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	// A re-upload of a's content that the enforcer removed through the
	// confirmed-bank entry a's violating decision makes: a's overturn lists
	// it and restore-related restores it.
	removal := &events.EnforcementAction{
		Meta:   events.NewMeta(events.TypeEnforcementAction, prefix+"-again", ""),
		Action: events.ActionRemove, Trigger: events.TriggerAuto, Outcome: events.OutcomeSucceeded,
		Reason: "sha256 distance 0 to bank confirmed", Bank: cfg.ConfirmedBank, IdempotencyKey: prefix + "-again/remove", Attempts: 1,
		Evidence: []events.Match{{Bank: cfg.ConfirmedBank, EntryID: review.FeedbackEntryID(a), SignalType: events.SignalSHA256,
			Signal: hexSum, Threshold: 0}},
		UploadedAt: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC), ActedAt: time.Date(2026, 12, 2, 10, 0, 1, 0, time.UTC),
	}
	m, err := messaging.EventMessage(cfg.Topics.Actions, removal)
	if err != nil {
		t.Fatal(err)
	}
	msgs = append(msgs, m)
	pub := messaging.NewKafkaPublisher(cfg.Kafka)
	defer pub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pub.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	alice, bob := bearer(t, "alice", "reviewer"), bearer(t, "bob", "reviewer")
	lena, adam := bearer(t, "lena", "lead"), bearer(t, "adam", "admin")
	call := func(tok, method, path string, body any) request {
		r := request{method: method, path: path, header: http.Header{}, validRequest: true}
		if tok != "" {
			r.header.Set("Authorization", "Bearer "+tok)
		}
		if body != nil {
			if raw, ok := body.(string); ok {
				r.body = []byte(raw)
			} else {
				r.body, _ = json.Marshal(body)
			}
			r.header.Set("Content-Type", "application/json")
		}
		return r
	}
	invalid := func(r request) request { r.validRequest = false; return r }
	ranged := func(r request) request { r.header.Set("Range", "bytes=0-9"); return r }

	testenv.WaitFor(t, time.Minute, "the five review items", func() bool {
		code, body := s.do(call(alice, "GET", "/v1/items?state=pending&limit=500", nil))
		var out struct{ Items []review.Item }
		_ = json.Unmarshal(body, &out)
		return code == http.StatusOK && len(out.Items) == 5
	})

	decision := func(d string) map[string]any { return map[string]any{"decision": d, "reason": "the test says so"} }
	reason := map[string]any{"reason": "the test says so"}
	for _, tc := range []struct {
		name string
		r    request
		want int
	}{
		{"an unknown state", invalid(call(alice, "GET", "/v1/items?state=lost", nil)), http.StatusBadRequest},
		{"no token", invalid(call("", "GET", "/v1/items", nil)), http.StatusUnauthorized},
		{"a forged token", call(strings.Replace(alice, ".", ".x", 1), "GET", "/v1/items", nil), http.StatusUnauthorized},
		{"one item", call(alice, "GET", "/v1/items/"+a, nil), http.StatusOK},
		{"no such item", call(alice, "GET", "/v1/items/nothing-here", nil), http.StatusNotFound},
		{"claim", call(alice, "POST", "/v1/items/"+a+"/claim", nil), http.StatusOK},
		{"claim of a claimed item", call(bob, "POST", "/v1/items/"+a+"/claim", map[string]any{}), http.StatusConflict},
		{"claim naming another reviewer", call(alice, "POST", "/v1/items/"+b+"/claim", map[string]any{"reviewer": "mallory"}), http.StatusForbidden},
		{"claim with a body over 64 KiB", call(alice, "POST", "/v1/items/"+b+"/claim", map[string]any{"reviewer": strings.Repeat("x", 70<<10)}), http.StatusRequestEntityTooLarge},
		{"decision", call(alice, "POST", "/v1/items/"+a+"/decision", decision("violating")), http.StatusOK},
		{"the same decision again", call(alice, "POST", "/v1/items/"+a+"/decision", decision("violating")), http.StatusOK},
		{"a decision without reason", invalid(call(alice, "POST", "/v1/items/"+a+"/decision", map[string]any{"decision": "benign"})), http.StatusBadRequest},
		{"a decision without a lease", call(bob, "POST", "/v1/items/"+b+"/decision", decision("benign")), http.StatusForbidden},
		{"claim b", call(bob, "POST", "/v1/items/"+b+"/claim", nil), http.StatusOK},
		{"a benign decision", call(bob, "POST", "/v1/items/"+b+"/decision", decision("benign")), http.StatusOK},
		{"a reviewer's allow-list agreement", call(alice, "POST", "/v1/items/"+b+"/allowlist", reason), http.StatusAccepted},
		{"a lead's allow-list confirmation", call(lena, "POST", "/v1/items/"+b+"/allowlist", reason), http.StatusOK},
		{"allow-listing an undecided item", call(lena, "POST", "/v1/items/"+c+"/allowlist", reason), http.StatusConflict},
		{"a lead's revoke", call(lena, "POST", "/v1/items/"+b+"/allowlist/revoke", reason), http.StatusForbidden},
		{"an admin's revoke", call(adam, "POST", "/v1/items/"+b+"/allowlist/revoke", reason), http.StatusOK},
		{"a revoke without reason", invalid(call(adam, "POST", "/v1/items/"+b+"/allowlist/revoke", map[string]any{})), http.StatusBadRequest},
		{"assign", call(lena, "POST", "/v1/items/"+c+"/assign", map[string]any{"reviewer": "bob"}), http.StatusOK},
		{"a reviewer's assign", call(alice, "POST", "/v1/items/"+c+"/assign", map[string]any{"reviewer": "alice"}), http.StatusForbidden},
		{"assign to no one", invalid(call(lena, "POST", "/v1/items/"+c+"/assign", map[string]any{})), http.StatusBadRequest},
		{"assign a decided item", call(lena, "POST", "/v1/items/"+a+"/assign", map[string]any{"reviewer": "bob"}), http.StatusConflict},
		{"a reviewer's overturn", call(alice, "POST", "/v1/items/"+a+"/overturn", decision("benign")), http.StatusForbidden},
		{"overturn", call(lena, "POST", "/v1/items/"+a+"/overturn", decision("benign")), http.StatusOK},
		{"overturn of an undecided item", call(lena, "POST", "/v1/items/"+c+"/overturn", decision("benign")), http.StatusConflict},
		{"an unknown field", invalid(call(lena, "POST", "/v1/items/"+a+"/overturn", `{"decision":"violating","reason":"r","why":"x"}`)), http.StatusBadRequest},
		{"media", call(alice, "GET", "/v1/items/"+a+"/media", nil), http.StatusOK},
		{"a range of the media", ranged(call(alice, "GET", "/v1/items/"+a+"/media", nil)), http.StatusPartialContent},
		{"media changed since it was hashed", call(alice, "GET", "/v1/items/"+e+"/media", nil), http.StatusBadGateway},
		{"preview", call(alice, "GET", "/v1/items/"+a+"/preview", nil), http.StatusOK},
		{"media with no recorded sha256", call(alice, "GET", "/v1/items/"+d+"/media", nil), http.StatusConflict},
		{"media of no item", call(alice, "GET", "/v1/items/nothing-here/media", nil), http.StatusNotFound},
		{"stats", call(alice, "GET", "/v1/stats", nil), http.StatusOK},
		{"healthz", call("", "GET", "/healthz", nil), http.StatusOK},
		{"readyz", call("", "GET", "/readyz", nil), http.StatusOK},
		{"metrics", call("", "GET", "/metrics", nil), http.StatusOK},
		{"restore-related of an item not overturned", call(lena, "POST", "/v1/items/"+c+"/restore-related", reason), http.StatusConflict},
		{"a reviewer's restore-related", call(alice, "POST", "/v1/items/"+a+"/restore-related", reason), http.StatusForbidden},
		{"restore-related without reason", invalid(call(lena, "POST", "/v1/items/"+a+"/restore-related", map[string]any{})), http.StatusBadRequest},
		{"restore-related of no item", call(lena, "POST", "/v1/items/nothing-here/restore-related", reason), http.StatusNotFound},
	} {
		code, body := s.do(tc.r)
		if code != tc.want {
			t.Errorf("%s: %s %s answered %d, want %d: %.300s", tc.name, tc.r.method, tc.r.path, code, tc.want, body)
		}
	}
	// The overturned item lists the re-upload (once the service has read
	// the removal), and restore-related asks for its restore.
	var it review.Item
	testenv.WaitFor(t, time.Minute, "the re-upload listed on the overturned item", func() bool {
		code, body := s.do(call(alice, "GET", "/v1/items/"+a, nil))
		it = review.Item{}
		_ = json.Unmarshal(body, &it)
		return code == http.StatusOK && len(it.Related) == 1
	})
	if r := it.Related[0]; r.ContentID != removal.ContentID || r.ActionEventID != removal.EventID || r.Restore != nil {
		t.Fatalf("related upload %+v", r)
	}
	code, body := s.do(call(lena, "POST", "/v1/items/"+a+"/restore-related", reason))
	it = review.Item{}
	_ = json.Unmarshal(body, &it)
	if code != http.StatusOK || len(it.Related) != 1 || it.Related[0].Restore == nil || it.Related[0].Restore.RequestedBy != "lena" {
		t.Errorf("restore-related: %d %s", code, body)
	}
	s.checkCoverage()
	// The web UI's pages and form posts are not the API.
	s.checkRoutes([]string{"../../services/review/review", "../../pkg/platform/service"}, "/ui")
}
