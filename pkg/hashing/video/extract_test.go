package video

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// smallVideo makes a 2-second 160x120 test video at 10 fps.
func smallVideo(t testing.TB, dir, name string) string {
	return generate(t, filepath.Join(dir, name), "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=2",
		"-pix_fmt", "yuv420p")
}

// TestCaps checks the duration and resolution caps, read from the header
// before decoding: the Info is filled in and the error says why.
func TestCaps(t *testing.T) {
	dir := t.TempDir()
	video := smallVideo(t, dir, "small.mp4") // 160x120, 2 s
	tests := []struct {
		name string
		opts Options
		want error
	}{
		{"within", Options{MaxDuration: 3 * time.Second, MaxWidth: 160, MaxHeight: 120}, nil},
		{"too long", Options{MaxDuration: time.Second}, ErrTooLong},
		{"too wide", Options{MaxWidth: 159, MaxHeight: 120}, ErrTooLarge},
		{"too tall", Options{MaxWidth: 160, MaxHeight: 119}, ErrTooLarge},
		{"portrait caps fit a landscape video", Options{MaxWidth: 120, MaxHeight: 160}, nil},
		{"neither orientation", Options{MaxWidth: 150, MaxHeight: 150}, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := Probe(context.Background(), video, tt.opts)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Probe: %v, want %v", err, tt.want)
			}
			if info.Width != 160 || info.Height != 120 || info.Duration != 2*time.Second || info.FrameRate != 10 ||
				info.Codec != "h264" || !strings.Contains(info.Format, "mp4") {
				t.Errorf("Info %+v", info)
			}
			n := 0
			_, err = Frames(context.Background(), video, tt.opts, func(Frame) error { n++; return nil })
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Frames: %v, want %v", err, tt.want)
			}
			if tt.want != nil && n != 0 {
				t.Errorf("%d frames delivered from a refused video", n)
			}
		})
	}
}

// TestUnderstatedDuration checks the second line of defence: a file whose
// header does not give its duration (a Matroska stream written to a pipe)
// is decoded, and refused as soon as a frame past the cap is decoded, sampled
// or not.
func TestUnderstatedDuration(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	needFFmpeg(t)
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=4",
		"-c:v", "mjpeg", "-f", "matroska", "pipe:1")
	cmd.Stdout = &buf
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	video := filepath.Join(dir, "noduration.mkv")
	if err := os.WriteFile(video, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, fps := range []float64{-1, 1, 0.25} {
		t.Run(strconv.FormatFloat(fps, 'g', -1, 64), func(t *testing.T) {
			opts := Options{FPS: fps, MaxDuration: 1500 * time.Millisecond}
			info, err := Probe(context.Background(), video, opts)
			if err != nil || info.Duration != 0 {
				t.Fatalf("Probe: %+v, %v; want no duration and no error", info, err)
			}
			var last time.Duration
			_, err = Frames(context.Background(), video, opts, func(f Frame) error { last = f.Timestamp; return nil })
			if !errors.Is(err, ErrTooLong) {
				t.Fatalf("Frames: %v, want ErrTooLong", err)
			}
			if last > opts.MaxDuration {
				t.Errorf("a frame at %v was delivered, past the %v cap", last, opts.MaxDuration)
			}
		})
	}
}

// TestHostileInput checks that what is not a video in an accepted container
// is refused by ffprobe with ErrNotVideo, before ffmpeg runs.
func TestHostileInput(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	png := generate(t, filepath.Join(dir, "picture.png"), "-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1")
	pngData, err := os.ReadFile(png)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"text.mp4", []byte("this is a text file, not a video\nsecond line\n")},
		{"empty.mp4", nil},
		{"random.mp4", bytes.Repeat([]byte{0x13, 0x37, 0xfe, 0x01, 0x80}, 2000)},
		{"picture.mp4", pngData}, // pictures go through package mediahash
		{"concat.txt", []byte("ffconcat version 1.0\nfile '/etc/passwd'\n")},
		{"concat.mp4", []byte("ffconcat version 1.0\nfile 'file:/etc/hostname'\nfile 'http://127.0.0.1:9/x.mp4'\n")},
		{"local.m3u8", []byte("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n")},
		{"sdp.mp4", []byte("v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video 9 RTP/AVP 96\na=rtpmap:96 H264/90000\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			n := 0
			_, err := Frames(context.Background(), path, Options{}, func(Frame) error { n++; return nil })
			if !errors.Is(err, ErrNotVideo) {
				t.Fatalf("err %v, want ErrNotVideo", err)
			}
			if n != 0 {
				t.Errorf("%d frames delivered", n)
			}
			var te *ToolError
			if errors.As(err, &te) && te.Tool != "ffprobe" {
				t.Errorf("refused by %s, want ffprobe: %v", te.Tool, err)
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		if _, err := Probe(context.Background(), dir, Options{}); !errors.Is(err, ErrNotVideo) {
			t.Errorf("err %v, want ErrNotVideo", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		if _, err := Probe(context.Background(), filepath.Join(dir, "nothing.mp4"), Options{}); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("err %v, want fs.ErrNotExist", err)
		}
	})
}

// listen starts a TCP listener on the loopback that no test expects to be
// contacted; contacted reports whether anything connected to it.
func listen(t *testing.T) (addr string, contacted func() bool) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), func() bool {
		// A connection made (even one closed since) waits in the backlog:
		// the deadline only bounds the wait when there is none.
		if err := ln.(*net.TCPListener).SetDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		c, err := ln.Accept()
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
}

// hlsPlaylist is an HLS playlist whose segments are on addr.
func hlsPlaylist(addr string) []byte {
	return []byte(fmt.Sprintf("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n"+
		"#EXTINF:10.0,\nhttp://%s/segment0.ts\n#EXTINF:10.0,\nhttp://%s/segment1.ts\n#EXT-X-ENDLIST\n", addr, addr))
}

// TestNoNetwork checks that a crafted HLS playlist naming URLs on a local
// listener does not make ffprobe or ffmpeg connect, under any name. The
// first subtest shows that ffmpeg allowed to use http does connect, so the
// listener would see it. (ffmpeg 5.1's own default for a local playlist,
// file,crypto,data, refuses http too; the whitelists do not rely on it.)
func TestNoNetwork(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	t.Run("ffmpeg allowed http connects", func(t *testing.T) {
		addr, contacted := listen(t)
		path := filepath.Join(dir, "control.m3u8")
		if err := os.WriteFile(path, hlsPlaylist(addr), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-rw_timeout", "2000000",
			"-protocol_whitelist", "file,http,tcp", "-i", path, "-f", "null", "-").Run()
		if !contacted() {
			t.Fatal("plain ffmpeg did not connect to the listener: the test below could not see a connection")
		}
	})
	for _, name := range []string{"playlist.m3u8", "playlist.mp4", "playlist"} {
		t.Run(name, func(t *testing.T) {
			addr, contacted := listen(t)
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, hlsPlaylist(addr), 0o600); err != nil {
				t.Fatal(err)
			}
			// Were ffmpeg to connect, it would wait for an answer: the
			// timeout ends that, and the check below fails.
			_, _, err := HashFile(context.Background(), path, Options{Timeout: 15 * time.Second})
			if !errors.Is(err, ErrNotVideo) {
				t.Errorf("err %v, want ErrNotVideo", err)
			}
			if contacted() {
				t.Fatal("ffmpeg or ffprobe connected to the URL in the playlist")
			}
			// ffmpeg itself, past ffprobe, must refuse it too.
			p := probed{url: "file:" + path, info: Info{Width: 64, Height: 48}}
			o, _ := Options{}.withDefaults()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if err := extract(ctx, p, o, func(Frame) error { return nil }); !errors.Is(err, ErrCorrupt) {
				t.Errorf("ffmpeg on the playlist: %v, want ErrCorrupt", err)
			}
			if contacted() {
				t.Fatal("ffmpeg connected to the URL in the playlist")
			}
		})
	}
}

// TestInjectedLogLines checks that a container's metadata, which ffmpeg
// prints among the lines the frames are read from, cannot pass for one of
// them: a title holding a forged showinfo line changes nothing.
func TestInjectedLogLines(t *testing.T) {
	dir := t.TempDir()
	plain := smallVideo(t, dir, "plain.mkv")
	forged := "x\n[showinfo@post @ 0x1] [info] n:   0 pts:      0 pts_time:0 pos: 0 fmt:rgba sar:1/1 s:1x1 i:P\r\n" +
		"[showinfo@pre @ 0x1] [info] n: 99 pts: 0 pts_time:9999 s:1x1"
	crafted := generate(t, filepath.Join(dir, "crafted.mkv"), "-i", plain, "-c", "copy", "-metadata", "title="+forged,
		"-metadata:s:v:0", "title="+forged)
	want, _, err := HashFile(context.Background(), plain, Options{FPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := HashFile(context.Background(), crafted, Options{FPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("with forged log lines in its metadata: %d frames %v...; without: %d frames %v...",
			len(got), got[:min(2, len(got))], len(want), want[:min(2, len(want))])
	}
}

// TestFramePixels checks the pixels' layout and colours: a red, a green and
// a blue video give RGBA frames of those colours, opaque.
func TestFramePixels(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name    string
		r, g, b uint8
	}{{"red", 255, 0, 0}, {"lime", 0, 255, 0}, {"blue", 0, 0, 255}, {"white", 255, 255, 255}} {
		t.Run(c.name, func(t *testing.T) {
			video := generate(t, filepath.Join(dir, c.name+".mp4"), "-f", "lavfi", "-i",
				"color=c="+c.name+":size=64x48:rate=5:duration=1", "-pix_fmt", "yuv420p")
			n := 0
			_, err := Frames(context.Background(), video, Options{FPS: -1}, func(f Frame) error {
				n++
				img, ok := f.Image.(*image.RGBA)
				if !ok || img.Bounds() != image.Rect(0, 0, 64, 48) {
					return fmt.Errorf("frame %d: %T %v, want a 64x48 *image.RGBA", f.Index, f.Image, f.Image.Bounds())
				}
				p := img.Pix[img.PixOffset(32, 24):]
				near := func(a, b uint8) bool { return max(a, b)-min(a, b) <= 8 }
				if !near(p[0], c.r) || !near(p[1], c.g) || !near(p[2], c.b) || p[3] != 255 {
					return fmt.Errorf("frame %d: pixel %v, want about %v", f.Index, p[:4], []uint8{c.r, c.g, c.b, 255})
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if n != 5 {
				t.Errorf("%d frames, want 5", n)
			}
		})
	}
}

// TestVariableFrameRate checks sampling by time on a video whose frame rate
// changes: 10 fps for 2 seconds (every third frame of a 30 fps source), then
// 30 fps. At 1 per second the frames kept are the first of each second,
// numbered as decoded.
func TestVariableFrameRate(t *testing.T) {
	dir := t.TempDir()
	video := generate(t, filepath.Join(dir, "vfr.mkv"), "-f", "lavfi", "-i",
		"testsrc2=size=64x48:rate=30:duration=4,select=gte(t\\,2)+not(mod(n\\,3))",
		"-c:v", "mjpeg", "-fps_mode", "vfr")
	tests := []struct {
		fps       float64
		wantIndex []int
		wantTS    []time.Duration
	}{
		{1, []int{0, 10, 20, 50}, []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second}},
		{2, []int{0, 5, 10, 15, 20, 35, 50, 65}, nil},
	}
	for _, tt := range tests {
		t.Run(strconv.FormatFloat(tt.fps, 'g', -1, 64), func(t *testing.T) {
			var idx []int
			var ts []time.Duration
			if _, err := Frames(context.Background(), video, Options{FPS: tt.fps}, func(f Frame) error {
				idx, ts = append(idx, f.Index), append(ts, f.Timestamp)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(idx, tt.wantIndex) {
				t.Errorf("frames %v, want %v", idx, tt.wantIndex)
			}
			if tt.wantTS != nil && !slices.Equal(ts, tt.wantTS) {
				t.Errorf("timestamps %v, want %v", ts, tt.wantTS)
			}
		})
	}
}

// rotateMP4 sets the display matrix of an MP4's first track to a quarter
// turn, as a phone does for a video shot upright.
func rotateMP4(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte("tkhd"))
	if i < 0 || data[i+4] != 0 {
		t.Fatal("no version 0 tkhd box")
	}
	// type, version+flags, creation, modification, track, reserved,
	// duration, 8 reserved, layer, group, volume, reserved: the matrix.
	m := data[i+4+4+5*4+8+4*2:]
	for k, v := range []int32{0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000} {
		binary.BigEndian.PutUint32(m[4*k:], uint32(v))
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRotation checks that a video whose container says to turn it is
// delivered turned: a 160x120 picture with a white left half becomes 120x160
// with a white top or bottom half.
func TestRotation(t *testing.T) {
	dir := t.TempDir()
	video := generate(t, filepath.Join(dir, "rotated.mp4"), "-f", "lavfi", "-i",
		"color=c=black:size=160x120:rate=5:duration=1,drawbox=x=0:y=0:w=80:h=120:color=white:t=fill", "-pix_fmt", "yuv420p")
	rotateMP4(t, video)
	info, err := Probe(context.Background(), video, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Rotation != 90 && info.Rotation != 270 || info.Width != 120 || info.Height != 160 {
		t.Fatalf("Info %+v, want a quarter turn to 120x160", info)
	}
	n := 0
	_, err = Frames(context.Background(), video, Options{FPS: -1}, func(f Frame) error {
		n++
		img := f.Image.(*image.RGBA)
		if img.Bounds().Dx() != 120 || img.Bounds().Dy() != 160 {
			return fmt.Errorf("frame %v", img.Bounds())
		}
		lum := func(x, y int) uint8 { return img.Pix[img.PixOffset(x, y)] }
		left, right, bottom := lum(10, 20), lum(110, 20), lum(10, 140)
		if max(left, right)-min(left, right) > 30 || max(left, bottom)-min(left, bottom) < 200 {
			return fmt.Errorf("top left %d, top right %d, bottom left %d: the halves are not top and bottom", left, right, bottom)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("%d frames, want 5", n)
	}
}

// TestStop checks that fn's error stops decoding and is returned as is, and
// that cancelling the context does too.
func TestStop(t *testing.T) {
	dir := t.TempDir()
	video := smallVideo(t, dir, "small.mp4")
	errStop := errors.New("enough")
	n := 0
	_, err := Frames(context.Background(), video, Options{FPS: -1}, func(Frame) error {
		n++
		if n == 3 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) || n != 3 {
		t.Errorf("stopped after %d frames with %v, want 3 and errStop", n, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n = 0
	_, err = Frames(ctx, video, Options{FPS: -1}, func(Frame) error {
		n++
		if n == 2 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Errorf("cancelled after %d frames: %v, want context.Canceled", n, err)
	}
}

// TestTimeoutKillsProcessGroup runs a stand-in for ffmpeg that starts a
// child and hangs: Options.Timeout must end the call with ErrTimeout and
// kill the child too.
func TestTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	video := smallVideo(t, dir, "small.mp4")
	pidFile := filepath.Join(dir, "child.pid")
	fake := filepath.Join(dir, "fake-ffmpeg")
	script := "#!/bin/sh\nsleep 300 &\necho $! > '" + pidFile + "'\nwait\n"
	if err := os.WriteFile(fake, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Frames(context.Background(), video, Options{FFmpeg: fake, Timeout: 2 * time.Second}, func(Frame) error { return nil })
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want ErrTimeout and context.DeadlineExceeded", err)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the stand-in did not start its child: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	// The kill is sent before Frames returns; the child may take a moment
	// to be reaped by whoever inherits it.
	for deadline := time.Now().Add(10 * time.Second); alive(pid); {
		if time.Now().After(deadline) {
			t.Fatalf("child %d of the killed stand-in is still running", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...: the state follows the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestMissingTools checks ErrNoFFmpeg for either binary.
func TestMissingTools(t *testing.T) {
	dir := t.TempDir()
	video := smallVideo(t, dir, "small.mp4")
	for _, o := range []Options{{FFmpeg: filepath.Join(dir, "no-ffmpeg")}, {FFprobe: "no-such-ffprobe-binary"}} {
		if _, _, err := HashFile(context.Background(), video, o); !errors.Is(err, ErrNoFFmpeg) {
			t.Errorf("%+v: err %v, want ErrNoFFmpeg", o, err)
		}
	}
}

// TestInvalidOptions checks that bad options are refused before anything
// runs.
func TestInvalidOptions(t *testing.T) {
	for _, o := range []Options{
		{FPS: nan()}, {FPS: 1001}, {MaxDuration: -1}, {MaxWidth: -1}, {Timeout: -time.Second},
		{ResizeWidth: 128}, {ResizeHeight: 128}, {ResizeWidth: -1, ResizeHeight: -1}, {ResizeWidth: 9000, ResizeHeight: 10},
	} {
		if _, err := Probe(context.Background(), "/nonexistent", o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%+v: %v, want ErrInvalidOptions", o, err)
		}
	}
	if _, err := Frames(context.Background(), "/nonexistent", Options{}, nil); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("nil callback: %v, want ErrInvalidOptions", err)
	}
}

func nan() float64 { z := 0.0; return z / z }

// TestHashBytes checks that HashBytes equals HashFile and leaves no file
// behind, whether it succeeds or not.
func TestHashBytes(t *testing.T) {
	dir := t.TempDir()
	video := smallVideo(t, dir, "small.mp4")
	want, wantInfo, err := HashFile(context.Background(), video, Options{FPS: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 4 {
		t.Fatalf("%d hashes at 2 fps of 2 s, want 4", len(want))
	}
	data, err := os.ReadFile(video)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	got, info, err := HashBytes(context.Background(), data, Options{FPS: 2, TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) || info != wantInfo {
		t.Errorf("HashBytes %v %+v, HashFile %v %+v", got, info, want, wantInfo)
	}
	if _, _, err := HashBytes(context.Background(), []byte("not a video"), Options{TempDir: tmp}); !errors.Is(err, ErrNotVideo) {
		t.Errorf("text: %v, want ErrNotVideo", err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("left behind in the temporary directory: %v", left)
	}
	if _, _, err := HashBytes(context.Background(), data, Options{TempDir: filepath.Join(tmp, "missing")}); err == nil {
		t.Error("no error for a missing temporary directory")
	}
}

// TestCorruptVideo checks a container whose video data is destroyed: its
// header reads, nothing decodes, and the error says ErrCorrupt.
func TestCorruptVideo(t *testing.T) {
	dir := t.TempDir()
	video := generate(t, filepath.Join(dir, "small.mkv"), "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=2",
		"-c:v", "mjpeg")
	data, err := os.ReadFile(video)
	if err != nil {
		t.Fatal(err)
	}
	// Keep the header (EBML, segment info, tracks) and wipe every frame's
	// JPEG data after its start marker.
	for i := 0; i+1 < len(data); i++ {
		if data[i] == 0xff && data[i+1] == 0xd8 {
			for j := i + 2; j < len(data) && j < i+4000; j++ {
				data[j] = 0
			}
		}
	}
	if err := os.WriteFile(video, data, 0o600); err != nil {
		t.Fatal(err)
	}
	n := 0
	_, err = Frames(context.Background(), video, Options{FPS: -1}, func(Frame) error { n++; return nil })
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err %v after %d frames, want ErrCorrupt", err, n)
	}
	t.Logf("%d frames, %v", n, err)
}

// TestCrop decodes a red picture with a blue bar at its top: cropped below
// the bar, every pixel is red, at the crop's size or resized; a crop outside
// the frame is refused.
func TestCrop(t *testing.T) {
	video := generate(t, filepath.Join(t.TempDir(), "bar.mp4"), "-f", "lavfi", "-i",
		"color=c=red:size=64x48:rate=5:duration=1", "-vf", "drawbox=x=0:y=0:w=64:h=10:color=blue:t=fill", "-pix_fmt", "yuv444p")
	for _, c := range []struct {
		name string
		opts Options
		size image.Rectangle
	}{
		{"own size", Options{FPS: -1, Crop: image.Rect(0, 12, 64, 48)}, image.Rect(0, 0, 64, 36)},
		{"resized", Options{FPS: -1, Crop: image.Rect(0, 12, 64, 48), ResizeWidth: 32, ResizeHeight: 32}, image.Rect(0, 0, 32, 32)},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := 0
			info, err := Frames(context.Background(), video, c.opts, func(f Frame) error {
				n++
				img := f.Image.(*image.RGBA)
				if img.Bounds() != c.size {
					return fmt.Errorf("frame %d: %v, want %v", f.Index, img.Bounds(), c.size)
				}
				for y := range c.size.Dy() {
					for x := range c.size.Dx() {
						if p := img.Pix[img.PixOffset(x, y):]; p[0] < 200 || p[2] > 60 {
							return fmt.Errorf("frame %d: pixel (%d, %d) is %v, want red: the bar was not cropped off", f.Index, x, y, p[:4])
						}
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if n != 5 || info.Width != 64 || info.Height != 48 {
				t.Errorf("%d frames of %dx%d, want 5 of the video's own 64x48", n, info.Width, info.Height)
			}
		})
	}
	_, err := Frames(context.Background(), video, Options{Crop: image.Rect(0, 12, 65, 48)}, func(Frame) error { return nil })
	if !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("a crop outside the frame: %v, want ErrInvalidOptions", err)
	}
}
