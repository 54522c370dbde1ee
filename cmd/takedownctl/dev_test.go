package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/cmd/takedownctl/internal/devstack"
	"github.com/takedown-pipeline/takedown/pkg/demo"
	"github.com/takedown-pipeline/takedown/pkg/edges/webhook"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/matching/policy"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// TestDevDemo runs what `make run` runs — the built binaries on the embedded
// Kafka and Redis — and checks that every demo upload takes its path, that
// the demo platform receives the two takedowns (four with the video demo,
// which needs ffmpeg), and that Ctrl-C stops every service cleanly.
func TestDevDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the whole pipeline")
	}
	bin := devBinaries(t)
	base := freeRange(t, len(devServices)+1)
	d := startDev(t, bin, base, "TAKEDOWN_DEMO_PLATFORM_ADDR=127.0.0.1:0")
	cmd, lines, read := d.cmd, d.lines, d.read
	read("Running until Ctrl-C.", 3*time.Minute)
	all := strings.Join(*d.out, "\n")
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
	// The same file sent again under the same content id is a repeat: it is
	// served at the same URL, which ingest answers as already accepted.
	again := []string{"TAKEDOWN_INGEST_KEY_ID=" + keyID, "TAKEDOWN_INGEST_KEY_SECRET=" + secret, "TAKEDOWN_CONTENT_ID=ctl-again"}
	if got, err := submit(again...); err != nil || !strings.Contains(got, `"status":"accepted"`) {
		t.Errorf("submit --content-id ctl-again: %v\n%s", err, got)
	}
	if got, err := submit(again...); err != nil || !strings.Contains(got, `"status":"already_accepted"`) {
		t.Errorf("the same file sent again under the same content id: %v\n%s, want already_accepted", err, got)
	}

	// submit --wait follows uploads to their outcome: the demo's own
	// copies (removed; queued for review with its link), an unrelated
	// picture (no match: the matcher's verdict says it was checked), and
	// an upload ingest refuses (and why).
	set, err := demo.NewSet(context.Background(), 1, policy.Default(), bank.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reviewBase := fmt.Sprintf("http://127.0.0.1:%d", base+devReview)
	wait := func(target string) (string, error) {
		c := exec.Command(filepath.Join(bin, "takedownctl"), "submit", target, "--wait", "--timeout", "90s",
			"--kafka-brokers", fmt.Sprintf("127.0.0.1:%d", base+len(devServices)), "--review-url", reviewBase)
		c.Env = append(os.Environ(), fmt.Sprintf("TAKEDOWN_INGEST_URL=http://127.0.0.1:%d", base),
			"TAKEDOWN_INGEST_KEY_ID="+keyID, "TAKEDOWN_INGEST_KEY_SECRET="+secret)
		b, err := c.CombinedOutput()
		return string(b), err
	}
	dir := t.TempDir()
	for _, m := range set.Uploads {
		var want []string
		switch m.Expect {
		case policy.ActionRemove:
			want = []string{"outcome: removed (trigger auto)"}
		case policy.ActionReview:
			want = []string{"outcome: queued for review: ", "review it at " + reviewBase + "/ui/items/demo:ctl-"}
		default:
			continue // the unrelated picture below
		}
		path := filepath.Join(dir, m.Name)
		if err := os.WriteFile(path, m.Data, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := wait(path)
		t.Logf("submit --wait %s:\n%s", m.Name, got)
		want = append(want, "  ingested ", "  hashed ", "  matched ", " took ")
		for _, w := range want {
			if err != nil || !strings.Contains(got, w) {
				t.Errorf("submit --wait %s: %v, output lacks %q:\n%s", m.Name, err, w, got)
				break
			}
		}
	}
	got, err := wait(pic)
	t.Logf("submit --wait of an unrelated picture:\n%s", got)
	if err != nil || !strings.Contains(got, "outcome: no match") || !strings.Contains(got, "  matched ") {
		t.Errorf("submit --wait of an unrelated picture: %v\n%s", err, got)
	}
	if got, err := wait("http://10.9.8.7/x.jpg"); err == nil || !strings.Contains(got, "refused the upload (400") || !strings.Contains(got, "10.9.8.7") {
		t.Errorf("submit --wait of a private address: %v\n%s", err, got)
	}

	// The printed lead token carries the stack's issuer and audience and
	// opens the review API; the UI, on plain http, sets no Secure cookie
	// (cookie-secure=false in the dev stack only).
	req, err := http.NewRequest(http.MethodGet, reviewBase+"/v1/items?state=pending", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+printedSetting(all, "TOKEN="))
	// The ready-made sign-in link carries the same token in its fragment
	// (TestBrowserSignInLink in the review service signs in with one).
	if link := printedSetting(all, reviewBase+"/ui/login#token="); link == "" || link != url.QueryEscape(printedSetting(all, "TOKEN=")) {
		t.Errorf("takedownctl dev printed no sign-in link with the lead token: %q", link)
	}
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Error(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("the printed lead token: review API answered %d, want 200", resp.StatusCode)
		}
	}
	// The printed review key signs tokens for others (the reviewer
	// guide's API example mints a reviewer's with it).
	if tok, err := devToken(printedSetting(all, "REVIEW_SECRET="), "dev", "alice", []string{"reviewer"}, time.Hour, devIssuer, devAudience); err != nil {
		t.Errorf("the printed review key: %v", err)
	} else {
		req.Header.Set("Authorization", "Bearer "+tok)
		if resp, err := http.DefaultClient.Do(req); err != nil {
			t.Error(err)
		} else {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("a token signed with the printed review key: review API answered %d, want 200", resp.StatusCode)
			}
		}
	}
	// The demo platform shows the takedowns it received, as they arrived:
	// the demo's, and the removals of the copies submitted above.
	var kept []webhook.Takedown
	if resp, err := http.Get(strings.TrimSuffix(printedSetting(all, "demo platform on "), ":") + "/takedowns"); err != nil {
		t.Error(err)
	} else {
		err := json.NewDecoder(resp.Body).Decode(&kept)
		resp.Body.Close()
		if err != nil || len(kept) < want+2 {
			t.Errorf("GET /takedowns of the demo platform: %d takedowns (%v), want %d", len(kept), err, want+2)
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
		*d.out = append(*d.out, l)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("takedownctl dev exited with %v after Ctrl-C", err)
	}
	if n := strings.Count(strings.Join(*d.out, "\n"), "stopped cleanly"); n != len(devServices) {
		t.Errorf("%d of %d services stopped cleanly:\n%s", n, len(devServices), strings.Join(*d.out, "\n"))
	}
}

// devBinaries builds takedownctl and the five services, once per test run,
// into one folder (dev runs the services from its own), and returns it.
func devBinaries(t *testing.T) string {
	t.Helper()
	for _, s := range devServices {
		testenv.Binary(t, "github.com/takedown-pipeline/takedown/services/"+s)
	}
	return filepath.Dir(testenv.Binary(t, "."))
}

func TestMain(m *testing.M) { testenv.Main(m) }

// devRun is a running `takedownctl dev`: its output lines and what was read
// of them so far.
type devRun struct {
	cmd   *exec.Cmd
	lines chan string
	out   *[]string
	read  func(until string, within time.Duration)
}

// startDev runs `takedownctl dev` from bin with the services at base (Kafka
// at base+5), no TAKEDOWN_* variable of the test's own environment, and env.
func startDev(t *testing.T, bin string, base int, env ...string) devRun {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "takedownctl"), "dev")
	cmd.Env = append(testenv.Environ("TAKEDOWN_"),
		fmt.Sprintf("TAKEDOWN_DEV_KAFKA_PORT=%d", base+len(devServices)),
		fmt.Sprintf("TAKEDOWN_DEV_PORT_BASE=%d", base))
	cmd.Env = append(cmd.Env, env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	out := new([]string)
	read := func(until string, within time.Duration) {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("takedownctl dev ended before %q:\n%s", until, strings.Join(*out, "\n"))
				}
				*out = append(*out, l)
				if strings.Contains(l, until) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q within %s:\n%s", until, within, strings.Join(*out, "\n"))
			}
		}
	}
	return devRun{cmd: cmd, lines: lines, out: out, read: read}
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

// TestDevSettings runs `takedownctl dev` under the documented combinations
// of its settings other than the defaults (TestDevDemo): a real webhook
// endpoint with its secret (and a real Redis when the test environment has
// one), a real endpoint without a secret, and no demo with a given secret
// and a data directory.
func TestDevSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the whole pipeline")
	}
	bin := devBinaries(t)

	t.Run("webhook-url", func(t *testing.T) {
		const secret = "the-platform-secret"
		var mu sync.Mutex
		var got []webhook.Takedown
		// The project's own receiver: it verifies every request's
		// signature with the secret and rejects the rest.
		recv := &webhook.Receiver{Secret: []byte(secret), OnTakedown: func(td webhook.Takedown) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, td)
		}}
		srv := httptest.NewServer(recv)
		defer srv.Close()
		env := []string{"TAKEDOWN_DEMO_PLATFORM_ADDR=127.0.0.1:0", "TAKEDOWN_WEBHOOK_URL=" + srv.URL + "/takedowns", "TAKEDOWN_WEBHOOK_SECRET=" + secret}
		if addr := os.Getenv("TAKEDOWN_TEST_REDIS_ADDR"); addr != "" {
			env = append(env, "TAKEDOWN_REDIS_ADDR="+addr)
		}
		d := startDev(t, bin, freeRange(t, len(devServices)+1), env...)
		d.read("Running until Ctrl-C.", 3*time.Minute)
		all := strings.Join(*d.out, "\n")
		for _, want := range []string{
			"takedowns go to " + srv.URL + "/takedowns",
			"exact-copy.jpg   expected remove  got remove succeeded",
			"altered-copy.jpg expected remove  got remove succeeded",
			"weaker-copy.jpg  expected review  got queue_for_review succeeded",
			"unrelated.jpg    expected none    got no match",
		} {
			if !strings.Contains(all, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		if strings.Contains(all, "[platform] TAKEDOWN received") {
			t.Errorf("the demo platform received a takedown meant for the real endpoint")
		}
		mu.Lock()
		defer mu.Unlock()
		var ids []string
		for _, td := range got {
			ids = append(ids, td.ContentID)
		}
		want := []string{"-altered-copy", "-exact-copy"}
		if _, err := exec.LookPath("ffmpeg"); err == nil {
			// The video demo runs too, learning of its takedowns from the
			// audit records, as the real endpoint gets them.
			want = append(want, "-live", "-video-copy")
			for _, line := range []string{"video-copy.mp4  -> remove: ", "live stream      -> stop_stream after "} {
				if !strings.Contains(all, line) {
					t.Errorf("output lacks %q", line)
				}
			}
		}
		// The picture and video demos name their uploads after runs of
		// their own: compare the names' ends.
		match := len(ids) == len(want)
		for _, w := range want {
			match = match && slices.IndexFunc(ids, func(id string) bool { return strings.HasSuffix(id, w) }) >= 0
		}
		if !match {
			t.Errorf("the endpoint received takedowns of %v, want one of each of %v", ids, want)
		}
		if n := recv.Rejected(); n != 0 {
			t.Errorf("the endpoint rejected %d requests (signature?)", n)
		}
		if t.Failed() {
			t.Logf("output:\n%s", all)
		}
	})

	t.Run("webhook-url-without-secret", func(t *testing.T) {
		cmd := exec.Command(filepath.Join(bin, "takedownctl"), "dev")
		cmd.Env = append(os.Environ(), "TAKEDOWN_WEBHOOK_URL=http://127.0.0.1:1/x", "TAKEDOWN_WEBHOOK_SECRET=")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "TAKEDOWN_WEBHOOK_SECRET is required") {
			t.Errorf("err %v, output:\n%s", err, out)
		}
		if strings.Contains(string(out), "embedded Kafka") {
			t.Errorf("started the stack before refusing:\n%s", out)
		}
	})

	t.Run("no-demo", func(t *testing.T) {
		dir := t.TempDir()
		d := startDev(t, bin, freeRange(t, len(devServices)+1), "TAKEDOWN_DEMO=false", "TAKEDOWN_WEBHOOK_SECRET=given",
			"TAKEDOWN_DEV_DATA_DIR="+dir, "TAKEDOWN_DEMO_PLATFORM_ADDR=127.0.0.1:0")
		d.read("Running until Ctrl-C.", 3*time.Minute)
		all := strings.Join(*d.out, "\n")
		if strings.Contains(all, "=== demo") {
			t.Errorf("TAKEDOWN_DEMO=false ran the demo:\n%s", all)
		}
		if !strings.Contains(all, "takedowns arrive at /webhook") {
			t.Errorf("no demo platform webhook:\n%s", all)
		}
		// takedownctl --version and every service's start-up line name
		// the same version, the one of service.version.
		var version string
		for _, arg := range []string{"--version", "version"} {
			b, err := exec.Command(filepath.Join(bin, "takedownctl"), arg).Output()
			f := strings.Fields(string(b))
			if err != nil || len(f) < 2 || f[0] != "takedownctl" {
				t.Fatalf("takedownctl %s: %v: %q", arg, err, b)
			}
			version = f[1]
		}
		for _, name := range devServices {
			re := regexp.MustCompile(`(?m)^\[` + name + ` *\] .*msg=starting service=` + name + ` version=` + regexp.QuoteMeta(version) + ` revision=`)
			if !re.MatchString(all) {
				t.Errorf("%s logged no start-up line with version %s:\n%s", name, version, all)
			}
		}
		if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		for range d.lines {
		}
		if err := d.cmd.Wait(); err != nil {
			t.Errorf("exit after Ctrl-C: %v", err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) == 0 {
			t.Errorf("the embedded Kafka kept nothing in TAKEDOWN_DEV_DATA_DIR")
		}
	})
}
