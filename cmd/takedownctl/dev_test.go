package main

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/cmd/takedownctl/internal/devstack"
)

// TestDevDemo runs what `make run` runs — the built binaries on the embedded
// Kafka and Redis — and checks that every demo upload takes its path, that
// the demo platform receives the two takedowns (four with the video demo,
// which needs ffmpeg), and that Ctrl-C stops every service cleanly.
func TestDevDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the whole pipeline")
	}
	bin := t.TempDir()
	for _, target := range append([]string{"takedownctl"}, devServices...) {
		pkg := "github.com/takedown-pipeline/takedown/services/" + target
		if target == "takedownctl" {
			pkg = "."
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(bin, target), pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("build %s: %v\n%s", target, err, out)
		}
	}
	base := freeRange(t, len(devServices)+1)
	kafkaPort := base + len(devServices)

	cmd := exec.Command(filepath.Join(bin, "takedownctl"), "dev")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TAKEDOWN_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env,
		fmt.Sprintf("TAKEDOWN_DEV_KAFKA_PORT=%d", kafkaPort),
		fmt.Sprintf("TAKEDOWN_DEV_PORT_BASE=%d", base),
		"TAKEDOWN_DEMO_PLATFORM_ADDR=127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var out []string
	read := func(until string, within time.Duration) {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("takedownctl dev ended before %q:\n%s", until, strings.Join(out, "\n"))
				}
				out = append(out, l)
				if strings.Contains(l, until) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q within %s:\n%s", until, within, strings.Join(out, "\n"))
			}
		}
	}
	read("Running until Ctrl-C.", 3*time.Minute)
	all := strings.Join(out, "\n")
	for _, want := range []string{
		"exact-copy.jpg   expected remove  got remove succeeded",
		"altered-copy.jpg expected remove  got remove succeeded",
		"weaker-copy.jpg  expected review  got queue_for_review succeeded",
		"unrelated.jpg    expected none    got no match",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", all)
	}
	want := 2
	if _, err := exec.LookPath("ffmpeg"); err == nil {
		// The video demo: an altered copy removed, the live stream stopped
		// before its end.
		want = 4
		if !strings.Contains(all, "video-copy.mp4  -> remove: ") {
			t.Errorf("demo output lacks the video copy's removal")
		}
		// 6 s (stream-match) of the known video are in after segment 4 (the
		// 5th of 12): two segments of other footage come first.
		var n, of int
		if i := strings.Index(all, "live stream      -> stop_stream after "); i < 0 {
			t.Errorf("demo output lacks the live stream's stop")
		} else if _, err := fmt.Sscanf(all[i:], "live stream      -> stop_stream after %d of %d segments", &n, &of); err != nil || n < 5 || n >= of {
			t.Errorf("the live stream was stopped after %d of %d segments (%v), want from 5 on, before the end", n, of, err)
		}
	} else if os.Getenv("TAKEDOWN_TEST_REQUIRE_SERVICES") == "1" {
		t.Errorf("ffmpeg missing: the video demo did not run")
	}
	if n := strings.Count(all, "[platform] TAKEDOWN received"); n != want {
		t.Errorf("the demo platform logged %d takedowns, want %d", n, want)
	}

	// takedownctl submit against the running stack: unsigned it is refused
	// (ingest takes signed requests only), signed with the printed key it
	// is accepted as the demo client's, and the hasher fetches the file.
	keyID, secret := printedSetting(all, "TAKEDOWN_INGEST_KEY_ID="), printedSetting(all, "TAKEDOWN_INGEST_KEY_SECRET=")
	if keyID == "" || len(secret) < 32 {
		t.Fatalf("takedownctl dev printed no ingest key:\n%s", all)
	}
	pic := filepath.Join(t.TempDir(), "picture.png")
	writePicture(t, pic)
	submit := func(env ...string) (string, error) {
		c := exec.Command(filepath.Join(bin, "takedownctl"), "submit", pic)
		c.Env = append(os.Environ(), fmt.Sprintf("TAKEDOWN_INGEST_URL=http://127.0.0.1:%d", base))
		c.Env = append(c.Env, env...)
		b, err := c.CombinedOutput()
		return string(b), err
	}
	if got, err := submit(); err == nil || !strings.Contains(got, "401") || !strings.Contains(got, "TAKEDOWN_INGEST_KEY_ID") {
		t.Errorf("unsigned submit: %v\n%s", err, got)
	}
	if got, err := submit("TAKEDOWN_INGEST_KEY_ID="+keyID, "TAKEDOWN_INGEST_KEY_SECRET="+secret+"x"); err == nil || !strings.Contains(got, "401") {
		t.Errorf("submit with a wrong secret: %v\n%s", err, got)
	}
	if got, err := submit("TAKEDOWN_INGEST_KEY_ID="+keyID, "TAKEDOWN_INGEST_KEY_SECRET="+secret); err != nil || !strings.Contains(got, `"client_id":"demo"`) {
		t.Errorf("signed submit: %v\n%s", err, got)
	}

	// The printed lead token carries the stack's issuer and audience and
	// opens the review API; the UI, on plain http, sets no Secure cookie
	// (cookie-secure=false in the dev stack only).
	reviewBase := fmt.Sprintf("http://127.0.0.1:%d", base+devReview)
	req, err := http.NewRequest(http.MethodGet, reviewBase+"/v1/items?state=pending", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+printedSetting(all, "TOKEN="))
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Error(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("the printed lead token: review API answered %d, want 200", resp.StatusCode)
		}
	}
	if resp, err := http.Get(reviewBase + "/ui/login"); err != nil {
		t.Error(err)
	} else {
		resp.Body.Close()
		if c := resp.Header.Get("Set-Cookie"); c == "" || strings.Contains(c, "Secure") {
			t.Errorf("the dev stack's login page set cookie %q, want one without Secure", c)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		out = append(out, l)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("takedownctl dev exited with %v after Ctrl-C", err)
	}
	if n := strings.Count(strings.Join(out, "\n"), "stopped cleanly"); n != len(devServices) {
		t.Errorf("%d of %d services stopped cleanly:\n%s", n, len(devServices), strings.Join(out, "\n"))
	}
}

// freeRange finds n consecutive free ports on 127.0.0.1, below Linux's
// ephemeral range (32768 and up) so that no outgoing connection of a test
// running beside this one can take a port between the check and the bind.
func freeRange(t *testing.T, n int) int {
	for range 100 {
		base := 20000 + rand.IntN(12000)
		ok := true
		for p := base; p < base+n && ok; p++ {
			ok = devstack.PortFree(p)
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

// printedSetting returns the value printed after name (up to the end of the
// line or a space) in out.
func printedSetting(out, name string) string {
	i := strings.Index(out, name)
	if i < 0 {
		return ""
	}
	v := out[i+len(name):]
	if j := strings.IndexAny(v, " \n"); j >= 0 {
		v = v[:j]
	}
	return v
}

// writePicture writes a small PNG, unlike any bank entry, to path.
func writePicture(t *testing.T, path string) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for y := range 64 {
		for x := range 64 {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 4), uint8((x ^ y) * 4), 255})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}
