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

	"github.com/takedown-pipeline/takedown/pkg/jwt"
)

func TestTokenCommand(t *testing.T) {
	secret := strings.Repeat("s", 32)
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := jwt.HMACKey("dev", []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	v, err := jwt.NewVerifier(jwt.Options{Keys: []jwt.Key{key}, Issuer: "idp", Audience: "review"})
	if err != nil {
		t.Fatal(err)
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
		{"bad ttl", []string{"--sub", "a", "--secret", secret, "--ttl", "-1h"}, nil, true},
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
			c, err := v.Verify(strings.TrimSpace(out.String()))
			if err != nil {
				t.Fatalf("the token does not verify: %v", err)
			}
			if c.Subject != tt.args[1] || !slices.Equal(c.Roles, tt.wantRoles) || c.ExpiresAt.Before(time.Now().Add(11*time.Hour)) {
				t.Errorf("claims %+v", c)
			}
		})
	}
	if err := cmdToken(context.Background(), []string{"--sub", "a", "--secret", "short"}, &bytes.Buffer{}); !errors.Is(err, jwt.ErrKey) {
		t.Errorf("short secret: %v, want jwt.ErrKey", err)
	}
}
