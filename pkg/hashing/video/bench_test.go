//go:build linux

package video

import (
	"context"
	"image"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/hashing/pdq"
)

// The benchmarks' input: 20 seconds of ffmpeg's testsrc2 pattern (moving
// colour bars, a clock and noise-free gradients) at 1280x720 and 30 fps,
// H.264 as a phone or a platform would store it, made once per test binary.
const (
	benchSeconds = 20
	benchFPS     = 30
)

var (
	benchOnce  sync.Once
	benchDir   string
	benchVideo string
	benchErr   error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

func video720p(b *testing.B) string {
	b.Helper()
	needFFmpeg(b)
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "takedown-video-bench-")
		if benchErr != nil {
			return
		}
		benchVideo = generate(b, filepath.Join(benchDir, "testsrc2-720p30.mp4"), "-f", "lavfi", "-i",
			"testsrc2=size=1280x720:rate=30:duration=20", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
			"-g", "60", "-pix_fmt", "yuv420p")
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchVideo
}

// cpuTime is the CPU time, user and system, of this process and of its
// waited-for children (ffmpeg and ffprobe).
func cpuTime(b *testing.B) time.Duration {
	var self, children syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &self); err != nil {
		b.Fatal(err)
	}
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children); err != nil {
		b.Fatal(err)
	}
	tv := func(t syscall.Timeval) time.Duration {
		return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
	}
	return tv(self.Utime) + tv(self.Stime) + tv(children.Utime) + tv(children.Stime)
}

// BenchmarkVideo720p is vPDQ of the 720p clip, whole: decode (ffmpeg),
// conversion to RGB, the pipe and PDQ at full size. It reports frames
// hashed and seconds of video per second of wall clock ("x-realtime") and
// per CPU-second of this process and ffmpeg together ("/cpu-s": the figure
// per core, since other work shares the machine).
func BenchmarkVideo720p(b *testing.B) {
	video := video720p(b)
	for _, bc := range []struct {
		name string
		fps  float64
	}{{"1fps", 0}, {"every-frame", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			frames := 0
			cpu0, wall0 := cpuTime(b), time.Now()
			for b.Loop() {
				hs, _, err := HashFile(context.Background(), video, Options{FPS: bc.fps})
				if err != nil {
					b.Fatal(err)
				}
				frames += len(hs)
			}
			cpu, wall := (cpuTime(b) - cpu0).Seconds(), time.Since(wall0).Seconds()
			videoSecs := float64(b.N * benchSeconds)
			b.ReportMetric(float64(frames)/wall, "frames/s")
			b.ReportMetric(videoSecs/wall, "x-realtime")
			b.ReportMetric(float64(frames)/cpu, "frames/cpu-s")
			b.ReportMetric(videoSecs/cpu, "x-realtime/cpu-s")
		})
	}
}

// BenchmarkVideoFramePDQ720p is the Go side alone: PDQ of one 1280x720
// frame at full size (what HashFile does, as the reference vPDQ does) and
// shrunk to 512 first (what pdq.Image does with pictures).
func BenchmarkVideoFramePDQ720p(b *testing.B) {
	video := video720p(b)
	var frame *image.RGBA
	if _, err := Frames(context.Background(), video, Options{FPS: 0.05}, func(f Frame) error {
		if frame == nil {
			src := f.Image.(*image.RGBA)
			frame = &image.RGBA{Pix: append([]byte(nil), src.Pix...), Stride: src.Stride, Rect: src.Rect}
		}
		return nil
	}); err != nil || frame == nil {
		b.Fatalf("no frame: %v", err)
	}
	h := pdq.NewHasher()
	b.Run("full-size", func(b *testing.B) {
		for b.Loop() {
			h.ImageFullSize(frame)
		}
	})
	b.Run("shrunk", func(b *testing.B) {
		for b.Loop() {
			h.Image(frame)
		}
	})
}
