package video

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
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
	argv, err := nicedArgv(nice, bin, args)
	if err != nil {
		return nil, err
	}
	return command(ctx, argv[0], argv[1:]...), nil
}

func nicedArgv(nice int, bin string, args []string) ([]string, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, err
	}
	if nice > 0 {
		if n, err := exec.LookPath("nice"); err == nil {
			return append([]string{n, "-n", strconv.Itoa(nice), "--", path}, args...), nil
		}
	}
	return append([]string{path}, args...), nil
}

// limitedCommand is nicedCommand run under o's resource limits: prlimit(1)
// (util-linux, in every Debian image) sets RLIMIT_CPU and RLIMIT_AS on
// itself and then executes nice, which executes the tool, so the limits hold
// from the tool's first instruction and for every thread it starts (setting
// them from here after the start could not promise that). Without prlimit
// the tool is not run at all while a limit is set: a decoder of hostile
// input without its limits is what they are there to prevent.
func limitedCommand(ctx context.Context, o Options, nice int, bin string, args ...string) (*exec.Cmd, error) {
	argv, err := nicedArgv(nice, bin, args)
	if err != nil {
		return nil, err
	}
	var limits []string
	if o.CPULimit > 0 {
		// The soft limit sends SIGXCPU (ffmpeg stops and exits on it), the
		// hard one, a little later, SIGKILL for a tool that does not.
		soft := int64(math.Ceil(o.CPULimit.Seconds()))
		limits = append(limits, fmt.Sprintf("--cpu=%d:%d", soft, soft+cpuGrace))
	}
	if o.MemoryLimit > 0 {
		limits = append(limits, fmt.Sprintf("--as=%d:%d", o.MemoryLimit, o.MemoryLimit))
	}
	if len(limits) == 0 {
		return command(ctx, argv[0], argv[1:]...), nil
	}
	pl, err := exec.LookPath("prlimit")
	if err != nil {
		return nil, fmt.Errorf("prlimit (util-linux) is needed to run %s under its CPU and memory limits: %w", bin, err)
	}
	return command(ctx, pl, append(append(limits, "--"), argv...)...), nil
}

// outOfMemory reports whether a tool's words are those of an allocation
// refused: malloc's ENOMEM, a thread that could not get its stack (EAGAIN
// from pthread_create, which ffmpeg reports when opening its decoder), or
// the loader unable to map a library.
func outOfMemory(said *tail) bool {
	for _, s := range []string{"Cannot allocate memory", "Resource temporarily unavailable",
		"failed to map segment", "ut of memory"} {
		if said.contains(s) {
			return true
		}
	}
	return false
}

// cpuGrace is the CPU time, in seconds, between SIGXCPU and SIGKILL.
const cpuGrace = 5

// limitError tells whether a finished tool ran into o's limits, or died of
// a signal nobody here sent (a crash): ErrResourceLimit or ErrCrashed, with
// what the tool said; nil if it did neither. killed says whether this
// process killed it (a cancelled context, a stopped extraction).
func limitError(tool string, cmd *exec.Cmd, o Options, killed bool, said *tail) error {
	ps := cmd.ProcessState
	if ps == nil || ps.Success() {
		// A tool that finished its work was not stopped, whatever it used.
		return nil
	}
	cpu := ps.UserTime() + ps.SystemTime()
	// RLIMIT_CPU is checked on the scheduler's tick against the process's
	// runtime, while the CPU time reported for it (rusage) is apportioned
	// from sampled ticks: on a loaded machine a tool that ffmpeg's own
	// SIGXCPU handler stopped at a 1 s limit was reported at 871 ms. A tool
	// that fails after most of its CPU budget is stopped by the budget
	// (a corrupt file fails early), so a fifth of the limit is slack.
	if o.CPULimit > 0 && cpu+max(50*time.Millisecond, o.CPULimit/5) >= o.CPULimit {
		return &ResourceLimitError{Tool: tool, Resource: "cpu", Limit: o.CPULimit.String(),
			Detail: fmt.Sprintf("used %v of CPU time", cpu.Round(time.Millisecond)), Stderr: said.String()}
	}
	if o.MemoryLimit > 0 && outOfMemory(said) {
		return &ResourceLimitError{Tool: tool, Resource: "memory", Limit: strconv.FormatInt(o.MemoryLimit, 10) + " bytes of address space",
			Detail: "an allocation failed", Stderr: said.String()}
	}
	if sig, ok := signalled(ps); ok && !killed {
		// SIGXCPU is the CPU limit even when the CPU time the kernel reports
		// for the tool falls short of it: RLIMIT_CPU is enforced on the
		// scheduler's tick, rusage is sampled apart, and under load the two
		// differ by more than the slack above. Go names it "CPU time limit
		// exceeded".
		if strings.EqualFold(sig, "cpu time limit exceeded") && o.CPULimit > 0 {
			return &ResourceLimitError{Tool: tool, Resource: "cpu", Limit: o.CPULimit.String(), Detail: sig, Stderr: said.String()}
		}
		return fmt.Errorf("%w: %s killed by signal %q (%v of CPU time): %s", ErrCrashed, tool, sig,
			cpu.Round(time.Millisecond), said.String())
	}
	return nil
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
