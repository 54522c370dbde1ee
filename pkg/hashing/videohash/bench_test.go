package videohash

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/hashing/video"
)

// bench720p makes a 20-second 1280x720 30 fps video of ffmpeg's moving test
// pattern.
func bench720p(b *testing.B) (path string, seconds float64) {
	b.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		b.Skip("ffmpeg missing")
	}
	path = filepath.Join(b.TempDir(), "720p.mp4")
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=20",
		"-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", path).CombinedOutput()
	if err != nil {
		b.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	return path, 20
}

// BenchmarkUpload720p hashes a 720p video as the hasher does: one frame a
// second, each also without bars when it has some (decoding every frame is
// most of the cost: ffmpeg must decode them to sample).
func BenchmarkUpload720p(b *testing.B) {
	path, seconds := bench720p(b)
	frames := 0
	for b.Loop() {
		r, err := Upload(context.Background(), path, video.Options{})
		if err != nil {
			b.Fatal(err)
		}
		frames += r.Sampled
	}
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(seconds*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
}

// BenchmarkBank720p hashes a 720p video as bank add does: every frame.
func BenchmarkBank720p(b *testing.B) {
	path, seconds := bench720p(b)
	for b.Loop() {
		if _, _, err := Bank(context.Background(), path, BankOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(30*seconds*float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(seconds*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
}
