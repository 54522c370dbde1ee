//go:build linux

package video

import (
	"os/exec"
	"syscall"
)

// isolate runs cmd in a process group of its own, killed as a whole when its
// context ends, and killed too if this process dies first.
func isolate(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
