package testenv

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ReviewKey is an HS256 key the review service of a test trusts
// (TAKEDOWN_JWT_HS256_SECRETS=Kid=Secret) and the issuer and audience it
// requires.
type ReviewKey struct {
	Kid, Secret, Issuer, Audience string
}

// Token is a reviewer's token signed with k, valid for an hour, naming sub
// with the reviewer role.
func (k ReviewKey) Token(t testing.TB, sub string) string {
	t.Helper()
	return k.TokenWithRoles(t, sub, "reviewer")
}

// TokenWithRoles is Token with the given roles (reviewer, lead, admin).
func (k ReviewKey) TokenWithRoles(t testing.TB, sub string, roles ...string) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub, "roles": roles,
		"iss": k.Issuer, "aud": k.Audience, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	tok.Header["kid"] = k.Kid
	s, err := tok.SignedString([]byte(k.Secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
