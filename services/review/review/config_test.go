package review

import (
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/config"
)

// TestConfigValidate checks that Validate names the setting it refuses.
func TestConfigValidate(t *testing.T) {
	var def Config
	set := config.New("review-test").WithEnv(func(string) (string, bool) { return "", false })
	def.Bind(set)
	if err := set.Parse(nil); err != nil {
		t.Fatal(err)
	}
	// The defaults leave the token keys to the operator.
	def.JWTHS256Secrets = []string{"k=" + strings.Repeat("s", 32)}
	def.JWTIssuer, def.JWTAudience = "https://login.example", "takedown-review"
	if err := def.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"token keys", func(c *Config) { c.JWTHS256Secrets = nil }, "no token keys"},
		{"jwt-issuer", func(c *Config) { c.JWTIssuer = "" }, "jwt-issuer (TAKEDOWN_JWT_ISSUER)"},
		{"jwt-audience", func(c *Config) { c.JWTAudience = "" }, "jwt-audience (TAKEDOWN_JWT_AUDIENCE)"},
		{"group", func(c *Config) { c.Group = "" }, "group is empty"},
		{"allowlist-approval", func(c *Config) { c.AllowlistApproval = "anyone" }, `allowlist-approval "anyone"`},
		{"decided-ttl", func(c *Config) { c.DecidedTTL = time.Minute }, "TAKEDOWN_DECIDED_TTL=1m0s"},
		{"lease-duration", func(c *Config) { c.LeaseDuration = 0 }, "lease-duration 0s"},
		{"jwt-leeway", func(c *Config) { c.JWTLeeway = time.Hour }, "jwt-leeway 1h0m0s"},
		{"jwt-max-lifetime", func(c *Config) { c.JWTMaxLifetime = time.Second }, "jwt-max-lifetime 1s"},
		{"max-media-bytes", func(c *Config) { c.MaxMediaBytes = 0 }, "max-media-bytes 0"},
		{"confirmed-bank", func(c *Config) { c.Feedback, c.ConfirmedBank = true, "a/b" }, `confirmed-bank "a/b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := def
			tc.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}
