package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// cmdToken prints an HS256 token for the review service: for development,
// tests and a lead handing out access where no identity provider signs
// tokens.
func cmdToken(ctx context.Context, args []string, stdout io.Writer) error {
	var (
		sub, secret, kid, issuer, audience string
		roles                              []string
		ttl                                time.Duration
	)
	s := newSet(ctx, "takedownctl token")
	s.String(&sub, "sub", "", "the reviewer the token names (its sub claim)")
	s.List(&roles, "roles", "reviewer", "roles the token grants: reviewer, lead, admin")
	s.String(&secret, "secret", "", "HS256 secret shared with the review service (at least 32 bytes), or @FILE")
	s.String(&kid, "kid", "", "key id the review service knows the secret by (its jwt-hs256-secrets KID)")
	s.Duration(&ttl, "ttl", 12*time.Hour, "how long the token is valid (at most the service's jwt-max-lifetime, 12h by default)")
	s.String(&issuer, "issuer", "", "iss claim: the service's jwt-issuer")
	s.String(&audience, "audience", "", "aud claim: the service's jwt-audience")
	if err := s.Parse(args); err != nil {
		return err
	}
	if sub == "" {
		return usageError{"token: --sub is required"}
	}
	if secret == "" {
		return usageError{"token: --secret is required"}
	}
	// The service refuses a token without the iss and aud it expects.
	if issuer == "" || audience == "" {
		return usageError{"token: --issuer and --audience are required (the review service's jwt-issuer and jwt-audience)"}
	}
	if file, ok := strings.CutPrefix(secret, "@"); ok {
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("token secret: %w", err)
		}
		secret = strings.TrimRight(string(data), "\r\n")
	}
	for _, r := range roles {
		if r != "reviewer" && r != "lead" && r != "admin" {
			return usageError{fmt.Sprintf("token: role %q: want reviewer, lead or admin", r)}
		}
	}
	if ttl <= 0 {
		return usageError{"token: --ttl must be positive"}
	}
	tok, err := devToken(secret, kid, sub, roles, ttl, issuer, audience)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

// minHMACKeyBytes is the review service's shortest HS256 secret (RFC 7518
// §3.2: at least the hash output).
const minHMACKeyBytes = 32

// errKey is a secret the review service would refuse.
var errKey = errors.New("invalid key")

// devToken signs an HS256 token, issued now.
func devToken(secret, kid, sub string, roles []string, ttl time.Duration, issuer, audience string) (string, error) {
	if len(secret) < minHMACKeyBytes {
		return "", fmt.Errorf("%w: HS256 secret is %d bytes, want at least %d", errKey, len(secret), minHMACKeyBytes)
	}
	now := time.Now()
	c := jwt.MapClaims{"sub": sub, "roles": roles, "iss": issuer, "aud": audience,
		"iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	return tok.SignedString([]byte(secret))
}
