package review

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Roles a token's roles claim may grant (see the package documentation's
// role table). A reviewer lists, claims and decides items and may agree to
// allow-list another's benign decision; a lead may also reassign items,
// overturn (or approve the overturn of) others' decisions and confirm
// allow-listing; an admin may do whatever a lead may and also revoke an
// allow-list entry, which a lead may not.
const (
	RoleReviewer = "reviewer"
	RoleLead     = "lead"
	RoleAdmin    = "admin"
)

// access is what an endpoint requires.
type access int

const (
	accessReviewer access = iota // any role
	accessLead                   // lead or admin
	accessAdmin                  // admin only
)

// principal is the bearer of a verified token.
type principal struct {
	Subject string
	// Roles are the token's known roles, in the order given.
	Roles   []string
	Expires time.Time
}

func (p *principal) isLead() bool {
	return slices.Contains(p.Roles, RoleLead) || slices.Contains(p.Roles, RoleAdmin)
}

// roleNeeded names the roles that grant a, for refusals.
func roleNeeded(a access) string {
	if a == accessAdmin {
		return "the admin role"
	}
	return "the lead or admin role"
}

func (p *principal) isAdmin() bool { return slices.Contains(p.Roles, RoleAdmin) }

func (p *principal) allowed(a access) bool {
	switch a {
	case accessReviewer:
		return len(p.Roles) > 0
	case accessLead:
		return p.isLead()
	case accessAdmin:
		return p.isAdmin()
	}
	return false
}

// authError is a refused request: 401 when there is no valid token, 403 when
// the token is valid but does not allow the request.
type authError struct {
	code int
	// msg is answered; detail is only logged (why a token is invalid is
	// for the operator, not for whoever holds it).
	msg, detail string
	// reason labels the refusal in metrics (missing, invalid, role).
	reason string
}

func (e *authError) Error() string { return e.msg }

var errNoToken = &authError{code: http.StatusUnauthorized, reason: "missing",
	msg: "a bearer token is required (Authorization: Bearer <JWT>)"}

// tokenCookie holds the UI's token; csrfCookie the UI's per-session CSRF
// token (see ui.go).
const (
	tokenCookie = "takedown_review_token"
	csrfCookie  = "takedown_review_csrf"
)

// redact keeps a secret out of an error message.
func redact(spec string) string {
	if kid, _, ok := strings.Cut(spec, "="); ok {
		return kid + "=…"
	}
	if len(spec) > 4 {
		return spec[:2] + "…"
	}
	return "…"
}

// bearer returns the token of the Authorization header, "" if there is none.
func bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", nil
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", &authError{code: http.StatusUnauthorized, reason: "invalid",
			msg: errToken.Error(), detail: "Authorization header: want Bearer <JWT>"}
	}
	return strings.TrimSpace(tok), nil
}

// authenticate verifies the request's token: the Authorization header's, or
// (withCookie, for the UI) the session cookie's.
func (s *Service) authenticate(r *http.Request, withCookie bool) (*principal, error) {
	tok, err := bearer(r)
	if err != nil {
		return nil, err
	}
	if tok == "" && withCookie {
		if c, err := r.Cookie(tokenCookie); err == nil {
			tok = c.Value
		}
	}
	if tok == "" {
		return nil, errNoToken
	}
	return s.verifyToken(r.Context(), tok)
}

// verifyToken checks a token and turns its claims into a principal. A token
// that does not verify, or names no valid reviewer, is invalid (401, saying
// only "invalid token"); one that grants no known role is forbidden (403).
func (s *Service) verifyToken(ctx context.Context, tok string) (*principal, error) {
	c, err := s.verifier.verify(ctx, tok)
	if err == nil {
		if serr := validReviewer(c.Subject); serr != nil {
			err = fmt.Errorf("sub: %w", serr)
		}
	}
	if err != nil {
		s.log.Info("token refused", "why", err)
		return nil, &authError{code: http.StatusUnauthorized, reason: "invalid", msg: errToken.Error(), detail: err.Error()}
	}
	p := &principal{Subject: c.Subject, Expires: c.Expires}
	for _, r := range c.Roles {
		if (r == RoleReviewer || r == RoleLead || r == RoleAdmin) && !slices.Contains(p.Roles, r) {
			p.Roles = append(p.Roles, r)
		}
	}
	if len(p.Roles) == 0 {
		return nil, &authError{code: http.StatusForbidden, reason: "role",
			msg: fmt.Sprintf("the token of %s grants none of the roles reviewer, lead, admin", c.Subject)}
	}
	return p, nil
}

type principalKey struct{}

func withPrincipal(ctx context.Context, p *principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principalOf returns the request's verified bearer; handlers behind api or
// page always have one.
func principalOf(r *http.Request) *principal {
	p, _ := r.Context().Value(principalKey{}).(*principal)
	return p
}

// api wraps a JSON API handler: a valid bearer token in the Authorization
// header with the access a needs, or a JSON 401/403.
func (s *Service) api(a access, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r, false)
		if err == nil && !p.allowed(a) {
			err = &authError{code: http.StatusForbidden, reason: "role",
				msg: fmt.Sprintf("%s may not do this: it needs %s", p.Subject, roleNeeded(a))}
		}
		if err != nil {
			s.refuse(w, r, err)
			return
		}
		if s.rebuilding.Load() {
			writeError(w, http.StatusServiceUnavailable, "the queue is being rebuilt from Kafka; try again shortly")
			return
		}
		h(w, r.WithContext(withPrincipal(r.Context(), p)))
	}
}

// refuse answers an authentication failure as RFC 6750 asks (a
// WWW-Authenticate challenge on 401) with a JSON error.
func (s *Service) refuse(w http.ResponseWriter, r *http.Request, err error) {
	var ae *authError
	if !errors.As(err, &ae) {
		ae = &authError{code: http.StatusUnauthorized, reason: "invalid", msg: errToken.Error(), detail: err.Error()}
	}
	s.metrics.authRefused.WithLabelValues(ae.reason).Inc()
	s.log.Info("request refused", "method", r.Method, "path", r.URL.Path, "status", ae.code, "why", ae.msg, "detail", ae.detail)
	switch {
	case ae.code == http.StatusUnauthorized && ae.reason == "missing":
		w.Header().Set("WWW-Authenticate", `Bearer realm="takedown-review"`)
	case ae.code == http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="takedown-review", error="invalid_token"`)
	case ae.code == http.StatusForbidden:
		w.Header().Set("WWW-Authenticate", `Bearer realm="takedown-review", error="insufficient_scope"`)
	}
	writeError(w, ae.code, "%s", ae.msg)
}

// checkNamedReviewer refuses a body that names a reviewer other than the
// token's subject: the identity comes from the token, never the body.
func checkNamedReviewer(p *principal, named string) error {
	if named != "" && named != p.Subject {
		return &authError{code: http.StatusForbidden, reason: "identity",
			msg: fmt.Sprintf("the body names reviewer %q but the token is %s's", clipText(named, 64), p.Subject)}
	}
	return nil
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
