package video

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/hashing/pdq"
)

// refFrame is one line of a reference hash file.
type refFrame struct {
	index   int
	quality int
	hash    pdq.Hash
	ts      float64 // seconds, 3 decimals
}

// readReference parses hashes/<name>.txt: frame_number,quality,pdq_hex,timestamp_seconds.
func readReference(t *testing.T, path string) []refFrame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []refFrame
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			continue
		}
		p := strings.Split(s, ",")
		if len(p) != 4 {
			t.Fatalf("%s:%d: %d fields, want 4", path, line, len(p))
		}
		idx, err1 := strconv.Atoi(p[0])
		q, err2 := strconv.Atoi(p[1])
		h, err3 := pdq.ParseHex(p[2])
		ts, err4 := strconv.ParseFloat(p[3], 64)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			t.Fatalf("%s:%d: bad line %q", path, line, s)
		}
		out = append(out, refFrame{idx, q, h, ts})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no frames", path)
	}
	return out
}

// refMaxDistance is the reference's regression rule: for frames where both
// qualities are at least refMinQuality, the hashes are within this distance.
const (
	refMaxDistance = 31
	refMinQuality  = 50
)

// distStats summarises per-frame distances.
type distStats struct{ ds []int }

func (s *distStats) add(d int) { s.ds = append(s.ds, d) }

func (s *distStats) exact() int {
	n := 0
	for _, d := range s.ds {
		if d == 0 {
			n++
		}
	}
	return n
}

func (s *distStats) mean() float64 {
	sum := 0
	for _, d := range s.ds {
		sum += d
	}
	return float64(sum) / float64(max(len(s.ds), 1))
}

func (s *distStats) String() string {
	if len(s.ds) == 0 {
		return "no frames"
	}
	return fmt.Sprintf("%d/%d exact, mean %.2f, max %d", s.exact(), len(s.ds), s.mean(), slices.Max(s.ds))
}

// TestVPDQConformance hashes every frame of each of the reference's sample
// videos and checks them against its published output: the same frame
// numbers, timestamps within half a millisecond (the files keep three
// decimals), and every pair of frames with both qualities at least 50
// within distance 31. The -128x128 files are the reference's hashes of
// frames resized to 128x128 first, which ResizeWidth/ResizeHeight do.
//
// Under the race detector (make test) every frame is still decoded and its
// number and timestamp checked, and every frame hashed at 128x128, but only
// every raceStride-th frame at full size: PDQ of 5,872 full-size frames takes
// minutes there. go test without -race checks every frame.
func TestVPDQConformance(t *testing.T) {
	dir := testdata(t)
	needFFmpeg(t)
	videos, err := filepath.Glob(filepath.Join(dir, "videos", "*.mp4"))
	if err != nil || len(videos) == 0 {
		t.Fatalf("no sample videos in %s (%v)", dir, err)
	}
	type variant struct {
		suffix string
		opts   Options
		stride int
	}
	variants := []variant{
		{"", Options{FPS: -1}, 1},
		{"-128x128", Options{FPS: -1, ResizeWidth: 128, ResizeHeight: 128}, 1},
	}
	if raceDetector {
		variants[0].stride = raceStride
	}
	var all [2]distStats
	var mu sync.Mutex
	checked := 0
	for _, video := range videos {
		name := strings.TrimSuffix(filepath.Base(video), ".mp4")
		for vi, v := range variants {
			refPath := filepath.Join(dir, "hashes", name+v.suffix+".txt")
			if _, err := os.Stat(refPath); err != nil {
				if v.suffix == "" {
					t.Errorf("%s: no reference hashes: %v", name, err)
				}
				continue
			}
			checked++
			t.Run(name+v.suffix, func(t *testing.T) {
				t.Parallel()
				ref := readReference(t, refPath)
				got, info, err := hashStride(video, v.opts, v.stride)
				if err != nil {
					t.Fatalf("HashFile: %v", err)
				}
				if len(got) != len(ref) {
					t.Fatalf("%d frames, the reference has %d (info %+v)", len(got), len(ref), info)
				}
				var st distStats
				for i, r := range ref {
					g := got[i]
					if g.Index != r.index {
						t.Fatalf("frame %d: number %d, the reference's %d", i, g.Index, r.index)
					}
					if d := math.Abs(g.Timestamp.Seconds() - r.ts); d > 0.0005+1e-9 {
						t.Errorf("frame %d: timestamp %v, the reference's %.3fs", r.index, g.Timestamp, r.ts)
					}
					if i%v.stride != 0 {
						continue
					}
					d := pdq.Distance(g.Hash, r.hash)
					st.add(d)
					if g.Quality >= refMinQuality && r.quality >= refMinQuality && d > refMaxDistance {
						t.Errorf("frame %d: distance %d > %d (qualities %d, %d)", r.index, d, refMaxDistance, g.Quality, r.quality)
					}
				}
				mu.Lock()
				all[vi].ds = append(all[vi].ds, st.ds...)
				mu.Unlock()
				t.Logf("%d frames %dx%d, %d hashed: %v", len(got), info.Width, info.Height, len(st.ds), &st)
			})
		}
	}
	if checked < len(videos) {
		t.Errorf("checked %d reference files for %d videos", checked, len(videos))
	}
	t.Cleanup(func() {
		t.Logf("all frames, full size: %v", &all[0])
		t.Logf("all frames, 128x128: %v", &all[1])
	})
}

// raceStride is how many frames of the full-size conformance run there are
// per frame hashed under the race detector.
const raceStride = 8

// hashStride is HashFile when stride is 1; otherwise every frame is
// delivered but only every stride-th hashed (the others have a zero hash).
func hashStride(path string, opts Options, stride int) ([]FrameHash, Info, error) {
	if stride <= 1 {
		return HashFile(context.Background(), path, opts)
	}
	h := pdq.NewHasher()
	var out []FrameHash
	info, err := Frames(context.Background(), path, opts, func(f Frame) error {
		if len(out)%stride == 0 {
			out = append(out, hashFrame(h, f))
		} else {
			out = append(out, FrameHash{Index: f.Index, Timestamp: f.Timestamp})
		}
		return nil
	})
	return out, info, err
}

// TestSampling checks sampling by time on a reference video (206 frames at
// 30 fps): at FPS f the delivered frames are the first of each 1/f-second
// interval, numbered as decoded, at their own timestamps, and hash exactly as
// the same frames do when every frame is delivered.
func TestSampling(t *testing.T) {
	dir := testdata(t)
	needFFmpeg(t)
	video := filepath.Join(dir, "videos", "pattern-sd-grey-bar.mp4")
	var all []int
	hashes := map[int]FrameHash{} // every 15th frame, all that the cases below sample
	h := pdq.NewHasher()
	_, err := Frames(context.Background(), video, Options{FPS: -1}, func(f Frame) error {
		all = append(all, f.Index)
		if f.Index%15 == 0 {
			hashes[f.Index] = hashFrame(h, f)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 206 || all[0] != 0 || all[205] != 205 {
		t.Fatalf("every frame: %d frames %v..., want 0..205", len(all), all[:min(len(all), 3)])
	}
	tests := []struct {
		fps  float64
		want []int
	}{
		{0, []int{0, 30, 60, 90, 120, 150, 180}}, // the default, 1 per second
		{1, []int{0, 30, 60, 90, 120, 150, 180}},
		{2, []int{0, 15, 30, 45, 60, 75, 90, 105, 120, 135, 150, 165, 180, 195}},
		{0.5, []int{0, 60, 120, 180}},
		{0.1, []int{0}},
	}
	for _, tt := range tests {
		t.Run(strconv.FormatFloat(tt.fps, 'g', -1, 64), func(t *testing.T) {
			got, _, err := HashFile(context.Background(), video, Options{FPS: tt.fps})
			if err != nil {
				t.Fatal(err)
			}
			var idx []int
			for _, f := range got {
				idx = append(idx, f.Index)
				e, ok := hashes[f.Index]
				if !ok {
					continue // reported by the index comparison
				}
				if f != e {
					t.Errorf("frame %d sampled: %v q%d at %v; delivered with every frame: %v q%d at %v",
						f.Index, f.Hash, f.Quality, f.Timestamp, e.Hash, e.Quality, e.Timestamp)
				}
				if wantTS := time.Duration(math.Round(float64(f.Index) * float64(time.Second) / 30)); f.Timestamp != wantTS {
					t.Errorf("frame %d at %v, want %v", f.Index, f.Timestamp, wantTS)
				}
			}
			if !slices.Equal(idx, tt.want) {
				t.Errorf("frames %v, want %v", idx, tt.want)
			}
		})
	}
	t.Run("above the frame rate", func(t *testing.T) {
		var idx []int
		if _, err := Frames(context.Background(), video, Options{FPS: 1000}, func(f Frame) error {
			idx = append(idx, f.Index)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(idx, all) {
			t.Errorf("%d frames, want all %d", len(idx), len(all))
		}
	})
}
