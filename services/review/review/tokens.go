package review

// Token verification: github.com/golang-jwt/jwt/v5 checks signatures and the
// registered claims, github.com/MicahParks/keyfunc/v3 keeps an identity
// provider's JWKS. What this file adds is what neither does on its own:
// every algorithm is tied to a key type (a token cannot choose HS256 with a
// public key, nor any algorithm a key was not made for); issuer, audience,
// iat and exp are required and the lifetime is bounded; a token whose
// header or payload repeats a key is refused, since encoding/json keeps the
// last value and two parsers could disagree about which "roles" counts.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Limits on keys and tokens.
const (
	// maxTokenBytes bounds a token before anything is decoded.
	maxTokenBytes = 8 << 10
	// minHMACKeyBytes: RFC 7518 §3.2 asks for a key at least as long as
	// the hash output.
	minHMACKeyBytes = 32
	minRSABits      = 2048
	// maxJWKSBytes bounds an identity provider's key set.
	maxJWKSBytes = 1 << 20
	// jwksTimeout bounds one JWKS fetch, and the wait for the unknown-kid
	// rate limit: a request never waits longer than this for a refresh.
	jwksTimeout = 10 * time.Second
	// jwksUnknownKIDEvery is how often at most a token with a kid the set
	// does not hold makes the service fetch the set again (a key the
	// provider rotated in); tokens with made-up kids cannot make it fetch
	// more often.
	jwksUnknownKIDEvery = time.Minute
)

// Algorithms by key type. An identity provider's JWKS may use any of the
// asymmetric ones; HS256 is only ever a configured shared secret.
const (
	algHS256 = "HS256"
	algRS256 = "RS256"
	algES256 = "ES256"
	algEdDSA = "EdDSA"
)

var jwksAlgorithms = []string{algRS256, algES256, algEdDSA}

// errToken is every verification failure as the client sees it: the detail
// (key id, algorithm, which claim) is logged, never answered.
var errToken = errors.New("invalid token")

// tokenVerifier checks reviewers' tokens.
type tokenVerifier struct {
	// static are the configured keys by kid: []byte (HS256),
	// *rsa.PublicKey or ed25519.PublicKey.
	static map[string]any
	jwks   keyfunc.Keyfunc // nil without jwt-jwks-url
	// stopJWKS ends the JWKS refresh goroutine.
	stopJWKS    context.CancelFunc
	parser      *jwt.Parser
	maxLifetime time.Duration
	leeway      time.Duration
	rolesClaim  string
	now         func() time.Time
}

// verifiedToken is what a valid token says.
type verifiedToken struct {
	Subject string
	Roles   []string
	Expires time.Time
}

// newVerifier reads the configured keys and, with jwt-jwks-url, fetches the
// identity provider's key set once (a provider that is down at start is
// logged and tried again on the first unknown kid and every refresh
// interval; until then its tokens are refused).
func newVerifier(cfg *Config, log *slog.Logger) (*tokenVerifier, error) {
	if log == nil {
		log = slog.Default()
	}
	v := &tokenVerifier{static: map[string]any{}, maxLifetime: cfg.JWTMaxLifetime, leeway: cfg.JWTLeeway,
		rolesClaim: cfg.JWTRolesClaim, now: time.Now, stopJWKS: func() {}}
	var algs []string
	add := func(kid string, key any, alg string) error {
		if _, dup := v.static[kid]; dup {
			return fmt.Errorf("token keys: key id %q given twice", kid)
		}
		v.static[kid] = key
		if !slices.Contains(algs, alg) {
			algs = append(algs, alg)
		}
		return nil
	}
	for _, spec := range cfg.JWTHS256Secrets {
		kid, secret, ok := strings.Cut(spec, "=")
		if !ok || kid == "" {
			return nil, fmt.Errorf("jwt-hs256-secrets entry %q: want KID=SECRET or KID=@FILE", redact(spec))
		}
		if file, isFile := strings.CutPrefix(secret, "@"); isFile {
			data, err := os.ReadFile(file)
			if err != nil {
				return nil, fmt.Errorf("jwt-hs256-secrets %s: %w", kid, err)
			}
			secret = strings.TrimRight(string(data), "\r\n")
		}
		if len(secret) < minHMACKeyBytes {
			return nil, fmt.Errorf("jwt-hs256-secrets: HS256 secret %q is %d bytes, want at least %d", kid, len(secret), minHMACKeyBytes)
		}
		if err := add(kid, []byte(secret), algHS256); err != nil {
			return nil, err
		}
	}
	for _, spec := range cfg.JWTPublicKeys {
		kid, file, ok := strings.Cut(spec, "=")
		if !ok || kid == "" || file == "" {
			return nil, fmt.Errorf("jwt-public-keys entry %q: want KID=PEM-FILE", spec)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("jwt-public-keys %s: %w", kid, err)
		}
		key, alg, err := parsePublicKeyPEM(data)
		if err != nil {
			return nil, fmt.Errorf("jwt-public-keys %s (%s): %w", kid, file, err)
		}
		if err := add(kid, key, alg); err != nil {
			return nil, err
		}
	}
	if cfg.JWTJWKSURL != "" {
		ctx, stop := context.WithCancel(context.Background())
		k, err := newJWKS(ctx, cfg.JWTJWKSURL, cfg.JWTJWKSRefresh, log)
		if err != nil {
			stop()
			return nil, fmt.Errorf("jwt-jwks-url: %w", err)
		}
		v.jwks, v.stopJWKS = k, stop
		for _, a := range jwksAlgorithms {
			if !slices.Contains(algs, a) {
				algs = append(algs, a)
			}
		}
	}
	if len(algs) == 0 {
		return nil, errors.New("token keys: none configured")
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(algs),
		jwt.WithIssuer(cfg.JWTIssuer),
		jwt.WithAudience(cfg.JWTAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.JWTLeeway),
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(func() time.Time { return v.now() }),
	)
	return v, nil
}

// close stops the JWKS refresh.
func (v *tokenVerifier) close() { v.stopJWKS() }

// parsePublicKeyPEM reads the first PEM block: a PKIX "PUBLIC KEY", a PKCS
// #1 "RSA PUBLIC KEY" or a "CERTIFICATE" (whose public key is used).
func parsePublicKeyPEM(data []byte) (any, string, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, "", errors.New("no PEM block found")
	}
	var pub any
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
		return nil, "", fmt.Errorf("PEM block %q: want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", block.Type)
	}
	if err != nil {
		return nil, "", err
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return nil, "", fmt.Errorf("RSA key has %d bits, want at least %d", k.N.BitLen(), minRSABits)
		}
		return k, algRS256, nil
	case ed25519.PublicKey:
		return k, algEdDSA, nil
	}
	return nil, "", fmt.Errorf("a %T: want an RSA or Ed25519 public key", pub)
}

// verify checks tok and returns what it says. Every error wraps errToken.
func (v *tokenVerifier) verify(ctx context.Context, tok string) (*verifiedToken, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", errToken, fmt.Sprintf(format, args...))
	}
	if len(tok) > maxTokenBytes {
		return nil, fail("longer than %d bytes", maxTokenBytes)
	}
	// Before the parser sees it: a repeated key in the header or the
	// payload is refused, so no claim means one thing here and another to
	// a proxy or a log reader.
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, fail("want three dot-separated parts, got %d", len(parts))
	}
	for i, name := range []string{"header", "payload"} {
		raw, err := base64.RawURLEncoding.Strict().DecodeString(parts[i])
		if err != nil {
			return nil, fail("%s: %v", name, err)
		}
		if err := uniqueKeys(raw); err != nil {
			return nil, fail("%s: %v", name, err)
		}
	}
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(tok, claims, v.keyFor(ctx)); err != nil {
		return nil, fail("%v", err)
	}
	// The parser checked exp, nbf and iat against the clock; the lifetime
	// is this service's rule.
	iat, err := claims.GetIssuedAt()
	if err != nil || iat == nil {
		return nil, fail("iat is required")
	}
	exp, _ := claims.GetExpirationTime() // required and checked by the parser
	if life := exp.Sub(iat.Time); life > v.maxLifetime {
		return nil, fail("lifetime %v (iat to exp) exceeds jwt-max-lifetime %v", life, v.maxLifetime)
	}
	if exp.After(v.now().Add(v.maxLifetime + v.leeway)) {
		return nil, fail("exp %s is further away than jwt-max-lifetime %v", exp.UTC().Format(time.RFC3339), v.maxLifetime)
	}
	sub, err := claims.GetSubject()
	if err != nil {
		return nil, fail("sub: %v", err)
	}
	roles, err := rolesOf(claims, v.rolesClaim)
	if err != nil {
		return nil, fail("%s: %v", v.rolesClaim, err)
	}
	return &verifiedToken{Subject: sub, Roles: roles, Expires: exp.Time}, nil
}

// keyFor picks the token's key: a configured one by kid (without a kid only
// when a single key is configured and no JWKS), else the JWKS's, which is
// fetched again when the kid is unknown (rate limited). The key must suit
// the token's algorithm.
func (v *tokenVerifier) keyFor(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		if _, ok := t.Header["crit"]; ok {
			return nil, errors.New("crit header extensions are not supported")
		}
		alg := t.Method.Alg()
		rawKID, hasKID := t.Header["kid"]
		kid, ok := rawKID.(string)
		if hasKID && (!ok || kid == "") {
			return nil, errors.New("kid header is not a non-empty string")
		}
		var key any
		fromJWKS := false
		switch {
		case !hasKID:
			if len(v.static) != 1 || v.jwks != nil {
				return nil, fmt.Errorf("no kid header and %d keys configured (plus JWKS: %t)", len(v.static), v.jwks != nil)
			}
			for _, k := range v.static {
				key = k
			}
		case v.static[kid] != nil:
			key = v.static[kid]
		case v.jwks != nil:
			k, err := v.jwks.KeyfuncCtx(ctx)(t)
			if err != nil {
				return nil, fmt.Errorf("kid %q: %w", clipText(kid, 64), err)
			}
			key, fromJWKS = k, true
		default:
			return nil, fmt.Errorf("unknown kid %q", clipText(kid, 64))
		}
		if err := keySuits(alg, key, fromJWKS); err != nil {
			return nil, fmt.Errorf("kid %q: %w", clipText(kid, 64), err)
		}
		return key, nil
	}
}

// keySuits ties the algorithm to the key type: the token's alg only picks
// among what its key can do.
func keySuits(alg string, key any, fromJWKS bool) error {
	ok := false
	switch k := key.(type) {
	case []byte:
		ok = alg == algHS256 && !fromJWKS
	case *rsa.PublicKey:
		ok = alg == algRS256 && k.N.BitLen() >= minRSABits
	case *ecdsa.PublicKey:
		ok = alg == algES256 && k.Curve == elliptic.P256()
	case ed25519.PublicKey:
		ok = alg == algEdDSA && len(k) == ed25519.PublicKeySize
	}
	if !ok {
		return fmt.Errorf("algorithm %s does not suit the key (%T)", alg, key)
	}
	return nil
}

// rolesOf reads the roles claim: an array of strings or one string. A name
// that is not a claim of its own but holds dots is a path into nested
// objects (Keycloak's realm_access.roles); a namespaced claim such as
// https://example.org/roles is found by its full name first.
func rolesOf(claims jwt.MapClaims, name string) ([]string, error) {
	val, ok := claims[name]
	if !ok && strings.Contains(name, ".") {
		var cur any = map[string]any(claims)
		ok = true
		for part := range strings.SplitSeq(name, ".") {
			m, isMap := cur.(map[string]any)
			if !isMap {
				ok = false
				break
			}
			if cur, ok = m[part]; !ok {
				break
			}
		}
		val = cur
	}
	if !ok || val == nil {
		return nil, nil
	}
	switch r := val.(type) {
	case string:
		return []string{r}, nil
	case []any:
		roles := make([]string, 0, len(r))
		for _, e := range r {
			s, isString := e.(string)
			if !isString {
				return nil, fmt.Errorf("want an array of strings, found a %T", e)
			}
			roles = append(roles, s)
		}
		return roles, nil
	}
	return nil, fmt.Errorf("want a string or an array of strings, found a %T", val)
}

// uniqueKeys refuses JSON in which an object names a key twice, at any
// depth.
func uniqueKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	// One set of keys per open object; nil for an open array.
	var stack []map[string]bool
	expectKey := func() bool {
		return len(stack) > 0 && stack[len(stack)-1] != nil
	}
	// inValue is true after an object's key, until its value is read.
	inValue := false
	for {
		t, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		switch d := t.(type) {
		case json.Delim:
			switch d {
			case '{':
				stack = append(stack, map[string]bool{})
				inValue = false
				continue
			case '[':
				stack = append(stack, nil)
				inValue = false
				continue
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if expectKey() && !inValue {
				keys := stack[len(stack)-1]
				if keys[d] {
					return fmt.Errorf("key %q appears twice", clipText(d, 64))
				}
				keys[d] = true
				inValue = true
				continue
			}
		}
		// A value (or a closed object or array) ends; inside an object
		// the next string is a key again.
		inValue = false
	}
	if len(stack) != 0 {
		return errors.New("unterminated JSON")
	}
	return nil
}

// limitedBody caps what a JWKS response may hold.
type limitedBody struct{ rt http.RoundTripper }

func (l limitedBody) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.rt.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, maxJWKSBytes), resp.Body}
	return resp, nil
}

// checkJWKSURL allows https, and plain http only to a loopback host (a
// provider on the same machine, or a test's).
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("jwt-jwks-url %q: %w", raw, err)
	}
	switch u.Scheme {
	case "https":
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("jwt-jwks-url %q: plain http only to a loopback host; use https", raw)
		}
	default:
		return fmt.Errorf("jwt-jwks-url %q: want an https URL", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("jwt-jwks-url %q: no host", raw)
	}
	return nil
}

// newJWKS fetches the identity provider's key set once (a provider that is
// down at start is logged and tried again on the first unknown kid and every
// refresh interval; until then its tokens are refused) and keeps it fresh
// until ctx ends. This is keyfunc.NewDefaultOverrideCtx with two changes:
// keys marked for encryption are not used, and no fetch waits for the
// unknown-kid limit beyond jwksTimeout.
func newJWKS(ctx context.Context, jwksURL string, refresh time.Duration, log *slog.Logger) (keyfunc.Keyfunc, error) {
	onError := func(_ context.Context, err error) {
		log.Warn("identity provider's key set not fetched; tokens under keys it lacks are refused until a fetch works",
			"jwks_url", jwksURL, "err", err)
	}
	remote, err := jwkset.NewStorageFromHTTP(jwksURL, jwkset.HTTPClientStorageOptions{
		Client:                    &http.Client{Timeout: jwksTimeout, Transport: limitedBody{http.DefaultTransport}},
		Ctx:                       ctx,
		HTTPTimeout:               jwksTimeout,
		NoErrorReturnFirstHTTPReq: true,
		RefreshErrorHandler:       onError,
		RefreshInterval:           refresh,
	})
	if err != nil {
		return nil, err
	}
	storage, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{jwksURL: remote},
		RateLimitWaitMax:  jwksTimeout,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(jwksUnknownKIDEvery), 1),
	})
	if err != nil {
		return nil, err
	}
	// Keys marked for signatures or not marked at all (many providers
	// leave use out); encryption keys are not for tokens.
	return keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: storage, UseWhitelist: []jwkset.USE{jwkset.UseSig, ""}})
}
