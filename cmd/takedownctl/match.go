package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/takedown-pipeline/takedown/pkg/config"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/policy"
)

// Decisions as `takedownctl match` prints them.
var decisionNames = map[string]string{
	policy.ActionRemove: "take down",
	policy.ActionReview: "review",
	policy.ActionNone:   "no match",
}

// matchLine is one query's result, as a JSON line.
type matchLine struct {
	Query    string       `json:"query"`
	Decision string       `json:"decision"`
	Reason   string       `json:"reason"`
	Matches  []matchedRef `json:"matches"`
}

type matchedRef struct {
	Reference  string `json:"reference"`
	SignalType string `json:"signal_type"`
	Distance   int    `json:"distance"`
	Threshold  int    `json:"threshold"`
	Variant    string `json:"variant,omitempty"`
}

// cmdMatch hashes reference and query files and prints, per query, the
// references it matches and the decision the pipeline would take, with the
// thresholds and policy the matcher and enforcer use by default.
func cmdMatch(ctx context.Context, args []string, out io.Writer) error {
	var (
		refs   []string
		asJSON bool
	)
	s := config.New("takedownctl match")
	s.FlagSet().Func("against", "reference image files or directories (comma-separated; repeatable)", func(v string) error {
		refs = append(refs, splitComma(v)...)
		return nil
	})
	s.Bool(&asJSON, "json", false, "print one JSON object per query")
	if err := s.Parse(args); err != nil {
		return err
	}
	refFiles, err := imageFiles(refs)
	if err != nil {
		return err
	}
	if len(refFiles) == 0 {
		return usageError{"match needs references: --against REF[,REF...]"}
	}
	queries, err := imageFiles(s.Args())
	if err != nil {
		return err
	}
	if len(queries) == 0 {
		return usageError{"match needs at least one QUERY file"}
	}

	m := defaultMatching()
	banks := m.newBanks()
	for i, path := range refFiles {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sigs, err := m.bankSignals(ctx, data)
		if err != nil {
			return fmt.Errorf("reference %s: %w", path, err)
		}
		u := events.NewBankAdd("references", nil, sigs)
		u.EntryID = strconv.Itoa(i)
		if err := banks.Apply(u); err != nil {
			return fmt.Errorf("reference %s: %w", path, err)
		}
	}

	enc := json.NewEncoder(out)
	failed := 0
	for _, path := range queries {
		data, err := os.ReadFile(path)
		if err == nil {
			var sigs []events.Signal
			if sigs, err = m.uploadSignals(ctx, data); err == nil {
				line := decide(m, path, banks.Match(sigs), refFiles)
				if asJSON {
					err = enc.Encode(line)
				} else {
					printMatch(out, line)
				}
			}
		}
		if err != nil {
			// Keep going: one unreadable query should not hide the others.
			fmt.Fprintf(os.Stderr, "takedownctl: %s: %v\n", path, err)
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d queries could not be matched", failed, len(queries))
	}
	return nil
}

func decide(m matching, query string, matches []events.Match, refFiles []string) matchLine {
	d := m.policy.Decide(matches)
	line := matchLine{Query: query, Decision: decisionNames[d.Action], Reason: d.Reason, Matches: []matchedRef{}}
	for _, mt := range matches {
		i, _ := strconv.Atoi(mt.EntryID)
		line.Matches = append(line.Matches, matchedRef{Reference: refFiles[i], SignalType: mt.SignalType,
			Distance: mt.Distance, Threshold: mt.Threshold, Variant: mt.Variant})
	}
	return line
}

func printMatch(out io.Writer, l matchLine) {
	fmt.Fprintf(out, "%s: %s\n", l.Query, l.Decision)
	for _, m := range l.Matches {
		v := ""
		if m.Variant != "" {
			v = " (" + m.Variant + ")"
		}
		fmt.Fprintf(out, "  %s  %s distance %d of %d%s\n", m.Reference, m.SignalType, m.Distance, m.Threshold, v)
	}
}
