package policy

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

// Rules choose the enforcement action for a match that is to be acted on:
// events.ActionRemove or events.ActionRestrict. The most specific rule wins:
// a rule for one of the match's labels over a rule for its bank over the
// default. When rules disagree (two labels of one match, or several
// matches of one upload), the stronger action wins: remove over restrict. A
// platform thus never restricts content that any applicable rule says to
// remove.
type Rules struct {
	// Default applies to matches no other rule names.
	Default string
	// Banks maps a bank name to its action.
	Banks map[string]string
	// Labels maps a match label (entry or bank label) to its action.
	Labels map[string]string
}

// DefaultRules removes every match.
func DefaultRules() Rules { return Rules{Default: events.ActionRemove} }

// ErrBadRule is wrapped by every error ParseRules returns.
var ErrBadRule = errors.New("bad action rule")

// ParseRules reads rules written as items of the form
//
//	default=ACTION
//	bank=NAME:ACTION
//	label=LABEL:ACTION
//
// e.g. "bank=tve:remove", "label=category:borderline:restrict". A label may
// itself hold colons: the action is what follows the last one. ACTION is
// remove or restrict. Without a default item the default is remove. A bank,
// label or default named twice is an error, even with the same action, so
// that a typo in a long list does not go unnoticed.
func ParseRules(items []string) (Rules, error) {
	r := Rules{Banks: map[string]string{}, Labels: map[string]string{}}
	var errs []error
	bad := func(item, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w %q: %s", ErrBadRule, item, fmt.Sprintf(format, args...)))
	}
	for _, raw := range items {
		item := strings.TrimSpace(raw)
		kind, rest, ok := strings.Cut(item, "=")
		if !ok {
			bad(item, "want default=ACTION, bank=NAME:ACTION or label=LABEL:ACTION")
			continue
		}
		kind, rest = strings.TrimSpace(kind), strings.TrimSpace(rest)
		if kind == "default" {
			if err := checkAction(rest); err != nil {
				bad(item, "%v", err)
			} else if r.Default != "" {
				bad(item, "the default is set twice")
			} else {
				r.Default = rest
			}
			continue
		}
		var into map[string]string
		switch kind {
		case "bank":
			into = r.Banks
		case "label":
			into = r.Labels
		default:
			bad(item, "unknown rule kind %q: want default, bank or label", kind)
			continue
		}
		i := strings.LastIndex(rest, ":")
		if i < 0 {
			bad(item, "want %s=NAME:ACTION", kind)
			continue
		}
		name, action := strings.TrimSpace(rest[:i]), strings.TrimSpace(rest[i+1:])
		switch err := checkAction(action); {
		case name == "":
			bad(item, "empty %s name", kind)
		case kind == "bank" && strings.Contains(name, "/"):
			bad(item, "bank names cannot contain '/'")
		case err != nil:
			bad(item, "%v", err)
		case into[name] != "":
			bad(item, "%s %q has a rule already", kind, name)
		default:
			into[name] = action
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Rules{}, err
	}
	if r.Default == "" {
		r.Default = events.ActionRemove
	}
	return r, nil
}

func checkAction(a string) error {
	if a != events.ActionRemove && a != events.ActionRestrict {
		return fmt.Errorf("action %q: want %s or %s", a, events.ActionRemove, events.ActionRestrict)
	}
	return nil
}

// String writes the rules in ParseRules' syntax, in a stable order.
func (r Rules) String() string {
	items := []string{"default=" + r.defaultAction()}
	for _, b := range slices.Sorted(maps.Keys(r.Banks)) {
		items = append(items, "bank="+b+":"+r.Banks[b])
	}
	for _, l := range slices.Sorted(maps.Keys(r.Labels)) {
		items = append(items, "label="+l+":"+r.Labels[l])
	}
	return strings.Join(items, ",")
}

func (r Rules) defaultAction() string {
	if r.Default == "" {
		return events.ActionRemove
	}
	return r.Default
}

// Stronger returns the stronger of two enforcement actions: remove over
// restrict over anything else.
func Stronger(a, b string) string {
	if strength(b) > strength(a) {
		return b
	}
	return a
}

func strength(a string) int {
	switch a {
	case events.ActionRemove:
		return 2
	case events.ActionRestrict:
		return 1
	}
	return 0
}

// For returns the action for one match and the rule that chose it, e.g.
// "label=category:borderline", "bank=tve" or "default".
func (r Rules) For(m events.Match) (action, rule string) {
	for _, l := range m.Labels {
		if a, ok := r.Labels[l]; ok && strength(a) > strength(action) {
			action, rule = a, "label="+l
		}
	}
	if action != "" {
		return action, rule
	}
	if a, ok := r.Banks[m.Bank]; ok {
		return a, "bank=" + m.Bank
	}
	return r.defaultAction(), "default"
}

// Choice is the action Rules chose for an upload's matches.
type Choice struct {
	// Action is events.ActionRemove or events.ActionRestrict.
	Action string
	// Basis is the match whose rule chose the action: among the matches
	// whose rule gives Action, the closest.
	Basis events.Match
	// Rule names the rule that chose it (see For).
	Rule string
}

// Choose picks the action for matches: the strongest any of them calls
// for. With no matches it is the default action.
func (r Rules) Choose(matches []events.Match) Choice {
	c := Choice{Action: r.defaultAction(), Rule: "default"}
	for i, m := range matches {
		a, rule := r.For(m)
		if i == 0 || strength(a) > strength(c.Action) || a == c.Action && closer(m, c.Basis) {
			c = Choice{Action: a, Basis: m, Rule: rule}
		}
	}
	return c
}
