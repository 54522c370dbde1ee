package enforcer

import (
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// TestConfigValidate checks that Validate names the setting it refuses.
func TestConfigValidate(t *testing.T) {
	testenv.CheckValidate(t, func(def *Config) {
		// The defaults leave the webhook to the operator.
		def.WebhookURL, def.WebhookSecret = "https://platform.example/takedown", "secret"
	}, []testenv.ValidateCase[Config]{
		{Name: "webhook-url missing", Change: func(c *Config) { c.WebhookURL = "" }, Want: "TAKEDOWN_WEBHOOK_URL"},
		{Name: "webhook-url relative", Change: func(c *Config) { c.WebhookURL = "/takedown" }, Want: `webhook-url "/takedown"`},
		{Name: "webhook-secret", Change: func(c *Config) { c.WebhookSecret = "" }, Want: "TAKEDOWN_WEBHOOK_SECRET"},
		{Name: "webhook-attempts", Change: func(c *Config) { c.WebhookAttempts = 0 }, Want: "webhook-attempts 0"},
		{Name: "incident-auto-distance-pdq", Change: func(c *Config) { c.IncidentDistancePDQ = 300 }, Want: "incident-auto-distance-pdq 300"},
		{Name: "done-key-ttl", Change: func(c *Config) { c.DoneKeyTTL = time.Minute }, Want: "TAKEDOWN_DONE_KEY_TTL=1m0s"},
		{Name: "unhashable-policy", Change: func(c *Config) { c.UnhashablePolicy = "drop" }, Want: `unhashable-policy "drop"`},
		{Name: "action-rules", Change: func(c *Config) { c.ActionRules = []string{"nonsense"} }, Want: "action-rules:"},
		{Name: "group", Change: func(c *Config) { c.Group = "" }, Want: "group is empty"},
		{Name: "topic-review-decided", Change: func(c *Config) { c.Topics.ReviewDecided = c.Topics.Matched }, Want: "topic-matched and topic-review-decided are both"},
	})
}
