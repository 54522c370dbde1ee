package video

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func needPrlimit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("prlimit"); err != nil {
		if requireServices() {
			t.Fatalf("prlimit (util-linux) not installed: %v", err)
		}
		t.Skipf("prlimit (util-linux) not installed: %v", err)
	}
}

// wantLimit checks that err is a limit hit on resource.
func wantLimit(t *testing.T, err error, resource string) {
	t.Helper()
	var le *ResourceLimitError
	if !errors.Is(err, ErrResourceLimit) || !errors.As(err, &le) {
		t.Fatalf("err %v, want ErrResourceLimit", err)
	}
	if le.Resource != resource {
		t.Fatalf("limit hit on %s (%v), want %s", le.Resource, err, resource)
	}
}

// A decoder that spins (a stand-in for one looping on crafted input) is
// stopped by its CPU limit, long before the wall-clock timeout, and the
// error says so rather than blaming the file.
func TestCPULimitStopsASpinningDecoder(t *testing.T) {
	needPrlimit(t)
	dir := t.TempDir()
	video := smallVideo(t, dir, "small.mp4")
	fake := filepath.Join(dir, "spinning-ffmpeg")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nwhile :; do :; done\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := Frames(context.Background(), video, Options{FFmpeg: fake, CPULimit: time.Second, Timeout: time.Minute},
		func(Frame) error { return nil })
	wantLimit(t, err, "cpu")
	if errors.Is(err, ErrTimeout) || errors.Is(err, ErrCorrupt) {
		t.Errorf("err %v is also a timeout or a corrupt file", err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("stopped after %v: the CPU limit of 1 s did not act", took)
	}
}

// The real ffmpeg, decoding every frame of a reference video (about 3 s of
// CPU), is stopped by a 1 s CPU limit: it exits on SIGXCPU, and the error
// is the limit, not a corrupt video.
func TestCPULimitStopsFFmpeg(t *testing.T) {
	needPrlimit(t)
	needFFmpeg(t)
	video := filepath.Join(testdata(t), "videos", "chair-19-sd-bar.mp4")
	_, err := Frames(context.Background(), video, Options{FPS: -1, CPULimit: time.Second}, func(Frame) error { return nil })
	wantLimit(t, err, "cpu")
}

// ffmpeg under an address-space limit too small for its decoder threads
// fails to open the decoder: reported as the memory limit, not as a
// corrupt video.
func TestMemoryLimitStopsFFmpeg(t *testing.T) {
	needPrlimit(t)
	needFFmpeg(t)
	video := smallVideo(t, t.TempDir(), "small.mp4")
	_, err := Frames(context.Background(), video, Options{MemoryLimit: MinMemoryLimit}, func(Frame) error { return nil })
	wantLimit(t, err, "memory")
}

// A decoder killed by a signal nobody here sent (a segfault) is a crash,
// not a corrupt file.
func TestCrashedDecoder(t *testing.T) {
	dir := t.TempDir()
	video := smallVideo(t, dir, "small.mp4")
	fake := filepath.Join(dir, "crashing-ffmpeg")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nkill -SEGV $$\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Frames(context.Background(), video, Options{FFmpeg: fake}, func(Frame) error { return nil })
	if !errors.Is(err, ErrCrashed) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("err %v, want ErrCrashed", err)
	}
}

// The default limits leave the reference videos alone, every frame decoded.
func TestDefaultLimitsDecodeTheReferenceVideos(t *testing.T) {
	needPrlimit(t)
	needFFmpeg(t)
	video := filepath.Join(testdata(t), "videos", "pattern-hd-no-bar.mp4")
	n := 0
	if _, err := Frames(context.Background(), video, Options{FPS: -1}, func(Frame) error { n++; return nil }); err != nil || n == 0 {
		t.Fatalf("%d frames, err %v", n, err)
	}
}

// A network URL as ffmpeg's input is refused by the protocol whitelist,
// without a connection.
func TestNetworkInputRefused(t *testing.T) {
	needFFmpeg(t)
	for _, scheme := range []string{"http://", "tcp://"} {
		addr, contacted := listen(t)
		p := probed{url: scheme + addr + "/v.mp4", info: Info{Width: 64, Height: 48}}
		o, _ := Options{Timeout: 15 * time.Second}.withDefaults()
		err := extract(context.Background(), p, o, func(Frame) error { return nil })
		var te *ToolError
		if !errors.As(err, &te) || !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s input: %v, want ffmpeg to refuse it", scheme, err)
		} else if !strings.Contains(te.Stderr, "not on whitelist") {
			t.Errorf("%s input refused for another reason: %v", scheme, err)
		}
		if contacted() {
			t.Errorf("ffmpeg connected to the %s input", scheme)
		}
	}
}

// A tool that dies of SIGXCPU hit its CPU limit even when the CPU time
// reported for it is below the limit (RLIMIT_CPU and rusage are counted
// apart, and differ under load): it is the limit, not a crash.
func TestSIGXCPUIsTheCPULimit(t *testing.T) {
	cmd := exec.Command("sh", "-c", "kill -XCPU $$")
	if err := cmd.Run(); err == nil {
		t.Fatal("sh survived its own SIGXCPU")
	}
	err := limitError("ffmpeg", cmd, Options{CPULimit: time.Minute}, false, &tail{})
	wantLimit(t, err, "cpu")
}
