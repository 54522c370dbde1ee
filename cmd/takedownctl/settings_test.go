package main

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestCommandsListEveryCommandOfTheUsage keeps `takedownctl settings`, and
// so docs/settings.md, complete: each command line of the usage text is in
// commands, and each of commands is in the usage text.
func TestCommandsListEveryCommandOfTheUsage(t *testing.T) {
	// A command line: "  takedownctl WORD [WORD]" where the words are
	// lower-case command names (not FILE, --flags or [options]).
	re := regexp.MustCompile(`(?m)^  takedownctl ([a-z-]+(?: [a-z]+)?)\b`)
	var inUsage []string
	for _, m := range re.FindAllStringSubmatch(usage, -1) {
		inUsage = append(inUsage, m[1])
	}
	var listed []string
	for _, c := range commands {
		listed = append(listed, strings.Join(c, " "))
	}
	listed = append(listed, "settings") // takes no settings of its own
	for _, u := range inUsage {
		if !slices.Contains(listed, u) {
			t.Errorf("usage names %q, which commands (settings.go) does not list: docs/settings.md would miss its settings", u)
		}
	}
	for _, l := range listed {
		if !slices.Contains(inUsage, l) {
			t.Errorf("commands lists %q, which the usage text does not name", l)
		}
	}
}

func TestCommandSettings(t *testing.T) {
	cs, err := commandSettings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != len(commands) {
		t.Fatalf("%d commands listed, want %d", len(cs), len(commands))
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
