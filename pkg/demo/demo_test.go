package demo

import (
	"bytes"
	"context"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/matching/policy"
)

// Every demo upload must take the path it is meant to show, for several
// seeds, or `make run` would demonstrate the wrong thing.
func TestSetCoversEveryPath(t *testing.T) {
	ctx := context.Background()
	pol := policy.Default()
	for _, seed := range []uint64{1, 2, 3} {
		set, err := NewSet(ctx, seed, pol, bank.Options{})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		refs := map[string][]byte{}
		for _, m := range set.Bank {
			refs[m.Name] = m.Data
		}
		want := []string{policy.ActionRemove, policy.ActionRemove, policy.ActionReview, policy.ActionNone}
		for i, u := range set.Uploads {
			if u.Expect != want[i] {
				t.Errorf("seed %d: upload %s expects %s, want %s", seed, u.Name, u.Expect, want[i])
			}
			// Decide against every bank image: only the one it copies may match.
			for name, ref := range refs {
				d, err := Decide(ctx, ref, u.Data, pol, bank.Options{})
				if err != nil {
					t.Fatal(err)
				}
				exp := policy.ActionNone
				if name == u.Of {
					exp = u.Expect
				}
				if d.Action != exp {
					t.Errorf("seed %d: %s against %s: %s (%s), want %s", seed, u.Name, name, d.Action, d.Reason, exp)
				}
			}
		}
		if !bytes.Equal(set.Uploads[0].Data, set.Bank[0].Data) {
			t.Errorf("seed %d: the exact copy is not byte-identical", seed)
		}
	}
}
