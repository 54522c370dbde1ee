//go:build unix && !linux

package video

import (
	"os/exec"
	"syscall"
)

// isolate runs cmd in a process group of its own, killed as a whole when its
// context ends.
func isolate(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
