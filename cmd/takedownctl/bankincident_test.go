package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

// bank configure --incident and --severity set the bank's incident flag and
// severity, keep the rest of its configuration, and refuse bad values before
// publishing.
func TestBankConfigureIncident(t *testing.T) {
	e := newBankEnv(t)
	e.mustRun("configure", "--bank", "cip", "--label", "incident:2019", "--threshold", "pdq=24")
	e.mustRun("configure", "--bank", "cip", "--incident", "true", "--severity", "critical")
	info := listBank(t, e, "cip")
	if !info.Config.Incident || info.Config.Severity != events.SeverityCritical ||
		len(info.Config.Labels) != 1 || len(info.Config.Signals) != 1 || info.Config.Signals[0].Threshold != 24 {
		t.Fatalf("after --incident true --severity critical: %+v", info.Config)
	}
	// Other flags leave them be.
	e.mustRun("configure", "--bank", "cip", "--enabled", "false")
	if info := listBank(t, e, "cip"); !info.Config.Incident || info.Config.Severity != events.SeverityCritical || info.Config.Enabled {
		t.Fatalf("after --enabled false: %+v", info.Config)
	}
	e.mustRun("configure", "--bank", "cip", "--incident=false", "--severity", "low")
	if info := listBank(t, e, "cip"); info.Config.Incident || info.Config.Severity != events.SeverityLow {
		t.Fatalf("after --incident=false --severity low: %+v", info.Config)
	}
	for _, args := range [][]string{{"--incident", "maybe"}, {"--severity", "urgent"}, {"--severity", "CRITICAL"}} {
		if _, _, err := e.run(append([]string{"configure", "--bank", "cip"}, args...)...); err == nil {
			t.Errorf("configure %v accepted", args)
		}
	}
	if info := listBank(t, e, "cip"); info.Config.Incident || info.Config.Severity != events.SeverityLow {
		t.Fatalf("a refused configure changed the bank: %+v", info.Config)
	}
	// The table shows both, and no note for a * that no row has.
	table := e.mustRun("list")
	if !strings.Contains(table, "INCIDENT  SEVERITY") || !regexp.MustCompile(`(?m)^cip +block +no +no +low +0 +0 +pdq=24\* `).MatchString(table) {
		t.Errorf("list:\n%s", table)
	}
	e.mustRun("configure", "--bank", "cip", "--reset", "--incident", "true", "--severity", "high")
	table = e.mustRun("list")
	if !regexp.MustCompile(`(?m)^cip +block +yes +yes +high +0 +0 +pdq=31 `).MatchString(table) || strings.Contains(table, "*") {
		t.Errorf("list of a bank with default thresholds:\n%s", table)
	}
}
