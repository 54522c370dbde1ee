package video

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/takedown-pipeline/takedown/pkg/hashing/pdq"
)

var hashers = sync.Pool{New: func() any { return pdq.NewHasher() }}

// HashFile returns the vPDQ hash of the video at path: the PDQ hash and
// quality of every sampled frame, in order. On an error that comes after
// some frames were hashed (a video that decodes partway), the hashes of
// those frames are returned with it.
func HashFile(ctx context.Context, path string, opts Options) ([]FrameHash, Info, error) {
	h := hashers.Get().(*pdq.Hasher)
	defer hashers.Put(h)
	var out []FrameHash
	info, err := Frames(ctx, path, opts, func(f Frame) error {
		out = append(out, hashFrame(h, f))
		return nil
	})
	return out, info, err
}

// hashFrame is the PDQ hash of a frame at its own size, as the reference
// vPDQ hashes frames: shrinking a frame to 512 pixels first, as images are,
// moves the hashes of the reference's sample videos by 7 to 26 bits on
// average (up to 44 on the 1080x1080 one), where at full size they are
// within 4 bits of the published ones.
func hashFrame(h *pdq.Hasher, f Frame) FrameHash {
	r := h.ImageFullSize(f.Image)
	return FrameHash{Index: f.Index, Timestamp: f.Timestamp, Hash: r.Hash, Quality: r.Quality}
}

// HashBytes is HashFile of a video held in memory. ffmpeg needs a file it
// can seek in (an MP4's index is often at its end), so the data goes to a
// private temporary file in Options.TempDir, removed before HashBytes
// returns.
func HashBytes(ctx context.Context, data []byte, opts Options) ([]FrameHash, Info, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, Info{}, err
	}
	f, err := os.CreateTemp(o.TempDir, "takedown-video-*") // mode 0600
	if err != nil {
		return nil, Info{}, fmt.Errorf("video: temporary file: %w", err)
	}
	name := f.Name()
	defer os.Remove(name)
	_, werr := f.Write(data)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, Info{}, fmt.Errorf("video: temporary file: %w", werr)
	}
	return HashFile(ctx, name, opts)
}
