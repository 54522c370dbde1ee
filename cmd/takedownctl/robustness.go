package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/takedown-pipeline/takedown/cmd/takedownctl/internal/robustness"
	"github.com/takedown-pipeline/takedown/pkg/demo"
)

// imageExts are the files cmdRobustness takes from a directory.
var imageExts = []string{".jpg", ".jpeg", ".png", ".gif", ".webp"}

func cmdRobustness(ctx context.Context, args []string, out io.Writer) error {
	var (
		images  []string
		seed    int64
		maxSide int
		asJSON  bool
		verbose bool
		with64  bool
		only    []string
		minSide int
		videos  []string
		workers int
		negs    []string
	)
	s := newSet(ctx, "takedownctl robustness")
	s.List(&images, "images", "", "image files or directories of them: distinct pictures (see scripts/robustness-corpus.sh)")
	s.Int64(&seed, "seed", 1, "seed of the alterations' random parts")
	s.Int(&maxSide, "max-side", 1024, "originals are first scaled to fit this many pixels")
	s.Bool(&asJSON, "json", false, "print the report as JSON")
	s.Bool(&verbose, "verbose", false, "list the missed copies and the false matches")
	s.Bool(&with64, "with-64bit", false, "also match phash and dhash (off by default: they match unrelated pictures)")
	s.List(&only, "alterations", "", "evaluate only these alterations (comma-separated names; default: all)")
	s.Int(&minSide, "min-side", 0, "leave out pictures whose shorter side is below this many pixels (icons, sprites)")
	s.List(&videos, "videos", "", "video files or directories of them: distinct videos (see scripts/robustness-video-corpus.sh); evaluates videos instead of pictures")
	s.List(&negs, "negatives", "", "image files or directories of them: a second set of distinct pictures, unrelated to --images (scripts/robustness-corpus.sh --negatives), banked too: every copy and every negative is matched against them")
	s.Int(&workers, "workers", 0, "videos altered and hashed in parallel (0: GOMAXPROCS)")
	if err := s.Parse(args); err != nil {
		return err
	}
	if len(videos) > 0 {
		return runVideoRobustness(ctx, append(videos, s.Args()...), only, workers, asJSON, verbose, out)
	}
	alts, err := pickAlterations(only)
	if err != nil {
		return err
	}
	files, err := imageFiles(append(images, s.Args()...))
	if err != nil {
		return err
	}
	if len(files) < 2 {
		return usageError{"robustness needs at least two images (--images DIR)"}
	}
	negFiles, err := imageFiles(negs)
	if err != nil {
		return err
	}
	m := defaultMatching()
	rep, err := robustness.Run(ctx, robustness.Config{
		Images:      files,
		Seed:        uint64(seed),
		MaxSide:     maxSide,
		Hash:        m.uploadSignals,
		BankHash:    m.bankSignals,
		NewBanks:    m.newBanks,
		Policy:      m.policy,
		With64Bit:   with64,
		Alterations: alts,
		Progress: func(done, total int) {
			if done%100 == 0 || done == total {
				fmt.Fprintf(os.Stderr, "takedownctl: %d of %d pictures matched\n", done, total)
			}
		},
		MinSide:   minSide,
		Negatives: negFiles,
	})
	if err != nil {
		return err
	}
	for _, sk := range rep.Skipped {
		fmt.Fprintf(os.Stderr, "takedownctl: skipped %s\n", sk)
	}
	if len(rep.NegativesSkipped) > 0 {
		fmt.Fprintf(os.Stderr, "takedownctl: %d negatives left out (too small, undecodable or PDQ quality below %d)\n", len(rep.NegativesSkipped), robustness.MinQuality)
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printRobustness(out, rep, verbose)
	return nil
}

// pickAlterations returns the picture alterations named, in the table's
// order; all of them (nil) when none is named. "original" alone gives none:
// only the originals are matched against each other.
func pickAlterations(names []string) ([]demo.Alteration, error) {
	if len(slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == "" })) == 0 {
		return nil, nil
	}
	return pickNamed(names, demo.Alterations(), func(a demo.Alteration) string { return a.Name })
}

// pickNamed returns the elements of all whose names are among names, in
// all's order. "original" (the unaltered files, which every run matches)
// may be named beside them or alone; any other unknown name is an error
// that lists the known ones. It returns every element when no name is
// given.
func pickNamed[T any](names []string, all []T, name func(T) string) ([]T, error) {
	names = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == "" })
	if len(names) == 0 {
		return all, nil
	}
	withOriginal := slices.Contains(names, "original")
	names = slices.DeleteFunc(names, func(n string) bool { return n == "original" })
	out := []T{}
	known := []string{"original"}
	for _, a := range all {
		known = append(known, name(a))
		if slices.Contains(names, name(a)) {
			out = append(out, a)
		}
	}
	if len(out) != len(names) || (len(out) == 0 && !withOriginal) {
		return nil, usageError{fmt.Sprintf("unknown alteration in %q; known: %s", names, strings.Join(known, ", "))}
	}
	return out, nil
}

// imageFiles expands directories into the image files they hold, sorted.
func imageFiles(args []string) ([]string, error) { return mediaFiles(args, imageExts) }

// mediaFiles lists the files args name, and those of the directories they
// name whose extension is one of exts, sorted.
func mediaFiles(args []string, exts []string) ([]string, error) {
	var files []string
	for _, a := range args {
		if a == "" {
			continue
		}
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, a)
			continue
		}
		ents, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if !e.IsDir() && slices.Contains(exts, strings.ToLower(filepath.Ext(e.Name()))) {
				files = append(files, filepath.Join(a, e.Name()))
			}
		}
	}
	slices.Sort(files)
	return files, nil
}

func printRobustness(out io.Writer, rep robustness.Report, verbose bool) {
	withNeg := rep.Negatives > 0
	if withNeg {
		fmt.Fprintf(out, "%d pictures, %d negatives, %d alterations\n\n", rep.Images, rep.Negatives, len(rep.Rows))
	} else {
		fmt.Fprintf(out, "%d pictures, %d alterations\n\n", rep.Images, len(rep.Rows))
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	if withNeg {
		fmt.Fprintln(tw, "alteration\tdetected\tauto\tfalse matches\tagainst negatives\t")
	} else {
		fmt.Fprintln(tw, "alteration\tdetected\tauto\tfalse matches\t")
	}
	row := func(r robustness.Row, matched, removed string) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d / %d\t", r.Alteration, matched, removed, r.FalseMatches, r.Pairs)
		if withNeg {
			fmt.Fprintf(tw, "%d / %d\t", r.NegativeFalseMatches, r.NegativePairs)
		}
		fmt.Fprintln(tw)
	}
	row(rep.Originals, "-", "-")
	for _, r := range rep.Rows {
		row(r, fmt.Sprintf("%.1f%%", 100*r.MatchedShare()), fmt.Sprintf("%.1f%%", 100*r.RemovedShare()))
	}
	if rep.NegativeOriginals != nil {
		row(*rep.NegativeOriginals, "-", "-")
	}
	tw.Flush()
	fmt.Fprintf(out, "\nfalse-match rate: %d of %d pairs of distinct pictures (%.4f%%)\n",
		rep.FalseMatches, rep.Pairs, 100*float64(rep.FalseMatches)/float64(max(1, rep.Pairs)))
	if withNeg {
		fmt.Fprintf(out, "against the negative set: %d of %d pairs (%.4f%%)\n",
			rep.NegativeFalseMatches, rep.NegativePairs, 100*float64(rep.NegativeFalseMatches)/float64(max(1, rep.NegativePairs)))
	}
	if !verbose {
		return
	}
	rows := append([]robustness.Row{rep.Originals}, rep.Rows...)
	if rep.NegativeOriginals != nil {
		rows = append(rows, *rep.NegativeOriginals)
	}
	for _, r := range rows {
		if len(r.Missed) > 0 && r.Alteration != rep.Originals.Alteration {
			fmt.Fprintf(out, "%s missed: %s\n", r.Alteration, strings.Join(r.Missed, ", "))
		}
		for _, f := range r.False {
			fmt.Fprintf(out, "%s false match: %s\n", r.Alteration, f)
		}
	}
}
