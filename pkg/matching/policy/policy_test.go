package policy

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
)

func m(signal string, dist int, entry string, labels ...string) events.Match {
	return events.Match{Bank: "demo", EntryID: entry, Labels: labels, SignalType: signal,
		Signal: "00", Distance: dist, Threshold: 10}
}

func inc(x events.Match) events.Match { x.Incident = true; return x }

func TestDefault(t *testing.T) {
	want := map[string]int{"sha256": 0, "md5": 0, "phash": 4, "dhash": 4, "pdq": 16}
	got := Default().AutoDistance
	if len(got) != len(want) {
		t.Fatalf("Default().AutoDistance = %v, want %v", got, want)
	}
	for k, v := range want {
		if d, ok := got[k]; !ok || d != v {
			t.Errorf("AutoDistance[%q] = %d (present %v), want %d", k, d, ok, v)
		}
	}
	// The incident distances are the matcher's default thresholds: an
	// incident bank's every default match is removed.
	wantIncident := map[string]int{}
	for _, typ := range []string{"phash", "dhash", "pdq"} {
		wantIncident[typ] = bank.DefaultThresholds()[typ]
	}
	if got := Default().IncidentDistance; !maps.Equal(got, wantIncident) {
		t.Errorf("Default().IncidentDistance = %v, want the matcher's default thresholds %v", got, wantIncident)
	}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name      string
		policy    *Policy // nil: Default()
		matches   []events.Match
		action    string
		bestEntry string
		reason    []string // substrings the reason must contain
		incident  bool
		removable []string // entry ids; nil: not checked unless the action is not remove
	}{
		{name: "no matches", matches: nil, action: ActionNone},
		{name: "empty matches", matches: []events.Match{}, action: ActionNone},
		{
			name:    "exact sha256 removes",
			matches: []events.Match{m("sha256", 0, "e1", "terror")},
			action:  ActionRemove, bestEntry: "e1",
			reason: []string{"sha256 distance 0 <= 0", "bank demo entry e1 (label terror)"},
		},
		{
			name:    "phash at auto distance removes",
			matches: []events.Match{m("phash", 4, "e1", "terror")},
			action:  ActionRemove, bestEntry: "e1",
			reason: []string{"phash distance 4 <= 4 to bank demo entry e1 (label terror)"},
		},
		{
			name:    "phash under auto distance removes",
			matches: []events.Match{m("phash", 2, "e1", "terror")},
			action:  ActionRemove, bestEntry: "e1",
			reason: []string{"phash distance 2 <= 4 to bank demo entry e1 (label terror)"},
		},
		{
			name:    "phash just above auto distance goes to review",
			matches: []events.Match{m("phash", 5, "e1", "terror")},
			action:  ActionReview, bestEntry: "e1",
			reason: []string{"uncertain", "phash distance 5", "auto-removal distance 4", "threshold 10"},
		},
		{
			name:    "dhash within threshold goes to review",
			matches: []events.Match{m("dhash", 9, "e2", "violence", "extremism")},
			action:  ActionReview, bestEntry: "e2",
			reason: []string{"dhash distance 9", "labels extremism, violence"},
		},
		{
			name:    "closest auto match wins over closer-listed weaker ones",
			matches: []events.Match{m("phash", 8, "far"), m("dhash", 3, "mid"), m("phash", 1, "near")},
			action:  ActionRemove, bestEntry: "near",
			reason: []string{"phash distance 1 <= 4", "entry near (no labels)"},
		},
		{
			name:    "auto match wins even if a non-auto signal is closer",
			policy:  &Policy{AutoDistance: map[string]int{"phash": 4}},
			matches: []events.Match{m("dhash", 0, "d"), m("phash", 3, "p")},
			action:  ActionRemove, bestEntry: "p",
		},
		{
			name:    "review picks the closest match",
			matches: []events.Match{m("phash", 9, "a"), m("dhash", 6, "b"), m("phash", 7, "c")},
			action:  ActionReview, bestEntry: "b",
		},
		{
			name:    "equal distances are broken on entry id, whatever the order",
			matches: []events.Match{m("phash", 2, "z"), m("phash", 2, "a")},
			action:  ActionRemove, bestEntry: "a",
		},
		{
			name:    "unknown signal type never auto-removes",
			matches: []events.Match{m("tmk", 0, "e1")},
			action:  ActionReview, bestEntry: "e1",
			reason: []string{`signal type "tmk" never removes without review`},
		},
		{
			name:    "empty policy sends everything to review",
			policy:  &Policy{},
			matches: []events.Match{m("sha256", 0, "e1")},
			action:  ActionReview, bestEntry: "e1",
		},
		{
			name:    "incident bank removes up to the incident distance",
			matches: []events.Match{inc(m("pdq", 31, "cip", "attack"))},
			action:  ActionRemove, bestEntry: "cip", incident: true, removable: []string{"cip"},
			reason: []string{"incident bank", "pdq distance 31 <= incident distance 31", "entry cip"},
		},
		{
			name:    "incident bank beyond the incident distance goes to review",
			matches: []events.Match{inc(m("phash", 11, "cip"))},
			action:  ActionReview, bestEntry: "cip",
			reason: []string{"above the auto-removal distance 4 and the incident distance 10"},
		},
		{
			name:    "the same distance outside an incident bank goes to review",
			matches: []events.Match{m("pdq", 31, "plain")},
			action:  ActionReview, bestEntry: "plain",
		},
		{
			name:    "an ordinary auto match is not an incident removal",
			matches: []events.Match{inc(m("pdq", 20, "cip")), m("pdq", 3, "plain")},
			action:  ActionRemove, bestEntry: "plain", removable: []string{"plain", "cip"},
			reason: []string{"pdq distance 3 <= 16"},
		},
		{
			name:    "an incident match within the ordinary distance is an ordinary removal",
			matches: []events.Match{inc(m("pdq", 10, "cip"))},
			action:  ActionRemove, bestEntry: "cip", removable: []string{"cip"},
		},
		{
			name:    "removable lists every match within its distance, closest first",
			matches: []events.Match{m("phash", 8, "far"), m("dhash", 3, "mid"), m("phash", 1, "near")},
			action:  ActionRemove, bestEntry: "near", removable: []string{"near", "mid"},
		},
		{
			name:    "a policy without incident distances treats incident banks like others",
			policy:  &Policy{AutoDistance: map[string]int{"pdq": 16}},
			matches: []events.Match{inc(m("pdq", 20, "cip"))},
			action:  ActionReview, bestEntry: "cip",
		},
		{
			name:    "stricter policy sends a default-removable match to review",
			policy:  &Policy{AutoDistance: map[string]int{"phash": 1}},
			matches: []events.Match{m("phash", 2, "e1")},
			action:  ActionReview, bestEntry: "e1",
			reason: []string{"auto-removal distance 1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Default()
			if tt.policy != nil {
				p = *tt.policy
			}
			d := p.Decide(tt.matches)
			if d.Action != tt.action {
				t.Fatalf("Action = %q, want %q (reason %q)", d.Action, tt.action, d.Reason)
			}
			if d.Best.EntryID != tt.bestEntry {
				t.Errorf("Best.EntryID = %q, want %q", d.Best.EntryID, tt.bestEntry)
			}
			if d.Reason == "" {
				t.Error("Reason is empty")
			}
			if d.Incident != tt.incident {
				t.Errorf("Incident = %v, want %v", d.Incident, tt.incident)
			}
			var removable []string
			for _, r := range d.Removable {
				removable = append(removable, r.EntryID)
			}
			if (tt.removable != nil || d.Action != ActionRemove) && !slices.Equal(removable, tt.removable) {
				t.Errorf("Removable = %v, want %v", removable, tt.removable)
			}
			for _, s := range tt.reason {
				if !strings.Contains(d.Reason, s) {
					t.Errorf("Reason %q does not contain %q", d.Reason, s)
				}
			}
		})
	}
}
