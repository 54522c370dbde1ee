package review

import (
	"math"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

// Priority is where an item stands in the pending queue. Items are served by
// Rank (0 first), then oldest first. The rank of an item is that of its best
// match, each match ranked by, in order:
//
//  1. incident: a match in an incident bank (an attack in progress) before
//     any other;
//  2. severity of the bank: critical, high, medium (also unset), low;
//  3. confidence, 1 - distance/(threshold+1), in tenths: a match at distance
//     0 has confidence 1, one at the threshold 1/(threshold+1); an exact
//     match (md5, sha256) has confidence 1.
//
// rank = (incident ? 0 : 1)*44 + severityRank*11 + (10 - floor(10*confidence))
// with severityRank critical 0, high 1, medium 2, low 3: 88 ranks, 0..87.
// Confidence is bucketed so that matches of about equal strength are served
// in arrival order instead of by a meaningless bit of distance. An item
// without matches ranks as a non-incident, medium, zero-confidence match (76).
type Priority struct {
	Rank       int     `json:"rank"`
	Incident   bool    `json:"incident"`
	Severity   string  `json:"severity"`
	Confidence float64 `json:"confidence"`
}

const (
	confidenceSteps = 10
	severityRanks   = 4
	rankPerSeverity = confidenceSteps + 1
	rankPerIncident = severityRanks * rankPerSeverity
	// numRanks bounds Rank: 0 <= Rank < numRanks.
	numRanks = 2 * rankPerIncident
	// rankScale spaces the ranks in the pending set's scores, which are
	// rank*rankScale + enqueue time in Unix milliseconds: 1e13 ms is the
	// year 2286, and 88e13 stays below 2^53, where a score (a double) is
	// still exact.
	rankScale = 1e13
)

func severityRank(s string) int {
	switch s {
	case events.SeverityCritical:
		return 0
	case events.SeverityHigh:
		return 1
	case events.SeverityLow:
		return 3
	}
	return 2 // medium, unset, or a value this version does not know
}

func severityName(s string) string {
	if s == "" || !events.ValidSeverity(s) {
		return events.SeverityMedium
	}
	return s
}

// confidence of one match in [0, 1].
func confidence(m events.Match) float64 {
	if m.Threshold <= 0 {
		if m.Distance <= 0 {
			return 1
		}
		return 0
	}
	c := 1 - float64(max(m.Distance, 0))/float64(m.Threshold+1)
	return math.Max(0, math.Min(1, c))
}

func matchPriority(m events.Match) Priority {
	c := confidence(m)
	p := Priority{Incident: m.Incident, Severity: severityName(m.Severity), Confidence: math.Round(c*1000) / 1000}
	if !m.Incident {
		p.Rank = rankPerIncident
	}
	p.Rank += severityRank(m.Severity)*rankPerSeverity + confidenceSteps - int(math.Floor(c*confidenceSteps))
	return p
}

// priorityOf is the priority of an item with these matches: its best
// match's.
func priorityOf(matches []events.Match) Priority {
	if len(matches) == 0 {
		return Priority{Rank: rankPerIncident + severityRank("")*rankPerSeverity + confidenceSteps, Severity: events.SeverityMedium}
	}
	best := matchPriority(matches[0])
	for _, m := range matches[1:] {
		if p := matchPriority(m); p.Rank < best.Rank || p.Rank == best.Rank && p.Confidence > best.Confidence {
			best = p
		}
	}
	return best
}

// pendingScore is the pending set's score of an item of rank enqueued at
// Unix microsecond us (the Lua scripts compute the same).
func pendingScore(rank int, us int64) float64 {
	return float64(rank)*rankScale + math.Floor(float64(us)/1000)
}
