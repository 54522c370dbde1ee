package review

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// envUpdateScreenshot set to 1 makes TestBrowserReviewFlow refresh
// docs/review-ui.png, the reviewer guide's screenshot.
const envUpdateScreenshot = "TAKEDOWN_UPDATE_SCREENSHOT"

// syntheticPicture is a made-up scene (sky, ground, shapes) standing in for
// the media under review.
func syntheticPicture(t *testing.T) []byte {
	t.Helper()
	const w, h = 640, 400
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{uint8(40 + y*120/h), uint8(90 + y*100/h), uint8(200 - y*80/h), 255} // sky
			if y > h*2/3 {
				c = color.RGBA{uint8(70 + x*60/w), 110, 50, 255} // ground
			}
			if dx, dy := x-470, y-110; dx*dx+dy*dy < 50*50 {
				c = color.RGBA{250, 200, 60, 255} // sun
			}
			if x > 120 && x < 300 && y > 150 && y < 300 {
				c = color.RGBA{150, 40, 40, 255} // building
			}
			if x > 160 && x < 200 && y > 190 && y < 240 {
				c = color.RGBA{240, 240, 210, 255} // window
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The reviewer's day in a real headless Chromium: sign in with a token, see
// the queue with the incident item first, open it, find the server's
// blurred greyscale preview, reveal the media (from the review service,
// never the media host), claim and decide with keyboard shortcuts, and the
// decision is recorded and published.
func TestBrowserReviewFlow(t *testing.T) {
	cfg := mediaConfig(t)
	picture := syntheticPicture(t)
	media := newMediaHost(t, func(int, *http.Request) []byte { return picture })
	r := start(t, cfg)

	attack := newRequest(testenv.Name("upload-7731"))
	attack.MediaURL = media.URL + "/media/upload-7731.png"
	withSHA256(attack, hashAsHasher(t, attack.MediaURL))
	attack.Reason = "pdq distance 19 is above the auto-removal distance 16"
	attack.Matches = []events.Match{
		{Bank: "incident-2026-11", EntryID: "crop90-17-50:9f2c41d0", Labels: []string{"incident:2026-11", "source:gifct-cip"},
			SignalType: events.SignalPDQ, Signal: strings.Repeat("ab", 32), Distance: 19, Threshold: 31, Variant: "trim",
			Incident: true, Severity: events.SeverityCritical},
		{Bank: "tat-hashlist", EntryID: "pdq-5f3a9c2e11d04b7a", Labels: []string{"category:violent-extremism", "source:tat"},
			SignalType: events.SignalPDQ, Signal: strings.Repeat("cd", 32), Distance: 27, Threshold: 31, Severity: events.SeverityHigh},
	}
	routine := newRequest(testenv.Name("upload-7702"))
	routine.Matches[0].Severity = events.SeverityLow
	publish(t, cfg, requestMsg(t, cfg, routine), requestMsg(t, cfg, attack))
	r.waitItem(t, routine.ContentID)
	r.waitItem(t, attack.ContentID)

	p := startChromium(t, 1280, 900)
	p.navigate(r.base + "/ui/queue")
	p.waitPage("/ui/queue", "document.getElementById('token') !== null") // the sign-in form
	p.eval("document.getElementById('token').value = "+jsString(tokenFor(t, "rita"))+"; document.getElementById('login-button').click(); true", nil)
	p.waitPage("/ui/queue", "document.getElementById('pending') !== null")

	var rows []struct {
		ID   string `json:"id"`
		Text string `json:"text"`
	}
	p.eval(`Array.from(document.querySelectorAll('#pending tbody tr')).map(tr => ({id: tr.dataset.id, text: tr.innerText}))`, &rows)
	if len(rows) != 2 || rows[0].ID != attack.ContentID || !strings.Contains(rows[0].Text, "INCIDENT") || rows[1].ID != routine.ContentID {
		t.Fatalf("queue rows %+v: want the incident item first, marked", rows)
	}

	itemPath := "/ui/items/" + url.PathEscape(attack.ContentID)
	p.eval(`document.querySelector('#pending tbody tr a').click(); true`, nil)
	p.waitPage(itemPath, "document.getElementById('claim-button') !== null")
	p.press("c")
	p.waitPage(itemPath, "document.getElementById('decision-form') !== null")
	// Before the reveal: the server's preview, 32 pixels across, and no
	// request for the media itself.
	p.waitPage(itemPath, "document.getElementById('preview').complete && document.getElementById('preview').naturalWidth > 0")
	if w := p.evalString(`String(document.getElementById('preview').naturalWidth)`); w != "32" {
		t.Errorf("preview is %s pixels wide, want the server's 32-pixel derivative", w)
	}
	if src := p.evalString(`document.getElementById('media').getAttribute('src') || ''`); src != "" {
		t.Errorf("the media is loaded before the reveal: src %q", src)
	}
	shown := func() string {
		return p.evalString(`(document.getElementById('preview').hidden ? '' : 'preview') + (document.getElementById('media').hidden ? '' : 'media')`)
	}
	if s := shown(); s != "preview" {
		t.Fatalf("before reveal the page shows %q, want the preview only", s)
	}
	filter := func() string { return p.evalString(`getComputedStyle(document.getElementById('preview')).filter`) }
	if f := filter(); f != "blur(24px) grayscale(1)" {
		t.Fatalf("preview filter %q, want blur(24px) grayscale(1)", f)
	}
	var evidence []string
	p.eval(`Array.from(document.querySelectorAll('#evidence tbody tr')).map(tr => tr.innerText)`, &evidence)
	if len(evidence) != 2 || !strings.Contains(evidence[0], "incident-2026-11") || !strings.Contains(evidence[0], "19 / 31") ||
		!strings.Contains(evidence[0], "trim") || !strings.Contains(evidence[1], "tat-hashlist") {
		t.Errorf("evidence rows %q", evidence)
	}
	p.press("r")
	p.waitPage(itemPath, "document.getElementById('media').complete && document.getElementById('media').naturalWidth === 640")
	if s := shown(); s != "media" {
		t.Errorf("after reveal the page shows %q, want the media only", s)
	}
	if f := p.evalString(`getComputedStyle(document.getElementById('media')).filter`); f != "none" {
		t.Errorf("media filter %q after reveal, want none", f)
	}
	p.press("r")
	if s := shown(); s != "preview" {
		t.Errorf("after hiding again the page shows %q, want the preview only", s)
	}
	// v without a reason asks for one instead of deciding.
	p.press("v")
	if id := p.evalString(`document.activeElement.id`); id != "reason" {
		t.Errorf("after v without a reason the focus is on %q, want the reason field", id)
	}
	p.insertText("Same scene and overlay as the incident bank entry; attack footage.")
	p.press("Escape")
	if id := p.evalString(`document.activeElement.id`); id == "reason" {
		t.Errorf("Escape left the focus in the reason field")
	}
	if _, it := r.get(t, attack.ContentID); it.State != StateClaimed || it.ClaimedBy != "rita" {
		t.Fatalf("before the decision: %+v, want claimed by rita", it)
	}
	shot := p.screenshot()
	checkScreenshot(t, shot, 1280, 900)

	p.press("v")
	p.waitPage(itemPath, "document.getElementById('decision') !== null")
	if text := p.evalString(`document.getElementById('decision').innerText`); !strings.Contains(text, "violating") || !strings.Contains(text, "rita") {
		t.Errorf("decision shown: %q", text)
	}
	_, it := r.get(t, attack.ContentID)
	if it.State != StateDecided || it.Decision != events.DecisionViolating || it.DecidedBy != "rita" ||
		it.DecisionReason != "Same scene and overlay as the incident bank entry; attack footage." {
		t.Fatalf("item after the keyboard decision: %+v", it)
	}
	msgs := readTopic(t, cfg, cfg.Topics.ReviewDecided, 1)
	var ev events.ReviewDecided
	if err := events.Decode(msgs[0].Value, events.TypeReviewDecided, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.EventID != it.DecidedEventID || ev.Reviewer != "rita" || ev.Decision != events.DecisionViolating || ev.ContentID != attack.ContentID {
		t.Errorf("published %+v", ev)
	}

	// The browser asked the review service for the preview and the media,
	// and the media host nothing: the host was asked by the hasher and the
	// review service only, with one User-Agent.
	var fromService []string
	for _, u := range p.requests() {
		if strings.HasPrefix(u, media.URL) {
			t.Errorf("the browser requested %s from the media host", u)
		}
		if strings.HasPrefix(u, r.base+itemPath+"/") {
			fromService = append(fromService, strings.TrimPrefix(u, r.base+itemPath))
		}
	}
	if !slices.Contains(fromService, "/preview") || !slices.Contains(fromService, "/media") {
		t.Errorf("the browser's requests to the item's media: %q, want /preview and /media", fromService)
	}
	seen := media.seen()
	// (Once more after the decision: the decided item's page fetches and
	// checks the media again, since the decision dropped the kept copy.)
	if len(seen) < 2 {
		t.Errorf("the media host was asked %d times, want the hasher and the review service", len(seen))
	}
	for _, hr := range seen {
		if hr.UserAgent() != seen[0].UserAgent() {
			t.Errorf("the media host saw User-Agent %q besides the hasher's %q", hr.UserAgent(), seen[0].UserAgent())
		}
	}
}

// checkScreenshot checks that shot is a PNG of w x h pixels showing more than
// a blank page, and saves it: in the test's directory, and in docs/ when
// TAKEDOWN_UPDATE_SCREENSHOT=1.
func checkScreenshot(t *testing.T, shot []byte, w, h int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), w, h)
	}
	counts := map[color.RGBA]int{}
	for y := range h {
		for x := range w {
			counts[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)]++
		}
	}
	background := 0
	for _, n := range counts {
		background = max(background, n)
	}
	if other := w*h - background; other < w*h/20 || len(counts) < 50 {
		t.Errorf("screenshot shows %d non-background pixels in %d colours: the page looks blank", other, len(counts))
	}
	path := filepath.Join(t.TempDir(), "review-ui.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(shot))
	if os.Getenv(envUpdateScreenshot) == "1" {
		docs := repoPath("docs/review-ui.png")
		if err := os.MkdirAll(filepath.Dir(docs), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(docs, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("updated %s", docs)
	}
}

// The sign-in link that takedownctl dev prints, /ui/login#token=TOKEN, signs
// in with its token and leaves it in neither the address bar nor the
// service's view of the URL (a fragment is never sent).
func TestBrowserSignInLink(t *testing.T) {
	r := start(t, mediaConfig(t))
	p := startChromium(t, 1024, 768)
	p.navigate(r.base + "/ui/login#token=" + url.QueryEscape(tokenFor(t, "lena", RoleLead)))
	// The queue, signed in: its counts (the queue itself is empty).
	p.waitPage("/ui/queue", "document.getElementById('counts') !== null")
	if h := p.evalString(`window.location.hash`); h != "" {
		t.Errorf("after signing in the address keeps %q", h)
	}
	if who := p.evalString(`document.body.innerText`); !strings.Contains(who, "lena") {
		t.Errorf("the queue page does not show the signed-in reviewer:\n%s", who)
	}
	for _, u := range p.requests() {
		if strings.Contains(u, "token=") {
			t.Errorf("the browser sent the token in a URL: %s", u)
		}
	}
}
