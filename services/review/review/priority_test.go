package review

import (
	"slices"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

func pdqMatch(bank string, dist int, incident bool, severity string) events.Match {
	return events.Match{Bank: bank, EntryID: "e-" + bank, SignalType: events.SignalPDQ, Distance: dist, Threshold: 31,
		Incident: incident, Severity: severity, Labels: []string{"category:test"}}
}

// The ranks follow the documented formula:
// (incident ? 0 : 1)*44 + severityRank*11 + (10 - floor(10*confidence)).
func TestPriorityOf(t *testing.T) {
	tests := []struct {
		name     string
		matches  []events.Match
		want     int
		wantConf float64
	}{
		{"no match", nil, 44 + 22 + 10, 0},
		{"exact md5, medium", []events.Match{{SignalType: events.SignalMD5, Threshold: 0, Distance: 0}}, 44 + 22 + 0, 1},
		// 1 - 0/32 = 1
		{"pdq 0/31 critical", []events.Match{pdqMatch("b", 0, false, events.SeverityCritical)}, 44 + 0 + 0, 1},
		// 1 - 16/32 = 0.5 -> 5 tenths
		{"pdq 16/31 high", []events.Match{pdqMatch("b", 16, false, events.SeverityHigh)}, 44 + 11 + 5, 0.5},
		// 1 - 31/32 = 0.03125 -> 0 tenths
		{"pdq 31/31 low", []events.Match{pdqMatch("b", 31, false, events.SeverityLow)}, 44 + 33 + 10, 0.031},
		// 1 - 20/32 = 0.375 -> 3 tenths
		{"pdq 20/31 incident, unset severity", []events.Match{pdqMatch("b", 20, true, "")}, 0 + 22 + 7, 0.375},
		{"unknown severity counts as medium", []events.Match{pdqMatch("b", 0, false, "apocalyptic")}, 44 + 22 + 0, 1},
		// phash 9 of 10: 1 - 9/11 = 0.18 -> 1 tenth
		{"phash 9/10", []events.Match{{SignalType: events.SignalPHash, Distance: 9, Threshold: 10}}, 44 + 22 + 9, 0.182},
		{"best match wins: incident over critical", []events.Match{
			pdqMatch("a", 0, false, events.SeverityCritical), pdqMatch("b", 30, true, events.SeverityLow)}, 0 + 33 + 10, 0.063},
		{"best match wins: closer of two", []events.Match{
			pdqMatch("a", 30, false, events.SeverityHigh), pdqMatch("b", 3, false, events.SeverityHigh)}, 44 + 11 + 1, 0.906},
		{"distance beyond threshold clamps to 0", []events.Match{pdqMatch("b", 40, false, "")}, 44 + 22 + 10, 0},
		{"exact type with a distance", []events.Match{{SignalType: events.SignalSHA256, Distance: 3}}, 44 + 22 + 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := priorityOf(tt.matches)
			if p.Rank != tt.want || p.Confidence != tt.wantConf {
				t.Errorf("rank %d confidence %v, want %d %v (%+v)", p.Rank, p.Confidence, tt.want, tt.wantConf, p)
			}
			if p.Rank < 0 || p.Rank >= numRanks {
				t.Errorf("rank %d outside 0..%d", p.Rank, numRanks-1)
			}
		})
	}
	// The largest score stays exact in a double.
	if s := pendingScore(numRanks-1, 9_999_999_999_999_000); s >= 1<<53 {
		t.Errorf("largest score %v is not below 2^53", s)
	}
}

// Pending items come out by priority, then age, whatever order they
// arrived in; an expired lease puts its item back in its place.
func TestPendingOrderedByPriority(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	r := start(t, cfg)
	mk := func(name string, matches ...events.Match) *events.ReviewRequested {
		req := newRequest(testenv.Name(name))
		req.Matches = matches
		return req
	}
	lowOld := mk("low-old", pdqMatch("lo", 25, false, events.SeverityLow))
	mediumWeak := mk("medium-weak", pdqMatch("md", 28, false, ""))
	mediumStrong := mk("medium-strong", pdqMatch("md", 2, false, events.SeverityMedium))
	critical := mk("critical", pdqMatch("cr", 29, false, events.SeverityCritical))
	incident := mk("incident", pdqMatch("inc", 30, true, events.SeverityLow))
	noMatch := mk("no-match")
	lowNew := mk("low-new", pdqMatch("lo", 25, false, events.SeverityLow))
	arrival := []*events.ReviewRequested{lowOld, mediumWeak, noMatch, mediumStrong, critical, lowNew, incident}
	for _, req := range arrival {
		// One at a time, so that enqueue times differ and follow arrival.
		publish(t, cfg, requestMsg(t, cfg, req))
		r.waitItem(t, req.ContentID)
	}
	want := []string{incident.ContentID, critical.ContentID, mediumStrong.ContentID, mediumWeak.ContentID,
		noMatch.ContentID, lowOld.ContentID, lowNew.ContentID}
	got := r.list(t, StatePending)
	if !slices.Equal(ids(got), want) {
		t.Fatalf("pending order\n got %v\nwant %v", ids(got), want)
	}
	if !got[0].Priority.Incident || got[0].Priority.Severity != events.SeverityLow || got[1].Priority.Severity != events.SeverityCritical {
		t.Errorf("priorities shown: %+v %+v", got[0].Priority, got[1].Priority)
	}
}
