package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/matching/policy"
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
	// Video is a video match's rule, shares and matched time ranges, as the
	// webhook's evidence carries them.
	Video *events.VideoMatch `json:"video,omitempty"`
}

// cmdMatch hashes reference and query files, pictures or videos, and
// prints, per query, the references it matches and the decision the
// pipeline would take, with the thresholds, video rules and policy the
// matcher and enforcer use by default: references are hashed as `bank add`
// hashes them, queries as the hasher hashes an upload (a video at one frame
// a second, with ffmpeg), and the verdict is the matcher's
// (bank.Banks.MatchVerdict, with a video's frames by bank.Banks.MatchVideo).
func cmdMatch(ctx context.Context, args []string, out io.Writer) error {
	var (
		refs   []string
		asJSON bool
	)
	s := newSet(ctx, "takedownctl match")
	s.FlagSet().Func("against", "reference image or video files, or directories of them (comma-separated; repeatable)", func(v string) error {
		refs = append(refs, splitComma(v)...)
		return nil
	})
	s.Bool(&asJSON, "json", false, "print one JSON object per query")
	if err := s.Parse(args); err != nil {
		return err
	}
	exts := slices.Concat(imageExts, videoExts)
	refFiles, err := mediaFiles(refs, exts)
	if err != nil {
		return err
	}
	if len(refFiles) == 0 {
		return usageError{"match needs references: --against REF[,REF...]"}
	}
	queries, err := mediaFiles(s.Args(), exts)
	if err != nil {
		return err
	}
	if len(queries) == 0 {
		return usageError{"match needs at least one QUERY file"}
	}

	m := defaultMatching()
	banks := m.newBanks()
	refOf := map[string]string{} // bank entry id -> reference file
	for i, path := range refFiles {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		updates, err := m.bankUpdates(ctx, path, data)
		if err != nil {
			return fmt.Errorf("reference %s: %w", path, err)
		}
		for k, u := range updates {
			u.EntryID = positionalEntryID(i, k)
			u.ContentID = u.EntryID
			refOf[u.EntryID] = path
			if err := banks.Apply(u); err != nil {
				return fmt.Errorf("reference %s: %w", path, err)
			}
		}
	}

	enc := json.NewEncoder(out)
	failed := 0
	for _, path := range queries {
		data, err := os.ReadFile(path)
		if err == nil {
			var v bank.Verdict
			if v, err = m.verdict(ctx, banks, path, data); err == nil {
				line := decide(m, path, v.Matches, refOf)
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

func decide(m matching, query string, matches []events.Match, refOf map[string]string) matchLine {
	d := m.policy.Decide(matches)
	line := matchLine{Query: query, Decision: decisionNames[d.Action], Reason: d.Reason, Matches: []matchedRef{}}
	for _, mt := range matches {
		line.Matches = append(line.Matches, matchedRef{Reference: refOf[mt.EntryID], SignalType: mt.SignalType,
			Distance: mt.Distance, Threshold: mt.Threshold, Variant: mt.Variant, Video: mt.Video})
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
		if m.Video == nil && contentTypeOf(m.Reference) == events.ContentVideo && m.SignalType == events.SignalPDQ {
			fmt.Fprintf(out, "    a frame of the video (a picture matches a bank video frame by frame, without time ranges)\n")
		}
		if vm := m.Video; vm != nil {
			shown := ""
			if vm.Transform != "" {
				shown = ", shown " + vm.Transform
			}
			fmt.Fprintf(out, "    video %s: %d%% of the query's frames, %d%% of the reference's, %s matched%s\n",
				vm.Rule, vm.QueryPercent, vm.ReferencePercent, seconds(vm.MatchedMs), shown)
			for _, r := range vm.Ranges {
				fmt.Fprintf(out, "    query %s-%s = reference %s-%s (%d frames)\n",
					seconds(r.QueryStartMs), seconds(r.QueryEndMs), seconds(r.RefStartMs), seconds(r.RefEndMs), r.Frames)
			}
		}
	}
}

// seconds writes milliseconds as seconds, "12.3s".
func seconds(ms int64) string { return strconv.FormatFloat(float64(ms)/1000, 'f', 1, 64) + "s" }

// positionalEntryID names part k of the i-th reference file by position,
// so that two references with the same bytes stay two entries; a video
// banked in parts gets "-partK" after the first, as bank add names them.
func positionalEntryID(i, k int) string {
	id := strconv.Itoa(i)
	if k > 0 {
		id += "-part" + strconv.Itoa(k)
	}
	return id
}
