package main

import (
	"context"
	"strings"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/mediahash"
	"github.com/takedown-pipeline/takedown/pkg/hashing/videohash"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/matching/policy"
)

// matching is how the pipeline decides on an image by default: the
// hasher's signals, the matcher's default thresholds and the enforcer's
// default policy. `takedownctl match` and `takedownctl robustness` use it so
// that what they print is what the services would do.
type matching struct {
	thresholds bank.Thresholds
	videoRules bank.VideoRules // the zero rules: the matcher's defaults
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

// bankUpdates are the bank entries `takedownctl bank add` makes of a
// reference file: one for a picture, one or more (parts) for a video.
func (m matching) bankUpdates(ctx context.Context, path string, data []byte) ([]events.BankUpdate, error) {
	if contentTypeOf(path) == events.ContentVideo {
		updates, _, err := videoBankUpdates(ctx, data, "references", nil, videoBankOptions(0))
		return updates, err
	}
	sigs, err := m.bankSignals(ctx, data)
	if err != nil {
		return nil, err
	}
	return []events.BankUpdate{events.NewBankAdd("references", nil, sigs)}, nil
}

// verdict is the matcher's verdict on a query file uploaded: a picture's
// signals, or a video's file hashes and its frames sampled as the hasher
// samples them (videohash.UploadBytes and Thin, the hasher's own calls),
// matched by the video rules.
func (m matching) verdict(ctx context.Context, banks *bank.Banks, path string, data []byte) (bank.Verdict, error) {
	v, _, err := m.verdictStats(ctx, banks, path, data)
	return v, err
}

// videoStats are what a video query cost: the matching alone (the index
// lookups and the rules, after hashing), and its frames and inset hashes.
type videoStats struct {
	Match       time.Duration
	Frames      int
	InsetFrames int // frames with at least one inset hash
	InsetHashes int
}

// verdictStats is verdict, with a video's videoStats.
func (m matching) verdictStats(ctx context.Context, banks *bank.Banks, path string, data []byte) (bank.Verdict, videoStats, error) {
	var st videoStats
	if contentTypeOf(path) != events.ContentVideo {
		sigs, err := m.uploadSignals(ctx, data)
		if err != nil {
			return bank.Verdict{}, st, err
		}
		return banks.MatchVerdict(sigs), st, nil
	}
	res, err := mediahash.Hash(ctx, data, events.ContentVideo, m.limits)
	if err != nil {
		return bank.Verdict{}, st, err
	}
	frames, err := videohash.UploadBytes(ctx, data, videoUploadOptions())
	if err != nil {
		return bank.Verdict{}, st, err
	}
	frames.Thin(0) // as the hasher does, to fit one event
	st.Frames = len(frames.Frames)
	for _, f := range frames.Frames {
		if len(f.Insets) > 0 {
			st.InsetFrames++
			st.InsetHashes += len(f.Insets)
		}
	}
	q := bank.VideoQuery{Frames: frames.Frames, IntervalMs: frames.IntervalMs, DurationMs: frames.DurationMs}
	start := time.Now()
	v := banks.MatchVerdict(res.Signals, banks.MatchVideo(q, m.videoRules))
	st.Match = time.Since(start)
	return v, st, nil
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
