// Package observability holds the test harness of the real observability
// tools: a Jaeger v2 built from the Go module proxy (scripts/jaeger.sh),
// whose query API returns the spans a test's processes exported, and a
// Prometheus (scripts/prometheus.sh, Debian's package) that scrapes given
// targets with the rules of deployments/helm/takedown/rules loaded, and answers
// instant queries. Both are the real servers an operator runs, not fakes.
package observability

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// EnvRequire makes a missing tool fail a test instead of skipping it
// (`make test` sets it, as for Kafka and Redis).
const EnvRequire = "TAKEDOWN_TEST_REQUIRE_SERVICES"

// RepoRoot is the repository's root directory (where scripts/ lives),
// found from this file's path so that any package's tests can use it.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// script runs scripts/<name> with env added, returning its standard output.
// Its standard error (progress, the tool's last log lines on failure) goes
// into the error.
func script(ctx context.Context, name string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(RepoRoot(), "scripts", name), args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("scripts/%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// exports reads the `export NAME=value` lines the scripts' env command prints.
func exports(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "export "), "=")
		if ok {
			m[k] = v
		}
	}
	return m
}

// FreePort is a loopback TCP port nothing listened on a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// getJSON GETs url and decodes its JSON answer into v.
func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return &StatusError{URL: url, Code: resp.StatusCode, Body: strings.TrimSpace(string(body))}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w in %.300s", url, err, body)
	}
	return nil
}

// StatusError is an API's answer other than 200 OK.
type StatusError struct {
	URL  string
	Code int
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("GET %s: %d %.300s", e.URL, e.Code, e.Body)
}

// poll calls try until it reports done or within passes, failing the test
// with the last error then.
func poll(t testing.TB, within time.Duration, what string, try func(ctx context.Context) (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		done, err := try(ctx)
		cancel()
		if done {
			return
		}
		last = err
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (last error: %v)", what, within, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
