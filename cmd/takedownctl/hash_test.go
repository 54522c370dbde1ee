package main

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/hashing/pdq"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// The pdq `takedownctl hash` prints is what a platform puts on a shared hash
// list: run as a user runs it, on every file of the reference's published
// hashes, it must meet the reference's rule (the C++ rows within 10 bits;
// the Python rows within what their own test allows).
func TestHashCommandMeetsTheReference(t *testing.T) {
	refs := testenv.PDQReferences(t, "")
	var args []string // each file once, as a user would list them
	want := map[string]testenv.PDQReference{}
	for _, r := range refs {
		if !slices.Contains(args, r.Path) {
			args = append(args, r.Path)
		}
		want[r.Path+" "+r.Source] = r
	}
	var out bytes.Buffer
	if err := cmdHash(context.Background(), args, &out); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&out)
	n := 0
	for ; dec.More(); n++ {
		var line struct {
			File string `json:"file"`
			PDQ  string `json:"pdq"`
		}
		if err := dec.Decode(&line); err != nil {
			t.Fatal(err)
		}
		got, err := pdq.ParseHex(line.PDQ)
		if err != nil {
			t.Fatalf("%s: pdq %q: %v", line.File, line.PDQ, err)
		}
		for _, source := range []string{"cpp", "python"} {
			r, ok := want[line.File+" "+source]
			if !ok {
				continue
			}
			ref, err := pdq.ParseHex(r.Hex)
			if err != nil {
				t.Fatal(err)
			}
			d := pdq.Distance(got, ref)
			t.Logf("%s %s: distance %d (allowed %d)", source, line.File, d, r.MaxDistance)
			if d > r.MaxDistance {
				t.Errorf("%s: takedownctl hash prints pdq %s, %d bits from the %s reference %s; allowed %d",
					line.File, line.PDQ, d, source, r.Hex, r.MaxDistance)
			}
		}
	}
	if n != len(args) {
		t.Errorf("%d lines for %d files", n, len(args))
	}
}
