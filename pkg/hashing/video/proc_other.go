//go:build !unix

package video

import (
	"os"
	"os/exec"
)

// isolate leaves cmd to exec.CommandContext's default: the process is killed
// when its context ends.
func isolate(*exec.Cmd) {}

// signalled is never true here: there are no signals to tell.
func signalled(*os.ProcessState) (string, bool) { return "", false }
