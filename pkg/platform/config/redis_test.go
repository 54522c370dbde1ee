package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseRedisURL(t *testing.T) {
	cases := []struct {
		url  string
		want RedisURL
		err  string // substring of the error; "" for valid
	}{
		{url: "redis://127.0.0.1:6379", want: RedisURL{Addr: "127.0.0.1:6379"}},
		{url: "redis://localhost", want: RedisURL{Addr: "localhost:6379"}},
		{url: "rediss://cache.example:6380/2", want: RedisURL{Addr: "cache.example:6380", TLS: true, DB: 2, HasDB: true}},
		{url: "redis://alice:s3cret@h:1/0", want: RedisURL{Addr: "h:1", Username: "alice", Password: "s3cret", HasPassword: true, HasDB: true}},
		{url: "redis://:s3cret@h:1", want: RedisURL{Addr: "h:1", Password: "s3cret", HasPassword: true}},
		{url: "redis://alice@h:1", want: RedisURL{Addr: "h:1", Username: "alice"}},
		{url: "redis://u:p%40ss@[::1]:7000/", want: RedisURL{Addr: "[::1]:7000", Username: "u", Password: "p@ss", HasPassword: true}},
		{url: "http://h:1", err: `scheme "http"`},
		{url: "h:6379", err: "TAKEDOWN_REDIS_URL"},
		{url: "redis:///3", err: "no host"},
		{url: "redis://h:1/x", err: `database "x"`},
		{url: "redis://h:1/-1", err: "database"},
		{url: "redis://h:99999", err: "port"},
		{url: "redis://h:1?dial_timeout=3s", err: "options after ?"},
		{url: "redis://u:hunter2@h:bad", err: "TAKEDOWN_REDIS_URL"},
	}
	for _, c := range cases {
		t.Run(c.url, func(t *testing.T) {
			got, err := ParseRedisURL(c.url)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %+v, %v; want an error with %q", got, err, c.err)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestRedisEndpoint(t *testing.T) {
	ca := writeTestCA(t)
	cases := []struct {
		name string
		r    Redis
		want Endpoint // compared on Addr, Username, Password, DB, TLS != nil
		err  string
	}{
		{"addr", Redis{Addr: "h:1"}, Endpoint{Addr: "h:1"}, ""},
		{"url wins over addr", Redis{Addr: "h:1", URL: "redis://u:p@other:2/3"}, Endpoint{Addr: "other:2", Username: "u", Password: "p", DB: 3}, ""},
		{"rediss turns TLS on", Redis{URL: "rediss://h:2"}, Endpoint{Addr: "h:2", TLS: &tls.Config{}}, ""},
		{"password setting fills the URL", Redis{URL: "redis://alice@h:2", Password: "p"}, Endpoint{Addr: "h:2", Username: "alice", Password: "p"}, ""},
		{"URL and setting agree", Redis{URL: "redis://:p@h:2/1", Password: "p", DB: 1}, Endpoint{Addr: "h:2", Password: "p", DB: 1}, ""},
		{"URL and setting disagree", Redis{URL: "redis://:p@h:2", Password: "q"}, Endpoint{}, "TAKEDOWN_REDIS_PASSWORD"},
		{"db disagrees", Redis{URL: "redis://h:2/1", DB: 2}, Endpoint{}, "TAKEDOWN_REDIS_DB"},
		{"user without password", Redis{Addr: "h:1", Username: "u"}, Endpoint{}, "TAKEDOWN_REDIS_PASSWORD"},
		{"tls with CA", Redis{Addr: "h:1", TLSCA: ca}, Endpoint{Addr: "h:1", TLS: &tls.Config{}}, ""},
		{"missing CA file", Redis{Addr: "h:1", TLSCA: "/nonexistent/ca.pem"}, Endpoint{}, "TAKEDOWN_REDIS_TLS_CA"},
		{"cert without key", Redis{Addr: "h:1", TLSCert: ca}, Endpoint{}, "TAKEDOWN_REDIS_TLS_KEY"},
		{"no address", Redis{}, Endpoint{}, "TAKEDOWN_REDIS_ADDR"},
		{"bad address", Redis{Addr: "h"}, Endpoint{}, "TAKEDOWN_REDIS_ADDR"},
		{"negative db", Redis{Addr: "h:1", DB: -1}, Endpoint{}, "TAKEDOWN_REDIS_DB"},
		{"sentinel", Redis{Addr: "ignored:1", SentinelMaster: "m", SentinelAddrs: []string{"s1:26379", "s2:26379"}}, Endpoint{}, ""},
		{"sentinel without addrs", Redis{SentinelMaster: "m"}, Endpoint{}, "TAKEDOWN_REDIS_SENTINEL_ADDRS"},
		{"sentinel addrs without master", Redis{Addr: "h:1", SentinelAddrs: []string{"s:1"}}, Endpoint{}, "TAKEDOWN_REDIS_SENTINEL_MASTER"},
		{"sentinel and URL", Redis{URL: "redis://h:1", SentinelMaster: "m", SentinelAddrs: []string{"s:1"}}, Endpoint{}, "TAKEDOWN_REDIS_URL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := c.r.Endpoint()
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %+v, %v; want an error with %q", e, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.Addr != c.want.Addr || e.Username != c.want.Username || e.Password != c.want.Password ||
				e.DB != c.want.DB || (e.TLS != nil) != (c.want.TLS != nil) {
				t.Fatalf("got %+v, want %+v", e, c.want)
			}
		})
	}
}

// The password can come from TAKEDOWN_REDIS_PASSWORD_FILE, and a URL with a
// password from TAKEDOWN_REDIS_URL_FILE, so neither sits in the environment.
func TestRedisSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	u := filepath.Join(dir, "url")
	if err := os.WriteFile(pw, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(u, []byte("rediss://alice:in-url@h:6380/4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TAKEDOWN_REDIS_PASSWORD_FILE": pw, "TAKEDOWN_REDIS_SENTINEL_PASSWORD": "@" + pw}
	var r Redis
	s := New("t").WithEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	r.Bind(s)
	if err := s.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if r.Password != "from-file" || r.SentinelPassword != "from-file" || r.Addr != "127.0.0.1:6379" || r.Prefix != "takedown" {
		t.Fatalf("got %+v", r)
	}

	env = map[string]string{"TAKEDOWN_REDIS_URL_FILE": u}
	r = Redis{}
	s = New("t").WithEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	r.Bind(s)
	if err := s.Parse(nil); err != nil {
		t.Fatal(err)
	}
	e, err := r.Endpoint()
	if err != nil {
		t.Fatal(err)
	}
	if e.Addr != "h:6380" || e.Username != "alice" || e.Password != "in-url" || e.DB != 4 || e.TLS == nil {
		t.Fatalf("got %+v", e)
	}
	if w := r.Where(); strings.Contains(w, "in-url") || w != "h:6380" {
		t.Fatalf("Where() = %q", w)
	}
}

// writeTestCA writes a self-signed CA certificate and returns its path.
func writeTestCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
