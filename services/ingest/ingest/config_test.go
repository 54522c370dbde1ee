package ingest

import (
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// TestConfigValidate checks that Validate names the setting it refuses.
func TestConfigValidate(t *testing.T) {
	testenv.CheckValidate(t, func(def *Config) {
		def.AllowAnonymous = true // no clients by default: the one setting the defaults leave to fill
	}, []testenv.ValidateCase[Config]{
		{Name: "ingest-clients", Change: func(c *Config) { c.AllowAnonymous = false }, Want: "TAKEDOWN_INGEST_CLIENTS is empty"},
		{Name: "dedup-ttl", Change: func(c *Config) { c.DedupTTL = time.Millisecond }, Want: "TAKEDOWN_DEDUP_TTL=1ms"},
		{Name: "max-body-bytes", Change: func(c *Config) { c.MaxBodyBytes = 10 }, Want: "TAKEDOWN_MAX_BODY_BYTES=10"},
		{Name: "signature-tolerance", Change: func(c *Config) { c.SignatureTolerance = 0 }, Want: "TAKEDOWN_SIGNATURE_TOLERANCE=0s"},
		{Name: "client-rate", Change: func(c *Config) { c.ClientRate = 0 }, Want: "TAKEDOWN_CLIENT_RATE=0"},
		{Name: "client-burst", Change: func(c *Config) { c.ClientBurst = -1 }, Want: "TAKEDOWN_CLIENT_BURST=-1"},
		{Name: "segment-dedup-ttl", Change: func(c *Config) { c.SegmentDedupTTL = 0 }, Want: "TAKEDOWN_SEGMENT_DEDUP_TTL=0s"},
		{Name: "uploaded-client", Change: func(c *Config) { c.UploadedClient = "a:b" }, Want: "TAKEDOWN_UPLOADED_CLIENT"},
	})
}
