// Package jwt verifies and signs JSON Web Tokens (RFC 7519) in their compact
// JWS form (RFC 7515) with the standard library only: HS256 with shared
// secrets, RS256 with RSA public keys and EdDSA (Ed25519, RFC 8037) with
// Ed25519 public keys, each key named by a key id that the token's kid
// header picks.
//
// Verification is deliberately narrow, because every option a verifier
// accepts is one an attacker can choose: the algorithm is the key's, never
// the token's (a token whose alg differs from its key's is refused, which
// rules out "none" and the HS256-with-a-public-key confusion); a crit
// header is refused, as RFC 7515 requires of extensions the verifier does
// not understand; exp is required; nbf and iat are honoured with a small
// leeway for clock skew; iss and aud are checked when the verifier is told
// what to expect.
package jwt

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Algorithms.
const (
	HS256 = "HS256"
	RS256 = "RS256"
	EdDSA = "EdDSA"
)

// Limits on what is accepted.
const (
	// MaxTokenBytes bounds a token's length before anything is decoded.
	MaxTokenBytes = 8 << 10
	// MinHMACKeyBytes is the shortest HS256 secret: RFC 7518 §3.2 asks for a
	// key at least as long as the hash output.
	MinHMACKeyBytes = 32
	// MinRSABits is the smallest RSA modulus accepted.
	MinRSABits = 2048
)

// Errors wrapped by every verification failure, so that a caller can tell
// what went wrong with errors.Is.
var (
	ErrMalformed  = errors.New("malformed token")
	ErrUnknownKey = errors.New("unknown signing key")
	ErrAlgorithm  = errors.New("algorithm not allowed for this key")
	ErrSignature  = errors.New("signature does not verify")
	ErrExpired    = errors.New("token expired")
	ErrNotYet     = errors.New("token not valid yet")
	ErrClaims     = errors.New("invalid claims")
	ErrIssuer     = errors.New("wrong issuer")
	ErrAudience   = errors.New("wrong audience")
	// ErrKey is wrapped by errors about a key given to NewVerifier or a
	// signing function, not about a token.
	ErrKey = errors.New("invalid key")
)

// Key is one verification key: an HS256 secret or a public key, under an id.
type Key struct {
	ID  string
	Alg string
	// One of these, by Alg.
	secret []byte
	rsa    *rsa.PublicKey
	ed     ed25519.PublicKey
}

// HMACKey returns the HS256 key id with the given secret, which must be at
// least MinHMACKeyBytes long.
func HMACKey(id string, secret []byte) (Key, error) {
	if len(secret) < MinHMACKeyBytes {
		return Key{}, fmt.Errorf("%w: HS256 secret %q is %d bytes, want at least %d", ErrKey, id, len(secret), MinHMACKeyBytes)
	}
	return Key{ID: id, Alg: HS256, secret: bytes.Clone(secret)}, nil
}

// PublicKey returns the key id for an *rsa.PublicKey (RS256, at least
// MinRSABits) or an ed25519.PublicKey (EdDSA).
func PublicKey(id string, pub crypto.PublicKey) (Key, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSABits {
			return Key{}, fmt.Errorf("%w: RSA key %q has %d bits, want at least %d", ErrKey, id, k.N.BitLen(), MinRSABits)
		}
		return Key{ID: id, Alg: RS256, rsa: k}, nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return Key{}, fmt.Errorf("%w: Ed25519 key %q has %d bytes", ErrKey, id, len(k))
		}
		return Key{ID: id, Alg: EdDSA, ed: k}, nil
	}
	return Key{}, fmt.Errorf("%w: key %q is a %T: want an RSA or Ed25519 public key", ErrKey, id, pub)
}

// ParsePublicKeyPEM reads the first PEM block of data: a PKIX "PUBLIC KEY",
// a PKCS #1 "RSA PUBLIC KEY" or a "CERTIFICATE" (whose public key is used).
func ParsePublicKeyPEM(id string, data []byte) (Key, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return Key{}, fmt.Errorf("%w: key %q: no PEM block found", ErrKey, id)
	}
	var pub crypto.PublicKey
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	default:
		return Key{}, fmt.Errorf("%w: key %q: PEM block %q: want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", ErrKey, id, block.Type)
	}
	if err != nil {
		return Key{}, fmt.Errorf("%w: key %q: %v", ErrKey, id, err)
	}
	return PublicKey(id, pub)
}

// Options configure a Verifier.
type Options struct {
	Keys []Key
	// Issuer, when set, must equal the token's iss.
	Issuer string
	// Audience, when set, must be the token's aud or one of them.
	Audience string
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Verifier checks tokens against a fixed set of keys.
type Verifier struct {
	keys map[string]Key
	opts Options
}

// NewVerifier checks the keys (at least one, ids unique) and returns a
// verifier.
func NewVerifier(opts Options) (*Verifier, error) {
	if len(opts.Keys) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrKey)
	}
	if opts.Leeway < 0 {
		return nil, fmt.Errorf("leeway %v: must not be negative", opts.Leeway)
	}
	v := &Verifier{keys: map[string]Key{}, opts: opts}
	for _, k := range opts.Keys {
		if k.Alg == "" {
			return nil, fmt.Errorf("%w: key %q was not made by HMACKey, PublicKey or ParsePublicKeyPEM", ErrKey, k.ID)
		}
		if _, dup := v.keys[k.ID]; dup {
			return nil, fmt.Errorf("%w: key id %q given twice", ErrKey, k.ID)
		}
		v.keys[k.ID] = k
	}
	if v.opts.Now == nil {
		v.opts.Now = time.Now
	}
	return v, nil
}

// Claims are the registered claims this package checks, and the roles
// claim.
type Claims struct {
	Subject   string   `json:"sub,omitempty"`
	Issuer    string   `json:"iss,omitempty"`
	Audience  Audience `json:"aud,omitempty"`
	ExpiresAt *Time    `json:"exp,omitempty"`
	NotBefore *Time    `json:"nbf,omitempty"`
	IssuedAt  *Time    `json:"iat,omitempty"`
	// Roles is a private claim: what the bearer may do.
	Roles []string `json:"roles,omitempty"`
}

// Audience is the aud claim: one string or an array of them.
type Audience []string

// UnmarshalJSON accepts a string or an array of strings.
func (a *Audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("aud: want a string or an array of strings")
	}
	*a = many
	return nil
}

// MarshalJSON writes a single audience as a string, as most issuers do.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// Time is a NumericDate: seconds since the epoch, possibly fractional.
type Time struct{ time.Time }

// NewTime truncates t to the second, as issuers write it.
func NewTime(t time.Time) *Time { return &Time{t.Truncate(time.Second)} }

// UnmarshalJSON reads a JSON number of seconds.
func (t *Time) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("want a number of seconds since the epoch")
	}
	// Beyond ±2^53 seconds a float is no longer a whole second, and far
	// beyond any real token.
	if math.IsNaN(f) || math.Abs(f) > 1<<53 {
		return fmt.Errorf("time %v out of range", f)
	}
	sec, frac := math.Modf(f)
	t.Time = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	return nil
}

// MarshalJSON writes whole seconds.
func (t Time) MarshalJSON() ([]byte, error) { return json.Marshal(t.Unix()) }

type header struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid,omitempty"`
	Typ  string          `json:"typ,omitempty"`
	Crit json.RawMessage `json:"crit,omitempty"`
}

var b64 = base64.RawURLEncoding.Strict()

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Verify checks the token's signature and time claims (and iss and aud when
// configured) and returns its claims. The key is the one the kid header
// names; a token without kid is accepted only when the verifier holds a
// single key.
func (v *Verifier) Verify(token string) (*Claims, error) {
	if len(token) > MaxTokenBytes {
		return nil, malformed("longer than %d bytes", MaxTokenBytes)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, malformed("want three base64url parts separated by dots, got %d", len(parts))
	}
	rawHeader, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, malformed("header: %v", err)
	}
	var h header
	if err := json.Unmarshal(rawHeader, &h); err != nil {
		return nil, malformed("header: %v", err)
	}
	if len(h.Crit) > 0 {
		return nil, malformed("header has crit extensions, which are not supported")
	}
	key, err := v.key(h.Kid)
	if err != nil {
		return nil, err
	}
	if h.Alg != key.Alg {
		return nil, fmt.Errorf("%w: token alg %q, key %q is %s", ErrAlgorithm, h.Alg, key.ID, key.Alg)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, malformed("signature: %v", err)
	}
	if err := verifySignature(key, parts[0]+"."+parts[1], sig); err != nil {
		return nil, err
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, malformed("payload: %v", err)
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrClaims, err)
	}
	if err := v.checkClaims(&c); err != nil {
		return nil, err
	}
	return &c, nil
}

func (v *Verifier) key(kid string) (Key, error) {
	if kid == "" {
		if len(v.keys) == 1 {
			for _, k := range v.keys {
				return k, nil
			}
		}
		return Key{}, fmt.Errorf("%w: the token has no kid header and %d keys are configured", ErrUnknownKey, len(v.keys))
	}
	k, ok := v.keys[kid]
	if !ok {
		return Key{}, fmt.Errorf("%w: kid %q", ErrUnknownKey, clip(kid))
	}
	return k, nil
}

func verifySignature(k Key, input string, sig []byte) error {
	switch k.Alg {
	case HS256:
		m := hmac.New(sha256.New, k.secret)
		m.Write([]byte(input))
		if !hmac.Equal(m.Sum(nil), sig) {
			return ErrSignature
		}
	case RS256:
		d := sha256.Sum256([]byte(input))
		if rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, d[:], sig) != nil {
			return ErrSignature
		}
	case EdDSA:
		if len(sig) != ed25519.SignatureSize || !ed25519.Verify(k.ed, []byte(input), sig) {
			return ErrSignature
		}
	default:
		return fmt.Errorf("%w: %q", ErrAlgorithm, k.Alg)
	}
	return nil
}

func (v *Verifier) checkClaims(c *Claims) error {
	now, leeway := v.opts.Now(), v.opts.Leeway
	if c.ExpiresAt == nil {
		return fmt.Errorf("%w: exp is required", ErrClaims)
	}
	if !now.Before(c.ExpiresAt.Add(leeway)) {
		return fmt.Errorf("%w at %s", ErrExpired, c.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if c.NotBefore != nil && now.Add(leeway).Before(c.NotBefore.Time) {
		return fmt.Errorf("%w: nbf %s", ErrNotYet, c.NotBefore.UTC().Format(time.RFC3339))
	}
	if c.IssuedAt != nil && now.Add(leeway).Before(c.IssuedAt.Time) {
		return fmt.Errorf("%w: issued in the future (iat %s)", ErrNotYet, c.IssuedAt.UTC().Format(time.RFC3339))
	}
	if v.opts.Issuer != "" && c.Issuer != v.opts.Issuer {
		return fmt.Errorf("%w: iss %q, want %q", ErrIssuer, clip(c.Issuer), v.opts.Issuer)
	}
	if v.opts.Audience != "" && !slices.Contains(c.Audience, v.opts.Audience) {
		return fmt.Errorf("%w: aud %q does not include %q", ErrAudience, clip(strings.Join(c.Audience, ",")), v.opts.Audience)
	}
	return nil
}

// clip shortens attacker-controlled text quoted in an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Signer makes tokens; it is what tools and tests use to mint them (the
// services only verify).
type Signer struct {
	kid    string
	alg    string
	secret []byte
	key    crypto.Signer
}

// NewHMACSigner signs HS256 tokens with secret under kid ("" writes no kid
// header).
func NewHMACSigner(kid string, secret []byte) (*Signer, error) {
	if len(secret) < MinHMACKeyBytes {
		return nil, fmt.Errorf("%w: HS256 secret is %d bytes, want at least %d", ErrKey, len(secret), MinHMACKeyBytes)
	}
	return &Signer{kid: kid, alg: HS256, secret: bytes.Clone(secret)}, nil
}

// NewSigner signs RS256 tokens with an *rsa.PrivateKey or EdDSA tokens with
// an ed25519.PrivateKey.
func NewSigner(kid string, key crypto.Signer) (*Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("%w: RSA key has %d bits, want at least %d", ErrKey, k.N.BitLen(), MinRSABits)
		}
		return &Signer{kid: kid, alg: RS256, key: k}, nil
	case ed25519.PrivateKey:
		return &Signer{kid: kid, alg: EdDSA, key: k}, nil
	}
	return nil, fmt.Errorf("%w: %T: want an RSA or Ed25519 private key", ErrKey, key)
}

// Sign returns the compact token of claims (any JSON object: a Claims, or a
// map for claims this package does not model).
func (s *Signer) Sign(claims any) (string, error) {
	h, err := json.Marshal(header{Alg: s.alg, Kid: s.kid, Typ: "JWT"})
	if err != nil {
		return "", err
	}
	p, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	var sig []byte
	switch s.alg {
	case HS256:
		m := hmac.New(sha256.New, s.secret)
		m.Write([]byte(input))
		sig = m.Sum(nil)
	case RS256:
		d := sha256.Sum256([]byte(input))
		sig, err = s.key.Sign(rand.Reader, d[:], crypto.SHA256)
	case EdDSA:
		sig, err = s.key.Sign(rand.Reader, []byte(input), crypto.Hash(0))
	}
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return input + "." + b64.EncodeToString(sig), nil
}
