package review

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// A minimal Chrome DevTools Protocol client: enough to drive one page of a
// headless Chromium in a test (navigate, evaluate, type, press keys, take a
// screenshot). It speaks CDP's JSON messages over the browser's websocket,
// with golang.org/x/net/websocket, already in the module graph. chromedp
// would add cdproto, a very large generated package, for the eight methods
// used here.

// chromiumPath finds the browser: TAKEDOWN_CHROMIUM, else Debian's
// chromium. Without one the test is skipped, or fails when the run requires
// its services (make test, whose CI installs chromium).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TAKEDOWN_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(testenv.EnvRequire) != "" {
		t.Fatalf("no chromium found (install Debian's chromium, or set TAKEDOWN_CHROMIUM)")
	}
	t.Skip("no chromium: install Debian's chromium or set TAKEDOWN_CHROMIUM")
	return ""
}

// browserPage is one page (tab) of a headless Chromium under CDP.
type browserPage struct {
	t       *testing.T
	ws      *websocket.Conn
	session string

	mu      sync.Mutex
	nextID  int64
	waiting map[int64]chan cdpMessage
	closed  chan struct{}
	// requested are the URLs of every request the page sent (events
	// Network.requestWillBeSent), blocked ones included.
	requested []string
	readErr   error
}

type cdpMessage struct {
	ID        int64           `json:"id,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    any             `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// startChromium launches a headless Chromium with its own profile and a page
// of width x height CSS pixels, and stops it at the end of the test.
func startChromium(t *testing.T, width, height int) *browserPage {
	t.Helper()
	bin := chromiumPath(t)
	// Not t.TempDir: chromium's helper processes may still write to the
	// profile for a moment after the browser exits, which fails the
	// testing package's own cleanup.
	profile, err := os.MkdirTemp("", "takedown-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin,
		"--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--disable-background-networking", "--disable-sync", "--mute-audio", "--hide-scrollbars",
		// Root in CI and containers cannot use the sandbox; the browser
		// only loads this test's own local pages.
		"--no-sandbox",
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"--remote-allow-origins=http://127.0.0.1",
		"--user-data-dir="+profile, fmt.Sprintf("--window-size=%d,%d", width, height), "about:blank")
	// Its own process group, killed whole: the renderer and GPU helpers go
	// with the browser.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("chromium did not exit")
		}
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("could not remove chromium's profile %s", profile)
	})
	// The browser announces its websocket on stderr.
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if _, url, ok := strings.Cut(line, "DevTools listening on "); ok {
				found <- strings.TrimSpace(url)
			}
		}
	}()
	var wsURL string
	select {
	case wsURL = <-found:
	case <-exited:
		t.Fatalf("chromium exited before it listened for DevTools")
	case <-time.After(waitFor):
		t.Fatalf("chromium did not announce its DevTools websocket within %s", waitFor)
	}
	ws, err := websocket.Dial(wsURL, "", "http://127.0.0.1")
	if err != nil {
		t.Fatalf("connect to %s: %v", wsURL, err)
	}
	ws.MaxPayloadBytes = 64 << 20 // screenshots
	p := &browserPage{t: t, ws: ws, waiting: map[int64]chan cdpMessage{}, closed: make(chan struct{})}
	t.Cleanup(func() { ws.Close() })
	go p.read()

	var target struct {
		TargetID string `json:"targetId"`
	}
	p.call("Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	p.call("Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached)
	p.session = attached.SessionID
	p.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}, nil)
	p.call("Page.enable", nil, nil)
	p.call("Runtime.enable", nil, nil)
	p.call("Network.enable", nil, nil)
	return p
}

// read delivers replies to their callers and records the page's requests.
func (p *browserPage) read() {
	defer close(p.closed)
	for {
		var raw []byte
		if err := websocket.Message.Receive(p.ws, &raw); err != nil {
			p.mu.Lock()
			p.readErr = err
			p.mu.Unlock()
			return
		}
		var m cdpMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			continue
		}
		if m.ID == 0 {
			if m.Method == "Network.requestWillBeSent" {
				var ev struct {
					Params struct {
						Request struct {
							URL string `json:"url"`
						} `json:"request"`
					} `json:"params"`
				}
				if json.Unmarshal(raw, &ev) == nil {
					p.mu.Lock()
					p.requested = append(p.requested, ev.Params.Request.URL)
					p.mu.Unlock()
				}
			}
			continue
		}
		p.mu.Lock()
		ch := p.waiting[m.ID]
		delete(p.waiting, m.ID)
		p.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
}

// call sends one command (to the page once attached) and decodes its result
// into out (nil to ignore it); a protocol error fails the test.
func (p *browserPage) call(method string, params any, out any) {
	p.t.Helper()
	if err := p.try(method, params, out); err != nil {
		p.t.Fatalf("%s: %v", method, err)
	}
}

func (p *browserPage) try(method string, params any, out any) error {
	p.mu.Lock()
	p.nextID++
	id := p.nextID
	ch := make(chan cdpMessage, 1)
	p.waiting[id] = ch
	p.mu.Unlock()
	if params == nil {
		params = map[string]any{}
	}
	if err := websocket.JSON.Send(p.ws, cdpMessage{ID: id, SessionID: p.session, Method: method, Params: params}); err != nil {
		return err
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return fmt.Errorf("error %d: %s", m.Error.Code, m.Error.Message)
		}
		if out != nil {
			return json.Unmarshal(m.Result, out)
		}
		return nil
	case <-p.closed:
		return fmt.Errorf("connection closed: %v", p.readErr)
	case <-time.After(waitFor):
		return errors.New("no answer")
	}
}

// eval runs a JavaScript expression in the page and decodes its value into
// out (nil to ignore it); an exception fails the test.
func (p *browserPage) eval(expr string, out any) {
	p.t.Helper()
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	p.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &res)
	if res.Exception != nil {
		p.t.Fatalf("evaluating %s: %s %s", expr, res.Exception.Text, res.Exception.Exception.Description)
	}
	if out != nil && len(res.Result.Value) > 0 {
		if err := json.Unmarshal(res.Result.Value, out); err != nil {
			p.t.Fatalf("result of %s: %v (%s)", expr, err, res.Result.Value)
		}
	}
}

// requests returns the URLs the page has requested so far.
func (p *browserPage) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requested...)
}

// evalString is eval of a string-valued expression.
func (p *browserPage) evalString(expr string) string {
	p.t.Helper()
	var s string
	p.eval(expr, &s)
	return s
}

func (p *browserPage) navigate(url string) {
	p.t.Helper()
	p.call("Page.navigate", map[string]any{"url": url}, nil)
}

// waitPage waits until the page at path has loaded and cond (a JavaScript
// expression, "" for none) is true. A navigation replaces the document, so
// an evaluation may fail while it happens: those are retried.
func (p *browserPage) waitPage(path, cond string) {
	p.t.Helper()
	expr := fmt.Sprintf("document.readyState === 'complete' && location.pathname === %s", jsString(path))
	if cond != "" {
		expr += " && (" + cond + ")"
	}
	testenv.WaitFor(p.t, waitFor, "page "+path+" with "+cond, func() bool {
		var res struct {
			Result struct {
				Value bool `json:"value"`
			} `json:"result"`
		}
		if err := p.try("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res); err != nil {
			return false
		}
		return res.Result.Value
	})
}

// press types one key as a user would (keydown with its text, keyup).
func (p *browserPage) press(key string) {
	p.t.Helper()
	down := map[string]any{"type": "keyDown", "key": key}
	switch {
	case key == "Escape":
		down["code"], down["windowsVirtualKeyCode"] = "Escape", 27
	case len(key) == 1:
		down["text"] = key
		down["code"] = "Key" + strings.ToUpper(key)
		down["windowsVirtualKeyCode"] = int(strings.ToUpper(key)[0])
	}
	p.call("Input.dispatchKeyEvent", down, nil)
	up := map[string]any{"type": "keyUp", "key": key, "code": down["code"], "windowsVirtualKeyCode": down["windowsVirtualKeyCode"]}
	p.call("Input.dispatchKeyEvent", up, nil)
}

// insertText types text into the focused field.
func (p *browserPage) insertText(text string) {
	p.t.Helper()
	p.call("Input.insertText", map[string]any{"text": text}, nil)
}

// screenshot returns a PNG of the viewport.
func (p *browserPage) screenshot() []byte {
	p.t.Helper()
	var res struct {
		Data string `json:"data"`
	}
	p.call("Page.captureScreenshot", map[string]any{"format": "png"}, &res)
	png, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil {
		p.t.Fatal(err)
	}
	return png
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// repoPath is a path relative to the repository root, from this package.
func repoPath(rel string) string { return filepath.Join("..", "..", "..", rel) }
