package review

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// browser is an HTTP client with cookies that does not follow redirects, so
// that each answer can be looked at.
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: base, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp, string(body)
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// csrf is the CSRF token a page's forms carry.
func csrf(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field in the page:\n%s", page)
	}
	return m[1]
}

// login signs in through the login form and returns the first page after it.
func (b *browser) login(token string) string {
	b.t.Helper()
	_, page := b.get("/ui/login")
	resp, body := b.post("/ui/login", url.Values{"csrf": {csrf(b.t, page)}, "token": {token}, "next": {"/ui/queue"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/queue" {
		b.t.Fatalf("login: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	resp, body = b.get("/ui/queue")
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("queue after login: %d %s", resp.StatusCode, body)
	}
	return body
}

func TestUISignIn(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	r := start(t, cfg)
	b := newBrowser(t, r.base)

	// Without a token every page is the login form, with 401.
	for _, path := range []string{"/ui/", "/ui/queue", "/ui/items/x", "/ui/next"} {
		resp, body := b.get(path)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `name="token"`) {
			t.Errorf("GET %s without a token: %d, want 401 with the login form", path, resp.StatusCode)
		}
	}
	if resp, _ := b.post("/ui/items/x/claim", url.Values{}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST without a token: %d, want 401", resp.StatusCode)
	}
	if resp, _ := b.get("/ui"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET /ui: %d, want a redirect", resp.StatusCode)
	}

	_, page := b.get("/ui/login")
	good := csrf(t, page)
	for _, tc := range []struct {
		name, csrf, token string
		want              int
		says              string
	}{
		{"no csrf", "", tokenFor(t, "alice"), http.StatusForbidden, "expired"},
		{"wrong csrf", strings.Repeat("0", 32), tokenFor(t, "alice"), http.StatusForbidden, "expired"},
		{"no token", "current", "", http.StatusUnauthorized, "Paste a token"},
		{"bad token", "current", "abc.def.ghi", http.StatusUnauthorized, "invalid token"},
		{"no role", "current", tokenFor(t, "alice", "auditor"), http.StatusForbidden, "none of the roles"},
	} {
		// Each refusal hands out a new form token: the next try takes it.
		if tc.csrf == "current" {
			tc.csrf = good
		}
		resp, body := b.post("/ui/login", url.Values{"csrf": {tc.csrf}, "token": {tc.token}})
		if resp.StatusCode != tc.want || !strings.Contains(body, tc.says) {
			t.Errorf("login, %s: %d, want %d saying %q:\n%s", tc.name, resp.StatusCode, tc.want, tc.says, body)
		}
		good = csrf(t, body)
	}

	resp, _ := b.post("/ui/login", url.Values{"csrf": {good}, "token": {"Bearer " + tokenFor(t, "alice")}, "next": {"//evil.example/x"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/queue" {
		t.Fatalf("login: %d to %q, want 303 to /ui/queue (never off the site)", resp.StatusCode, resp.Header.Get("Location"))
	}
	cookies := resp.Header.Values("Set-Cookie")
	if len(cookies) != 2 {
		t.Fatalf("cookies %v, want the token and the CSRF token", cookies)
	}
	for _, c := range cookies {
		if !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Strict") || !strings.Contains(c, "Path=/ui/") {
			t.Errorf("cookie %q: want HttpOnly, SameSite=Strict, Path=/ui/", c)
		}
	}
	resp, body := b.get("/ui/queue")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "alice") {
		t.Fatalf("queue after login: %d", resp.StatusCode)
	}
	for h, want := range map[string]string{"Content-Security-Policy": "script-src 'self'", "X-Content-Type-Options": "nosniff",
		"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
		if got := resp.Header.Get(h); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	// Signing out needs the form token too, and then the pages are closed.
	if resp, _ := b.post("/ui/logout", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout without csrf: %d", resp.StatusCode)
	}
	if resp, _ := b.post("/ui/logout", url.Values{"csrf": {csrf(t, body)}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logout: %d", resp.StatusCode)
	}
	if resp, _ := b.get("/ui/queue"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("queue after logout: %d, want 401", resp.StatusCode)
	}
	// A bearer token in the header opens the pages as well (no cookie).
	req, _ := http.NewRequest(http.MethodGet, r.base+"/ui/queue", nil)
	req.Header.Set("Authorization", "Bearer "+tokenFor(t, "bob"))
	if resp, body := b.do(req); resp.StatusCode != http.StatusOK || !strings.Contains(body, "bob") {
		t.Errorf("queue with an Authorization header: %d", resp.StatusCode)
	}
	// Static files need no token.
	for _, path := range []string{"/ui/static/review.css", "/ui/static/review.js"} {
		if resp, body := b.get(path); resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
}

// The pages escape whatever the platform and the banks put in an item, and
// work the queue through forms that need the session's CSRF token.
func TestUIWorksTheQueue(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	r := start(t, cfg)
	hostile := newRequest(testenv.Name(`<script>alert("id")</script>`))
	hostile.Reason = `"><img src=x onerror=alert(1)>`
	hostile.Matches[0].Labels = []string{`</td><script>alert("label")</script>`}
	hostile.Matches[0].Incident = true
	badURL := newRequest(testenv.Name("js-url"))
	badURL.MediaURL = "javascript:alert(1)"
	publish(t, cfg, requestMsg(t, cfg, hostile), requestMsg(t, cfg, badURL))
	r.waitItem(t, badURL.ContentID)
	r.waitItem(t, hostile.ContentID)

	b := newBrowser(t, r.base)
	queue := b.login(tokenFor(t, "alice"))
	for _, page := range []string{queue, func() string { _, p := b.get("/ui/items/" + url.PathEscape(hostile.ContentID)); return p }()} {
		if strings.Contains(page, "<script>alert") || strings.Contains(page, "<img src=x") {
			t.Fatalf("unescaped item data in the page:\n%s", page)
		}
	}
	if !strings.Contains(queue, "&lt;script&gt;alert(&#34;id&#34;)&lt;/script&gt;") || !strings.Contains(queue, "INCIDENT") {
		t.Errorf("queue page lacks the escaped id or the incident mark:\n%s", queue)
	}
	if i, j := strings.Index(queue, "INCIDENT"), strings.Index(queue, "js-url"); i < 0 || j < 0 || i > j {
		t.Errorf("the incident item is not listed first")
	}
	_, jsPage := b.get("/ui/items/" + url.PathEscape(badURL.ContentID))
	if strings.Contains(jsPage, `src="javascript:`) || strings.Contains(jsPage, `id="media"`) || !strings.Contains(jsPage, "not an http(s) URL") {
		t.Errorf("a javascript: media URL was put in the page:\n%s", jsPage)
	}

	itemPath := "/ui/items/" + url.PathEscape(hostile.ContentID)
	_, page := b.get(itemPath)
	if !strings.Contains(page, `id="preview" class="media preview blurred"`) || !strings.Contains(page, `id="claim-button"`) ||
		strings.Contains(page, `id="decision-form"`) || strings.Contains(page, `id="assign-form"`) {
		t.Errorf("pending item page for a reviewer: want the blurred preview, a claim button, no decision or lead form:\n%s", page)
	}
	token := csrf(t, page)
	if resp, _ := b.post(itemPath+"/claim", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("claim without the CSRF token: %d, want 403", resp.StatusCode)
	}
	if resp, _ := b.post(itemPath+"/claim", url.Values{"csrf": {token}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("claim: %d", resp.StatusCode)
	}
	_, page = b.get(itemPath)
	if !strings.Contains(page, `id="decision-form"`) || !strings.Contains(page, "Claimed by <b>alice</b>") {
		t.Fatalf("claimed item page lacks the decision form:\n%s", page)
	}
	resp, body := b.post(itemPath+"/decision", url.Values{"csrf": {token}, "decision": {"violating"}, "reason": {"  "}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "reason is required") {
		t.Errorf("decision without a reason: %d, want 400 saying a reason is required", resp.StatusCode)
	}
	// Another reviewer cannot decide alice's item; the refusal shows on the page.
	other := newBrowser(t, r.base)
	other.login(tokenFor(t, "bob"))
	_, bobPage := other.get(itemPath)
	resp, body = other.post(itemPath+"/decision", url.Values{"csrf": {csrf(t, bobPage)}, "decision": {"benign"}, "reason": {"mine now"}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "claimed by alice") {
		t.Errorf("bob's decision on alice's item: %d:\n%s", resp.StatusCode, body)
	}
	// A reviewer may not use the lead's forms.
	if resp, _ := other.post(itemPath+"/assign", url.Values{"csrf": {csrf(t, bobPage)}, "reviewer": {"bob"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("assign by a reviewer: %d, want 403", resp.StatusCode)
	}
	resp, _ = b.post(itemPath+"/decision", url.Values{"csrf": {token}, "decision": {"violating"}, "reason": {"flag of a listed group"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("decision: %d", resp.StatusCode)
	}
	if _, it := r.get(t, hostile.ContentID); it.State != StateDecided || it.DecidedBy != "alice" || it.DecisionReason != "flag of a listed group" {
		t.Fatalf("item after the UI decision: %+v", it)
	}

	// A lead sees the overturn form and can use it.
	lead := newBrowser(t, r.base)
	lead.login(tokenFor(t, "lena", RoleLead))
	_, leadPage := lead.get(itemPath)
	if !strings.Contains(leadPage, `id="overturn-form"`) {
		t.Fatalf("decided item page for a lead lacks the overturn form:\n%s", leadPage)
	}
	resp, _ = lead.post(itemPath+"/overturn", url.Values{"csrf": {csrf(t, leadPage)}, "decision": {"benign"}, "reason": {"satire"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("overturn: %d", resp.StatusCode)
	}
	// The item matched an incident bank: restoring it takes a second lead,
	// and the page shows the proposal until one approves.
	_, leadPage = lead.get(itemPath)
	if !strings.Contains(leadPage, `id="pending-overturn"`) || !strings.Contains(leadPage, "proposed by <b>lena</b>") {
		t.Errorf("item page after the proposal:\n%s", leadPage)
	}
	second := newBrowser(t, r.base)
	second.login(tokenFor(t, "olga", RoleLead))
	_, olgaPage := second.get(itemPath)
	resp, _ = second.post(itemPath+"/overturn", url.Values{"csrf": {csrf(t, olgaPage)}, "decision": {"benign"}, "reason": {"agreed"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("approval: %d", resp.StatusCode)
	}
	// Another reviewer sees the allow-list button on the benign item.
	_, bobPage = other.get(itemPath)
	if !strings.Contains(bobPage, `id="allowlist-form"`) {
		t.Errorf("benign item page lacks the allow-list form for bob:\n%s", bobPage)
	}
	_, leadPage = lead.get(itemPath)
	if !strings.Contains(leadPage, "Earlier decisions, overturned") || !strings.Contains(leadPage, "dec-benign") {
		t.Errorf("item page after the overturn:\n%s", leadPage)
	}
	// n: the next item is the other pending one.
	resp, _ = b.get("/ui/next")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/items/"+url.PathEscape(badURL.ContentID) {
		t.Errorf("next: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := testenv.EndOffset(t, cfg.Kafka.Brokers, cfg.Topics.ReviewDecided); n != 2 {
		t.Errorf("%d decisions published, want 2 (decision and overturn)", n)
	}
}
