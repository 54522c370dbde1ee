package matcher

import "testing"

func TestBankTopicKeepsEntries(t *testing.T) {
	tests := []struct {
		name string
		cfg  map[string]string
		ok   bool
	}{
		{"compact", map[string]string{"cleanup.policy": "compact", "retention.ms": "604800000", "retention.bytes": "-1"}, true},
		{"the broker's default", map[string]string{"cleanup.policy": "delete", "retention.ms": "604800000", "retention.bytes": "-1"}, false},
		{"compact and delete", map[string]string{"cleanup.policy": "compact,delete", "retention.ms": "604800000", "retention.bytes": "-1"}, false},
		{"delete, kept for ever", map[string]string{"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}, true},
		{"compact and delete, kept for ever", map[string]string{"cleanup.policy": "compact, delete", "retention.ms": "-1", "retention.bytes": "-1"}, true},
		{"delete, capped by size", map[string]string{"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "1073741824"}, false},
		{"no policy", map[string]string{"retention.ms": "-1"}, false},
	}
	for _, tt := range tests {
		err := bankTopicKeepsEntries("bank.updates", tt.cfg)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}
