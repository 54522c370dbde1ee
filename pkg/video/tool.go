package video

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// maxTail bounds the stderr kept for error messages, maxLine one line of it.
const (
	maxTail = 2048
	maxLine = 4096
)

// command returns bin with args, run under ctx with no stdin, a bare
// environment (no FFREPORT or other variable can change what it does) and
// its own process group.
func command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"LC_ALL=C"}
	// After a kill, do not wait long for pipes some orphan might hold.
	cmd.WaitDelay = 5 * time.Second
	isolate(cmd)
	return cmd
}

// nicedCommand is command, run through nice(1) at niceness nice when that
// is above 0 and nice is installed (coreutils, in every Debian image). bin
// is looked up first, so a missing tool is still a start error, not nice's
// exit status. Niceness is inherited by every thread the tool starts, which
// setting it from here after the start could not promise.
func nicedCommand(ctx context.Context, nice int, bin string, args ...string) (*exec.Cmd, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, err
	}
	if nice > 0 {
		if n, err := exec.LookPath("nice"); err == nil {
			return command(ctx, n, append([]string{"-n", strconv.Itoa(nice), "--", path}, args...)...), nil
		}
	}
	return command(ctx, path, args...), nil
}

// startError explains a tool that could not be started.
func startError(bin string, err error) error {
	return fmt.Errorf("%w: cannot run %q: %v", ErrNoFFmpeg, bin, err)
}

// withTimeout bounds ctx by o.Timeout; its cause is then ErrTimeout.
func withTimeout(ctx context.Context, o Options) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, o.Timeout, ErrTimeout)
}

// ctxError is the error to return once ctx has ended, or nil if it has not:
// ErrTimeout for our own time limit, else the context's error.
func ctxError(ctx context.Context, o Options) error {
	if ctx.Err() == nil {
		return nil
	}
	if errors.Is(context.Cause(ctx), ErrTimeout) {
		return fmt.Errorf("%w: over %v: %w", ErrTimeout, o.Timeout, context.DeadlineExceeded)
	}
	return fmt.Errorf("video extraction stopped: %w", ctx.Err())
}

// exitCode is a finished command's exit status, -1 if it was killed.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// tail keeps the last maxTail bytes of a tool's warnings and errors.
type tail struct {
	lines []string
	size  int
}

func (t *tail) add(line string) {
	line = strings.TrimSpace(line)
	if line == "" {
		return
	}
	if len(line) > maxTail {
		line = line[:maxTail]
	}
	t.lines = append(t.lines, line)
	t.size += len(line) + 1
	for t.size > maxTail && len(t.lines) > 1 {
		t.size -= len(t.lines[0]) + 1
		t.lines = t.lines[1:]
	}
}

func (t *tail) String() string { return strings.Join(t.lines, "; ") }

// contains reports whether any kept line contains s.
func (t *tail) contains(s string) bool {
	for _, l := range t.lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// lineReader reads lines of at most maxLine bytes, cutting longer ones (a
// frame's side data can fill a line with kilobytes of hex) instead of
// stalling: a tool blocked on a full stderr pipe would never finish.
type lineReader struct{ r *bufio.Reader }

func newLineReader(r io.Reader) *lineReader { return &lineReader{bufio.NewReaderSize(r, maxLine)} }

// next returns the next line without its newline, or io.EOF.
func (l *lineReader) next() (string, error) {
	b, err := l.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		line := string(b)
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = l.r.ReadSlice('\n')
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return line, err
		}
		return line, nil
	}
	if err != nil && len(b) == 0 {
		return "", err
	}
	return string(bytes.TrimRight(b, "\r\n")), nil
}

// logLevel splits ffmpeg's "-loglevel level" tag off a line: "[error] x"
// gives "error", "x". A line from a filter or demuxer starts with its
// context, "[showinfo@post @ 0x55d0] [info] n: ...": that prefix is kept
// in ctxName.
func logLevel(line string) (ctxName, level, msg string) {
	msg = line
	if strings.HasPrefix(msg, "[") && !isLevelTag(msg) {
		if i := strings.Index(msg, "] "); i > 0 {
			ctxName, msg = msg[1:i], msg[i+2:]
		}
	}
	if isLevelTag(msg) {
		i := strings.IndexByte(msg, ']')
		level, msg = msg[1:i], strings.TrimPrefix(msg[i+1:], " ")
	}
	return ctxName, level, msg
}

var levels = []string{"[quiet]", "[panic]", "[fatal]", "[error]", "[warning]", "[info]", "[verbose]", "[debug]", "[trace]"}

func isLevelTag(s string) bool {
	for _, l := range levels {
		if strings.HasPrefix(s, l) {
			return true
		}
	}
	return false
}

// worthKeeping reports whether a line of that level explains a failure.
func worthKeeping(level string) bool {
	switch level {
	case "panic", "fatal", "error", "warning":
		return true
	}
	return false
}
