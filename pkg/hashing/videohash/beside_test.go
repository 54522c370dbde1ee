package videohash

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/mediahash"
	"github.com/takedown-pipeline/takedown/pkg/hashing/video"
	"github.com/takedown-pipeline/takedown/pkg/platform/cpu"
)

// benchJPEG is a 1152x864 JPEG with detail in it, like the pictures of
// make bench-e2e.
func benchJPEG(b *testing.B) []byte {
	b.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 1152, 864))
	for y := range 864 {
		for x := range 1152 {
			img.Set(x, y, color.RGBA{uint8(x * y >> 5), uint8(x ^ y), uint8((x + 3*y) >> 2), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkPicturesBesideVideo hashes pictures on every core, as the hasher
// does (each in a CPU slot of package cpu), while a 720p video is hashed over
// and over beside them, its ffmpeg decode at the normal priority and niced:
// pictures/s against the same without a video says how much a long video
// takes from pictures, x-realtime how fast the video still goes.
func BenchmarkPicturesBesideVideo(b *testing.B) {
	pic := benchJPEG(b)
	path, seconds := bench720p(b)
	for _, c := range []struct {
		name  string
		video bool
		nice  int
	}{
		{"no-video", false, 0},
		{"video-not-niced", true, -1},
		{"video-niced", true, video.DefaultNice},
		{"video-nice-19", true, 19},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx, stop := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			var videos atomic.Int64
			if c.video {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for ctx.Err() == nil {
						if _, err := Upload(ctx, path, video.Options{Nice: c.nice}); err == nil {
							videos.Add(1)
						}
					}
				}()
			}
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					var err error
					if cerr := cpu.Do(ctx, func() { _, err = mediahash.Hash(ctx, pic, events.ContentImage, mediahash.Limits{}) }); cerr != nil {
						b.Error(cerr)
						return
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			elapsed := b.Elapsed().Seconds()
			stop()
			wg.Wait()
			b.ReportMetric(float64(b.N)/elapsed, "pictures/s")
			if c.video {
				b.ReportMetric(float64(videos.Load())*seconds/elapsed, "x-realtime")
			}
		})
	}
}
