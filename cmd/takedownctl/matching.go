package main

import (
	"context"
	"strings"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/bank"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/mediahash"
	"github.com/takedown-pipeline/takedown/pkg/policy"
)

// matching is how the pipeline decides on an image by default: the
// hasher's signals, the matcher's default thresholds and the enforcer's
// default policy. `takedownctl match` and `takedownctl robustness` use it so
// that what they print is what the services would do.
type matching struct {
	thresholds bank.Thresholds
	policy     policy.Policy
	limits     mediahash.Limits
}

func defaultMatching() matching {
	return matching{
		thresholds: bank.DefaultThresholds(),
		policy:     policy.Default(),
		limits:     mediahash.Limits{MaxPixels: mediahash.DefaultMaxPixels, MaxBytes: mediahash.DefaultMaxBytes, Timeout: 30 * time.Second},
	}
}

func (m matching) newBanks() *bank.Banks { return bank.NewBanks(m.thresholds) }

// uploadSignals are an upload's signals, as the hasher service emits them.
func (m matching) uploadSignals(ctx context.Context, data []byte) ([]events.Signal, error) {
	res, err := mediahash.Hash(ctx, data, events.ContentImage, m.limits)
	if err != nil {
		return nil, err
	}
	return res.Signals, nil
}

// bankSignals are the signals a bank entry made from the media holds, as
// `takedownctl bank add` computes them.
func (m matching) bankSignals(ctx context.Context, data []byte) ([]events.Signal, error) {
	res, err := mediahash.HashForBank(ctx, data, events.ContentImage, m.limits)
	if err != nil {
		return nil, err
	}
	return bank.Bankable(res.Signals), nil
}

func splitComma(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
