package demo

import (
	"context"
	"fmt"
	"strconv"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/mediahash"
	"github.com/takedown-pipeline/takedown/pkg/policy"
)

// Media is one demo file.
type Media struct {
	Name string
	Data []byte
	// Expect is the action the policy should take on it as an upload:
	// policy.ActionRemove, ActionReview or ActionNone.
	Expect string
	// Of names the bank media it is a copy of, if any.
	Of string
}

// Set is a demo bank and uploads that exercise every path of the policy.
type Set struct {
	Bank    []Media
	Uploads []Media
}

// NewSet builds a bank of three scenes and four uploads: an exact copy
// (removed on SHA-256), an altered copy (removed on a close perceptual
// match), a weaker copy (a perceptual match outside the auto-removal
// distance, so it goes to review) and an unrelated scene (no match).
// Alterations are chosen by hashing them with the pipeline's own hasher under
// pol and matchThreshold, so the demo shows each path whatever the tuning.
func NewSet(ctx context.Context, seed uint64, pol policy.Policy, matchThreshold int) (Set, error) {
	var set Set
	scenes := make([][]byte, 3)
	for i := range scenes {
		scenes[i] = JPEG(Scene(seed+uint64(i), 640, 480), 90)
		set.Bank = append(set.Bank, Media{Name: "bank-" + strconv.Itoa(i+1) + ".jpg", Data: scenes[i]})
	}
	set.Uploads = append(set.Uploads, Media{Name: "exact-copy.jpg", Data: scenes[0], Expect: policy.ActionRemove, Of: set.Bank[0].Name})

	base1, _, err := mediahash.DecodeImage(ctx, scenes[1], mediahash.Limits{})
	if err != nil {
		return set, err
	}
	altered, err := pick(ctx, scenes[1], pol, matchThreshold, policy.ActionRemove, func(i int) []byte {
		return JPEG(Scale(Brighten(base1, 6+2*i), 0.75), 70-5*i)
	})
	if err != nil {
		return set, fmt.Errorf("altered copy: %w", err)
	}
	set.Uploads = append(set.Uploads, Media{Name: "altered-copy.jpg", Data: altered, Expect: policy.ActionRemove, Of: set.Bank[1].Name})

	base2, _, err := mediahash.DecodeImage(ctx, scenes[2], mediahash.Limits{})
	if err != nil {
		return set, err
	}
	weaker, err := pick(ctx, scenes[2], pol, matchThreshold, policy.ActionReview, func(i int) []byte {
		return JPEG(Crop(base2, 0.04+0.02*float64(i)), 80)
	})
	if err != nil {
		return set, fmt.Errorf("weaker copy: %w", err)
	}
	set.Uploads = append(set.Uploads, Media{Name: "weaker-copy.jpg", Data: weaker, Expect: policy.ActionReview, Of: set.Bank[2].Name})

	// The first of a few unrelated scenes that matches no bank scene: the
	// scenes share their structure, and a 64-bit hash can land near by chance.
	for i := range uint64(12) {
		unrelated := JPEG(Scene(seed+1000+i, 640, 480), 85)
		matches := false
		for _, ref := range scenes {
			d, err := Decide(ctx, ref, unrelated, pol, matchThreshold)
			if err != nil {
				return set, err
			}
			matches = matches || d.Action != policy.ActionNone
		}
		if !matches {
			set.Uploads = append(set.Uploads, Media{Name: "unrelated.jpg", Data: unrelated, Expect: policy.ActionNone})
			return set, nil
		}
	}
	return set, fmt.Errorf("unrelated scene: every candidate matched a bank scene")
}

// pick returns the first of up to 12 variants whose decision against ref is want.
func pick(ctx context.Context, ref []byte, pol policy.Policy, threshold int, want string, variant func(i int) []byte) ([]byte, error) {
	for i := range 12 {
		v := variant(i)
		got, err := Decide(ctx, ref, v, pol, threshold)
		if err != nil {
			return nil, err
		}
		if got.Action == want {
			return v, nil
		}
	}
	return nil, fmt.Errorf("no variant gave %q", want)
}

// Decide hashes ref and query as the pipeline does, matches them as the
// matcher does (exact on cryptographic hashes, Hamming distance within
// threshold on perceptual ones) and returns the policy's decision.
func Decide(ctx context.Context, ref, query []byte, pol policy.Policy, threshold int) (policy.Decision, error) {
	r, err := mediahash.Hash(ctx, ref, events.ContentImage, mediahash.Limits{})
	if err != nil {
		return policy.Decision{}, err
	}
	q, err := mediahash.Hash(ctx, query, events.ContentImage, mediahash.Limits{})
	if err != nil {
		return policy.Decision{}, err
	}
	var matches []events.Match
	for _, rs := range r.Signals {
		for _, qs := range q.Signals {
			if rs.Type != qs.Type {
				continue
			}
			d := 0
			switch rs.Type {
			case events.SignalPHash, events.SignalDHash:
				a, _ := mediahash.ParseHash64(rs.Value)
				b, _ := mediahash.ParseHash64(qs.Value)
				d = mediahash.Distance64(a, b)
			default:
				if rs.Value != qs.Value {
					continue
				}
			}
			if d <= threshold {
				matches = append(matches, events.Match{Bank: "demo", EntryID: "ref", SignalType: rs.Type, Signal: rs.Value, Distance: d, Threshold: threshold})
			}
		}
	}
	return pol.Decide(matches), nil
}
