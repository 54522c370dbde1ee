// Package fetch holds the URL policy and size/time-limited HTTP fetching of
// media.
//
// Media URLs come from uploaders, so fetching them is a server-side request
// forgery risk: a URL may point at the pipeline's own network (metadata
// services, Redis, Kafka, admin endpoints). The policy admits only http and
// https URLs whose host resolves to public addresses, and the Client enforces
// it again on the address it actually connects to and on every redirect, so
// neither DNS rebinding nor a redirect can slip past it.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// AllowlistSetting is the environment variable that widens the policy; error
// messages name it so that an operator knows how to permit an address.
const AllowlistSetting = "TAKEDOWN_URL_ALLOWLIST"

// Errors of the URL policy. They are wrapped with details; test with errors.Is.
var (
	// ErrBadURL: the URL is malformed, has no host, carries credentials or
	// its host does not exist.
	ErrBadURL = errors.New("bad media URL")
	// ErrScheme: the URL is not http or https.
	ErrScheme = errors.New("media URL scheme not allowed")
	// ErrForbiddenAddress: the host is, or resolves to, an address that is
	// not public (loopback, private, link-local, ...) and not allowlisted.
	ErrForbiddenAddress = errors.New("media URL address not allowed")
)

// AddressError says which address was refused and why. It matches
// ErrForbiddenAddress with errors.Is.
type AddressError struct {
	Host   string     // the host as written in the URL
	Addr   netip.Addr // the refused address
	Reason string     // e.g. "loopback", "private"
}

func (e *AddressError) Error() string {
	host := ""
	if e.Host != "" && e.Host != e.Addr.String() {
		host = fmt.Sprintf("host %q resolves to ", e.Host)
	}
	return fmt.Sprintf("%v: %s%s, a %s address; media is only fetched from public addresses "+
		"(add %s to %s to permit it)", ErrForbiddenAddress, host, e.Addr, e.Reason, e.Addr, AllowlistSetting)
}

// Is makes errors.Is(err, ErrForbiddenAddress) true.
func (e *AddressError) Is(target error) bool { return target == ErrForbiddenAddress }

// Policy decides which URLs may be fetched. The zero Policy admits public
// addresses only.
type Policy struct {
	// Allow lists prefixes that are admitted even though they are not
	// public (e.g. a test server on loopback, or a platform's internal media
	// store).
	Allow []netip.Prefix
	// Resolver looks host names up; nil means net.DefaultResolver.
	Resolver *net.Resolver
}

// ParseAllowlist parses entries that are CIDR prefixes ("10.1.0.0/16") or
// single addresses ("127.0.0.1", "::1").
func ParseAllowlist(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var bad []string
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				bad = append(bad, fmt.Sprintf("%q is not a CIDR prefix", s))
				continue
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%q is neither an IP address nor a CIDR prefix", s))
			continue
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s: %s", AllowlistSetting, strings.Join(bad, "; "))
	}
	return out, nil
}

// CheckURL parses raw and checks it against the policy: http or https, a
// host, no credentials, and every address the host resolves to admitted. A
// failed lookup that may succeed later is returned unwrapped by the policy
// errors (IsPermanent reports false for it).
func (p Policy) CheckURL(ctx context.Context, raw string) (*url.URL, error) {
	u, err := p.checkSyntax(raw)
	if err != nil {
		return nil, err
	}
	if err := p.checkHost(ctx, u.Hostname()); err != nil {
		return nil, err
	}
	return u, nil
}

// CheckSyntax checks raw as CheckURL does, without looking its host up. Its
// errors speak of raw only, so an API may show them to the caller; the
// host checks' errors (addresses, DNS answers) are for logs.
func (p Policy) CheckSyntax(raw string) (*url.URL, error) { return p.checkSyntax(raw) }

func (p Policy) checkSyntax(raw string) (*url.URL, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, fmt.Errorf("%w: empty URL", ErrBadURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the whole URL; keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%w: %q: %v", ErrBadURL, raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		if u.Scheme == "" {
			return nil, fmt.Errorf("%w: %q has no scheme; want http:// or https://", ErrScheme, raw)
		}
		return nil, fmt.Errorf("%w: %q uses %s://; only http:// and https:// are fetched", ErrScheme, raw, u.Scheme)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: %q carries credentials (user info); media URLs must not", ErrBadURL, u.Redacted())
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%w: %q has no host", ErrBadURL, raw)
	}
	return u, nil
}

func (p Policy) checkHost(ctx context.Context, host string) error {
	// A literal needs no lookup; zones ("fe80::1%eth0") are link-local anyway.
	if a, err := netip.ParseAddr(host); err == nil {
		return p.CheckAddr(host, a)
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return fmt.Errorf("%w: host %q does not exist", ErrBadURL, host)
		}
		return fmt.Errorf("resolve media host %q: %w", host, err)
	}
	if len(addrs) == 0 {
		return fmt.Errorf("%w: host %q has no addresses", ErrBadURL, host)
	}
	// Every address must pass: the dialer may pick any of them.
	for _, a := range addrs {
		if err := p.CheckAddr(host, a); err != nil {
			return err
		}
	}
	return nil
}

// CheckAddr checks one address that host (used in the message only) resolved
// to. It returns an *AddressError when the address is refused.
func (p Policy) CheckAddr(host string, a netip.Addr) error {
	a = a.WithZone("")
	if p.allowed(a) {
		return nil
	}
	if reason := forbiddenReason(a); reason != "" {
		return &AddressError{Host: host, Addr: a, Reason: reason}
	}
	return nil
}

func (p Policy) allowed(a netip.Addr) bool {
	for _, pre := range p.Allow {
		if pre.Contains(a) || pre.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

type special struct {
	prefix netip.Prefix
	reason string
}

// Non-public ranges beyond what netip.Addr's predicates cover (IANA special
// purpose registries). Ranges that embed an IPv4 address (NAT64, 6to4) are
// handled by checking the embedded address instead.
var specials = func() []special {
	list := []struct{ cidr, reason string }{
		{"0.0.0.0/8", "\"this network\""},
		{"100.64.0.0/10", "carrier-grade NAT (shared)"},
		{"192.0.0.0/24", "IETF protocol assignment"},
		{"192.0.2.0/24", "documentation"},
		{"192.88.99.0/24", "6to4 relay anycast (deprecated)"},
		{"198.18.0.0/15", "benchmarking"},
		{"198.51.100.0/24", "documentation"},
		{"203.0.113.0/24", "documentation"},
		{"240.0.0.0/4", "reserved"},
		{"::/96", "IPv4-compatible (deprecated)"},
		{"::ffff:0:0:0/96", "IPv4-translated (SIIT)"},
		{"100::/64", "discard-only"},
		{"2001::/32", "Teredo tunnel"},
		{"2001:2::/48", "benchmarking"},
		{"2001:10::/28", "ORCHID (deprecated)"},
		{"2001:db8::/32", "documentation"},
		{"fec0::/10", "site-local"},
	}
	out := make([]special, len(list))
	for i, s := range list {
		out[i] = special{netip.MustParsePrefix(s.cidr), s.reason}
	}
	return out
}()

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	nat64Loc  = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// forbiddenReason names the kind of non-public address a is, or "" when it is
// public.
func forbiddenReason(a netip.Addr) string {
	if a.Is4In6() {
		if r := forbiddenReason(a.Unmap()); r != "" {
			return "IPv4-mapped " + r
		}
		return ""
	}
	switch {
	case !a.IsValid():
		return "invalid"
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsMulticast():
		return "multicast"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast"
	}
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64.Contains(a):
			if r := forbiddenReason(netip.AddrFrom4([4]byte(b[12:16]))); r != "" {
				return "NAT64-embedded " + r
			}
			return ""
		case nat64Loc.Contains(a):
			return "local-use NAT64"
		case sixToFour.Contains(a):
			if r := forbiddenReason(netip.AddrFrom4([4]byte(b[2:6]))); r != "" {
				return "6to4-embedded " + r
			}
			return ""
		}
	}
	for _, s := range specials {
		if s.prefix.Contains(a) {
			return s.reason
		}
	}
	return ""
}
