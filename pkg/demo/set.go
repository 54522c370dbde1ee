package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/mediahash"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/matching/policy"
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
// Alterations are chosen by hashing and matching them as the pipeline does,
// under pol and bank options opts, so the demo shows each path whatever the
// tuning.
func NewSet(ctx context.Context, seed uint64, pol policy.Policy, opts bank.Options) (Set, error) {
	var set Set
	scenes := make([][]byte, 0, 3)
	for next := seed; len(scenes) < 3; next++ {
		if next-seed > 100 {
			return set, fmt.Errorf("no three scenes from seed %d have PDQ quality %d", seed, sceneQuality)
		}
		scene := JPEG(Scene(next, 640, 480), 90)
		if q, err := pdqQuality(ctx, scene); err != nil {
			return set, err
		} else if q < sceneQuality {
			continue
		}
		scenes = append(scenes, scene)
		set.Bank = append(set.Bank, Media{Name: "bank-" + strconv.Itoa(len(scenes)) + ".jpg", Data: scene})
	}
	set.Uploads = append(set.Uploads, Media{Name: "exact-copy.jpg", Data: scenes[0], Expect: policy.ActionRemove, Of: set.Bank[0].Name})

	base1, _, err := mediahash.DecodeImage(ctx, scenes[1], mediahash.Limits{})
	if err != nil {
		return set, err
	}
	altered, err := pick(ctx, scenes[1], pol, opts, policy.ActionRemove, func(i int) []byte {
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
	weaker, err := pick(ctx, scenes[2], pol, opts, policy.ActionReview, func(i int) []byte {
		switch i % 3 {
		case 0:
			return JPEG(Crop(base2, 0.04+0.005*float64(i)), 80)
		case 1:
			return JPEG(Brighten(Crop(base2, 0.03+0.005*float64(i)), 20+2*i), 60)
		}
		return JPEG(CropRandom(base2, 0.06+0.004*float64(i), rand.New(rand.NewPCG(seed, uint64(i)))), 80)
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
			d, err := Decide(ctx, ref, unrelated, pol, opts)
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

// sceneQuality is the least PDQ quality of a bank scene: some generated
// scenes are too smooth for PDQ (the matcher ignores hashes below 50), and
// altered copies lose a little more.
const sceneQuality = 60

func pdqQuality(ctx context.Context, data []byte) (int, error) {
	res, err := mediahash.Hash(ctx, data, events.ContentImage, mediahash.Limits{})
	if err != nil {
		return 0, err
	}
	for _, s := range res.Signals {
		if s.Type == events.SignalPDQ && s.Variant == "" && s.Quality != nil {
			return *s.Quality, nil
		}
	}
	return 0, fmt.Errorf("no pdq hash")
}

// pick returns the first of up to 36 variants whose decision against ref is want.
func pick(ctx context.Context, ref []byte, pol policy.Policy, opts bank.Options, want string, variant func(i int) []byte) ([]byte, error) {
	for i := range 36 {
		v := variant(i)
		got, err := Decide(ctx, ref, v, pol, opts)
		if err != nil {
			return nil, err
		}
		if got.Action == want {
			return v, nil
		}
	}
	return nil, fmt.Errorf("no variant gave %q", want)
}

// Decide hashes ref as `takedownctl bank add` does and query as the hasher
// does, matches them with banks made with opts (the matcher's options) and
// returns the policy's decision.
func Decide(ctx context.Context, ref, query []byte, pol policy.Policy, opts bank.Options) (policy.Decision, error) {
	r, err := mediahash.HashForBank(ctx, ref, events.ContentImage, mediahash.Limits{})
	if err != nil {
		return policy.Decision{}, err
	}
	q, err := mediahash.Hash(ctx, query, events.ContentImage, mediahash.Limits{})
	if err != nil {
		return policy.Decision{}, err
	}
	banks, err := bank.New(opts)
	if err != nil {
		return policy.Decision{}, err
	}
	if err := banks.Apply(events.NewBankAdd("demo", nil, bank.Bankable(r.Signals))); err != nil {
		return policy.Decision{}, err
	}
	return pol.Decide(banks.MatchVerdict(q.Signals).Matches), nil
}
