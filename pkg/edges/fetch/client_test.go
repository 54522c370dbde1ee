package fetch

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

// loopbackClient admits the httptest servers, which listen on loopback.
func loopbackClient(cfg Config) *Client {
	cfg.Policy.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	return NewClient(cfg)
}

func TestFetch(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 1000)
	mux := http.NewServeMux()
	mux.HandleFunc("/ok.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(body)
	})
	mux.HandleFunc("/sniffed", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write([]byte("GIF89a......"))
	})
	mux.HandleFunc("/big-declared", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)*10))
		_, _ = w.Write(bytes.Repeat(body, 10))
	})
	mux.HandleFunc("/big-chunked", func(w http.ResponseWriter, r *http.Request) {
		// Flushing before the body forces chunked encoding: no Content-Length.
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for range 10 {
			_, _ = w.Write(body)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	mux.HandleFunc("/throttled", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "slow down", http.StatusTooManyRequests)
	})
	release := make(chan struct{})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/redirect-ok", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok.png", http.StatusFound)
	})
	mux.HandleFunc("/redirect-forbidden", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	mux.HandleFunc("/redirect-ftp", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "ftp://93.184.215.14/x", http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(release)

	c := loopbackClient(Config{MaxBytes: 5000, Timeout: 500 * time.Millisecond})

	tests := []struct {
		path      string
		wantErr   error
		wantCode  int
		permanent bool
		wantMime  string
	}{
		{path: "/ok.png", wantMime: "image/png"},
		{path: "/sniffed", wantMime: "image/gif"},
		{path: "/redirect-ok", wantMime: "image/png"},
		{path: "/big-declared", wantErr: ErrTooLarge, permanent: true},
		{path: "/big-chunked", wantErr: ErrTooLarge, permanent: true},
		{path: "/missing", wantCode: 404, permanent: true},
		{path: "/broken", wantCode: 500, permanent: false},
		{path: "/throttled", wantCode: 429, permanent: false},
		{path: "/slow", wantErr: ErrTimeout, permanent: false},
		{path: "/redirect-forbidden", wantErr: ErrForbiddenAddress, permanent: true},
		{path: "/redirect-ftp", wantErr: ErrScheme, permanent: true},
		{path: "/loop", wantErr: ErrTooManyRedirects, permanent: true},
	}
	for _, tt := range tests {
		t.Run(strings.TrimPrefix(tt.path, "/"), func(t *testing.T) {
			m, err := c.Fetch(context.Background(), srv.URL+tt.path)
			if tt.wantErr == nil && tt.wantCode == 0 {
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				if m.MimeType != tt.wantMime {
					t.Errorf("mime %q, want %q", m.MimeType, tt.wantMime)
				}
				if tt.wantMime == "image/png" && !bytes.Equal(m.Data, body) {
					t.Errorf("body of %d bytes, want %d", len(m.Data), len(body))
				}
				return
			}
			if err == nil {
				t.Fatalf("Fetch succeeded, want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Fetch = %v, want %v", err, tt.wantErr)
			}
			if tt.wantCode != 0 {
				var se *StatusError
				if !errors.As(err, &se) || se.Code != tt.wantCode {
					t.Fatalf("Fetch = %v, want status %d", err, tt.wantCode)
				}
			}
			if got := IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, got, tt.permanent)
			}
		})
	}
}

func TestFetchRefusesLoopbackWithoutAllowlist(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the server was reached")
	}))
	defer srv.Close()
	_, err := NewClient(Config{}).Fetch(context.Background(), srv.URL+"/a.png")
	if !errors.Is(err, ErrForbiddenAddress) || !IsPermanent(err) {
		t.Fatalf("Fetch = %v, want a permanent ErrForbiddenAddress", err)
	}
}

// TestDialTimeCheck shows that the policy holds at connect time even when the
// URL check passed, as it would after a DNS rebinding: the resolver answers
// with a public address for CheckURL, then the dialer is handed loopback.
func TestDialTimeCheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the server was reached")
	}))
	defer srv.Close()
	c := NewClient(Config{})
	// Skip CheckURL (which would refuse the literal) and go straight to the
	// transport, as a rebinding host name would after passing CheckURL.
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	_, err := c.hc.Do(req)
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("dial = %v, want ErrForbiddenAddress", err)
	}
	if !IsPermanent(err) {
		t.Errorf("dial-time refusal %v is not permanent", err)
	}
}

func TestIsPermanent(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&StatusError{Code: 400}, true},
		{&StatusError{Code: 403}, true},
		{&StatusError{Code: 410}, true},
		{&StatusError{Code: 300}, true},
		{&StatusError{Code: 304}, true},
		{&StatusError{Code: 408}, false},
		{&StatusError{Code: 429}, false},
		{&StatusError{Code: 502}, false},
		{context.DeadlineExceeded, false},
		{errors.New("connection refused"), false},
	}
	for _, tt := range tests {
		if got := IsPermanent(tt.err); got != tt.want {
			t.Errorf("IsPermanent(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
