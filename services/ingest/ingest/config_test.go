package ingest

import (
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/config"
)

// TestConfigValidate checks that Validate names the setting it refuses.
func TestConfigValidate(t *testing.T) {
	var def Config
	set := config.New("ingest-test").WithEnv(func(string) (string, bool) { return "", false })
	def.Bind(set)
	if err := set.Parse(nil); err != nil {
		t.Fatal(err)
	}
	def.AllowAnonymous = true // no clients by default: the one setting the defaults leave to fill
	if err := def.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"ingest-clients", func(c *Config) { c.AllowAnonymous = false }, "TAKEDOWN_INGEST_CLIENTS is empty"},
		{"dedup-ttl", func(c *Config) { c.DedupTTL = time.Millisecond }, "TAKEDOWN_DEDUP_TTL=1ms"},
		{"max-body-bytes", func(c *Config) { c.MaxBodyBytes = 10 }, "TAKEDOWN_MAX_BODY_BYTES=10"},
		{"signature-tolerance", func(c *Config) { c.SignatureTolerance = 0 }, "TAKEDOWN_SIGNATURE_TOLERANCE=0s"},
		{"client-rate", func(c *Config) { c.ClientRate = 0 }, "TAKEDOWN_CLIENT_RATE=0"},
		{"client-burst", func(c *Config) { c.ClientBurst = -1 }, "TAKEDOWN_CLIENT_BURST=-1"},
		{"segment-dedup-ttl", func(c *Config) { c.SegmentDedupTTL = 0 }, "TAKEDOWN_SEGMENT_DEDUP_TTL=0s"},
		{"uploaded-client", func(c *Config) { c.UploadedClient = "a:b" }, "TAKEDOWN_UPLOADED_CLIENT"},
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
