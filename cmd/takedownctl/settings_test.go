package main

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestCommandsListEveryCommandOfTheUsage keeps `takedownctl settings`, and
// so docs/settings.md, complete: each command line of the usage text is a
// command of the table (commandTable), and each command of the table is in
// the usage text (TestCompletionFollowsTheCommandTable).
func TestCommandsListEveryCommandOfTheUsage(t *testing.T) {
	// A command line: "  takedownctl WORD [WORD]" where the words are
	// lower-case command names (not FILE, --flags or [options]).
	re := regexp.MustCompile(`(?m)^  takedownctl ([a-z-]+(?: [a-z]+)?)\b`)
	for _, m := range re.FindAllStringSubmatch(usage, -1) {
		table := commandTable()
		for _, w := range strings.Fields(m[1]) {
			i := slices.IndexFunc(table, func(c command) bool { return c.name == w })
			if i < 0 {
				t.Errorf("usage names %q, which is no command of the table: docs/settings.md would miss its settings", m[1])
				break
			}
			table = table[i].sub
		}
	}
}

func TestCommandSettings(t *testing.T) {
	cs, err := commandSettings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != len(commandLines()) {
		t.Fatalf("%d commands listed, want %d", len(cs), len(commandLines()))
	}
	find := func(cmd, flag string) (string, string, bool) {
		for _, c := range cs {
			if c.Command != cmd {
				continue
			}
			for _, s := range c.Settings {
				if s.Flag == flag {
					return s.Env, s.Default, true
				}
			}
		}
		return "", "", false
	}
	for _, tc := range []struct{ cmd, flag, env, def string }{
		{"takedownctl submit", "ingest-url", "TAKEDOWN_INGEST_URL", "http://127.0.0.1:8080"},
		{"takedownctl dev", "dev-port-base", "TAKEDOWN_DEV_PORT_BASE", "8080"},
		{"takedownctl dlq show", "kafka-brokers", "TAKEDOWN_KAFKA_BROKERS", "127.0.0.1:9092"},
		// Bound on the flag set only: listed with no environment variable.
		{"takedownctl match", "against", "", ""},
	} {
		env, def, ok := find(tc.cmd, tc.flag)
		if !ok || env != tc.env || def != tc.def {
			t.Errorf("%s --%s: got env %q default %q (found %v), want %q %q", tc.cmd, tc.flag, env, def, ok, tc.env, tc.def)
		}
	}
}
