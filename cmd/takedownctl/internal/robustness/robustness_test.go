package robustness_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/takedown-pipeline/takedown/cmd/takedownctl/internal/robustness"
	"github.com/takedown-pipeline/takedown/pkg/demo"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/mediahash"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/matching/policy"
)

// A small run on generated scenes: the arithmetic of the table (copies,
// pairs, shares) and that easy alterations match while distinct scenes never
// do. The real table comes from `make robustness` on natural pictures.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for i := range 8 {
		p := filepath.Join(dir, string(rune('a'+i))+".png")
		if err := os.WriteFile(p, demo.PNG(demo.Scene(uint64(40+i), 480, 360)), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	// Not an image: skipped, not fatal.
	bad := filepath.Join(dir, "bad.png")
	if err := os.WriteFile(bad, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An icon: left out by MinSide.
	icon := filepath.Join(dir, "icon.png")
	if err := os.WriteFile(icon, demo.PNG(demo.Scene(99, 64, 64)), 0o644); err != nil {
		t.Fatal(err)
	}
	alts := map[string]demo.Alteration{}
	for _, a := range demo.Alterations() {
		alts[a.Name] = a
	}
	cfg := pipelineHashing()
	cfg.Images, cfg.MinSide, cfg.Seed = append(files, bad, icon), 100, 1
	cfg.Alterations = []demo.Alteration{alts["jpeg-q30"], alts["mirror"], alts["greyscale"]}
	rep, err := robustness.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Some scenes are too flat for PDQ (quality below 50) and are skipped
	// with the bad file.
	n := rep.Images
	if n < 4 || n+len(rep.Skipped) != 10 {
		t.Fatalf("images %d, skipped %q; want at least 4 and the rest skipped", n, rep.Skipped)
	}
	pairs := n * (n - 1)
	if rep.Originals.FalseMatches != 0 || rep.Originals.Pairs != pairs {
		t.Errorf("originals: %d false of %d pairs, want 0 of %d", rep.Originals.FalseMatches, rep.Originals.Pairs, pairs)
	}
	for _, r := range rep.Rows {
		if r.Copies != n || r.Matched != n || r.FalseMatches != 0 {
			t.Errorf("%s: %d/%d matched (missed %q), %d false (%q)", r.Alteration, r.Matched, r.Copies, r.Missed, r.FalseMatches, r.False)
		}
	}
	if rep.Pairs != 4*pairs {
		t.Errorf("pairs %d, want %d", rep.Pairs, 4*pairs)
	}
}

// Negatives are banked beside the originals: distinct scenes never match,
// and a negative that is one of the pictures again is counted as a false
// match both ways (its copies' rows and the negatives' own row).
func TestRunNegatives(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, seed uint64) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, demo.PNG(demo.Scene(seed, 480, 360)), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var files, negs []string
	for i := range 6 {
		files = append(files, write(string(rune('a'+i))+".png", uint64(40+i)))
		negs = append(negs, write("n"+string(rune('a'+i))+".png", uint64(140+i)))
	}
	cfg := pipelineHashing()
	cfg.Images, cfg.Seed = files, 1
	cfg.Alterations, cfg.Negatives = []demo.Alteration{}, negs
	rep, err := robustness.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	n, m := rep.Images, rep.Negatives
	if n < 3 || m < 3 {
		t.Fatalf("%d pictures and %d negatives usable (skipped %q, %q); want at least 3 of each", n, m, rep.Skipped, rep.NegativesSkipped)
	}
	if rep.NegativeOriginals == nil {
		t.Fatal("no row for the negatives")
	}
	if want := n*m + m*(m-1+n); rep.NegativePairs != want || rep.NegativeFalseMatches != 0 {
		t.Errorf("negatives: %d false of %d pairs (%q), want 0 of %d", rep.NegativeFalseMatches, rep.NegativePairs, rep.NegativeOriginals.False, want)
	}

	// The first usable picture again among the negatives.
	dup := filepath.Join(dir, "dup.png")
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dup, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Negatives = append(negs, dup)
	rep, err = robustness.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(rep.Skipped, func(s string) bool { return strings.Contains(s, "a.png") }) {
		t.Fatalf("scene a.png is not usable (%q): pick another seed", rep.Skipped)
	}
	// dup.png matches a.png: once as a's original against the negatives,
	// once as a negative against the pictures.
	if rep.Originals.NegativeFalseMatches != 1 || rep.NegativeOriginals.NegativeFalseMatches != 1 {
		t.Errorf("a picture among the negatives: %d false matches of originals against negatives, %d of negatives; want 1 and 1 (%q, %q)",
			rep.Originals.NegativeFalseMatches, rep.NegativeOriginals.NegativeFalseMatches, rep.Originals.False, rep.NegativeOriginals.False)
	}
	if rep.FalseMatches != 0 {
		t.Errorf("%d false matches among the pictures, want 0", rep.FalseMatches)
	}
}

// pipelineHashing is a Config that hashes uploads and bank entries as the
// hasher and bank add do, with the enforcer's default policy.
func pipelineHashing() robustness.Config {
	limits := mediahash.Limits{}
	return robustness.Config{
		Hash: func(ctx context.Context, data []byte) ([]events.Signal, error) {
			r, err := mediahash.Hash(ctx, data, events.ContentImage, limits)
			return r.Signals, err
		},
		BankHash: func(ctx context.Context, data []byte) ([]events.Signal, error) {
			r, err := mediahash.HashForBank(ctx, data, events.ContentImage, limits)
			return r.Signals, err
		},
		NewBanks: func() *bank.Banks { return bank.NewBanks(nil) },
		Policy:   policy.Default(),
	}
}
