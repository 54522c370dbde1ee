package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

func TestParseRules(t *testing.T) {
	tests := []struct {
		name  string
		items []string
		want  string // canonical form; empty when an error is wanted
		err   string // substring of the error
	}{
		{name: "none: remove everything", items: nil, want: "default=remove"},
		{name: "default only", items: []string{"default=restrict"}, want: "default=restrict"},
		{
			name:  "every kind, labels with colons, spaces",
			items: []string{" bank=tve : remove", "label=category:borderline:restrict", "default=restrict", "bank=memes:restrict"},
			want:  "default=restrict,bank=memes:restrict,bank=tve:remove,label=category:borderline:restrict",
		},
		{name: "unknown action", items: []string{"bank=tve:delete"}, err: `action "delete": want remove or restrict`},
		{name: "restore is not a rule action", items: []string{"default=restore"}, err: `action "restore"`},
		{name: "no action", items: []string{"bank=tve"}, err: "want bank=NAME:ACTION"},
		{name: "no kind", items: []string{"tve:remove"}, err: "want default=ACTION"},
		{name: "unknown kind", items: []string{"entry=e1:remove"}, err: `unknown rule kind "entry"`},
		{name: "empty name", items: []string{"label=:remove"}, err: "empty label name"},
		{name: "slash in a bank", items: []string{"bank=a/b:remove"}, err: "cannot contain '/'"},
		{name: "bank twice", items: []string{"bank=tve:remove", "bank=tve:remove"}, err: `bank "tve" has a rule already`},
		{name: "default twice", items: []string{"default=remove", "default=restrict"}, err: "default is set twice"},
		{
			name:  "every error at once",
			items: []string{"bank=x:nuke", "label=y"},
			err:   `"bank=x:nuke": action "nuke"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRules(tt.items)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrBadRule) {
					t.Fatalf("ParseRules(%q) = %v, %v; want an ErrBadRule mentioning %q", tt.items, r, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRules(%q): %v", tt.items, err)
			}
			if got := r.String(); got != tt.want {
				t.Errorf("ParseRules(%q) = %s, want %s", tt.items, got, tt.want)
			}
			// The canonical form reads back as the same rules.
			again, err := ParseRules(strings.Split(r.String(), ","))
			if err != nil || again.String() != r.String() {
				t.Errorf("round trip of %s: %s, %v", r, again, err)
			}
		})
	}
	_, err := ParseRules([]string{"bank=x:nuke", "label=y"})
	if err == nil || !strings.Contains(err.Error(), `"label=y"`) {
		t.Errorf("error %v should name every bad item", err)
	}
}

func TestRulesChoose(t *testing.T) {
	rules, err := ParseRules([]string{
		"default=remove",
		"bank=memes:restrict",
		"bank=tve:remove",
		"label=category:borderline:restrict",
		"label=category:graphic:restrict",
		"label=category:terror:remove",
	})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(bank, entry string, dist int, labels ...string) events.Match {
		return events.Match{Bank: bank, EntryID: entry, Labels: labels, SignalType: "pdq", Distance: dist}
	}
	tests := []struct {
		name    string
		rules   Rules
		matches []events.Match
		action  string
		basis   string // entry id
		rule    string
	}{
		{name: "default", rules: rules, matches: []events.Match{mk("other", "o", 1)}, action: "remove", basis: "o", rule: "default"},
		{name: "bank rule", rules: rules, matches: []events.Match{mk("memes", "m", 1)}, action: "restrict", basis: "m", rule: "bank=memes"},
		{
			name: "label rule over bank rule", rules: rules,
			matches: []events.Match{mk("tve", "t", 1, "category:borderline")},
			action:  "restrict", basis: "t", rule: "label=category:borderline",
		},
		{
			name: "label rule over bank rule, the other way", rules: rules,
			matches: []events.Match{mk("memes", "m", 1, "category:terror")},
			action:  "remove", basis: "m", rule: "label=category:terror",
		},
		{
			name: "labels without rules leave the bank rule", rules: rules,
			matches: []events.Match{mk("memes", "m", 1, "source:gifct")},
			action:  "restrict", basis: "m", rule: "bank=memes",
		},
		{
			name: "two labels of one match disagree: remove wins", rules: rules,
			matches: []events.Match{mk("memes", "m", 1, "category:borderline", "category:terror")},
			action:  "remove", basis: "m", rule: "label=category:terror",
		},
		{
			name: "matches disagree: remove wins though the restrict match is closer", rules: rules,
			matches: []events.Match{mk("memes", "near", 1), mk("other", "far", 9)},
			action:  "remove", basis: "far", rule: "default",
		},
		{
			name: "matches agree: the closest is the basis", rules: rules,
			matches: []events.Match{mk("memes", "far", 9), mk("x", "near", 2, "category:graphic")},
			action:  "restrict", basis: "near", rule: "label=category:graphic",
		},
		{name: "no matches: the default", rules: rules, matches: nil, action: "remove", basis: "", rule: "default"},
		{name: "zero rules remove", rules: Rules{}, matches: []events.Match{mk("memes", "m", 1)}, action: "remove", basis: "m", rule: "default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.rules.Choose(tt.matches)
			if c.Action != tt.action || c.Basis.EntryID != tt.basis || c.Rule != tt.rule {
				t.Errorf("Choose = %s on %q by %s, want %s on %q by %s", c.Action, c.Basis.EntryID, c.Rule, tt.action, tt.basis, tt.rule)
			}
		})
	}
}

func TestStronger(t *testing.T) {
	for _, tt := range []struct{ a, b, want string }{
		{"remove", "restrict", "remove"},
		{"restrict", "remove", "remove"},
		{"restrict", "restrict", "restrict"},
		{"", "restrict", "restrict"},
		{"restrict", "", "restrict"},
	} {
		if got := Stronger(tt.a, tt.b); got != tt.want {
			t.Errorf("Stronger(%q, %q) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
}
