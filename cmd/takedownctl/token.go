package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/config"
	"github.com/takedown-pipeline/takedown/pkg/jwt"
)

// cmdToken prints an HS256 token for the review service: for development,
// tests and a lead handing out access where no identity provider signs
// tokens.
func cmdToken(_ context.Context, args []string, stdout io.Writer) error {
	var (
		sub, secret, kid, issuer, audience string
		roles                              []string
		ttl                                time.Duration
	)
	s := config.New("takedownctl token")
	s.String(&sub, "sub", "", "the reviewer the token names (its sub claim)")
	s.List(&roles, "roles", "reviewer", "roles the token grants: reviewer, lead, admin")
	s.String(&secret, "secret", "", "HS256 secret shared with the review service (at least 32 bytes), or @FILE")
	s.String(&kid, "kid", "", "key id the review service knows the secret by (its jwt-hs256-secrets KID)")
	s.Duration(&ttl, "ttl", 12*time.Hour, "how long the token is valid")
	s.String(&issuer, "issuer", "", "iss claim (when the service checks jwt-issuer)")
	s.String(&audience, "audience", "", "aud claim (when the service checks jwt-audience)")
	if err := s.Parse(args); err != nil {
		return err
	}
	if sub == "" {
		return usageError{"token: --sub is required"}
	}
	if secret == "" {
		return usageError{"token: --secret is required"}
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

// devToken signs an HS256 token.
func devToken(secret, kid, sub string, roles []string, ttl time.Duration, issuer, audience string) (string, error) {
	signer, err := jwt.NewHMACSigner(kid, []byte(secret))
	if err != nil {
		return "", err
	}
	now := time.Now()
	c := jwt.Claims{Subject: sub, Roles: roles, Issuer: issuer, IssuedAt: jwt.NewTime(now), ExpiresAt: jwt.NewTime(now.Add(ttl))}
	if audience != "" {
		c.Audience = jwt.Audience{audience}
	}
	return signer.Sign(c)
}
