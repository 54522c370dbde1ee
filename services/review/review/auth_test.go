package review

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// Every API route refuses a request without a valid token (401) or with a
// token whose roles do not allow it (403), with a JSON error and an RFC 6750
// challenge; health and metrics stay open for probes and scrapers.
func TestAPIRefusesWithoutValidToken(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	r := start(t, cfg)
	req := newRequest(testenv.Name("content"))
	publish(t, cfg, requestMsg(t, cfg, req))
	r.waitItem(t, req.ContentID)

	item := r.itemURL(req.ContentID)
	routes := []struct{ method, url, body string }{
		{http.MethodGet, r.base + "/v1/items", ""},
		{http.MethodGet, item, ""},
		{http.MethodGet, r.base + "/v1/stats", ""},
		{http.MethodPost, item + "/claim", `{}`},
		{http.MethodPost, item + "/decision", `{"decision":"benign","reason":"r"}`},
		{http.MethodPost, item + "/assign", `{"reviewer":"bob"}`},
		{http.MethodPost, item + "/overturn", `{"decision":"benign","reason":"r"}`},
	}
	hs := func(c jwt.MapClaims) string {
		return signToken(t, jwt.SigningMethodHS256, []byte(testSecret), testKID, c)
	}
	forged := signToken(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), testKID, claimsFor("mallory", RoleAdmin))
	expired := claimsFor("alice", RoleLead)
	expired["iat"], expired["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
	noExp := claimsFor("alice", RoleLead)
	delete(noExp, "exp")
	noSub := claimsFor("alice", RoleLead)
	delete(noSub, "sub")
	tokens := []struct {
		name, auth string
		want       int
		challenge  string
	}{
		{"no token", "", http.StatusUnauthorized, `Bearer realm="takedown-review"`},
		{"not bearer", "Basic YWxpY2U6cHc=", http.StatusUnauthorized, `error="invalid_token"`},
		{"garbage", "Bearer not.a.token", http.StatusUnauthorized, `error="invalid_token"`},
		{"other key", "Bearer " + forged, http.StatusUnauthorized, `error="invalid_token"`},
		{"expired", "Bearer " + hs(expired), http.StatusUnauthorized, `error="invalid_token"`},
		{"no exp", "Bearer " + hs(noExp), http.StatusUnauthorized, `error="invalid_token"`},
		{"no sub", "Bearer " + hs(noSub), http.StatusUnauthorized, `error="invalid_token"`},
		{"no known role", "Bearer " + tokenFor(t, "alice", "auditor"), http.StatusForbidden, `error="insufficient_scope"`},
	}
	for _, tk := range tokens {
		for _, rt := range routes {
			t.Run(tk.name+" "+rt.method+" "+strings.TrimPrefix(rt.url, r.base), func(t *testing.T) {
				hreq, _ := http.NewRequest(rt.method, rt.url, strings.NewReader(rt.body))
				if tk.auth != "" {
					hreq.Header.Set("Authorization", tk.auth)
				}
				resp, err := http.DefaultClient.Do(hreq)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.StatusCode != tk.want {
					t.Fatalf("%d, want %d", resp.StatusCode, tk.want)
				}
				if ch := resp.Header.Get("WWW-Authenticate"); !strings.Contains(ch, tk.challenge) {
					t.Errorf("WWW-Authenticate %q, want it to hold %q", ch, tk.challenge)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
			})
		}
	}
	// A reviewer may not do what needs a lead.
	for _, rt := range routes[5:] {
		code, body := callAs(t, tokenFor(t, "alice"), rt.method, rt.url, rt.body)
		if code != http.StatusForbidden || !strings.Contains(errorOf(t, body), "lead") {
			t.Errorf("reviewer %s %s: %d %s, want 403 naming the lead role", rt.method, rt.url, code, body)
		}
	}
	// Nothing above changed the item or published anything.
	if _, it := r.get(t, req.ContentID); it.State != StatePending {
		t.Errorf("refused requests changed the item: %+v", it)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, body := call(t, http.MethodGet, r.base+path, nil); code != http.StatusOK {
			t.Errorf("%s without a token: %d %s", path, code, body)
		}
	}
	// The refusals are counted.
	_, metrics := call(t, http.MethodGet, r.base+"/metrics", nil)
	for _, want := range []string{`takedown_review_auth_refused_total{reason="missing"} 7`, `takedown_review_auth_refused_total{reason="role"}`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestVerifierFromSettings(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	edPEM := write("ed.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	secretFile := write("secret", []byte(strings.Repeat("f", 40)+"\n"))
	notPEM := write("bad.pem", []byte("not a key"))

	claims := claimsFor("alice", RoleLead, "other", RoleLead)
	tokens := []string{
		signToken(t, jwt.SigningMethodEdDSA, priv, "ed", claims),
		signToken(t, jwt.SigningMethodHS256, []byte(strings.Repeat("f", 40)), "file", claims),
		signToken(t, jwt.SigningMethodHS256, []byte(strings.Repeat("i", 32)), "inline", claims),
	}
	good := Config{JWTHS256Secrets: []string{"inline=" + strings.Repeat("i", 32), "file=@" + secretFile},
		JWTPublicKeys: []string{"ed=" + edPEM}, JWTIssuer: testIssuer, JWTAudience: testAudience,
		JWTMaxLifetime: 12 * time.Hour, JWTRolesClaim: "roles"}
	v, err := newVerifier(&good, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{verifier: v, log: slog.New(slog.DiscardHandler)}
	for _, tok := range tokens {
		p, err := s.verifyToken(t.Context(), tok)
		if err != nil {
			t.Fatalf("verify: %v", err)
		}
		if p.Subject != "alice" || len(p.Roles) != 1 || p.Roles[0] != RoleLead || !p.isLead() {
			t.Errorf("principal %+v: want alice with the lead role once", p)
		}
	}
	// The key fixes the algorithm: HS256 with the Ed25519 public key's
	// bytes as the secret, and EdDSA under an HS256 kid, are refused.
	for name, tok := range map[string]string{
		"HS256 under the EdDSA kid": signToken(t, jwt.SigningMethodHS256, []byte(pub), "ed", claims),
		"EdDSA under an HS256 kid":  signToken(t, jwt.SigningMethodEdDSA, priv, "inline", claims),
		"unknown kid":               signToken(t, jwt.SigningMethodHS256, []byte(strings.Repeat("i", 32)), "nope", claims),
		"no kid, three keys":        signToken(t, jwt.SigningMethodHS256, []byte(strings.Repeat("i", 32)), "", claims),
		"alg none":                  signToken(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "inline", claims),
	} {
		if _, err := s.verifyToken(t.Context(), tok); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}

	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no kid", Config{JWTHS256Secrets: []string{strings.Repeat("s", 40)}}, "want KID=SECRET"},
		{"short secret", Config{JWTHS256Secrets: []string{"k=short"}}, "at least 32"},
		{"missing secret file", Config{JWTHS256Secrets: []string{"k=@" + filepath.Join(dir, "nope")}}, "no such file"},
		{"missing PEM", Config{JWTPublicKeys: []string{"k=" + filepath.Join(dir, "nope.pem")}}, "no such file"},
		{"not PEM", Config{JWTPublicKeys: []string{"k=" + notPEM}}, "no PEM block"},
		{"no path", Config{JWTPublicKeys: []string{"k="}}, "want KID=PEM-FILE"},
		{"duplicate kid", Config{JWTHS256Secrets: []string{"k=" + strings.Repeat("a", 32)}, JWTPublicKeys: []string{"k=" + edPEM}}, "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newVerifier(&tc.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("newVerifier: %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), strings.Repeat("s", 40)) {
				t.Errorf("the error quotes the secret: %v", err)
			}
		})
	}
}

func TestCheckNamedReviewer(t *testing.T) {
	p := &principal{Subject: "alice", Roles: []string{RoleReviewer}}
	for _, tc := range []struct {
		named string
		ok    bool
	}{{"", true}, {"alice", true}, {"bob", false}, {"Alice", false}} {
		err := checkNamedReviewer(p, tc.named)
		var ae *authError
		if tc.ok != (err == nil) || err != nil && (!errors.As(err, &ae) || ae.code != http.StatusForbidden) {
			t.Errorf("named %q: %v", tc.named, err)
		}
	}
}
