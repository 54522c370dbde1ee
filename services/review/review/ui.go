package review

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

// The web UI: server-rendered pages (html/template, which escapes every
// value by its context) over the same queue operations as the JSON API.
//
// Sessions: the login page takes a token (pasted by the reviewer) and keeps
// it in an HttpOnly, SameSite=Strict cookie scoped to /ui/; a request that
// carries an Authorization header is accepted too. Every POST form carries
// a per-session CSRF token, a random value set in its own cookie at login
// and echoed in the form (double submit): another site can neither read nor
// set it, and SameSite=Strict keeps the session cookie off its requests
// anyway. The browser never loads media_url (shown as text only): the item
// page shows the service's derived preview (small, greyscale, blurred on the
// server) and, once the reviewer reveals it, the verified media, both from
// the service (media.go); the page's CSP admits no other origin.

//go:embed ui/templates/*.html ui/static/*
var uiFiles embed.FS

type ui struct {
	s      *Service
	pages  map[string]*template.Template
	static http.Handler
}

func newUI(s *Service) (*ui, error) {
	funcs := template.FuncMap{
		"ago":     ago,
		"ts":      func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
		"pct":     func(f float64) string { return fmt.Sprintf("%.0f%%", math.Round(f*100)) },
		"conf":    func(m events.Match) string { return fmt.Sprintf("%.0f%%", math.Round(confidence(m)*100)) },
		"sev":     severityName,
		"variant": variantName,
		"join":    strings.Join,
		"itemURL": func(id string) string { return "/ui/items/" + url.PathEscape(id) },
		"unverifiable": func(it *Item) bool {
			return recordedSHA256(&it.request) == "" && unhashableItem(&it.request)
		},
		"isImage": func(it *Item) bool { return it.ContentType != events.ContentVideo },
	}
	u := &ui{s: s, pages: map[string]*template.Template{}}
	for _, page := range []string{"login", "queue", "item", "error"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(uiFiles, "ui/templates/layout.html", "ui/templates/"+page+".html")
		if err != nil {
			return nil, fmt.Errorf("ui template %s: %w", page, err)
		}
		u.pages[page] = t
	}
	static, err := fs.Sub(uiFiles, "ui/static")
	if err != nil {
		return nil, err
	}
	u.static = http.StripPrefix("/ui/static/", http.FileServerFS(static))
	return u, nil
}

func (u *ui) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
	})
	mux.Handle("GET /ui/static/", u.staticHeaders(u.static))
	mux.HandleFunc("GET /ui/login", u.loginPage)
	mux.HandleFunc("POST /ui/login", u.login)
	mux.HandleFunc("POST /ui/logout", u.logout)
	mux.HandleFunc("GET /ui/{$}", u.page(accessReviewer, u.queue))
	mux.HandleFunc("GET /ui/queue", u.page(accessReviewer, u.queue))
	mux.HandleFunc("GET /ui/next", u.page(accessReviewer, u.next))
	mux.HandleFunc("GET /ui/items/{id}", u.page(accessReviewer, u.item))
	mux.HandleFunc("POST /ui/items/{id}/claim", u.page(accessReviewer, u.claim))
	mux.HandleFunc("GET /ui/items/{id}/media", u.s.uiMedia(u.s.media.serveMedia))
	mux.HandleFunc("GET /ui/items/{id}/preview", u.s.uiMedia(u.s.media.servePreview))
	mux.HandleFunc("POST /ui/items/{id}/decision", u.page(accessReviewer, u.decide))
	mux.HandleFunc("POST /ui/items/{id}/assign", u.page(accessLead, u.assign))
	mux.HandleFunc("POST /ui/items/{id}/overturn", u.page(accessLead, u.overturn))
	mux.HandleFunc("POST /ui/items/{id}/restore-related", u.page(accessLead, u.restoreRelated))
	mux.HandleFunc("POST /ui/items/{id}/allowlist", u.page(accessReviewer, u.allowlist))
	mux.HandleFunc("POST /ui/items/{id}/allowlist/revoke", u.page(accessAdmin, u.revoke))
}

// contentSecurityPolicy allows only the service's own scripts, styles and
// media: a reviewer's browser contacts no media host, whatever a page holds.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"media-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// The media host learns nothing of the review (no Referer).
	h.Set("Referrer-Policy", "no-referrer")
}

func (u *ui) staticHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// view is what every page gets.
type view struct {
	Title string
	Me    *principal
	CSRF  string
	Stats Stats
	Error string
	// Page-specific data.
	Next     string
	Pending  []*Item
	Mine     []*Item
	Others   []*Item
	Decided  []*Item
	Item     *Item
	Actions  itemActions
	Evidence []evidence
}

// itemActions says which forms an item page shows.
type itemActions struct {
	Claim, Decide, Assign, Overturn bool
	// Allowlist: the item is decided benign by someone else and not yet
	// allow-listed; Revoke: an admin may revoke its allow-list entry.
	Allowlist, Revoke bool
	// RestoreRelated: a lead may restore the uploads removed because of
	// the overturned decision (some are still removed).
	RestoreRelated bool
	MediaOK        bool
}

// evidence is one match as the item page shows it.
type evidence struct {
	events.Match
	Confidence float64
}

func (u *ui) render(w http.ResponseWriter, code int, page string, v *view) {
	var buf bytes.Buffer
	if err := u.pages[page].Execute(&buf, v); err != nil {
		u.s.log.Error("ui render", "page", page, "err", err)
		http.Error(w, "page could not be rendered", http.StatusInternalServerError)
		return
	}
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// maxCookieToken is the longest token the login page keeps: browsers drop
// cookies over about 4 KiB, name and attributes included.
const maxCookieToken = 3800

// newCSRF is a fresh per-session token.
func newCSRF() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// setCookie sets a UI cookie. Secure comes from the cookie-secure setting,
// never from the request: a header such as X-Forwarded-Proto is whatever
// the client or a proxy says it is.
func (u *ui) setCookie(w http.ResponseWriter, name, value string, expires time.Time) {
	c := &http.Cookie{Name: name, Value: value, Path: "/ui/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: u.s.cfg.CookieSecure}
	if expires.IsZero() {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	http.SetCookie(w, c)
}

func csrfOf(r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil {
		return c.Value
	}
	return ""
}

// safeNext keeps a post-login redirect on the UI.
func safeNext(next string) string {
	if strings.HasPrefix(next, "/ui/") && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return "/ui/queue"
}

func (u *ui) loginPage(w http.ResponseWriter, r *http.Request) {
	u.showLogin(w, r, http.StatusOK, "")
}

// showLogin renders the login form with a fresh pre-session CSRF token.
func (u *ui) showLogin(w http.ResponseWriter, r *http.Request, code int, msg string) {
	csrf := newCSRF()
	u.setCookie(w, csrfCookie, csrf, time.Now().Add(time.Hour))
	next := r.URL.Query().Get("next")
	if r.Method == http.MethodGet && r.URL.Path != "/ui/login" {
		next = r.URL.RequestURI()
	}
	u.render(w, code, "login", &view{Title: "Sign in", CSRF: csrf, Error: msg, Next: safeNext(next)})
}

func (u *ui) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		u.showLogin(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	if !sameToken(r.PostForm.Get("csrf"), csrfOf(r)) {
		u.s.metrics.authRefused.WithLabelValues("csrf").Inc()
		u.showLogin(w, r, http.StatusForbidden, "The sign-in form expired; paste the token again.")
		return
	}
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	tok = strings.TrimPrefix(tok, "Bearer ")
	if tok == "" {
		u.showLogin(w, r, http.StatusUnauthorized, "Paste a token to sign in.")
		return
	}
	if len(tok) > maxCookieToken {
		u.showLogin(w, r, http.StatusBadRequest, fmt.Sprintf(
			"The token is %d bytes, too long for a browser cookie (%d at most); send it in an Authorization header instead.", len(tok), maxCookieToken))
		return
	}
	p, err := u.s.verifyToken(r.Context(), tok)
	if err != nil {
		var ae *authError
		code := http.StatusUnauthorized
		if errors.As(err, &ae) {
			code = ae.code
			u.s.metrics.authRefused.WithLabelValues(ae.reason).Inc()
		}
		u.showLogin(w, r, code, err.Error())
		return
	}
	u.setCookie(w, tokenCookie, tok, p.Expires)
	u.setCookie(w, csrfCookie, newCSRF(), p.Expires)
	u.s.log.Info("reviewer signed in to the UI", "reviewer", p.Subject, "roles", p.Roles, "until", p.Expires)
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

func (u *ui) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil || !sameToken(r.PostForm.Get("csrf"), csrfOf(r)) {
		u.render(w, http.StatusForbidden, "error", &view{Title: "Refused", Error: "The form's CSRF token is missing or wrong."})
		return
	}
	u.setCookie(w, tokenCookie, "", time.Time{})
	u.setCookie(w, csrfCookie, "", time.Time{})
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

func sameToken(a, b string) bool {
	return a != "" && b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// page wraps a UI handler: a valid token (cookie or Authorization header)
// with the access a needs, and on POST the session's CSRF token. Without a
// valid token a GET shows the login page (401), a POST an error.
func (u *ui) page(a access, h func(http.ResponseWriter, *http.Request, *view)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := u.s.authenticate(r, true)
		if err == nil && !p.allowed(a) {
			err = &authError{code: http.StatusForbidden, reason: "role",
				msg: fmt.Sprintf("%s may not do this: it needs %s", p.Subject, roleNeeded(a))}
		}
		if err != nil {
			var ae *authError
			code, reason := http.StatusUnauthorized, "invalid"
			if errors.As(err, &ae) {
				code, reason = ae.code, ae.reason
			}
			u.s.metrics.authRefused.WithLabelValues(reason).Inc()
			if r.Method == http.MethodGet && code == http.StatusUnauthorized {
				msg := ""
				if reason != "missing" {
					msg = err.Error()
				}
				u.showLogin(w, r, code, msg)
				return
			}
			u.render(w, code, "error", &view{Title: "Refused", Error: err.Error()})
			return
		}
		v := &view{Me: p, CSRF: csrfOf(r)}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			if err := r.ParseForm(); err != nil {
				u.render(w, http.StatusBadRequest, "error", &view{Me: p, Title: "Bad request", Error: "The form could not be read."})
				return
			}
			// A request that carries its token in a header was not sent by
			// a browser on the strength of a cookie: no CSRF to fear.
			if r.Header.Get("Authorization") == "" && !sameToken(r.PostForm.Get("csrf"), v.CSRF) {
				u.s.metrics.authRefused.WithLabelValues("csrf").Inc()
				u.render(w, http.StatusForbidden, "error", &view{Me: p, Title: "Refused",
					Error: "The form's CSRF token is missing or wrong; reload the page and try again."})
				return
			}
		}
		if u.s.rebuilding.Load() {
			u.render(w, http.StatusServiceUnavailable, "error", &view{Me: p, Title: "Rebuilding",
				Error: "The queue is being rebuilt from Kafka; try again in a moment."})
			return
		}
		st, err := u.s.store.stats(r.Context())
		if err != nil {
			u.unavailable(w, r, v, err)
			return
		}
		v.Stats = st
		h(w, r.WithContext(withPrincipal(r.Context(), p)), v)
	}
}

func (u *ui) unavailable(w http.ResponseWriter, r *http.Request, v *view, err error) {
	u.s.log.Error("review queue unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	v.Title, v.Error = "Unavailable", "The review queue is unavailable; try again."
	u.render(w, http.StatusServiceUnavailable, "error", v)
}

// queueLimit bounds the pending items the queue page lists.
const queueLimit = 100

func (u *ui) queue(w http.ResponseWriter, r *http.Request, v *view) {
	ctx := r.Context()
	pending, err := u.s.store.list(ctx, StatePending, queueLimit)
	if err == nil {
		var claimed []*Item
		if claimed, err = u.s.store.list(ctx, StateClaimed, maxLimit); err == nil {
			for _, it := range claimed {
				if it.ClaimedBy == v.Me.Subject {
					v.Mine = append(v.Mine, it)
				} else {
					v.Others = append(v.Others, it)
				}
			}
			v.Decided, err = u.s.store.list(ctx, StateDecided, 20)
		}
	}
	if err != nil {
		u.unavailable(w, r, v, err)
		return
	}
	v.Title, v.Pending = "Review queue", pending
	u.render(w, http.StatusOK, "queue", v)
}

// next goes to the reviewer's own claimed item, else the first pending one.
func (u *ui) next(w http.ResponseWriter, r *http.Request, v *view) {
	ctx := r.Context()
	claimed, err := u.s.store.list(ctx, StateClaimed, maxLimit)
	if err != nil {
		u.unavailable(w, r, v, err)
		return
	}
	for _, it := range claimed {
		if it.ClaimedBy == v.Me.Subject {
			http.Redirect(w, r, "/ui/items/"+url.PathEscape(it.ID), http.StatusSeeOther)
			return
		}
	}
	pending, err := u.s.store.list(ctx, StatePending, 1)
	if err != nil {
		u.unavailable(w, r, v, err)
		return
	}
	if len(pending) == 0 {
		http.Redirect(w, r, "/ui/queue", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/ui/items/"+url.PathEscape(pending[0].ID), http.StatusSeeOther)
}

func (u *ui) item(w http.ResponseWriter, r *http.Request, v *view) {
	u.showItem(w, r, v, http.StatusOK, r.PathValue("id"))
}

// showItem renders the item page with status code (an error banner in
// v.Error when the page answers a refused action).
func (u *ui) showItem(w http.ResponseWriter, r *http.Request, v *view, code int, id string) {
	it, err := u.s.store.get(r.Context(), id)
	if err != nil {
		u.unavailable(w, r, v, err)
		return
	}
	if it == nil {
		v.Title, v.Error = "Not found", fmt.Sprintf("There is no review item %q.", id)
		u.render(w, http.StatusNotFound, "error", v)
		return
	}
	if err := u.s.withRelated(r.Context(), it); err != nil {
		u.unavailable(w, r, v, err)
		return
	}
	restorable := false
	for _, rel := range it.Related {
		restorable = restorable || rel.Restore == nil && rel.Kept == ""
	}
	v.Title, v.Item = "Item "+it.ID, it
	v.Actions = itemActions{
		RestoreRelated: restorable && v.Me.isLead() &&
			(it.PendingRelatedRestore == nil || it.PendingRelatedRestore.ProposedBy != v.Me.Subject),
		Claim:    it.State == StatePending,
		Decide:   it.State == StateClaimed && it.ClaimedBy == v.Me.Subject,
		Assign:   it.State != StateDecided && v.Me.isLead(),
		Overturn: it.State == StateDecided && v.Me.isLead(),
		Allowlist: it.State == StateDecided && it.Decision == events.DecisionBenign && it.DecidedBy != v.Me.Subject &&
			(it.Allowlist == nil || !it.Allowlist.Published && !slices.Contains(it.Allowlist.AgreedBy, v.Me.Subject)),
		Revoke:  v.Me.isAdmin() && it.Allowlist != nil && it.Allowlist.Published && it.Allowlist.RevokedBy == "",
		MediaOK: safeMediaURL(it.MediaURL),
	}
	for _, m := range it.Matches {
		v.Evidence = append(v.Evidence, evidence{Match: m, Confidence: confidence(m)})
	}
	u.render(w, code, "item", v)
}

// act runs an action from an item page's form and answers with the item
// page: the updated item, or the refusal in a banner with its status.
func (u *ui) act(w http.ResponseWriter, r *http.Request, v *view, o outcome) {
	id := r.PathValue("id")
	switch {
	case o.err != nil && o.code == 0:
		u.unavailable(w, r, v, o.err)
	case o.err != nil || o.item == nil:
		if o.err != nil {
			u.s.log.Error("review action failed", "path", r.URL.Path, "err", o.err)
		}
		v.Error = o.msg
		if st, err := u.s.store.stats(r.Context()); err == nil {
			v.Stats = st
		}
		u.showItem(w, r, v, o.code, id)
	default:
		http.Redirect(w, r, "/ui/items/"+url.PathEscape(id), http.StatusSeeOther)
	}
}

func (u *ui) claim(w http.ResponseWriter, r *http.Request, v *view) {
	u.act(w, r, v, u.s.claim(r.Context(), r.PathValue("id"), v.Me))
}

func (u *ui) decide(w http.ResponseWriter, r *http.Request, v *view) {
	decision, reason := r.PostForm.Get("decision"), r.PostForm.Get("reason")
	if err := validDecision(decision, reason); err != nil {
		u.act(w, r, v, refusal(http.StatusBadRequest, "%v", err))
		return
	}
	o := u.s.decide(r.Context(), r.PathValue("id"), v.Me.Subject, decision, reason)
	u.s.media.cache.drop(r.PathValue("id"))
	u.act(w, r, v, o)
}

func (u *ui) assign(w http.ResponseWriter, r *http.Request, v *view) {
	reviewer := strings.TrimSpace(r.PostForm.Get("reviewer"))
	if err := validReviewer(reviewer); err != nil {
		u.act(w, r, v, refusal(http.StatusBadRequest, "%v", err))
		return
	}
	u.act(w, r, v, u.s.assign(r.Context(), r.PathValue("id"), reviewer, v.Me))
}

func (u *ui) overturn(w http.ResponseWriter, r *http.Request, v *view) {
	decision, reason := r.PostForm.Get("decision"), r.PostForm.Get("reason")
	if err := validDecision(decision, reason); err != nil {
		u.act(w, r, v, refusal(http.StatusBadRequest, "%v", err))
		return
	}
	u.act(w, r, v, u.s.overturn(r.Context(), r.PathValue("id"), v.Me, decision, reason))
}

func (u *ui) restoreRelated(w http.ResponseWriter, r *http.Request, v *view) {
	reason := r.PostForm.Get("reason")
	if err := validReason(reason); err != nil {
		u.act(w, r, v, refusal(http.StatusBadRequest, "%v", err))
		return
	}
	u.act(w, r, v, u.s.restoreRelated(r.Context(), r.PathValue("id"), v.Me, reason))
}

func (u *ui) allowlist(w http.ResponseWriter, r *http.Request, v *view) {
	reason := r.PostForm.Get("reason")
	if err := validReason(reason); err != nil {
		u.act(w, r, v, refusal(http.StatusBadRequest, "%v", err))
		return
	}
	u.act(w, r, v, u.s.allowlist(r.Context(), r.PathValue("id"), v.Me, reason))
}

func (u *ui) revoke(w http.ResponseWriter, r *http.Request, v *view) {
	reason := r.PostForm.Get("reason")
	if err := validReason(reason); err != nil {
		u.act(w, r, v, refusal(http.StatusBadRequest, "%v", err))
		return
	}
	u.act(w, r, v, u.s.revoke(r.Context(), r.PathValue("id"), v.Me, reason))
}

// safeMediaURL admits what a browser may load as media: http and https.
func safeMediaURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func variantName(v string) string {
	if v == "" {
		return "whole picture"
	}
	return v
}

// ago renders how long ago t was, coarsely.
func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", max(int(d.Seconds()), 0))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
