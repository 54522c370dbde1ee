package testenv

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Process is a built binary run by a test as an operator would run it, its
// standard output and error collected together.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	buf  strings.Builder
	err  error
}

// lockedWriter lets the process's output be read while it runs.
type lockedWriter struct{ p *Process }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.buf.Write(b)
}

// Start runs bin with exactly env; the test's cleanup kills it.
func Start(t testing.TB, bin string, env []string) *Process {
	t.Helper()
	p := &Process{cmd: exec.Command(bin), done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = lockedWriter{p}, lockedWriter{p}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// Output is everything the process wrote so far.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Done is closed when the process has exited; Err then says how.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the process's exit error, once Done is closed.
func (p *Process) Err() error { return p.err }

// Exit waits for the process to end and returns its exit code.
func (p *Process) Exit(t testing.TB, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("still running after %s; output:\n%s", within, p.Output())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

// WaitFor waits until the output holds line, failing the test if the
// process exits first or within passes.
func (p *Process) WaitFor(t testing.TB, within time.Duration, line string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for !strings.Contains(p.Output(), line) {
		select {
		case <-p.done:
			t.Fatalf("exited before %q; output:\n%s", line, p.Output())
		case <-ctx.Done():
			t.Fatalf("no %q within %s; output:\n%s", line, within, p.Output())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
