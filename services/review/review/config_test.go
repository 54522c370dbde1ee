package review

import (
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// TestConfigValidate checks that Validate names the setting it refuses.
func TestConfigValidate(t *testing.T) {
	testenv.CheckValidate(t, func(def *Config) {
		// The defaults leave the token keys to the operator.
		def.JWTHS256Secrets = []string{"k=" + strings.Repeat("s", 32)}
		def.JWTIssuer, def.JWTAudience = "https://login.example", "takedown-review"
	}, []testenv.ValidateCase[Config]{
		{Name: "token keys", Change: func(c *Config) { c.JWTHS256Secrets = nil }, Want: "no token keys"},
		{Name: "jwt-issuer", Change: func(c *Config) { c.JWTIssuer = "" }, Want: "jwt-issuer (TAKEDOWN_JWT_ISSUER)"},
		{Name: "jwt-audience", Change: func(c *Config) { c.JWTAudience = "" }, Want: "jwt-audience (TAKEDOWN_JWT_AUDIENCE)"},
		{Name: "group", Change: func(c *Config) { c.Group = "" }, Want: "group is empty"},
		{Name: "allowlist-approval", Change: func(c *Config) { c.AllowlistApproval = "anyone" }, Want: `allowlist-approval "anyone"`},
		{Name: "decided-ttl", Change: func(c *Config) { c.DecidedTTL = time.Minute }, Want: "TAKEDOWN_DECIDED_TTL=1m0s"},
		{Name: "lease-duration", Change: func(c *Config) { c.LeaseDuration = 0 }, Want: "lease-duration 0s"},
		{Name: "jwt-leeway", Change: func(c *Config) { c.JWTLeeway = time.Hour }, Want: "jwt-leeway 1h0m0s"},
		{Name: "jwt-max-lifetime", Change: func(c *Config) { c.JWTMaxLifetime = time.Second }, Want: "jwt-max-lifetime 1s"},
		{Name: "max-media-bytes", Change: func(c *Config) { c.MaxMediaBytes = 0 }, Want: "max-media-bytes 0"},
		{Name: "confirmed-bank", Change: func(c *Config) { c.Feedback, c.ConfirmedBank = true, "a/b" }, Want: `confirmed-bank "a/b"`},
	})
}
