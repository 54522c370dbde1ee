package review

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/jpeg"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/edges/fetch"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// mediaHost is a media server that records who asked.
type mediaHost struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*http.Request
}

// newMediaHost serves what body answers for the n-th request (from 0).
func newMediaHost(t *testing.T, body func(n int, r *http.Request) []byte) *mediaHost {
	h := &mediaHost{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		n := len(h.requests)
		h.requests = append(h.requests, r.Clone(context.Background()))
		h.mu.Unlock()
		// A host's declared type and cookies: neither may matter.
		w.Header().Set("Content-Type", "text/html")
		http.SetCookie(w, &http.Cookie{Name: "seen", Value: "reviewer-tracking"})
		_, _ = w.Write(body(n, r))
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *mediaHost) seen() []*http.Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*http.Request(nil), h.requests...)
}

// hashAsHasher fetches url as the hasher does (pkg/edges/fetch, loopback allowed)
// and returns the sha256 it would record.
func hashAsHasher(t *testing.T, rawURL string) string {
	t.Helper()
	c := fetch.NewClient(fetch.Config{Policy: fetch.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}})
	m, err := c.Fetch(context.Background(), rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return sha256Hex(m.Data)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func withSHA256(req *events.ReviewRequested, sum string) *events.ReviewRequested {
	req.Signals = []events.Signal{{Type: events.SignalSHA256, Value: sum}, {Type: events.SignalMD5, Value: strings.Repeat("0", 32)}}
	return req
}

// mediaConfig admits the test's media hosts (on 127.0.0.1 only).
func mediaConfig(t *testing.T) Config {
	cfg := testConfig(t)
	cfg.URLAllowlist = []string{"127.0.0.1"}
	return cfg
}

// The reviewer gets, from the review service, exactly the bytes the hasher
// hashed; the host sees the hasher's User-Agent and no cookie; the answer is
// labelled by sniffing (not by the host's "text/html") and kept from
// caches and rendering; the preview is a small greyscale derivative; and the
// kept copy goes when the item is decided.
func TestMediaServedIsTheHashedBytes(t *testing.T) {
	t.Parallel()
	cfg := mediaConfig(t)
	picture := syntheticPicture(t)
	host := newMediaHost(t, func(int, *http.Request) []byte { return picture })
	r := start(t, cfg)

	mediaURL := host.URL + "/media/upload-1.png"
	sum := hashAsHasher(t, mediaURL)
	req := withSHA256(newRequest(testenv.Name("hashed")), sum)
	req.MediaURL = mediaURL
	publish(t, cfg, requestMsg(t, cfg, req))
	r.waitItem(t, req.ContentID)
	item := r.itemURL(req.ContentID)

	if code, _ := call(t, http.MethodGet, item+"/media", nil); code != http.StatusUnauthorized {
		t.Fatalf("media without a token: %d, want 401", code)
	}
	resp, body := getMedia(t, tokenFor(t, "rita"), item+"/media")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("media: %d %s", resp.StatusCode, body)
	}
	if !bytes.Equal(body, picture) || sha256Hex(body) != sum {
		t.Fatalf("media served (%d bytes, sha256 %s) is not the hashed media (%d bytes, sha256 %s)", len(body), sha256Hex(body), len(picture), sum)
	}
	for h, want := range map[string]string{
		"Content-Type": "image/png", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
		"Content-Disposition": "inline", headerVerified: "true", headerSHA256: sum,
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q: want sandbox and default-src 'none'", csp)
	}

	resp, prev := getMedia(t, tokenFor(t, "rita"), item+"/preview")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" || resp.Header.Get(headerPreview) != "derived" ||
		resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("preview: %d %v", resp.StatusCode, resp.Header)
	}
	img, err := jpeg.Decode(bytes.NewReader(prev))
	if err != nil {
		t.Fatalf("preview is not a JPEG: %v", err)
	}
	if b := img.Bounds(); b.Dx() > previewSide || b.Dy() > previewSide {
		t.Errorf("preview is %dx%d: want at most %d on a side (the picture is 640x400)", b.Dx(), b.Dy(), previewSide)
	}
	if _, grey := img.(*image.Gray); !grey {
		t.Errorf("preview is a %T, want greyscale", img)
	}

	// Media, preview and the hasher: the host saw the same User-Agent each
	// time, and never its cookie back. The preview came from the kept copy.
	seen := host.seen()
	if len(seen) != 2 {
		t.Errorf("the host was asked %d times, want 2 (the hasher, then the review service once)", len(seen))
	}
	for i, hr := range seen {
		if hr.UserAgent() != seen[0].UserAgent() || hr.Header.Get("Cookie") != "" {
			t.Errorf("request %d to the host: User-Agent %q (the hasher's: %q), Cookie %q", i, hr.UserAgent(), seen[0].UserAgent(), hr.Header.Get("Cookie"))
		}
	}
	if r.svc.media.cache.get(req.ContentID) == nil {
		t.Fatalf("the verified media is not kept for the review")
	}
	if code, b := r.claim(t, req.ContentID, "rita"); code != http.StatusOK {
		t.Fatalf("claim: %d %s", code, b)
	}
	if code, b := r.decide(t, req.ContentID, "rita", events.DecisionViolating, "attack footage"); code != http.StatusOK {
		t.Fatalf("decide: %d %s", code, b)
	}
	if r.svc.media.cache.get(req.ContentID) != nil || r.svc.media.cache.size() != 0 {
		t.Errorf("the media is still kept after the decision (%d bytes)", r.svc.media.cache.size())
	}
}

// getMedia GETs with a bearer token and returns the response and its body.
func getMedia(t *testing.T, token, u string) (*http.Response, []byte) {
	t.Helper()
	return testenv.Get(t, u, token)
}

// A host that shows the hasher one picture and then another (cloaking) gets
// nothing shown: 502 and no bytes, media and preview alike. One that picks
// by User-Agent cannot tell the review service from the hasher.
func TestMediaCloakingRefused(t *testing.T) {
	t.Parallel()
	cfg := mediaConfig(t)
	real, shown := syntheticPicture(t), []byte("GIF89a harmless cat picture")
	byTurn := newMediaHost(t, func(n int, _ *http.Request) []byte {
		if n == 0 {
			return real
		}
		return shown
	})
	var hasherUA string
	byAgent := newMediaHost(t, func(n int, r *http.Request) []byte {
		if n == 0 {
			hasherUA = r.UserAgent()
		}
		if r.UserAgent() == hasherUA {
			return real
		}
		return shown
	})
	r := start(t, cfg)

	turned := newRequest(testenv.Name("cloaked"))
	turned.MediaURL = byTurn.URL + "/a.png"
	withSHA256(turned, hashAsHasher(t, turned.MediaURL))
	agent := newRequest(testenv.Name("by-agent"))
	agent.MediaURL = byAgent.URL + "/b.png"
	withSHA256(agent, hashAsHasher(t, agent.MediaURL))
	publish(t, cfg, requestMsg(t, cfg, turned), requestMsg(t, cfg, agent))
	r.waitItem(t, turned.ContentID)
	r.waitItem(t, agent.ContentID)

	for _, path := range []string{"/media", "/preview"} {
		resp, body := getMedia(t, tokenFor(t, "rita"), r.itemURL(turned.ContentID)+path)
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "media changed since it was hashed") {
			t.Errorf("%s of a cloaked upload: %d %s, want 502 media changed since it was hashed", path, resp.StatusCode, body)
		}
		if bytes.Contains(body, shown) || bytes.Contains(body, []byte("GIF89a")) || resp.Header.Get(headerVerified) != "" {
			t.Errorf("%s of a cloaked upload carries media: %q %v", path, body, resp.Header)
		}
	}
	if n := len(byTurn.seen()); n != 3 {
		t.Errorf("cloaking host asked %d times, want 3: changed media is never kept", n)
	}
	resp, body := getMedia(t, tokenFor(t, "rita"), r.itemURL(agent.ContentID)+"/media")
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, real) {
		t.Errorf("a host choosing by User-Agent: %d, %d bytes, want 200 and the %d bytes it showed the hasher", resp.StatusCode, len(body), len(real))
	}
}

var srcOrHref = regexp.MustCompile(`(?i)(src|href|data-src|action|poster)="([^"]*)"`)

// Refusals (a URL outside the allow-list, an item without a recorded
// sha256 unless it is unhashable, non-media bytes rendered), and the UI:
// the item page points at the service's preview and media, never at the
// media host, and serves both with the session cookie.
func TestMediaRefusalsAndUI(t *testing.T) {
	t.Parallel()
	cfg := mediaConfig(t)
	picture := syntheticPicture(t)
	host := newMediaHost(t, func(int, *http.Request) []byte { return picture })
	html := []byte("<!doctype html><html><script>alert(1)</script></html>")
	htmlHost := newMediaHost(t, func(int, *http.Request) []byte { return html })
	// 127.0.0.2 is loopback too, but not on the allow-list.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2: %v", err)
	}
	outside := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a media host outside the allow-list was reached: %s", r.URL)
	}))
	outside.Listener = ln
	outside.Start()
	defer outside.Close()
	r := start(t, cfg)

	refused := withSHA256(newRequest(testenv.Name("outside")), sha256Hex(picture))
	refused.MediaURL = outside.URL + "/c.png"
	unhashed := newRequest(testenv.Name("no-sha"))
	unhashed.MediaURL = host.URL + "/d.png"
	unhashable := newRequest(testenv.Name("unhashable"))
	unhashable.MediaURL = host.URL + "/e.png"
	unhashable.Reason = "unhashable (too_large): 80 MB over the 50 MB limit"
	unhashable.Unhashable = &events.Unhashable{Reason: events.UnhashableTooLarge, Detail: "80 MB over the 50 MB limit"}
	// A reason that merely says "unhashable" does not make an item
	// unhashable: only the field the enforcer sets does.
	unhashed.Reason = "unhashable (spoofed)"
	unhashable.Matches = []events.Match{}
	page := withSHA256(newRequest(testenv.Name("page")), sha256Hex(html))
	page.MediaURL = htmlHost.URL + "/f.png"
	shown := withSHA256(newRequest(testenv.Name("shown")), sha256Hex(picture))
	shown.MediaURL = host.URL + "/g.png?sig=abc&x=1"
	publish(t, cfg, requestMsg(t, cfg, refused), requestMsg(t, cfg, unhashed), requestMsg(t, cfg, unhashable),
		requestMsg(t, cfg, page), requestMsg(t, cfg, shown))
	for _, req := range []*events.ReviewRequested{refused, unhashed, unhashable, page, shown} {
		r.waitItem(t, req.ContentID)
	}
	tok := tokenFor(t, "rita")

	resp, body := getMedia(t, tok, r.itemURL(refused.ContentID)+"/media")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "refused by the fetch policy") {
		t.Errorf("media outside the allow-list: %d %s, want 502 refused by the fetch policy", resp.StatusCode, body)
	}
	resp, body = getMedia(t, tok, r.itemURL(unhashed.ContentID)+"/media")
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), "no sha256 was recorded") {
		t.Errorf("media without a recorded sha256: %d %s, want 409", resp.StatusCode, body)
	}
	resp, body = getMedia(t, tok, r.itemURL(unhashable.ContentID)+"/media")
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, picture) || resp.Header.Get(headerVerified) != "false" {
		t.Errorf("unhashable item's media: %d, %d bytes, verified %q; want 200, the picture, false",
			resp.StatusCode, len(body), resp.Header.Get(headerVerified))
	}
	resp, body = getMedia(t, tok, r.itemURL(page.ContentID)+"/media")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/octet-stream" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") || !bytes.Equal(body, html) {
		t.Errorf("HTML as media: %d %q %q, want an octet-stream attachment", resp.StatusCode,
			resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
	}
	resp, _ = getMedia(t, tok, r.itemURL(page.ContentID)+"/preview")
	if resp.StatusCode != http.StatusOK || resp.Header.Get(headerPreview) != "placeholder" {
		t.Errorf("preview of HTML: %d %q, want the placeholder", resp.StatusCode, resp.Header.Get(headerPreview))
	}

	b := newBrowser(t, r.base)
	b.login(tok)
	itemPath := "/ui/items/" + url.PathEscape(shown.ContentID)
	_, html2 := b.get(itemPath)
	for _, m := range srcOrHref.FindAllStringSubmatch(html2, -1) {
		if strings.Contains(m[2], host.URL[len("http://"):]) || strings.HasPrefix(m[2], "http") {
			t.Errorf("the item page points the browser at %s=%q", m[1], m[2])
		}
	}
	if !strings.Contains(html2, `id="preview"`) || !strings.Contains(html2, `src="`+itemPath+`/preview"`) ||
		!strings.Contains(html2, `data-src="`+itemPath+`/media"`) {
		t.Errorf("the item page does not show the service's preview and media:\n%s", html2)
	}
	if !strings.Contains(html2, "g.png?sig=abc&amp;x=1") {
		t.Errorf("the item page no longer shows the media URL as text")
	}
	if strings.Contains(html2, `id="unverified"`) {
		t.Errorf("a verified item is marked unverified")
	}
	if resp, _ := b.get(itemPath); !strings.Contains(resp.Header.Get("Content-Security-Policy"), "img-src 'self'") {
		t.Errorf("the UI's CSP lets images come from elsewhere: %q", resp.Header.Get("Content-Security-Policy"))
	}
	resp, _ = b.get(itemPath + "/preview")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("UI preview with the session cookie: %d", resp.StatusCode)
	}
	resp, body2 := b.get(itemPath + "/media")
	if resp.StatusCode != http.StatusOK || body2 != string(picture) {
		t.Errorf("UI media with the session cookie: %d, %d bytes", resp.StatusCode, len(body2))
	}
	_, upage := b.get("/ui/items/" + url.PathEscape(unhashable.ContentID))
	if !strings.Contains(upage, `id="unverified"`) {
		t.Errorf("the unhashable item's page does not warn that its media is unverified")
	}
	if resp, _ := newBrowser(t, r.base).get(itemPath + "/media"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("UI media without a session: %d, want 401", resp.StatusCode)
	}
}

// A video's preview is a frame reduced on the server, and its media answers
// the range requests a video element makes.
func TestMediaVideoPreview(t *testing.T) {
	t.Parallel()
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("no ffmpeg")
	}
	clip := filepath.Join(t.TempDir(), "clip.mp4")
	out, err := exec.Command(ffmpeg, "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10",
		"-t", "2", "-pix_fmt", "yuv420p", "-f", "mp4", clip).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	data, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	cfg := mediaConfig(t)
	host := newMediaHost(t, func(int, *http.Request) []byte { return data })
	r := start(t, cfg)
	req := withSHA256(newRequest(testenv.Name("video")), sha256Hex(data))
	req.ContentType = events.ContentVideo
	req.MediaURL = host.URL + "/v.mp4"
	publish(t, cfg, requestMsg(t, cfg, req))
	r.waitItem(t, req.ContentID)

	resp, prev := getMedia(t, tokenFor(t, "rita"), r.itemURL(req.ContentID)+"/preview")
	if resp.StatusCode != http.StatusOK || resp.Header.Get(headerPreview) != "derived" {
		t.Fatalf("video preview: %d %q", resp.StatusCode, resp.Header.Get(headerPreview))
	}
	img, err := jpeg.Decode(bytes.NewReader(prev))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != previewSide || b.Dy() != previewSide*240/320 {
		t.Errorf("video preview %v, want %dx%d", b, previewSide, previewSide*240/320)
	}
	hr, err := http.NewRequest(http.MethodGet, r.itemURL(req.ContentID)+"/media", nil)
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Authorization", "Bearer "+tokenFor(t, "rita"))
	hr.Header.Set("Range", "bytes=0-99")
	ranged, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	ranged.Body.Close()
	if ranged.StatusCode != http.StatusPartialContent || ranged.Header.Get("Content-Type") != "video/mp4" ||
		ranged.Header.Get("Content-Length") != "100" || ranged.Header.Get("Content-Disposition") != "inline" {
		t.Errorf("range of the video: %d %v", ranged.StatusCode, ranged.Header)
	}
}

// The kept media stays within its byte budget and its time.
func TestMediaCacheBounds(t *testing.T) {
	c := newMediaCache(100, 50*time.Millisecond)
	entry := func(n int) *mediaEntry { return &mediaEntry{data: make([]byte, n)} }
	c.put("a", entry(60))
	c.put("b", entry(30))
	c.addPreview("b", c.get("b"), 5)
	c.put("c", entry(40)) // over budget: a, closest to expiry, goes
	if c.get("a") != nil || c.get("b") == nil || c.get("c") == nil || c.size() != 75 {
		t.Errorf("after eviction: a %v, b %v, c %v, %d bytes; want b and c, 75 bytes", c.get("a") != nil, c.get("b") != nil, c.get("c") != nil, c.size())
	}
	c.put("huge", entry(101))
	if c.get("huge") != nil || c.size() != 75 {
		t.Errorf("media larger than the whole cache was kept")
	}
	c.drop("b")
	if c.get("b") != nil || c.size() != 40 {
		t.Errorf("after drop: %d bytes, want 40", c.size())
	}
	time.Sleep(60 * time.Millisecond)
	c.mu.Lock()
	c.sweepLocked(time.Now())
	c.mu.Unlock()
	if c.get("c") != nil || c.size() != 0 {
		t.Errorf("expired media still kept: %d bytes", c.size())
	}
}

// BenchmarkPreview measures deriving the preview of a 12-megapixel JPEG
// (a phone photo) on the server.
func BenchmarkPreview(b *testing.B) {
	img := image.NewRGBA(image.Rect(0, 0, 4000, 3000))
	for y := range 3000 {
		for x := range 4000 {
			img.Pix[(y*4000+x)*4], img.Pix[(y*4000+x)*4+1], img.Pix[(y*4000+x)*4+2], img.Pix[(y*4000+x)*4+3] = uint8(x), uint8(y), uint8(x^y), 255
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		b.Fatal(err)
	}
	g := &mediaGate{s: &Service{log: slog.New(slog.DiscardHandler)}}
	e := &mediaEntry{data: buf.Bytes(), mime: sniff(buf.Bytes())}
	b.ReportAllocs()
	for b.Loop() {
		if _, placeholder := g.derivePreview(context.Background(), e); placeholder {
			b.Fatal("no preview derived")
		}
	}
}
