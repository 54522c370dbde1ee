package enforcer

import (
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/config"
)

// TestConfigValidate checks that Validate names the setting it refuses.
func TestConfigValidate(t *testing.T) {
	var def Config
	set := config.New("enforcer-test").WithEnv(func(string) (string, bool) { return "", false })
	def.Bind(set)
	if err := set.Parse(nil); err != nil {
		t.Fatal(err)
	}
	// The defaults leave the webhook to the operator.
	def.WebhookURL, def.WebhookSecret = "https://platform.example/takedown", "secret"
	if err := def.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"webhook-url missing", func(c *Config) { c.WebhookURL = "" }, "TAKEDOWN_WEBHOOK_URL"},
		{"webhook-url relative", func(c *Config) { c.WebhookURL = "/takedown" }, `webhook-url "/takedown"`},
		{"webhook-secret", func(c *Config) { c.WebhookSecret = "" }, "TAKEDOWN_WEBHOOK_SECRET"},
		{"webhook-attempts", func(c *Config) { c.WebhookAttempts = 0 }, "webhook-attempts 0"},
		{"incident-auto-distance-pdq", func(c *Config) { c.IncidentDistancePDQ = 300 }, "incident-auto-distance-pdq 300"},
		{"done-key-ttl", func(c *Config) { c.DoneKeyTTL = time.Minute }, "TAKEDOWN_DONE_KEY_TTL=1m0s"},
		{"unhashable-policy", func(c *Config) { c.UnhashablePolicy = "drop" }, `unhashable-policy "drop"`},
		{"action-rules", func(c *Config) { c.ActionRules = []string{"nonsense"} }, "action-rules:"},
		{"group", func(c *Config) { c.Group = "" }, "group is empty"},
		{"topic-review-decided", func(c *Config) { c.Topics.ReviewDecided = c.Topics.Matched }, "topic-matched and topic-review-decided are both"},
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
