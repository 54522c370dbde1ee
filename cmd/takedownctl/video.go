package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/mediahash"
	"github.com/takedown-pipeline/takedown/pkg/hashing/video"
	"github.com/takedown-pipeline/takedown/pkg/hashing/videohash"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
)

// videoBankOptions are how bank add hashes a video: every frame unless
// fps is set, within the hasher's duration cap and a generous time limit.
func videoBankOptions(fps int) videohash.BankOptions {
	return videohash.BankOptions{FPS: float64(fps), Video: video.Options{MaxDuration: video.DefaultMaxDuration, Timeout: 30 * time.Minute}}
}

// videoUploadOptions are how the hasher samples an uploaded video with its
// defaults (the zero Options): one frame a second (TAKEDOWN_VIDEO_FPS),
// within the duration cap and time limit.
func videoUploadOptions() video.Options { return video.Options{} }

// videoBankUpdates hashes a video for the bank and makes its entries
// (bank.VideoEntries: its file's sha256 and md5 and its frame hashes,
// in parts for a long video).
func videoBankUpdates(ctx context.Context, data []byte, bankName string, labels []string, opts videohash.BankOptions) ([]events.BankUpdate, video.Info, error) {
	res, err := mediahash.HashForBank(ctx, data, events.ContentVideo, mediahash.Limits{MaxBytes: int64(len(data)) + 1})
	if err != nil {
		return nil, video.Info{}, err
	}
	parts, info, err := videohash.BankBytes(ctx, data, opts)
	if err != nil {
		return nil, info, err
	}
	return bank.VideoEntries(bankName, labels, res.Signals, videohash.PartSignals(parts)), info, nil
}

// changeVideo applies configure's --video-query-percent and
// --video-reference-percent to cfg; an empty flag leaves its value.
func changeVideo(cfg *events.BankConfig, query, reference string) error {
	for _, f := range []struct {
		name, v string
		dst     *int
	}{
		{"--video-query-percent", query, &cfg.VideoQueryPercent},
		{"--video-reference-percent", reference, &cfg.VideoReferencePercent},
	} {
		if f.v == "" {
			continue
		}
		n, err := strconv.Atoi(f.v)
		if err != nil || n < 0 || n > 100 {
			return fmt.Errorf("%s %q: want 1..100, or 0 for the matcher's default", f.name, f.v)
		}
		*f.dst = n
	}
	return nil
}
