package jwt

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"
)

func b64d(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The examples of RFC 7515 Appendix A.1 (HS256) and A.2 (RS256): same
// payload {"iss":"joe","exp":1300819380,"http://example.com/is_root":true}.
const (
	rfcPayload = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
	rfcHS256   = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9." + rfcPayload + ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	rfcHS256K  = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
	rfcRS256   = "eyJhbGciOiJSUzI1NiJ9." + rfcPayload + ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
	rfcRS256N  = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
	// RFC 8037 Appendix A.4: Ed25519 over "Example of Ed25519 signing".
	rfcEdInput = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
	rfcEdSig   = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
	rfcEdX     = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
)

// rfcTime is a minute before the examples' exp.
var rfcTime = time.Unix(1300819380, 0).Add(-time.Minute)

func TestRFCExamples(t *testing.T) {
	hk, err := HMACKey("", b64d(t, rfcHS256K))
	if err != nil {
		t.Fatal(err)
	}
	rk, err := PublicKey("", &rsa.PublicKey{N: new(big.Int).SetBytes(b64d(t, rfcRS256N)), E: 65537})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		key   Key
		token string
	}{
		{"RFC 7515 A.1 HS256", hk, rfcHS256},
		{"RFC 7515 A.2 RS256", rk, rfcRS256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewVerifier(Options{Keys: []Key{tc.key}, Issuer: "joe", Now: func() time.Time { return rfcTime }})
			if err != nil {
				t.Fatal(err)
			}
			c, err := v.Verify(tc.token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Issuer != "joe" || c.ExpiresAt.Unix() != 1300819380 {
				t.Errorf("claims %+v", c)
			}
			// One flipped bit of the payload breaks the signature.
			bad := strings.Replace(tc.token, "eyJpc3MiOiJqb2Ui", "eyJpc3MiOiJqb2Ei", 1)
			if _, err := v.Verify(bad); !errors.Is(err, ErrSignature) {
				t.Errorf("tampered payload: %v, want ErrSignature", err)
			}
			late := v
			late.opts.Now = func() time.Time { return rfcTime.Add(2 * time.Minute) }
			if _, err := late.Verify(tc.token); !errors.Is(err, ErrExpired) {
				t.Errorf("after exp: %v, want ErrExpired", err)
			}
		})
	}
	ek, err := PublicKey("", ed25519.PublicKey(b64d(t, rfcEdX)))
	if err != nil {
		t.Fatal(err)
	}
	if err := verifySignature(ek, rfcEdInput, b64d(t, rfcEdSig)); err != nil {
		t.Errorf("RFC 8037 A.4 Ed25519: %v", err)
	}
	if err := verifySignature(ek, rfcEdInput+"x", b64d(t, rfcEdSig)); !errors.Is(err, ErrSignature) {
		t.Errorf("RFC 8037 A.4 with other input: %v, want ErrSignature", err)
	}
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// testRSA is one 2048-bit key for the whole run: generating it is slow.
func testRSA(t testing.TB) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaKey = k
	})
	return rsaKey
}

type keyring struct {
	secret            []byte
	rsa               *rsa.PrivateKey
	ed                ed25519.PrivateKey
	keys              []Key
	hs, rs, es, other *Signer
}

func newKeyring(t *testing.T) *keyring {
	t.Helper()
	kr := &keyring{secret: []byte(strings.Repeat("s", 32)), rsa: testRSA(t)}
	_, kr.ed, _ = ed25519.GenerateKey(rand.Reader)
	hk, err := HMACKey("hs", kr.secret)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := PublicKey("rs", &kr.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := PublicKey("ed", kr.ed.Public())
	if err != nil {
		t.Fatal(err)
	}
	kr.keys = []Key{hk, rk, ek}
	must := func(s *Signer, err error) *Signer {
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	kr.hs = must(NewHMACSigner("hs", kr.secret))
	kr.rs = must(NewSigner("rs", kr.rsa))
	kr.es = must(NewSigner("ed", kr.ed))
	kr.other = must(NewHMACSigner("hs", []byte(strings.Repeat("o", 32))))
	return kr
}

// rawToken builds a token from a literal header and payload, signed with the
// HS256 secret (or with sig when given).
func rawToken(t *testing.T, secret []byte, header, payload string, sig ...string) string {
	t.Helper()
	in := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	if len(sig) > 0 {
		return in + "." + sig[0]
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestVerify(t *testing.T) {
	kr := newKeyring(t)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	v, err := NewVerifier(Options{Keys: kr.keys, Issuer: "https://idp.example", Audience: "takedown-review",
		Leeway: 30 * time.Second, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	good := func() map[string]any {
		return map[string]any{"sub": "alice", "roles": []string{"reviewer"}, "iss": "https://idp.example",
			"aud": "takedown-review", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
	}
	with := func(change func(map[string]any)) map[string]any {
		c := good()
		change(c)
		return c
	}
	sign := func(s *Signer, claims any) string {
		tok, err := s.Sign(claims)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tests := []struct {
		name    string
		token   string
		wantErr error
	}{
		{"HS256", sign(kr.hs, good()), nil},
		{"RS256", sign(kr.rs, good()), nil},
		{"EdDSA", sign(kr.es, good()), nil},
		{"aud array", sign(kr.hs, with(func(c map[string]any) { c["aud"] = []string{"other", "takedown-review"} })), nil},
		{"exp within leeway", sign(kr.hs, with(func(c map[string]any) { c["exp"] = now.Add(-20 * time.Second).Unix() })), nil},
		{"nbf within leeway", sign(kr.hs, with(func(c map[string]any) { c["nbf"] = now.Add(20 * time.Second).Unix() })), nil},
		{"fractional exp", sign(kr.hs, with(func(c map[string]any) { c["exp"] = float64(now.Unix()) + 3600.5 })), nil},
		{"expired", sign(kr.hs, with(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() })), ErrExpired},
		{"no exp", sign(kr.hs, with(func(c map[string]any) { delete(c, "exp") })), ErrClaims},
		{"null exp", sign(kr.hs, with(func(c map[string]any) { c["exp"] = nil })), ErrClaims},
		{"exp a string", sign(kr.hs, with(func(c map[string]any) { c["exp"] = "tomorrow" })), ErrClaims},
		{"nbf in the future", sign(kr.hs, with(func(c map[string]any) { c["nbf"] = now.Add(time.Minute).Unix() })), ErrNotYet},
		{"iat in the future", sign(kr.hs, with(func(c map[string]any) { c["iat"] = now.Add(time.Minute).Unix() })), ErrNotYet},
		{"wrong issuer", sign(kr.hs, with(func(c map[string]any) { c["iss"] = "https://evil.example" })), ErrIssuer},
		{"no issuer", sign(kr.hs, with(func(c map[string]any) { delete(c, "iss") })), ErrIssuer},
		{"wrong audience", sign(kr.hs, with(func(c map[string]any) { c["aud"] = []string{"other"} })), ErrAudience},
		{"no audience", sign(kr.hs, with(func(c map[string]any) { delete(c, "aud") })), ErrAudience},
		{"other secret", sign(kr.other, good()), ErrSignature},
		{"unknown kid", sign(mustHMAC(t, "nope", kr.secret), good()), ErrUnknownKey},
		{"no kid among three keys", sign(mustHMAC(t, "", kr.secret), good()), ErrUnknownKey},
		// The RSA key's id with an HS256 token signed by the public key's
		// bytes: the classic confusion.
		{"HS256 under an RSA kid", sign(mustHMAC(t, "rs", x509.MarshalPKCS1PublicKey(&kr.rsa.PublicKey)), good()), ErrAlgorithm},
		{"alg none", rawToken(t, kr.secret, `{"alg":"none","kid":"hs"}`, `{"sub":"a","exp":9999999999}`, ""), ErrAlgorithm},
		{"crit header", rawToken(t, kr.secret, `{"alg":"HS256","kid":"hs","crit":["exp"]}`, `{"sub":"a","exp":9999999999}`), ErrMalformed},
		{"two parts", "eyJhbGciOiJIUzI1NiJ9.e30", ErrMalformed},
		{"four parts", sign(kr.hs, good()) + ".x", ErrMalformed},
		{"empty", "", ErrMalformed},
		{"padded base64", strings.Replace(sign(kr.hs, good()), ".", "=.", 1), ErrMalformed},
		{"header not json", rawToken(t, kr.secret, `alg`, `{}`), ErrMalformed},
		{"payload not json", rawToken(t, kr.secret, `{"alg":"HS256","kid":"hs"}`, `[1,2`), ErrClaims},
		{"too long", strings.Repeat("a", MaxTokenBytes+1), ErrMalformed},
		{"signature not base64", strings.TrimRight(sign(kr.hs, good()), "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") + "*", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(tt.token)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if c.Subject != "alice" || len(c.Roles) != 1 || c.Roles[0] != "reviewer" {
					t.Errorf("claims %+v", c)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Verify: %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func mustHMAC(t *testing.T, kid string, secret []byte) *Signer {
	t.Helper()
	s, err := NewHMACSigner(kid, secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSingleKeyNeedsNoKid(t *testing.T) {
	secret := []byte(strings.Repeat("k", 40))
	k, err := HMACKey("only", secret)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(Options{Keys: []Key{k}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := mustHMAC(t, "", secret).Sign(Claims{Subject: "bob", ExpiresAt: NewTime(time.Now().Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := v.Verify(tok); err != nil || c.Subject != "bob" {
		t.Errorf("Verify without kid, one key: %+v %v", c, err)
	}
}

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestKeys(t *testing.T) {
	rk := testRSA(t)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	spki := func(pub any) []byte {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "review"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, edPub, edPriv)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		pem     []byte
		wantAlg string
	}{
		{"RSA PKIX", pemOf("PUBLIC KEY", spki(&rk.PublicKey)), RS256},
		{"RSA PKCS1", pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rk.PublicKey)), RS256},
		{"Ed25519 PKIX", pemOf("PUBLIC KEY", spki(edPub)), EdDSA},
		{"Ed25519 certificate", pemOf("CERTIFICATE", cert), EdDSA},
		{"RSA 1024 bits", pemOf("PUBLIC KEY", spki(&small.PublicKey)), ""},
		{"private key", pemOf("PRIVATE KEY", []byte{1, 2, 3}), ""},
		{"not PEM", []byte("hello"), ""},
		{"bad DER", pemOf("PUBLIC KEY", []byte{1, 2, 3}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParsePublicKeyPEM("k", tt.pem)
			if tt.wantAlg == "" {
				if !errors.Is(err, ErrKey) {
					t.Errorf("ParsePublicKeyPEM: %v, want ErrKey", err)
				}
				return
			}
			if err != nil || k.Alg != tt.wantAlg {
				t.Errorf("ParsePublicKeyPEM: %+v %v, want alg %s", k, err, tt.wantAlg)
			}
		})
	}
	if _, err := HMACKey("short", make([]byte, MinHMACKeyBytes-1)); !errors.Is(err, ErrKey) {
		t.Errorf("short secret: %v", err)
	}
	hk, _ := HMACKey("a", make([]byte, 32))
	if _, err := NewVerifier(Options{Keys: []Key{hk, hk}}); !errors.Is(err, ErrKey) {
		t.Errorf("duplicate kid: %v", err)
	}
	if _, err := NewVerifier(Options{}); !errors.Is(err, ErrKey) {
		t.Errorf("no keys: %v", err)
	}
	if _, err := NewVerifier(Options{Keys: []Key{{ID: "raw"}}}); !errors.Is(err, ErrKey) {
		t.Errorf("zero Key: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	secret := []byte(strings.Repeat("f", 32))
	k, _ := HMACKey("", secret)
	v, _ := NewVerifier(Options{Keys: []Key{k}})
	s, _ := NewHMACSigner("", secret)
	tok, _ := s.Sign(Claims{Subject: "a", Roles: []string{"lead"}, Audience: Audience{"x", "y"},
		ExpiresAt: NewTime(time.Now().Add(time.Hour))})
	f.Add(tok)
	f.Add(rfcHS256)
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(token)
		if err == nil && c.ExpiresAt == nil {
			t.Fatalf("accepted %q without exp", token)
		}
	})
}

// BenchmarkVerify measures one token check per algorithm: what every API
// request and page of the review service pays.
func BenchmarkVerify(b *testing.B) {
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rk := testRSA(b)
	secret := []byte(strings.Repeat("b", 32))
	hk, _ := HMACKey("hs", secret)
	rpk, _ := PublicKey("rs", &rk.PublicKey)
	epk, _ := PublicKey("ed", ed.Public())
	v, err := NewVerifier(Options{Keys: []Key{hk, rpk, epk}})
	if err != nil {
		b.Fatal(err)
	}
	hs, _ := NewHMACSigner("hs", secret)
	rs, _ := NewSigner("rs", rk)
	es, _ := NewSigner("ed", ed)
	claims := Claims{Subject: "alice", Roles: []string{"reviewer"}, ExpiresAt: NewTime(time.Now().Add(time.Hour))}
	for _, s := range []struct {
		name string
		s    *Signer
	}{{HS256, hs}, {RS256, rs}, {EdDSA, es}} {
		tok, err := s.s.Sign(claims)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(s.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := v.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
