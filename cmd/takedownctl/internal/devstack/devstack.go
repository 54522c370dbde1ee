// Package devstack runs the pipeline on one machine with no outside
// services: a franz-go kfake cluster (the real Kafka protocol over TCP), an
// in-process Redis-protocol server, and the five service binaries as child
// processes whose output is prefixed with their names.
package devstack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/twmb/franz-go/pkg/kfake"
)

// StartKafka starts a single-broker kfake cluster on 127.0.0.1:port. A
// non-empty dataDir keeps its data across restarts.
func StartKafka(port int, dataDir string) (*kfake.Cluster, error) {
	opts := []kfake.Opt{
		kfake.Ports(port),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(3),
		// Short sessions let a restarted service rejoin quickly on a laptop.
		kfake.GroupMinSessionTimeout(time.Second),
	}
	if dataDir != "" {
		opts = append(opts, kfake.DataDir(dataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded Kafka on 127.0.0.1:%d: %w (is another broker using the port? set TAKEDOWN_DEV_KAFKA_PORT)", port, err)
	}
	return c, nil
}

// StartRedis starts an in-process Redis-protocol server on addr, or on a
// free port when addr is taken.
func StartRedis(addr string) (*miniredis.Miniredis, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr(addr); err == nil {
		return m, nil
	}
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("start embedded Redis: %w", err)
	}
	return m, nil
}

// Process is one supervised service binary.
type Process struct {
	Name    string
	Bin     string
	Env     []string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	err     error         // its exit status, set before done closes
	outputs sync.WaitGroup
}

// Start launches the binary with env added to the current environment,
// copying its output line by line to w with a "[name]" prefix.
func (p *Process) Start(w io.Writer, mu *sync.Mutex) error {
	p.cmd = exec.Command(p.Bin)
	p.cmd.Env = append(os.Environ(), p.Env...)
	// Own process group: the launcher decides when children stop, so a
	// Ctrl-C reaches them once, as an orderly SIGTERM.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("start %s (%s): %w (run `make build` first)", p.Name, p.Bin, err)
	}
	for _, r := range []io.Reader{stdout, stderr} {
		p.outputs.Add(1)
		go func() {
			defer p.outputs.Done()
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				mu.Lock()
				fmt.Fprintf(w, "[%-8s] %s\n", p.Name, sc.Text())
				mu.Unlock()
			}
		}()
	}
	p.done = make(chan struct{})
	go func() {
		p.outputs.Wait()
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return nil
}

// Done is closed when the process has exited; Err then says how.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the exit status, valid once Done is closed.
func (p *Process) Err() error { return p.err }

// Stop sends SIGTERM and waits up to grace before killing.
func (p *Process) Stop(grace time.Duration) error {
	if p.cmd == nil || p.cmd.Process == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		return fmt.Errorf("%s did not stop within %s; killed", p.Name, grace)
	}
}

// Binary finds a service binary next to the running executable, where
// `make build` puts them all.
func Binary(name string) string {
	exe, err := os.Executable()
	if err != nil {
		return name
	}
	return filepath.Join(filepath.Dir(exe), name)
}

// WaitReady polls url until it answers 200 or ctx ends.
func WaitReady(ctx context.Context, url string) error {
	c := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("status %s", resp.Status)
			}
			return fmt.Errorf("%s not ready: %w", url, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// PortFree reports whether 127.0.0.1:port can be listened on.
func PortFree(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// StopAll stops processes in reverse order, logging failures.
func StopAll(log *slog.Logger, procs []*Process, grace time.Duration) {
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Stop(grace); err != nil {
				var exit *exec.ExitError
				if !errors.As(err, &exit) {
					log.Warn("stopping", "service", p.Name, "err", err)
				}
			}
		}()
	}
	wg.Wait()
}
