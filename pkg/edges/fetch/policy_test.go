package fetch

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestParseAllowlist(t *testing.T) {
	got, err := ParseAllowlist([]string{"127.0.0.1", " 10.1.0.0/16 ", "::1", "", "10.1.2.3/16"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.1/32", "10.1.0.0/16", "::1/128", "10.1.0.0/16"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("entry %d = %s, want %s", i, got[i], want[i])
		}
	}

	_, err = ParseAllowlist([]string{"localhost", "10.0.0.0/33"})
	if err == nil {
		t.Fatal("bad entries accepted")
	}
	for _, s := range []string{"localhost", "10.0.0.0/33", AllowlistSetting} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

func TestCheckURL(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name    string
		url     string
		allow   []netip.Prefix
		wantErr error
		// wantMsg are substrings the message must contain, so the user
		// learns what was refused and how to permit it.
		wantMsg []string
	}{
		{name: "public IPv4 literal", url: "https://93.184.215.14/a.jpg"},
		{name: "public IPv4 literal with port", url: "http://8.8.8.8:8080/a.jpg"},
		{name: "public IPv6 literal", url: "https://[2606:4700::1111]/a.png"},
		{name: "loopback", url: "http://127.0.0.1/a.jpg", wantErr: ErrForbiddenAddress,
			wantMsg: []string{"127.0.0.1", "loopback", AllowlistSetting}},
		{name: "loopback other", url: "http://127.1.2.3:9000/", wantErr: ErrForbiddenAddress},
		{name: "private 10/8", url: "http://10.0.0.5/a.jpg", wantErr: ErrForbiddenAddress,
			wantMsg: []string{"10.0.0.5", "private"}},
		{name: "private 172.16/12", url: "http://172.20.1.1/", wantErr: ErrForbiddenAddress},
		{name: "private 192.168/16", url: "http://192.168.1.1/", wantErr: ErrForbiddenAddress},
		{name: "link-local metadata", url: "http://169.254.169.254/latest/meta-data", wantErr: ErrForbiddenAddress,
			wantMsg: []string{"169.254.169.254", "link-local"}},
		{name: "unspecified", url: "http://0.0.0.0/", wantErr: ErrForbiddenAddress},
		{name: "this network", url: "http://0.1.2.3/", wantErr: ErrForbiddenAddress},
		{name: "CGNAT", url: "http://100.64.1.1/", wantErr: ErrForbiddenAddress, wantMsg: []string{"carrier-grade"}},
		{name: "multicast", url: "http://224.0.0.1/", wantErr: ErrForbiddenAddress},
		{name: "broadcast", url: "http://255.255.255.255/", wantErr: ErrForbiddenAddress},
		{name: "IPv6 loopback", url: "http://[::1]/a.jpg", wantErr: ErrForbiddenAddress, wantMsg: []string{"::1"}},
		{name: "IPv6 unique local", url: "http://[fd00::1]/", wantErr: ErrForbiddenAddress},
		{name: "IPv6 link-local", url: "http://[fe80::1]/", wantErr: ErrForbiddenAddress},
		{name: "IPv4-mapped loopback", url: "http://[::ffff:127.0.0.1]/", wantErr: ErrForbiddenAddress,
			wantMsg: []string{"IPv4-mapped loopback"}},
		{name: "IPv4-mapped private", url: "http://[::ffff:10.1.1.1]/", wantErr: ErrForbiddenAddress},
		{name: "IPv4-mapped public", url: "http://[::ffff:8.8.8.8]/"},
		{name: "IPv4-translated loopback (SIIT)", url: "http://[::ffff:0:7f00:1]/", wantErr: ErrForbiddenAddress},
		{name: "6to4 relay anycast", url: "http://192.88.99.1/", wantErr: ErrForbiddenAddress},
		{name: "NAT64 private", url: "http://[64:ff9b::a00:1]/", wantErr: ErrForbiddenAddress},
		{name: "6to4 loopback", url: "http://[2002:7f00:1::]/", wantErr: ErrForbiddenAddress},
		{name: "localhost name", url: "http://localhost:8080/a.jpg", wantErr: ErrForbiddenAddress,
			wantMsg: []string{`"localhost"`, "loopback"}},
		{name: "allowlisted loopback", url: "http://127.0.0.1:8080/a.jpg", allow: loopback},
		{name: "allowlisted IPv6 loopback", url: "http://[::1]:8080/a.jpg", allow: loopback},
		{name: "allowlisted via mapped", url: "http://[::ffff:127.0.0.1]/", allow: loopback},
		{name: "allowlist is exact", url: "http://10.0.0.1/", allow: loopback, wantErr: ErrForbiddenAddress},
		{name: "ftp", url: "ftp://93.184.215.14/a.jpg", wantErr: ErrScheme, wantMsg: []string{"ftp://"}},
		{name: "file", url: "file:///etc/passwd", wantErr: ErrScheme},
		{name: "no scheme", url: "example.com/a.jpg", wantErr: ErrScheme},
		{name: "no host", url: "http:///a.jpg", wantErr: ErrBadURL, wantMsg: []string{"no host"}},
		{name: "empty", url: "", wantErr: ErrBadURL},
		{name: "userinfo", url: "http://user:secret@93.184.215.14/", wantErr: ErrBadURL, wantMsg: []string{"credentials"}},
		{name: "malformed", url: "http://[::1/", wantErr: ErrBadURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Policy{Allow: tt.allow}
			u, err := p.CheckURL(context.Background(), tt.url)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("CheckURL(%q) = %v, want nil", tt.url, err)
				}
				if u == nil || u.Hostname() == "" {
					t.Fatalf("CheckURL(%q) returned URL %v", tt.url, u)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("CheckURL(%q) = %v, want %v", tt.url, err, tt.wantErr)
			}
			if !IsPermanent(err) {
				t.Errorf("policy error %v is not permanent", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error leaks the password: %v", err)
			}
			for _, s := range tt.wantMsg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestAddressErrorAs(t *testing.T) {
	_, err := Policy{}.CheckURL(context.Background(), "http://10.9.8.7/x")
	var ae *AddressError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an *AddressError", err)
	}
	if ae.Addr != netip.MustParseAddr("10.9.8.7") || ae.Reason != "private" {
		t.Errorf("got %+v", ae)
	}
}

func TestCheckURLNonexistentHost(t *testing.T) {
	_, err := Policy{}.CheckURL(context.Background(), "http://no-such-host.invalid/a.jpg")
	if err == nil {
		t.Fatal("a host that does not exist passed")
	}
	var dnsErr *net.DNSError
	if !errors.Is(err, ErrBadURL) && errors.As(err, &dnsErr) && !dnsErr.IsNotFound {
		// No working DNS here: the lookup failed for another reason, which
		// must then count as transient.
		if IsPermanent(err) {
			t.Errorf("lookup failure %v counted as permanent", err)
		}
		t.Skipf("no DNS: %v", err)
	}
	if !errors.Is(err, ErrBadURL) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("CheckURL = %v, want ErrBadURL saying the host does not exist", err)
	}
}
