package review

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// idp is an identity provider as the review service sees it: a JWKS
// endpoint whose keys the test can rotate, and the private keys to sign
// with.
type idp struct {
	srv     *httptest.Server
	fetches atomic.Int32
	mu      sync.Mutex
	jwks    []map[string]any
}

func newIdP(t *testing.T) *idp {
	p := &idp{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": p.jwks})
	}))
	t.Cleanup(p.srv.Close)
	return p
}

var b64url = base64.RawURLEncoding

// publishRSA adds an RS256 key under kid to the JWKS and returns its
// private key.
func (p *idp) publishRSA(t *testing.T, kid string) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p.publish(map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64url.EncodeToString(k.N.Bytes()), "e": b64url.EncodeToString(big.NewInt(int64(k.E)).Bytes())})
	return k
}

// publishEd25519 adds an EdDSA key (no use, no alg: many providers leave
// them out) under kid.
func (p *idp) publishEd25519(t *testing.T, kid string) ed25519.PrivateKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.publish(map[string]any{"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64url.EncodeToString(pub)})
	return priv
}

func (p *idp) publish(jwk map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.jwks = append(p.jwks, jwk)
}

// idpConfig is testConfig verifying tokens against p's JWKS only.
func idpConfig(t *testing.T, p *idp) Config {
	cfg := testConfig(t)
	cfg.JWTHS256Secrets = nil
	cfg.JWTJWKSURL = p.srv.URL + "/.well-known/jwks.json"
	return cfg
}

// statsAs asks for the stats with tok and returns the status, the
// challenge and the body.
func statsAs(t *testing.T, base, tok string) (int, string, string) {
	t.Helper()
	resp, body := testenv.Get(t, base+"/v1/stats", tok)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(body)
}

// wantInvalid checks a 401 that says "invalid token" and nothing else: no
// key id, algorithm or parse detail in the body or the challenge.
func wantInvalid(t *testing.T, name string, code int, challenge, body string) {
	t.Helper()
	if code != http.StatusUnauthorized {
		t.Errorf("%s: %d %s, want 401", name, code, body)
		return
	}
	if strings.TrimSpace(body) != `{"error":"invalid token"}` {
		t.Errorf("%s: body %s, want exactly {\"error\":\"invalid token\"}", name, body)
	}
	if challenge != `Bearer realm="takedown-review", error="invalid_token"` {
		t.Errorf("%s: WWW-Authenticate %q, want the bare invalid_token challenge", name, challenge)
	}
}

// Tokens of an identity provider, verified against its JWKS through the
// review API: its valid tokens open it, a wrong audience or issuer, an
// expired or long-lived token, a duplicate roles key and an unknown key do
// not, each with a 401 that says only "invalid token". A key the provider
// publishes later is found on the first token that uses it; made-up key
// ids do not make the service fetch the set more than once a minute.
func TestIdentityProviderTokens(t *testing.T) {
	t.Parallel()
	p := newIdP(t)
	rsaKey := p.publishRSA(t, "rsa-1")
	edKey := p.publishEd25519(t, "ed-1")
	cfg := idpConfig(t, p)
	r := start(t, cfg)

	rs := func(c jwt.MapClaims) string { return signToken(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", c) }
	for name, tok := range map[string]string{
		"RS256": rs(claimsFor("ida", RoleLead)),
		"EdDSA": signToken(t, jwt.SigningMethodEdDSA, edKey, "ed-1", claimsFor("ida")),
		"aud among several": rs(func() jwt.MapClaims {
			c := claimsFor("ida")
			c["aud"] = []string{"other-app", testAudience}
			return c
		}()),
		"lifetime 12h, issued 11h ago": rs(func() jwt.MapClaims {
			c := claimsFor("ida")
			c["iat"], c["exp"] = time.Now().Add(-11*time.Hour).Unix(), time.Now().Add(time.Hour).Unix()
			return c
		}()),
	} {
		if code, _, body := statsAs(t, r.base, tok); code != http.StatusOK {
			t.Errorf("%s: %d %s, want 200", name, code, body)
		}
	}

	now := time.Now()
	with := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := claimsFor("ida", RoleReviewer)
		change(c)
		return c
	}
	// A payload with roles twice: encoding/json keeps the last, which
	// would make ida an admin.
	dupHeader := b64url.EncodeToString([]byte(`{"alg":"RS256","kid":"rsa-1","typ":"JWT"}`))
	dupPayload := b64url.EncodeToString(fmt.Appendf(nil,
		`{"sub":"ida","roles":["reviewer"],"iss":%q,"aud":%q,"iat":%d,"exp":%d,"roles":["admin"]}`,
		testIssuer, testAudience, now.Unix(), now.Add(time.Hour).Unix()))
	dupSig, err := jwt.SigningMethodRS256.Sign(dupHeader+"."+dupPayload, rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{
		"wrong audience": rs(with(func(c jwt.MapClaims) { c["aud"] = "some-other-app" })),
		"no audience":    rs(with(func(c jwt.MapClaims) { delete(c, "aud") })),
		"wrong issuer":   rs(with(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })),
		"expired": rs(with(func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix()
		})),
		"exp in 2286": rs(with(func(c jwt.MapClaims) { c["exp"] = int64(9999999999) })),
		"lifetime 13h": rs(with(func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(-12*time.Hour).Unix(), now.Add(time.Hour).Unix()
		})),
		"no iat":                      rs(with(func(c jwt.MapClaims) { delete(c, "iat") })),
		"issued later":                rs(with(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Hour).Unix() })),
		"duplicate roles":             dupHeader + "." + dupPayload + "." + b64url.EncodeToString(dupSig),
		"signed by a stranger":        signToken(t, jwt.SigningMethodRS256, stranger, "rsa-1", claimsFor("ida")),
		"no kid":                      signToken(t, jwt.SigningMethodRS256, rsaKey, "", claimsFor("ida")),
		"HS256 with the RSA modulus":  signToken(t, jwt.SigningMethodHS256, rsaKey.N.Bytes(), "rsa-1", claimsFor("ida")),
		"RS256 under the Ed25519 kid": signToken(t, jwt.SigningMethodRS256, rsaKey, "ed-1", claimsFor("ida")),
	} {
		code, challenge, body := statsAs(t, r.base, tok)
		wantInvalid(t, name, code, challenge, body)
		for _, leak := range []string{"kid", "alg", "RS256", "HS256", "rsa-1", "kid-9f3e", "aud", "exp"} {
			if strings.Contains(body, leak) || strings.Contains(challenge, leak) {
				t.Errorf("%s: the answer names %q: %s %s", name, leak, challenge, body)
			}
		}
	}

	// Rotation: the provider publishes a new key and signs with it; the
	// first token under it makes the service fetch the set again.
	before := p.fetches.Load()
	rotated := p.publishRSA(t, "rsa-2")
	if code, _, body := statsAs(t, r.base, signToken(t, jwt.SigningMethodRS256, rotated, "rsa-2", claimsFor("ida"))); code != http.StatusOK {
		t.Fatalf("token under the rotated-in key: %d %s, want 200", code, body)
	}
	if got := p.fetches.Load() - before; got != 1 {
		t.Errorf("the rotated-in key took %d fetches of the set, want 1", got)
	}
	// Within the minute, unknown kids (the first one here would otherwise
	// have been looked up) are refused without a fetch: they
	// cannot make the service hammer the provider.
	before = p.fetches.Load()
	for i := range 5 {
		code, challenge, body := statsAs(t, r.base, signToken(t, jwt.SigningMethodRS256, stranger, fmt.Sprint("made-up-", i), claimsFor("ida")))
		wantInvalid(t, "made-up kid", code, challenge, body)
	}
	if got := p.fetches.Load() - before; got != 0 {
		t.Errorf("made-up kids caused %d fetches of the set, want 0 within the rate limit", got)
	}
}

// The lifetime, duplicate-key and 401 rules hold for configured keys too
// (the HS256 secret of testConfig): a token minted with an exp in 2286 or
// a roles claim given twice opens nothing, and the answer names no key.
func TestConfiguredKeyTokenRules(t *testing.T) {
	t.Parallel()
	r := start(t, testConfig(t))
	now := time.Now()
	hs := func(change func(jwt.MapClaims)) string {
		c := claimsFor("hal", RoleReviewer)
		change(c)
		return signToken(t, jwt.SigningMethodHS256, []byte(testSecret), testKID, c)
	}
	header := b64url.EncodeToString([]byte(`{"alg":"HS256","kid":"` + testKID + `","typ":"JWT"}`))
	payload := b64url.EncodeToString(fmt.Appendf(nil,
		`{"sub":"hal","roles":["reviewer"],"roles":["admin"],"iss":%q,"aud":%q,"iat":%d,"exp":%d}`,
		testIssuer, testAudience, now.Unix(), now.Add(time.Hour).Unix()))
	sig, err := jwt.SigningMethodHS256.Sign(header+"."+payload, []byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	// The same claims without the repeat pass: only the repeat is refused.
	if code, _, body := statsAs(t, r.base, hs(func(jwt.MapClaims) {})); code != http.StatusOK {
		t.Fatalf("valid token: %d %s", code, body)
	}
	for name, tok := range map[string]string{
		"exp in 2286":     hs(func(c jwt.MapClaims) { c["exp"] = int64(9999999999) }),
		"lifetime 24h":    hs(func(c jwt.MapClaims) { c["exp"] = now.Add(24 * time.Hour).Unix() }),
		"no iat":          hs(func(c jwt.MapClaims) { delete(c, "iat") }),
		"wrong audience":  hs(func(c jwt.MapClaims) { c["aud"] = "another-service" }),
		"duplicate roles": header + "." + payload + "." + b64url.EncodeToString(sig),
		"duplicate kid in the header": func() string {
			h := b64url.EncodeToString([]byte(`{"alg":"HS256","kid":"nope","kid":"` + testKID + `"}`))
			p := strings.Split(hs(func(jwt.MapClaims) {}), ".")[1]
			s, err := jwt.SigningMethodHS256.Sign(h+"."+p, []byte(testSecret))
			if err != nil {
				t.Fatal(err)
			}
			return h + "." + p + "." + b64url.EncodeToString(s)
		}(),
		"unknown kid": signToken(t, jwt.SigningMethodHS256, []byte(testSecret), "kid-51a7", claimsFor("hal")),
	} {
		code, challenge, body := statsAs(t, r.base, tok)
		wantInvalid(t, name, code, challenge, body)
		if strings.Contains(body, "kid-51a7") || strings.Contains(body, "HS256") || strings.Contains(body, testKID) {
			t.Errorf("%s: the body names the key: %s", name, body)
		}
	}
	// A forged admin is not a lead either (the first roles would not be).
	code, _, _ := statsAs(t, r.base, header+"."+payload+"."+b64url.EncodeToString(sig))
	if code == http.StatusOK {
		t.Error("the duplicate-roles token was accepted")
	}
}

// The UI's cookies are Secure by configuration alone: with the default
// (true) over plain http without any forwarding header, and never because
// a request claims X-Forwarded-Proto: https when cookie-secure is false.
func TestCookieSecureFromConfig(t *testing.T) {
	t.Parallel()
	cookies := func(base string, xfp string) []string {
		t.Helper()
		b := newBrowser(t, base)
		get, _ := http.NewRequest(http.MethodGet, base+"/ui/login", nil)
		if xfp != "" {
			get.Header.Set("X-Forwarded-Proto", xfp)
		}
		resp, page := b.do(get)
		set := resp.Header.Values("Set-Cookie")
		form := url.Values{"csrf": {csrf(t, page)}, "token": {tokenFor(t, "cora")}, "next": {"/ui/queue"}}
		post, _ := http.NewRequest(http.MethodPost, base+"/ui/login", strings.NewReader(form.Encode()))
		post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if xfp != "" {
			post.Header.Set("X-Forwarded-Proto", xfp)
		}
		resp, body := b.do(post)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: %d %s", resp.StatusCode, body)
		}
		set = append(set, resp.Header.Values("Set-Cookie")...)
		if len(set) != 3 {
			t.Fatalf("cookies %q: want the form's CSRF cookie, then the session's two", set)
		}
		return set
	}
	secure := func(c string) bool {
		for attr := range strings.SplitSeq(c, ";") {
			if strings.EqualFold(strings.TrimSpace(attr), "Secure") {
				return true
			}
		}
		return false
	}

	def := start(t, testConfig(t))
	for _, xfp := range []string{"", "http"} {
		for _, c := range cookies(def.base, xfp) {
			if !secure(c) {
				t.Errorf("cookie-secure default, X-Forwarded-Proto %q: cookie %q is not Secure", xfp, c)
			}
		}
	}
	cfg := testConfig(t)
	cfg.CookieSecure = false
	plain := start(t, cfg)
	for _, c := range cookies(plain.base, "https") {
		if secure(c) {
			t.Errorf("cookie-secure=false, X-Forwarded-Proto https: cookie %q is Secure", c)
		}
	}
}

// A service with token keys but no issuer or audience refuses to start,
// naming the setting; so do a leeway over 5m, a lifetime out of range and
// a JWKS over plain http to another host.
func TestTokenSettingsRefused(t *testing.T) {
	base := func() Config {
		c := testConfig(t)
		return c
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"secret, no issuer", func(c *Config) { c.JWTIssuer = "" }, "jwt-issuer (TAKEDOWN_JWT_ISSUER) is required"},
		{"secret, no audience", func(c *Config) { c.JWTAudience = "" }, "jwt-audience (TAKEDOWN_JWT_AUDIENCE) is required"},
		{"public key, neither", func(c *Config) {
			c.JWTHS256Secrets, c.JWTPublicKeys, c.JWTIssuer, c.JWTAudience = nil, []string{"idp=/etc/idp.pem"}, "", ""
		}, "jwt-issuer (TAKEDOWN_JWT_ISSUER) is required"},
		{"JWKS, no audience", func(c *Config) {
			c.JWTHS256Secrets, c.JWTJWKSURL, c.JWTAudience = nil, "https://idp.example/jwks", ""
		}, "jwt-audience (TAKEDOWN_JWT_AUDIENCE) is required"},
		{"leeway 6m", func(c *Config) { c.JWTLeeway = 6 * time.Minute }, "jwt-leeway"},
		{"no max lifetime", func(c *Config) { c.JWTMaxLifetime = 0 }, "jwt-max-lifetime"},
		{"max lifetime a year", func(c *Config) { c.JWTMaxLifetime = 365 * 24 * time.Hour }, "jwt-max-lifetime"},
		{"JWKS over http", func(c *Config) { c.JWTJWKSURL = "http://idp.example/jwks" }, "https"},
		{"no roles claim", func(c *Config) { c.JWTRolesClaim = "" }, "jwt-roles-claim"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.change(&c)
			if _, err := New(c, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// The roles claim can be another claim, or a path into one (Keycloak keeps
// realm roles under realm_access.roles).
func TestRolesClaimSetting(t *testing.T) {
	for _, tc := range []struct {
		claim string
		set   func(jwt.MapClaims)
	}{
		{"groups", func(c jwt.MapClaims) { c["groups"] = []string{"lead"} }},
		{"https://review.example/roles", func(c jwt.MapClaims) { c["https://review.example/roles"] = "lead" }},
		{"realm_access.roles", func(c jwt.MapClaims) { c["realm_access"] = map[string]any{"roles": []string{"offline", "lead"}} }},
	} {
		cfg := Config{JWTHS256Secrets: []string{testKID + "=" + testSecret}, JWTIssuer: testIssuer, JWTAudience: testAudience,
			JWTMaxLifetime: time.Hour, JWTRolesClaim: tc.claim}
		v, err := newVerifier(&cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := claimsFor("lee")
		delete(c, "roles")
		tc.set(c)
		got, err := v.verify(t.Context(), signToken(t, jwt.SigningMethodHS256, []byte(testSecret), testKID, c))
		if err != nil || len(got.Roles) == 0 || got.Roles[len(got.Roles)-1] != RoleLead {
			t.Errorf("roles claim %q: %+v %v, want the lead role", tc.claim, got, err)
		}
		// The default claim name is not read under another setting.
		c = claimsFor("lee", RoleLead)
		got, err = v.verify(t.Context(), signToken(t, jwt.SigningMethodHS256, []byte(testSecret), testKID, c))
		if err != nil || len(got.Roles) != 0 {
			t.Errorf("roles claim %q: a token with only roles gave %+v %v, want no roles", tc.claim, got, err)
		}
	}
}

// uniqueKeys finds a repeated key at any depth and lets everything else
// through.
func TestUniqueKeys(t *testing.T) {
	for doc, ok := range map[string]bool{
		`{"a":1,"b":[1,"a",{"a":2}],"c":{"a":{"a":3}}}`: true,
		`{"a":"b","b":"a"}`:                             true,
		`{"a":1,"a":2}`:                                 false,
		`{"x":{"a":1,"a":2}}`:                           false,
		`{"x":[{"a":1},{"a":1,"b":2,"a":3}]}`:           false,
		`{"roles":[],"sub":"s","roles":["admin"]}`:      false,
		`{"a":1`: false,
	} {
		if err := uniqueKeys([]byte(doc)); (err == nil) != ok {
			t.Errorf("%s: %v, want ok=%t", doc, err, ok)
		}
	}
}
