package service

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
)

// A client that sends its headers and then trickles its body is cut off by
// the read timeout. Before the timeouts existed (ReadHeaderTimeout only),
// such a connection stayed open as long as the client kept sending.
func TestTrickledBodyIsCutOff(t *testing.T) {
	const timeout = 500 * time.Millisecond
	read := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		read <- err
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop, addr, err := ServeWith(ctx, slog.New(slog.DiscardHandler), "127.0.0.1:0", h, config.HTTPServer{ReadTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "POST /v1/uploads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	// Trickle one byte every 50 ms for up to 5 s, until the server hangs up.
	closed := false
	for time.Since(start) < 5*time.Second {
		time.Sleep(50 * time.Millisecond)
		if _, err := conn.Write([]byte(" ")); err != nil {
			closed = true
			break
		}
		_ = conn.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := conn.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
			closed = true
			break
		}
	}
	elapsed := time.Since(start)
	if !closed {
		t.Fatalf("connection still open after %s of trickling (read timeout %s)", elapsed.Round(time.Millisecond), timeout)
	}
	if elapsed > timeout+time.Second {
		t.Errorf("connection closed after %s, want about %s", elapsed.Round(time.Millisecond), timeout)
	}
	select {
	case err := <-read:
		if err == nil {
			t.Error("the handler read the whole trickled body")
		}
	case <-time.After(2 * time.Second):
		t.Error("the handler's body read did not fail")
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// With an admin address, the health and metrics endpoints are served there
// only, and the API on the public address only.
func TestWorkerAdminListener(t *testing.T) {
	var closed []string
	w := worker(t, &closed)
	mux := w.HTTP.(*http.ServeMux)
	mux.HandleFunc("GET /v1/stats", func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, 200, map[string]int{"n": 1}) })
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "m 1\n") })
	w.Server = config.HTTPServer{AdminAddr: "127.0.0.1:0"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !w.Health.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	public, admin := w.Health.Addr(), w.Health.AdminAddr()
	if public == admin {
		t.Fatalf("admin address %s is the public one", admin)
	}
	for _, c := range []struct {
		addr, path string
		code       int
	}{
		{public, "/v1/stats", 200}, {public, "/healthz", 404}, {public, "/readyz", 404}, {public, "/metrics", 404},
		{admin, "/healthz", 200}, {admin, "/readyz", 200}, {admin, "/metrics", 200}, {admin, "/v1/stats", 404},
	} {
		resp, err := http.Get("http://" + c.addr + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(bufio.NewReader(resp.Body))
		resp.Body.Close()
		if resp.StatusCode != c.code {
			which := "public"
			if c.addr == admin {
				which = "admin"
			}
			t.Errorf("%s %s: %d %s, want %d", which, c.path, resp.StatusCode, strings.TrimSpace(string(b)), c.code)
		}
	}
}
