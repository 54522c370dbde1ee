// Package policy holds the decision of what to do with a match; shared by
// the enforcer and the CLI so both decide alike.
//
// The matcher reports every bank entry within the bank's (wide) match
// threshold. Policy narrows that down: a match so close that a person could
// not reasonably disagree is acted on at once, anything else the matcher
// found goes to human review. Matches of an incident bank (an attack in
// progress) are acted on at once up to a wider distance. Rules then choose
// what the action is, remove or restrict, by bank and label.
package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

// Actions a Decision can carry. ActionRemove means "act without review";
// which enforcement action (remove or restrict) is the Rules' choice.
const (
	ActionRemove = events.ActionRemove
	ActionReview = "review"
	ActionNone   = "none"
)

// Policy says, per signal type, how close a match must be to be taken down
// without review.
type Policy struct {
	// AutoDistance maps a signal type to the largest distance at which a
	// match is removed without review. A signal type that is absent never
	// removes on its own: its matches always go to review.
	AutoDistance map[string]int
	// IncidentDistance is AutoDistance for matches of incident banks
	// (events.Match.Incident): during an attack a wider net is worth the
	// mistakes a person would have caught. A type absent here uses
	// AutoDistance; a smaller value than AutoDistance does not narrow it.
	IncidentDistance map[string]int
}

// Default is the policy used unless configured otherwise: exact
// cryptographic hashes remove only on identity; 64-bit perceptual hashes
// remove at a Hamming distance of 4 or less, well inside the matcher's
// default threshold of 10; PDQ removes at 16 of 256 bits or less, half the
// reference's match threshold of 31. Matches in the band between go to
// review. On the robustness evaluation's pictures, unrelated pictures were
// never closer than about 80 bits of PDQ, and most altered copies match
// within 16 (see docs/matching.md, "Robustness"). Incident banks remove at the
// matcher's whole default match radius: PDQ 31, pHash and dHash 10.
func Default() Policy {
	return Policy{
		AutoDistance: map[string]int{
			events.SignalSHA256: 0,
			events.SignalMD5:    0,
			events.SignalPHash:  4,
			events.SignalDHash:  4,
			events.SignalPDQ:    16,
		},
		IncidentDistance: map[string]int{
			events.SignalPHash: 10,
			events.SignalDHash: 10,
			events.SignalPDQ:   31,
		},
	}
}

// Decision is what to do about one upload's matches.
type Decision struct {
	// Action is ActionRemove, ActionReview or ActionNone.
	Action string
	// Best is the match the decision rests on: the closest auto-removable
	// match for ActionRemove, the closest match for ActionReview, zero for
	// ActionNone.
	Best events.Match
	// Reason explains the decision in one sentence, for audit records and
	// reviewers.
	Reason string
	// Incident is set on an ActionRemove that rests on incident mode: no
	// match was within its ordinary auto-removal distance, an incident
	// bank's match was within the incident distance.
	Incident bool
	// Removable are the matches within their auto-removal distance (the
	// incident distance for incident banks), closest first: for
	// ActionRemove, the matches the action rests on; empty otherwise.
	Removable []events.Match
}

// Decide chooses the action for matches. Among equally close matches the
// choice is made on bank, entry and signal type so that the same matches in
// any order give the same decision (and so the same audit record).
func (p Policy) Decide(matches []events.Match) Decision {
	if len(matches) == 0 {
		return Decision{Action: ActionNone, Reason: "no bank entry matched"}
	}
	var (
		bestAny, bestAuto, bestIncident events.Match
		haveAuto, haveIncident          bool
		removable                       []events.Match
	)
	for i, m := range matches {
		if i == 0 || closer(m, bestAny) {
			bestAny = m
		}
		if auto, ok := p.AutoDistance[m.SignalType]; ok && m.Distance <= auto {
			removable = append(removable, m)
			if !haveAuto || closer(m, bestAuto) {
				bestAuto, haveAuto = m, true
			}
			continue
		}
		if d, ok := p.incidentDistance(m); ok && m.Distance <= d {
			removable = append(removable, m)
			if !haveIncident || closer(m, bestIncident) {
				bestIncident, haveIncident = m, true
			}
		}
	}
	slices.SortFunc(removable, func(a, b events.Match) int {
		if closer(a, b) {
			return -1
		}
		if closer(b, a) {
			return 1
		}
		return 0
	})
	switch {
	case haveAuto:
		auto := p.AutoDistance[bestAuto.SignalType]
		return Decision{
			Action:    ActionRemove,
			Best:      bestAuto,
			Reason:    fmt.Sprintf("%s distance %d <= %d to %s", bestAuto.SignalType, bestAuto.Distance, auto, describe(bestAuto)),
			Removable: removable,
		}
	case haveIncident:
		d, _ := p.incidentDistance(bestIncident)
		return Decision{
			Action:   ActionRemove,
			Best:     bestIncident,
			Incident: true,
			Reason: fmt.Sprintf("incident bank: %s distance %d <= incident distance %d to %s",
				bestIncident.SignalType, bestIncident.Distance, d, describe(bestIncident)),
			Removable: removable,
		}
	}
	var why string
	if auto, ok := p.AutoDistance[bestAny.SignalType]; ok {
		why = fmt.Sprintf("above the auto-removal distance %d", auto)
	} else {
		why = fmt.Sprintf("signal type %q never removes without review", bestAny.SignalType)
	}
	if d, ok := p.incidentDistance(bestAny); ok {
		why += fmt.Sprintf(" and the incident distance %d", d)
	}
	return Decision{
		Action: ActionReview,
		Best:   bestAny,
		Reason: fmt.Sprintf("uncertain match: closest is %s distance %d to %s, %s (bank threshold %d)",
			bestAny.SignalType, bestAny.Distance, describe(bestAny), why, bestAny.Threshold),
	}
}

// incidentDistance is the auto-removal distance of an incident bank's match,
// false for a match outside incident banks or of a type without one.
func (p Policy) incidentDistance(m events.Match) (int, bool) {
	if !m.Incident {
		return 0, false
	}
	d, ok := p.IncidentDistance[m.SignalType]
	return d, ok
}

// closer orders matches by distance, then by identity for determinism.
func closer(a, b events.Match) bool {
	return cmp.Or(
		cmp.Compare(a.Distance, b.Distance),
		cmp.Compare(a.Bank, b.Bank),
		cmp.Compare(a.EntryID, b.EntryID),
		cmp.Compare(a.SignalType, b.SignalType),
	) < 0
}

func describe(m events.Match) string {
	var labels string
	switch len(m.Labels) {
	case 0:
		labels = "no labels"
	case 1:
		labels = "label " + m.Labels[0]
	default:
		l := slices.Clone(m.Labels)
		slices.Sort(l)
		labels = "labels " + strings.Join(l, ", ")
	}
	return fmt.Sprintf("bank %s entry %s (%s)", m.Bank, m.EntryID, labels)
}
