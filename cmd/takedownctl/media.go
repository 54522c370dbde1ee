package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/mediahash"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// limits are the hasher service's defaults, so the CLI hashes exactly as the
// pipeline does.
type limits struct {
	maxBytes  int64
	maxPixels int64
}

func (l *limits) bind(s *config.Set) {
	s.Int64(&l.maxBytes, "max-media-bytes", 50<<20, "largest media file accepted, in bytes")
	s.Int64(&l.maxPixels, "max-pixels", 50_000_000, "largest image accepted, in pixels (checked before decoding)")
}

// videoExts are the file extensions taken for videos.
var videoExts = []string{".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v", ".ts", ".flv"}

// contentTypeOf guesses image or video from a file name.
func contentTypeOf(name string) string {
	if slices.Contains(videoExts, strings.ToLower(filepath.Ext(name))) {
		return events.ContentVideo
	}
	return events.ContentImage
}

// hashFile reads and hashes one file under the pipeline's limits, as the
// hasher hashes an upload.
func hashFile(ctx context.Context, path string, l limits) (mediahash.Result, error) {
	return hashFileWith(ctx, path, l, mediahash.Hash)
}

// hashFileWith is hashFile with the hash function given: mediahash.Hash for
// an upload, mediahash.HashForBank for a bank entry.
func hashFileWith(ctx context.Context, path string, l limits, hash func(context.Context, []byte, string, mediahash.Limits) (mediahash.Result, error)) (mediahash.Result, error) {
	data, err := readLimited(path, l.maxBytes)
	if err != nil {
		return mediahash.Result{}, err
	}
	res, err := hash(ctx, data, contentTypeOf(path), mediahash.Limits{MaxPixels: l.maxPixels, MaxBytes: l.maxBytes, Timeout: 30 * time.Second})
	if err != nil {
		return res, fmt.Errorf("%s: %w", path, err)
	}
	return res, nil
}

// readLimited reads a file of at most maxBytes.
func readLimited(path string, maxBytes int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes (TAKEDOWN_MAX_MEDIA_BYTES)", path, maxBytes)
	}
	return data, nil
}

// videoFrames counts the video frame hashes among sigs.
func videoFrames(sigs []events.Signal) int {
	n := 0
	for _, s := range sigs {
		if _, ok := events.ParseFrameVariant(s.Variant); ok {
			n++
		}
	}
	return n
}

func cmdHash(ctx context.Context, args []string, out io.Writer) error {
	var l limits
	s := newSet(ctx, "takedownctl hash")
	l.bind(s)
	if err := s.Parse(args); err != nil {
		return err
	}
	if len(s.Args()) == 0 {
		return usageError{"hash needs at least one FILE"}
	}
	enc := json.NewEncoder(out)
	var failed int
	for _, path := range s.Args() {
		res, err := hashFile(ctx, path, l)
		if err != nil {
			// Keep going: one bad file should not hide the others' hashes.
			fmt.Fprintf(os.Stderr, "takedownctl: %v\n", err)
			failed++
			continue
		}
		line := map[string]any{"file": path, "media": res.Info}
		variants := map[string]string{}
		for _, sig := range res.Signals {
			if sig.Variant != "" {
				// Rotations, mirror images and parts of the picture.
				variants[sig.Type+":"+sig.Variant] = sig.Value
				continue
			}
			line[sig.Type] = sig.Value
			if sig.Quality != nil {
				line[sig.Type+"_quality"] = *sig.Quality
			}
		}
		if len(variants) > 0 {
			line["variants"] = variants
		}
		if err := enc.Encode(line); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d files could not be hashed", failed, len(s.Args()))
	}
	return nil
}

func cmdBankAdd(ctx context.Context, args []string, out io.Writer) error {
	var (
		l        limits
		ts       topicSettings
		bankName string
		labels   []string
		videoFPS int
	)
	s := newSet(ctx, "takedownctl bank add")
	l.bind(s)
	ts.bind(s, true)
	s.String(&bankName, "bank", "", "bank to add the entries to")
	s.List(&labels, "label", "", "labels of the entries, e.g. category:terrorism,source:gifct")
	s.Int(&videoFPS, "video-fps", 0, "frames of a video hashed per second (0: every frame, so that uploads sampled at any phase find theirs)")
	if err := s.Parse(args); err != nil {
		return err
	}
	if bankName == "" {
		return usageError{"bank add needs --bank NAME"}
	}
	if len(s.Args()) == 0 {
		return usageError{"bank add needs at least one FILE"}
	}
	if videoFPS < 0 {
		return usageError{fmt.Sprintf("--video-fps %d: want 0 (every frame) or more", videoFPS)}
	}
	// Before the hashing, which can take minutes: a wrong password or CA
	// fails now, naming the setting, instead of at the first publish.
	if err := messaging.Check(ctx, ts.kafka); err != nil {
		return err
	}
	var updates []events.BankUpdate
	var files []string // the file of each update
	for _, path := range s.Args() {
		if contentTypeOf(path) == events.ContentVideo {
			data, err := readLimited(path, l.maxBytes)
			if err != nil {
				return err
			}
			us, _, err := videoBankUpdates(ctx, data, bankName, labels, videoBankOptions(videoFPS))
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			updates = append(updates, us...)
			for range us {
				files = append(files, path)
			}
			continue
		}
		res, err := hashFileWith(ctx, path, l, mediahash.HashForBank)
		if err != nil {
			return err // all or nothing: a half-added batch is harder to reason about
		}
		updates = append(updates, events.NewBankAdd(bankName, labels, bank.Bankable(res.Signals)))
		files = append(files, path)
	}
	// Created compacted here, like import does: a producer never creates
	// the topic, and one the broker made would expire bank entries.
	if err := ensureBankTopic(ctx, ts); err != nil {
		return err
	}
	pub := messaging.NewKafkaPublisher(ts.kafka)
	defer pub.Close()
	enc := json.NewEncoder(out)
	for i, u := range updates {
		if err := messaging.PublishEvent(ctx, pub, ts.topic, &u); err != nil {
			return fmt.Errorf("publishing %s: %w", files[i], err)
		}
		line := map[string]any{"file": files[i], "bank": u.Bank, "entry_id": u.EntryID, "labels": u.Labels, "signals": len(u.Signals)}
		if frames := videoFrames(u.Signals); frames > 0 {
			line["video_frame_hashes"] = frames
		}
		if err := enc.Encode(line); err != nil {
			return err
		}
	}
	return nil
}

// bankData returns the signals of a bank entry of data, as `bank add` makes them.
func bankData(ctx context.Context, data []byte) ([]events.Signal, error) {
	res, err := mediahash.HashForBank(ctx, data, events.ContentImage, mediahash.Limits{MaxPixels: 50_000_000, MaxBytes: 50 << 20, Timeout: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	return bank.Bankable(res.Signals), nil
}
