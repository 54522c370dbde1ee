package video

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// niceOf reads the niceness (field 19) of /proc/<path>/stat.
func niceOf(t *testing.T, path string) int {
	t.Helper()
	raw, err := os.ReadFile("/proc/" + path + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	n, err := strconv.Atoi(f[16]) // field 19, counted from field 3
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A tool started niced runs niced, under its own process id (nice execs
// it), and this process keeps its own niceness; a missing tool is an error
// of the tool, not a run of nice that fails.
func TestNicedCommand(t *testing.T) {
	if _, err := exec.LookPath("nice"); err != nil {
		t.Skip("nice(1) not installed")
	}
	for _, c := range []struct{ nice, want int }{{7, 7}, {0, 0}} {
		cmd, err := nicedCommand(t.Context(), c.nice, "sleep", "30")
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// nice has exec'd sleep once its command name says so.
		pid := strconv.Itoa(cmd.Process.Pid)
		for i := 0; ; i++ {
			comm, _ := os.ReadFile("/proc/" + pid + "/comm")
			if strings.TrimSpace(string(comm)) == "sleep" || i > 2000 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if n := niceOf(t, pid); n != c.want {
			t.Errorf("nice %d: the tool runs at %d, want %d", c.nice, n, c.want)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	if n := niceOf(t, "self"); n != 0 {
		t.Errorf("this process is at niceness %d", n)
	}
	if _, err := nicedCommand(t.Context(), 7, "no-such-tool-takedown"); !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("missing tool: %v, want exec.ErrNotFound", err)
	}
}
