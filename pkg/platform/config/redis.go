package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Redis is the one Redis client configuration that every service binds:
// where Redis is (one address, a URL, or Sentinel), who to log in as, and
// how to reach it securely. Package redisconn builds every client from it.
type Redis struct {
	// Addr is host:port of a single server; URL, when set, wins over it.
	Addr string
	// URL is redis://[user:password@]host:port[/db] or rediss://... for
	// TLS. It may hold a password: never log it (see Redacted).
	URL string
	// Username is the ACL user (empty: the default user).
	Username string
	Password string
	DB       int

	// TLS turns TLS on; it is implied by rediss:// and by any TLS file.
	TLS bool
	// TLSCA is a PEM bundle of the CAs that sign the server's certificate
	// (the system pool when empty).
	TLSCA string
	// TLSCert and TLSKey are the client certificate for mutual TLS.
	TLSCert, TLSKey string
	// TLSServerName overrides the name checked in the server's certificate.
	TLSServerName string

	// SentinelMaster names the master to ask SentinelAddrs for; setting it
	// turns Sentinel on.
	SentinelMaster   string
	SentinelAddrs    []string
	SentinelPassword string

	// Prefix starts every key the services write (PREFIX:service:...).
	Prefix string
}

// Bind registers the Redis settings.
func (r *Redis) Bind(s *Set) {
	s.String(&r.Addr, "redis-addr", "127.0.0.1:6379", "Redis address (host:port)")
	s.String(&r.Prefix, "redis-prefix", "takedown", "prefix of every Redis key the service writes (keys are PREFIX:service:...)")
	s.Secret(&r.URL, "redis-url", "Redis URL redis://[user:password@]host:port[/db], rediss://... for TLS; wins over redis-addr")
	s.String(&r.Username, "redis-username", "", "Redis ACL user (default: the default user)")
	s.Secret(&r.Password, "redis-password", "Redis password (AUTH)")
	s.Int(&r.DB, "redis-db", 0, "Redis database number")
	s.Bool(&r.TLS, "redis-tls", false, "connect to Redis over TLS (implied by rediss://, redis-tls-ca, redis-tls-cert)")
	s.String(&r.TLSCA, "redis-tls-ca", "", "PEM file of the CAs that sign the Redis server's certificate (default: the system's)")
	s.String(&r.TLSCert, "redis-tls-cert", "", "PEM client certificate for mutual TLS to Redis")
	s.String(&r.TLSKey, "redis-tls-key", "", "PEM private key of redis-tls-cert")
	s.String(&r.TLSServerName, "redis-tls-server-name", "", "name to verify in the Redis server's certificate (default: the host)")
	s.String(&r.SentinelMaster, "redis-sentinel-master", "", "Sentinel master name (turns Sentinel on; needs redis-sentinel-addrs)")
	s.List(&r.SentinelAddrs, "redis-sentinel-addrs", "", "Sentinel addresses (host:port)")
	s.Secret(&r.SentinelPassword, "redis-sentinel-password", "password of the Sentinels (their requirepass)")
}

// Endpoint is where and as whom a client connects, after the URL, when
// there is one, has been merged with the other settings.
type Endpoint struct {
	// Addr is host:port of the server (empty with Sentinel).
	Addr     string
	Username string
	Password string
	DB       int
	// TLS is the client TLS configuration, nil for plaintext.
	TLS *tls.Config
	// Sentinel is set when the master is found through Sentinel.
	SentinelMaster   string
	SentinelAddrs    []string
	SentinelPassword string
}

// Sentinel reports whether the master is found through Sentinel.
func (r Redis) Sentinel() bool { return r.SentinelMaster != "" }

// Validate reports the first setting that cannot work, by its environment
// name. It reads the TLS files, so a missing or malformed file is reported
// at start-up rather than at the first connection.
func (r Redis) Validate() error {
	_, err := r.Endpoint()
	return err
}

// Endpoint merges the settings into where and how to connect. Errors name
// the setting at fault and never hold a password.
func (r Redis) Endpoint() (Endpoint, error) {
	e := Endpoint{Addr: r.Addr, Username: r.Username, Password: r.Password, DB: r.DB,
		SentinelMaster: r.SentinelMaster, SentinelAddrs: r.SentinelAddrs, SentinelPassword: r.SentinelPassword}
	if r.DB < 0 {
		return Endpoint{}, fmt.Errorf("%s=%d: want a database number >= 0", EnvName("redis-db"), r.DB)
	}
	useTLS := r.TLS || r.TLSCA != "" || r.TLSCert != ""
	if r.URL != "" {
		if r.Sentinel() {
			return Endpoint{}, fmt.Errorf("%s and %s are both set: with Sentinel, give the master's user, password and database in %s, %s and %s",
				EnvName("redis-url"), EnvName("redis-sentinel-master"), EnvName("redis-username"), EnvName("redis-password"), EnvName("redis-db"))
		}
		u, err := ParseRedisURL(r.URL)
		if err != nil {
			return Endpoint{}, err
		}
		e.Addr = u.Addr
		useTLS = useTLS || u.TLS
		for _, f := range []struct {
			name        string
			fromURL     string
			set         *string
			inURL, hide bool
		}{
			{"redis-username", u.Username, &e.Username, u.Username != "", false},
			{"redis-password", u.Password, &e.Password, u.HasPassword, true},
		} {
			if !f.inURL {
				continue
			}
			if *f.set != "" && *f.set != f.fromURL {
				return Endpoint{}, fmt.Errorf("%s and the %s in %s differ: set one of them", EnvName(f.name),
					strings.TrimPrefix(f.name, "redis-"), EnvName("redis-url"))
			}
			*f.set = f.fromURL
		}
		if u.HasDB {
			if r.DB != 0 && r.DB != u.DB {
				return Endpoint{}, fmt.Errorf("%s=%d and the database %d in %s differ: set one of them",
					EnvName("redis-db"), r.DB, u.DB, EnvName("redis-url"))
			}
			e.DB = u.DB
		}
	}
	if r.Sentinel() {
		if len(r.SentinelAddrs) == 0 {
			return Endpoint{}, fmt.Errorf("%s is set but %s is empty", EnvName("redis-sentinel-master"), EnvName("redis-sentinel-addrs"))
		}
		for _, a := range r.SentinelAddrs {
			if err := checkHostPort(a); err != nil {
				return Endpoint{}, fmt.Errorf("%s: %q: %v", EnvName("redis-sentinel-addrs"), a, err)
			}
		}
		e.Addr = ""
	} else {
		if len(r.SentinelAddrs) > 0 || r.SentinelPassword != "" {
			return Endpoint{}, fmt.Errorf("%s is set but %s is empty", EnvName("redis-sentinel-addrs"), EnvName("redis-sentinel-master"))
		}
		if e.Addr == "" {
			return Endpoint{}, fmt.Errorf("%s and %s are both empty", EnvName("redis-addr"), EnvName("redis-url"))
		}
		if r.URL == "" {
			if err := checkHostPort(e.Addr); err != nil {
				return Endpoint{}, fmt.Errorf("%s=%q: %v", EnvName("redis-addr"), e.Addr, err)
			}
		}
	}
	if e.Username != "" && e.Password == "" {
		return Endpoint{}, fmt.Errorf("the Redis user %q has no password: set %s (or redis://user:password@... in %s)",
			e.Username, EnvName("redis-password"), EnvName("redis-url"))
	}
	if useTLS {
		t, err := ClientTLS("redis-tls", r.TLSCA, r.TLSCert, r.TLSKey, r.TLSServerName)
		if err != nil {
			return Endpoint{}, err
		}
		e.TLS = t
	}
	return e, nil
}

// Where is the server (or the Sentinel master) for logs and errors, with no
// credentials in it.
func (r Redis) Where() string {
	if r.Sentinel() {
		return "master " + r.SentinelMaster + " of sentinels " + strings.Join(r.SentinelAddrs, ",")
	}
	if r.URL != "" {
		if u, err := ParseRedisURL(r.URL); err == nil {
			return u.Addr
		}
		return "the server in " + EnvName("redis-url")
	}
	return r.Addr
}

// RedisURL is a parsed redis:// or rediss:// URL.
type RedisURL struct {
	Addr        string
	Username    string
	Password    string
	HasPassword bool
	DB          int
	HasDB       bool
	TLS         bool
}

// ParseRedisURL parses redis://[user:password@]host[:port][/db] (rediss://
// for TLS; the port defaults to 6379). Errors name TAKEDOWN_REDIS_URL and
// never repeat the URL, which may hold a password.
func ParseRedisURL(raw string) (RedisURL, error) {
	env := EnvName("redis-url")
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the whole URL, password included: keep only why.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return RedisURL{}, fmt.Errorf("%s is not a URL: %v", env, redactErr(err, raw))
	}
	var out RedisURL
	switch u.Scheme {
	case "redis":
	case "rediss":
		out.TLS = true
	default:
		return RedisURL{}, fmt.Errorf("%s: scheme %q: want redis:// or rediss://", env, u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" {
		return RedisURL{}, fmt.Errorf("%s: no host: want %s://[user:password@]host:port[/db]", env, u.Scheme)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return RedisURL{}, fmt.Errorf("%s: options after ? or # are not read: use the TAKEDOWN_REDIS_* settings", env)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return RedisURL{}, fmt.Errorf("%s: no host", env)
	}
	if port == "" {
		port = "6379"
	}
	out.Addr = net.JoinHostPort(host, port)
	if err := checkHostPort(out.Addr); err != nil {
		return RedisURL{}, fmt.Errorf("%s: %v", env, err)
	}
	if u.User != nil {
		out.Username = u.User.Username()
		// As in go-redis: redis://user@host names a user and no password;
		// a password alone is redis://:password@host.
		out.Password, out.HasPassword = u.User.Password()
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return RedisURL{}, fmt.Errorf("%s: database %q: want a number >= 0 after the host", env, p)
		}
		out.DB, out.HasDB = n, true
	}
	return out, nil
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port")
	}
	if host == "" {
		return errors.New("no host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q: want 1..65535", port)
	}
	return nil
}

// redactErr drops the user info of raw from err's text.
func redactErr(err error, raw string) string {
	msg := err.Error()
	if i := strings.Index(raw, "://"); i >= 0 {
		rest := raw[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if info := rest[:at]; info != "" {
				msg = strings.ReplaceAll(msg, info, "REDACTED")
			}
		}
	}
	return msg
}
