package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestTokenCommand(t *testing.T) {
	secret := strings.Repeat("s", 32)
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// As strict as the review service: HS256 only, iss, aud, iat and exp.
	p := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer("idp"), jwt.WithAudience("review"),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	type claims struct {
		jwt.RegisteredClaims
		Roles []string `json:"roles"`
	}
	tests := []struct {
		name      string
		args      []string
		wantRoles []string
		usage     bool
	}{
		{"lead", []string{"--sub", "alice", "--roles", "lead", "--secret", secret, "--kid", "dev", "--issuer", "idp", "--audience", "review"}, []string{"lead"}, false},
		{"secret file, default role", []string{"--sub", "bob", "--secret", "@" + file, "--kid", "dev", "--issuer", "idp", "--audience", "review"}, []string{"reviewer"}, false},
		{"two roles", []string{"--sub", "ada", "--roles", "lead,admin", "--secret", secret, "--kid", "dev", "--issuer", "idp", "--audience", "review"}, []string{"lead", "admin"}, false},
		{"no sub", []string{"--secret", secret}, nil, true},
		{"no secret", []string{"--sub", "a"}, nil, true},
		{"unknown role", []string{"--sub", "a", "--secret", secret, "--roles", "root"}, nil, true},
		{"bad ttl", []string{"--sub", "a", "--secret", secret, "--issuer", "idp", "--audience", "review", "--ttl", "-1h"}, nil, true},
		{"no issuer", []string{"--sub", "a", "--secret", secret, "--audience", "review"}, nil, true},
		{"no audience", []string{"--sub", "a", "--secret", secret, "--issuer", "idp"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := cmdToken(context.Background(), tt.args, &out)
			if tt.usage {
				var ue usageError
				if !errors.As(err, &ue) {
					t.Fatalf("err %v, want a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var c claims
			tok, err := p.ParseWithClaims(strings.TrimSpace(out.String()), &c, func(tok *jwt.Token) (any, error) {
				if tok.Header["kid"] != "dev" {
					return nil, errors.New("kid is not dev")
				}
				return []byte(secret), nil
			})
			if err != nil || !tok.Valid {
				t.Fatalf("the token does not verify: %v", err)
			}
			if c.Subject != tt.args[1] || !slices.Equal(c.Roles, tt.wantRoles) || c.ExpiresAt.Before(time.Now().Add(11*time.Hour)) ||
				c.IssuedAt == nil || c.ExpiresAt.Sub(c.IssuedAt.Time) != 12*time.Hour {
				t.Errorf("claims %+v", c)
			}
		})
	}
	if err := cmdToken(context.Background(), []string{"--sub", "a", "--secret", "short", "--issuer", "idp", "--audience", "review"}, &bytes.Buffer{}); !errors.Is(err, errKey) {
		t.Errorf("short secret: %v, want errKey", err)
	}
}
