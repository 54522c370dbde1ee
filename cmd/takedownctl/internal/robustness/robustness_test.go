package robustness_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/takedown-pipeline/takedown/cmd/takedownctl/internal/robustness"
	"github.com/takedown-pipeline/takedown/pkg/bank"
	"github.com/takedown-pipeline/takedown/pkg/demo"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/mediahash"
	"github.com/takedown-pipeline/takedown/pkg/policy"
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
	limits := mediahash.Limits{}
	alts := map[string]demo.Alteration{}
	for _, a := range demo.Alterations() {
		alts[a.Name] = a
	}
	rep, err := robustness.Run(context.Background(), robustness.Config{
		Images:  append(files, bad, icon),
		MinSide: 100,
		Seed:    1,
		Hash: func(ctx context.Context, data []byte) ([]events.Signal, error) {
			r, err := mediahash.Hash(ctx, data, events.ContentImage, limits)
			return r.Signals, err
		},
		BankHash: func(ctx context.Context, data []byte) ([]events.Signal, error) {
			r, err := mediahash.HashForBank(ctx, data, events.ContentImage, limits)
			return r.Signals, err
		},
		NewBanks:    func() *bank.Banks { return bank.NewBanks(nil) },
		Policy:      policy.Default(),
		Alterations: []demo.Alteration{alts["jpeg-q30"], alts["mirror"], alts["greyscale"]},
	})
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
