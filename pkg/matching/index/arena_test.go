package index

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestArenaTable churns a few buckets of a table (so that buckets regrow,
// move and the table repacks) and checks, against a model, that every bucket
// holds exactly its ids and that tagged buckets stay sorted by tag.
func TestArenaTable(t *testing.T) {
	for _, tagged := range []bool{false, true} {
		r := rand.New(rand.NewPCG(9, 9))
		tab := &arenaTable{tagged: tagged}
		type entry struct {
			k   uint16
			tag uint8
		}
		model := map[uint32]entry{}
		for step := range 20000 {
			id := uint32(r.IntN(3000))
			if e, ok := model[id]; ok && r.IntN(3) == 0 {
				if !tab.remove(e.k, id, e.tag) {
					t.Fatalf("step %d: remove(%d) found nothing", step, id)
				}
				delete(model, id)
				continue
			}
			if _, ok := model[id]; ok {
				continue
			}
			e := entry{k: uint16(r.IntN(5)), tag: uint8(r.IntN(tagMask + 1))}
			if !tagged {
				e.tag = 0
			}
			tab.add(e.k, id, e.tag)
			model[id] = e
			if step == 10000 {
				tab.pack(-1, 0, false)
			}
		}
		if tab.remove(0, 1<<31, 0) {
			t.Fatal("remove of an absent id reported success")
		}
		for k := range uint16(5) {
			sp := tab.spans[k]
			got := slices.Clone(tab.ids[sp.off : sp.off+sp.n])
			if tagged {
				tags := tab.tags[sp.off : sp.off+sp.n]
				if !slices.IsSorted(tags) {
					t.Fatalf("bucket %d: tags not sorted: %v", k, tags)
				}
				for i, id := range got {
					if model[id].tag != tags[i] {
						t.Fatalf("bucket %d: id %d has tag %d, want %d", k, id, tags[i], model[id].tag)
					}
				}
			}
			var want []uint32
			for id, e := range model {
				if e.k == k {
					want = append(want, id)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("tagged=%v bucket %d: %d ids, want %d", tagged, k, len(got), len(want))
			}
		}
	}
}
